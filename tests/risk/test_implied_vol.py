"""risk/implied_vol.py: round trips through risk.greeks and through mpmath prices, the
no-arbitrage statuses, deep out-of-the-money prices (against a plain Newton solver), an
extreme grid, and the input checks. Kernels run serial and parallel."""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
from option_cases import random_options

from risk.greeks import black76, black_scholes
from risk.implied_vol import MAX_ITERATIONS, IVStatus, implied_vol, implied_vol_black76
from risk.iv_baseline import deep_otm_options, plain_newton_implied_vol
from risk.units import YEAR_SEC

PARALLEL = pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
HAS_VEGA = 1e-4  # vega / spot above which a price pins the vol down to float precision


def _split(opts: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    args = {k: v for k, v in opts.items() if k != "vol"}
    return opts["vol"], args


@pytest.fixture(scope="module")
def priced_book():
    opts = random_options(10_000, seed=31)
    greeks = black_scholes(**opts)
    return opts, greeks


# --- round trips ---


@PARALLEL
def test_implied_vol__round_trips_to_1e10_where_the_price_has_vega(priced_book, parallel):
    opts, greeks = priced_book
    vol, args = _split(opts)
    res = implied_vol(greeks.price, **args, errors="flag", parallel=parallel)  # some prices are 0
    has_vega = greeks.vega / opts["spot"] > HAS_VEGA
    assert np.all(res.status[has_vega] == IVStatus.OK)
    err = np.abs(res.vol[has_vega] / vol[has_vega] - 1.0)
    assert err.max() < 1e-10, f"max relative error {err.max():.2e}"
    assert has_vega.mean() > 0.4  # the rest: short-dated or far from the money


@PARALLEL
def test_implied_vol__without_vega__reprices_or_says_why(priced_book, parallel):
    """Where vega is ~0 the vol is not determined by a float price; the solver must still
    return one that reproduces the price, or NaN with BELOW_INTRINSIC (time value lost)."""
    opts, greeks = priced_book
    vol, args = _split(opts)
    res = implied_vol(greeks.price, **args, errors="flag", parallel=parallel)
    positive = greeks.price > 0.0  # the others underflowed: BAD_INPUT in flag mode
    assert np.all(res.status[~positive] == IVStatus.BAD_INPUT)
    assert set(np.unique(res.status[positive])) <= {IVStatus.OK, IVStatus.BELOW_INTRINSIC}
    assert np.all(np.isnan(res.vol) == (res.status != IVStatus.OK))
    ok = res.status == IVStatus.OK
    repriced = black_scholes(**_at(args, ok), vol=res.vol[ok]).price
    np.testing.assert_allclose(repriced, greeks.price[ok], rtol=1e-12, atol=1e-12)


def _at(args: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[mask] for k, v in args.items()}


def test_implied_vol__of_mpmath_prices__round_trips(priced_book):
    """Prices from an independent 40-digit evaluation, not from our own kernel."""
    opts, greeks = priced_book
    idx = np.flatnonzero(greeks.vega / opts["spot"] > HAS_VEGA)[:400]
    prices = []
    for i in idx:
        with mp.workdps(40):
            s, k, v = (mp.mpf(float(opts[n][i])) for n in ("spot", "strike", "vol"))
            r, q = mp.mpf(float(opts["rate"][i])), mp.mpf(float(opts["div_yield"][i]))
            t = mp.mpf(float(opts["t_sec"][i])) / YEAR_SEC
            sd = v * mp.sqrt(t)
            d1 = (mp.log(s / k) + (r - q) * t) / sd + sd / 2
            w = 1 if opts["is_call"][i] else -1
            price = w * (
                s * mp.exp(-q * t) * mp.ncdf(w * d1) - k * mp.exp(-r * t) * mp.ncdf(w * (d1 - sd))
            )
            prices.append(float(price))
    vol, args = _split(opts)
    res = implied_vol(np.array(prices), **_at(args, idx))
    assert np.all(res.status == IVStatus.OK)
    assert np.max(np.abs(res.vol / vol[idx] - 1.0)) < 1e-10


@PARALLEL
def test_implied_vol_black76__round_trips(parallel):
    opts = random_options(2_000, seed=8)
    forward = opts.pop("spot")
    opts.pop("div_yield")
    greeks = black76(forward, **opts)
    vol = opts.pop("vol")
    res = implied_vol_black76(greeks.price, forward, **opts, errors="flag", parallel=parallel)
    has_vega = greeks.vega / forward > HAS_VEGA
    assert np.all(res.status[has_vega] == IVStatus.OK)
    assert np.max(np.abs(res.vol[has_vega] / vol[has_vega] - 1.0)) < 1e-10


def test_implied_vol__puts_and_calls__give_the_same_vol_by_parity(priced_book):
    opts, _ = priced_book
    vol, args = _split(opts)
    calls = black_scholes(**{**opts, "is_call": True}).price
    puts = black_scholes(**{**opts, "is_call": False}).price
    iv_c = implied_vol(calls, **{**args, "is_call": True}, errors="flag")
    iv_p = implied_vol(puts, **{**args, "is_call": False}, errors="flag")
    vega = black_scholes(**opts).vega / opts["spot"]
    both = (iv_c.status == 0) & (iv_p.status == 0) & (vega > HAS_VEGA)
    np.testing.assert_allclose(iv_c.vol[both], iv_p.vol[both], rtol=1e-10)


# --- robustness ---


def test_implied_vol__deep_otm__solves_what_plain_newton_fails_on():
    """benchmarks/pricing.py prints the counts; here: ours recovers every representable deep
    out-of-the-money price, the textbook Newton (vol0 = 0.5) fails on many of them."""
    opts = deep_otm_options(5_000, seed=13)
    price = black_scholes(**opts).price
    keep = price > 1e-300
    opts = _at(opts, keep)
    vol, args = _split(opts)
    ours = implied_vol(price[keep], **args)
    assert np.all(ours.status == IVStatus.OK)
    assert np.max(np.abs(ours.vol / vol - 1.0)) < 1e-8
    newton, converged = plain_newton_implied_vol(price[keep], **args)
    newton_ok = converged & (np.abs(newton / vol - 1.0) < 1e-8)
    assert np.sum(~newton_ok) > 0.2 * len(vol)


def test_implied_vol__extreme_grid__never_a_wrong_number():
    """Log-moneyness 0..30 either side, total vol 0.001..30: every status OK reprices the
    price; the only NaNs are prices with no time value left or at the upper bound."""
    x = np.concatenate([-np.geomspace(1e-8, 30.0, 60), [0.0], np.geomspace(1e-8, 30.0, 60)])
    sd = np.geomspace(1e-3, 30.0, 80)
    xx, ss = (a.ravel() for a in np.meshgrid(x, sd))
    strike = np.exp(-xx)  # forward 1, so ln(F/K) = xx
    for is_call in (True, False):
        price = black76(1.0, strike, YEAR_SEC, ss, is_call).price
        res = implied_vol_black76(price, 1.0, strike, YEAR_SEC, is_call, errors="flag")
        assert not np.any(res.status == IVStatus.NO_CONVERGENCE)
        assert not np.any(res.status[price > 0] == IVStatus.BAD_INPUT)  # 0: underflow
        ok = res.status == IVStatus.OK
        assert ok.mean() > 0.6
        repriced = black76(1.0, strike[ok], YEAR_SEC, res.vol[ok], is_call).price
        np.testing.assert_allclose(repriced, price[ok], rtol=1e-11, atol=1e-15)
        assert np.all(res.iterations[ok] <= 12) and res.iterations[ok].mean() < 4


# --- statuses ---

SPOT, T_SEC, RATE, Q = 100.0, 30 * 86_400.0, 0.05, 0.02


def _itm(is_call: bool) -> tuple[float, float, float]:
    """(strike, discounted intrinsic, upper bound) of an in-the-money option."""
    strike = 90.0 if is_call else 110.0
    t = T_SEC / YEAR_SEC
    s_dq, k_dr = SPOT * math.exp(-Q * t), strike * math.exp(-RATE * t)
    return (strike, s_dq - k_dr, s_dq) if is_call else (strike, k_dr - s_dq, k_dr)


@pytest.mark.parametrize("is_call", [True, False], ids=["call", "put"])
def test_implied_vol__outside_no_arbitrage_bounds__nan_with_status(is_call):
    strike, lower, upper = _itm(is_call)
    prices = np.array([lower * 0.999, lower, upper, upper * 1.01, lower + 1.0, np.nan, -1.0])
    res = implied_vol(prices, SPOT, strike, T_SEC, is_call, RATE, Q, errors="flag")
    expected = [
        IVStatus.BELOW_INTRINSIC,  # below the discounted intrinsic value
        IVStatus.BELOW_INTRINSIC,  # at it: no positive vol gives it
        IVStatus.ABOVE_UPPER_BOUND,  # at S e^(-qT) (call) or K e^(-rT) (put)
        IVStatus.ABOVE_UPPER_BOUND,
        IVStatus.OK,
        IVStatus.BAD_INPUT,  # NaN
        IVStatus.BAD_INPUT,  # negative
    ]
    assert res.status.tolist() == expected
    assert res.status.dtype == np.int8
    assert np.isnan(res.vol[res.status != IVStatus.OK]).all() and res.vol[4] > 0.0


def test_implied_vol__otm_price_of_one_subnormal__still_solves():
    """Any positive price of an out-of-the-money option has a vol; the normalised objective
    in ln b handles prices far below where exp underflows."""
    res = implied_vol(1e-300, SPOT, 150.0, T_SEC, True, RATE, Q)
    assert res.status == IVStatus.OK
    price = black_scholes(SPOT, 150.0, T_SEC, res.vol, True, RATE, Q).price
    assert float(price) == pytest.approx(1e-300, rel=1e-10)


def test_implied_vol__flag_mode__marks_bad_fields_per_option():
    res = implied_vol(
        [5.0, 5.0, 5.0], [SPOT, np.nan, SPOT], 100.0, [T_SEC, T_SEC, 0.0], True, errors="flag"
    )
    assert res.status.tolist() == [IVStatus.OK, IVStatus.BAD_INPUT, IVStatus.BAD_INPUT]


# --- bad input (errors="raise", the default) ---


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("price", 0.0, r"\(0, inf\) USD"),
        ("price", -2.0, r"\(0, inf\) USD"),
        ("price", np.nan, r"\(0, inf\) USD"),
        ("spot", 0.0, r"\(0, inf\) USD"),
        ("strike", np.inf, r"\(0, inf\) USD"),
        ("t_sec", 0.0, r"\(0, inf\) seconds"),
        ("rate", np.nan, r"finite"),
    ],
)
def test_implied_vol__bad_field__raises_naming_field_and_range(field, value, allowed):
    args = {
        "price": 5.0,
        "spot": 100.0,
        "strike": 100.0,
        "t_sec": T_SEC,
        "is_call": True,
        "rate": 0.0,
        "div_yield": 0.0,
    }
    args = {k: np.full(4, v) for k, v in args.items()}
    args[field][2] = value
    with pytest.raises(ValueError, match=rf"^{field}\[2\] = .* outside allowed range {allowed}"):
        implied_vol(**args)


