"""risk/backtest.py: the coverage tests against likelihoods written out here (scipy's
binomial log-pmf and plain logs), their size and power by simulation, and the
walk-forward evaluation (coverage of a true model, rejection of a wrong one, no
look-ahead)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from risk.backtest import (
    NormalModel,
    christoffersen_conditional,
    christoffersen_independence,
    compare_models,
    fit_historical,
    fit_normal,
    historical_margin,
    in_sample_backtest,
    kupiec_pof,
    log_returns,
    normal_margin,
    position_loss,
    traffic_light,
    traffic_light_bounds,
    transition_counts,
    walk_forward,
)

SIMS = 2000  # simulated sequences for the size and power checks


def _seq(text: str) -> np.ndarray:
    """'0011' -> array([False, False, True, True])."""
    return np.array([ch == "1" for ch in text])


def _ref_kupiec_lr(n: int, x: int, p: float) -> float:
    """2 [ln Binom(x; n, x/n) - ln Binom(x; n, p)]; the binomial coefficients cancel."""
    return 2.0 * (stats.binom.logpmf(x, n, x / n) - stats.binom.logpmf(x, n, p))


def _ll(zeros: int, ones: int, q: float) -> float:
    """zeros ln(1 - q) + ones ln q, with the 0 ln 0 = 0 terms left out by hand."""
    out = 0.0
    if zeros:
        out += zeros * math.log(1.0 - q)
    if ones:
        out += ones * math.log(q)
    return out


def _binomial_band(p: float, trials: int, z: float = 3.29) -> tuple[float, float]:
    """p +- z standard errors of a rate over `trials` (z = 3.29: two-sided 99.9%)."""
    half = z * math.sqrt(p * (1.0 - p) / trials)
    return p - half, p + half


def _markov(n: int, pi01: float, pi11: float, rng: np.random.Generator) -> np.ndarray:
    """Exceedances from a two-state Markov chain started in state 0."""
    u = rng.random(n)
    out = np.zeros(n, dtype=bool)
    for t in range(1, n):
        out[t] = u[t] < (pi11 if out[t - 1] else pi01)
    return out


# --- Kupiec ---


def test_kupiec__two_in_ten__matches_written_out_likelihoods():
    res = kupiec_pof(_seq("0100000100"), 0.9)
    # -2 [8 ln 0.9 + 2 ln 0.1 - 8 ln 0.8 - 2 ln 0.2], by hand
    assert res.lr == pytest.approx(0.888060, abs=1e-6)
    assert res.lr == pytest.approx(_ref_kupiec_lr(10, 2, 0.1), rel=1e-12)
    assert res.p_value == pytest.approx(stats.chi2.sf(res.lr, 1), rel=1e-12)
    assert (res.n, res.failures, res.failure_rate) == (10, 2, 0.2)
    assert res.expected_failures == pytest.approx(1.0)
    assert res.coverage_achieved == pytest.approx(0.8)
    assert not res.reject


@pytest.mark.parametrize(("n", "x", "coverage"), [(250, 4, 0.99), (250, 12, 0.99), (60, 9, 0.95)])
def test_kupiec__against_binomial_logpmf(n, x, coverage):
    hits = np.zeros(n, dtype=int)
    hits[np.linspace(0, n - 1, x).astype(int)] = 1
    res = kupiec_pof(hits, coverage)
    assert res.failures == x
    assert res.lr == pytest.approx(_ref_kupiec_lr(n, x, 1 - coverage), rel=1e-10)
    assert res.p_value == pytest.approx(stats.chi2.sf(res.lr, 1), rel=1e-10)


def test_kupiec__no_failures__is_the_finite_limit():
    res = kupiec_pof(np.zeros(500, dtype=bool), 0.99)
    assert res.lr == pytest.approx(-2 * 500 * math.log(0.99), rel=1e-12)  # 10.05
    assert res.failures == 0 and math.isfinite(res.p_value)
    assert res.reject  # 0 failures in 500 at 1% is itself suspicious


def test_kupiec__all_failures__is_the_finite_limit():
    res = kupiec_pof(np.ones(20, dtype=bool), 0.95)
    assert res.lr == pytest.approx(-2 * 20 * math.log(0.05), rel=1e-12)
    assert res.p_value == pytest.approx(stats.chi2.sf(res.lr, 1))
    assert res.reject


def test_kupiec__exact_rate__lr_zero():
    res = kupiec_pof(_seq("0001000000" * 10), 0.9)
    assert res.lr == pytest.approx(0.0, abs=1e-12)  # 1 - 0.9 is not exactly 0.1
    assert res.p_value == pytest.approx(1.0, abs=1e-6)


def test_kupiec__reject_at__follows_alpha():
    res = kupiec_pof(np.r_[np.ones(5), np.zeros(245)], 0.99)  # p ~ 0.15
    assert 0.1 < res.p_value < 0.2
    assert res.reject_at(0.2) and not res.reject_at(0.1) and not res.reject


# --- Christoffersen ---


def test_transition_counts__by_hand():
    # pairs: 00 01 11 10 01 10 00 00 01
    assert transition_counts(_seq("0011010001")) == (3, 3, 2, 1)


def test_independence__small_sequence__matches_written_out_likelihoods():
    res = christoffersen_independence(_seq("0011010001"))
    n00, n01, n10, n11 = 3, 3, 2, 1
    pi01, pi11, pi = 3 / 6, 1 / 3, 4 / 9
    unrestricted = _ll(n00, n01, pi01) + _ll(n10, n11, pi11)
    restricted = _ll(n00 + n10, n01 + n11, pi)
    assert (res.n00, res.n01, res.n10, res.n11) == (n00, n01, n10, n11)
    assert (res.pi01, res.pi11, res.pi) == pytest.approx((pi01, pi11, pi))
    assert res.lr == pytest.approx(-2 * (restricted - unrestricted), rel=1e-12)
    assert res.p_value == pytest.approx(stats.chi2.sf(res.lr, 1), rel=1e-12)


def test_independence__clustered_block__matches_and_rejects():
    hits = _seq("0" * 90 + "1" * 10 + "0" * 100)
    res = christoffersen_independence(hits)
    assert (res.n00, res.n01, res.n10, res.n11) == (188, 1, 1, 9)
    unrestricted = _ll(188, 1, 1 / 189) + _ll(1, 9, 9 / 10)
    restricted = _ll(189, 10, 10 / 199)
    assert res.lr == pytest.approx(-2 * (restricted - unrestricted), rel=1e-12)
    assert res.reject and res.p_value < 1e-6


@pytest.mark.parametrize(
    ("text", "counts"),
    [
        ("0" * 30, (29, 0, 0, 0)),  # no failures: row 1 empty
        ("1" * 30, (0, 0, 0, 29)),  # all failures: row 0 empty
        ("0" * 29 + "1", (28, 1, 0, 0)),  # only failure is the last: row 1 empty
        ("1" + "0" * 29, (28, 0, 1, 0)),
    ],
)
def test_independence__empty_rows__lr_zero_not_nan(text, counts):
    res = christoffersen_independence(_seq(text))
    assert (res.n00, res.n01, res.n10, res.n11) == counts
    assert res.lr == 0.0 and res.p_value == 1.0
    assert math.isnan(res.pi11) == (counts[2] + counts[3] == 0)
    assert math.isnan(res.pi01) == (counts[0] + counts[1] == 0)


def test_conditional__is_pof_plus_independence_on_chi2_2():
    hits = _seq("0011010001" * 3)
    res = christoffersen_conditional(hits, 0.8)
    pof_lr = _ref_kupiec_lr(30, 12, 0.2)
    ind_lr = christoffersen_independence(hits).lr
    assert res.pof.lr == pytest.approx(pof_lr, rel=1e-12)
    assert res.lr == pytest.approx(pof_lr + ind_lr, rel=1e-12)
    assert res.p_value == pytest.approx(stats.chi2.sf(pof_lr + ind_lr, 2), rel=1e-12)


def test_tests__size_at_5pct__matches_nominal():
    """i.i.d. Bernoulli(1 - c) exceedances: each test rejects about 5% of sequences.

    Kupiec is compared with its exact size (the binomial mass of the counts it rejects,
    which the discreteness moves off 5%); independence and conditional coverage with the
    nominal 5% (asymptotic chi2, fine at n = 1000 and 10% failures).
    """
    n, coverage = 1000, 0.9
    rng = np.random.default_rng(20240601)
    results = [
        christoffersen_conditional(rng.random(n) < 1 - coverage, coverage) for _ in range(SIMS)
    ]
    counts = np.arange(n + 1)
    lr = np.array([_ref_kupiec_lr(n, int(x), 1 - coverage) for x in counts])
    exact_size = stats.binom.pmf(counts, n, 1 - coverage)[stats.chi2.sf(lr, 1) < 0.05].sum()
    assert 0.04 < exact_size < 0.06
    rates = {
        "pof": (np.mean([r.pof.reject for r in results]), exact_size),
        "independence": (np.mean([r.independence.reject for r in results]), 0.05),
        "conditional": (np.mean([r.reject for r in results]), 0.05),
    }
    for name, (rate, expected) in rates.items():
        lo, hi = _binomial_band(expected, SIMS)
        assert lo <= rate <= hi, f"{name}: rejection rate {rate} outside [{lo:.4f}, {hi:.4f}]"


def test_independence__clustered_markov_chain__has_power():
    """pi01 = 2%, pi11 = 30%: same long-run rate as ~2.8% i.i.d., but clustered."""
    rng = np.random.default_rng(7)
    sims = [_markov(1000, 0.02, 0.30, rng) for _ in range(300)]
    ind = np.mean([christoffersen_independence(s).reject for s in sims])
    iid = [rng.random(1000) < 0.028 for _ in range(300)]
    ind_iid = np.mean([christoffersen_independence(s).reject for s in iid])
    assert ind > 0.9
    assert ind_iid < 0.12


# --- traffic light ---


def test_traffic_light__basel_table_250_at_99():
    assert traffic_light_bounds(250, 0.99) == (4, 9)
    zones = [traffic_light(x, 250, 0.99).zone for x in range(12)]
    assert zones == ["green"] * 5 + ["yellow"] * 5 + ["red"] * 2
    light = traffic_light(5, 250, 0.99)
    assert light.cumulative_probability == pytest.approx(stats.binom.cdf(5, 250, 0.01))
    assert light.cumulative_probability == pytest.approx(0.9588, abs=1e-4)  # Basel table


def test_traffic_light__bounds_follow_the_cdf():
    n, c = 500, 0.975
    green_max, yellow_max = traffic_light_bounds(n, c)
    cdf = stats.binom.cdf
    assert cdf(green_max, n, 0.025) < 0.95 <= cdf(green_max + 1, n, 0.025)
    assert cdf(yellow_max, n, 0.025) < 0.9999 <= cdf(yellow_max + 1, n, 0.025)


# --- walk-forward ---


def _normal_returns(n: int, sigma: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, sigma, n)


def _known_sigma(sigma: float):
    """A fit that ignores its data: the correctly (or wrongly) specified model."""
    return lambda train: NormalModel(0.0, sigma)


def test_walk_forward__true_model__meets_coverage_and_passes():
    sigma = 0.02
    r = _normal_returns(3000, sigma, seed=11)
    res = walk_forward(r, _known_sigma(sigma), normal_margin, train_window=250, coverage=0.99)
    n = len(res.table)
    assert n == 2750 and res.pof.n == n
    lo, hi = stats.binom.interval(0.999, n, 0.01)
    assert lo <= res.pof.failures <= hi
    assert res.pof.p_value > 0.01
    assert res.conditional.p_value > 0.01
    assert res.traffic_light.zone != "red"  # yellow: 5% of correct models
    assert res.scoring == "out-of-sample" and not res.overlapping
    expected_margin = -math.expm1(-stats.norm.ppf(0.99) * sigma)
    assert res.table["margin"].to_numpy() == pytest.approx(expected_margin)


def test_walk_forward__half_sigma__is_rejected():
    sigma = 0.02
    r = _normal_returns(3000, sigma, seed=11)
    res = walk_forward(r, _known_sigma(sigma / 2), normal_margin, train_window=250)
    # P(Z < -z_99 / 2) ~ 12% failures against 1%
    assert res.pof.failure_rate > 0.08
    assert res.pof.reject and res.conditional.reject
    assert res.traffic_light.zone == "red"


@pytest.mark.parametrize("side", ["long", "short"])
def test_walk_forward__multi_step_horizon__fitted_normal_meets_coverage(side):
    sigma, horizon = 0.01, 5
    r = 0.0005 + _normal_returns(25_000, sigma, seed=3)
    res = walk_forward(
        r, fit_normal, normal_margin, train_window=500, horizon=horizon, coverage=0.95, side=side
    )
    assert res.step == horizon and not res.overlapping
    assert np.all(np.diff(res.table.index) == horizon)
    lo, hi = stats.binom.interval(0.999, res.pof.n, 0.05)
    assert lo <= res.pof.failures <= hi
    assert not res.conditional.reject_at(0.01)


def test_walk_forward__losses_are_the_realised_horizon_moves():
    prices = np.array([100.0, 110.0, 99.0, 99.0, 120.0, 60.0, 66.0])
    r = log_returns(prices)
    res = walk_forward(
        r, fit_historical, historical_margin, train_window=2, horizon=2, step=1, side="short"
    )
    t = res.table.index.to_numpy()
    assert list(t) == [2, 3, 4]
    assert res.table["loss"].to_numpy() == pytest.approx(prices[t + 2] / prices[t] - 1.0)
    assert res.overlapping


def test_walk_forward__cheating_detector__fit_never_sees_the_origin_or_after():
    """Return i carries its own index, so a fit can report the latest index it saw."""
    n = 600
    r = np.arange(n) * 1e-7  # tiny, so losses stay sensible; index = round(r / 1e-7)
    seen: list[tuple[int, int, int]] = []  # (min index, max index, length) per fit

    def spy_fit(train):
        idx = np.rint(train / 1e-7).astype(int)
        assert train.base is None or train.base.size == train.size  # not a view of r
        assert not train.flags.writeable
        seen.append((int(idx.min()), int(idx.max()), len(idx)))
        return NormalModel(0.0, 0.01)

    for refit_every, horizon, step in [(1, 1, 1), (3, 4, 2), (5, 10, 10)]:
        seen.clear()
        res = walk_forward(
            r,
            spy_fit,
            normal_margin,
            train_window=100,
            horizon=horizon,
            step=step,
            refit_every=refit_every,
        )
        table = res.table
        fits = table.index[::refit_every].to_numpy()
        assert len(seen) == len(fits)
        for origin, (lo, hi, length) in zip(fits, seen, strict=True):
            assert hi == origin - 1, "the fit saw the return over (t, t+1] or later"
            assert lo == origin - 100 and length == 100
        assert np.all(table["train_stop"].to_numpy() <= table.index.to_numpy())
        assert np.all(table["fitted_at"].to_numpy() <= table.index.to_numpy())


def test_walk_forward__refit_every__reuses_the_model():
    r = _normal_returns(1000, 0.01, seed=5)
    calls = []

    def fit(train):
        calls.append(len(train))
        return fit_normal(train)

    res = walk_forward(r, fit, normal_margin, train_window=200, refit_every=4)
    assert len(calls) == math.ceil(len(res.table) / 4)
    fitted_at = res.table["fitted_at"].to_numpy()
    assert list(fitted_at[:8]) == [200] * 4 + [204] * 4
    margins = res.table["margin"].to_numpy()
    assert margins[0] == margins[3] and margins[3] != margins[4]


# --- in-sample vs out-of-sample ---


def test_in_sample__fits_once_on_everything_and_is_labelled():
    r = _normal_returns(800, 0.01, seed=2)
    calls = []

    def fit(train):
        calls.append(len(train))
        return fit_normal(train)

    res = in_sample_backtest(r, fit, normal_margin, train_window=200)
    assert calls == [800]
    assert res.scoring == "in-sample"
    assert res.table["margin"].nunique() == 1
    assert res.summary()["scoring"] == "in-sample"


def test_compare_models__in_sample_flatters_the_failure_count():
    """Volatility triples halfway. A historical quantile fitted on everything and scored
    on the same losses meets 99% almost exactly; walked forward on 250-step windows it
    lags the change and fails too often. Both show clustering: a single in-sample margin
    cannot follow the regime either."""
    rng = np.random.default_rng(9)
    r = np.r_[rng.normal(0, 0.01, 2000), rng.normal(0, 0.03, 2000)]
    models = {
        "normal_fit": (fit_normal, normal_margin),
        "historical": (fit_historical, historical_margin),
        "half_sigma": (lambda t: NormalModel(0.0, float(np.std(t)) / 2), normal_margin),
    }
    oos = compare_models(r, models, train_window=250)
    ins = compare_models(r, models, train_window=250, in_sample=True)
    assert list(oos.index) == list(models) and oos.index.name == "model"
    assert set(oos["scoring"]) == {"out-of-sample"} and set(ins["scoring"]) == {"in-sample"}
    for col in ["coverage_achieved", "failures", "kupiec_p", "christoffersen_p", "mean_margin"]:
        assert col in oos.columns
    single = walk_forward(r, fit_historical, historical_margin, train_window=250)
    assert oos.loc["historical", "failures"] == single.pof.failures
    assert oos.loc["historical", "christoffersen_p"] == single.conditional.p_value
    # in-sample: the empirical quantile of (nearly) the very losses scored
    assert abs(ins.loc["historical", "coverage_achieved"] - 0.99) < 0.002
    assert ins.loc["historical", "kupiec_p"] > 0.5
    assert ins.loc["historical", "independence_p"] < 0.05
    # out of sample the same model fails too often
    assert oos.loc["historical", "coverage_achieved"] < 0.987
    assert oos.loc["historical", "kupiec_p"] < 0.05
    # halving sigma halves the capital cost and is rejected either way
    assert oos.loc["half_sigma", "kupiec_p"] < 1e-6 and ins.loc["half_sigma", "kupiec_p"] < 1e-6
    ratio = oos.loc["half_sigma", "mean_margin"] / oos.loc["normal_fit", "mean_margin"]
    assert 0.45 < ratio < 0.55


# --- bad input ---


@pytest.mark.parametrize(
    ("hits", "match"),
    [
        ([0, 1, 0.5], r"exceedances: value 0.5 outside allowed values \{0, 1\}"),
        ([0, 2, 1], r"exceedances: value 2 outside allowed values"),
        ([0.0, np.nan, 1.0], r"exceedances: NaN at index 1"),
        (["0", "1"], r"exceedances: dtype .* not allowed"),
        ([], r"exceedances: length 0 outside allowed range \[1, inf\)"),
        ([[0, 1], [1, 0]], r"exceedances: expected a 1-D sequence"),
    ],
)
def test_kupiec__bad_exceedances__raise(hits, match):
    with pytest.raises(ValueError, match=match):
        kupiec_pof(hits, 0.99)


@pytest.mark.parametrize("coverage", [0.0, 1.0, -0.1, 1.5, float("nan"), "high"])
def test_coverage_outside_open_unit_interval__raises(coverage):
    with pytest.raises(ValueError, match=r"coverage = .* (outside allowed range|must be) "):
        kupiec_pof([0, 1, 0], coverage)
    with pytest.raises(ValueError, match=r"coverage = "):
        walk_forward(np.zeros(50), fit_normal, normal_margin, train_window=10, coverage=coverage)


def test_independence__one_observation__raises():
    with pytest.raises(ValueError, match=r"exceedances: length 1 outside allowed range \[2, inf"):
        christoffersen_independence([1])


def test_walk_forward__nan_return__raises_with_index():
    r = np.zeros(100)
    r[42] = np.nan
    with pytest.raises(ValueError, match=r"returns: nan at index 42; expected finite"):
        walk_forward(r, fit_normal, normal_margin, train_window=10)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"train_window": 95}, r"train_window = 95, horizon = 5, step = 5: too long for 100"),
        ({"train_window": 0}, r"train_window = 0 outside allowed range \[1, inf\)"),
        ({"train_window": 10.5}, r"train_window = 10.5 must be an integer >= 1"),
        ({"train_window": 10, "horizon": 0}, r"horizon = 0 outside allowed range \[1, inf\)"),
        ({"train_window": 10, "step": 0}, r"step = 0 outside allowed range"),
        ({"train_window": 10, "refit_every": 0}, r"refit_every = 0 outside allowed range"),
        ({"train_window": 10, "side": "flat"}, r"side = 'flat' outside allowed values"),
    ],
)
def test_walk_forward__bad_arguments__raise(kwargs, match):
    kwargs = {"horizon": 5, **kwargs}
    with pytest.raises(ValueError, match=match):
        walk_forward(np.zeros(100), fit_normal, normal_margin, **kwargs)


def test_walk_forward__nan_margin__raises():
    with pytest.raises(ValueError, match=r"margin: returned nan at origin 10; expected a finite"):
        walk_forward(np.zeros(50), fit_normal, lambda *a: math.nan, train_window=10)


def test_compare_models__no_models__raises():
    with pytest.raises(ValueError, match=r"models: expected at least one"):
        compare_models(np.zeros(50), {}, train_window=10)


def test_log_returns_and_losses():
    assert log_returns([100.0, 110.0]) == pytest.approx([math.log(1.1)])
    with pytest.raises(ValueError, match=r"prices: 0.0 at index 1 outside allowed range"):
        log_returns([1.0, 0.0, 2.0])
    assert position_loss(math.log(0.8), "long") == pytest.approx(0.2)
    assert position_loss(math.log(1.25), "short") == pytest.approx(0.25)
