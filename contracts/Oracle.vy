# pragma version 0.4.3
"""
@title Oracle
@notice Spot price of the underlying (ETH in USD) and ATM implied volatility per expiry,
        pushed by authorised updaters or pulled from a Chainlink-style feed, plus the
        settlement price of each registered expiry.
@dev Scales: prices 1e18 = 1 USD, vols 1e18 = 100% (annualised), times in unix seconds.
     Assumptions and hazards:
     - Updaters are trusted to report honestly; the deviation limit only stops
       fat-finger errors (a malicious updater can walk the price in steps). A spot
       update may move max_spot_deviation within a heartbeat of the last, and
       max_spot_deviation x sqrt(elapsed / heartbeat) after a longer gap, so a feed or
       updater outage across a large move does not freeze the oracle.
     - A read of a price older than `staleness_limit` reverts: the market then
       cannot trade or liquidate (an oracle outage freezes risk-taking, not deposits
       or settlement of already fixed expiries).
     - The settlement price of an expiry is the first spot update whose timestamp is
       at or after the expiry; once set it never changes.
     - Registered expiries awaiting settlement are bounded (MAX_PENDING); each update
       loops over them.
     - Updaters, the feed, the rate limit and the governor role itself are the
       governor's (the Timelock's) to change; the admin only wires the market, once,
       and may register expiries. The admin moves in two steps (transfer_admin,
       accept_admin).
     - `version` changes with every state change that a read depends on (spot, vols,
       settlement prices, staleness limit): the market keys its per-block valuation of
       the pool's book on (block.timestamp, version).
"""

from interfaces import IAggregatorV3
import modules.param_guard as param_guard
import modules.roles as roles

initializes: param_guard
initializes: roles
exports: (
    param_guard.rate_limit,
    param_guard.last_update,
    roles.admin,
    roles.pending_admin,
    roles.transfer_admin,
    roles.accept_admin,
)

# --- types ---

struct OracleParams:
    heartbeat: uint256  # seconds: updaters push at least this often (keepers read it)
    staleness_limit: uint256  # seconds: reads revert when the price is older
    max_spot_deviation: uint256  # 1e18 = 100%: largest |new / old - 1| in one spot update within a heartbeat (x sqrt(elapsed / heartbeat) after a longer gap)
    max_vol_deviation: uint256  # 1e18 = 100%: largest |new / old - 1| in one vol update

# --- events ---

event SpotUpdated:
    round_id: uint256
    spot: uint256
    timestamp: uint256
    source: address

event VolUpdated:
    expiry: uint256
    vol: uint256
    timestamp: uint256

event SettlementPriceFixed:
    expiry: uint256
    price: uint256
    round_id: uint256

event ExpiryRegistered:
    expiry: uint256

event OracleParamsSet:
    old: OracleParams
    new: OracleParams

event UpdaterSet:
    updater: address
    allowed: bool

event FeedSet:
    feed: address

# --- constants ---

WAD: constant(uint256) = 10**18
GROUP: constant(uint256) = 2  # parameter group id: oracle (margin 0, liquidation 1, pool 3, limits 4)
MAX_PENDING: constant(uint256) = 64
MAX_VOLS_PER_PUSH: constant(uint256) = 16
ANSWER_DECIMALS: constant(uint8) = 8  # latestRoundData answers like a Chainlink USD feed
VOL_MIN: constant(uint256) = 10**16  # 1% vol
VOL_MAX: constant(uint256) = 5 * 10**18  # 500% vol
SPOT_MAX: constant(uint256) = 10**12 * WAD  # 1e12 USD
PREFIX: constant(String[16]) = "oracle"

# --- storage ---

governor: public(address)
market: public(address)
updaters: public(HashMap[address, bool])
feed: public(address)

params: public(OracleParams)

round_id: public(uint256)
last_spot: public(uint256)  # 1e18 = 1 USD
updated_at: public(uint256)  # timestamp of last_spot
round_spot: public(HashMap[uint256, uint256])
round_time: public(HashMap[uint256, uint256])

vols: public(HashMap[uint256, uint256])  # expiry => ATM vol, 1e18 = 100%
vol_updated_at: public(HashMap[uint256, uint256])

pending_expiries: public(DynArray[uint256, MAX_PENDING])
settlement_prices: public(HashMap[uint256, uint256])  # expiry => 1e18 USD, 0 until fixed
version: public(uint256)  # +1 on every push with data, feed pull and parameter change


@deploy
def __init__(initial: OracleParams, rate_limit: param_guard.RateLimit):
    """
    @notice Deploy with initial parameters (bounds checked) and the group's rate limit.
    @param initial the oracle parameters
    @param rate_limit max relative change per update and min seconds between updates
    """
    roles.__init__()
    self.governor = msg.sender
    self._check_params(initial, initial, False)
    self.params = initial
    param_guard._set_rate_limit(GROUP, rate_limit)
    log OracleParamsSet(old=empty(OracleParams), new=initial)


# --- roles ---

