"""Tail models (risk.tail_models) and their Monte Carlo kernels (risk.montecarlo).

Simulated moments are compared with the analytic ones within 4 standard errors, the errors
estimated from each sample through the statistics' influence functions (so heavy tails widen
them honestly). Seeds are fixed: every test is deterministic.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from risk import montecarlo as mc
from risk.tail_models import GARCH, GBM, Bates, Merton

DAY = 1.0 / 252.0
HOUR_YEARS = 3600 / 31_536_000
Z = 4.0  # standard errors allowed between simulated and analytic moments

gbm = GBM(mu=0.1, sigma=0.5)
merton = Merton(mu=0.05, sigma=0.4, lam=25.0, mu_j=-0.03, sigma_j=0.06)
bates = Bates(
    mu=0.05, kappa=3.0, theta=0.16, xi=0.6, rho=-0.6, v0=0.2, lam=5.0, mu_j=-0.04, sigma_j=0.08
)
# alpha, beta, nu chosen so the 8th moment exists (E[(beta + alpha z^2)^4] = 0.70 < 1): the
# kurtosis' standard error is then finite
garch = GARCH(mu=2e-4, omega=2e-6, alpha=0.05, beta=0.85, nu=12.0, dt=DAY)


def moments_with_se(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, variance, skewness, excess kurtosis) and their standard errors, from the
    influence function of each statistic: IF(m_k) = c^k - m_k - k m_{k-1} c."""
    c = x - x.mean()
    m2, m3, m4 = (np.mean(c**k) for k in (2, 3, 4))
    if2 = c * c - m2
    if3 = c**3 - m3 - 3 * m2 * c
    if4 = c**4 - m4 - 4 * m3 * c
    influence = (
        c,
        if2,
        if3 / m2**1.5 - 1.5 * m3 / m2**2.5 * if2,
        if4 / m2**2 - 2 * m4 / m2**3 * if2,
    )
    values = np.array([x.mean(), m2, m3 / m2**1.5, m4 / m2**2 - 3])
    return values, np.array([np.std(f) / math.sqrt(len(x)) for f in influence])


def assert_moments_match(sample: np.ndarray, analytic: tuple) -> None:
    values, se = moments_with_se(sample)
    z = (values - np.array(analytic)) / se
    names = ("mean", "variance", "skewness", "excess kurtosis")
    assert np.all(np.abs(z) < Z), {
        n: (v, a, s) for n, v, a, s in zip(names, values, analytic, se, strict=True)
    }


# --- the normals ---


def test_fill_normals__matches_the_normal_distribution():
    buf = np.empty(4096)
    rng = np.random.Generator(np.random.SFC64(7))
    draws = []
    for _ in range(500):
        mc.fill_normals(rng, buf)
        draws.append(buf.copy())
    z = np.concatenate(draws)
    assert stats.kstest(z, "norm").pvalue > 1e-3
    values, se = moments_with_se(z)
    assert np.all(np.abs(values - [0.0, 1.0, 0.0, 0.0]) < Z * se)
    for q in (3.0, 3.5, 4.0):  # the tail beyond the ziggurat's base layer (r = 3.44)
        expected = 2 * stats.norm.sf(q) * len(z)
        assert abs(np.sum(np.abs(z) > q) - expected) < Z * math.sqrt(expected)


# --- simulated moments against the analytic ones ---


@pytest.mark.parametrize(
    ("model", "n_steps", "dt"),
    [(gbm, 63, DAY), (merton, 63, DAY), (merton, 10, 0.1), (bates, 63, DAY)],
    ids=["gbm", "merton-quarter", "merton-year", "bates-quarter"],
)
def test_simulate_horizon__moments_match_analytic(model, n_steps, dt):
    paths = model.simulate_horizon(200_000, n_steps, dt, seed=11)
    assert_moments_match(paths.terminal, model.moments(n_steps * dt))


def test_garch__stationary_moments_match_analytic():
    # burn in from the stationary variance, then continue each path from where it ended
    burn = garch.simulate_horizon(200_000, 300, DAY, seed=1)
    h_now = garch.variance * burn.vol_ratio**2
    paths = garch.simulate_horizon(200_000, 10, DAY, seed=2, variance0=h_now)
    assert_moments_match(paths.terminal, garch.moments(10 * DAY))
    one = garch.simulate_horizon(200_000, 1, DAY, seed=3, variance0=h_now)
    assert_moments_match(one.terminal, garch.moments(DAY))


