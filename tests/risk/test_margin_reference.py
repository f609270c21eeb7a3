"""risk/margin.py and risk/pricing.py on their own (no chain): properties, closed forms,
an independent Black-Scholes (math.erfc) and the input checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from risk.margin import (
    MAX_VOL_DOWN,
    portfolio_margin,
    portfolio_margin_batch,
    shocked_vols,
    spot_moves,
    vol_shock_scale,
)
from risk.params import MarginParams, ParamError
from risk.pricing import bs_price, bs_vega
from risk.units import DAY, YEAR_SEC

DEFAULT = MarginParams()
STEEP = MarginParams(
    spot_shock=0.05,
    spot_steps=2,
    vol_shock_up=3.0,
    vol_shock_down=0.9,
    vol_tenor_ref=365 * DAY,
    vol_tenor_power=1.0,
    vol_scale_cap=10.0,
    short_min=0.5,
    im_factor=3.0,
)
FAST = settings(max_examples=200, deadline=None)

moneyness = st.floats(0.3, 3.0)  # strike / spot
tenors = st.integers(0, 2 * 31_536_000)  # t_sec
vols = st.floats(0.05, 3.0)
options = st.tuples(moneyness, tenors, vols, st.booleans())


def _book(spot, rows):
    """rows of (strike / spot, t_sec, vol, is_call, size) -> portfolio_margin arguments."""
    k, t, v, c, z = (list(col) for col in zip(*rows, strict=True)) if rows else ([],) * 5
    return spot, [spot * x for x in k], t, v, c, z


def _ref_bs(spot, strike, t_sec, vol, is_call):
    """Textbook Black-Scholes with N(x) = erfc(-x / sqrt 2) / 2 (libm, not scipy)."""
    sd = vol * math.sqrt(t_sec / YEAR_SEC)
    d1 = (math.log(spot / strike) + sd * sd / 2) / sd
    d2 = d1 - sd

    def n(x):
        return 0.5 * math.erfc(-x / math.sqrt(2))

    if is_call:
        return spot * n(d1) - strike * n(d2)
    return strike * n(-d2) - spot * n(-d1)


# --- Black-Scholes ---


def test_bs_price__textbook_value():
    # S = K = 100, 1 year, 20% vol, zero rate: 100 (2 N(0.1) - 1)
    assert bs_price(100, 100, YEAR_SEC, 0.2, True) == pytest.approx(7.965567455405804, rel=1e-14)


@pytest.mark.parametrize(
    "spot,strike,t_sec,vol,is_call",
    [
        (2_000, 2_000, 30 * DAY, 0.6, True),
        (2_000, 2_300, 7 * DAY, 0.8, True),
        (2_000, 1_500, 3_600, 1.2, False),
        (1.2345, 1.4, 365 * DAY, 0.1, False),
        (65_000, 20_000, 90 * DAY, 3.0, True),
        (50, 150, 2 * 365 * DAY, 0.5, False),
    ],
)
def test_bs_price__matches_erfc_formula(spot, strike, t_sec, vol, is_call):
    expected = _ref_bs(spot, strike, t_sec, vol, is_call)
    assert float(bs_price(spot, strike, t_sec, vol, is_call)) == pytest.approx(
        expected, rel=0, abs=1e-13 * max(spot, strike)
    )


@FAST
@given(opt=options)
def test_bs_price__put_call_parity(opt):
    ratio, t_sec, vol, _ = opt
    spot, strike = 2_000.0, 2_000.0 * ratio
    call = float(bs_price(spot, strike, t_sec, vol, True))
    put = float(bs_price(spot, strike, t_sec, vol, False))
    assert call - put == pytest.approx(spot - strike, rel=0, abs=1e-12 * max(spot, strike))


@pytest.mark.parametrize("is_call", [True, False])
def test_bs_price__expired_or_zero_vol__intrinsic(is_call):
    strikes = np.array([1_500.0, 2_000.0, 2_500.0])
    expected = np.maximum(2_000 - strikes, 0) if is_call else np.maximum(strikes - 2_000, 0)
    assert np.array_equal(bs_price(2_000, strikes, 0, 0.6, is_call), expected)
    assert np.array_equal(bs_price(2_000, strikes, DAY, 0.0, is_call), expected)


def test_bs_vega__is_price_slope_in_vol():
    h = 1e-6
    up, down = (bs_price(2_000, 2_100, 30 * DAY, 0.6 + d, True) for d in (h, -h))
    slope = (up - down) / (2 * h)
    assert float(bs_vega(2_000, 2_100, 30 * DAY, 0.6)) == pytest.approx(float(slope), rel=1e-7)
    assert float(bs_vega(2_000, 2_100, 0, 0.6)) == 0.0


# --- the grid and the vol shocks ---


def test_spot_moves__symmetric_grid():
    assert np.allclose(spot_moves(DEFAULT), [-0.15, -0.1, -0.05, 0, 0.05, 0.1, 0.15])


def test_vol_shock_scale__tenor_rule():
    p = DEFAULT  # ref 30 days, power 0.3, cap 3
    assert vol_shock_scale(30 * DAY, p) == pytest.approx(1.0)
    assert vol_shock_scale(120 * DAY, p) == pytest.approx(0.25**0.3)
    assert vol_shock_scale(60, p) == pytest.approx(3.0)  # capped
    flat = MarginParams(vol_tenor_power=0.0, vol_scale_cap=2.0)
    assert np.all(vol_shock_scale([60, 30 * DAY, 365 * DAY], flat) == 1.0)


def test_shocked_vols__down_shock_floored_at_5_percent_of_vol():
    up, dn = shocked_vols(0.6, DAY, STEEP)  # k = 10: down shock 9 -> floor 0.95
    assert float(up) == pytest.approx(0.6 * (1 + 3.0 * 10))
    assert float(dn) == pytest.approx(0.6 * (1 - MAX_VOL_DOWN))


# --- portfolio margin ---


def test_portfolio_margin__empty_book__zero():
    assert portfolio_margin(2_000.0, [], [], [], [], [], DEFAULT) == (0.0, 0.0, 0.0)


@FAST
@given(opt=options, size=st.floats(0.001, 100.0), spot=st.floats(0.01, 1e6))
def test_portfolio_margin__long_option__mm_at_most_value(opt, size, spot):
    ratio, t_sec, vol, is_call = opt
    value, mm, im = portfolio_margin(*_book(spot, [(ratio, t_sec, vol, is_call, size)]), DEFAULT)
    assert 0.0 <= mm <= value * (1 + 1e-12) + 1e-12 * spot * size
    assert im == pytest.approx(DEFAULT.im_factor * mm)


@FAST
@given(
    rows=st.lists(
        st.tuples(moneyness, tenors, vols, st.booleans(), st.floats(-10, 10)),
        min_size=1,
        max_size=5,
    ),
    c=st.floats(0.01, 100.0),
)
def test_portfolio_margin__sizes_times_c__margin_times_c(rows, c):
    spot = 2_000.0
    value, mm, im = portfolio_margin(*_book(spot, rows), STEEP)
    scaled = [(*r[:4], c * r[4]) for r in rows]
    value_c, mm_c, im_c = portfolio_margin(*_book(spot, scaled), STEEP)
    notional = c * spot * sum(abs(r[4]) for r in rows)
    assert value_c == pytest.approx(c * value, rel=0, abs=1e-12 * notional + 1e-12)
    assert mm_c == pytest.approx(c * mm, rel=0, abs=1e-12 * notional + 1e-12)
    assert im_c == pytest.approx(c * im, rel=0, abs=3e-12 * notional + 1e-12)


def test_portfolio_margin__expired_short_call__intrinsic_loss_and_no_short_minimum():
    # short 2 calls struck at 1900, expired, spot 2000: worst at +15%: 2 * (2300 - 2000)
    value, mm, im = portfolio_margin(2_000.0, [1_900.0], [0], [0.6], [True], [-2.0], DEFAULT)
    assert value == pytest.approx(-200.0)
    assert mm == pytest.approx(600.0)
    assert im == pytest.approx(780.0)


def test_portfolio_margin__worthless_short__short_minimum_only():
    # 10 calls at 5x spot, 1 day: no value in any scenario; MM = 1% of spot per contract
    value, mm, _ = portfolio_margin(2_000.0, [10_000.0], [DAY], [0.6], [True], [-10.0], DEFAULT)
    assert value == pytest.approx(0.0, abs=1e-12)
    assert mm == pytest.approx(0.01 * 2_000 * 10)


def test_portfolio_margin__short_straddle__worst_scenario_is_a_grid_corner():
    args = (2_000.0, [2_000.0] * 2, [30 * DAY] * 2, [0.6] * 2, [True, False], [-1.0, -1.0])
    value, mm, _ = portfolio_margin(*args, DEFAULT)
    up_vol = 0.6 * 1.5  # k = 1 at the reference tenor
    worst_value = min(
        -float(sum(bs_price(s, 2_000, 30 * DAY, up_vol, c) for c in (True, False)))
        for s in (1_700.0, 2_300.0)
    )
    assert mm == pytest.approx(value - worst_value + 0.01 * 2_000 * 2, rel=1e-12)


def test_portfolio_margin_batch__equals_single_books_with_padding():
    books = [
        [(2_000.0, 30 * DAY, 0.6, True, -1.0), (1_800.0, 7 * DAY, 0.7, False, 2.0)],
        [(2_500.0, 0, 0.5, True, 3.0)],
        [],
    ]
    width = max(len(b) for b in books)
    padded = np.zeros((len(books), width, 5))
    padded[:, :, 0] = np.nan  # padding: ignored because size is 0
    for i, book in enumerate(books):
        if book:
            padded[i, : len(book)] = book
    spots = np.array([2_000.0, 2_100.0, 1_900.0])
    fields = [padded[:, :, j] for j in range(5)]
    fields[3] = fields[3] == 1.0
    batch = portfolio_margin_batch(spots, *fields, DEFAULT)
    for i, book in enumerate(books):
        cols = [list(c) for c in zip(*book, strict=True)] if book else [[]] * 5
        single = portfolio_margin(spots[i], *cols, DEFAULT)
        assert (batch.value[i], batch.mm[i], batch.im[i]) == pytest.approx(single, rel=1e-14)


# --- input checks ---

GOOD = dict(spot=2_000.0, strike=[2_000.0], t_sec=[DAY], vol=[0.6], is_call=[True], size=[-1.0])


@pytest.mark.parametrize(
    "field,bad,range_text",
    [
        ("spot", 0.0, "(0, inf)"),
        ("spot", -5.0, "(0, inf)"),
        ("spot", float("nan"), "(0, inf)"),
        ("strike", [0.0], "(0, inf)"),
        ("strike", [float("inf")], "(0, inf)"),
        ("t_sec", [-1.0], "[0, inf)"),
        ("t_sec", [float("nan")], "[0, inf)"),
        ("vol", [-0.1], "[0, inf)"),
        ("vol", [float("nan")], "[0, inf)"),
        ("size", [float("nan")], "finite"),
        ("is_call", [2], "{True, False, 0, 1}"),
    ],
)
def test_portfolio_margin__bad_input__raises_naming_field_and_range(field, bad, range_text):
    args = {**GOOD, field: bad}
    with pytest.raises(ValueError, match=field) as err:
        portfolio_margin(**args, params=DEFAULT)
    assert range_text in str(err.value)


@pytest.mark.parametrize("field", ["strike", "t_sec", "vol", "is_call", "size"])
def test_portfolio_margin__mismatched_shapes__raises_naming_field(field):
    args = {**GOOD, field: GOOD[field] * 2}
    with pytest.raises(ValueError, match="position fields must have one shape") as err:
        portfolio_margin(**args, params=DEFAULT)
    assert f"{field} (2,)" in str(err.value)


def test_portfolio_margin__two_dimensional_book__raises():
    with pytest.raises(ValueError, match="strike: expected a 1-D array"):
        portfolio_margin(**{**GOOD, "strike": [[2_000.0]]}, params=DEFAULT)


def test_portfolio_margin__params_out_of_bounds__raises_param_error():
    with pytest.raises(ParamError, match=r"margin.spot_steps = 9 outside allowed range \[1, 6\]"):
        portfolio_margin(**GOOD, params=MarginParams(spot_steps=9))
