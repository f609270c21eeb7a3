# pragma version 0.4.3
"""
@title fixed_math
@notice Pure fixed-point math on 1e18 = 1.0 ("WAD"): exp, ln, sqrt, pow and
        the standard normal density and distribution function.
@dev Assumptions and hazards:
     - Storage-free: every function is @internal @pure. Import the module with
       `from . import fixed_math` (or `from ..modules import fixed_math`) and
       call `fixed_math._exp_wad(x)`; no `initializes:` is needed.
     - Inputs and outputs are WAD unless a comment says otherwise. Polynomial
       work is done at 1e27 = 1.0 ("RAY") so that rounding stays below 1 wei
       of the WAD result.
     - Rounding: results are truncated, so each function is off by at most a
       few wei (relative ~1e-17 for exp/ln, absolute < 1e-17 for ncdf).
     - Checked arithmetic everywhere except inside the polynomial kernels,
       which use unsafe_* builtins; each such block states the operand bounds
       that make it safe. Change those bounds (or the clamps feeding them)
       only together with the comment.
     - _exp_wad returns 0 below -42e18 (true value < 0.006 wei) and reverts
       above 130e18 (e^130 * 1e18 ~ 2.9e74 < 2**255).
     - _ncdf uses W. J. Cody's rational Chebyshev approximations for the
       normal distribution ("Rational Chebyshev approximations for the error
       function", Math. Comp. 1969; ACM TOMS algorithm 715, 1993), which are
       good to ~18 significant digits; the coefficients are the published
       ones, scaled to RAY. N(x) is clamped to 0 / 1e18 for |x| >= 10, where
       N(-10) = 7.6e-24 is below 1 wei anyway.
"""

# --- scales ---
WAD: constant(uint256) = 10**18  # 1e18 = 1.0
RAY: constant(uint256) = 10**27  # 1e27 = 1.0, internal precision
I_WAD: constant(int256) = 10**18
I_RAY: constant(int256) = 10**27
WAD_TO_RAY: constant(int256) = 10**9

# --- constants (rounded to nearest in their scale) ---
LN2_RAY: constant(int256) = 693_147_180_559_945_309_417_232_121  # ln 2, RAY
LN_1E18_RAY: constant(int256) = 41_446_531_673_892_822_312_323_846_184  # ln(1e18) = 18 ln 10, RAY
SQRT2_RAY: constant(uint256) = 1_414_213_562_373_095_048_801_688_724  # sqrt 2, RAY
INV_SQRT_2PI_WAD: constant(uint256) = 398_942_280_401_432_678  # 1/sqrt(2 pi), WAD
INV_SQRT_2PI_RAY: constant(int256) = 398_942_280_401_432_677_939_946_060  # 1/sqrt(2 pi), RAY

# --- exp domain ---
EXP_MIN_WAD: constant(int256) = -42 * 10**18  # e^-42 * 1e18 = 0.006 wei: result 0 at or below
EXP_MAX_WAD: constant(int256) = 130 * 10**18  # e^130 * 1e18 = 2.9e74: revert above

# --- normal cdf (Cody) ---
NCDF_CLAMP_WAD: constant(int256) = 10 * 10**18  # |x| >= 10: N(x) is 0 or 1 to within 1e-23
NCDF_CENTER_WAD: constant(int256) = 662_910_000_000_000_000  # 0.66291, end of the centre fit
NCDF_MID_WAD: constant(int256) = 5_656_854_249_492_380_195  # sqrt(32), end of the middle fit

# Centre, |x| <= 0.66291, z = x^2:
#   N(x) = 1/2 + x * P(z) / Q(z), P and Q coefficients by power of z, RAY.
CEN_P0: constant(int256) = 18_154_981_253_343_561_249_000_000_000_000
CEN_P1: constant(int256) = 1_067_689_485_460_370_958_200_000_000_000
CEN_P2: constant(int256) = 161_028_231_068_555_878_810_000_000_000
CEN_P3: constant(int256) = 2_235_252_035_460_683_928_700_000_000
CEN_P4: constant(int256) = 65_682_337_918_207_449_113_000_000
CEN_Q0: constant(int256) = 45_507_789_335_026_729_956_000_000_000_000
CEN_Q1: constant(int256) = 10_260_932_208_618_978_205_000_000_000_000
CEN_Q2: constant(int256) = 976_098_551_737_776_693_220_000_000_000
CEN_Q3: constant(int256) = 47_202_581_904_688_241_870_000_000_000
# CEN_Q4 = 1

