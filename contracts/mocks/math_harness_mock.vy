# pragma version 0.4.3
"""
@title math_harness_mock
@notice Test harness exposing the fixed_math and black_scholes internals,
        one value at a time and in batches (one eth_call for many inputs).
@dev Test-only; never deploy to a live network. All numbers are 1e18 fixed
     point as documented in the modules.
"""

from ..modules import fixed_math
from ..modules import black_scholes

BATCH: constant(uint256) = 512  # max inputs per batch call


# --- fixed_math ---


@external
@pure
def exp_wad(x: int256) -> uint256:
    """
    @notice e^x.
    @param x Exponent, 1e18 = 1.0.
    @return e^x, 1e18 = 1.0.
    """
    return fixed_math._exp_wad(x)


@external
@pure
def ln_wad(x: uint256) -> int256:
    """
    @notice Natural logarithm.
    @param x Argument, 1e18 = 1.0.
    @return ln(x), 1e18 = 1.0.
    """
    return fixed_math._ln_wad(x)


@external
@pure
def sqrt_wad(x: uint256) -> uint256:
    """
    @notice Square root.
    @param x Argument, 1e18 = 1.0.
    @return sqrt(x), 1e18 = 1.0.
    """
    return fixed_math._sqrt_wad(x)


@external
@pure
def pow_wad(x: uint256, y: int256) -> uint256:
    """
    @notice x^y.
    @param x Base, 1e18 = 1.0.
    @param y Exponent, 1e18 = 1.0.
    @return x^y, 1e18 = 1.0.
    """
    return fixed_math._pow_wad(x, y)


@external
@pure
def ncdf(x: int256) -> uint256:
    """
    @notice Standard normal distribution function.
    @param x Argument, 1e18 = 1.0.
    @return N(x), 1e18 = 1.0.
    """
    return fixed_math._ncdf(x)


@external
@pure
def npdf(x: int256) -> uint256:
    """
    @notice Standard normal density.
    @param x Argument, 1e18 = 1.0.
    @return n(x), 1e18 = 1.0.
    """
    return fixed_math._npdf(x)


# --- fixed_math, batched ---


@external
@pure
def exp_wad_many(xs: DynArray[int256, BATCH]) -> DynArray[uint256, BATCH]:
    """
    @notice e^x for each x.
    @param xs Exponents, 1e18 = 1.0.
    @return e^x for each, 1e18 = 1.0.
    """
    out: DynArray[uint256, BATCH] = []
    for x: int256 in xs:
        out.append(fixed_math._exp_wad(x))
    return out


@external
@pure
def ln_wad_many(xs: DynArray[uint256, BATCH]) -> DynArray[int256, BATCH]:
    """
    @notice ln(x) for each x.
    @param xs Arguments, 1e18 = 1.0.
    @return ln(x) for each, 1e18 = 1.0.
    """
    out: DynArray[int256, BATCH] = []
    for x: uint256 in xs:
        out.append(fixed_math._ln_wad(x))
    return out


@external
@pure
def ncdf_many(xs: DynArray[int256, BATCH]) -> DynArray[uint256, BATCH]:
    """
    @notice N(x) for each x.
    @param xs Arguments, 1e18 = 1.0.
    @return N(x) for each, 1e18 = 1.0.
    """
    out: DynArray[uint256, BATCH] = []
    for x: int256 in xs:
        out.append(fixed_math._ncdf(x))
    return out


@external
@pure
def npdf_many(xs: DynArray[int256, BATCH]) -> DynArray[uint256, BATCH]:
    """
    @notice n(x) for each x.
    @param xs Arguments, 1e18 = 1.0.
    @return n(x) for each, 1e18 = 1.0.
    """
    out: DynArray[uint256, BATCH] = []
    for x: int256 in xs:
        out.append(fixed_math._npdf(x))
    return out


# --- black_scholes ---


@external
@pure
def bs_price(
    spot: uint256, strike: uint256, t_sec: uint256, vol: uint256, is_call: bool
) -> uint256:
    """
    @notice Black-Scholes price at zero rate.
    @param spot Spot, USD * 1e18.
    @param strike Strike, USD * 1e18.
    @param t_sec Time to expiry, seconds.
    @param vol Volatility, 1e18 = 100%.
    @param is_call True for a call.
    @return Price, USD * 1e18 per unit of underlying.
    """
    return black_scholes._price(spot, strike, t_sec, vol, is_call)


