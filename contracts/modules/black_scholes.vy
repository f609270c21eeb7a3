# pragma version 0.4.3
"""
@title black_scholes
@notice Black-Scholes price, vega and delta of European options at zero
        interest rate, on 1e18 fixed point.
@dev Assumptions and hazards:
     - Storage-free: every function is @internal @pure; import with
       `from . import black_scholes` (or `from ..modules import black_scholes`).
     - Zero rate, no dividends; a year is 365 days = 31_536_000 seconds.
     - Scales: spot and strike are USD * 1e18 per 1 unit of underlying,
       vol is 1e18 = 100% (annualised), t_sec is seconds to expiry, prices are
       USD * 1e18 per 1 unit of underlying.
     - With T = t_sec / 31_536_000 and sd = vol * sqrt(T):
           d1 = (ln(S/K) + sd^2 / 2) / sd,   d2 = d1 - sd
           call = S N(d1) - K N(d2),         put = K N(-d2) - S N(-d1)
     - Degenerate inputs (t_sec == 0, vol == 0, sd rounding to 0 wei, spot or
       strike 0, S/K < 1e-18) price at intrinsic value; vega is 0 there and
       delta is the intrinsic delta (1/2 exactly at the money).
     - Prices are clamped to the no-arbitrage band: call in [max(S-K, 0), S],
       put in [max(K-S, 0), K]. Rounding is a few wei * max(S, K), so
       put-call parity C - P = S - K holds to a few wei unless a clamp bites.
     - Reverts (checked math) only for absurd inputs: spot > 1.1e59,
       vol^2 * t_sec > 1.1e77, S/K > e^135.
"""

from . import fixed_math

# --- scales ---
WAD: constant(uint256) = 10**18  # 1e18 = 1.0
I_WAD: constant(int256) = 10**18
YEAR_SEC: constant(uint256) = 31_536_000  # 365 days, seconds


# --- helpers ---


@internal
@pure
def _intrinsic(spot: uint256, strike: uint256, is_call: bool) -> uint256:
    # call: max(S - K, 0), put: max(K - S, 0); USD * 1e18
    if is_call:
        if spot > strike:
            return spot - strike
        return 0
    if strike > spot:
        return strike - spot
    return 0


