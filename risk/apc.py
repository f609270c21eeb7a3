"""Anti-procyclicality (APC): the tools CCPs must use so margins do not amplify a crash.

EMIR RTS 153/2013 art. 28 gives a CCP three options; optsim offers all three, each on its
own switch (APC), and the procyclicality metrics that show what they do:

1. **Stressed observations in the lookback.** The margin is the coverage quantile of a
   mixture: (1 - w) the models' distribution now and w (default 25%) the horizon losses of
   the stressed period, the `stress_days`-long window of the history before the origin
   with the highest realised volatility (found again at every refit). A calm year cannot
   forget what the asset has done.
2. **A buffer released in stress.** The posted margin is (1 + b) x the calculated one
   (b = 25%) while the calculated margin is flat or falling. When it rises, the buffer is
   used up first: posted = max(calculated, min((1 + b) calculated, posted before)), so a
   rise of up to b is absorbed without a margin call. Afterwards the buffer is rebuilt at
   most b x calculated per `rebuild_days`.
3. **A long lookback floor.** The margin is never below the coverage quantile of all the
   horizon losses in the history before the origin (up to `floor_years`).

Procyclicality metrics of a margin series m_t (CPMI-IOSCO 2022 review of margin
practices): the peak-to-trough ratio max m / min m, and the largest k-day increase
max over t and 0 < j <= k of m_(t+j) / m_t, for k = 1, 5 and 30 days (a rise within the
k days counts even if the margin falls back before they end).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

PROCYCLICALITY_DAYS = (1, 5, 30)


@dataclass(frozen=True)
class APC:
    """Which anti-procyclicality tools are on, and their settings (module docstring)."""

    stressed_weight: float = 0.25  # weight of the stressed period's losses; 0 = off
    stress_days: float = 90.0  # length of the stressed window
    buffer: float = 0.25  # share added in calm times, released in stress; 0 = off
    rebuild_days: float = 30.0  # days to rebuild a used buffer
    floor_years: float = 10.0  # long lookback of the floor; 0 = off

    @classmethod
    def off(cls) -> APC:
        return cls(stressed_weight=0.0, buffer=0.0, floor_years=0.0)

    @property
    def on(self) -> bool:
        return self.stressed_weight > 0 or self.buffer > 0 or self.floor_years > 0

    def validate(self) -> None:
        checks = {
            "stressed_weight": (self.stressed_weight, 0.0, 0.5),
            "stress_days": (self.stress_days, 1.0, 3650.0),
            "buffer": (self.buffer, 0.0, 1.0),
            "rebuild_days": (self.rebuild_days, 0.0, 3650.0),
            "floor_years": (self.floor_years, 0.0, 100.0),
        }
        for name, (value, lo, hi) in checks.items():
            if not (isinstance(value, int | float) and math.isfinite(value) and lo <= value <= hi):
                raise ValueError(f"apc.{name} = {value!r} outside allowed range [{lo}, {hi}]")


def stressed_window(returns: np.ndarray, window: int) -> tuple[int, int]:
    """[start, end) of the `window` consecutive returns with the largest realised variance
    (the whole series if it is shorter)."""
    n = len(returns)
    if n <= window:
        return 0, n
    sq = np.concatenate(([0.0], np.cumsum(returns * returns)))
    sums = sq[window:] - sq[:-window]
    start = int(np.argmax(sums))
    return start, start + window


def horizon_sums(returns: np.ndarray, horizon: int) -> np.ndarray:
    """Overlapping sums of `horizon` consecutive log returns (empty if too few)."""
    if len(returns) < horizon:
        return np.empty(0)
    c = np.concatenate(([0.0], np.cumsum(returns)))
    return c[horizon:] - c[:-horizon]


def buffered(calculated: Any, buffer: float, rebuild_steps: float) -> np.ndarray:
    """The posted margin of option 2 (module docstring) for a series of calculated margins
    at consecutive origins; rebuild_steps is the number of origins to rebuild the buffer
    (0: at once)."""
    m = np.asarray(calculated, dtype=float)
    out = np.empty_like(m)
    if len(m) == 0 or buffer == 0:
        out[:] = m
        return out
    out[0] = (1.0 + buffer) * m[0]
    for t in range(1, len(m)):
        full = (1.0 + buffer) * m[t]
        step = full if rebuild_steps <= 0 else buffer * m[t] / rebuild_steps
        out[t] = max(m[t], min(full, out[t - 1] + step))
    return out


def procyclicality(margin: Any, steps_per_day: float) -> dict[str, float]:
    """Peak-to-trough ratio and the largest 1-, 5- and 30-day increases (as ratios) of a
    margin series sampled `steps_per_day` times a day."""
    m = np.asarray(margin, dtype=float)
    if len(m) == 0 or not np.all(m > 0):
        raise ValueError("margin: expected a non-empty series of positive margins")
    out = {"peak_to_trough": float(m.max() / m.min())}
    for days in PROCYCLICALITY_DAYS:
        k = max(1, int(round(days * steps_per_day)))
        ahead = np.full(len(m), -np.inf)  # max of m over (t, t + k]
        for j in range(1, min(k, len(m) - 1) + 1):
            ahead[:-j] = np.maximum(ahead[:-j], m[j:])
        out[f"max_{days}d_increase"] = float((ahead[:-1] / m[:-1]).max()) if len(m) > 1 else 1.0
    return out
