"""The Kalman ATM-vol filter (risk.kalman) against a real implied vol index (DVOL).

The index's daily closes are the observations and each day's high-low range, squared,
sets its relative observation noise (a wide day is a noisy close), scaled by the fitted
days' median range (no scored day informs the fit; without any range, equal noise). The
noise variances are fitted by maximum likelihood on the first `train_share` of the days
only; on the rest (out of sample) the filter runs with them and is scored:

- tracking_rmse_pts: RMSE, in vol points, of the filter's estimate at day t against the
  close of day t + 1 (what a committee using the filtered vol would have been off by the
  next day);
- naive_rmse_pts: the same for the raw close of day t (a random-walk forecast): the filter
  earns its keep only if it is not worse;
- filtered_vs_close_pts: RMSE of the estimate against the same day's close (how much the
  filter smooths);
- innovation_sd: the standard deviation of the standardised one-step innovations (about
  1 when the fitted noise is right) and their share beyond 2 (about 4.6%).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from risk.kalman import fit_noise, kalman_filter
from risk.market_data import VolIndex


def track_vol_index(index: VolIndex, train_share: float = 0.5) -> dict[str, Any]:
    """Fit on the first train_share of the days, score on the rest (module docstring)."""
    if not 0.1 <= train_share <= 0.9:
        raise ValueError(f"train_share = {train_share} outside allowed range [0.1, 0.9]")
    y = np.asarray(index.close, dtype=float)
    n = len(y)
    split = int(n * train_share)
    if split < 30 or n - split < 30:
        raise ValueError(f"{index.source}: {n} days, need at least 30 to fit and 30 to score")
    rel = np.ones(n)
    if index.high is not None and index.low is not None:
        rng = np.asarray(index.high, dtype=float) - np.asarray(index.low, dtype=float)
        fit_rng = rng[:split][rng[:split] > 0]  # the scale comes from the fitted days only
        if len(fit_rng):
            rel = np.maximum(rng, np.median(fit_rng) * 0.1) ** 2
            rel = rel / np.median(rel[:split])
    dt = np.diff(index.timestamp, prepend=index.timestamp[0]).astype(float) / 86_400.0
    dt[0] = 1.0
    noise = fit_noise(y[:split], dt[:split], rel[:split])
    run = kalman_filter(y, noise.process_var, noise.obs_var * rel, dt)
    est, nxt = run.mean[split:-1], y[split + 1 :]
    z = run.innovation[split:] / np.sqrt(run.innovation_var[split:])
    z = z[np.isfinite(z)]
    return {
        "source": index.source,
        "days_fitted": split,
        "days_scored": n - split - 1,
        "process_sd_pts_per_day": 100 * math.sqrt(noise.process_var),
        "obs_sd_pts_median_day": 100 * math.sqrt(noise.obs_var),
        "tracking_rmse_pts": 100 * float(np.sqrt(np.mean((est - nxt) ** 2))),
        "naive_rmse_pts": 100 * float(np.sqrt(np.mean((y[split:-1] - nxt) ** 2))),
        "filtered_vs_close_pts": 100 * float(np.sqrt(np.mean((run.mean[split:] - y[split:]) ** 2))),
        "innovation_sd": float(np.std(z)),
        "innovations_beyond_2sd": float(np.mean(np.abs(z) > 2.0)),
    }
