"""Implied volatility of arrays of option prices: Black-Scholes and Black-76, numba.

Each price is reduced to Jaeckel's normalised form: with F = S e^((r - q) T), the price is
undiscounted, an in-the-money option is swapped for its out-of-the-money twin by parity
(its time value), and

    x = -|ln(F / K)| <= 0,   beta = time value / sqrt(F K),   s = vol sqrt(T)
    b(s) = e^(x/2) N(x/s + s/2) - e^(-x/2) N(x/s - s/2),   0 < beta < b_max = e^(x/2)

b rises from 0 to b_max with one inflection at s_c = sqrt(2 |x|) (b convex below it, concave
above). The solver picks the objective that is nearly linear on the root's side of s_c:

    beta < b(s_c):   f(s) = 1 / sqrt(-2 ln b(s)) - 1 / sqrt(-2 ln beta)
                     (ln b ~ -x^2 / (2 s^2) for small s, so f ~ (s - s*) / |x|; ln b is
                     computed as x/2 + ln n(d1) + ln(m(-d1) - m(-d2)), m the Mills ratio:
                     no underflow and no cancellation, so prices down to 1e-300 solve)
    otherwise:       f(s) = ln(b_max - beta) - ln(b_max - b(s))
                     (b_max - b = e^(x/2) N(-d1) + e^(-x/2) N(d2), computed without cancelling)

It starts from an explicit guess (below s_c: u = 1 / sqrt(-2 ln b) interpolated linearly
between s = 0 and s_c, or far below b(s_c) the small-s asymptote of ln b; above s_c: the
tangent at s_c, Brenner-Subrahmanyam at the money) and takes Halley steps (Newton's where
Halley's correction factor is outside [0.5, 1.5]) inside a bracket that every evaluation
tightens; a step that would leave the bracket, or a NaN, bisects instead. It stops when a
step is below 1e-6 of s (Halley's error after such a step is of order its cube, 1e-18):
2.8 evaluations on average, at most 9 in the tests. The first four steps run for all options
at once without branches, so that they vectorise (see the kernels below).

A price that no volatility reproduces gives NaN and a status instead of a number:

    0 OK, 1 BELOW_INTRINSIC (at, below or within rounding of the discounted intrinsic
    value: no time value left), 2 ABOVE_UPPER_BOUND (at, above or within rounding of
    S e^(-qT) for a call, K e^(-rT) for a put),
    3 BAD_INPUT (only with errors="flag"; NaN, infinite or non-positive fields),
    4 NO_CONVERGENCE (not seen in tests; kept so that a failure is never a wrong number).

Units as risk.greeks: USD, seconds to expiry (365-day year), vol annualised (0.6 = 60%).
"""

from __future__ import annotations

import math
from enum import IntEnum
from typing import Any, Literal, NamedTuple

import numba
import numpy as np

from risk.greeks import ArrayLike, OptionInputs
from risk.jit import Kernel, at, chunk, jit, n_chunks, parallel_jit, scalar
from risk.special import INV_SQRT_2PI, LN_SQRT_2PI, fast_exp, fast_log, mills_ratio, npdf
from risk.units import YEAR_SEC

MAX_ITERATIONS = 32
_SQRT_2PI = 2.5066282746310002
_ROUNDING = 8.0 * 2.220446049250313e-16  # relative error of F, K and the undiscounting
_TOLERANCE = 1e-6  # stop after a Halley step below this fraction of s (error ~ step^3)


class IVStatus(IntEnum):
    """Why a volatility is NaN (the int8 codes of `ImpliedVol.status`)."""

    OK = 0
    BELOW_INTRINSIC = 1
    ABOVE_UPPER_BOUND = 2
    BAD_INPUT = 3
    NO_CONVERGENCE = 4


