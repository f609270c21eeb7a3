"""Scalar special functions for the numba kernels: exp, log, the normal density and CDF.

LLVM vectorises these (libm's exp and log are opaque calls to it), and each is accurate
to a few ulp: tests/risk/test_greeks.py checks them against mpmath. risk.greeks and
risk.implied_vol build on them; each is a pure function of floats.
"""

from __future__ import annotations

import math

from risk.jit import float_bits_as_int, int_bits_as_float, scalar

_LN2_HI = 6.93147180369123816490e-01  # ln 2 split so that k * _LN2_HI is exact (fdlibm)
_LN2_LO = 1.90821492927058770002e-10
_LOG2E = 1.4426950408889634
_SQRT2 = 1.4142135623730951
INV_SQRT_2PI = 0.3989422804014327
LN_SQRT_2PI = 0.9189385332046728


@scalar
def fast_exp(y: float) -> float:
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
def fast_log(x: float) -> float:
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
def mills_ratio(y: float) -> float:
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
def npdf(z: float) -> float:
    """Standard normal density n(z)."""
    return fast_exp(-0.5 * z * z) * INV_SQRT_2PI


@scalar
def ncdf_given_pdf(z: float, pdf: float) -> float:
    """N(z) from n(z): the tail n(z) m(|z|) is accurate relative to itself (no erfc
    cancellation), the upper half is 1 minus the tail."""
    tail = pdf * mills_ratio(min(abs(z), 40.0))  # n(z) has underflowed at 40; keeps inf finite
    return tail if z < 0.0 else 1.0 - tail


@scalar
def ncdf(z: float) -> float:
    """Standard normal CDF N(z), relative error < 1e-13 down to z = -37."""
    return ncdf_given_pdf(z, npdf(z))
