"""Portfolio margin of a whole book of accounts: risk.margin_batch against numpy.

    python -m benchmarks.margin

The book: 100,000 accounts x 5 positions on the 32 series the market can list at once
(each account holds 5 different series, 20% of the slots empty), on the default grid of
contracts' MarginParams and on a fine grid. Both sides compute value, MM and IM of every
account from the same inputs, including the scenario price table:

- ours: `risk.margin_batch.accounts_margin` (numba, one pass over the accounts in parallel);
- peer: the matrix-multiply formulation in numpy: the positions as a dense (accounts x
  series) matrix W built with `np.bincount`, then W @ [losses | marks] with OpenBLAS on
  all cores, the worst loss per row, and the short minimum from min(W, 0).

Both are checked against each other (and the reference `risk.margin.portfolio_margin_batch`
on a sample) before timing. Times are the best of 20 runs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import numba
import numpy as np

from benchmarks import timing
from risk.margin import Margin, portfolio_margin_batch
from risk.margin_batch import accounts_margin, scenario_table
from risk.params import MarginParams

SPOT = 2_000.0
N_SERIES = 32
TARGET_MS = 20.0
TARGET_RATIO = 5.0


def book(n_accounts: int, n_positions: int, seed: int = 0) -> dict[str, Any]:
    """32 series (7 expiries incl. one expired, strikes 0.6-1.6 x spot) and the accounts."""
    g = np.random.default_rng(seed)
    days = g.choice([0, 1, 7, 14, 30, 90, 180], N_SERIES)
    series = {
        "strike": SPOT * np.exp(g.uniform(-0.5, 0.5, N_SERIES)),
        "t_sec": days * 86_400.0,
        "vol": g.uniform(0.3, 1.2, N_SERIES),
        "is_call": g.random(N_SERIES) < 0.5,
    }
    # each account: n_positions different series, sizes N(0, 3) contracts, 20% empty slots
    idx = np.argsort(g.random((n_accounts, N_SERIES)), axis=1)[:, :n_positions]
    size = g.normal(0.0, 3.0, (n_accounts, n_positions))
    size[g.random(size.shape) < 0.2] = 0.0
    return {"series": series, "idx": idx.astype(np.int32), "size": size}


def numpy_margin(spot: float, series: dict, idx: np.ndarray, size: np.ndarray, params) -> Margin:
    """The same computation as a dense matrix product (see the module docstring)."""
    table = scenario_table(spot, **series, params=params)
    n_acc, n_series = idx.shape[0], len(table.mark)
    flat = (np.arange(n_acc, dtype=np.int64)[:, None] * n_series + idx).ravel()
    w = np.bincount(flat, weights=size.ravel(), minlength=n_acc * n_series)
    w = w.reshape(n_acc, n_series)
    both = w @ np.column_stack([table.loss, table.mark])  # (A, J + 1)
    worst = np.maximum(both[:, :-1].max(axis=1), 0.0)
    shorts = -(np.minimum(w, 0.0) @ table.unexpired)
    mm = worst + params.short_min * spot * shorts
    return Margin(both[:, -1], mm, params.im_factor * mm)


def best_ms(fn: Callable[[], Any], repeat: int = 20) -> float:
    return 1e3 * timing.best_of(fn, repeat)


def check(ours: Margin, peer: Margin, data: dict, params: MarginParams) -> float:
    """Max |difference| / notional between ours, the peer and the float reference."""
    notional = SPOT * np.abs(data["size"]).sum(axis=1) + 1.0
    err = max(float(np.max(np.abs(a - b) / notional)) for a, b in zip(ours, peer, strict=True))
    sample = slice(0, 2_000)
    s = data["series"]
    i = data["idx"][sample]
    ref = portfolio_margin_batch(
        np.full(i.shape[0], SPOT),
        s["strike"][i],
        s["t_sec"][i],
        s["vol"][i],
        s["is_call"][i],
        data["size"][sample],
        params,
    )
    for a, b in zip(ours, ref, strict=True):
        err = max(err, float(np.max(np.abs(a[sample] - b) / notional[sample])))
    return err


def main() -> int:
    n_acc, n_pos = 100_000, 5
    data = book(n_acc, n_pos)
    grids = {
        "default grid (7 x 3)": MarginParams(),
        "finest grid (13 x 3)": MarginParams(spot_steps=6),
    }
    print("# Portfolio margin benchmark\n")
    print(
        f"{n_acc:,} accounts x {n_pos} positions on {N_SERIES} series; numba "
        f"{numba.__version__} with {numba.config.NUMBA_NUM_THREADS} threads, numpy "
        f"{np.__version__}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}\n"
    )
    print(
        "| grid | ours parallel ms | ours serial ms | numpy matmul ms | ratio "
        "| max err / notional |"
    )
    print("|---|---|---|---|---|---|")
    ok = True
    s = data["series"]
    for name, params in grids.items():

        def ours(parallel: bool, params=params) -> Margin:
            return accounts_margin(
                SPOT,
                **s,
                series_idx=data["idx"],
                size=data["size"],
                params=params,
                parallel=parallel,
            )

        def peer(params=params) -> Margin:
            return numpy_margin(SPOT, s, data["idx"], data["size"], params)

        err = check(ours(True), peer(), data, params)
        t_par, t_ser, t_np = (
            best_ms(lambda: ours(True)),
            best_ms(lambda: ours(False)),
            best_ms(peer),
        )
        ratio = t_np / t_par
        print(f"| {name} | {t_par:.2f} | {t_ser:.2f} | {t_np:.2f} | {ratio:.1f}x | {err:.1e} |")
        ok &= err < 1e-12
    print(
        f"\nTargets: under {TARGET_MS:.0f} ms including the scenario table, at least "
        f"{TARGET_RATIO:.0f}x numpy. Load average at the end {os.getloadavg()[0]:.2f}."
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