def test_garch__conditional_variance_follows_the_recursion():
    paths = garch.simulate_horizon(200_000, 20, DAY, seed=4, variance0=4 * garch.variance)
    expected = garch.moments(20 * DAY, variance0=4 * garch.variance)
    values, se = moments_with_se(paths.terminal)
    assert abs(values[1] - expected.variance) < Z * se[1]
    assert expected.variance > 20 * garch.variance * 1.5  # the start matters: not vacuous


def test_bates__conditional_start_changes_the_variance_as_predicted():
    low = bates.simulate_horizon(100_000, 21, DAY, seed=5, variance0=0.04)
    values, se = moments_with_se(low.terminal)
    expected = bates.moments(21 * DAY, variance0=0.04)
    assert abs(values[1] - expected.variance) < Z * se[1]
    assert expected.variance < 0.5 * bates.moments(21 * DAY).variance


def test_paths__min_max_and_vol_ratio_are_consistent_with_the_paths():
    for model in (gbm, merton, bates, garch):
        horizon = model.simulate_horizon(500, 40, DAY, seed=3)
        paths = model.simulate(500, 40, DAY, seed=3)
        assert np.all(paths[:, 0] == 0.0)
        np.testing.assert_array_equal(paths[:, -1], horizon.terminal)
        np.testing.assert_array_equal(paths.min(axis=1), horizon.minimum)
        np.testing.assert_array_equal(paths.max(axis=1), horizon.maximum)
    assert np.all(gbm.simulate_horizon(100, 5, DAY, seed=1).vol_ratio == 1.0)
    assert np.std(bates.simulate_horizon(1000, 63, DAY, seed=1).vol_ratio) > 0.1


# --- reproducibility ---


@pytest.mark.parametrize("model", [gbm, merton, garch, bates], ids=lambda m: type(m).__name__)
def test_seed__same_gives_identical__different_differs__parallel_equals_serial(model):
    a = model.simulate_horizon(3_001, 30, DAY, seed=42, parallel=True)
    b = model.simulate_horizon(3_001, 30, DAY, seed=42, parallel=False)
    c = model.simulate_horizon(3_001, 30, DAY, seed=43, parallel=True)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.any(a.terminal == c.terminal)
    p = model.simulate(200, 30, DAY, seed=42, parallel=True)
    np.testing.assert_array_equal(p, model.simulate(200, 30, DAY, seed=42, parallel=False))


def test_out__is_reused_not_reallocated():
    out = np.empty((4, 1_000))
    first = merton.simulate_horizon(1_000, 20, DAY, seed=1, out=out)
    assert np.shares_memory(first.terminal, out)
    again = merton.simulate_horizon(1_000, 20, DAY, seed=1, out=out)
    np.testing.assert_array_equal(again.terminal, out[0])
    buf = np.empty((10, 21))
    assert gbm.simulate(10, 20, DAY, seed=1, out=buf) is buf


# --- fitting: recover the parameters that generated the data ---


def test_gbm_fit__recovers_mu_and_sigma_within_4_standard_errors():
    r = np.diff(gbm.simulate(1, 20_000, DAY, seed=8)[0])
    fit = GBM.fit(r, DAY)
    assert abs(fit.sigma - gbm.sigma) < Z * gbm.sigma / math.sqrt(2 * len(r))
    assert abs(fit.mu - gbm.mu) < Z * gbm.sigma / math.sqrt(len(r) * DAY)
    assert "likelihood" in GBM.FIT_METHOD


def test_merton_fit__recovers_parameters_from_20k_daily_returns():
    r = np.diff(merton.simulate(1, 20_000, DAY, seed=2)[0])
    fit = Merton.fit(r, DAY)
    assert fit.sigma == pytest.approx(merton.sigma, rel=0.05)
    assert fit.lam == pytest.approx(merton.lam, rel=0.3)
    assert fit.mu_j == pytest.approx(merton.mu_j, abs=0.01)
    assert fit.sigma_j == pytest.approx(merton.sigma_j, rel=0.15)
    assert fit.loglik(r, DAY) >= merton.loglik(r, DAY)  # the optimiser found a maximum


