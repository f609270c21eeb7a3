"""Scenario-grid portfolio margin: the rules of contracts/MarginEngine.vy in float64.

The contract and this module must agree (tests/contracts/margin_engine/test_margin_vectors.py checks
the vectors in tests/vectors/margin_vectors.json, which this module generates). The rule:

    grid of spot moves   m_i = spot_shock * i / spot_steps,  i = -spot_steps..spot_steps
    vol shock scaling    k(T) = min(vol_scale_cap, (vol_tenor_ref / T) ** vol_tenor_power)
                         (k = min(1, vol_scale_cap) when vol_tenor_power = 0)
    shocked vols         vol_up = vol * (1 + vol_shock_up * k)
                         vol_dn = vol * (1 - min(vol_shock_down * k, 0.95))
    scenarios            every m_i with each of {vol, vol_up, vol_dn}, all positions together
    scenario value       V_s = sum(size * BS(spot * (1 + m_i), strike, T, vol_j))
    mark value           V0 = sum(size * BS(spot, strike, T, vol))
    maintenance margin   MM = max(0, max_s (V0 - V_s))
                              + short_min * spot * sum(|size| of unexpired shorts)
    initial margin       IM = im_factor * MM

Expired positions (T = 0) are worth their intrinsic value on the (shocked) spot in every
vol state and carry no short minimum. Positions of size 0 are skipped, so padded slots
of the batch form may hold any values.

Units: USD for spot, strike and results; seconds for T; vols as fractions (0.6 = 60%);
sizes in contracts (one unit of underlying), negative when short.

The functions are pure over arrays so that a numba version can follow them line by line.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from risk.params import MarginParams
from risk.pricing import bs_price_unchecked, check_option_inputs

MAX_VOL_DOWN = 0.95  # vol is never shocked below 5% of itself (MarginEngine.MAX_VOL_DOWN)
_POSITION_FIELDS = ("strike", "t_sec", "vol", "is_call", "size")  # EnginePosition, in order


class Margin(NamedTuple):
    """Result of a margin computation, USD (floats, or arrays of accounts for the batch)."""

    value: Any  # mark value V0, signed
    mm: Any  # maintenance margin, >= 0
    im: Any  # initial margin, im_factor * mm


# --- the grid ---


def spot_moves(params: MarginParams) -> np.ndarray:
    """Relative spot moves m_i = spot_shock * i / spot_steps, i = -steps..steps (ascending)."""
    n = params.spot_steps
    return params.spot_shock * np.arange(-n, n + 1) / n


def vol_shock_scale(t_sec: Any, params: MarginParams) -> np.ndarray:
    """k(T) = min(vol_scale_cap, (vol_tenor_ref / T) ** vol_tenor_power); 1 where T = 0.

    With vol_tenor_power = 0 the scale is min(1, cap) at every tenor. The value at T = 0 is
    unused (expired positions see no vol) and is 1 only to keep the arrays finite.
    """
    t = np.asarray(t_sec, dtype=float)
    if params.vol_tenor_power == 0:
        return np.full(t.shape, min(1.0, params.vol_scale_cap))
    safe_t = np.where(t > 0.0, t, float(params.vol_tenor_ref))
    k = np.minimum((params.vol_tenor_ref / safe_t) ** params.vol_tenor_power, params.vol_scale_cap)
    return np.where(t > 0.0, k, 1.0)


def shocked_vols(vol: Any, t_sec: Any, params: MarginParams) -> tuple[np.ndarray, np.ndarray]:
    """(vol_up, vol_dn) = (vol (1 + up k), vol (1 - min(down k, 0.95))), k = vol_shock_scale."""
    vol = np.asarray(vol, dtype=float)
    k = vol_shock_scale(t_sec, params)
    vol_up = vol * (1.0 + params.vol_shock_up * k)
    vol_dn = vol * (1.0 - np.minimum(params.vol_shock_down * k, MAX_VOL_DOWN))
    return vol_up, vol_dn


# --- margin ---


def portfolio_margin(
    spot: float,
    strike: Any,
    t_sec: Any,
    vol: Any,
    is_call: Any,
    size: Any,
    params: MarginParams,
) -> Margin:
    """Mark value, maintenance and initial margin of one book (see the module docstring).

    Args:
        spot: USD, > 0.
        strike: (n,) USD, > 0.
        t_sec: (n,) seconds to expiry, >= 0 (0 = expired, valued at intrinsic).
        vol: (n,) annualised vol, 1.0 = 100%, >= 0.
        is_call: (n,) bools (or 0/1).
        size: (n,) contracts, negative when short.
        params: the margin parameters (validated against the on-chain bounds).

    Returns:
        Margin(value, mm, im) as floats in USD.

    Raises:
        ValueError: a field is NaN or outside its range, the shapes differ, or a
            parameter is outside its bounds (risk.params.ParamError).
    """
    arrays = [np.asarray(a) for a in (strike, t_sec, vol, is_call, size)]
    for name, arr in zip(_POSITION_FIELDS, arrays, strict=True):
        if arr.ndim != 1:
            raise ValueError(f"{name}: expected a 1-D array of positions, got shape {arr.shape}")
    _check_same_shape(dict(zip(_POSITION_FIELDS, arrays, strict=True)))
    spots = np.asarray([spot], dtype=float)
    strike_, t_sec_, vol_, is_call_, size_ = (a[None, :] for a in arrays)
    batch = portfolio_margin_batch(spots, strike_, t_sec_, vol_, is_call_, size_, params)
    return Margin(float(batch.value[0]), float(batch.mm[0]), float(batch.im[0]))


def portfolio_margin_batch(
    spot: Any,
    strike: Any,
    t_sec: Any,
    vol: Any,
    is_call: Any,
    size: Any,
    params: MarginParams,
) -> Margin:
    """`portfolio_margin` of many accounts at once, over padded arrays.

    Args:
        spot: (n_accounts,) USD, > 0 (one spot per account, e.g. all equal).
        strike, t_sec, vol, is_call, size: (n_accounts, n_positions); pad short books with
            size 0 (the other fields of such slots are ignored).
        params: the margin parameters, shared by all accounts.

    Returns:
        Margin of (n_accounts,) arrays in USD. Memory grows as
        n_accounts * n_positions * (2 * spot_steps + 1) * 3 floats.

    Raises:
        ValueError: as `portfolio_margin`.
    """
    params.validate()
    spot = np.asarray(spot, dtype=float)
    fields = dict(zip(_POSITION_FIELDS, (strike, t_sec, vol, is_call, size), strict=True))
    arrays = {name: np.asarray(a) for name, a in fields.items()}
    if spot.ndim != 1:
        raise ValueError(f"spot: expected shape (n_accounts,), got {spot.shape}")
    _check_same_shape(arrays)
    shape = arrays["size"].shape
    if len(shape) != 2 or shape[0] != spot.shape[0]:
        raise ValueError(
            f"positions: expected shape (n_accounts, n_positions) with n_accounts = "
            f"{spot.shape[0]} (the length of spot), got {shape}"
        )
    check_option_inputs(spot=spot, size=arrays["size"])
    size_ = arrays["size"].astype(float)
    live = size_ != 0.0
    check_option_inputs(
        strike=arrays["strike"][live], t_sec=arrays["t_sec"][live], vol=arrays["vol"][live]
    )
    is_call_ = _as_bool(arrays["is_call"][live])
    # padded slots: a harmless at-the-money expired option of size 0
    strike_ = np.where(live, arrays["strike"].astype(float), spot[:, None])
    t_ = np.where(live, arrays["t_sec"].astype(float), 0.0)
    vol_ = np.where(live, arrays["vol"].astype(float), 0.0)
    call_ = np.zeros(live.shape, dtype=bool)
    call_[live] = is_call_
    return _margin_kernel(spot, strike_, t_, vol_, call_, size_, params)


def _check_same_shape(arrays: dict[str, np.ndarray]) -> None:
    shapes = {name: arr.shape for name, arr in arrays.items()}
    if len(set(shapes.values())) != 1:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise ValueError(f"position fields must have one shape, got {listed}")


def _as_bool(values: np.ndarray) -> np.ndarray:
    if values.dtype == bool:
        return values
    numeric = np.asarray(values, dtype=float)
    if not np.all((numeric == 0.0) | (numeric == 1.0)):
        bad = numeric[(numeric != 0.0) & (numeric != 1.0)][0]
        raise ValueError(f"is_call = {bad} outside allowed values {{True, False, 0, 1}}")
    return numeric == 1.0


def _margin_kernel(
    spot: np.ndarray,  # (A,)
    strike: np.ndarray,  # (A, P)
    t_sec: np.ndarray,
    vol: np.ndarray,
    is_call: np.ndarray,
    size: np.ndarray,
    params: MarginParams,
) -> Margin:
    # mark value V0 = sum size * BS(spot, vol)
    value = np.sum(size * bs_price_unchecked(spot[:, None], strike, t_sec, vol, is_call), axis=1)

    # V_s for s = (i, j): spot move i, vol state j in (vol, vol_up, vol_dn) -> (A, M, 3)
    vol_up, vol_dn = shocked_vols(vol, t_sec, params)
    vols = np.stack([vol, vol_up, vol_dn], axis=-1)[:, :, None, :]  # (A, P, 1, 3)
    spots = (spot[:, None] * (1.0 + spot_moves(params)))[:, None, :, None]  # (A, 1, M, 1)
    prices = bs_price_unchecked(  # (A, P, M, 3); T = 0 gives intrinsic in every vol state
        spots, strike[..., None, None], t_sec[..., None, None], vols, is_call[..., None, None]
    )
    scenario_values = np.einsum("ap,apmj->amj", size, prices)

    # MM = max(0, worst loss) + short_min * spot * sum |size| of unexpired shorts
    worst = np.maximum(0.0, np.max(value[:, None, None] - scenario_values, axis=(1, 2)))
    shorts = np.sum(np.where((size < 0.0) & (t_sec > 0.0), -size, 0.0), axis=1)
    mm = worst + params.short_min * spot * shorts
    return Margin(value, mm, params.im_factor * mm)
