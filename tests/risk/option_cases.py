"""Random option sets shared by the risk-engine tests (not a test module)."""

import math

import numpy as np

from risk.units import YEAR_SEC


def random_options(n: int, seed: int) -> dict[str, np.ndarray]:
    """Spot 50..5000, strike spot * e^U(-1, 1), 1 day..3 years, vol 5%..250% (log-uniform),
    rate -2%..15%, yield 0..10%, half calls."""
    g = np.random.default_rng(seed)
    spot = g.uniform(50.0, 5_000.0, n)
    return {
        "spot": spot,
        "strike": spot * np.exp(g.uniform(-1.0, 1.0, n)),
        "t_sec": np.exp(g.uniform(math.log(86_400.0), math.log(3 * YEAR_SEC), n)),
        "vol": np.exp(g.uniform(math.log(0.05), math.log(2.5), n)),
        "is_call": g.random(n) < 0.5,
        "rate": g.uniform(-0.02, 0.15, n),
        "div_yield": g.uniform(0.0, 0.1, n),
    }