def test_garch_fit__recovers_parameters_from_20k_returns():
    true = GARCH(mu=2e-4, omega=2e-6, alpha=0.06, beta=0.9, nu=8.0, dt=DAY)
    r = np.diff(true.simulate(1, 20_000, DAY, seed=2)[0])
    fit = GARCH.fit(r, DAY)
    assert fit.alpha == pytest.approx(true.alpha, abs=0.03)
    assert fit.beta == pytest.approx(true.beta, abs=0.05)
    assert fit.nu == pytest.approx(true.nu, rel=0.25)
    assert fit.variance == pytest.approx(true.variance, rel=0.15)
    assert fit.dt == DAY
    assert fit.loglik(r) >= true.loglik(r)


def test_garch_fit__simulations_start_from_todays_conditional_variance():
    """A fit remembers the variance its data end with: the Monte Carlo a design runs on a
    fitted model does not forget a shock that has just happened."""
    true = GARCH(mu=0.0, omega=3e-6, alpha=0.08, beta=0.88, nu=6.0, dt=HOUR_YEARS)
    r = np.diff(true.simulate(1, 4_000, HOUR_YEARS, seed=8)[0])
    calm, shocked = GARCH.fit(r, HOUR_YEARS), GARCH.fit(np.append(r, -0.15), HOUR_YEARS)
    assert calm.variance_next == pytest.approx(calm.filtered_variance(r))
    assert shocked.variance_next > 20 * calm.variance_next
    wide = shocked.simulate_horizon(20_000, 24, HOUR_YEARS, seed=1).terminal
    narrow = shocked.simulate_horizon(
        20_000, 24, HOUR_YEARS, seed=1, variance0=shocked.variance
    ).terminal
    assert np.std(wide) > 2 * np.std(narrow)
    assert GARCH(**{**true.__dict__}).variance_next is None  # constructed: stationary start
    with pytest.raises(ValueError, match="variance_next"):
        GARCH(**{**true.__dict__, "variance_next": -1.0})


@pytest.mark.parametrize("source", ["simulated", "eth_2020h1"])
def test_garch_fit__agrees_with_the_arch_package(source):
    """arch (Kevin Sheppard's package, the field's reference for GARCH-family estimation)
    fits the same GARCH(1,1)-t by maximum likelihood; ours must land on the same model:
    persistence, alpha and nu close, and a likelihood at least as good under either
    parameter set (the two differ only in how h_1 is started)."""
    from arch import arch_model

    from risk.market_data import read_prices

    if source == "simulated":
        true = GARCH(mu=1e-4, omega=3e-6, alpha=0.08, beta=0.88, nu=5.0, dt=HOUR_YEARS)
        r = np.diff(true.simulate(1, 8_000, HOUR_YEARS, seed=5)[0])
    else:
        r = read_prices("data/market/ETHUSDT_1h_binance_2020H1.csv").log_returns
    ours = GARCH.fit(r, HOUR_YEARS)
    res = arch_model(r * 100, mean="Constant", vol="GARCH", p=1, q=1, dist="t").fit(
        disp="off", options={"maxiter": 1000}
    )
    p = res.params
    # arch allows alpha + beta = 1 (IGARCH) and lands there on ETH 2020-H1 with some BLAS
    # builds; our model is stationary by construction, so the reference is taken a hair
    # inside the unit root (its likelihood moves by far less than the tolerance)
    ref = GARCH(
        mu=p["mu"] / 100,
        omega=p["omega"] / 1e4,
        alpha=p["alpha[1]"],
        beta=min(p["beta[1]"], 1.0 - 1e-9 - p["alpha[1]"]),
        nu=p["nu"],
        dt=HOUR_YEARS,
    )
    assert ours.alpha + ours.beta == pytest.approx(ref.alpha + ref.beta, abs=0.01)
    assert ours.alpha == pytest.approx(ref.alpha, abs=0.02)
    assert ours.nu == pytest.approx(ref.nu, rel=0.1)
    assert ours.loglik(r) >= ref.loglik(r) - 1.0  # within a nat of arch's optimum