@external
def set_governor(governor: address):
    """
    @notice Hand parameter control to another governor. Governor only: the deployer
            hands it to the timelock once, and only the timelock can move it after.
    @param governor the timelock contract
    """
    assert msg.sender == self.governor, "oracle: not governor"
    roles._check_account(PREFIX, governor)
    self.governor = governor
    log roles.RoleSet(role="governor", account=governor)


@external
def set_market(market: address):
    """
    @notice Set the market allowed to register expiries, once. Admin only.
    @param market the OptionMarket
    """
    roles._check_admin(PREFIX)
    roles._check_account(PREFIX, market)
    assert self.market == empty(address), "oracle: market already set"
    self.market = market
    log roles.RoleSet(role="market", account=market)


@external
def set_updater(updater: address, allowed: bool):
    """
    @notice Allow or remove an updater. Governor (timelock) only.
    @param updater the keeper address
    @param allowed True to allow
    """
    assert msg.sender == self.governor, "oracle: not governor"
    roles._check_account(PREFIX, updater)
    self.updaters[updater] = allowed
    log UpdaterSet(updater=updater, allowed=allowed)


@external
def set_feed(feed: address):
    """
    @notice Use a Chainlink-style feed as a spot source (anyone may then pull). Governor
            (timelock) only.
    @param feed the aggregator address, or empty to disable pulling
    """
    assert msg.sender == self.governor, "oracle: not governor"
    self.feed = feed
    log FeedSet(feed=feed)


# --- parameters ---

@internal
def _check_params(old: OracleParams, new: OracleParams, rate_limited: bool):
    param_guard._check_field(PREFIX, "heartbeat", GROUP, 0, old.heartbeat, new.heartbeat, 60, 86_400, rate_limited)
    param_guard._check_field(PREFIX, "staleness_limit", GROUP, 1, old.staleness_limit, new.staleness_limit, 60, 2 * 86_400, rate_limited)
    param_guard._check_field(PREFIX, "max_spot_deviation", GROUP, 2, old.max_spot_deviation, new.max_spot_deviation, 10**15, WAD, rate_limited)
    param_guard._check_field(PREFIX, "max_vol_deviation", GROUP, 3, old.max_vol_deviation, new.max_vol_deviation, 10**16, 5 * WAD, rate_limited)
    assert new.staleness_limit >= new.heartbeat, "oracle: staleness_limit below heartbeat"


@external
def set_oracle_params(new: OracleParams):
    """
    @notice Replace the oracle parameters. Governor (timelock) only; bounds and rate limits apply.
    @param new the new parameters
    """
    assert msg.sender == self.governor, "oracle: not governor"
    old: OracleParams = self.params
    self._check_params(old, new, True)
    self.params = new
    self.version += 1
    log OracleParamsSet(old=old, new=new)


@external
def set_rate_limit(group: uint256, limit: param_guard.RateLimit):
    """
    @notice Change the rate limit of the oracle group. Governor only.
    @param group must be the oracle group (2)
    @param limit the new limit
    """
    assert msg.sender == self.governor, "oracle: not governor"
    assert group == GROUP, "oracle: unknown parameter group"
    param_guard._set_rate_limit(group, limit)


# --- updates ---

@internal
def _deviation(old: uint256, new: uint256) -> uint256:
    # |new / old - 1| in 1e18
    if old == 0:
        return 0
    diff: uint256 = new - old if new > old else old - new
    return diff * WAD // old


