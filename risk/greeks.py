"""Black-Scholes and Black-76 prices and Greeks for arrays of options (numba, float64).

With T = t_sec / 31_536_000 (years), sd = vol sqrt(T), w = +1 for a call and -1 for a put,
rate r and the underlying's continuous yield q (dividends, staking; cost of carry r - q):

    F  = S e^((r - q) T)                       d1 = ln(F / K) / sd + sd / 2,   d2 = d1 - sd
    price = w (S e^(-qT) N(w d1) - K e^(-rT) N(w d2))   (clipped to the no-arbitrage bounds,
                                                         which only removes rounding)
    delta = w e^(-qT) N(w d1)                  gamma = e^(-qT) n(d1) / (S sd)
    vega  = S e^(-qT) n(d1) sqrt(T)            vanna = -e^(-qT) n(d1) d2 / vol
    volga = vega d1 d2 / vol
    theta = -S e^(-qT) n(d1) vol / (2 sqrt(T)) + w (q S e^(-qT) N(w d1) - r K e^(-rT) N(w d2))

Black-76 (options on a forward F) is the same with S = F and q = r: delta is dV/dF and theta
holds F fixed.

Units: spot, forward and strike in USD; vol annualised (0.6 = 60%); rates continuously
compounded per year (0.05 = 5%); time in seconds with a 365-day year, as on-chain. Prices in
USD per contract; vega, vanna and volga per 1.0 of vol (100 vol points), theta in USD per
year of calendar time (divide by 365 for a day).

Accuracy: every output is within a few 1e-12 of the exact value (relative) over the tested
domain (tests/risk/test_greeks.py compares with mpmath at 40 digits and with QuantLib). To
get there and still vectorise, the kernels use their own exp, log and normal CDF (below):
numba calls scalar libm for math.exp/log/erfc, which stops LLVM from vectorising the loop.
N(w d2) is computed from n(d2) = n(d1) F / K, so the two CDFs share one exponential and their
errors stay correlated (out-of-the-money prices cancel less).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numba
import numpy as np

from risk._jit import (
    Kernel,
    at,
    chunk,
    float_bits_as_int,
    int_bits_as_float,
    jit,
    n_chunks,
    parallel_jit,
    scalar,
    whole,
)
from risk.units import YEAR_SEC

ArrayLike = Any  # float, bool or array of them


class Greeks(NamedTuple):
    """Price and sensitivities, each an array of the inputs' shape (see the module docstring).

    vanna and volga are None when computed with ``second_order=False``.
    """

    price: np.ndarray  # USD
    delta: np.ndarray  # dV/dS (Black-76: dV/dF), per unit of underlying
    gamma: np.ndarray  # d2V/dS2, per USD
    vega: np.ndarray  # dV/dvol, USD per 1.0 vol
    theta: np.ndarray  # dV/dt (calendar), USD per year
    vanna: np.ndarray | None  # d2V/dS dvol, per 1.0 vol
    volga: np.ndarray | None  # d2V/dvol2, USD per 1.0 vol squared


def black_scholes(
    spot: ArrayLike,
    strike: ArrayLike,
    t_sec: ArrayLike,
    vol: ArrayLike,
    is_call: ArrayLike,
    rate: ArrayLike = 0.0,
    div_yield: ArrayLike = 0.0,
    *,
    second_order: bool = True,
    parallel: bool | None = None,
) -> Greeks:
    """Black-Scholes(-Merton) price and Greeks of each option.

    Formulas in the module docstring. Arguments are scalars or arrays of one common shape
    (scalars apply to every option).

    Args:
        spot: USD, > 0.
        strike: USD, > 0.
        t_sec: seconds to expiry, > 0 (365-day year).
        vol: annualised, > 0 (1.0 = 100%).
        is_call: True (or 1) for calls, False (or 0) for puts.
        rate: continuously compounded per year, finite (0.05 = 5%).
        div_yield: the underlying's continuous yield q per year, finite.
        second_order: also compute vanna and volga (else they are None).
        parallel: spread the options over threads; None decides by size.

    Returns:
        Greeks of arrays in the inputs' shape.

    Raises:
        ValueError: naming the first field that is NaN, infinite or outside its range, or
            the fields whose shapes differ.
    """
    inputs = OptionInputs.prepare(
        spot=spot, strike=strike, t_sec=t_sec, vol=vol, is_call=is_call, rate=rate,
        div_yield=div_yield,
    )  # fmt: skip
    f = inputs.fields
    return _run(inputs, f["spot"], f["rate"], f["div_yield"], second_order, parallel)


def black76(
    forward: ArrayLike,
    strike: ArrayLike,
    t_sec: ArrayLike,
    vol: ArrayLike,
    is_call: ArrayLike,
    rate: ArrayLike = 0.0,
    *,
    second_order: bool = True,
    parallel: bool | None = None,
) -> Greeks:
    """Black-76 price and Greeks of options on a forward, discounted at `rate`.

    price = w e^(-rT) (F N(w d1) - K N(w d2)), d1 = ln(F / K) / sd + sd / 2: Black-Scholes with
    S = F and q = r, so delta, gamma and vanna are with respect to F, and theta holds F fixed.

    Args:
        forward: USD, > 0.
        strike, t_sec, vol, is_call, rate, second_order, parallel: as `black_scholes`.

    Returns:
        Greeks of arrays in the inputs' shape.

    Raises:
        ValueError: as `black_scholes`.
    """
    inputs = OptionInputs.prepare(
        forward=forward, strike=strike, t_sec=t_sec, vol=vol, is_call=is_call, rate=rate
    )
    f = inputs.fields
    return _run(inputs, f["forward"], f["rate"], f["rate"], second_order, parallel)


def _run(
    inputs: OptionInputs,
    underlying: np.ndarray,
    rate: Any,
    div_yield: Any,
    second_order: bool,
    parallel: bool | None,
) -> Greeks:
    f, n = inputs.fields, inputs.size
    out = np.empty((7 if second_order else 5, n))
    loop = ALL_GREEKS if second_order else FIRST_ORDER
    loop.pick(n, parallel)(
        underlying, f["strike"], f["t_sec"], f["vol"], rate, div_yield, f["is_call"], out
    )
    rows = [row.reshape(inputs.shape) for row in out]
    return Greeks(*rows) if second_order else Greeks(*rows, None, None)


# --- input checks (shared with risk.implied_vol) ---


RANGES = {  # field: (allowed range as shown in errors, open interval (lo, hi) it must be in)
    "price": ("(0, inf) USD", (0.0, math.inf)),
    "spot": ("(0, inf) USD", (0.0, math.inf)),
    "forward": ("(0, inf) USD", (0.0, math.inf)),
    "strike": ("(0, inf) USD", (0.0, math.inf)),
    "t_sec": ("(0, inf) seconds", (0.0, math.inf)),
    "vol": ("(0, inf) (1.0 = 100%)", (0.0, math.inf)),
    "rate": ("finite, per year (0.05 = 5%)", (-math.inf, math.inf)),
    "div_yield": ("finite, per year (0.05 = 5%)", (-math.inf, math.inf)),
}
_SHARED = ("rate", "div_yield")  # passed to the kernels as scalars when they are scalars


class OptionInputs(NamedTuple):
    """Validated kernel inputs: flat contiguous arrays (scalar rates stay floats)."""

    shape: tuple[int, ...]
    size: int
    fields: dict[str, Any]

    @classmethod
    def prepare(
        cls, *, check: bool = True, scalar_rates: bool = True, **values: ArrayLike
    ) -> OptionInputs:
        """Convert, check ranges (if `check`) and flatten the fields named in RANGES/is_call.

        Scalar rates stay floats if `scalar_rates` (else they are broadcast like the rest).

        Raises:
            ValueError: a field is not numeric, NaN, infinite or outside its range (named with
                its index), or two non-scalar fields have different shapes.
        """
        arrays = {name: _as_array(name, v) for name, v in values.items()}
        shapes = {name: a.shape for name, a in arrays.items() if a.ndim > 0}
        if len(set(shapes.values())) > 1:
            listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
            raise ValueError(f"option fields must be scalars or share one shape, got {listed}")
        shape = next(iter(shapes.values()), ())
        fields: dict[str, Any] = {}
        for name, a in arrays.items():
            if check and name != "is_call":
                _check_range(name, a)
            if scalar_rates and name in _SHARED and a.ndim == 0:
                fields[name] = float(a)
            else:
                fields[name] = _flat_readonly(np.broadcast_to(a, shape))
        return cls(shape, math.prod(shape), fields)


def _flat_readonly(a: np.ndarray) -> np.ndarray:
    """A contiguous 1-D read-only view (a copy only if `a` is broadcast or strided): the kernels
    then always see one array type, so numba compiles and caches one version, not one per
    combination of writeable and read-only inputs."""
    flat = np.ascontiguousarray(a.reshape(-1)).view()
    flat.flags.writeable = False
    return flat


def _as_array(name: str, value: ArrayLike) -> np.ndarray:
    if name == "is_call":
        flags = np.asarray(value)
        if flags.dtype == bool:
            return flags
        try:
            numeric = np.asarray(flags, dtype=float)
        except (TypeError, ValueError) as e:
            raise ValueError(f"is_call: expected booleans, got {value!r:.60}") from e
        bad = ~((numeric == 0.0) | (numeric == 1.0))
        if np.any(bad):
            raise ValueError(
                f"is_call{_where(bad)} = {numeric[bad].flat[0]} outside allowed values "
                "{True, False, 0, 1}"
            )
        return numeric == 1.0
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name}: expected numbers, got {value!r:.60}") from e


def _check_range(name: str, a: np.ndarray) -> None:
    allowed, (lo, hi) = RANGES[name]
    if _all_inside(_flat_readonly(a), lo, hi):  # one vectorised pass; numpy to find the culprit
        return
    with np.errstate(invalid="ignore"):
        bad = ~((a > lo) & (a < hi))
    raise ValueError(f"{name}{_where(bad)} = {a[bad].flat[0]} outside allowed range {allowed}")


@jit
def _all_inside(a: np.ndarray, lo: float, hi: float) -> bool:
    outside = 0
    for i in range(a.shape[0]):
        outside += not (a[i] > lo and a[i] < hi)  # NaN is outside
    return outside == 0


def _where(bad: np.ndarray) -> str:
    if bad.ndim == 0:
        return ""
    index = np.argwhere(bad)[0]
    return "[" + ", ".join(str(int(i)) for i in index) + "]"


# --- math kernels: exp, log and the normal CDF that LLVM can vectorise ---

_LN2_HI = 6.93147180369123816490e-01  # ln 2 split so that k * _LN2_HI is exact (fdlibm)
_LN2_LO = 1.90821492927058770002e-10
_LOG2E = 1.4426950408889634
_SQRT2 = 1.4142135623730951
_INV_SQRT_2PI = 0.3989422804014327
_LN_SQRT_2PI = 0.9189385332046728


@scalar
def _exp(y: float) -> float:
    """e^y to ~1 ulp: y = k ln2 + r, |r| <= ln2 / 2, e^r by its Taylor series to r^13.

    2^k is built from its bits in two halves, so results between 2^-1074 and 2^-1022
    (subnormal) and overflow to inf come out right; NaN stays NaN.
    """
    yc = min(max(y, -1400.0), 1400.0)
    k = math.floor(yc * _LOG2E + 0.5)
    r = (yc - k * _LN2_HI) - k * _LN2_LO
    # e^r = even(r^2) + r odd(r^2): two short Horner chains instead of one long one (half the
    # latency where the solver calls this one value at a time; the same work vectorised)
    r2 = r * r
    even = 1.0 / 479001600.0  # 1/12!
    even = even * r2 + 1.0 / 3628800.0
    even = even * r2 + 1.0 / 40320.0
    even = even * r2 + 1.0 / 720.0
    even = even * r2 + 1.0 / 24.0
    even = even * r2 + 0.5
    even = even * r2 + 1.0
    odd = 1.0 / 6227020800.0  # 1/13!
    odd = odd * r2 + 1.0 / 39916800.0
    odd = odd * r2 + 1.0 / 362880.0
    odd = odd * r2 + 1.0 / 5040.0
    odd = odd * r2 + 1.0 / 120.0
    odd = odd * r2 + 1.0 / 6.0
    odd = odd * r2 + 1.0
    p = even + r * odd
    k1 = k >> 1  # math.floor gives an int64
    k2 = k - k1
    e = p * int_bits_as_float((k1 + 1023) << 52) * int_bits_as_float((k2 + 1023) << 52)
    return e if y == y else y


@scalar
def _log(x: float) -> float:
    """ln x to ~1 ulp for normal x > 0: x = 2^e m, m in [sqrt(1/2), sqrt(2)),
    ln m = 2 atanh(s) = 2 (s + s^3/3 + ... + s^21/21), s = (m - 1) / (m + 1), |s| < 0.172.
    """
    bits = float_bits_as_int(x)
    e = (bits >> 52) - 1023
    m = int_bits_as_float((bits & 0x000F_FFFF_FFFF_FFFF) | 0x3FF0_0000_0000_0000)  # [1, 2)
    big = m > _SQRT2
    m = m * 0.5 if big else m
    e = e + 1 if big else e
    f = m - 1.0  # exact
    s = f / (2.0 + f)
    z = s * s
    z2 = z * z
    # p = 1/3 + z/5 + ... + z^9/21 as even(z^2) + z odd(z^2): two short Horner chains
    even = 1.0 / 19.0
    even = even * z2 + 1.0 / 15.0
    even = even * z2 + 1.0 / 11.0
    even = even * z2 + 1.0 / 7.0
    even = even * z2 + 1.0 / 3.0
    odd = 1.0 / 21.0
    odd = odd * z2 + 1.0 / 17.0
    odd = odd * z2 + 1.0 / 13.0
    odd = odd * z2 + 1.0 / 9.0
    odd = odd * z2 + 1.0 / 5.0
    p = even + z * odd
    fe = float(e)
    return fe * _LN2_HI + ((2.0 * s + 2.0 * s * z * p) + fe * _LN2_LO)


@scalar
def _mills(y: float) -> float:
    """Mills ratio N(-y) / n(y) for y >= 0, as one rational P9(y) / Q10(y).

    Relative error 7e-17 in exact arithmetic on [0, 40] (a few ulp in float64); fitted for
    this module by weighted least squares on the relative error (Sanathanan-Koerner
    iteration, mpmath at 70 digits, 120 Chebyshev nodes). Q has one degree more than P, so
    the ratio tends to 1/y like the Mills ratio (2e-12 relative or better for all y > 40).
    """
    # P(y) = pe(y^2) + y po(y^2), likewise Q: four short independent Horner chains
    y2 = y * y
    pe = 9.656727159154531e-05
    pe = pe * y2 + 0.010488425660072595
    pe = pe * y2 + 0.2485115154875452
    pe = pe * y2 + 1.5001848795843042
    pe = pe * y2 + 1.2533141373155001
    po = 3.617084928791371e-06
    po = po * y2 + 0.0012640121284207529
    po = po * y2 + 0.06032491257494625
    po = po * y2 + 0.733252248523161
    po = po * y2 + 1.949948256714197
    qe = 3.6170849287989207e-06
    qe = qe * y2 + 0.0012676292135052117
    qe = qe * y2 + 0.061581690885981324
    qe = qe * y2 + 0.7910855204021063
    qe = qe * y2 + 2.5749697414561887
    qe = qe * y2 + 1.0
    qo = 9.656727158993003e-05
    qo = qo * y2 + 0.010584992922656251
    qo = qo * y2 + 0.2588067966369633
    qo = qo * y2 + 1.7286816851754714
    qo = qo * y2 + 2.3537181691995714
    return (pe + y * po) / (qe + y * qo)


@scalar
def _npdf(z: float) -> float:
    """Standard normal density n(z)."""
    return _exp(-0.5 * z * z) * _INV_SQRT_2PI


@scalar
def _ncdf_given_pdf(z: float, pdf: float) -> float:
    """N(z) from n(z): the tail n(z) m(|z|) is accurate relative to itself (no erfc
    cancellation), the upper half is 1 minus the tail."""
    tail = pdf * _mills(min(abs(z), 40.0))  # n(z) has underflowed at 40; keeps inf finite
    return tail if z < 0.0 else 1.0 - tail


@scalar
def _ncdf(z: float) -> float:
    """Standard normal CDF N(z), relative error < 1e-13 down to z = -37."""
    return _ncdf_given_pdf(z, _npdf(z))


# --- the pricing kernels ---


@scalar
def _greeks_at(
    s: float, k: float, t_sec: float, vol: float, r: float, q: float, is_call: bool
) -> tuple[float, float, float, float, float, float, float]:
    """(price, delta, gamma, vega, theta, vanna, volga) of one option (module docstring)."""
    t = t_sec * (1.0 / YEAR_SEC)
    sq = math.sqrt(t)
    sd = vol * sq
    dq = _exp(-q * t)
    dr = _exp(-r * t)
    moneyness = s / k
    d1 = (_log(moneyness) + (r - q) * t) / sd + 0.5 * sd
    d2 = d1 - sd
    pdf1 = _npdf(d1)
    pdf2 = pdf1 * moneyness * (dq / dr)  # n(d2) = n(d1) F / K
    w = 1.0 if is_call else -1.0
    cdf1 = _ncdf_given_pdf(w * d1, pdf1)  # N(w d1)
    cdf2 = _ncdf_given_pdf(w * d2, pdf2)  # N(w d2)
    s_dq = s * dq
    k_dr = k * dr
    vega = s_dq * pdf1 * sq
    # clipped to [discounted intrinsic, S e^(-qT) or K e^(-rT)]: removes rounding only
    price = w * (s_dq * cdf1 - k_dr * cdf2)
    lower = max(w * (s_dq - k_dr), 0.0)
    upper = s_dq if is_call else k_dr
    price = upper if price > upper else (price if price > lower else lower)  # -0.0 -> 0.0
    return (
        price,
        w * dq * cdf1,
        dq * pdf1 / (s * sd),
        vega,
        -0.5 * s_dq * pdf1 * vol / sq + w * (q * s_dq * cdf1 - r * k_dr * cdf2),
        -dq * pdf1 * d2 / vol,
        vega * d1 * d2 / vol,
    )


# Two loops rather than one with an `if` on the output rows: the branch stops LLVM from
# vectorising (3x slower); unused vanna and volga are dropped as dead code.


@jit
def _first_order_loop(
    start: Any,  # uint64 bounds: options start..stop-1
    stop: Any,
    s: np.ndarray,  # (n,) spot or forward
    k: np.ndarray,  # (n,) strike
    t_sec: np.ndarray,  # (n,)
    vol: np.ndarray,  # (n,)
    rate: Any,  # float or (n,)
    div_yield: Any,  # float or (n,)
    is_call: np.ndarray,  # (n,) bool
    out: np.ndarray,  # (5, n): price, delta, gamma, vega, theta
) -> None:
    for i in range(start, stop):
        g = _greeks_at(s[i], k[i], t_sec[i], vol[i], at(rate, i), at(div_yield, i), is_call[i])
        out[0, i] = g[0]
        out[1, i] = g[1]
        out[2, i] = g[2]
        out[3, i] = g[3]
        out[4, i] = g[4]


@jit
def _all_greeks_loop(start, stop, s, k, t_sec, vol, rate, div_yield, is_call, out):  # type: ignore[no-untyped-def]
    """As `_first_order_loop`, out (7, n): price, delta, gamma, vega, theta, vanna, volga."""
    for i in range(start, stop):
        g = _greeks_at(s[i], k[i], t_sec[i], vol[i], at(rate, i), at(div_yield, i), is_call[i])
        out[0, i] = g[0]
        out[1, i] = g[1]
        out[2, i] = g[2]
        out[3, i] = g[3]
        out[4, i] = g[4]
        out[5, i] = g[5]
        out[6, i] = g[6]


@jit
def _first_order_serial(s, k, t_sec, vol, rate, div_yield, is_call, out):  # type: ignore[no-untyped-def]
    lo, hi = whole(s.shape[0])
    _first_order_loop(lo, hi, s, k, t_sec, vol, rate, div_yield, is_call, out)


@parallel_jit
def _first_order_parallel(s, k, t_sec, vol, rate, div_yield, is_call, out):  # type: ignore[no-untyped-def]
    for c in numba.prange(n_chunks(s.shape[0])):
        lo, hi = chunk(c, s.shape[0])
        _first_order_loop(lo, hi, s, k, t_sec, vol, rate, div_yield, is_call, out)


@jit
def _all_greeks_serial(s, k, t_sec, vol, rate, div_yield, is_call, out):  # type: ignore[no-untyped-def]
    lo, hi = whole(s.shape[0])
    _all_greeks_loop(lo, hi, s, k, t_sec, vol, rate, div_yield, is_call, out)


@parallel_jit
def _all_greeks_parallel(s, k, t_sec, vol, rate, div_yield, is_call, out):  # type: ignore[no-untyped-def]
    for c in numba.prange(n_chunks(s.shape[0])):
        lo, hi = chunk(c, s.shape[0])
        _all_greeks_loop(lo, hi, s, k, t_sec, vol, rate, div_yield, is_call, out)


FIRST_ORDER = Kernel(_first_order_serial, _first_order_parallel)
ALL_GREEKS = Kernel(_all_greeks_serial, _all_greeks_parallel)