def test_implied_vol__mismatched_shapes__raises():
    with pytest.raises(ValueError, match=r"price \(3,\), spot \(2,\)"):
        implied_vol(np.ones(3), np.ones(2) * 100.0, 100.0, T_SEC, True)


def test_implied_vol__unknown_errors_mode__raises():
    with pytest.raises(ValueError, match=r"errors = 'ignore' outside allowed values"):
        implied_vol(5.0, 100.0, 100.0, T_SEC, True, errors="ignore")


def test_implied_vol__shapes__scalar_and_2d():
    one = implied_vol(5.0, 100.0, 100.0, T_SEC, True)
    assert one.vol.shape == () and one.status == IVStatus.OK
    grid = implied_vol(np.full((2, 3), 5.0), 100.0, 100.0, T_SEC, True)
    assert grid.vol.shape == grid.status.shape == (2, 3)
    assert np.all(grid.iterations <= MAX_ITERATIONS)


def test_no_convergence__capped_iterations__nan_and_status_not_the_last_iterate(monkeypatch):
    """The kernel's own code (py_func), with the last pass capped at 0 iterations: an option
    that needs more than the four vectorised Halley steps (this low-vol near-the-money
    call takes 6) must come back NaN with NO_CONVERGENCE, not as its last iterate (a
    mutant returning the iterate survived every other test)."""
    import risk.implied_vol as iv

    args = (0.15935621052585247, 2000.0, 2030.2123082433284, 12_120_364.978260415)
    full = iv.implied_vol(*args, True, errors="flag")
    assert int(full.status) == iv.IVStatus.OK and int(full.iterations) > 4
    assert float(full.vol) == pytest.approx(0.012522435002752245, rel=1e-9)

    monkeypatch.setattr(iv, "MAX_ITERATIONS", 0)
    monkeypatch.setattr(iv, "_finish", iv._finish.py_func)  # reads the capped global
    monkeypatch.setattr(iv, "at", lambda values, i: values[i])  # a numba overload elsewhere
    price, s, k, t = (np.array([a]) for a in args)
    vol, status, iterations = np.empty(1), np.empty(1, np.int8), np.empty(1, np.int8)
    zero = np.zeros(1)
    iv._implied_vol_loop.py_func(
        0, 1, price, s, k, t, zero, zero, np.array([True]), vol, status, iterations
    )
    assert math.isnan(vol[0]) and status[0] == iv.IVStatus.NO_CONVERGENCE
