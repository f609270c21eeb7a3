"""Baselines for measuring the implied-vol solver's robustness.

`plain_newton_implied_vol` is the textbook solver that fails on deep out-of-the-money
options; `deep_otm_options` is the set it fails on. The tests (tests/risk) and the
benchmark (benchmarks/pricing.py) both count failures on it, so they live here, in one
place, rather than in either.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr

from risk.units import YEAR_SEC

INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def plain_newton_implied_vol(
    price, spot, strike, t_sec, is_call, rate=0.0, div_yield=0.0, vol0=0.5, max_iter=100
):
    """The textbook solver: vol -= (BS(vol) - price) / vega from vol0, numpy over options.

    Returns (vol, converged): converged where the last step is below 1e-12 of vol and vol is
    finite and positive.
    """
    t = np.asarray(t_sec, dtype=float) / YEAR_SEC
    vol = np.full(np.shape(price), vol0)
    converged = np.zeros(np.shape(price), dtype=bool)
    with np.errstate(all="ignore"):
        for _ in range(max_iter):
            sd = vol * np.sqrt(t)
            d1 = (np.log(spot / strike) + (rate - div_yield) * t) / sd + 0.5 * sd
            w = np.where(is_call, 1.0, -1.0)
            s_dq, k_dr = spot * np.exp(-div_yield * t), strike * np.exp(-rate * t)
            model = w * (s_dq * ndtr(w * d1) - k_dr * ndtr(w * (d1 - sd)))
            vega = s_dq * np.exp(-0.5 * d1 * d1) * INV_SQRT_2PI * np.sqrt(t)
            step = (model - price) / vega
            vol = np.where(converged, vol, vol - step)
            converged |= np.abs(step) <= 1e-12 * np.abs(vol)
        converged &= np.isfinite(vol) & (vol > 0.0)
    return vol, converged


def deep_otm_options(n: int, seed: int = 5) -> dict[str, np.ndarray]:
    """Out of the money by e^0.3..e^2.5 in forward terms, 1 day..1 year, vol 10%..150%."""
    g = np.random.default_rng(seed)
    is_call = g.random(n) < 0.5
    away = np.exp(np.where(is_call, 1.0, -1.0) * g.uniform(0.3, 2.5, n))
    return {
        "spot": np.full(n, 2_000.0),
        "strike": 2_000.0 * away,
        "t_sec": np.exp(g.uniform(math.log(86_400.0), math.log(YEAR_SEC), n)),
        "vol": g.uniform(0.1, 1.5, n),
        "is_call": is_call,
    }