# Middle, 0.66291 < y = |x| <= sqrt(32):
#   N(-y) = e^(-y^2/2) * P(y) / Q(y), coefficients by power of y, RAY.
MID_P0: constant(int256) = 9_842_714_838_383_978_021_800_000_000_000
MID_P1: constant(int256) = 11_602_651_437_647_350_124_000_000_000_000
MID_P2: constant(int256) = 6_848_190_450_536_282_332_600_000_000_000
MID_P3: constant(int256) = 2_494_537_585_290_372_671_100_000_000_000
MID_P4: constant(int256) = 597_270_276_394_800_262_260_000_000_000
MID_P5: constant(int256) = 93_506_656_132_177_855_979_000_000_000
MID_P6: constant(int256) = 8_883_149_794_388_375_941_200_000_000
MID_P7: constant(int256) = 398_941_512_088_134_667_640_000_000
MID_P8: constant(int256) = 10_765_576_773_720_192_317
MID_Q0: constant(int256) = 19_685_429_676_859_990_727_000_000_000_000
MID_Q1: constant(int256) = 38_912_003_286_093_271_411_000_000_000_000
MID_Q2: constant(int256) = 34_900_952_721_145_977_266_000_000_000_000
MID_Q3: constant(int256) = 18_615_571_640_885_098_091_000_000_000_000
MID_Q4: constant(int256) = 6_485_558_298_266_760_755_000_000_000_000
MID_Q5: constant(int256) = 1_519_377_599_407_554_805_000_000_000_000
MID_Q6: constant(int256) = 235_387_901_782_624_998_610_000_000_000
MID_Q7: constant(int256) = 22_266_688_044_328_115_691_000_000_000
# MID_Q8 = 1

# Tail, sqrt(32) < y = |x| < 10, z = 1/y^2:
#   N(-y) = e^(-y^2/2) * (1/sqrt(2 pi) - z * P(z) / Q(z)) / y, coefficients by power of z, RAY.
TAIL_P0: constant(int256) = 29_112_874_951_168_792_000_000
TAIL_P1: constant(int256) = 1_421_619_193_227_893_466_000_000
TAIL_P2: constant(int256) = 22_235_277_870_649_807_000_000_000
TAIL_P3: constant(int256) = 127_401_161_160_247_363_900_000_000
TAIL_P4: constant(int256) = 215_898_534_057_956_990_000_000_000
TAIL_P5: constant(int256) = 23_073_441_764_940_173_030_000_000
TAIL_Q0: constant(int256) = 72_975_155_508_396_620_500_000
TAIL_Q1: constant(int256) = 3_782_396_332_027_582_440_000_000
TAIL_Q2: constant(int256) = 65_988_137_868_928_551_500_000_000
TAIL_Q3: constant(int256) = 468_238_212_480_865_118_000_000_000
TAIL_Q4: constant(int256) = 1_284_260_096_144_911_210_000_000_000
# TAIL_Q5 = 1


# --- exp ---


