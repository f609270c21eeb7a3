"""Black-Scholes at zero rates in float64: the risk engine's option prices.

This is the reference for the contracts' fixed-point pricing
(contracts/modules/black_scholes.vy) and deliberately shares nothing with it: the
normal distribution comes from scipy's `ndtr`, logs and roots from numpy.

Units: spot and strike in USD per unit of underlying, vol as a fraction per year
(0.6 = 60%), time in seconds with a 365-day year, prices in USD per contract.
Every function broadcasts over numpy arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import ndtr

from risk.units import YEAR_SEC

ArrayLike = Any  # float, bool or array of them


def intrinsic(spot: ArrayLike, strike: ArrayLike, is_call: ArrayLike) -> np.ndarray:
    """Exercise value now: max(S - K, 0) for a call, max(K - S, 0) for a put."""
    spot, strike = np.asarray(spot, dtype=float), np.asarray(strike, dtype=float)
    return np.where(is_call, np.maximum(spot - strike, 0.0), np.maximum(strike - spot, 0.0))


def bs_price(
    spot: ArrayLike, strike: ArrayLike, t_sec: ArrayLike, vol: ArrayLike, is_call: ArrayLike
) -> np.ndarray:
    """Black-Scholes price at zero rates; intrinsic value when vol * sqrt(T) is 0.

    With T = t_sec / 31_536_000 and sd = vol * sqrt(T):
        d1 = (ln(S/K) + sd^2 / 2) / sd,   d2 = d1 - sd
        call = S N(d1) - K N(d2),         put = K N(-d2) - S N(-d1)
    Each formula is evaluated directly (not through parity), as on-chain, and the result
    is clipped to the no-arbitrage band [intrinsic, S] (call) or [intrinsic, K] (put),
    which only removes float rounding.

    Args:
        spot: USD, > 0.
        strike: USD, > 0.
        t_sec: seconds to expiry, >= 0.
        vol: annualised, 1.0 = 100%, >= 0.
        is_call: True for calls.

    Returns:
        USD per contract, broadcast over the inputs.

    Raises:
        ValueError: naming the first input outside its range.
    """
    check_option_inputs(spot=spot, strike=strike, t_sec=t_sec, vol=vol)
    s, k, t, v = _floats(spot, strike, t_sec, vol)
    return bs_price_unchecked(s, k, t, v, np.asarray(is_call, dtype=bool))


def bs_vega(spot: ArrayLike, strike: ArrayLike, t_sec: ArrayLike, vol: ArrayLike) -> np.ndarray:
    """Black-Scholes vega S n(d1) sqrt(T): USD per 1.0 (100 vol points); 0 when sd is 0.

    Args and Raises as `bs_price` (vega is the same for calls and puts).
    """
    check_option_inputs(spot=spot, strike=strike, t_sec=t_sec, vol=vol)
    spot, strike, t_sec, vol = _floats(spot, strike, t_sec, vol)
    sd, d1 = _sd_d1(spot, strike, t_sec, vol)
    vega = spot * np.exp(-0.5 * d1 * d1) / np.sqrt(2.0 * np.pi) * np.sqrt(t_sec / YEAR_SEC)
    return np.where(sd > 0.0, vega, 0.0)


def check_option_inputs(**fields: ArrayLike) -> None:
    """Raise ValueError naming the first field that is NaN, infinite or outside its range.

    Known fields: spot and strike (> 0), t_sec and vol (>= 0), size (any finite value).
    """
    for name, values in fields.items():
        allowed, in_range = _RANGES[name]
        arr = np.atleast_1d(np.asarray(values, dtype=float))
        ok = np.isfinite(arr) & in_range(arr)
        if not np.all(ok):
            raise ValueError(f"{name} = {arr[~ok][0]} outside allowed range {allowed}")


_RANGES = {
    "spot": ("(0, inf) USD", lambda a: a > 0.0),
    "strike": ("(0, inf) USD", lambda a: a > 0.0),
    "t_sec": ("[0, inf) seconds", lambda a: a >= 0.0),
    "vol": ("[0, inf) (1.0 = 100%)", lambda a: a >= 0.0),
    "size": ("finite contracts", lambda a: np.ones(a.shape, dtype=bool)),
}


# --- kernels (no validation; pure functions over arrays, numba-ready) ---


def _floats(*arrays: ArrayLike) -> tuple[np.ndarray, ...]:
    return tuple(np.asarray(a, dtype=float) for a in arrays)


def _sd_d1(
    spot: np.ndarray, strike: np.ndarray, t_sec: np.ndarray, vol: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    # sd = vol sqrt(T); d1 = (ln(S/K) + sd^2/2) / sd, with sd replaced by 1 where it is 0
    sd = vol * np.sqrt(t_sec / YEAR_SEC)
    safe_sd = np.where(sd > 0.0, sd, 1.0)
    d1 = (np.log(spot / strike) + 0.5 * safe_sd * safe_sd) / safe_sd
    return sd, d1


def bs_price_unchecked(
    spot: ArrayLike, strike: np.ndarray, t_sec: np.ndarray, vol: np.ndarray, is_call: np.ndarray
) -> np.ndarray:
    """`bs_price` on float arrays the caller has already checked (the margin grid's
    hot path prices every scenario at once and checks the inputs once)."""
    sd, d1 = _sd_d1(spot, strike, t_sec, vol)
    d2 = d1 - np.where(sd > 0.0, sd, 1.0)
    call = spot * ndtr(d1) - strike * ndtr(d2)
    put = strike * ndtr(-d2) - spot * ndtr(-d1)
    lower = intrinsic(spot, strike, is_call)
    upper = np.where(is_call, spot, strike)
    price = np.minimum(np.maximum(np.where(is_call, call, put), lower), upper)
    return np.where(sd > 0.0, price, lower)
