"""risk/kalman.py: the filter and smoother against Gaussian conditioning on the joint
distribution (a tiny case, brute force), calibration of the reported variances on simulated
ATM vols (standardised innovations ~ N(0, 1)), the smoother beating the filter, missing
observations and irregular steps, maximum-likelihood noise variances, and the input checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from risk.kalman import fit_noise, kalman_filter, rts_smoother

HOUR_YEARS = 1.0 / 8760.0
Q, R = 0.04, 1e-4  # vol^2 per year (20% vol of vol); (1 vol point)^2


def _simulate(seed, n, per_obs_noise=False, missing=0.1):
    """An ATM vol path around 60% seen every 0.5-3 hours, quotes missing at random (never the
    first); per_obs_noise: observation variances R * rel_i with rel_i in [0.25, 4]."""
    rng = np.random.default_rng(seed)
    dt = rng.uniform(0.5, 3.0, n) * HOUR_YEARS
    x = 0.6 + np.cumsum(rng.normal(0.0, np.sqrt(Q * dt)))
    rel = rng.uniform(0.5, 2.0, n) ** 2 if per_obs_noise else np.ones(n)
    y = x + rng.normal(0.0, np.sqrt(R * rel))
    y[1:][rng.random(n - 1) < missing] = np.nan
    return dt, rel, x, y


def _conditioned(cov_xx, cov_xy, cov_yy, mean, y_minus_mean):
    """Mean and variance of x given y for jointly Gaussian (x, y)."""
    gain = np.linalg.solve(cov_yy, cov_xy.T).T
    return mean + gain @ y_minus_mean, np.diag(cov_xx - gain @ cov_xy.T)


# --- against brute force ---


def test_filter_and_smoother__tiny_case__match_gaussian_conditioning():
    """x_i = x_prior + sum of increments, so Cov(x_i, x_j) = p0 + q (dt_0 + ... + dt_min(i,j));
    y = x + noise. The filtered state at i conditions on the observed y_0..y_i, the smoothed on
    all of them, and the log-likelihood is the joint density of the observed y."""
    y = np.array([0.61, 0.58, np.nan, 0.66, 0.64])
    dt = np.array([0.3, 1.0, 0.5, 2.0, 0.1])
    r = np.array([1e-3, 4e-3, np.nan, 2e-3, 1e-3])
    q, x0, p0 = 2e-3, 0.6, 5e-3
    result = kalman_filter(y, q, r, dt, x0=x0, p0=p0)
    smoothed = rts_smoother(result)

    elapsed = np.cumsum(dt)
    cov_x = p0 + q * np.minimum.outer(elapsed, elapsed)
    for i in range(y.size):
        seen = np.flatnonzero(~np.isnan(y[: i + 1]))
        mean, var = _conditioned(
            cov_x[i : i + 1, i : i + 1],
            cov_x[i : i + 1, seen],
            cov_x[np.ix_(seen, seen)] + np.diag(r[seen]),
            x0,
            y[seen] - x0,
        )
        assert result.mean[i] == pytest.approx(mean[0], rel=1e-12)
        assert result.var[i] == pytest.approx(var[0], rel=1e-12)
    seen = np.flatnonzero(~np.isnan(y))
    cov_y = cov_x[np.ix_(seen, seen)] + np.diag(r[seen])
    mean, var = _conditioned(cov_x, cov_x[:, seen], cov_y, x0, y[seen] - x0)
    np.testing.assert_allclose(smoothed.mean, mean, rtol=1e-12)
    np.testing.assert_allclose(smoothed.var, var, rtol=1e-12)
    loglik = stats.multivariate_normal(np.full(seen.size, x0), cov_y).logpdf(y[seen])
    assert result.loglik == pytest.approx(loglik, rel=1e-12)


def test_filter__diffuse_start__is_the_limit_of_a_wide_prior():
    """Without x0 and p0 the filter starts at y_0 with variance r_0; the likelihood leaves out
    y_0's own (prior-dependent) term."""
    y = np.array([0.61, 0.58, np.nan, 0.66, 0.64])
    dt, q, r = 0.5, 2e-3, 1e-3
    diffuse = kalman_filter(y, q, r, dt)
    p0 = 1e6
    wide = kalman_filter(y, q, r, dt, x0=0.0, p0=p0)
    np.testing.assert_allclose(diffuse.mean, wide.mean, rtol=1e-8)
    np.testing.assert_allclose(diffuse.var, wide.var, rtol=1e-8)
    first_term = stats.norm(0.0, np.sqrt(p0 + q * dt + r)).logpdf(y[0])
    assert diffuse.loglik == pytest.approx(wide.loglik - first_term, rel=1e-8)
    assert np.isnan(diffuse.innovation[0]) and np.isinf(diffuse.pred_var[0])


# --- on simulated vols ---


@pytest.fixture(scope="module")
def simulated_vols():
    dt, rel, x, y = _simulate(seed=7, n=5_000, per_obs_noise=True)
    result = kalman_filter(y, Q, R * rel, dt)
    return x, y, result


def test_filter__simulated__standardised_innovations_are_standard_normal(simulated_vols):
    _, y, result = simulated_vols
    z = result.standardised_innovations()
    assert z.size == np.count_nonzero(~np.isnan(y)) - 1  # all observed but the first
    assert abs(z.mean()) < 4.0 / np.sqrt(z.size)
    assert abs(z.var() - 1.0) < 0.06
    assert stats.kstest(z, "norm").pvalue > 0.001


def test_filter__simulated__errors_match_the_reported_variance(simulated_vols):
    x, _, result = simulated_vols
    error = (x - result.mean) / np.sqrt(result.var)
    assert abs(error.mean()) < 0.1  # errors are autocorrelated: fewer independent samples
    assert abs(error.std() - 1.0) < 0.06


