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

from risk.jit import (
    Kernel,
    at,
    chunk,
    jit,
    n_chunks,
    parallel_jit,
    scalar,
    whole,
)
from risk.special import fast_exp, fast_log, ncdf_given_pdf, npdf
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
        spot=spot,
        strike=strike,
        t_sec=t_sec,
        vol=vol,
        is_call=is_call,
        rate=rate,
        div_yield=div_yield,
    )
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
    return Greeks._make(rows) if second_order else Greeks._make([*rows, None, None])


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


# --- the pricing kernels ---


@scalar
def _greeks_at(
    s: float, k: float, t_sec: float, vol: float, r: float, q: float, is_call: bool
) -> tuple[float, float, float, float, float, float, float]:
    """(price, delta, gamma, vega, theta, vanna, volga) of one option (module docstring)."""
    t = t_sec * (1.0 / YEAR_SEC)
    sq = math.sqrt(t)
    sd = vol * sq
    dq = fast_exp(-q * t)
    dr = fast_exp(-r * t)
    moneyness = s / k
    d1 = (fast_log(moneyness) + (r - q) * t) / sd + 0.5 * sd
    d2 = d1 - sd
    pdf1 = npdf(d1)
    pdf2 = pdf1 * moneyness * (dq / dr)  # n(d2) = n(d1) F / K
    w = 1.0 if is_call else -1.0
    cdf1 = ncdf_given_pdf(w * d1, pdf1)  # N(w d1)
    cdf2 = ncdf_given_pdf(w * d2, pdf2)  # N(w d2)
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
