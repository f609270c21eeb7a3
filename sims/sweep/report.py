"""The sweep's report: one self-contained HTML page (plots embedded as PNG), written under
a temporary name and renamed, so a reader never sees half a report.

Sections: the recommendation with the evidence governance needs, the frontier of margin
per notional against each risk metric, every parameter set's metrics with intervals, the
sensitivity to each parameter, and the failed runs with their errors.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sims.sweep import analysis
from sims.sweep.spec import METRICS, SweepSpec

_LABELS = {
    "im_per_notional": "IM per USD notional (reference book)",
    "bad_debt_probability": "bad-debt probability",
    "lp_es": "LP daily ES 99%",
    "lar": "liquidations-at-risk 24h (USD)",
}


def build_report(
    spec: SweepSpec,
    records: list[dict[str, Any]],
    out: Path,
    planned: int,
    timing: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Analyse the records and write out/report.html; returns the analysis (recommendation
    and evidence, None when no set meets the constraints)."""
    table = analysis.param_set_table(records, spec)
    best = analysis.recommend(table, spec) if not table.empty else None
    ev = analysis.evidence(best, spec, records) if best is not None else None
    sens = analysis.sensitivity(table, spec) if not table.empty else pd.DataFrame()
    fronts = analysis.frontiers(table) if not table.empty else {}
    parts = [_header(spec, records, planned, timing)]
    parts.append(_recommendation(spec, best, ev, table))
    if not table.empty:
        parts.append("<h2>Frontier: capital efficiency against risk</h2>")
        parts.append(_img(_frontier_png(table, fronts, best)))
        parts.append(_sets_table(spec, table, fronts))
        if not sens.empty:
            parts.append(
                "<h2>Sensitivity</h2><p>Standardised regression coefficient of each "
                "metric on each swept parameter over the sweep (the metric's change in "
                "its standard deviations per standard deviation of the parameter), and "
                "the metric's mean at each value (one at a time).</p>"
            )
            parts.append(_img(_sensitivity_png(sens)))
            parts.append(_sensitivity_table(sens))
    parts.append(_failures(records))
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>optsim sweep: {html.escape(spec.name)}</title>"
        "<style>body{font-family:sans-serif;max-width:1250px;margin:2em auto}"
        "table{border-collapse:collapse;margin:1em 0;font-size:13px}"
        "th,td{padding:2px 10px;border-bottom:1px solid #ddd;text-align:right}"
        "th:first-child,td:first-child{text-align:left}"
        "tr.best{background:#e8f6e8}pre{background:#f6f6f6;padding:6px;white-space:pre-wrap}"
        "img{max-width:100%;display:block;margin:1em 0}</style></head><body>"
        + "".join(parts)
        + "</body></html>"
    )
    out.mkdir(parents=True, exist_ok=True)
    final = out / "report.html"
    tmp = out / f".report.html.{os.getpid()}.tmp"
    tmp.write_text(page)
    os.replace(tmp, final)
    return {"table": table, "best": best, "evidence": ev, "sensitivity": sens, "path": final}


# --- sections ---


def _header(
    spec: SweepSpec, records: list[dict[str, Any]], planned: int, timing: dict[str, Any] | None
) -> str:
    done = sum(r["status"] == "done" for r in records)
    failed = sum(r["status"] == "failed" for r in records)
    o = spec.objective
    cons = "; ".join(map(str, o.constraints)) or "none"
    lines = [
        f"method <b>{spec.method}</b>, parameters {', '.join(spec.parameters)}",
        f"scenarios {', '.join(Path(s).stem for s in spec.scenarios)}; seeds {list(spec.seeds)}; "
        f"{spec.steps} steps per run on {spec.chain}",
        f"runs: {planned} planned, {done} done, {failed} failed, "
        f"{max(0, planned - done - failed)} missing",
        f"objective: {o.direction} <b>{o.metric}</b> ({METRICS[o.metric]}) subject to {cons}"
        f"{' on the far end of the ' if o.pessimistic else ' at the estimate; intervals '}"
        f"{o.confidence:.0%} interval across seeds",
    ]
    if timing:
        lines.append(", ".join(f"{k} {v}" for k, v in timing.items()))
    body = "".join(f"<li>{html.escape(x) if '<b>' not in x else x}</li>" for x in lines)
    return f"<h1>optsim sweep: {html.escape(spec.name)}</h1><ul>{body}</ul>"


def _recommendation(
    spec: SweepSpec, best: Any, ev: dict[str, Any] | None, table: pd.DataFrame
) -> str:
    if best is None or ev is None:
        text = "<h2>Recommendation</h2><p><b>No parameter set meets the constraints.</b>"
        if not table.empty and spec.objective.constraints:
            worst = table["constraint_slack"].map(lambda s: max(s) if s else 0.0)
            closest = table.loc[worst.idxmin()]
            text += (
                f" The closest is {html.escape(_params_text(spec, closest))} "
                f"(largest constraint excess {worst.min():.4g})."
            )
        return text + "</p>"
    out = [f"<h2>Recommendation: {html.escape(_params_text(spec, best))}</h2>"]
    out.append(
        f"<p>Best {spec.objective.direction[:-1]}ed {spec.objective.metric} among the "
        "sets that meet every constraint. The evidence for a governance proposal:</p>"
    )
    out.append(
        _table(
            pd.DataFrame(ev["changes"]),
            "Parameter changes (on-chain units; "
            f"updates needed at a rate limit of {ev['max_rel_change']:.0%} per update)",
        )
    )
    out.append(_table(pd.DataFrame(ev["metrics"]), "Metrics across seeds and scenarios"))
    if ev["constraints"]:
        out.append(_table(pd.DataFrame(ev["constraints"]), "Constraints (slack <= 0: met)"))
    out.append(_table(pd.DataFrame(ev["per_scenario"]), "Per scenario"))
    out.append(_table(pd.DataFrame(ev["runs"]), "Runs behind it"))
    return "".join(out)