@internal
@pure
def _exp_wad(x: int256) -> uint256:
    """
    @notice e^x.
    @param x Exponent, WAD.
    @return e^x, WAD; 0 for x <= -42e18; reverts above 130e18.
    """
    if x <= EXP_MIN_WAD:
        return 0
    assert x <= EXP_MAX_WAD, "math: exp overflow"

    # Range reduction: x = k ln2 + r with k = round(x / ln2), |r| <= ln2 / 2,
    # so e^x = 2^k e^r. Done at RAY so k ln2 carries no WAD rounding.
    # Unchecked: -42e27 < x_ray <= 130e27, -61 <= k <= 188, |k ln2| < 1.4e29.
    x_ray: int256 = unsafe_mul(x, WAD_TO_RAY)  # RAY
    k: int256 = 0
    if x_ray >= 0:
        k = unsafe_div(unsafe_add(x_ray, LN2_RAY // 2), LN2_RAY)  # 0 <= k <= 188
    else:
        k = -unsafe_div(unsafe_sub(LN2_RAY // 2, x_ray), LN2_RAY)  # -61 <= k <= 0
    r: int256 = unsafe_sub(x_ray, unsafe_mul(k, LN2_RAY))  # RAY, |r| <= 0.3466e27

    # Pade [6/6]: e^r = (E + O) / (E - O), relative error < 2e-19 for |r| <= ln2/2, with
    #   E = 665280 + 75600 r^2 + 840 r^4 + r^6      (even part)
    #   O = r (332640 + 10080 r^2 + 42 r^4)         (odd part)
    # Bounds: |r| < 0.35e27, r2 < 0.13e27, E < 6.8e32, |O| < 1.2e32, so every
    # product below is < 1e61 and E - O > 5e32 > 0.
    r2: int256 = unsafe_div(unsafe_mul(r, r), I_RAY)
    e: int256 = unsafe_add(r2, 840 * I_RAY)
    e = unsafe_add(unsafe_div(unsafe_mul(e, r2), I_RAY), 75_600 * I_RAY)
    e = unsafe_add(unsafe_div(unsafe_mul(e, r2), I_RAY), 665_280 * I_RAY)
    o: int256 = unsafe_add(unsafe_mul(r2, 42), 10_080 * I_RAY)
    o = unsafe_add(unsafe_div(unsafe_mul(o, r2), I_RAY), 332_640 * I_RAY)
    o = unsafe_div(unsafe_mul(o, r), I_RAY)

    # e^r in WAD, between 0.70e18 and 1.42e18; (E + O) * 1e18 < 1e51.
    er: uint256 = convert(
        unsafe_div(unsafe_mul(unsafe_add(e, o), I_WAD), unsafe_sub(e, o)), uint256
    )
    if k >= 0:
        return er << convert(k, uint256)  # < 1.42e18 * 2^188 < 2^250
    return er >> convert(-k, uint256)


# --- ln ---


@internal
@pure
def _ln_wad(x: uint256) -> int256:
    """
    @notice Natural logarithm.
    @param x Argument, WAD, > 0.
    @return ln(x), WAD (between -41.45e18 and 135.3e18); reverts for x == 0.
    """
    assert x != 0, "math: ln of zero"

    # b = floor(log2 x) by binary search, so x = 2^b * m with m in [1, 2).
    b: uint256 = 0
    y: uint256 = x
    if y >= 2**128:
        y = y >> 128
        b = 128
    if y >= 2**64:
        y = y >> 64
        b = b | 64
    if y >= 2**32:
        y = y >> 32
        b = b | 32
    if y >= 2**16:
        y = y >> 16
        b = b | 16
    if y >= 2**8:
        y = y >> 8
        b = b | 8
    if y >= 2**4:
        y = y >> 4
        b = b | 4
    if y >= 2**2:
        y = y >> 2
        b = b | 2
    if y >= 2:
        b = b | 1

    # m in RAY: shift x so its top bit is bit 255, keep the top 128 bits
    # (m with 127 fractional bits), scale by 1e27: < 2^128 * 1e27 < 2^218.
    m: uint256 = (((x << (255 - b)) >> 128) * RAY) >> 127
    # Recentre m into [1/sqrt2, sqrt2) so that |s| below is <= 0.1716.
    if m > SQRT2_RAY:
        m = m // 2
        b += 1

    # ln m = 2 atanh(s) = 2 s (1 + z/3 + z^2/5 + ... + z^10/21) with s = (m - 1) / (m + 1),
    # z = s^2 <= 0.0295; the first dropped term is < 3e-19.
    # Bounds: |s| < 0.18e27, z < 0.03e27, the sum p < 1.02e27: products < 1e55.
    s: int256 = convert(m, int256) - I_RAY
    s = unsafe_div(unsafe_mul(s, I_RAY), unsafe_add(s, 2 * I_RAY))
    z: int256 = unsafe_div(unsafe_mul(s, s), I_RAY)
    p: int256 = I_RAY // 21
    p = unsafe_add(unsafe_div(unsafe_mul(p, z), I_RAY), I_RAY // 19)
    p = unsafe_add(unsafe_div(unsafe_mul(p, z), I_RAY), I_RAY // 17)
    p = unsafe_add(unsafe_div(unsafe_mul(p, z), I_RAY), I_RAY // 15)
    p = unsafe_add(unsafe_div(unsafe_mul(p, z), I_RAY), I_RAY // 13)
    p = unsafe_add(unsafe_div(unsafe_mul(p, z), I_RAY), I_RAY // 11)
    p = unsafe_add(unsafe_div(unsafe_mul(p, z), I_RAY), I_RAY // 9)
    p = unsafe_add(unsafe_div(unsafe_mul(p, z), I_RAY), I_RAY // 7)
    p = unsafe_add(unsafe_div(unsafe_mul(p, z), I_RAY), I_RAY // 5)
    p = unsafe_add(unsafe_div(unsafe_mul(p, z), I_RAY), I_RAY // 3)
    p = unsafe_add(unsafe_div(unsafe_mul(p, z), I_RAY), I_RAY)
    ln_m: int256 = unsafe_div(unsafe_mul(2 * s, p), I_RAY)  # RAY, |ln_m| <= 0.35e27

    # ln(x / 1e18) = b ln2 + ln m - ln(1e18), at RAY, then truncated to WAD.
    return (convert(b, int256) * LN2_RAY + ln_m - LN_1E18_RAY) // WAD_TO_RAY


# --- sqrt, pow ---


@internal
@pure
def _sqrt_wad(x: uint256) -> uint256:
    """
    @notice Square root.
    @param x Argument, WAD.
    @return sqrt(x), WAD, rounded down.
    """
    # sqrt(x / 1e18) * 1e18 = sqrt(x * 1e18)
    if x <= max_value(uint256) // WAD:
        return isqrt(x * WAD)
    return isqrt(x) * 10**9  # only for x > 1.1e59: loses the low 9 digits


@internal
@pure
def _pow_wad(x: uint256, y: int256) -> uint256:
    """
    @notice x^y for x > 0, e.g. tenor scaling (T_ref / T)^p.
    @param x Base, WAD, > 0 (reverts "math: ln of zero" for 0).
    @param y Exponent, WAD, may be negative.
    @return x^y = e^(y ln x), WAD; reverts "math: exp overflow" if y ln x > 130.
    @dev Relative error ~1e-18 * |y ln x| plus the exp error.
    """
    # y * ln(x): |ln x| <= 135.3e18, so |y| up to ~4e56 before the product overflows.
    return self._exp_wad(self._ln_wad(x) * y // I_WAD)


# --- normal distribution ---


@internal
@pure
def _npdf(x: int256) -> uint256:
    """
    @notice Standard normal density n(x) = e^(-x^2/2) / sqrt(2 pi).
    @param x Argument, WAD.
    @return n(x), WAD; 0 for |x| >= 10 (n(10) = 7.7e-23).
    """
    ax: int256 = abs(x)
    if ax >= NCDF_CLAMP_WAD:
        return 0
    return self._exp_wad(-(ax * ax // (2 * I_WAD))) * INV_SQRT_2PI_WAD // WAD


@internal
@pure
def _ncdf(x: int256) -> uint256:
    """
    @notice Standard normal distribution function N(x) (Cody's approximations).
    @param x Argument, WAD.
    @return N(x), WAD, absolute error a few wei; 0 / 1e18 for |x| >= 10.
    """
    y: int256 = abs(x)
    if y >= NCDF_CLAMP_WAD:
        if x > 0:
            return WAD
        return 0

    # tail = N(-y), WAD
    tail: int256 = 0
    if y <= NCDF_CENTER_WAD:
        # N(x) = 1/2 + x P(z) / Q(z), z = x^2 <= 0.44e18 (WAD).
        # Bounds: num < 1.9e31, den < 5.1e31 (RAY), products < 1e50.
        z: int256 = unsafe_div(unsafe_mul(y, y), I_WAD)
        num: int256 = unsafe_add(unsafe_div(unsafe_mul(CEN_P4, z), I_WAD), CEN_P3)
        num = unsafe_add(unsafe_div(unsafe_mul(num, z), I_WAD), CEN_P2)
        num = unsafe_add(unsafe_div(unsafe_mul(num, z), I_WAD), CEN_P1)
        num = unsafe_add(unsafe_div(unsafe_mul(num, z), I_WAD), CEN_P0)
        den: int256 = unsafe_add(unsafe_mul(z, WAD_TO_RAY), CEN_Q3)
        den = unsafe_add(unsafe_div(unsafe_mul(den, z), I_WAD), CEN_Q2)
        den = unsafe_add(unsafe_div(unsafe_mul(den, z), I_WAD), CEN_Q1)
        den = unsafe_add(unsafe_div(unsafe_mul(den, z), I_WAD), CEN_Q0)
        tail = I_WAD // 2 - unsafe_div(unsafe_mul(y, num), den)
    elif y <= NCDF_MID_WAD:
        # N(-y) = e^(-y^2/2) P(y) / Q(y), y <= 5.66e18 (WAD).
        # Bounds: num < 2.3e33, den < 4e34 (RAY), products < 3e53.
        num: int256 = unsafe_add(unsafe_div(unsafe_mul(MID_P8, y), I_WAD), MID_P7)
        num = unsafe_add(unsafe_div(unsafe_mul(num, y), I_WAD), MID_P6)
        num = unsafe_add(unsafe_div(unsafe_mul(num, y), I_WAD), MID_P5)
        num = unsafe_add(unsafe_div(unsafe_mul(num, y), I_WAD), MID_P4)
        num = unsafe_add(unsafe_div(unsafe_mul(num, y), I_WAD), MID_P3)
        num = unsafe_add(unsafe_div(unsafe_mul(num, y), I_WAD), MID_P2)
        num = unsafe_add(unsafe_div(unsafe_mul(num, y), I_WAD), MID_P1)
        num = unsafe_add(unsafe_div(unsafe_mul(num, y), I_WAD), MID_P0)
        den: int256 = unsafe_add(unsafe_mul(y, WAD_TO_RAY), MID_Q7)
        den = unsafe_add(unsafe_div(unsafe_mul(den, y), I_WAD), MID_Q6)
        den = unsafe_add(unsafe_div(unsafe_mul(den, y), I_WAD), MID_Q5)
        den = unsafe_add(unsafe_div(unsafe_mul(den, y), I_WAD), MID_Q4)
        den = unsafe_add(unsafe_div(unsafe_mul(den, y), I_WAD), MID_Q3)
        den = unsafe_add(unsafe_div(unsafe_mul(den, y), I_WAD), MID_Q2)
        den = unsafe_add(unsafe_div(unsafe_mul(den, y), I_WAD), MID_Q1)
        den = unsafe_add(unsafe_div(unsafe_mul(den, y), I_WAD), MID_Q0)
        g: int256 = convert(self._exp_wad(-unsafe_div(unsafe_mul(y, y), 2 * I_WAD)), int256)
        tail = unsafe_div(unsafe_mul(g, num), den)
    else:
        # N(-y) = e^(-y^2/2) (1/sqrt(2 pi) - z P(z) / Q(z)) / y, z = 1/y^2 < 0.032e18 (WAD).
        # Bounds: num, den < 1.4e27 (RAY), products < 1e47.
        y2: int256 = unsafe_div(unsafe_mul(y, y), I_WAD)  # WAD, 32e18..100e18
        z: int256 = unsafe_div(I_WAD * I_WAD, y2)
        num: int256 = unsafe_add(unsafe_div(unsafe_mul(TAIL_P5, z), I_WAD), TAIL_P4)
        num = unsafe_add(unsafe_div(unsafe_mul(num, z), I_WAD), TAIL_P3)
        num = unsafe_add(unsafe_div(unsafe_mul(num, z), I_WAD), TAIL_P2)
        num = unsafe_add(unsafe_div(unsafe_mul(num, z), I_WAD), TAIL_P1)
        num = unsafe_add(unsafe_div(unsafe_mul(num, z), I_WAD), TAIL_P0)
        den: int256 = unsafe_add(unsafe_mul(z, WAD_TO_RAY), TAIL_Q4)
        den = unsafe_add(unsafe_div(unsafe_mul(den, z), I_WAD), TAIL_Q3)
        den = unsafe_add(unsafe_div(unsafe_mul(den, z), I_WAD), TAIL_Q2)
        den = unsafe_add(unsafe_div(unsafe_mul(den, z), I_WAD), TAIL_Q1)
        den = unsafe_add(unsafe_div(unsafe_mul(den, z), I_WAD), TAIL_Q0)
        # h = (1/sqrt(2 pi) - z P / Q) / y, RAY; z P / Q < 0.013e27, h < 0.07e27
        h: int256 = INV_SQRT_2PI_RAY - unsafe_div(unsafe_mul(z * WAD_TO_RAY, num), den)
        h = unsafe_div(unsafe_mul(h, I_WAD), y)
        g: int256 = convert(self._exp_wad(-unsafe_div(y2, 2)), int256)
        tail = unsafe_div(unsafe_mul(g, h), I_RAY)

    if x > 0:
        return WAD - convert(tail, uint256)
    return convert(tail, uint256)
