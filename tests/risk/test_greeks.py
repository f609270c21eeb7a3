"""risk/greeks.py against independent references: mpmath at 40 digits (the 1e-10 relative
criterion, every output), QuantLib's BlackCalculator (a second library), mpmath derivatives
of the price (the Greek formulas themselves), parity, and the input checks.

Every comparison runs the kernels both serial and parallel."""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
from option_cases import random_options

from risk.greeks import black76, black_scholes
from risk.special import fast_exp, fast_log, ncdf
from risk.units import YEAR_SEC

QuantLib = pytest.importorskip("QuantLib")

NAMES = ("price", "delta", "gamma", "vega", "theta", "vanna", "volga")
N_RANDOM = 10_000
RTOL = 1e-10
TINY = 1e-280  # below this both sides have underflowed; compared as absolute values
PARALLEL = pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])


def mp_greeks(spot, strike, t_sec, vol, is_call, rate, div_yield):
    """The module docstring's closed forms at 40 digits (inputs taken as exact floats)."""
    with mp.workdps(40):
        s, k, v, r, q = (mp.mpf(float(a)) for a in (spot, strike, vol, rate, div_yield))
        t = mp.mpf(float(t_sec)) / mp.mpf(YEAR_SEC)
        sq = mp.sqrt(t)
        sd = v * sq
        dq, dr = mp.exp(-q * t), mp.exp(-r * t)
        d1 = (mp.log(s / k) + (r - q) * t) / sd + sd / 2
        d2 = d1 - sd
        w = 1 if is_call else -1
        n1, n2, pdf = mp.ncdf(w * d1), mp.ncdf(w * d2), mp.npdf(d1)
        vega = s * dq * pdf * sq
        return [
            float(x)
            for x in (
                w * (s * dq * n1 - k * dr * n2),
                w * dq * n1,
                dq * pdf / (s * sd),
                vega,
                -s * dq * pdf * v / (2 * sq) + w * (q * s * dq * n1 - r * k * dr * n2),
                -dq * pdf * d2 / v,
                vega * d1 * d2 / v,
            )
        ]


def rel_err(ours: np.ndarray, ref: np.ndarray) -> np.ndarray:
    return np.abs(ours - ref) / np.maximum(np.abs(ref), TINY)


@pytest.fixture(scope="module")
def options() -> dict[str, np.ndarray]:
    return random_options(N_RANDOM, seed=2024)


@pytest.fixture(scope="module")
def reference(options) -> np.ndarray:
    rows = zip(*(options[k] for k in options), strict=True)
    return np.array([mp_greeks(*row) for row in rows]).T  # (7, n)


# --- accuracy ---


@PARALLEL
def test_black_scholes__10k_random_options__match_mpmath_to_1e10(options, reference, parallel):
    greeks = black_scholes(**options, parallel=parallel)
    for name, ours, ref in zip(NAMES, greeks, reference, strict=True):
        err = rel_err(ours, ref)
        assert err.max() < RTOL, f"{name}: max relative error {err.max():.2e}"


@PARALLEL
def test_black_scholes__10k_random_options__match_quantlib(options, reference, parallel):
    """QuantLib's N(x) = (1 + erf(x / sqrt 2)) / 2 is exact only in absolute terms, so this
    comparison adds an absolute tolerance of ~1e-14 of each Greek's natural scale; mpmath
    above is the relative one."""
    ql = _quantlib(options)
    ours = black_scholes(**options, second_order=False, parallel=parallel)
    spot, years = options["spot"], options["t_sec"] / YEAR_SEC
    scales = (spot, 1.0, 1.0 / spot, spot, spot / np.sqrt(years))
    for name, a, b, scale in zip(NAMES[:5], ours[:5], ql, scales, strict=True):
        excess = np.abs(a - b) - RTOL * np.abs(b) - 1e-14 * scale
        assert excess.max() <= 0.0, f"{name}: differs from QuantLib by {excess.max():.2e}"


def _quantlib(options: dict[str, np.ndarray]) -> np.ndarray:
    out = np.empty((5, N_RANDOM))
    rows = zip(*(options[k] for k in options), strict=True)
    for i, (s, k, t_sec, v, call, r, q) in enumerate(rows):
        t = t_sec / YEAR_SEC
        kind = QuantLib.Option.Call if call else QuantLib.Option.Put
        calc = QuantLib.BlackCalculator(
            QuantLib.PlainVanillaPayoff(kind, float(k)),
            float(s * math.exp((r - q) * t)),  # forward
            float(v * math.sqrt(t)),  # standard deviation
            math.exp(-r * t),  # discount
        )
        s = float(s)
        out[:, i] = calc.value(), calc.delta(s), calc.gamma(s), calc.vega(t), calc.theta(s, t)
    return out