@internal
@view
def _allowed_spot_deviation(elapsed: uint256) -> uint256:
    # max_spot_deviation per heartbeat, growing as sqrt(elapsed / heartbeat) beyond one:
    # the cap stops fat fingers, not a market that moved while nobody could update
    dev: uint256 = self.params.max_spot_deviation
    hb: uint256 = self.params.heartbeat
    if elapsed <= hb:
        return dev
    return dev * isqrt(elapsed * WAD // hb * WAD) // WAD


@internal
def _apply_spot(price: uint256, timestamp: uint256, source: address):
    assert price > 0 and price <= SPOT_MAX, "oracle: spot outside (0, 1e30]"
    assert timestamp >= self.updated_at, "oracle: update older than the last"
    allowed: uint256 = self._allowed_spot_deviation(timestamp - self.updated_at)
    assert self._deviation(self.last_spot, price) <= allowed, "oracle: spot deviation too large"
    rid: uint256 = self.round_id + 1
    self.round_id = rid
    self.version += 1
    self.last_spot = price
    self.updated_at = timestamp
    self.round_spot[rid] = price
    self.round_time[rid] = timestamp
    log SpotUpdated(round_id=rid, spot=price, timestamp=timestamp, source=source)
    # settlement: the first price at or after an expiry fixes that expiry's price
    remaining: DynArray[uint256, MAX_PENDING] = []
    for e: uint256 in self.pending_expiries:
        if e <= timestamp:
            self.settlement_prices[e] = price
            log SettlementPriceFixed(expiry=e, price=price, round_id=rid)
        else:
            remaining.append(e)
    self.pending_expiries = remaining


@external
def push(price: uint256, expiries: DynArray[uint256, MAX_VOLS_PER_PUSH], vols: DynArray[uint256, MAX_VOLS_PER_PUSH]):
    """
    @notice Push a spot price and, optionally, ATM vols for some expiries. Updaters only.
    @param price spot, 1e18 = 1 USD; 0 keeps the spot unchanged (vol-only update)
    @param expiries the expiries whose vol is updated
    @param vols ATM implied vol per expiry, 1e18 = 100%
    """
    assert self.updaters[msg.sender], "oracle: not updater"
    assert len(expiries) == len(vols), "oracle: expiries and vols differ in length"
    if price != 0:
        self._apply_spot(price, block.timestamp, msg.sender)
    elif len(vols) > 0:
        self.version += 1
    for i: uint256 in range(MAX_VOLS_PER_PUSH):
        if i >= len(vols):
            break
        v: uint256 = vols[i]
        assert v >= VOL_MIN and v <= VOL_MAX, "oracle: vol outside [1e16, 5e18]"
        e: uint256 = expiries[i]
        old: uint256 = self.vols[e]
        assert self._deviation(old, v) <= self.params.max_vol_deviation, "oracle: vol deviation too large"
        self.vols[e] = v
        self.vol_updated_at[e] = block.timestamp
        log VolUpdated(expiry=e, vol=v, timestamp=block.timestamp)


@external
def pull_from_feed() -> uint256:
    """
    @notice Copy the feed's latest answer into the oracle (anyone may call).
    @return the new spot, 1e18 = 1 USD
    """
    assert self.feed != empty(address), "oracle: no feed"
    rid: uint80 = 0
    answer: int256 = 0
    started: uint256 = 0
    updated: uint256 = 0
    answered: uint80 = 0
    rid, answer, started, updated, answered = staticcall IAggregatorV3(self.feed).latestRoundData()
    assert answer > 0, "oracle: feed answer not positive"
    assert updated + self.params.staleness_limit >= block.timestamp, "oracle: feed stale"
    assert updated > self.updated_at, "oracle: feed round not newer"
    assert updated <= block.timestamp, "oracle: feed round in the future"
    dec: uint8 = staticcall IAggregatorV3(self.feed).decimals()
    assert dec <= 36, "oracle: feed decimals outside [0, 36]"
    price: uint256 = 0
    if dec <= 18:
        price = convert(answer, uint256) * 10 ** (18 - convert(dec, uint256))
    else:
        price = convert(answer, uint256) // 10 ** (convert(dec, uint256) - 18)
    self._apply_spot(price, updated, self.feed)
    return price


@external
def register_expiry(expiry: uint256):
    """
    @notice Ask the oracle to fix a settlement price for an expiry. Market or admin only.
    @param expiry unix seconds, in the future
    """
    assert msg.sender == self.market or msg.sender == roles.admin, "oracle: not market"
    assert expiry > block.timestamp, "oracle: expiry not in the future"
    if expiry in self.pending_expiries:
        return
    assert len(self.pending_expiries) < MAX_PENDING, "oracle: too many pending expiries"
    self.pending_expiries.append(expiry)
    log ExpiryRegistered(expiry=expiry)


# --- reads ---

@external
@view
def spot() -> uint256:
    """
    @notice The current spot price; reverts when older than the staleness limit.
    @return spot, 1e18 = 1 USD
    """
    assert self.round_id > 0, "oracle: no price"
    assert self.updated_at + self.params.staleness_limit >= block.timestamp, "oracle: stale price"
    return self.last_spot


@external
@view
def vol(expiry: uint256) -> uint256:
    """
    @notice The ATM implied vol of an expiry; reverts when missing or stale.
    @param expiry unix seconds
    @return vol, 1e18 = 100%
    """
    v: uint256 = self.vols[expiry]
    assert v > 0, "oracle: no vol for expiry"
    assert self.vol_updated_at[expiry] + self.params.staleness_limit >= block.timestamp, "oracle: stale vol"
    return v


@external
@view
def settlement_price(expiry: uint256) -> uint256:
    """
    @notice The settlement price of an expiry, 0 while not yet fixed.
    @param expiry unix seconds
    @return price, 1e18 = 1 USD
    """
    return self.settlement_prices[expiry]


@external
@view
def is_stale() -> bool:
    """
    @notice True when the spot price is missing or older than the staleness limit.
    @return stale
    """
    return self.round_id == 0 or self.updated_at + self.params.staleness_limit < block.timestamp


@external
@view
def decimals() -> uint8:
    """
    @notice Decimals of latestRoundData's answer (8, like Chainlink USD feeds).
    @return 8
    """
    return ANSWER_DECIMALS


@external
@view
def latestRoundData() -> (uint80, int256, uint256, uint256, uint80):
    """
    @notice Chainlink-style read of the latest spot (answer with 8 decimals).
    @return roundId, answer, startedAt, updatedAt, answeredInRound
    """
    rid: uint80 = convert(self.round_id, uint80)
    answer: int256 = convert(self.last_spot // 10**10, int256)
    return rid, answer, self.updated_at, self.updated_at, rid