class ImpliedVol(NamedTuple):
    """Implied volatilities and, per option, why one is missing."""

    vol: np.ndarray  # annualised (1.0 = 100%), NaN where status != OK
    status: np.ndarray  # int8 IVStatus codes
    iterations: np.ndarray  # int8 objective evaluations (0 if rejected before solving)


def implied_vol(
    price: ArrayLike,
    spot: ArrayLike,
    strike: ArrayLike,
    t_sec: ArrayLike,
    is_call: ArrayLike,
    rate: ArrayLike = 0.0,
    div_yield: ArrayLike = 0.0,
    *,
    errors: Literal["raise", "flag"] = "raise",
    parallel: bool | None = None,
) -> ImpliedVol:
    """Black-Scholes implied volatility: the vol at which `risk.greeks.black_scholes` gives
    `price`, or NaN with a status when no vol does (see the module docstring).

    Arguments are scalars or arrays of one common shape.

    Args:
        price: option price in USD, > 0.
        spot: USD, > 0.
        strike: USD, > 0.
        t_sec: seconds to expiry, > 0.
        is_call: True (or 1) for calls.
        rate: continuously compounded per year, finite.
        div_yield: the underlying's continuous yield per year, finite.
        errors: "raise" checks every field first; "flag" skips the checks and marks options
            with NaN, infinite or non-positive fields as BAD_INPUT (status 3) instead.
        parallel: spread the options over threads; None decides by size.

    Returns:
        ImpliedVol of arrays in the inputs' shape.

    Raises:
        ValueError: (errors="raise") naming the first field that is NaN, infinite or outside
            its range; (always) fields of different shapes or non-numeric values.
    """
    inputs = OptionInputs.prepare(
        check=_check(errors),
        scalar_rates=False,  # one compiled kernel; costs nothing here
        price=price,
        spot=spot,
        strike=strike,
        t_sec=t_sec,
        is_call=is_call,
        rate=rate,
        div_yield=div_yield,
    )
    f = inputs.fields
    return _run(inputs, f["spot"], f["rate"], f["div_yield"], parallel)


def implied_vol_black76(
    price: ArrayLike,
    forward: ArrayLike,
    strike: ArrayLike,
    t_sec: ArrayLike,
    is_call: ArrayLike,
    rate: ArrayLike = 0.0,
    *,
    errors: Literal["raise", "flag"] = "raise",
    parallel: bool | None = None,
) -> ImpliedVol:
    """Black-76 implied volatility of options on a forward (`risk.greeks.black76` inverted).

    Args:
        price: option price in USD, > 0.
        forward: USD, > 0.
        strike, t_sec, is_call, rate, errors, parallel: as `implied_vol`.

    Returns:
        ImpliedVol of arrays in the inputs' shape.

    Raises:
        ValueError: as `implied_vol`.
    """
    inputs = OptionInputs.prepare(
        check=_check(errors),
        scalar_rates=False,
        price=price,
        forward=forward,
        strike=strike,
        t_sec=t_sec,
        is_call=is_call,
        rate=rate,
    )
    f = inputs.fields
    return _run(inputs, f["forward"], f["rate"], f["rate"], parallel)


def _check(errors: str) -> bool:
    if errors not in ("raise", "flag"):
        raise ValueError(f"errors = {errors!r} outside allowed values {{'raise', 'flag'}}")
    return errors == "raise"


def _run(
    inputs: OptionInputs, underlying: np.ndarray, rate: Any, div_yield: Any, parallel: bool | None
) -> ImpliedVol:
    f, n = inputs.fields, inputs.size
    vol = np.empty(n)
    status = np.empty(n, dtype=np.int8)
    iterations = np.empty(n, dtype=np.int8)
    IMPLIED_VOL.pick(n, parallel)(
        f["price"],
        underlying,
        f["strike"],
        f["t_sec"],
        rate,
        div_yield,
        f["is_call"],
        vol,
        status,
        iterations,
    )
    return ImpliedVol(*(a.reshape(inputs.shape) for a in (vol, status, iterations)))


