"""risk/ensemble.py: regime indicators, weights that follow them, the mixture and the
divergence add-on."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from risk.book import example_book
from risk.design import DesignTargets, design
from risk.ensemble import (
    MODELS,
    Ensemble,
    Regime,
    design_ensemble,
    fit_ensemble,
    regime_indicators,
    regime_weights,
    weight_reasons,
)
from risk.tail_models import GBM, Bates, Merton

HOURLY = 1 / 365 / 24
NAMES = ("gbm", "merton", "garch", "bates")
FAST = DesignTargets(n_paths=30_000, lar_paths=20, seed=3)
BOOK = example_book(n_accounts=200, seed=4)


def _returns(model, n=24 * 200, seed=0):
    return np.diff(model.simulate(1, n, HOURLY, seed=seed)[0])


def test_regime__gbm_returns__calm_and_no_jumps():
    r = _returns(GBM(0.0, 0.6))
    regime = regime_indicators(r, HOURLY)
    assert regime.stress < 0.3
    assert regime.jumpy < 1.0  # P(|z| > 4) is 6e-5: a few in 4800 at most
    assert regime.realised_vol == pytest.approx(0.6, rel=0.3)


def test_regime__jumps__show_as_jumpy():
    r = _returns(Merton(0.0, 0.4, lam=30.0, mu_j=-0.04, sigma_j=0.03))
    assert regime_indicators(r, HOURLY).jumpy > 5.0


def test_regime__realised_above_implied__stress():
    r = _returns(GBM(0.0, 0.8))
    regime = regime_indicators(r, HOURLY, implied_vol=0.4)
    assert regime.stress == pytest.approx(regime.realised_vol / 0.4 - 1.0)
    assert regime.stress > 0.5


def test_weights__follow_the_rules():
    calm = regime_weights(Regime(0.5, 0.5, 0.0, 0.0), NAMES)
    stressed = regime_weights(Regime(1.0, 0.5, 1.0, 0.0), NAMES)
    jumpy = regime_weights(Regime(0.5, 0.5, 0.0, 20.0), NAMES)
    assert sum(calm.values()) == pytest.approx(1.0)
    assert calm["gbm"] == pytest.approx(0.25)  # no signal: equal weights
    assert stressed["garch"] > calm["garch"] and stressed["gbm"] < calm["gbm"]
    assert jumpy["merton"] > calm["merton"] and jumpy["bates"] > calm["bates"]
    assert max(stressed, key=stressed.get) == "garch"


def test_mixture__draws_in_proportion_and_reproducible():
    ens = Ensemble(
        {"a": GBM(0.0, 0.2), "b": GBM(0.0, 1.0), "c": GBM(0.0, 2.0)},
        {"a": 0.5, "b": 0.3, "c": 0.2},
        Regime(0.5, 0.5, 0.0, 0.0),
    )
    n, steps, dt = 200_000, 24, HOURLY
    one = ens.simulate_horizon(n, steps, dt, seed=5)
    two = ens.simulate_horizon(n, steps, dt, seed=5)
    np.testing.assert_array_equal(one.terminal, two.terminal)
    assert not np.array_equal(one.terminal, ens.simulate_horizon(n, steps, dt, seed=6).terminal)
    h = steps * dt
    expected_var = sum(w * s**2 * h for w, s in zip((0.5, 0.3, 0.2), (0.2, 1.0, 2.0), strict=True))
    assert np.var(one.terminal) == pytest.approx(expected_var, rel=0.03)


def test_fit_ensemble__fits_every_model_and_weights_them():
    r = _returns(Merton(0.0, 0.5, lam=20.0, mu_j=-0.03, sigma_j=0.03), seed=1)
    ens = fit_ensemble(r, HOURLY, implied_vol=0.6)
    assert set(ens.models) == set(NAMES)
    assert sum(ens.weights.values()) == pytest.approx(1.0)
    assert ens.weights["merton"] > ens.weights["gbm"]


class _Exploding:
    """A 'model' whose fit is a Bates process whose variance can reach zero (Feller fails)."""

    @staticmethod
    def fit(log_returns, dt):
        return Bates(mu=0, kappa=2, theta=0.5, xi=3, rho=-0.5, v0=0.5, lam=1, mu_j=0, sigma_j=0.1)


def test_fit_ensemble__unstable_fit__left_out_with_its_reason(monkeypatch):
    monkeypatch.setitem(MODELS, "exploding", _Exploding)
    r = _returns(GBM(0.0, 0.5), n=500)
    ens = fit_ensemble(r, HOURLY, names=("gbm", "merton", "garch", "exploding"))
    assert set(ens.models) == {"gbm", "merton", "garch"}
    assert "exploding" not in ens.weights
    (name, why), *_ = [s for s in ens.skipped if s[0] == "exploding"]
    assert why.startswith("unstable fit: Feller condition fails: 2 kappa theta = 2 < xi^2 = 9")


def test_weight_reasons__name_each_weight_and_the_indicators_behind_it():
    regime = Regime(1.2, 0.6, 1.0, 2.5)
    line = weight_reasons(regime, regime_weights(regime, NAMES))
    assert line.startswith("weights gbm 0.")
    assert "stress 1.00 (recent realised vol 120% against 60%" in line
    assert "jumpy 2.50 (4-sigma returns 3.5x a normal's share" in line
    calm = weight_reasons(Regime(0.5, 0.5, 0.0, 0.0), {"gbm": 1.0})
    assert "no more 4-sigma returns than a normal's share" in calm


def test_design_ensemble__add_on_is_kappa_times_the_weighted_spread():
    ens = Ensemble(
        {"calm": GBM(0.0, 0.3), "mid": GBM(0.0, 0.8), "wild": GBM(0.0, 1.6)},
        {"calm": 0.4, "mid": 0.4, "wild": 0.2},
        Regime(0.8, 0.8, 0.0, 0.0),
    )
    p = design_ensemble(ens, BOOK, targets=FAST, kappa=2.0)
    ev = p.evidence
    s = np.array([ev["spot_shock_calm"], ev["spot_shock_mid"], ev["spot_shock_wild"]])
    w = np.array([0.4, 0.4, 0.2])
    spread = math.sqrt(w @ (s - w @ s) ** 2)
    assert ev["model_divergence"] == pytest.approx(spread)
    assert ev["divergence_add_on"] == pytest.approx(2.0 * spread)
    assert p.margin.spot_shock == pytest.approx(ev["spot_shock_mixture"] + 2.0 * spread, abs=1e-4)
    assert ev["spot_shock_calm"] < ev["spot_shock_mid"] < ev["spot_shock_wild"]
    # the evidence is that of the proposed (mixture + add-on) shock, which covers more
    assert ev["coverage_achieved"] >= FAST.coverage
    assert any(n.startswith("weights calm 0.40, mid 0.40, wild 0.20: stress") for n in p.notes)


def test_design_ensemble__kappa_zero__is_the_mixture_design():
    ens = Ensemble(
        {"a": GBM(0.0, 0.5), "b": GBM(0.0, 0.9), "c": GBM(0.0, 0.7)},
        {"a": 0.3, "b": 0.3, "c": 0.4},
        Regime(0.7, 0.7, 0.0, 0.0),
    )
    p = design_ensemble(ens, BOOK, targets=FAST, kappa=0.0)
    plain = design(ens, BOOK, targets=FAST)
    assert p.margin.spot_shock == pytest.approx(plain.margin.spot_shock, abs=1e-4)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda r: fit_ensemble(r, HOURLY, names=("gbm", "merton")), r"at least 3 models"),
        (lambda r: fit_ensemble(r, HOURLY, names=("gbm", "x", "garch")), r"unknown model"),
        (lambda r: regime_indicators(r[:10], HOURLY), r"log_returns: .* at least 30"),
        (lambda r: regime_indicators(np.r_[r, np.nan], HOURLY), r"log_returns: NaN"),
        (lambda r: regime_indicators(r, -1.0), r"dt = -1.0 outside allowed range"),
        (lambda r: regime_indicators(r, HOURLY, implied_vol=0.0), r"implied_vol = 0.0 outside"),
    ],
)
def test_bad_input__names_the_field(call, message):
    with pytest.raises(ValueError, match=message):
        call(_returns(GBM(0.0, 0.5), n=100))


def test_design_ensemble__bad_kappa__names_it():
    ens = Ensemble(
        {"a": GBM(0.0, 0.5), "b": GBM(0.0, 0.9), "c": GBM(0.0, 0.7)},
        {"a": 0.3, "b": 0.3, "c": 0.4},
        Regime(0.7, 0.7, 0.0, 0.0),
    )
    with pytest.raises(ValueError, match=r"kappa = -1 outside allowed range \[0, 10\]"):
        design_ensemble(ens, BOOK, targets=replace(FAST), kappa=-1)
