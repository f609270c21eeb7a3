"""Analysis of a sweep: metrics of each parameter set across its runs with confidence
intervals, the frontier of capital efficiency against risk, the recommended set and the
sensitivity of the outcome to each parameter.

Capital efficiency is margin per notional. The per-step data has no total margin column
yet, so it is measured on a reference book (REFERENCE_BOOK: a writer's short straddle and
strangle) by the risk engine under each set's margin parameters: IM per USD of notional,
and capital_efficiency = notional per USD of IM. When the runs' steps carry `total_im`
and `short_notional` (see run_extras), the observed ratio is used instead.

Risk across seeds (and scenarios): bad-debt probability = share of runs with bad debt
> 0, with a Wilson interval; LP daily ES, liquidations-at-risk and the others as means
with Student-t intervals.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from risk.param_guard import updates_needed
from risk.units import DAY, WAD
from sims.sweep.spec import METRICS, SweepSpec, base_params, grouped

# (strike as a share of spot, days to expiry, is_call, contracts; negative = short)
REFERENCE_BOOK = (
    (1.0, 10, True, -1.0),
    (1.0, 10, False, -1.0),
    (0.9, 3, False, -1.0),
    (1.1, 3, True, -1.0),
)
REFERENCE_SPOT, REFERENCE_VOL = 2_000.0, 0.7
RISK_METRICS = ("bad_debt_probability", "lp_es", "lar")
_SUMMARY_KEYS = {  # metric -> the run summary's key (sims.report.summarise)
    "bad_debt_usd": "bad_debt_usd",
    "lp_es": "lp_daily_es_0.99",
    "lar": "liquidations_at_risk_24h_usd",
    "lp_return": "lp_return",
    "liquidations": "liquidations",
    "pool_max_drawdown": "pool_max_drawdown",
}


def run_extras(steps: pd.DataFrame) -> dict[str, float]:
    """Per-run metrics the summary lacks, from the steps' columns when they exist."""
    out: dict[str, float] = {}
    if {"total_im", "short_notional"} <= set(steps.columns):
        live = steps["short_notional"] > 0
        if live.any():
            out["observed_im_per_notional"] = float(
                steps.loc[live, "total_im"].sum() / steps.loc[live, "short_notional"].sum()
            )
    return out


def reference_margin(params: dict[str, Any]) -> dict[str, float]:
    """IM and MM per USD of notional of REFERENCE_BOOK under the set's margin parameters
    (deployed values for the fields the set does not give)."""
    from risk.margin import portfolio_margin
    from risk.params import MarginParams

    margin = MarginParams(
        **{**base_params().get("margin", {}), **grouped(params).get("margin", {})}
    )
    k, days, calls, size = (np.array(c, dtype=float) for c in zip(*REFERENCE_BOOK, strict=True))
    m = portfolio_margin(
        REFERENCE_SPOT,
        k * REFERENCE_SPOT,
        days * DAY,
        np.full(len(k), REFERENCE_VOL),
        calls.astype(bool),
        size,
        margin,
    )
    notional = REFERENCE_SPOT * float(np.abs(size).sum())
    return {"im_per_notional": m.im / notional, "mm_per_notional": m.mm / notional}


# --- intervals ---


def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float, float]:
    """Share k / n with its Wilson score interval (NaNs when n = 0)."""
    if n == 0:
        return math.nan, math.nan, math.nan
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + confidence / 2))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return p, max(0.0, centre - half), min(1.0, centre + half)