def test_smoother__simulated__beats_the_filter_and_reports_its_variance(simulated_vols):
    x, _, result = simulated_vols
    smoothed = rts_smoother(result)
    mse_filtered = np.mean((x - result.mean) ** 2)
    mse_smoothed = np.mean((x - smoothed.mean) ** 2)
    assert mse_smoothed < 0.8 * mse_filtered
    assert np.all(smoothed.var <= result.var * (1.0 + 1e-12))
    assert abs(np.std((x - smoothed.mean) / np.sqrt(smoothed.var)) - 1.0) < 0.06


@pytest.mark.parametrize("per_obs_noise", [False, True], ids=["one_r", "r_per_quote"])
def test_fit_noise__long_series__recovers_the_variances(per_obs_noise):
    """20_000 irregular hourly quotes, 10% missing; over 6 seeds the errors were below 6% for
    q and 4% for r."""
    dt, rel, _, y = _simulate(seed=11, n=20_000, per_obs_noise=per_obs_noise)
    fit = fit_noise(y, dt, rel if per_obs_noise else None)
    assert fit.success
    assert fit.process_var == pytest.approx(Q, rel=0.12)
    assert fit.obs_var == pytest.approx(R, rel=0.06)
    assert fit.n_obs == np.count_nonzero(~np.isnan(y)) - 1
    at_truth = kalman_filter(y, Q, R * rel, dt).loglik
    assert fit.loglik >= at_truth  # a maximum, not just close to the truth
    assert fit.loglik == pytest.approx(
        kalman_filter(y, fit.process_var, fit.obs_var * rel, dt).loglik
    )


# --- missing observations and irregular steps ---


def test_filter__missing_observations__predict_only_like_one_longer_step():
    """A gap only adds process variance: the filter over a series with NaNs equals, at the
    observed points, the filter over the observed points alone with the gaps' steps summed."""
    dt, rel, _, y = _simulate(seed=3, n=200, per_obs_noise=True, missing=0.3)
    result = kalman_filter(y, Q, R * rel, dt)
    gap = np.flatnonzero(np.isnan(y))
    np.testing.assert_array_equal(result.mean[gap], result.mean[gap - 1])
    np.testing.assert_allclose(result.var[gap], result.var[gap - 1] + Q * dt[gap], rtol=1e-12)
    assert np.all(np.isnan(result.innovation[gap]))

    seen = np.flatnonzero(~np.isnan(y))
    merged_dt = np.diff(np.concatenate([[0.0], np.cumsum(dt)[seen]]))
    compact = kalman_filter(y[seen], Q, (R * rel)[seen], merged_dt)
    np.testing.assert_allclose(result.mean[seen], compact.mean, rtol=1e-12)
    np.testing.assert_allclose(result.var[seen], compact.var, rtol=1e-12)
    assert result.loglik == pytest.approx(compact.loglik, rel=1e-12)


def test_filter__series_input__keeps_its_index():
    dt, _, _, y = _simulate(seed=5, n=50)
    index = pd.date_range("2024-01-01", periods=y.size, freq="h")
    from_series = kalman_filter(pd.Series(y, index=index), Q, R, pd.Series(dt, index=index))
    from_array = kalman_filter(y, Q, R, dt)
    np.testing.assert_array_equal(from_series.mean, from_array.mean)
    frame = from_series.to_frame()
    assert frame.index.equals(index) and list(frame.columns)[:2] == ["mean", "var"]
    assert rts_smoother(from_series).index.equals(index)


# --- input checks ---

GOOD = {"obs": np.array([0.6, 0.61, np.nan, 0.62]), "process_var": Q, "obs_var": R, "dt": 1.0}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"obs": np.ones((2, 2))}, r"obs: expected a non-empty 1-D array, got shape \(2, 2\)"),
        ({"obs": [0.6, np.inf]}, r"obs\[1\] = inf outside allowed range finite or NaN"),
        ({"obs": [np.nan, 0.6]}, r"obs\[0\] = nan .* diffuse start needs the first"),
        ({"process_var": -1.0}, r"process_var = -1.0 outside allowed range \[0, inf\)"),
        ({"obs_var": 0.0}, r"obs_var = 0.0 outside allowed range \(0, inf\)"),
        ({"obs_var": [R, np.nan, R, R]}, r"obs_var\[1\] = nan outside allowed range .*NaN only"),
        ({"obs_var": [R, R]}, r"obs_var: shape \(2,\) is neither a number nor obs's \(4,\)"),
        ({"dt": [1.0, -1.0, 1.0, 1.0]}, r"dt\[1\] = -1.0 outside allowed range \[0, inf\)"),
        ({"x0": 0.6}, "x0, p0: give both"),
        ({"x0": 0.6, "p0": -1.0}, r"p0 = -1.0 outside allowed range \[0, inf\)"),
    ],
)
def test_kalman_filter__bad_input__raises_naming_the_field(change, message):
    with pytest.raises(ValueError, match=message):
        kalman_filter(**(GOOD | change))


def test_kalman_filter__missing_quote_may_have_no_noise_variance():
    result = kalman_filter(GOOD["obs"], Q, [R, R, np.nan, R])
    assert np.isfinite(result.mean).all()


def test_fit_noise__too_few_observations__raises():
    with pytest.raises(ValueError, match=r"obs: 2 observations in the likelihood"):
        fit_noise([0.6, np.nan, 0.61, 0.62])
    with pytest.raises(ValueError, match=r"relative_obs_var\[0\] = -1.0 outside allowed range"):
        fit_noise(np.linspace(0.5, 0.6, 10), relative_obs_var=-np.ones(10))