@internal
@pure
def _sigma_sqrt_t(t_sec: uint256, vol: uint256) -> uint256:
    # sd = vol * sqrt(T), WAD. With vol = sigma * 1e18 and T = t_sec / YEAR_SEC:
    #   (sd * 1e18)^2 = vol^2 * t_sec / YEAR_SEC, so sd = isqrt(vol^2 * t_sec / YEAR_SEC).
    return isqrt(vol * vol * t_sec // YEAR_SEC)


@internal
@pure
def _log_moneyness(spot: uint256, strike: uint256) -> int256:
    # ln(S/K), WAD. Needs S * 1e18 / K > 0 (not degenerate).
    return fixed_math._ln_wad(spot * WAD // strike)


@internal
@pure
def _d1(spot: uint256, strike: uint256, sd: uint256) -> int256:
    # d1 = (ln(S/K) + sd^2 / 2) / sd, WAD. Needs sd > 0 and S * 1e18 / K > 0.
    return self._d1_from(self._log_moneyness(spot, strike), sd)


@internal
@pure
def _d1_from(log_moneyness: int256, sd: uint256) -> int256:
    # d1 from a precomputed ln(S/K): callers pricing one strike at several vols share it
    return (log_moneyness + self._half_var(sd)) * I_WAD // convert(sd, int256)


@internal
@pure
def _half_var(sd: uint256) -> int256:
    # sd^2 / 2, WAD: what d1 adds to ln(S/K)
    return convert(sd * sd // (2 * WAD), int256)


@internal
@pure
def _is_degenerate(spot: uint256, strike: uint256, sd: uint256) -> bool:
    # True when d1 is +-infinity or undefined: no time value left to price
    # (or below 1 wei of the strike, when S/K < 1e-18).
    return sd == 0 or spot == 0 or strike == 0 or spot * WAD < strike


# --- price and greeks ---


@internal
@pure
def _price(spot: uint256, strike: uint256, t_sec: uint256, vol: uint256, is_call: bool) -> uint256:
    """
    @notice Black-Scholes price of one option on 1 unit of underlying.
    @param spot Spot price, USD * 1e18.
    @param strike Strike price, USD * 1e18.
    @param t_sec Time to expiry, seconds.
    @param vol Implied volatility, 1e18 = 100%.
    @param is_call True for a call, False for a put.
    @return Price, USD * 1e18, within the no-arbitrage band.
    """
    sd: uint256 = self._sigma_sqrt_t(t_sec, vol)
    if self._is_degenerate(spot, strike, sd):
        return self._intrinsic(spot, strike, is_call)
    return self._price_from(spot, strike, self._log_moneyness(spot, strike), sd, is_call)


@internal
@pure
def _price_from(spot: uint256, strike: uint256, log_moneyness: int256, sd: uint256, is_call: bool) -> uint256:
    """
    @notice Black-Scholes price from precomputed ln(S/K) and sd = vol * sqrt(T), for
            callers that price one (spot, strike) at several vols (the margin grid).
    @dev Degenerate inputs (see _is_degenerate) price at intrinsic value; log_moneyness
         is then ignored.
    @param spot Spot price, USD * 1e18.
    @param strike Strike price, USD * 1e18.
    @param log_moneyness ln(spot / strike), WAD.
    @param sd vol * sqrt(T), WAD (see _sigma_sqrt_t).
    @param is_call True for a call, False for a put.
    @return Price, USD * 1e18, within the no-arbitrage band.
    """
    if self._is_degenerate(spot, strike, sd):
        return self._intrinsic(spot, strike, is_call)
    return self._price_core(spot, strike, log_moneyness, sd, self._half_var(sd), is_call)


@internal
@pure
def _price_core(spot: uint256, strike: uint256, log_moneyness: int256, sd: uint256, half_var: int256, is_call: bool) -> uint256:
    """
    @notice `_price_from` for inputs known not to be degenerate, with sd^2 / 2 precomputed:
            the margin grid prices each vol state at many spots and hoists both checks.
    @param spot Spot price, USD * 1e18, with spot * 1e18 >= strike > 0.
    @param strike Strike price, USD * 1e18.
    @param log_moneyness ln(spot / strike), WAD.
    @param sd vol * sqrt(T), WAD, above zero.
    @param half_var `_half_var(sd)`.
    @param is_call True for a call, False for a put.
    @return Price, USD * 1e18, within the no-arbitrage band.
    """
    d1: int256 = (log_moneyness + half_var) * I_WAD // convert(sd, int256)
    d2: int256 = d1 - convert(sd, int256)
    lower: uint256 = self._intrinsic(spot, strike, is_call)
    if is_call:
        # call = S N(d1) - K N(d2), clamped to [max(S - K, 0), S]
        long_leg: uint256 = spot * fixed_math._ncdf(d1) // WAD
        short_leg: uint256 = strike * fixed_math._ncdf(d2) // WAD
        if long_leg <= short_leg:
            return lower
        return min(max(long_leg - short_leg, lower), spot)
    # put = K N(-d2) - S N(-d1), clamped to [max(K - S, 0), K]
    long_leg: uint256 = strike * fixed_math._ncdf(-d2) // WAD
    short_leg: uint256 = spot * fixed_math._ncdf(-d1) // WAD
    if long_leg <= short_leg:
        return lower
    return min(max(long_leg - short_leg, lower), strike)


@internal
@pure
def _vega(spot: uint256, strike: uint256, t_sec: uint256, vol: uint256) -> uint256:
    """
    @notice Black-Scholes vega, the same for calls and puts.
    @param spot Spot price, USD * 1e18.
    @param strike Strike price, USD * 1e18.
    @param t_sec Time to expiry, seconds.
    @param vol Implied volatility, 1e18 = 100%.
    @return dPrice/dvol, USD * 1e18 per 1.0 (100%) of vol; 0 when degenerate.
    """
    sd: uint256 = self._sigma_sqrt_t(t_sec, vol)
    if self._is_degenerate(spot, strike, sd):
        return 0
    # vega = S n(d1) sqrt(T), with sqrt(T) = sd / vol
    d1: int256 = self._d1(spot, strike, sd)
    return spot * fixed_math._npdf(d1) // WAD * sd // vol


@internal
@pure
def _delta(spot: uint256, strike: uint256, t_sec: uint256, vol: uint256, is_call: bool) -> int256:
    """
    @notice Black-Scholes delta.
    @param spot Spot price, USD * 1e18.
    @param strike Strike price, USD * 1e18.
    @param t_sec Time to expiry, seconds.
    @param vol Implied volatility, 1e18 = 100%.
    @param is_call True for a call, False for a put.
    @return dPrice/dSpot, 1e18 = 1.0: call N(d1) in [0, 1], put -N(-d1) in [-1, 0].
    """
    sd: uint256 = self._sigma_sqrt_t(t_sec, vol)
    if self._is_degenerate(spot, strike, sd):
        # intrinsic delta: 1 in the money, 0 out of it, 1/2 at the money
        call_delta: int256 = 0
        if spot > strike:
            call_delta = I_WAD
        elif spot == strike:
            call_delta = I_WAD // 2
        if is_call:
            return call_delta
        return call_delta - I_WAD

    d1: int256 = self._d1(spot, strike, sd)
    if is_call:
        return convert(fixed_math._ncdf(d1), int256)
    return -convert(fixed_math._ncdf(-d1), int256)