def mean_ci(values: Any, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean with its Student-t interval (the interval is NaN below two values)."""
    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if len(x) == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if len(x) < 2:
        return mean, math.nan, math.nan
    from scipy.stats import t

    half = float(t.ppf(0.5 + confidence / 2, len(x) - 1)) * float(x.std(ddof=1)) / math.sqrt(len(x))
    return mean, mean - half, mean + half


# --- per parameter set ---


def param_set_table(records: list[dict[str, Any]], spec: SweepSpec) -> pd.DataFrame:
    """One row per parameter set: its parameters, run counts, each metric with _lo/_hi,
    whether it meets the constraints, and the objective."""
    conf = spec.objective.confidence
    by_set: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_set.setdefault(r["param_key"], []).append(r)
    rows = []
    for key, runs in by_set.items():
        done = [r for r in runs if r["status"] == "done"]
        row: dict[str, Any] = {"param_key": key, **runs[0]["params"]}
        row.update(runs=len(runs), done=len(done), failed=len(runs) - len(done))
        row.update(_set_metrics(runs[0]["params"], [r["summary"] for r in done], conf))
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    feasible, slack = [], []
    for _, row in table.iterrows():
        s = constraint_slack(row, spec)
        slack.append(s)
        feasible.append(row["done"] > 0 and all(v <= 0 for v in s))
    table["feasible"] = feasible
    table["constraint_slack"] = slack
    table["objective"] = table[spec.objective.metric]
    return table


def _set_metrics(params: dict[str, Any], summaries: list[dict[str, Any]], conf: float) -> dict:
    out: dict[str, Any] = {}
    observed = [s.get("observed_im_per_notional") for s in summaries]
    if summaries and all(v is not None for v in observed):
        m, lo, hi = mean_ci(observed, conf)
        out.update(im_per_notional=m, im_per_notional_lo=lo, im_per_notional_hi=hi)
        out["efficiency_source"] = "observed"
    else:
        ref = reference_margin(params)["im_per_notional"]
        out.update(im_per_notional=ref, im_per_notional_lo=ref, im_per_notional_hi=ref)
        out["efficiency_source"] = "reference book"
    out["capital_efficiency"] = 1 / out["im_per_notional"] if out["im_per_notional"] else math.nan
    out["capital_efficiency_lo"] = (
        1 / out["im_per_notional_hi"] if out["im_per_notional_hi"] else math.nan
    )
    out["capital_efficiency_hi"] = (
        1 / out["im_per_notional_lo"] if out["im_per_notional_lo"] else math.nan
    )
    bad = sum(1 for s in summaries if s.get("bad_debt_usd", 0) > 0)
    p, lo, hi = wilson(bad, len(summaries), conf)
    out.update(bad_debt_probability=p, bad_debt_probability_lo=lo, bad_debt_probability_hi=hi)
    for metric, key in _SUMMARY_KEYS.items():
        m, lo, hi = mean_ci([s.get(key) for s in summaries], conf)
        out.update({metric: m, f"{metric}_lo": lo, f"{metric}_hi": hi})
    return out


def constraint_slack(row: Any, spec: SweepSpec) -> list[float]:
    """Per constraint, how far the set is inside (<= 0) or outside (> 0) it; on the
    interval's far end when the objective is pessimistic."""
    out = []
    for c in spec.objective.constraints:
        value = row[c.metric]
        if spec.objective.pessimistic:
            far = row.get(f"{c.metric}_hi" if c.op == "<=" else f"{c.metric}_lo", math.nan)
            value = far if np.isfinite(far) else value
        out.append(c.slack(value) if np.isfinite(value) else math.inf)
    return out


# --- frontier, recommendation, sensitivity ---


def pareto_front(x: Any, y: Any) -> np.ndarray:
    """Mask of the points no other point beats on both x and y (both minimised)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    mask = np.zeros(len(x), dtype=bool)
    for i in range(len(x)):
        if not (np.isfinite(x[i]) and np.isfinite(y[i])):
            continue
        dominated = (x <= x[i]) & (y <= y[i]) & ((x < x[i]) | (y < y[i]))
        mask[i] = not dominated.any()
    return mask


def frontiers(table: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per risk metric, the sets on the frontier of margin per notional against it."""
    return {r: pareto_front(table["im_per_notional"], table[r]) for r in RISK_METRICS}


def recommend(table: pd.DataFrame, spec: SweepSpec) -> pd.Series | None:
    """The set with the best objective among those meeting every constraint (ties: the
    lower bad-debt probability, then the lower LP ES)."""
    if table.empty:
        return None
    ok = table[table["feasible"] & table["objective"].notna()]
    if ok.empty:
        return None
    ascending = spec.objective.direction == "minimize"
    ranked = ok.sort_values(
        ["objective", "bad_debt_probability", "lp_es"], ascending=[ascending, True, True]
    )
    return ranked.iloc[0]


def evidence(best: pd.Series, spec: SweepSpec, records: list[dict[str, Any]]) -> dict[str, Any]:
    """What governance needs to vote on the recommendation: each parameter against the
    deployed value with its on-chain encoding and the rate-limited updates it takes, the
    metrics with their intervals, the runs behind them, per scenario."""
    from onchain.deployment import LOCAL_CONFIG, DeployConfig
    from risk.params import GROUPS

    deployed = base_params()
    rel = DeployConfig.load(LOCAL_CONFIG).rate_limit.to_chain()[0]
    changes = []
    for name in spec.parameters:
        group, fname = name.split(".", 1)
        f = next(x for x in GROUPS[group].FIELDS if x.name == fname)
        old, new = deployed.get(group, {}).get(fname), best[name]
        changes.append(
            {
                "parameter": name,
                "deployed": old,
                "recommended": new,
                "on_chain": f.to_chain(new),
                "relative_change": (new - old) / old if old else math.nan,
                "updates_needed": (
                    0
                    if old is None
                    else updates_needed(group, f, f.to_chain(old), f.to_chain(new), rel)
                ),
            }
        )
    metric_rows = []
    for m in METRICS:
        if m in best:
            metric_rows.append(
                {
                    "metric": m,
                    "estimate": best[m],
                    "lo": best.get(f"{m}_lo"),
                    "hi": best.get(f"{m}_hi"),
                }
            )
    runs = [r for r in records if r["param_key"] == best["param_key"]]
    per_scenario = []
    for sc in spec.scenarios:
        done = [r["summary"] for r in runs if r["scenario"] == sc and r["status"] == "done"]
        bad = sum(1 for s in done if s.get("bad_debt_usd", 0) > 0)
        per_scenario.append(
            {
                "scenario": sc,
                "runs": len(done),
                "bad_debt_runs": bad,
                "lp_es_mean": mean_ci([s.get("lp_daily_es_0.99") for s in done])[0],
                "lar_mean": mean_ci([s.get("liquidations_at_risk_24h_usd") for s in done])[0],
                "lp_return_mean": mean_ci([s.get("lp_return") for s in done])[0],
            }
        )
    return {
        "param_key": best["param_key"],
        "changes": changes,
        "metrics": metric_rows,
        "constraints": [
            {"constraint": str(c), "slack": s, "met": s <= 0}
            for c, s in zip(spec.objective.constraints, best["constraint_slack"], strict=True)
        ],
        "per_scenario": per_scenario,
        "runs": [
            {
                "run_id": r["run_id"],
                "scenario": r["scenario"],
                "seed": r["seed"],
                "status": r["status"],
                "steps": r["steps_path"],
            }
            for r in runs
        ],
        "max_rel_change": rel / WAD,
    }


def sensitivity(table: pd.DataFrame, spec: SweepSpec) -> pd.DataFrame:
    """Per swept parameter and metric: the standardised regression coefficient over the
    sweep (the metric's change in its own standard deviations per standard deviation of
    the parameter, the others held fixed) and the spread of the metric's mean across the
    parameter's values (one at a time, when it takes at most 12 values)."""
    metrics = [spec.objective.metric, *RISK_METRICS, "lp_return"]
    metrics = list(dict.fromkeys(metrics))
    swept = [p for p in spec.swept if p in table.columns]
    rows = []
    done = table[table["done"] > 0]
    if done.empty or not swept:
        return pd.DataFrame(columns=["parameter", "metric", "std_coef", "spread", "by_value"])
    X = done[swept].astype(float).to_numpy()
    sx = X.std(axis=0)
    Z = (X - X.mean(axis=0)) / np.where(sx > 0, sx, 1.0)
    for metric in metrics:
        y = done[metric].astype(float).to_numpy()
        finite = np.isfinite(y)
        coef = np.full(len(swept), math.nan)
        if finite.sum() > len(swept) and np.nanstd(y) > 0:
            A = np.column_stack([np.ones(finite.sum()), Z[finite]])
            beta, *_ = np.linalg.lstsq(
                A, (y[finite] - y[finite].mean()) / y[finite].std(), rcond=None
            )
            coef = beta[1:]
        elif finite.sum() > 1:
            coef = np.zeros(len(swept)) if np.nanstd(y) == 0 else coef
        for j, p in enumerate(swept):
            by_value: dict[Any, float] = {}
            if done[p].nunique() <= 12:
                by_value = {v: float(g[metric].mean()) for v, g in done.groupby(p)}
            spread = (max(by_value.values()) - min(by_value.values())) if by_value else math.nan
            rows.append(
                {
                    "parameter": p,
                    "metric": metric,
                    "std_coef": float(coef[j]),
                    "spread": spread,
                    "by_value": by_value,
                }
            )
    return pd.DataFrame(rows)
