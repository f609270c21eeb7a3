"""Shared cases of the risk committee's tests: hourly price histories (14 calm days at 50%
vol, then 3 crash days at 150% vol with a downward drift and six -6% jumps, from a seeded
generator), the parameters in force and the deployed rate limit."""

from __future__ import annotations

import math

import numpy as np

from risk.params import Limits, LiquidationParams, MarginParams, RateLimit
from risk.units import HOUR, WAD

T0 = 1_700_000_000
CALM_HOURS, CRASH_HOURS = 24 * 14, 72
FAST = dict(n_paths=5_000, lar_paths=20, seed=7)
NAV = 1_000_000.0
RATE = RateLimit()  # as deployed: 25% per update, a day between changes of a field
PARAMS = {"margin": MarginParams, "liquidation": LiquidationParams, "limits": Limits}
GETTERS = {"margin": "margin_params", "liquidation": "liquidation_params", "limits": "limits"}


def price_history(end: int, seed: int = 0):
    """(timestamps, spots, ivs): calm then crash, hourly, the last point at `end`."""
    g = np.random.default_rng(seed)
    dt = 1 / 365 / 24
    calm = g.normal(0.0, 0.5 * math.sqrt(dt), CALM_HOURS)
    crash = g.normal(-0.002, 1.5 * math.sqrt(dt), CRASH_HOURS)
    crash[g.choice(CRASH_HOURS, 6, replace=False)] -= 0.06
    log_spot = math.log(2_000.0) + np.cumsum(np.concatenate([[0.0], calm, crash]))
    n = len(log_spot)
    timestamps = end - HOUR * np.arange(n - 1, -1, -1)
    return timestamps, np.exp(log_spot), np.full(n, 0.5)


def defaults() -> dict:
    return {g: cls() for g, cls in PARAMS.items()}


def limits_of(rate: RateLimit = RATE) -> dict:
    return {g: rate for g in PARAMS}


def allowed_change(f, old: int, rate: RateLimit) -> int:
    """param_guard._check_field: max_rel_change * old / 1e18, or * hi when old == 0."""
    return rate.to_chain()[0] * (old if old != 0 else f.hi) // WAD
