# pragma version 0.4.3
"""
@title MarginEngine
@notice Stateless pricing and scenario-based portfolio margin (Deribit / Lyra PMRM style).
@dev Scales: spot and strikes 1e18 = 1 USD, vols 1e18 = 100%, sizes 1e18 = 1 contract
     (one unit of the underlying), values 1e18 = 1 USD, times in seconds, zero rates.
     The rule (mirrored exactly by risk/margin.py):
       grid of spot moves m_i = spot_shock * i / spot_steps, i = -steps..steps
       per position, the vol shock scales with tenor:
         k(T) = min(vol_scale_cap, (vol_tenor_ref / T) ^ vol_tenor_power)
         vol_up = vol * (1 + vol_shock_up * k),  vol_dn = vol * (1 - min(vol_shock_down * k, 0.95))
       scenarios: every spot move with each of {vol, vol_up, vol_dn} (parallel in direction)
       V_s = sum(size * BS(spot * (1 + m_i), strike, T, vol_j)),  V0 = V at (0, vol)
       MM = max(0, max_s (V0 - V_s)) + short_min * spot * sum(|size| of unexpired shorts)
       IM = im_factor * MM
     Expired positions (T = 0) count at intrinsic value on the shocked spot; positions
     whose settlement price is fixed are valued by the market and never passed here.
     Hazards: gas grows as positions x (2 * spot_steps + 1) x 3 Black-Scholes prices;
     keep spot_steps small for large books. Rounding is truncation towards zero.
"""

import modules.black_scholes as black_scholes
import modules.fixed_math as fixed_math

# --- types ---

struct MarginParams:
    spot_shock: uint256  # 1e18 = 100%: largest spot move of the grid, both directions
    spot_steps: uint256  # grid points on each side of zero (1..6)
    vol_shock_up: uint256  # 1e18 = 100%: relative vol rise at the reference tenor
    vol_shock_down: uint256  # 1e18 = 100%: relative vol fall at the reference tenor
    vol_tenor_ref: uint256  # seconds: tenor at which vol shocks apply unscaled
    vol_tenor_power: uint256  # 1e18: shocks scale by (vol_tenor_ref / T) ^ power
    vol_scale_cap: uint256  # 1e18: cap of that scaling factor
    short_min: uint256  # 1e18 = 100% of spot: minimum MM per unexpired short contract
    im_factor: uint256  # 1e18: IM = im_factor * MM

struct EnginePosition:
    strike: uint256  # 1e18 = 1 USD
    t_sec: uint256  # seconds to expiry, 0 when expired
    vol: uint256  # 1e18 = 100%
    is_call: bool
    size: int256  # 1e18 = 1 contract, negative when short

# --- constants ---

WAD: constant(uint256) = 10**18
IWAD: constant(int256) = 10**18
MAX_POSITIONS: constant(uint256) = 32
MAX_STEPS: constant(uint256) = 6
MAX_SPOT_POINTS: constant(uint256) = 2 * MAX_STEPS + 1  # 13
MAX_SCENARIOS: constant(uint256) = 3 * MAX_SPOT_POINTS  # 39
MAX_VOL_DOWN: constant(uint256) = 95 * 10**16  # vol never shocked below 5% of itself