@pytest.mark.parametrize("is_call", [True, False], ids=["call", "put"])
def test_greeks__are_mpmath_derivatives_of_the_price(is_call):
    """The formulas themselves: each Greek is the numerical derivative (mpmath, 30 digits) of
    the closed-form price, with theta = -dV/dT as time passes."""
    opts = random_options(12, seed=7)
    opts["is_call"][:] = is_call
    greeks = black_scholes(**opts)
    for i in range(12):
        row = {name: float(opts[name][i]) for name in opts if name != "is_call"}
        for name, value in _mp_derivatives(**row, is_call=is_call).items():
            ours = getattr(greeks, name)[i]
            assert ours == pytest.approx(value, rel=1e-9, abs=1e-12), (name, i)


def _mp_derivatives(spot, strike, t_sec, vol, rate, div_yield, is_call) -> dict[str, float]:
    w = 1 if is_call else -1

    def price(s, v, t):  # at the precision mp.diff sets
        sd = v * mp.sqrt(t)
        d1 = (mp.log(s / strike) + (rate - div_yield) * t) / sd + sd / 2
        call_put = s * mp.exp(-div_yield * t) * mp.ncdf(w * d1)
        return w * (call_put - strike * mp.exp(-rate * t) * mp.ncdf(w * (d1 - sd)))

    with mp.workdps(30):
        s, v, t = mp.mpf(spot), mp.mpf(vol), mp.mpf(t_sec) / YEAR_SEC
        exact = {
            "delta": mp.diff(lambda x: price(x, v, t), s),
            "gamma": mp.diff(lambda x: price(x, v, t), s, 2),
            "vega": mp.diff(lambda x: price(s, x, t), v),
            "theta": -mp.diff(lambda x: price(s, v, x), t),
            "vanna": mp.diff(lambda a, b: price(a, b, t), (s, v), (1, 1)),
            "volga": mp.diff(lambda x: price(s, x, t), v, 2),
        }
    return {name: float(value) for name, value in exact.items()}


@PARALLEL
def test_black76__matches_mpmath_on_forwards(parallel):
    opts = random_options(300, seed=11)
    forward = opts.pop("spot")
    opts.pop("div_yield")
    greeks = black76(forward, **opts, parallel=parallel)
    for i in range(300):
        # Black-76 is the Black-Scholes formula with S = F and q = r
        ref = mp_greeks(forward[i], *(opts[name][i] for name in opts), opts["rate"][i])
        for name, value in zip(NAMES, ref, strict=True):
            ours = getattr(greeks, name)[i]
            assert abs(ours - value) <= RTOL * max(abs(value), TINY), (name, i)


# --- identities ---


@PARALLEL
def test_put_call_parity__holds(options, parallel):
    """C - P = S e^(-qT) - K e^(-rT); delta_C - delta_P = e^(-qT); gamma, vega, vanna and
    volga equal; theta_C - theta_P = q S e^(-qT) - r K e^(-rT)."""
    opts = dict(options)
    opts["is_call"] = np.ones(N_RANDOM, dtype=bool)
    call = black_scholes(**opts, parallel=parallel)
    opts["is_call"] = np.zeros(N_RANDOM, dtype=bool)
    put = black_scholes(**opts, parallel=parallel)
    s, k, r, q = (options[name] for name in ("spot", "strike", "rate", "div_yield"))
    t = options["t_sec"] / YEAR_SEC
    s_dq, k_dr = s * np.exp(-q * t), k * np.exp(-r * t)
    scale = np.maximum(s, k)
    assert np.all(np.abs((call.price - put.price) - (s_dq - k_dr)) <= 1e-13 * scale)
    assert np.all(np.abs((call.delta - put.delta) - np.exp(-q * t)) <= 1e-14)
    for name in ("gamma", "vega", "vanna", "volga"):
        a, b = getattr(call, name), getattr(put, name)
        assert np.all(np.abs(a - b) <= 1e-13 * np.abs(b) + TINY), name
    theta_gap = (call.theta - put.theta) - (q * s_dq - r * k_dr)
    assert np.all(np.abs(theta_gap) <= 1e-13 * scale)


def test_black_scholes__serial_and_parallel__agree(options):
    serial = black_scholes(**options, parallel=False)
    parallel = black_scholes(**options, parallel=True)
    for name, a, b in zip(NAMES, serial, parallel, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-15, atol=0.0, err_msg=name)


def test_black_scholes__first_order_only__same_values_without_vanna_volga(options):
    full = black_scholes(**options)
    first = black_scholes(**options, second_order=False)
    assert first.vanna is None and first.volga is None
    for name in NAMES[:5]:
        np.testing.assert_array_equal(getattr(first, name), getattr(full, name), err_msg=name)