@external
@pure
def bs_vega(spot: uint256, strike: uint256, t_sec: uint256, vol: uint256) -> uint256:
    """
    @notice Black-Scholes vega at zero rate.
    @param spot Spot, USD * 1e18.
    @param strike Strike, USD * 1e18.
    @param t_sec Time to expiry, seconds.
    @param vol Volatility, 1e18 = 100%.
    @return Vega, USD * 1e18 per 1.0 of vol.
    """
    return black_scholes._vega(spot, strike, t_sec, vol)


@external
@pure
def bs_delta(spot: uint256, strike: uint256, t_sec: uint256, vol: uint256, is_call: bool) -> int256:
    """
    @notice Black-Scholes delta at zero rate.
    @param spot Spot, USD * 1e18.
    @param strike Strike, USD * 1e18.
    @param t_sec Time to expiry, seconds.
    @param vol Volatility, 1e18 = 100%.
    @param is_call True for a call.
    @return Delta, 1e18 = 1.0 (negative for puts).
    """
    return black_scholes._delta(spot, strike, t_sec, vol, is_call)


# --- black_scholes, batched ---


@external
@pure
def bs_price_many(
    spots: DynArray[uint256, BATCH],
    strikes: DynArray[uint256, BATCH],
    t_secs: DynArray[uint256, BATCH],
    vols: DynArray[uint256, BATCH],
    is_calls: DynArray[bool, BATCH],
) -> DynArray[uint256, BATCH]:
    """
    @notice Black-Scholes prices of many options; all arrays the same length.
    @param spots Spots, USD * 1e18.
    @param strikes Strikes, USD * 1e18.
    @param t_secs Times to expiry, seconds.
    @param vols Volatilities, 1e18 = 100%.
    @param is_calls True for a call.
    @return Prices, USD * 1e18 per unit of underlying.
    """
    out: DynArray[uint256, BATCH] = []
    for i: uint256 in range(len(spots), bound=BATCH):
        out.append(black_scholes._price(spots[i], strikes[i], t_secs[i], vols[i], is_calls[i]))
    return out


@external
@pure
def bs_vega_many(
    spots: DynArray[uint256, BATCH],
    strikes: DynArray[uint256, BATCH],
    t_secs: DynArray[uint256, BATCH],
    vols: DynArray[uint256, BATCH],
) -> DynArray[uint256, BATCH]:
    """
    @notice Black-Scholes vegas of many options; all arrays the same length.
    @param spots Spots, USD * 1e18.
    @param strikes Strikes, USD * 1e18.
    @param t_secs Times to expiry, seconds.
    @param vols Volatilities, 1e18 = 100%.
    @return Vegas, USD * 1e18 per 1.0 of vol.
    """
    out: DynArray[uint256, BATCH] = []
    for i: uint256 in range(len(spots), bound=BATCH):
        out.append(black_scholes._vega(spots[i], strikes[i], t_secs[i], vols[i]))
    return out


@external
@pure
def bs_delta_many(
    spots: DynArray[uint256, BATCH],
    strikes: DynArray[uint256, BATCH],
    t_secs: DynArray[uint256, BATCH],
    vols: DynArray[uint256, BATCH],
    is_calls: DynArray[bool, BATCH],
) -> DynArray[int256, BATCH]:
    """
    @notice Black-Scholes deltas of many options; all arrays the same length.
    @param spots Spots, USD * 1e18.
    @param strikes Strikes, USD * 1e18.
    @param t_secs Times to expiry, seconds.
    @param vols Volatilities, 1e18 = 100%.
    @param is_calls True for a call.
    @return Deltas, 1e18 = 1.0 (negative for puts).
    """
    out: DynArray[int256, BATCH] = []
    for i: uint256 in range(len(spots), bound=BATCH):
        out.append(black_scholes._delta(spots[i], strikes[i], t_secs[i], vols[i], is_calls[i]))
    return out
