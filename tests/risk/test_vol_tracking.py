"""The Kalman filter against a vol index (risk/vol_tracking.py): on a series the model
describes it beats the raw close, and on real DVOL it reports what it measures."""

from __future__ import annotations

import numpy as np
import pytest

from risk.market_data import VolIndex, read_vol_index
from risk.vol_tracking import track_vol_index


def _index(true_sd: float, noise_sd: float, n: int = 800, seed: int = 0) -> VolIndex:
    g = np.random.default_rng(seed)
    level = 0.7 + np.cumsum(g.normal(0, true_sd, n))
    close = level + g.normal(0, noise_sd, n)
    ts = 1_600_000_000 + 86_400 * np.arange(n)
    return VolIndex("synthetic", ts, close, None, None)


def test_noisy_index__filter_tracks_better_than_the_raw_close():
    out = track_vol_index(_index(true_sd=0.005, noise_sd=0.03))
    assert out["tracking_rmse_pts"] < 0.8 * out["naive_rmse_pts"]
    assert out["innovation_sd"] == pytest.approx(1.0, abs=0.15)
    assert out["obs_sd_pts_median_day"] == pytest.approx(3.0, rel=0.25)


def test_clean_index__filter_adds_nothing_and_says_so():
    out = track_vol_index(_index(true_sd=0.03, noise_sd=0.0005))
    assert out["tracking_rmse_pts"] == pytest.approx(out["naive_rmse_pts"], rel=0.1)


def test_real_dvol_slice__metrics_are_reported():
    out = track_vol_index(read_vol_index("data/market/ETH_DVOL_daily_deribit_2021-2022.csv"))
    assert out["days_fitted"] + out["days_scored"] + 1 == 648
    assert 0 < out["tracking_rmse_pts"] < 20 and 0 < out["naive_rmse_pts"] < 20
    with pytest.raises(ValueError, match="train_share = 0.95"):
        track_vol_index(_index(0.01, 0.01), 0.95)


def test_fitted_noise__does_not_see_the_scored_days_ranges():
    """Widening every scored day's high-low range must not move the fitted noise (the
    ranges' scale once came from the whole sample, scored days included)."""
    from dataclasses import replace

    base = _index(true_sd=0.005, noise_sd=0.03)
    n, split = len(base.close), len(base.close) // 2
    rng = np.full(n, 0.02)
    ranged = replace(base, high=base.close + rng / 2, low=base.close - rng / 2)
    wider = rng.copy()
    wider[split:] *= 10.0
    widened = replace(base, high=base.close + wider / 2, low=base.close - wider / 2)
    a, b = track_vol_index(ranged), track_vol_index(widened)
    for key in ("process_sd_pts_per_day", "obs_sd_pts_median_day"):
        assert a[key] == b[key]
    assert a["tracking_rmse_pts"] != b["tracking_rmse_pts"]  # the scored days do use them
