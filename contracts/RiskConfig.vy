# pragma version 0.4.3
"""
@title RiskConfig
@notice The market's governed risk parameters, grouped by concern (margin, liquidation,
        pool quoting, open interest limits), each group with one setter that checks
        hard bounds and rate limits and emits the old and new values.
@dev Scales: 1e18 = 100% for ratios and vols, seconds for times, 1e18 = 1 contract
     for sizes. Group ids: 0 margin, 1 liquidation, 3 pool, 4 limits (2 is the oracle's).
     Assumptions and hazards:
     - Setters, the rate limits and the governor role itself are the governor's only
       (the Timelock): the deployer, the first governor, hands it over at deployment
       and has no power here after. The admin has none at all.
     - Bounds are constants of this contract: widening them needs a new deployment.
     - The market reads the parameters on every use, so a change applies to every
       open account at once (a margin increase can make accounts liquidatable).
"""

import MarginEngine
import modules.param_guard as param_guard
import modules.roles as roles

initializes: param_guard
initializes: roles
exports: (param_guard.rate_limit, param_guard.last_update, roles.admin)

# --- types ---

struct LiquidationParams:
    start_discount: uint256  # 1e18 = 100%: reward at auction start, share of the MM taken over
    discount_rate: uint256  # 1e18 = 100%: reward growth per hour since the account was flagged
    max_discount: uint256  # 1e18 = 100%: cap of the reward
    target_buffer: uint256  # 1e18 = 100%: liquidation restores equity to IM * (1 + buffer)

struct PoolParams:
    spread_base: uint256  # 1e18 = 100 vol points: half-spread in vol at zero utilisation
    spread_util: uint256  # 1e18 = 100 vol points: extra half-spread per 100% utilisation
    spread_vega: uint256  # 1e18 = 100 vol points: extra half-spread per unit of |pool vega| / NAV
    min_spread: uint256  # 1e18 = 100% of spot: minimum half-spread per contract
    fee_rate: uint256  # 1e18 = 100% of spot: protocol fee per contract traded
    insurance_share: uint256  # 1e18 = 100%: share of fees paid into the insurance fund
    max_utilisation: uint256  # 1e18 = 100%: cap of pool gross notional / pool NAV

struct Limits:
    series_oi_cap: uint256  # 1e18 = 1 contract: cap of |pool position| in one series
    total_oi_cap: uint256  # 1e18 = 1 contract: cap of sum of |pool position| over live series

# --- events ---

event MarginParamsSet:
    old: MarginEngine.MarginParams
    new: MarginEngine.MarginParams

event LiquidationParamsSet:
    old: LiquidationParams
    new: LiquidationParams

event PoolParamsSet:
    old: PoolParams
    new: PoolParams

event LimitsSet:
    old: Limits
    new: Limits

# --- constants ---

WAD: constant(uint256) = 10**18
MARGIN_GROUP: constant(uint256) = 0
LIQUIDATION_GROUP: constant(uint256) = 1
POOL_GROUP: constant(uint256) = 3
LIMITS_GROUP: constant(uint256) = 4
PREFIX: constant(String[16]) = "config"

# --- storage ---

governor: public(address)
margin_params: public(MarginEngine.MarginParams)
liquidation_params: public(LiquidationParams)
pool_params: public(PoolParams)
limits: public(Limits)


@deploy
def __init__(
    margin: MarginEngine.MarginParams,
    liquidation: LiquidationParams,
    pool_p: PoolParams,
    lim: Limits,
    rate_limit: param_guard.RateLimit,
):
    """
    @notice Deploy with the first parameters (bounds checked, not rate limited).
    @param margin first margin parameters
    @param liquidation first liquidation parameters
    @param pool_p first pool quoting parameters
    @param lim first open interest limits
    @param rate_limit the rate limit of every group
    """
    roles.__init__()
    self.governor = msg.sender
    self._check_margin(margin, margin, False)
    self._check_liquidation(liquidation, liquidation, False)
    self._check_pool(pool_p, pool_p, False)
    self._check_limits(lim, lim, False)
    self.margin_params = margin
    self.liquidation_params = liquidation
    self.pool_params = pool_p
    self.limits = lim
    for g: uint256 in [MARGIN_GROUP, LIQUIDATION_GROUP, POOL_GROUP, LIMITS_GROUP]:
        param_guard._set_rate_limit(g, rate_limit)


@external
def set_governor(governor: address):
    """
    @notice Hand parameter control to another governor. Governor only: the deployer
            hands it to the timelock once, and only the timelock can move it after.
    @param governor the timelock
    """
    assert msg.sender == self.governor, "config: not governor"
    roles._check_account(PREFIX, governor)
    self.governor = governor
    log roles.RoleSet(role="governor", account=governor)


# --- parameters ---

@internal
def _check_margin(old: MarginEngine.MarginParams, new: MarginEngine.MarginParams, limited: bool):
    g: uint256 = MARGIN_GROUP
    param_guard._check_field(PREFIX, "spot_shock", g, 0, old.spot_shock, new.spot_shock, 10**16, 9 * 10**17, limited)
    param_guard._check_field(PREFIX, "spot_steps", g, 1, old.spot_steps, new.spot_steps, 1, 6, False)
    param_guard._check_field(PREFIX, "vol_shock_up", g, 2, old.vol_shock_up, new.vol_shock_up, 0, 3 * WAD, limited)
    param_guard._check_field(PREFIX, "vol_shock_down", g, 3, old.vol_shock_down, new.vol_shock_down, 0, 9 * 10**17, limited)
    param_guard._check_field(PREFIX, "vol_tenor_ref", g, 4, old.vol_tenor_ref, new.vol_tenor_ref, 86_400, 365 * 86_400, limited)
    param_guard._check_field(PREFIX, "vol_tenor_power", g, 5, old.vol_tenor_power, new.vol_tenor_power, 0, WAD, limited)
    param_guard._check_field(PREFIX, "vol_scale_cap", g, 6, old.vol_scale_cap, new.vol_scale_cap, WAD, 10 * WAD, limited)
    param_guard._check_field(PREFIX, "short_min", g, 7, old.short_min, new.short_min, 0, 5 * 10**17, limited)
    param_guard._check_field(PREFIX, "im_factor", g, 8, old.im_factor, new.im_factor, WAD, 3 * WAD, limited)
    # a short option far from the money loses on a vol rise the spot grid cannot see
    assert new.short_min > 0 or new.vol_shock_up > 0, "config: short_min and vol_shock_up both zero"