# --- kernels ---
# Each chunk of options goes through passes that are plain loops over the options, so that
# LLVM vectorises them: the reduction and first guess, then four safeguarded Halley steps
# (an option that has converged stops moving), then a last pass that solves the few left
# (0.1% of a realistic book) with the bracketed loop, which exits when it converges.
# (Unrolling the four steps into one loop body instead compiles ~4x slower.)


@jit
def _implied_vol_loop(  # type: ignore[no-untyped-def]
    start, stop, price, s, k, t_sec, rate, div_yield, is_call, vol, status, iterations
):
    """Options start..stop-1 (uint64 bounds); vol, status and iterations are written."""
    m = stop - start
    x, b_max, target = np.empty(m), np.empty(m), np.empty(m)  # the normalised problem
    sd, lo, hi = np.empty(m), np.empty(m), np.empty(m)  # the iterate and its bracket
    lower = np.empty(m, dtype=np.bool_)
    done = np.zeros(m, dtype=np.bool_)
    steps = np.zeros(m, dtype=np.int64)
    for j in range(m):
        i = start + j
        code, x[j], beta, b_max[j] = _normalise(
            price[i], s[i], k[i], t_sec[i], at(rate, i), at(div_yield, i), is_call[i]
        )
        status[i] = code
        lower[j], target[j], sd[j], lo[j], hi[j] = _start(x[j], beta, b_max[j])
    for _ in range(4):
        for j in range(m):
            sd[j], lo[j], hi[j], done[j], steps[j] = _frozen_step(
                x[j], sd[j], lower[j], target[j], b_max[j], lo[j], hi[j], done[j], steps[j]
            )
    for j in range(m):
        i = start + j
        if status[i] != IVStatus.OK:
            vol[i] = math.nan
            iterations[i] = 0
            continue
        if not done[j]:
            sd[j], extra = _finish(x[j], b_max[j], lower[j], target[j], sd[j], lo[j], hi[j])
            steps[j] += extra
            if not 0.0 < sd[j] < math.inf:
                status[i] = IVStatus.NO_CONVERGENCE
        vol[i] = sd[j] / math.sqrt(t_sec[i] * (1.0 / YEAR_SEC))
        iterations[i] = steps[j]


@jit
def _implied_vol_serial(  # type: ignore[no-untyped-def]
    price, s, k, t_sec, rate, div_yield, is_call, vol, status, iterations
):
    n = price.shape[0]
    for c in range(n_chunks(n)):  # in chunks too: bounded scratch memory
        lo, hi = chunk(c, n)
        _implied_vol_loop(
            lo, hi, price, s, k, t_sec, rate, div_yield, is_call, vol, status, iterations
        )


@parallel_jit
def _implied_vol_parallel(  # type: ignore[no-untyped-def]
    price, s, k, t_sec, rate, div_yield, is_call, vol, status, iterations
):
    n = price.shape[0]
    for c in numba.prange(n_chunks(n)):
        lo, hi = chunk(c, n)
        _implied_vol_loop(
            lo, hi, price, s, k, t_sec, rate, div_yield, is_call, vol, status, iterations
        )


IMPLIED_VOL = Kernel(_implied_vol_serial, _implied_vol_parallel)