def test_bates_fit__recovers_what_moments_identify():
    r = np.diff(bates.simulate(1, 100_000, DAY, seed=2, variance0=bates.theta)[0])
    fit = Bates.fit(r, DAY)

    def total_variance(m: Bates) -> float:
        return m.theta + m.lam * (m.mu_j**2 + m.sigma_j**2)

    assert total_variance(fit) == pytest.approx(total_variance(bates), rel=0.1)
    assert fit.rho < -0.2
    assert 0.5 * bates.kappa < fit.kappa < 2.0 * bates.kappa
    # the fitted model reproduces the monthly return distribution of the data
    monthly = r[: len(r) // 21 * 21].reshape(-1, 21).sum(axis=1)
    values, se = moments_with_se(monthly)
    fitted = fit.stationary_moments(21 * DAY)
    assert np.all(np.abs(values[1:] - np.array(fitted)[1:]) < Z * se[1:])


# --- bad input ---


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: GBM(mu=0.1, sigma=-0.1), r"sigma = -0.1 outside allowed range \(0, 5\]"),
        (lambda: GBM(mu=math.nan, sigma=0.1), r"mu = nan outside allowed range \[-100, 100\]"),
        (lambda: Merton(0.0, 0.2, -1.0, 0.0, 0.1), r"lam = -1.0 outside allowed range \[0,"),
        (lambda: GARCH(0.0, 1e-6, 0.2, 0.85, 8.0, DAY), r"alpha \+ beta = 1.05 outside .*\[0, 1\)"),
        (lambda: GARCH(0.0, 1e-6, 0.05, 0.9, 2.0, DAY), r"nu = 2.0 outside allowed range \(2,"),
        (lambda: Bates(0.0, 2.0, 0.1, 0.5, 1.5, 0.1, 0.0, 0.0, 0.0), r"rho = 1.5 outside"),
        (lambda: Bates(0.0, 0.0, 0.1, 0.5, 0.0, 0.1, 0.0, 0.0, 0.0), r"kappa = 0.0 outside"),
    ],
)
def test_validate__bad_field__error_names_it_and_its_range(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("cls", [GBM, Merton, GARCH, Bates], ids=lambda c: c.__name__)
def test_fit__bad_input__error_names_the_field(cls):
    r = np.random.default_rng(0).normal(0.0, 0.01, 3_000)
    with_nan = r.copy()
    with_nan[3] = np.nan
    with pytest.raises(ValueError, match=r"log_returns\[3\] = nan is not finite"):
        cls.fit(with_nan, DAY)
    with_inf = r.copy()
    with_inf[5] = np.inf
    with pytest.raises(ValueError, match=r"log_returns\[5\] = inf"):
        cls.fit(with_inf, DAY)
    with pytest.raises(ValueError, match=r"log_returns: 10 returns, need at least"):
        cls.fit(r[:10], DAY)
    with pytest.raises(ValueError, match=r"dt = 0.0 outside allowed range \(0, 1\]"):
        cls.fit(r, 0.0)


def test_simulate__bad_input__error_names_the_field():
    with pytest.raises(ValueError, match="n_paths = 0 outside"):
        gbm.simulate_horizon(0, 10, DAY)
    with pytest.raises(ValueError, match="n_steps = 2.5 outside"):
        gbm.simulate(10, 2.5, DAY)
    with pytest.raises(ValueError, match=r"dt = -1.0 outside allowed range \(0, 1\]"):
        merton.simulate_horizon(10, 10, -1.0)
    with pytest.raises(ValueError, match="dt = 0.1 outside allowed range: must equal"):
        garch.simulate_horizon(10, 10, 0.1)
    with pytest.raises(ValueError, match=r"variance0\[1\] = -1.0 outside allowed range"):
        bates.simulate_horizon(3, 10, DAY, variance0=np.array([0.1, -1.0, 0.1]))
    with pytest.raises(ValueError, match="out: expected"):
        gbm.simulate_horizon(10, 10, DAY, out=np.empty((4, 9)))
    with pytest.raises(TypeError, match=r"GBM: unknown state \['variance0'\]; allowed: none"):
        gbm.simulate(10, 10, DAY, variance0=0.1)
    with pytest.raises(
        TypeError, match=r"GARCH: unknown state \['varaince0'\]; allowed: variance0"
    ):
        garch.simulate_horizon(10, 10, garch.dt, varaince0=0.1)
    with pytest.raises(ValueError, match="horizon = 0.5 outside allowed range: a whole number"):
        GARCH(0.0, 1e-6, 0.05, 0.9, 8.0, 0.3).moments(0.5)
