"""The rule backtest's picture: margin against realised losses, exceedances marked, with
the worst windows zoomed (risk.rule_backtest)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from risk.margin_rule import RuleRun

ZOOM_PAD_DAYS = 10  # days shown either side of a zoomed window


def worst_windows(
    run: RuleRun, timestamps: np.ndarray, n: int = 4, apart_days: float = 60
) -> list[tuple[int, int]]:
    """The n origins with the largest losses (either side), at least `apart_days` apart,
    as (start, end) epochs: the default zooms, found from the data, not from a calendar."""
    f = run.frame
    worst = np.maximum(f["loss_long"].to_numpy(), f["loss_short"].to_numpy())
    times = timestamps[f.index.to_numpy()]
    chosen: list[int] = []
    for i in np.argsort(-worst):
        if all(abs(times[i] - times[j]) > apart_days * 86_400 for j in chosen):
            chosen.append(int(i))
        if len(chosen) == n:
            break
    return sorted((int(times[i]), int(times[i]) + 86_400) for i in chosen)


def plot_backtest(
    run: RuleRun,
    timestamps: np.ndarray,
    path: Path,
    title: str,
    zooms: list[tuple[int, int]],
) -> Path:
    """Write the PNG: the whole period on top, one panel per zoom window below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    f = run.frame
    when = pd.to_datetime(timestamps[f.index.to_numpy()], unit="s", utc=True)
    worst = np.maximum(f["loss_long"], f["loss_short"]).to_numpy() * 100
    margin = f["margin"].to_numpy() * 100
    no_apc = f["no_apc"].to_numpy() * 100
    hits = (f["loss_long"].to_numpy() > f["margin"].to_numpy()) | (
        f["loss_short"].to_numpy() > f["margin"].to_numpy()
    )
    n_zoom = len(zooms)
    fig = plt.figure(figsize=(13, 4.2 + 3.0 * ((n_zoom + 1) // 2)), dpi=110)
    grid = fig.add_gridspec(
        1 + (n_zoom + 1) // 2, 2, height_ratios=[1.4] + [1] * ((n_zoom + 1) // 2)
    )
    top = fig.add_subplot(grid[0, :])
    panels = [(top, slice(None))]
    for k, (lo, hi) in enumerate(zooms):
        ax = fig.add_subplot(grid[1 + k // 2, k % 2])
        pad = ZOOM_PAD_DAYS * 86_400
        sel = (timestamps[f.index.to_numpy()] >= lo - pad) & (
            timestamps[f.index.to_numpy()] <= hi + pad
        )
        panels.append((ax, sel))
    for ax, sel in panels:
        ax.plot(
            when[sel], worst[sel], ".", ms=2.5, color="0.55", label="realised loss (worse side)"
        )
        ax.plot(when[sel], no_apc[sel], lw=0.9, color="tab:orange", label="rule without APC")
        ax.plot(when[sel], margin[sel], lw=1.3, color="tab:blue", label="submitted rule (APC)")
        h = hits & (np.ones(len(hits), bool) if isinstance(sel, slice) else sel)
        ax.plot(when[h], worst[h], "x", color="tab:red", ms=7, mew=1.6, label="exceedance")
        ax.set_ylabel("% of notional")
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
    top.set_title(title)
    top.legend(loc="upper right", fontsize=8, ncol=4)
    for ax, _ in panels[1:]:
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
        ax.tick_params(axis="x", labelsize=7, rotation=20)
    for k, (lo, hi) in enumerate(zooms):
        a = pd.Timestamp(lo, unit="s").strftime("%Y-%m-%d")
        b = pd.Timestamp(hi - 1, unit="s").strftime("%Y-%m-%d")
        panels[k + 1][0].set_title(f"zoom {a}" + ("" if a == b else f" to {b}"), fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
