"""The submitted margin rule walk-forward (risk/margin_rule.py) and its backtest
(risk/rule_backtest.py): no fit sees the future, the state is today's, the scores are what
they say, and too little data is refused before any work."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from risk.apc import APC
from risk.history import PriceHistory
from risk.margin_rule import (
    Prepared,
    RuleSettings,
    fit_all,
    fit_at,
    margin_at,
    refit_points,
    run_rule,
)
from risk.rule_backtest import EFFICIENCY_LIMIT, backtest_rule, coverage_scores, score_run
from risk.tail_models import GARCH, fit_problems, garch_max_persistence
from risk.units import HOUR, YEAR_SEC

DT = HOUR / YEAR_SEC
FAST = RuleSettings(models=("gbm", "garch"), lookback_days=90, refit_days=3, n_paths=2_000)


@pytest.fixture(scope="module")
def returns():
    true = GARCH(mu=0.0, omega=2e-6, alpha=0.08, beta=0.9, nu=5.0, dt=DT)
    return np.diff(true.simulate(1, 3_400, DT, seed=11)[0])


def _history(r):
    price = 1_000 * np.exp(np.concatenate(([0.0], np.cumsum(r))))
    ts = 1_600_000_000 + HOUR * np.arange(len(price))
    return PriceHistory(ts, price, None)


def test_no_fit_or_margin_sees_data_after_its_origin(returns):
    """The same rule on a history cut short, and on one whose future is replaced by a crash,
    gives the same margins at every origin they share."""
    full = backtest_rule(_history(returns), FAST, (1,), workers=1)
    cut = len(returns) - 300
    changed = returns.copy()
    changed[cut:] *= 8.0  # a crash nobody could have seen at the earlier origins
    other = backtest_rule(_history(changed), FAST, (1,), workers=1)
    a, b = full.runs[1].frame, other.runs[1].frame
    seen = a.index[a.index + 1 <= cut]  # origins whose realised hour is before the change
    assert len(seen) > 250
    cols = ["margin", "no_apc", "calculated", "shock_garch", "shock_gbm", "floor"]
    pd.testing.assert_frame_equal(a.loc[seen, cols], b.loc[seen, cols])
    assert not a.loc[a.index[-50:], "margin"].equals(b.loc[b.index[-50:], "margin"])


def test_garch_starts_from_todays_conditional_variance(returns):
    fit = fit_at(returns, 2_500, DT, FAST)
    garch = fit.models["garch"]
    calm = garch.filtered_variance(np.full(2_000, 1e-4))
    shocked = garch.filtered_variance(np.append(np.full(1_999, 1e-4), 0.2))
    assert shocked > 30 * calm
    r = returns.copy()
    r[2_499] = -0.2  # a crash in the last hour before the origin
    after = margin_at(r, 2_500, 1, DT, fit, FAST)
    before = margin_at(returns, 2_500, 1, DT, fit, FAST)
    assert after.shocks["garch"] > 3 * before.shocks["garch"]
    assert after.shocks["gbm"] == before.shocks["gbm"]  # no state


def test_one_step_garch_margin_is_its_exact_conditional_quantile(returns):
    fit = fit_at(returns, 2_500, DT, FAST)
    g = fit.models["garch"]
    h = g.filtered_variance(returns[2_500 - 2_160 : 2_500])
    from scipy import stats

    z = stats.t.ppf(FAST.coverage, g.nu) * math.sqrt((g.nu - 2) / g.nu)
    exact = max(math.expm1(g.mu + math.sqrt(h) * z), -math.expm1(g.mu - math.sqrt(h) * z))
    many = RuleSettings(**{**FAST.__dict__, "n_paths": 200_000})
    got = margin_at(returns, 2_500, 1, DT, fit, many).shocks["garch"]
    assert got == pytest.approx(exact, rel=0.01)  # Monte Carlo shape, 200,000 draws


def test_apc_only_ever_raises_the_margin(returns):
    run = backtest_rule(_history(returns), FAST, (1,)).runs[1].frame
    add_on = run["no_apc"] - run["mixture"]
    assert (run["stressed_mixture"] >= run["mixture"]).all()
    assert np.allclose(
        run["calculated"], np.maximum(run["stressed_mixture"] + add_on, run["floor"])
    )
    assert (run["floor"] > 0).all()
    assert (run["margin"] >= run["calculated"] - 1e-12).all()
    assert (run["margin"] <= 1.25 * run["calculated"] + 1e-12).all()
    no_apc = RuleSettings(**{**FAST.__dict__, "apc": APC.off()})
    f = backtest_rule(_history(returns), no_apc, (1,)).runs[1].frame
    assert np.allclose(f["margin"], f["no_apc"]) and (f["floor"] == 0).all()


def test_sanity_ceiling_is_the_worst_horizon_loss_before_each_fit(returns):
    """The default ceiling (multiple 1): no margin above the worst loss the history showed
    before the fit the origin uses; a record crash after it is capped until the next refit,
    and every cut origin is counted."""
    shocked = returns.copy()
    shocked[-150] = -0.25  # a record hour between two refits, 150 h before the end
    run = backtest_rule(_history(shocked), FAST, (1,)).runs[1]
    f = run.frame
    points = np.array([fit.index for fit in run.fits])
    for t, ceiling in f["ceiling"].items():
        fit_index = points[np.searchsorted(points, t, side="right") - 1]
        past = shocked[:fit_index]
        assert ceiling == pytest.approx(min(0.9, max(-np.expm1(past.min()), np.expm1(past.max()))))
    assert (f[["margin", "no_apc", "calculated"]].le(f["ceiling"], axis=0)).all().all()
    assert run.capped > 0
    free = backtest_rule(_history(shocked), replace(FAST, ceiling_multiple=0.0), (1,)).runs[1]
    assert free.capped == 0 and free.frame["margin"].max() > f["margin"].max()


def test_prepared_state_free_models_are_the_same_at_every_origin(returns):
    fit = fit_at(returns, 2_500, DT, FAST)
    prep = Prepared.of(returns, fit, 4, DT, FAST)
    a = margin_at(returns, 2_510, 4, DT, fit, FAST, prep).shocks["gbm"]
    b = margin_at(returns, 2_600, 4, DT, fit, FAST, prep).shocks["gbm"]
    assert a == b


def test_refits_are_on_the_stated_schedule_and_reproducible(returns):
    points = refit_points(2_200, 3_000, DT, 3)
    assert np.diff(points).tolist() == [72] * (len(points) - 1)
    one = fit_all(returns, DT, points[:2], FAST, workers=1)
    two = fit_all(returns, DT, points[:2], FAST, workers=1)
    assert [f.models["garch"] for f in one] == [f.models["garch"] for f in two]
    run = run_rule(returns, DT, 1, np.arange(points[0], points[0] + 10), one, FAST)
    again = run_rule(returns, DT, 1, np.arange(points[0], points[0] + 10), two, FAST)
    pd.testing.assert_frame_equal(run.frame, again.frame)


def test_too_little_data_is_refused_before_any_fit(returns):
    with pytest.raises(ValueError, match=r"prices: \d+ windows of 24 h .* need at least 250"):
        backtest_rule(_history(returns), FAST, (1, 24))
    with pytest.raises(ValueError, match="horizons: 1.5 h is not a whole number"):
        backtest_rule(_history(returns), FAST, (1.5,))  # type: ignore[arg-type]


def test_over_margining_never_passes_and_under_margining_fails_kupiec(returns):
    run = backtest_rule(_history(returns), FAST, (1,)).runs[1]
    scores = score_run(run, FAST).set_index(["rule", "side"])
    expost = scores.loc[("static_expost", "long"), "mean_margin"]
    assert scores.loc[("static_expost", "long"), "margin_over_expost"] == pytest.approx(1.0)
    huge = run.frame.assign(margin=run.frame["margin"] * 10, no_apc=expost * 0.3)
    from dataclasses import replace

    big = score_run(replace(run, frame=huge), FAST).set_index(["rule", "side"])
    row = big.loc[("submitted", "long")]
    assert row.exceedances == 0 and row.margin_over_expost > EFFICIENCY_LIMIT
    assert not row.passes
    low = big.loc[("submitted_no_apc", "short")]
    assert low.kupiec_p_one_sided < 0.05 and not low.passes


def test_coverage_scores_by_hand():
    loss = np.zeros(500)
    loss[[10, 11, 300]] = 1.0
    s = coverage_scores(loss, np.full(500, 0.5), 0.99)
    assert s["exceedances"] == 3 and s["expected"] == pytest.approx(5.0)
    assert s["kupiec_p_one_sided"] == pytest.approx(0.8766, abs=1e-3)  # P(X >= 3), Bin(500, .01)
    assert s["blocks"] == 2 and s["red_blocks"] == 0
    assert s["loss_to_margin_max"] == 2.0 and s["mean_breach"] == 0.5


def test_fit_problems_flag_unstable_fits():
    ok = GARCH(mu=0.0, omega=1e-6, alpha=0.05, beta=0.9, nu=5.0, dt=DT)
    assert fit_problems(ok) == []
    near_unit = GARCH(mu=0.0, omega=1e-9, alpha=0.05, beta=0.9499999, nu=5.0, dt=DT)
    assert "above" in fit_problems(near_unit)[0]
    from risk.tail_models import Bates

    b = Bates(mu=0, kappa=2, theta=0.5, xi=3, rho=-0.5, v0=0.5, lam=1, mu_j=-0.05, sigma_j=0.1)
    assert "Feller" in fit_problems(b)[0]


def test_garch_fit_keeps_persistence_within_the_half_life_bound():
    p_max = garch_max_persistence(DT)
    true = GARCH(mu=0.0, omega=1e-10, alpha=0.03, beta=0.96999, nu=6.0, dt=DT)
    r = np.diff(true.simulate(1, 6_000, DT, seed=3)[0])
    fit = GARCH.fit(r, DT)
    assert fit.alpha + fit.beta <= p_max * (1 + 1e-12)
    assert fit_problems(fit) == []


def test_origin_before_the_first_fit_is_refused(returns):
    fits = fit_all(returns, DT, [2_500], FAST)
    with pytest.raises(ValueError, match=r"origins: the first \(2499\) is before the first fit"):
        run_rule(returns, DT, 1, np.arange(2_499, 2_510), fits, FAST)


def test_flat_prices_are_refused_in_one_line_not_divided_by_zero(returns):
    fits = fit_all(returns, DT, [2_500], FAST)
    run = run_rule(returns, DT, 1, np.arange(2_500, 2_520), fits, FAST)
    flat = replace(run, frame=run.frame.assign(loss_long=0.0, loss_short=0.0))
    with pytest.raises(ValueError, match="no positive 0.995 quantile"):
        score_run(flat, FAST)