def _sets_table(spec: SweepSpec, table: pd.DataFrame, fronts: dict[str, np.ndarray]) -> str:
    cols = [*spec.parameters, "done", "failed", "capital_efficiency", "im_per_notional"]
    df = table.copy()
    for m in ("bad_debt_probability", "lp_es", "lar", "lp_return"):
        df[m] = [_ci(r[m], r[f"{m}_lo"], r[f"{m}_hi"]) for _, r in table.iterrows()]
        cols.append(m)
    df["frontier"] = [", ".join(k for k, v in fronts.items() if v[i]) for i in range(len(df))]
    cols += ["feasible", "frontier"]
    df = df.sort_values("objective", ascending=spec.objective.direction == "minimize")
    return _table(df[cols], "Every parameter set (sorted by the objective; intervals in brackets)")


def _sensitivity_table(sens: pd.DataFrame) -> str:
    df = sens.copy()
    df["by_value"] = df["by_value"].map(
        lambda d: "; ".join(f"{k:g}: {v:.4g}" for k, v in d.items()) if d else ""
    )
    return _table(df, "")


def _failures(records: list[dict[str, Any]]) -> str:
    failed = [r for r in records if r["status"] == "failed"]
    if not failed:
        return "<h2>Failed runs</h2><p>None.</p>"
    out = [
        f"<h2>Failed runs ({len(failed)})</h2><p>Running the same command again re-runs them.</p>"
    ]
    for r in failed:
        out.append(
            f"<p><b>{html.escape(r['run_id'])}</b> {html.escape(str(r['params']))} "
            f"{html.escape(Path(r['scenario']).stem)} seed {r['seed']} "
            f"(attempts {r['attempts']})</p><pre>{html.escape(r['error'] or '')}</pre>"
        )
    return "".join(out)


# --- plots ---


def _frontier_png(table: pd.DataFrame, fronts: dict[str, np.ndarray], best: Any) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(analysis.RISK_METRICS), figsize=(15, 4))
    x = table["im_per_notional"].to_numpy(float)
    for ax, risk in zip(axes, analysis.RISK_METRICS, strict=True):
        y = table[risk].to_numpy(float)
        lo, hi = table[f"{risk}_lo"].to_numpy(float), table[f"{risk}_hi"].to_numpy(float)
        err = np.vstack([np.nan_to_num(y - lo), np.nan_to_num(hi - y)])
        feas = table["feasible"].to_numpy(bool)
        for mask, colour, label in (
            (feas, "tab:green", "meets constraints"),
            (~feas, "tab:grey", "does not"),
        ):
            if mask.any():
                ax.errorbar(
                    x[mask],
                    y[mask],
                    yerr=err[:, mask],
                    fmt="o",
                    color=colour,
                    ms=5,
                    capsize=3,
                    label=label,
                )
        f = fronts[risk]
        order = np.argsort(x[f])
        ax.plot(x[f][order], y[f][order], "-", color="tab:blue", lw=1, label="frontier")
        if best is not None:
            ax.plot(
                best["im_per_notional"],
                best[risk],
                "*",
                ms=16,
                color="tab:red",
                label="recommended",
            )
        ax.set(xlabel=_LABELS["im_per_notional"], ylabel=_LABELS[risk], title=_LABELS[risk])
        ax.legend(fontsize=7)
    return _png(fig)


def _sensitivity_png(sens: pd.DataFrame) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    params = list(dict.fromkeys(sens["parameter"]))
    metrics = list(dict.fromkeys(sens["metric"]))
    fig, ax = plt.subplots(figsize=(max(6, 2.2 * len(params)), 3.6))
    width = 0.8 / len(metrics)
    for j, m in enumerate(metrics):
        vals = [
            sens[(sens.parameter == p) & (sens.metric == m)]["std_coef"].iloc[0] for p in params
        ]
        ax.bar(np.arange(len(params)) + j * width, np.nan_to_num(vals), width, label=m)
    ax.set_xticks(np.arange(len(params)) + 0.4 - width / 2, params)
    ax.axhline(0, color="k", lw=0.6)
    ax.set(ylabel="standardised coefficient", title="Sensitivity of each metric to each parameter")
    ax.legend(fontsize=7)
    return _png(fig)


# --- helpers ---


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def _img(png: bytes) -> str:
    return f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _table(df: pd.DataFrame, caption: str) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>"
        for row in df.itertuples(index=False)
    )
    cap = (
        f"<caption style='text-align:left'><b>{html.escape(caption)}</b></caption>"
        if caption
        else ""
    )
    return f"<table>{cap}<tr>{head}</tr>{rows}</table>"


def _cell(v: Any) -> str:
    if isinstance(v, float | np.floating):
        return "" if math.isnan(v) else f"{v:,.4g}"
    return html.escape(str(v))


def _ci(m: float, lo: float, hi: float) -> str:
    if not np.isfinite(m):
        return ""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{m:.4g}"
    return f"{m:.4g} [{lo:.4g}, {hi:.4g}]"


def _params_text(spec: SweepSpec, row: Any) -> str:
    return ", ".join(f"{p} = {row[p]:g}" for p in spec.parameters)
