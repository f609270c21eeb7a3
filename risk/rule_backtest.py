"""CCP-style backtest of the submitted margin rule over a long price history.

For each horizon (1 h, 8 h, 24 h by default) the origins are non-overlapping: one every
horizon. At each origin the rule (risk.margin_rule) posts a spot shock m_t using only the
returns before t; a long position exceeds it when 1 - e^R > m_t and a short when
e^R - 1 > m_t, R the log return over (t, t + horizon]. Each side is scored against the
target rate p = 1 - coverage (the contracts' spot_shock must cover both).

Rules scored, from the same run: the submitted rule with APC, the same without APC, each
model alone, and two static shocks that know the future: the ex-post coverage quantile
of the period's losses, and the constant that has as many exceedances as the submitted
rule (what it costs to reach that coverage without a model).

Per rule and side:

- coverage: exceedances x of n against n p; Kupiec's LR test (two-sided p) and the exact
  binomial P(X >= x) (one-sided: too many exceedances); Christoffersen's independence and
  conditional coverage; the Basel traffic light of each block of 250 windows.
- efficiency: mean margin, and its ratio to the ex-post quantile (1.5 at most for a
  `pass`); the mean and largest loss-to-margin ratio (loss / margin, losses floored at 0)
  and the mean breach (loss - margin over the exceedances).
- procyclicality (risk.apc): peak-to-trough and the largest 1-, 5- and 30-day increases.

A rule passes only if both sides pass coverage (one-sided Kupiec and independence at 5%,
no red block) and its mean margin is at most EFFICIENCY_LIMIT x the ex-post quantile:
over-margining cannot score a pass alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from risk import apc as apc_tools
from risk.backtest import (
    christoffersen_conditional,
    christoffersen_independence,
    kupiec_pof,
    traffic_light,
)
from risk.history import PriceHistory
from risk.margin_rule import (
    RuleRun,
    RuleSettings,
    fit_all,
    lookback_returns,
    refit_points,
    run_rule,
)
from risk.units import HOUR, YEAR_SEC

BLOCK = 250  # windows per traffic-light block (Basel)
EFFICIENCY_LIMIT = 1.5  # mean margin / ex-post quantile allowed for a pass
ALPHA = 0.05
SIDES = ("long", "short")
MIN_WINDOWS = 250  # fewest windows per horizon a backtest accepts


@dataclass(frozen=True)
class RuleBacktest:
    """A backtest's runs (one per horizon) and their score tables."""

    settings: RuleSettings
    runs: dict[int, RuleRun]  # horizon hours -> run
    scores: dict[int, pd.DataFrame]  # horizon hours -> one row per rule and side
    timestamps: np.ndarray  # of the prices (origins index into it)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> pd.DataFrame:
        frames = [s.assign(horizon_h=h) for h, s in self.scores.items()]
        return pd.concat(frames).set_index(["horizon_h", "rule", "side"])


def backtest_rule(
    history: PriceHistory,
    settings: RuleSettings | None = None,
    horizons_h: tuple[int, ...] = (1, 8, 24),
    start: int | None = None,
    end: int | None = None,
    workers: int = 1,
    progress: Any = None,
) -> RuleBacktest:
    """Walk-forward backtest of the rule on `history` between epochs start and end.

    Args:
        history: hourly (or any regular) prices; the horizons must be whole steps.
        settings: the rule (RuleSettings()).
        horizons_h: horizons in hours.
        start, end: Unix seconds: the first origin, and the time no window ends after
            (default: the first origin with a full lookback, and the end of the prices).
        workers: processes for the fits (results do not depend on it).
        progress: called with a message before each stage.
    """
    settings = settings or RuleSettings()
    say = progress or (lambda _msg: None)
    r, dt, ts = history.log_returns, history.dt, history.timestamp
    first, last, steps = plan_windows(history, settings, horizons_h, start, end)
    points = refit_points(first, last - min(steps.values()), dt, settings.refit_days)
    say(f"fitting {len(settings.models)} models at {len(points)} refits")
    fits = fit_all(r, dt, points, settings, workers)
    runs, scores = {}, {}
    for h, k in steps.items():
        say(f"margins at {h} h")
        origins = np.arange(first, last - k + 1, k)
        run = run_rule(r, dt, k, origins, fits, settings)
        runs[h] = run
        scores[h] = score_run(run, settings)
    left = sorted({name for f in fits for name in f.left_out})
    notes = []
    for name in left:
        why = [f.left_out[name] for f in fits if name in f.left_out]
        notes.append(
            f"{name} left out at {len(why)} of {len(fits)} refits, so not scored alone "
            f"(first: {why[0]})"
        )
    notes += [
        f"{h} h: {run.capped} of {len(run.frame)} margins cut to the sanity ceiling "
        f"({settings.ceiling_multiple:g} x the worst {h} h loss before the fit)"
        for h, run in runs.items()
    ]
    return RuleBacktest(settings, runs, scores, ts, notes)