@internal
def _check_liquidation(old: LiquidationParams, new: LiquidationParams, limited: bool):
    g: uint256 = LIQUIDATION_GROUP
    param_guard._check_field(PREFIX, "start_discount", g, 0, old.start_discount, new.start_discount, 0, 2 * 10**17, limited)
    param_guard._check_field(PREFIX, "discount_rate", g, 1, old.discount_rate, new.discount_rate, 0, 2 * 10**17, limited)
    param_guard._check_field(PREFIX, "max_discount", g, 2, old.max_discount, new.max_discount, 0, 5 * 10**17, limited)
    param_guard._check_field(PREFIX, "target_buffer", g, 3, old.target_buffer, new.target_buffer, 0, WAD, limited)
    assert new.max_discount >= new.start_discount, "config: max_discount below start_discount"
    assert new.max_discount > 0, "config: max_discount zero: no liquidator reward"
    # the discount is start + rate x hours: both at 0 keep it at 0 whatever max_discount is
    assert new.start_discount > 0 or new.discount_rate > 0, "config: start_discount and discount_rate both zero"


@internal
def _check_pool(old: PoolParams, new: PoolParams, limited: bool):
    g: uint256 = POOL_GROUP
    param_guard._check_field(PREFIX, "spread_base", g, 0, old.spread_base, new.spread_base, 0, 5 * 10**17, limited)
    param_guard._check_field(PREFIX, "spread_util", g, 1, old.spread_util, new.spread_util, 0, WAD, limited)
    param_guard._check_field(PREFIX, "spread_vega", g, 2, old.spread_vega, new.spread_vega, 0, 10 * WAD, limited)
    param_guard._check_field(PREFIX, "min_spread", g, 3, old.min_spread, new.min_spread, 0, 5 * 10**16, limited)
    param_guard._check_field(PREFIX, "fee_rate", g, 4, old.fee_rate, new.fee_rate, 0, 10**16, limited)
    param_guard._check_field(PREFIX, "insurance_share", g, 5, old.insurance_share, new.insurance_share, 0, WAD, limited)
    # at 10x a 10% move, less than a 24 h margin shock, costs a delta-one book its NAV
    param_guard._check_field(PREFIX, "max_utilisation", g, 6, old.max_utilisation, new.max_utilisation, 10**17, 10 * WAD, limited)


@internal
def _check_limits(old: Limits, new: Limits, limited: bool):
    g: uint256 = LIMITS_GROUP
    param_guard._check_field(PREFIX, "series_oi_cap", g, 0, old.series_oi_cap, new.series_oi_cap, 0, 10**12 * WAD, limited)
    param_guard._check_field(PREFIX, "total_oi_cap", g, 1, old.total_oi_cap, new.total_oi_cap, 0, 10**12 * WAD, limited)


@external
def set_margin_params(new: MarginEngine.MarginParams):
    """
    @notice Replace the margin parameters. Governor (timelock) only; bounds and rate limits apply.
    @param new the new parameters
    """
    assert msg.sender == self.governor, "config: not governor"
    old: MarginEngine.MarginParams = self.margin_params
    self._check_margin(old, new, True)
    self.margin_params = new
    log MarginParamsSet(old=old, new=new)


@external
def set_liquidation_params(new: LiquidationParams):
    """
    @notice Replace the liquidation parameters. Governor only; bounds and rate limits apply.
    @param new the new parameters
    """
    assert msg.sender == self.governor, "config: not governor"
    old: LiquidationParams = self.liquidation_params
    self._check_liquidation(old, new, True)
    self.liquidation_params = new
    log LiquidationParamsSet(old=old, new=new)


@external
def set_pool_params(new: PoolParams):
    """
    @notice Replace the pool quoting parameters. Governor only; bounds and rate limits apply.
    @param new the new parameters
    """
    assert msg.sender == self.governor, "config: not governor"
    old: PoolParams = self.pool_params
    self._check_pool(old, new, True)
    self.pool_params = new
    log PoolParamsSet(old=old, new=new)


@external
def set_limits(new: Limits):
    """
    @notice Replace the open interest limits. Governor only; bounds and rate limits apply.
    @param new the new limits
    """
    assert msg.sender == self.governor, "config: not governor"
    old: Limits = self.limits
    self._check_limits(old, new, True)
    self.limits = new
    log LimitsSet(old=old, new=new)


@external
def set_rate_limit(group: uint256, limit: param_guard.RateLimit):
    """
    @notice Change a parameter group's rate limit. Governor only.
    @param group 0 margin, 1 liquidation, 3 pool, 4 limits
    @param limit the new limit
    """
    assert msg.sender == self.governor, "config: not governor"
    assert group in [MARGIN_GROUP, LIQUIDATION_GROUP, POOL_GROUP, LIMITS_GROUP], "config: unknown parameter group"
    param_guard._set_rate_limit(group, limit)