@scalar
def _normalise(
    price: float, s: float, k: float, t_sec: float, r: float, q: float, is_call: bool
) -> tuple[int, float, float, float]:
    """(status, x, beta, b_max) of one option (module docstring), without branches.

    Options outside the bounds get their status and harmless stand-ins for x, beta, b_max.
    """
    inf = math.inf
    good = (
        (0.0 < price)
        & (price < inf)
        & (0.0 < s)
        & (s < inf)
        & (0.0 < k)
        & (k < inf)
        & (0.0 < t_sec)
        & (t_sec < inf)
        & (-inf < r)
        & (r < inf)
        & (-inf < q)
        & (q < inf)
    )
    t = t_sec * (1.0 / YEAR_SEC)
    dr = fast_exp(-r * t)
    forward = s * (fast_exp(-q * t) / dr)
    undiscounted = price / dr
    w = 1.0 if is_call else -1.0
    intrinsic = max(w * (forward - k), 0.0)
    upper = forward if is_call else k
    # a gap to either bound within the rounding of forward and strike carries no information
    noise = _ROUNDING * (forward + k)
    below = not (undiscounted - intrinsic > (noise if intrinsic > 0.0 else 0.0))
    x = -abs(fast_log(s / k) + (r - q) * t)
    b_max = math.sqrt(min(forward, k) / max(forward, k))  # e^(x/2)
    beta = (undiscounted - intrinsic) / math.sqrt(forward * k)  # OTM twin, normalised
    above = (not (upper - undiscounted > noise)) | (not (beta < b_max))
    code = (
        IVStatus.BAD_INPUT
        if not good
        else IVStatus.BELOW_INTRINSIC
        if below
        else IVStatus.ABOVE_UPPER_BOUND
        if above
        else IVStatus.OK
    )
    ok = code == IVStatus.OK
    return code, (x if ok else -1.0), (beta if ok else 0.1), (b_max if ok else 0.6)


@scalar
def _start(x: float, beta: float, b_max: float) -> tuple[bool, float, float, float, float]:
    """(lower, target, first s, bracket lo, bracket hi) for b(x, s) = beta (module docstring)."""
    s_c = math.sqrt(-2.0 * x)
    b_c = b_max * (0.5 - INV_SQRT_2PI * mills_ratio(s_c))  # b(s_c): d1 = 0, m(0) n(0) = 1/2
    lower = beta < b_c
    ln_beta = fast_log(beta)
    u_beta = 1.0 / math.sqrt(-2.0 * ln_beta)
    target = u_beta if lower else fast_log(b_max - beta)
    # below s_c: u = 1 / sqrt(-2 ln b) runs almost straight from (0, 0) to (s_c, u(s_c)), so
    # interpolate it; far below b(s_c) the small-s asymptote of ln b,
    # ln b ~ -x^2 / (2 s^2) + 3 ln s - 2 ln|x| - ln sqrt(2 pi), solved by two fixed-point
    # steps, is closer (kept if it stays below s_c)
    s_line = s_c * u_beta * math.sqrt(-2.0 * fast_log(b_c))
    c = 2.0 * fast_log(-x) + LN_SQRT_2PI + ln_beta
    a = -x / math.sqrt(-2.0 * ln_beta)
    g = 3.0 * fast_log(a) - c
    a = -x / math.sqrt(2.0 * g) if g > 0.0 else a
    g = 3.0 * fast_log(a) - c
    a = -x / math.sqrt(2.0 * g) if g > 0.0 else a
    s_low = a if (beta < 1e-3 * b_c) & (a < s_c) else s_line
    # above s_c: the tangent at s_c, b'(s_c) = b_max n(0); b is concave there, so this is
    # <= the root (at the money it is Brenner-Subrahmanyam's s = sqrt(2 pi) beta)
    s_up = s_c + (beta - b_c) * _SQRT_2PI / b_max
    if lower:
        return True, target, s_low, 0.0, s_c
    return False, target, s_up, s_c, math.inf