def test_black_scholes__scalars_and_2d__keep_the_input_shape():
    one = black_scholes(100.0, 110.0, 30 * 86_400, 0.6, True)
    assert one.price.shape == () and float(one.price) > 0.0
    strikes = np.array([[90.0, 100.0], [110.0, 120.0]])
    grid = black_scholes(100.0, strikes, 30 * 86_400, 0.6, [[True, False], [True, False]])
    assert grid.delta.shape == (2, 2)
    assert grid.price[1, 0] == pytest.approx(
        float(black_scholes(100.0, 110.0, 30 * 86_400, 0.6, True).price), rel=1e-15
    )
    empty = black_scholes(np.array([]), np.array([]), np.array([]), np.array([]), np.array([]))
    assert empty.price.shape == (0,)


def test_black_scholes__zero_rates__match_risk_pricing():
    from risk.pricing import bs_price, bs_vega

    opts = random_options(1_000, seed=3)
    args = [opts[name] for name in ("spot", "strike", "t_sec", "vol")]
    greeks = black_scholes(*args, opts["is_call"])
    np.testing.assert_allclose(greeks.price, bs_price(*args, opts["is_call"]), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(greeks.vega, bs_vega(*args), rtol=1e-9, atol=1e-9)


# --- the math kernels on their own ---


def test_exp_and_log__match_mpmath_to_a_few_ulp():
    g = np.random.default_rng(5)
    ys = np.concatenate([g.uniform(-745.0, 709.0, 2_000), g.uniform(-1.0, 1.0, 2_000)])
    for y in ys:
        ref = float(mp.exp(mp.mpf(float(y))))
        if ref > 1e-300:
            assert abs(fast_exp(y) - ref) <= 4e-16 * ref, y
    assert (
        fast_exp(-800.0) == 0.0 and fast_exp(800.0) == math.inf and math.isnan(fast_exp(math.nan))
    )
    assert 0.0 < fast_exp(-740.0) < 1e-320  # subnormal
    xs = np.concatenate(
        [np.exp(g.uniform(-700.0, 700.0, 2_000)), 1.0 + g.uniform(-1e-6, 1e-6, 500)]
    )
    for x in xs:
        ref = float(mp.log(mp.mpf(float(x))))
        assert abs(fast_log(x) - ref) <= 6e-16 * abs(ref), x


def test_ncdf__matches_mpmath_relative_in_the_lower_tail():
    zs = np.concatenate([np.linspace(-37.0, 8.0, 3_001), [0.0, -1e-8, 1e-8]])
    for z in zs:
        ref = float(mp.ncdf(mp.mpf(float(z))))
        assert abs(ncdf(z) - ref) <= 1e-13 * ref, z


# --- bad input ---

GOOD = {"spot": 100.0, "strike": 100.0, "t_sec": 86_400.0, "vol": 0.5, "is_call": True}


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("spot", 0.0, r"\(0, inf\) USD"),
        ("spot", -1.0, r"\(0, inf\) USD"),
        ("strike", np.nan, r"\(0, inf\) USD"),
        ("t_sec", 0.0, r"\(0, inf\) seconds"),
        ("t_sec", -86_400.0, r"\(0, inf\) seconds"),
        ("vol", 0.0, r"\(0, inf\) \(1.0 = 100%\)"),
        ("vol", np.inf, r"\(0, inf\) \(1.0 = 100%\)"),
        ("rate", np.nan, r"finite, per year"),
        ("div_yield", -np.inf, r"finite, per year"),
        ("is_call", 2, r"\{True, False, 0, 1\}"),
    ],
)
def test_black_scholes__bad_field__raises_naming_field_and_range(field, value, allowed):
    args = {k: np.full(3, v, dtype=float) for k, v in dict(GOOD, rate=0.0, div_yield=0.0).items()}
    args[field][1] = value
    with pytest.raises(ValueError, match=rf"^{field}\[1\] = .* outside allowed .*{allowed}"):
        black_scholes(**args)


def test_black_scholes__mismatched_shapes__raises_naming_the_fields():
    with pytest.raises(ValueError, match=r"spot \(3,\), strike \(2,\)"):
        black_scholes(np.ones(3), np.ones(2), 86_400.0, 0.5, True)


def test_black_scholes__non_numeric__raises():
    with pytest.raises(ValueError, match=r"^vol: expected numbers"):
        black_scholes(100.0, 100.0, 86_400.0, "high", True)


def test_black76__bad_forward__raises_naming_forward():
    with pytest.raises(ValueError, match=r"^forward = -5.0 outside allowed range \(0, inf\) USD"):
        black76(-5.0, 100.0, 86_400.0, 0.5, True)