@internal
@pure
def _shocked_vols(vol: uint256, t_sec: uint256, p: MarginParams) -> (uint256, uint256):
    # k(T) = min(cap, (ref / T) ^ power); vol_up = vol (1 + up k); vol_dn = vol (1 - min(dn k, 0.95))
    if t_sec == 0:
        return vol, vol
    k: uint256 = p.vol_scale_cap
    if p.vol_tenor_power == 0:
        k = min(WAD, k)
    else:
        ratio: uint256 = p.vol_tenor_ref * WAD // t_sec
        k = min(fixed_math._pow_wad(ratio, convert(p.vol_tenor_power, int256)), p.vol_scale_cap)
    up: uint256 = p.vol_shock_up * k // WAD
    dn: uint256 = min(p.vol_shock_down * k // WAD, MAX_VOL_DOWN)
    return vol * (WAD + up) // WAD, vol * (WAD - dn) // WAD


@internal
@pure
def _value(size: int256, price: uint256) -> int256:
    # size * price, 1e18 USD; truncation towards zero
    return size * convert(price, int256) // IWAD


@internal
@pure
def _grid_price(s: uint256, strike: uint256, lnm: int256, sd: uint256, hv: int256, is_call: bool) -> uint256:
    # a grid point's price, its spot known not degenerate: sd is 0 only for a tiny vol
    if sd == 0:
        return black_scholes._intrinsic(s, strike, is_call)
    return black_scholes._price_core(s, strike, lnm, sd, hv, is_call)


@external
@pure
def price(spot: uint256, strike: uint256, t_sec: uint256, vol: uint256, is_call: bool) -> uint256:
    """
    @notice Black-Scholes price of one contract (zero rates); intrinsic value when t_sec is 0.
    @param spot 1e18 = 1 USD
    @param strike 1e18 = 1 USD
    @param t_sec seconds to expiry
    @param vol 1e18 = 100%
    @param is_call True for a call
    @return price, 1e18 = 1 USD
    """
    return black_scholes._price(spot, strike, t_sec, vol, is_call)


@external
@pure
def value_and_vega(spot: uint256, positions: DynArray[EnginePosition, MAX_POSITIONS]) -> (int256, int256):
    """
    @notice Mark value and net vega of a book.
    @param spot 1e18 = 1 USD
    @param positions the book
    @return value (1e18 = 1 USD), vega (1e18 USD per 1.0 = 100% of vol)
    """
    total: int256 = 0
    vega: int256 = 0
    for pos: EnginePosition in positions:
        total += self._value(pos.size, black_scholes._price(spot, pos.strike, pos.t_sec, pos.vol, pos.is_call))
        if pos.t_sec > 0:
            vega += self._value(pos.size, black_scholes._vega(spot, pos.strike, pos.t_sec, pos.vol))
    return total, vega


@external
@pure
def portfolio_margin(
    spot: uint256, positions: DynArray[EnginePosition, MAX_POSITIONS], p: MarginParams
) -> (int256, uint256, uint256):
    """
    @notice Mark value, maintenance and initial margin of a book on the scenario grid.
    @param spot 1e18 = 1 USD
    @param positions the book (at most 32 positions)
    @param p the margin parameters
    @return mark value (1e18 USD, signed), MM (1e18 USD), IM (1e18 USD)
    """
    assert spot > 0, "engine: spot is zero"
    assert p.spot_steps >= 1 and p.spot_steps <= MAX_STEPS, "engine: spot_steps outside [1, 6]"
    n: uint256 = p.spot_steps
    points: uint256 = 2 * n + 1
    # spot of each grid point: spot * (1 + spot_shock * (i - n) / n)
    spots: uint256[MAX_SPOT_POINTS] = empty(uint256[MAX_SPOT_POINTS])
    for i: uint256 in range(MAX_SPOT_POINTS):
        if i >= points:
            break
        if i < n:
            spots[i] = spot - spot * p.spot_shock * (n - i) // (n * WAD)
        else:
            spots[i] = spot + spot * p.spot_shock * (i - n) // (n * WAD)

    # ln(S_i / S) per grid point, shared by every position: ln(S_i / K) = ln(S / K) + ln(S_i / S)
    # (exactly 0 at the centre, whose prices are the positions' marks)
    lns: int256[MAX_SPOT_POINTS] = empty(int256[MAX_SPOT_POINTS])
    ln_ok: bool[MAX_SPOT_POINTS] = empty(bool[MAX_SPOT_POINTS])
    for i: uint256 in range(MAX_SPOT_POINTS):
        if i >= points:
            break
        r: uint256 = spots[i] * WAD // spot
        ln_ok[i] = r > 0
        if r > 0 and i != n:
            lns[i] = fixed_math._ln_wad(r)

    v0: int256 = 0
    shorts: uint256 = 0  # sum of |size| of unexpired shorts, 1e18 contracts
    values: int256[MAX_SCENARIOS] = empty(int256[MAX_SCENARIOS])
    for pos: EnginePosition in positions:
        if pos.size == 0:
            continue
        if pos.size < 0 and pos.t_sec > 0:
            shorts += convert(-pos.size, uint256)
        vol_up: uint256 = 0
        vol_dn: uint256 = 0
        vol_up, vol_dn = self._shocked_vols(pos.vol, pos.t_sec, p)
        # sd = vol * sqrt(T) and sd^2 / 2 per vol state are shared by the prices of the
        # grid; an expired position, or a spot point below 1 wei of the strike
        # (S / K < 1e-18), is worth its intrinsic value in every vol state
        sd0: uint256 = black_scholes._sigma_sqrt_t(pos.t_sec, pos.vol)
        sd_up: uint256 = black_scholes._sigma_sqrt_t(pos.t_sec, vol_up)
        sd_dn: uint256 = black_scholes._sigma_sqrt_t(pos.t_sec, vol_dn)
        hv0: int256 = black_scholes._half_var(sd0)
        hv_up: int256 = black_scholes._half_var(sd_up)
        hv_dn: int256 = black_scholes._half_var(sd_dn)
        lnk_ok: bool = pos.t_sec > 0 and not black_scholes._is_degenerate(spot, pos.strike, 1)
        lnk: int256 = 0
        if lnk_ok:
            lnk = black_scholes._log_moneyness(spot, pos.strike)
        for i: uint256 in range(MAX_SPOT_POINTS):
            if i >= points:
                break
            s: uint256 = spots[i]
            if pos.t_sec == 0 or black_scholes._is_degenerate(s, pos.strike, 1):
                flat: int256 = self._value(pos.size, black_scholes._intrinsic(s, pos.strike, pos.is_call))
                values[3 * i] += flat
                values[3 * i + 1] += flat
                values[3 * i + 2] += flat
                if i == n:
                    v0 += flat
                continue
            lnm: int256 = 0
            if lnk_ok and ln_ok[i]:
                lnm = lnk + lns[i]
            else:
                lnm = black_scholes._log_moneyness(s, pos.strike)
            base: int256 = self._value(pos.size, self._grid_price(s, pos.strike, lnm, sd0, hv0, pos.is_call))
            values[3 * i] += base
            values[3 * i + 1] += self._value(pos.size, self._grid_price(s, pos.strike, lnm, sd_up, hv_up, pos.is_call))
            values[3 * i + 2] += self._value(pos.size, self._grid_price(s, pos.strike, lnm, sd_dn, hv_dn, pos.is_call))
            if i == n:
                v0 += base

    worst: int256 = 0
    for i: uint256 in range(MAX_SPOT_POINTS):
        if i >= points:
            break
        for j: uint256 in range(3):
            worst = max(worst, v0 - values[3 * i + j])
    mm: uint256 = convert(worst, uint256) + p.short_min * spot // WAD * shorts // WAD
    im: uint256 = mm * p.im_factor // WAD
    return v0, mm, im
