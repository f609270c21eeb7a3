"""Results of a run: per-step CSV, summary JSON, PNG plots and one self-contained HTML page.

The folder is written under a temporary name and renamed at the end, so an interrupted
run leaves no half-written results folder.
"""

from __future__ import annotations

import base64
import html
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd


def summarise(steps: pd.DataFrame, meta: dict[str, Any]) -> dict[str, Any]:
    """Run summary: LP return, drawdown, liquidations, bad debt, the worst step."""
    price = steps["lp_share_price"].replace(0, float("nan")).dropna()
    lp_return = float(price.iloc[-1] / price.iloc[0] - 1) if len(price) > 1 else 0.0
    nav = steps["pool_nav"]
    drawdown = float((nav / nav.cummax() - 1).min()) if len(nav) else 0.0
    nav_change = nav.diff().fillna(0.0)
    worst = int(nav_change.idxmin()) if len(nav_change) else 0
    return {
        **meta,
        "lp_return": lp_return,
        "pool_nav_start": float(nav.iloc[0]),
        "pool_nav_end": float(nav.iloc[-1]),
        "pool_max_drawdown": drawdown,
        "liquidations": int(steps["liquidations"].sum()),
        "liquidated_mm_usd": float(steps["liquidated_mm"].sum()),
        "bad_debt_usd": float(steps["bad_debt"].sum()),
        "socialised_usd": float(steps["socialised"].sum()),
        "settlements": int(steps["settlements"].sum()),
        "max_accounts_below_mm": int(steps["accounts_below_mm"].max()),
        "transactions": int(steps["txs"].sum()),
        "reverts": int(steps["reverts"].sum()),
        "gas_used": int(steps["gas"].sum()),
        "worst_step": {
            "step": worst,
            "pool_nav_change_usd": float(nav_change.iloc[worst]),
            "spot": float(steps["spot"].iloc[worst]),
        },
    }


def _plots(steps: pd.DataFrame, folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hours = steps["time"] / 3_600
    files = []
    fig, ax = plt.subplots(figsize=(9, 3.5))
    ax.plot(hours, steps["spot"], lw=1.2, label="spot")
    liq = steps["liquidations"] > 0
    ax.scatter(hours[liq], steps["spot"][liq], color="red", s=18, zorder=3, label="liquidations")
    ax.set_xlabel("hours")
    ax.set_ylabel("USD")
    ax.set_title("Spot with liquidations")
    ax.legend()
    files.append(folder / "price_liquidations.png")
    fig.tight_layout()
    fig.savefig(files[-1], dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
    axes[0].plot(hours, steps["pool_nav"], lw=1.2)
    axes[0].set_title("Pool NAV (USD)")
    axes[1].plot(hours, steps["bad_debt"].cumsum(), lw=1.2, label="bad debt")
    axes[1].plot(hours, steps["insurance"], lw=1.2, label="insurance fund")
    axes[1].set_title("Bad debt (cumulative) and insurance (USD)")
    axes[1].legend()
    for ax in axes:
        ax.set_xlabel("hours")
    files.append(folder / "nav_bad_debt.png")
    fig.tight_layout()
    fig.savefig(files[-1], dpi=110)
    plt.close(fig)
    return files


def _html(summary: dict[str, Any], images: list[Path]) -> str:
    def cell(v: Any) -> str:
        return html.escape(json.dumps(v) if isinstance(v, dict) else str(v))

    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{cell(v)}</td></tr>" for k, v in summary.items()
    )
    imgs = "".join(f'<img alt="{p.stem}" src="data:image/png;base64,{_b64(p)}">' for p in images)
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>optsim run</title>"
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
        "th{text-align:left;padding-right:2em}"
        "img{max-width:100%;display:block;margin:1em 0}</style>"
        f"</head><body><h1>optsim run: {html.escape(str(summary.get('scenario', '')))}</h1>"
        f"<table>{rows}</table>{imgs}</body></html>"
    )


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write_results(steps: pd.DataFrame, summary: dict[str, Any], out: Path) -> Path:
    """Write the results folder atomically; returns the path of report.html."""
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"results folder {out} already exists")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        steps.to_csv(tmp / "steps.csv", index_label="step")
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2))
        images = _plots(steps, tmp)
        (tmp / "report.html").write_text(_html(summary, images))
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out / "report.html"
