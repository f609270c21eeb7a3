"""Portfolio margin of many accounts at once, over the protocol's shared series (numba).

The rules are those of `risk.margin` (and so of contracts/MarginEngine.vy). What this module
adds is the shape of a real book: every account holds a few of the same few listed series
(the market lists at most 32 live ones), so a series' price in each scenario is computed once
and shared by every account that holds it.

    scenario table   L[s, j] = P_s(spot, vol) - P_s(spot (1 + m_i), vol_k)      USD per contract
                     (j runs over the grid: spot move i x vol state k; the loss of one long)
    account loss     loss_a[j] = sum_p size[a, p] * L[series[a, p], j]
    mark value       V0_a      = sum_p size[a, p] * P_series[a, p](spot, vol)
    maintenance      MM_a      = max(0, max_j loss_a[j])
                                 + short_min * spot * sum(|size| of unexpired shorts)
    initial          IM_a      = im_factor * MM_a

The table costs (n_series x n_scenarios) Black-Scholes prices, a few thousand; each account
then costs n_positions x n_scenarios multiply-adds, done in one pass over the accounts
(parallel over chunks of accounts). Results agree with `risk.margin.portfolio_margin` up to
the order of float additions (relative 1e-13 of the notional).

Units: USD for spot and strikes, seconds for T, vols as fractions, sizes in contracts
(negative when short). `series_idx` indexes the series arrays; slots with size 0 are padding
and their index is ignored (it may be -1).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numba
import numpy as np

from risk.jit import jit, parallel_jit
from risk.margin import Margin, shocked_vols, spot_moves
from risk.params import MarginParams
from risk.pricing import bs_price_unchecked, check_option_inputs

ACCOUNT_CHUNK = 2_048  # accounts per parallel task
_PARALLEL_MIN_ACCOUNTS = 4_096


class ScenarioTable(NamedTuple):
    """Per-series values shared by all accounts (see the module docstring)."""

    mark: np.ndarray  # (S,) USD per contract at spot and the series' vol
    loss: np.ndarray  # (S, J) USD per long contract in each scenario, J = 3 (2 steps + 1)
    unexpired: np.ndarray  # (S,) float 1.0 if T > 0 (shorts carry the short minimum)


def scenario_table(
    spot: float,
    strike: Any,
    t_sec: Any,
    vol: Any,
    is_call: Any,
    params: MarginParams,
) -> ScenarioTable:
    """Mark prices and per-scenario losses of each series, in USD per contract.

    Args:
        spot: USD, > 0.
        strike, t_sec, vol, is_call: (S,) the listed series (T = 0: expired, intrinsic).
        params: margin parameters (the grid and the shocks).
    """
    params.validate()
    strike, t_sec, vol = (np.asarray(a, dtype=float) for a in (strike, t_sec, vol))
    is_call = np.asarray(is_call, dtype=bool)
    fields = {"strike": strike, "t_sec": t_sec, "vol": vol, "is_call": is_call}
    for name, arr in fields.items():
        if arr.ndim != 1 or arr.shape != strike.shape:
            raise ValueError(f"series.{name}: expected shape {strike.shape}, got {arr.shape}")
    check_option_inputs(spot=np.asarray([spot], dtype=float), strike=strike, t_sec=t_sec, vol=vol)
    if len(strike) == 0:
        raise ValueError("series: expected at least one series, got none")
    vol_up, vol_dn = shocked_vols(vol, t_sec, params)
    vols = np.stack([vol, vol_up, vol_dn], axis=-1)[:, None, :]  # (S, 1, 3)
    spots = (spot * (1.0 + spot_moves(params)))[None, :, None]  # (1, M, 1)
    col = (slice(None), None, None)
    prices = bs_price_unchecked(spots, strike[col], t_sec[col], vols, is_call[col])  # (S, M, 3)
    mark = bs_price_unchecked(np.float64(spot), strike, t_sec, vol, is_call)
    loss = mark[:, None] - prices.reshape(len(strike), -1)
    return ScenarioTable(mark, np.ascontiguousarray(loss), (t_sec > 0.0).astype(float))


def accounts_margin(
    spot: float,
    strike: Any,
    t_sec: Any,
    vol: Any,
    is_call: Any,
    series_idx: Any,
    size: Any,
    params: MarginParams,
    parallel: bool | None = None,
) -> Margin:
    """Value, MM and IM of every account, in USD.

    Args:
        spot: USD, > 0, shared by all accounts.
        strike, t_sec, vol, is_call: (S,) the series (as `scenario_table`).
        series_idx: (A, P) integers in [0, S): which series each position holds.
        size: (A, P) contracts, negative when short; 0 marks an empty slot.
        params: margin parameters.
        parallel: spread accounts over numba's threads (None: when A is large).

    Returns:
        Margin of three (A,) arrays: value (signed), mm, im.

    Raises:
        ValueError: naming the field (a series input, `series_idx` out of range, a NaN or
            infinite `size`, mismatched shapes) and its allowed range.
    """
    table = scenario_table(spot, strike, t_sec, vol, is_call, params)
    return margin_from_table(table, spot, series_idx, size, params, parallel)


def margin_from_table(
    table: ScenarioTable,
    spot: float,
    series_idx: Any,
    size: Any,
    params: MarginParams,
    parallel: bool | None = None,
) -> Margin:
    """`accounts_margin` with the scenario table already built (e.g. reused across calls)."""
    idx = np.asarray(series_idx)
    size = np.asarray(size, dtype=float)
    if idx.shape != size.shape or idx.ndim != 2:
        raise ValueError(
            f"series_idx and size: expected one shape (n_accounts, n_positions), "
            f"got {idx.shape} and {size.shape}"
        )
    if not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(
            f"series_idx: expected integers in [0, {len(table.mark)}), got {idx.dtype}"
        )
    n_acc = idx.shape[0]
    out = np.empty((3, n_acc))
    use_parallel = n_acc >= _PARALLEL_MIN_ACCOUNTS if parallel is None else parallel
    kernel = _margin_parallel if use_parallel else _margin_serial
    bad = kernel(table.mark, table.loss, table.unexpired, idx, size, out)
    if bad >= 0:
        a, p = divmod(int(bad), idx.shape[1])
        if not np.isfinite(size[a, p]):
            raise ValueError(f"size[{a}, {p}] = {size[a, p]} outside allowed range: finite")
        raise ValueError(
            f"series_idx[{a}, {p}] = {idx[a, p]} outside allowed range [0, {len(table.mark)})"
        )
    out[1] += params.short_min * spot * out[2]
    return Margin(out[0], out[1], params.im_factor * out[1])


# --- kernels ---


@jit
def _margin_rows(start, stop, mark, loss, unexpired, idx, size, out):  # type: ignore[no-untyped-def]
    """Accounts start..stop into out[0] (value), out[1] (worst loss), out[2] (short size).

    Returns the flat index of the first bad slot (series out of range or size not finite),
    or -1. One scratch row of J losses is reused across the accounts.
    """
    n_series, n_scen = loss.shape
    n_pos = idx.shape[1]
    acc = np.empty(n_scen)
    for a in range(start, stop):
        acc[:] = 0.0
        value = 0.0
        shorts = 0.0
        for p in range(n_pos):
            q = size[a, p]
            if q == 0.0:
                continue
            s = idx[a, p]
            if s < 0 or s >= n_series or not np.isfinite(q):
                return a * n_pos + p
            value += q * mark[s]
            for j in range(n_scen):
                acc[j] += q * loss[s, j]
            if q < 0.0:
                shorts -= q * unexpired[s]
        worst = 0.0
        for j in range(n_scen):
            worst = max(worst, acc[j])
        out[0, a] = value
        out[1, a] = worst
        out[2, a] = shorts
    return -1


@jit
def _margin_serial(mark, loss, unexpired, idx, size, out):  # type: ignore[no-untyped-def]
    return _margin_rows(0, idx.shape[0], mark, loss, unexpired, idx, size, out)


@parallel_jit
def _margin_parallel(mark, loss, unexpired, idx, size, out):  # type: ignore[no-untyped-def]
    n = idx.shape[0]
    n_tasks = (n + ACCOUNT_CHUNK - 1) // ACCOUNT_CHUNK
    bad = np.full(n_tasks, -1, dtype=np.int64)
    for c in numba.prange(n_tasks):
        start = c * ACCOUNT_CHUNK
        bad[c] = _margin_rows(
            start, min(n, start + ACCOUNT_CHUNK), mark, loss, unexpired, idx, size, out
        )
    for c in range(n_tasks):
        if bad[c] >= 0:
            return bad[c]
    return -1