def plan_windows(
    history: PriceHistory,
    settings: RuleSettings,
    horizons_h: tuple[int, ...],
    start: int | None = None,
    end: int | None = None,
) -> tuple[int, int, dict[int, int]]:
    """(first origin, end, steps per horizon) of a backtest, or a one-line ValueError before
    any work: a horizon that is not whole steps of the data, or fewer than MIN_WINDOWS
    windows after the first origin with a full lookback."""
    settings.validate()
    r, dt, ts = history.log_returns, history.dt, history.timestamp
    step_h = dt * YEAR_SEC / HOUR
    steps = {}
    for h in horizons_h:
        k = h / step_h
        if not (h > 0 and abs(k - round(k)) < 1e-6 and round(k) >= 1):
            raise ValueError(
                f"horizons: {h} h is not a whole number of the data's {step_h:g} h steps"
            )
        steps[h] = int(round(k))
    lookback = lookback_returns(settings, dt)
    first = lookback if start is None else max(lookback, int(np.searchsorted(ts, start)))
    last = len(r) if end is None else min(len(r), int(np.searchsorted(ts, end, side="right")))
    for h, k in steps.items():
        n_windows = (last - k - first) // k + 1 if last - k >= first else 0
        if n_windows < MIN_WINDOWS:
            raise ValueError(
                f"prices: {n_windows} windows of {h} h between the first origin with a "
                f"{lookback}-return lookback and the end; need at least "
                f"{MIN_WINDOWS} (a longer history or a later start)"
            )
    return first, last, steps


def rule_columns(run: RuleRun) -> dict[str, np.ndarray]:
    """Each rule's margin per origin, by name."""
    f = run.frame
    out = {"submitted": f["margin"].to_numpy(), "submitted_no_apc": f["no_apc"].to_numpy()}
    for col in f.columns:
        if col.startswith("shock_") and f[col].notna().all():
            out[col.removeprefix("shock_")] = f[col].to_numpy()
    return out


def score_run(run: RuleRun, settings: RuleSettings) -> pd.DataFrame:
    c = settings.coverage
    f = run.frame
    losses = {"long": f["loss_long"].to_numpy(), "short": f["loss_short"].to_numpy()}
    expost = max(float(np.quantile(losses[s], c)) for s in SIDES)
    if not expost > 0:
        raise ValueError(
            f"prices: the {run.horizon}-step losses have no positive {c} quantile (flat "
            "prices?): there is nothing to cover"
        )
    rules = rule_columns(run)
    sub = rules["submitted"]
    same = max(_same_coverage_constant(losses[s], int(np.sum(losses[s] > sub))) for s in SIDES)
    rules["static_expost"] = np.full(len(f), expost)
    rules["static_same_coverage"] = np.full(len(f), same)
    rows = []
    for name, m in rules.items():
        pro = apc_tools.procyclicality(np.maximum(m, 1e-12), run.steps_per_day)
        for side in SIDES:
            row = {"rule": name, "side": side, **coverage_scores(losses[side], m, c)}
            row["mean_margin"] = float(np.mean(m))
            row["margin_over_expost"] = float(np.mean(m)) / expost
            row.update(pro)
            row["passes"] = bool(
                row["kupiec_p_one_sided"] >= ALPHA
                and row["independence_p"] >= ALPHA
                and row["red_blocks"] == 0
                and row["margin_over_expost"] <= EFFICIENCY_LIMIT
            )
            rows.append(row)
    out = pd.DataFrame(rows)
    # a rule passes only if both sides do
    both = out.groupby("rule")["passes"].transform("all")
    out["passes"] = both
    return out


def coverage_scores(loss: np.ndarray, margin: np.ndarray, coverage: float) -> dict[str, Any]:
    """Exceedance counts, tests, traffic-light blocks and loss-to-margin ratios."""
    hits = loss > margin
    n, x = len(hits), int(hits.sum())
    p = 1.0 - coverage
    pof = kupiec_pof(hits, coverage)
    ind = christoffersen_independence(hits)
    cc = christoffersen_conditional(hits, coverage)
    zones = [
        traffic_light(int(hits[i : i + BLOCK].sum()), BLOCK, coverage).zone
        for i in range(0, n - BLOCK + 1, BLOCK)
    ]
    ratio = np.maximum(loss, 0.0) / margin
    return {
        "windows": n,
        "exceedances": x,
        "expected": n * p,
        "coverage_achieved": 1.0 - x / n,
        "kupiec_p": pof.p_value,
        "kupiec_p_one_sided": float(stats.binom.sf(x - 1, n, p)) if x > 0 else 1.0,
        "independence_p": ind.p_value,
        "conditional_p": cc.p_value,
        "blocks": len(zones),
        "yellow_blocks": zones.count("yellow"),
        "red_blocks": zones.count("red"),
        "loss_to_margin_mean": float(np.mean(ratio)),
        "loss_to_margin_max": float(np.max(ratio)),
        "mean_breach": float(np.mean((loss - margin)[hits])) if x else 0.0,
    }


def _same_coverage_constant(loss: np.ndarray, exceedances: int) -> float:
    """The smallest constant margin with at most `exceedances` losses above it."""
    ordered = np.sort(loss)[::-1]
    return float(max(ordered[min(exceedances, len(ordered) - 1)], 0.0))


def procyclicality_table(bt: RuleBacktest) -> pd.DataFrame:
    """Procyclicality of the submitted rule with and without APC, per horizon."""
    rows = []
    for h, s in bt.scores.items():
        for rule in ("submitted", "submitted_no_apc"):
            r = s[(s.rule == rule) & (s.side == "long")].iloc[0]
            rows.append(
                {
                    "horizon_h": h,
                    "apc": "on" if rule == "submitted" else "off",
                    "mean_margin": r.mean_margin,
                    "peak_to_trough": r.peak_to_trough,
                    **{f"max_{d}d_increase": r[f"max_{d}d_increase"] for d in (1, 5, 30)},
                }
            )
    return pd.DataFrame(rows)