@scalar
def _objective(
    x: float, s: float, lower: bool, target: float, b_max: float
) -> tuple[float, float, float]:
    """(f, f', f'') at s of the lower objective 1 / sqrt(-2 ln b) - target or the upper one
    target - ln(b_max - b) (module docstring); both increase with s. Both share the two
    Mills ratios and one log, and are computed without branches (selects only)."""
    d1 = x / s + 0.5 * s
    d2 = d1 - s
    curvature = x * x / (s * s * s) - 0.25 * s  # b'' / b' = -d1 d1'(s)
    m1 = mills_ratio(abs(d1))
    m2 = mills_ratio(abs(d2))
    pdf1 = npdf(d1)
    tail1 = pdf1 * m1  # N(-|d1|)
    tail2 = pdf1 * b_max * b_max * m2  # N(-|d2|), as n(d2) = n(d1) e^x
    # lower (d2 < d1 <= 0): b = e^(x/2) n(d1) (m(-d1) - m(-d2)), so ln b without underflow
    # upper: b_max - b = b_max N(-d1) + N(d2) / b_max, a sum of positive terms
    dm = m1 - m2
    n_minus_d1 = tail1 if d1 > 0.0 else 1.0 - tail1
    n_d2 = tail2 if d2 < 0.0 else 1.0 - tail2
    gap = b_max * n_minus_d1 + n_d2 / b_max
    ln_value = fast_log(dm if lower else gap)
    # lower: u = 1 / sqrt(-2 ln b), u' = (ln b)' u^3, u'' = (ln b)'' u^3 + 3 (ln b)'^2 u^5
    ln_b = 0.5 * x - 0.5 * d1 * d1 - LN_SQRT_2PI + ln_value
    dl = 1.0 / dm  # (ln b)' = b' / b
    u = 1.0 / math.sqrt(-2.0 * ln_b)
    u3 = u * u * u
    # upper: g = -ln(b_max - b), g' = b' / (b_max - b), g'' = g' b''/b' + g'^2
    dg = b_max * pdf1 / gap
    if lower:
        return u - target, dl * u3, (dl * curvature - dl * dl) * u3 + 3.0 * dl * dl * u3 * u * u
    return target - ln_value, dg, dg * curvature + dg * dg


@scalar
def _halley(
    s: float, f: float, df: float, d2f: float, lo: float, hi: float
) -> tuple[float, float, float, bool]:
    """One safeguarded step: (next s, lo, hi, converged). Halley's step, or Newton's where
    Halley's correction factor is outside [0.5, 1.5]; a step leaving the bracket (or NaN)
    bisects. Converged: the step is below _TOLERANCE of s (or f is exactly 0)."""
    hi = s if f > 0.0 else hi
    lo = s if f < 0.0 else lo
    step = f / df
    halley = 1.0 - 0.5 * step * d2f / df
    step = step / halley if (0.5 <= halley) & (halley <= 1.5) else step
    converged = ((abs(step) <= _TOLERANCE * s) & (0.0 < df) & (df < math.inf)) | (f == 0.0)
    s_new = s - step if f != 0.0 else s
    if converged:
        return s_new, lo, hi, True
    inside = (lo < s_new) & (s_new < hi)
    bisect = 0.5 * (lo + hi) if hi < math.inf else 2.0 * s
    return (s_new if inside else bisect), lo, hi, False


@scalar
def _frozen_step(  # type: ignore[no-untyped-def]
    x, s, lower, target, b_max, lo, hi, done, steps
):
    """`_halley` after an evaluation of `_objective`; once done, s stays where it is."""
    f, df, d2f = _objective(x, s, lower, target, b_max)
    s_new, lo_new, hi_new, converged = _halley(s, f, df, d2f, lo, hi)
    if done:
        return s, lo, hi, True, steps
    return s_new, lo_new, hi_new, converged, steps + 1


@jit  # not inlined: compiled once, used only by the last pass
def _finish(  # type: ignore[no-untyped-def]
    x, b_max, lower, target, s, lo, hi
):
    """Continue the safeguarded Halley steps from s in the bracket (lo, hi), up to
    MAX_ITERATIONS more: (s, evaluations), s NaN if it does not converge."""
    for step in range(1, MAX_ITERATIONS + 1):
        f, df, d2f = _objective(x, s, lower, target, b_max)
        s, lo, hi, converged = _halley(s, f, df, d2f, lo, hi)
        if converged:
            return s, step
    return math.nan, MAX_ITERATIONS
