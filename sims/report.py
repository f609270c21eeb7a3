"""Results of a run: per-step Parquet and CSV, summary JSON, PNG plots and one
self-contained HTML page, for one run or several side by side (with and without the
governance feedback).

The folder is written under a temporary name and renamed at the end, so an interrupted
run leaves no half-written results folder.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from risk.units import DAY, HOUR


def summarise(steps: pd.DataFrame, meta: dict[str, Any], coverage: float = 0.99) -> dict[str, Any]:
    """Run summary: LP return with its daily VaR and ES, drawdown, liquidations and
    liquidations-at-risk (the largest MM liquidated within 24 hours), bad debt, the worst step.
    """
    price = steps["lp_share_price"].replace(0, float("nan")).dropna()
    lp_return = float(price.iloc[-1] / price.iloc[0] - 1) if len(price) > 1 else 0.0
    per_day = max(1, round(DAY / meta.get("step_seconds", HOUR)))
    daily = np.log(price.to_numpy()[::per_day])
    daily_ret = np.diff(daily) if len(daily) > 1 else np.zeros(0)
    var, es = _var_es(-daily_ret, coverage)
    nav = steps["pool_nav"]
    # LPs' deposits and redemptions move NAV but are not gains or losses: drawdown is taken
    # on the share price, the worst step on NAV net of those flows
    drawdown = float((price / price.cummax() - 1).min()) if len(price) else 0.0
    nav_change = nav.diff().fillna(0.0)
    if "lp_deposits" in steps and "lp_redemptions" in steps:
        nav_change = nav_change - steps["lp_deposits"] + steps["lp_redemptions"]
    worst = int(nav_change.idxmin()) if len(nav_change) else 0
    bad = steps["bad_debt"]
    bad_days = bad.groupby(np.arange(len(bad)) // per_day).sum()
    lar = steps["liquidated_mm"].rolling(per_day, min_periods=1).sum()
    return {
        **meta,
        "lp_return": lp_return,
        # VaR and ES are the empirical quantile and tail mean of these daily returns: with
        # a week's run that is 7 of them, so read them as the worst days, not as estimates
        "lp_daily_returns": int(len(daily_ret)),
        f"lp_daily_var_{coverage}": var,
        f"lp_daily_es_{coverage}": es,
        "pool_nav_start": float(nav.iloc[0]),
        "pool_nav_end": float(nav.iloc[-1]),
        "pool_max_drawdown": drawdown,
        "liquidations": int(steps["liquidations"].sum()),
        "liquidated_mm_usd": float(steps["liquidated_mm"].sum()),
        "liquidations_at_risk_24h_usd": float(lar.max()) if len(lar) else 0.0,
        "bad_debt_usd": float(bad.sum()),
        "bad_debt_day_share": float((bad_days > 0).mean()) if len(bad_days) else 0.0,
        "socialised_usd": float(steps["socialised"].sum()),
        "settlements": int(steps["settlements"].sum()),
        "max_accounts_below_mm": int(steps["accounts_below_mm"].max()),
        "keeper_profit_usd": float(steps["keeper_profit"].iloc[-1]),
        "parameter_changes": int(steps["param_changes"].sum()),
        **_optional(steps),
        "transactions": int(steps["txs"].sum()),
        "reverts": int(steps["reverts"].sum()),
        "gas_used": int(steps["gas"].sum()),
        "worst_step": {
            "step": worst,
            "pool_nav_change_usd": float(nav_change.iloc[worst]),
            "spot": float(steps["spot"].iloc[worst]),
        },
    }


def _optional(steps: pd.DataFrame) -> dict[str, float]:
    """Metrics of the agents a run may not have: LPs, the hedging desk, put hedgers."""
    out: dict[str, float] = {}
    for col, key in (
        ("lp_redemptions", "lp_redemptions_usd"),
        ("lp_deposits", "lp_deposits_usd"),
        ("lp_failed_redemptions", "lp_failed_redemptions"),
    ):
        if col in steps:
            out[key] = float(steps[col].sum())
    last = (
        ("hedge_pnl", "hedge_pnl_usd"),
        ("put_hedger_pnl", "put_hedger_pnl_usd"),
        ("hedged_nav", "hedged_nav_end"),
        ("hedge_slippage", "hedge_slippage_usd"),  # cumulative
    )
    for col, key in last:
        if col in steps:
            out[key] = float(steps[col].iloc[-1])
    return out


def _var_es(loss: np.ndarray, coverage: float) -> tuple[float, float]:
    if len(loss) == 0:
        return 0.0, 0.0
    var = float(np.quantile(loss, coverage))
    k = max(1, int(math.ceil((1 - coverage) * len(loss) - 1e-9)))
    return var, float(np.mean(np.sort(loss)[-k:]))


# --- plots ---

# the parameters the per-step metrics carry (sims.model's reporters), one panel each
PLOTTED_PARAMS = ("spot_shock", "vol_shock_up", "im_factor", "start_discount", "total_oi_cap")


def _plots(runs: dict[str, pd.DataFrame], folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    first = next(iter(runs.values()))
    hours = first["time"] / HOUR

    def save(fig: Any, name: str) -> None:
        files.append(folder / name)
        fig.tight_layout()
        fig.savefig(files[-1], dpi=100)
        plt.close(fig)

    fig, ax = plt.subplots(figsize=(10, 3.4))
    ax.plot(hours, first["spot"], lw=1.2, label="spot")
    ax.plot(hours, first["oracle_spot"], lw=0.8, ls="--", label="oracle")
    markers = ("o", "x", "^", "s")  # runs share the price path: shapes keep both visible
    for i, (name, steps) in enumerate(runs.items()):
        liq = steps["liquidations"] > 0
        ax.scatter(
            steps["time"][liq] / HOUR,
            steps["spot"][liq],
            s=30 if i == 0 else 22,
            marker=markers[i % len(markers)],
            facecolors="none" if i == 0 else None,
            edgecolors=f"C{i + 1}" if i == 0 else None,
            color=None if i == 0 else f"C{i + 1}",
            zorder=3,
            label=f"liquidations ({name}): {int(steps['liquidations'].sum())}",
        )
    ax.set(xlabel="hours", ylabel="USD", title="Spot with liquidations")
    ax.legend(fontsize=8)
    save(fig, "price_liquidations.png")

    fig, grid = plt.subplots(2, 2, figsize=(14, 6.4))
    axes = grid.ravel()
    for name, steps in runs.items():
        h = steps["time"] / HOUR
        axes[0].plot(h, steps["pool_nav"], lw=1.2, label=name)
        if "hedged_nav" in steps:
            axes[0].plot(h, steps["hedged_nav"], lw=0.8, ls="--", label=f"hedged ({name})")
        # the LPs' return: NAV per share, which deposits and redemptions leave unchanged
        price = steps["lp_share_price"].replace(0, float("nan"))
        base = price.dropna().iloc[0]
        axes[1].plot(h, price / base, lw=1.2, label=name)
        if "hedged_nav" in steps:
            hedged = price * steps["hedged_nav"] / steps["pool_nav"].replace(0, float("nan"))
            axes[1].plot(h, hedged / base, lw=0.8, ls="--", label=f"hedged ({name})")
        axes[2].plot(h, steps["utilisation"], lw=1.2, label=name)
        axes[3].plot(h, steps["bad_debt"].cumsum(), lw=1.2, label=f"bad debt ({name})")
        axes[3].plot(h, steps["insurance"], lw=0.8, ls="--", label=f"insurance ({name})")
    axes[0].set_title("Pool NAV (USD; LPs' deposits and redemptions move it)")
    axes[1].set_title("LP share price (NAV per share, start = 1)")
    axes[2].set_title("Pool utilisation (gross notional / NAV)")
    axes[3].set_title("Bad debt, cumulative, and insurance (USD)")
    for ax in axes:
        ax.set_xlabel("hours")
        ax.legend(fontsize=8)
    save(fig, "nav_utilisation_bad_debt.png")

    params = [p for p in PLOTTED_PARAMS if p in first]
    fig, grid = plt.subplots(2, 3, figsize=(14, 6.4))
    axes = grid.ravel()
    for name, steps in runs.items():
        h = steps["time"] / HOUR
        for ax, p in zip(axes, params, strict=False):
            ax.step(h, steps[p], where="post", label=name)
    for ax, p in zip(axes, params, strict=False):
        ax.set_title(f"Parameter in force: {p}")
        ax.set_xlabel("hours")
        ax.legend(fontsize=8)
    for ax in axes[len(params) :]:
        ax.set_visible(False)
    save(fig, "parameters.png")
    return files


# --- html ---


def _html(summary: dict[str, Any], images: list[Path], governance_log: list[dict[str, Any]]) -> str:
    runs = summary.get("runs", {})
    names = list(runs)
    keys = [k for k in (runs[names[0]] if names else {}) if not isinstance(runs[names[0]][k], dict)]

    def cell(v: Any) -> str:
        if isinstance(v, bool) or v is None:
            return html.escape(str(v))
        if isinstance(v, float) and not math.isfinite(v):
            return "n/a"
        if isinstance(v, (int, float)) and abs(v) >= 1_000:
            return f"{v:,.0f}"
        if isinstance(v, float):
            return f"{v:.4g}"
        return html.escape(str(v))

    def worst(w: Any) -> str:
        if not isinstance(w, dict):
            return ""
        return (
            f"block {w.get('step')}: NAV {cell(w.get('pool_nav_change_usd'))} USD "
            f"(net of LP flows) at spot {cell(w.get('spot'))}"
        )

    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th>"
        + "".join(f"<td>{cell(runs[n].get(k))}</td>" for n in names)
        + "</tr>"
        for k in keys
    )
    rows += (
        "<tr><th>worst_step</th>"
        + "".join(f"<td>{html.escape(worst(runs[n].get('worst_step')))}</td>" for n in names)
        + "</tr>"
    )
    reasons = sorted({r for n in names for r in (runs[n].get("reverts_by_reason") or {})})
    failed = ""
    if reasons:
        failed = (
            "<h2>Reverted and rejected transactions, by label and reason</h2><table><tr><th></th>"
            + head
            + "</tr>"
            + "".join(
                f"<tr><th>{html.escape(r)}</th>"
                + "".join(
                    f"<td>{(runs[n].get('reverts_by_reason') or {}).get(r, 0):,}</td>"
                    for n in names
                )
                + "</tr>"
                for r in reasons
            )
            + "</table>"
        )
    gov = ""
    if governance_log:
        cols = list(governance_log[0])
        gov = (
            "<h2>Risk committee reviews</h2><table><tr>"
            + "".join(f"<th>{html.escape(c)}</th>" for c in cols)
            + "</tr>"
        )
        gov += "".join(
            "<tr>" + "".join(f"<td>{cell(r.get(c))}</td>" for c in cols) + "</tr>"
            for r in governance_log
        )
        gov += "</table>"
    imgs = "".join(f'<img alt="{p.stem}" src="data:image/png;base64,{_b64(p)}">' for p in images)
    title = html.escape(
        f"optsim run: {summary.get('scenario', '')}, seed {summary.get('seed', '')}"
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{title}</title>"
        "<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto}"
        "th{text-align:left;padding-right:1.5em}td{padding-right:1.5em;text-align:right}"
        "img{max-width:100%;display:block;margin:1em 0}</style></head><body>"
        f"<h1>{title}</h1><table><tr><th></th>{head}</tr>{rows}</table>{imgs}{gov}{failed}"
        "</body></html>"
    )


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write_results(
    runs: dict[str, pd.DataFrame],
    summary: dict[str, Any],
    out: Path,
    governance_log: list[dict[str, Any]] | None = None,
) -> Path:
    """Write the results folder atomically; returns the path of report.html.

    Args:
        runs: per-step metrics by run name (e.g. "governance", "no_governance").
        summary: {"scenario", "seed", "runs": {name: summarise(...)}, ...}.
        out: the folder to create (must not exist).
    """
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"results folder {out} already exists")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name, steps in runs.items():
            suffix = "" if len(runs) == 1 or name == next(iter(runs)) else f"_{name}"
            steps.to_csv(tmp / f"steps{suffix}.csv", index_label="step")
            steps.rename_axis("step").to_parquet(tmp / f"steps{suffix}.parquet")
        if governance_log:
            pd.DataFrame(governance_log).to_csv(tmp / "governance.csv", index=False)
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
        images = _plots(runs, tmp)
        (tmp / "report.html").write_text(_html(summary, images, governance_log or []))
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp's folder is private; results are not
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out / "report.html"


# --- the risk committee's reviews ---


def review_rows(history: list[Any], start: int) -> list[dict[str, Any]]:
    """The committee's reviews as report rows: when, what it wanted, what it proposed (the
    fields that move, from the value in force, with the target when the rate limit stops
    the step short of it), and what it held back."""
    rows = []
    for r in history:
        changes = []
        for group, params in r.proposed.items():
            target, before = r.targets.get(group), r.before.get(group)
            for f in params.FIELDS:
                new = getattr(params, f.name)
                old = getattr(before, f.name) if before is not None else None
                if old == new:
                    continue
                aim = getattr(target, f.name) if target is not None else new
                changes.append(
                    f"{group}.{f.name} "
                    + (f"{old:.6g} -> " if old is not None else "-> ")
                    + f"{new:.6g}"
                    + ("" if aim == new else f" (target {aim:.6g})")
                )
        held = [f"{g}.{name}" for g, names in r.held.items() for name in names]
        banded = [f"{g}.{name}" for g, names in r.dead_banded.items() for name in names]
        rows.append(
            {
                "hour": round((r.time - start) / HOUR, 1),
                "returns": r.n_returns,
                "skipped": r.skipped or "",
                "coverage_achieved": r.evidence.get("coverage_achieved", float("nan")),
                "model_divergence": r.evidence.get("model_divergence", float("nan")),
                "proposed": "; ".join(changes),
                "held": ", ".join(held),  # changed on-chain within the min interval
                "dead_banded": ", ".join(banded),  # a move too small to propose
                # anti-procyclicality at work: the floor, and margins not loosened in stress
                "apc": "; ".join(n for n in r.notes if n.startswith("APC")),
                # what makes a review's figures weaker than they look
                "warnings": "; ".join(
                    n for n in r.notes if n.startswith(("degenerate", "warning:"))
                ),
            }
        )
    return rows
