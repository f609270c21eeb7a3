"""risk/svi.py: parameter recovery from quotes of known slices (exact, noisy, weighted, priced),
g(k) against the second derivative of call prices, the arbitrage checks (Vogt's slice from
Gatheral-Jacquier 2014, a constructed calendar crossing), the surface's interpolation, the
example quotes file, and the input checks.

tests/risk/data/quotes_example.csv: three expiries (7, 30, 91 days) of SVI slices
(a, b, rho, m, sigma) = (0.006, 0.045, -0.30, 0.01, 0.06), (0.020, 0.100, -0.35, 0.02, 0.12),
(0.055, 0.180, -0.40, 0.04, 0.20), mids moved uniformly within +-30% of a spread of 1 vol
point at the money widening into the wings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from risk.greeks import black76
from risk.svi import (
    SviSlice,
    SviSurface,
    butterfly_violations,
    calendar_violations,
    calibrate_slice,
    calibrate_surface,
    check_quotes,
    read_quotes,
)
from risk.units import YEAR_SEC

QUOTES_EXAMPLE = Path(__file__).parent / "data" / "quotes_example.csv"
VOGT = SviSlice(a=-0.0410, b=0.1331, rho=0.3060, m=0.3586, sigma=0.4153, t_years=1.0)
SKEWED = SviSlice(a=0.02, b=0.12, rho=-0.4, m=0.05, sigma=0.15, t_years=0.5)
K_QUOTES = np.linspace(-0.6, 0.5, 25)
K_GRID = np.linspace(-1.5, 1.5, 301)
PARAMS = ("a", "b", "rho", "m", "sigma")


def _params(s: SviSlice) -> np.ndarray:
    return np.array([getattr(s, p) for p in PARAMS])


# --- one slice ---


@pytest.mark.parametrize("true", [SKEWED, VOGT], ids=["skewed", "vogt"])
def test_calibrate_slice__exact_quotes__recovers_the_parameters(true):
    fit = calibrate_slice(K_QUOTES, true.implied_vol(K_QUOTES), true.t_years)
    assert fit.success and fit.n_quotes == K_QUOTES.size
    np.testing.assert_allclose(_params(fit.params), _params(true), rtol=0, atol=1e-7)
    assert fit.rmse < 1e-9


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_calibrate_slice__noisy_quotes__recovers_the_parameters_within_the_noise(seed):
    noise = 0.002  # 0.2 vol points
    iv = SKEWED.implied_vol(K_QUOTES)
    quoted = iv + np.random.default_rng(seed).normal(0.0, noise, K_QUOTES.size)
    fit = calibrate_slice(K_QUOTES, quoted, SKEWED.t_years)
    assert fit.success
    assert 0.5 * noise < fit.rmse < 1.5 * noise
    # over 50 seeds the largest errors were (0.006, 0.009, 0.05, 0.015, 0.04) and 0.0036
    errors = np.abs(_params(fit.params) - _params(SKEWED))
    assert np.all(errors < [0.01, 0.015, 0.08, 0.03, 0.06]), dict(zip(PARAMS, errors, strict=True))
    assert np.max(np.abs(fit.params.implied_vol(K_QUOTES) - iv)) < 2.0 * noise


def test_calibrate_slice__weights__trust_the_tight_quotes():
    """Five quotes off by 5 vol points with a wide spread: with 1 / spread^2 weights the fit
    follows the others; without weights it is pulled away."""
    iv = SKEWED.implied_vol(K_QUOTES)
    bad = np.arange(2, K_QUOTES.size, 5)
    quoted = iv.copy()
    quoted[bad] += 0.05
    spread = np.full(K_QUOTES.size, 0.002)
    spread[bad] = 0.5
    weighted = calibrate_slice(K_QUOTES, quoted, SKEWED.t_years, weights=spread**-2.0)
    plain = calibrate_slice(K_QUOTES, quoted, SKEWED.t_years)
    assert np.max(np.abs(weighted.params.implied_vol(K_QUOTES) - iv)) < 5e-4
    assert np.max(np.abs(plain.params.implied_vol(K_QUOTES) - iv)) > 5e-3


def test_calibrate_slice__flat_smile__fits_with_a_vanishing_wing_slope():
    fit = calibrate_slice(np.linspace(-0.5, 0.5, 11), np.full(11, 0.5), 1.0)
    assert fit.success and fit.rmse < 1e-8
    assert fit.params.b < 1e-6


def test_density_g__matches_the_second_derivative_of_call_prices():
    """The risk-neutral density d2C/dK2 (finite differences of Black-76 prices at the SVI vols)
    equals g(k) / (K sqrt(2 pi w)) exp(-d2^2 / 2), d2 = -k / sqrt(w) - sqrt(w) / 2 (F = 1)."""
    t_sec = VOGT.t_years * YEAR_SEC

    def call(strike):
        return black76(1.0, strike, t_sec, VOGT.implied_vol(np.log(strike)), True).price

    strike = np.exp(np.linspace(-1.0, 1.4, 49))
    h = 1e-4 * strike
    d2c = (call(strike + h) - 2.0 * call(strike) + call(strike - h)) / (h * h)
    k = np.log(strike)
    w = VOGT.total_variance(k)
    d2 = -k / np.sqrt(w) - 0.5 * np.sqrt(w)
    density = VOGT.density_g(k) / (strike * np.sqrt(2.0 * np.pi * w)) * np.exp(-0.5 * d2 * d2)
    np.testing.assert_allclose(d2c, density, rtol=1e-4, atol=1e-6)
    assert np.min(d2c) < -4e-5  # negative (arbitrage), and well above the tolerance


# --- arbitrage ---


def test_butterfly_violations__vogt_example__negative_density_in_the_right_wing():
    found = butterfly_violations(VOGT, K_GRID)
    assert list(found.columns) == ["k", "g"]
    assert len(found) > 0 and np.all(found["g"] < 0.0)
    # g < 0 only on one interval of the right wing (Gatheral-Jacquier, Figure 1)
    assert 0.5 < found["k"].min() < found["k"].max() < 1.5
    assert np.all(np.diff(found["k"]) < 0.011)  # contiguous on the 0.01 grid
    assert found["g"].min() < -0.03


def test_butterfly_violations__clean_slice__none():
    assert butterfly_violations(SKEWED, K_GRID).empty
    assert np.all(SKEWED.density_g(K_GRID) > 0.0)


def test_calendar_violations__crossing_slices__flags_where_the_longer_has_less_variance():
    short = SviSlice(a=0.02, b=0.2, rho=0.6, m=0.0, sigma=0.1, t_years=0.25)
    long = SviSlice(a=0.04, b=0.1, rho=-0.6, m=0.0, sigma=0.1, t_years=0.5)
    crossing = short.total_variance(K_GRID) > long.total_variance(K_GRID)
    assert 0 < crossing.sum() < K_GRID.size  # the pair crosses inside the grid
    found = calendar_violations([long, short], K_GRID)  # sorted by expiry inside
    assert list(found.columns) == ["t_short", "t_long", "k", "decrease"]
    np.testing.assert_array_equal(found["k"], K_GRID[crossing])
    assert np.all(found["t_short"] == 0.25) and np.all(found["t_long"] == 0.5)
    expected = short.total_variance(K_GRID[crossing]) - long.total_variance(K_GRID[crossing])
    np.testing.assert_allclose(found["decrease"], expected)
    assert np.all(found["decrease"] > 0.0)


def test_calendar_violations__growing_slices__none():
    slices = [SviSlice(0.02 * t, 0.1 * t, -0.4, 0.0, 0.2, t) for t in (0.25, 0.5, 1.0)]
    assert calendar_violations(SviSurface(tuple(slices)), K_GRID).empty


# --- surface ---


def test_surface__total_variance_is_linear_in_t_at_fixed_k_and_keeps_vol_outside():
    slices = (SKEWED, SviSlice(0.05, 0.15, -0.3, 0.0, 0.2, 1.5))
    surface = SviSurface(slices, forwards=(100.0, 110.0))
    k = np.linspace(-0.5, 0.5, 11)
    w0, w1 = slices[0].total_variance(k), slices[1].total_variance(k)
    np.testing.assert_allclose(surface.total_variance(k, 0.5), w0)
    np.testing.assert_allclose(surface.total_variance(k, 1.5), w1)
    np.testing.assert_allclose(surface.total_variance(k, 0.75), 0.75 * w0 + 0.25 * w1)
    np.testing.assert_allclose(surface.implied_vol(0.1, k=k), slices[0].implied_vol(k))
    np.testing.assert_allclose(surface.implied_vol(3.0, k=k), slices[1].implied_vol(k))
    # strikes: ln F linear in T between the expiries' forwards
    forward = 100.0 * (110.0 / 100.0) ** 0.5
    np.testing.assert_allclose(surface.forward(1.0), forward)
    np.testing.assert_allclose(
        surface.implied_vol(1.0, strike=forward * np.exp(k)), surface.implied_vol(1.0, k=k)
    )
    # broadcasting: a column of times against a row of k
    grid = surface.implied_vol(np.array([[0.5], [1.0]]), k=k)
    assert grid.shape == (2, k.size)


def test_calibrate_surface__price_quotes__round_trip_through_implied_vol():
    """Black-76 prices at two slices' vols give the slices back; prices that no vol reprices
    (below intrinsic, zero) are dropped and counted."""
    trues = (SKEWED, SviSlice(0.05, 0.15, -0.3, 0.0, 0.2, 1.5))
    rows = []
    for true, forward in zip(trues, (2000.0, 2100.0), strict=True):
        strike = forward * np.exp(K_QUOTES)
        is_call = strike > forward
        t_sec = true.t_years * YEAR_SEC
        price = black76(forward, strike, t_sec, true.implied_vol(K_QUOTES), is_call).price
        rows.append(
            pd.DataFrame(
                {"t_sec": t_sec, "strike": strike, "forward": forward, "mid_price": price}
                | {"is_call": is_call}
            )
        )
    bad = pd.DataFrame(
        {"t_sec": 0.5 * YEAR_SEC, "strike": [1800.0, 1900.0], "forward": 2000.0}
        | {"mid_price": [150.0, 0.0], "is_call": [True, False]}  # intrinsic 200; zero
    )
    surface = calibrate_surface(pd.concat([rows[1], rows[0], bad], ignore_index=True))
    assert surface.n_dropped == 2
    np.testing.assert_allclose(surface.expiries, [0.5, 1.5])
    assert surface.forwards == (2000.0, 2100.0)
    for fit, true in zip(surface.fits, trues, strict=True):
        assert fit.success and fit.rmse < 1e-9 and fit.n_quotes == K_QUOTES.size
        np.testing.assert_allclose(_params(fit.params), _params(true), rtol=0, atol=1e-7)


def test_calibrate_surface__example_file__fits_inside_the_spreads_without_arbitrage():
    quotes = read_quotes(QUOTES_EXAMPLE)
    surface = calibrate_surface(quotes)
    assert len(surface.slices) == 3 and surface.n_dropped == 0
    np.testing.assert_allclose(surface.expiries * 365.0, [7.0, 30.0, 91.0])
    for fit, (_, expiry) in zip(surface.fits, quotes.groupby("t_sec"), strict=True):
        k = np.log(expiry["strike"] / expiry["forward"]).to_numpy()
        model = fit.params.implied_vol(k)
        assert fit.success
        assert np.all(model > expiry["bid_iv"]) and np.all(model < expiry["ask_iv"])
    assert calendar_violations(surface, K_GRID).empty
    assert all(butterfly_violations(s, K_GRID).empty for s in surface.slices)


# --- input checks ---


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": [0.0, np.nan, 0.2, 0.3, 0.4]}, r"k\[1\] = nan outside allowed range finite"),
        ({"iv": [0.5, 0.5, -0.1, 0.5, 0.5]}, r"iv\[2\] = -0.1 outside allowed range \(0, inf\)"),
        ({"iv": [0.5, 0.5, 0.5, 0.5]}, r"iv: shape \(4,\) differs from k's \(5,\)"),
        ({"t_years": 0.0}, r"t_years = 0.0 outside allowed range \(0, inf\) years"),
        ({"weights": [1.0, 1.0, 0.0, 1.0, 1.0]}, r"weights\[2\] = 0.0 outside allowed range"),
        ({"k": [0.0, 0.1, 0.1, 0.2, 0.3]}, r"k: 4 distinct quotes, allowed range \[5, inf\)"),
    ],
)
def test_calibrate_slice__bad_input__raises_naming_the_field(kwargs, message):
    args = {"k": np.linspace(-0.2, 0.2, 5), "iv": np.full(5, 0.5), "t_years": 1.0} | kwargs
    with pytest.raises(ValueError, match=message):
        calibrate_slice(**args)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"b": -0.1}, r"SviSlice.b = -0.1 outside allowed range \[0, inf\)"),
        ({"rho": 1.0}, r"SviSlice.rho = 1.0 outside allowed range \(-1, 1\)"),
        ({"sigma": 0.0}, r"SviSlice.sigma = 0.0 outside allowed range \(0, inf\)"),
        ({"t_years": -1.0}, r"SviSlice.t_years = -1.0 outside allowed range"),
        ({"a": -0.1}, r"SviSlice.a = -0.1 outside allowed range .*total variance >= 0"),
        ({"m": float("nan")}, r"SviSlice.m = nan outside allowed range finite"),
    ],
)
def test_svi_slice__bad_parameter__raises_naming_it(change, message):
    params = {"a": 0.02, "b": 0.1, "rho": -0.3, "m": 0.0, "sigma": 0.2, "t_years": 1.0}
    with pytest.raises(ValueError, match=message):
        SviSlice(**(params | change))


def test_surface__bad_input__raises_naming_the_field():
    with pytest.raises(ValueError, match="t_years .* must strictly increase"):
        SviSurface((SKEWED, SKEWED))
    surface = SviSurface((SKEWED,))
    with pytest.raises(ValueError, match=r"t_years = 0.0 outside allowed range \(0, inf\)"):
        surface.implied_vol(0.0, k=0.0)
    with pytest.raises(ValueError, match="forwards: empty"):
        surface.implied_vol(0.5, strike=100.0)
    with pytest.raises(ValueError, match="exactly one of k and strike"):
        surface.implied_vol(0.5)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda q: q.assign(spot=1.0), r"unknown columns \['spot'\]"),
        (lambda q: q.drop(columns="forward"), "missing column 'forward'"),
        (lambda q: q.drop(columns="t_sec"), "exactly one of the columns t_sec and t_years"),
        (lambda q: q.assign(mid_price=1.0), "exactly one of mid_iv and mid_price"),
        (lambda q: q.assign(weight=1.0), "either weight or bid_iv/ask_iv"),
        (lambda q: q.drop(columns="ask_iv"), "bid_iv and ask_iv go together"),
        (lambda q: q.assign(strike=-q["strike"]), r"strike\[0\] = -2450.0 outside allowed range"),
        (lambda q: q.assign(mid_iv=q["mid_iv"].where(q.index != 3)), r"mid_iv\[3\] = nan"),
        (lambda q: q.assign(ask_iv=q["bid_iv"]), r"ask_iv\[0\] = .* outside allowed range \(bid"),
        (
            lambda q: q.iloc[:16],
            r"expiry t_years = 0.08219.* has 3 usable quotes, allowed range \[5, inf\)",
        ),
    ],
)
def test_quotes__bad_table__raises_naming_the_column(edit, message):
    quotes = edit(read_quotes(QUOTES_EXAMPLE))
    with pytest.raises(ValueError, match=message):
        calibrate_surface(quotes)


def test_quotes__bad_is_call__raises():
    quotes = pd.DataFrame(
        {"t_years": 1.0, "strike": [100.0], "forward": 100.0, "mid_price": 5.0, "is_call": [2]}
    )
    with pytest.raises(ValueError, match=r"is_call\[0\] = 2 outside allowed values"):
        check_quotes(quotes)
