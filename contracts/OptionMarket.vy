# pragma version 0.4.3
# pragma optimize codesize
"""
@title OptionMarket
@notice Cash-settled European options on one underlying (ETH/USD) with margin accounts,
        portfolio margin, a liquidity pool as counterparty, Dutch-auction liquidation,
        settlement, an insurance fund and governed risk parameters.
@dev Scales: collateral amounts in token units (1e6 = 1 USDC), prices and values
     1e18 = 1 USD, sizes 1e18 = 1 contract on one unit of the underlying, vols and
     ratios 1e18 = 100%, times in seconds.
     Ledger: the contract holds every collateral token it owes, and
       token.balanceOf(self) == sum(cash[a]) + insurance + fees
     where cash may be negative (an account that borrowed against long options, or
     one in bad debt until covered). Every cash movement moves the same token amount
     out of one bucket and into another, so rounding never creates or destroys tokens.
     Positions: the pool (LiquidityPool contract) is the counterparty of every trade;
       pool_position[s] + sum over other accounts of size[s] == 0 for every series.
     Settlement pays each account against the pool, keeping that identity exact.
     Hazards and assumptions:
     - Margin needs a fresh oracle: a stale price stops trades, withdrawals with open
       positions and liquidations; deposits and settlement of fixed expiries go on.
     - Pause stops new risk only: reduce-only trades, deposits, settlement and
       liquidation always work.
     - Gas of a margin check grows with positions x scenarios (see MarginEngine).
     - Compiled for code size: 24,414 of EIP-170's 24,576 bytes with its immutables
       (about 270 gas more per call than for gas); new logic belongs in another contract.
     - The pool's book is valued once per block and oracle version (`pool_mark`, keyed on
       (block.timestamp, oracle.version())); trades and settlements then update that
       valuation exactly, by the change of the one series they touch, so it always
       equals a full revaluation (quotes need the pool's NAV and vega on every trade).
     - The liquidation discount clock starts when someone flags the account (any call
       of start_auction or liquidate); it is cleared when a trade or withdrawal finds
       the account above MM again. It runs only while re-confirmed: a flag not confirmed
       below MM (start_auction, liquidate) within AUCTION_CONFIRM_SEC is void, so an
       account that recovered cannot be liquidated at a later dip at a grown discount.
"""

from ethereum.ercs import IERC20
from interfaces import IOracle
import MarginEngine
import RiskConfig
import modules.pause as pause
import modules.roles as roles

initializes: roles
initializes: pause
exports: (roles.admin, roles.pending_admin, roles.accept_admin, pause.guardian, pause.paused)

# --- types ---

struct Series:
    strike: uint256  # 1e18 = 1 USD
    expiry: uint256  # unix seconds; trading closes at expiry
    is_call: bool

struct Position:
    series_id: uint256
    size: int256  # 1e18 = 1 contract; negative when short

struct PoolMark:
    key: uint256  # block.timestamp << 128 | oracle version; 0 = none
    value: int256  # the pool's positions at the oracle's prices, fixed payoffs included, 1e18 USD
    vega: int256  # the pool's net vega, 1e18 USD per 1.0 vol
    gross: uint256  # sum of |size| over the pool's unexpired positions, 1e18 contracts

struct Quote:
    price: uint256  # per contract the trader pays (buy) or receives (sell), 1e18 USD
    mark: uint256  # per contract, 1e18 USD
    vega: uint256  # per contract, 1e18 USD per 1.0 vol
    util: uint256  # pool utilisation after the trade, 1e18 = 100%

# --- events ---

event Deposit:
    account: indexed(address)
    sender: indexed(address)
    amount: uint256

event Withdraw:
    account: indexed(address)
    amount: uint256

event SeriesCreated:
    series_id: indexed(uint256)
    strike: uint256
    expiry: uint256
    is_call: bool

event SeriesRetired:
    series_id: indexed(uint256)

event Trade:
    account: indexed(address)
    series_id: indexed(uint256)
    size: int256
    price: uint256
    premium: uint256
    fee: uint256

event AuctionStarted:
    account: indexed(address)
    timestamp: uint256

event AuctionCleared:
    account: indexed(address)

event Liquidation:
    account: indexed(address)
    liquidator: indexed(address)
    fraction: uint256
    discount: uint256
    transfer: int256
    equity: int256
    mm: uint256

event Settled:
    account: indexed(address)
    series_id: indexed(uint256)
    size: int256
    settlement_price: uint256
    payoff: int256

event BadDebt:
    account: indexed(address)
    amount: uint256
    from_insurance: uint256
    socialised: uint256

event InsuranceFunded:
    sender: indexed(address)
    amount: uint256

event FeesCollected:
    recipient: indexed(address)
    amount: uint256

# --- constants ---

WAD: constant(uint256) = 10**18
IWAD: constant(int256) = 10**18
TOKEN_TO_WAD: constant(uint256) = 10**12  # 1e6 token units -> 1e18 USD
ITOKEN_TO_WAD: constant(int256) = 10**12
MAX_POSITIONS: constant(uint256) = 8
MAX_LIVE_SERIES: constant(uint256) = 32
STRIKE_MAX: constant(uint256) = 10**12 * WAD
MAX_TENOR: constant(uint256) = 2 * 365 * 86_400
PREFIX: constant(String[16]) = "market"
AUCTION_CONFIRM_SEC: constant(uint256) = 3_600  # the discount steps hourly; a flag lives an hour

# --- storage ---

token: public(immutable(address))
oracle: public(immutable(address))
engine: public(immutable(address))
config: public(immutable(address))

series_creator: public(address)
fee_recipient: public(address)
pool: public(address)


series: public(HashMap[uint256, Series])
series_count: public(uint256)
live_series: public(DynArray[uint256, MAX_LIVE_SERIES])

cash: public(HashMap[address, int256])  # token units, 1e6 = 1 USDC
_positions: HashMap[address, DynArray[Position, MAX_POSITIONS]]
pool_position: public(HashMap[uint256, int256])  # 1e18 contracts, = -(sum of accounts' sizes)
long_oi: public(HashMap[uint256, uint256])  # sum of accounts' long sizes, 1e18 contracts
short_oi: public(HashMap[uint256, uint256])  # sum of accounts' |short sizes|, 1e18 contracts
insurance: public(uint256)  # token units
fees: public(uint256)  # token units
auction_start: public(HashMap[address, uint256])  # timestamp the account was flagged, 0 if not
auction_seen: public(HashMap[address, uint256])  # when a flag was last confirmed below MM
pool_abs_oi: public(uint256)  # sum over series of |pool_position|, 1e18 contracts
pool_mark: public(PoolMark)  # this block's valuation of the pool's book (see the header)


@deploy
def __init__(_token: address, _oracle: address, _engine: address, _config: address):
    """
    @notice Deploy the market.
    @param _token the collateral token (6 decimals)
    @param _oracle the Oracle
    @param _engine the MarginEngine
    @param _config the RiskConfig holding the governed parameters
    """
    assert _token != empty(address) and _oracle != empty(address), "market: zero address"
    assert _engine != empty(address) and _config != empty(address), "market: zero address"
    token = _token
    oracle = _oracle
    engine = _engine
    config = _config
    roles.__init__()
    pause.__init__()
    self.series_creator = msg.sender
    self.fee_recipient = msg.sender


# --- roles ---

@external
def set_role(role: String[16], account: address):
    """
    @notice Set a role: "guardian", "series_creator", "fee_recipient", the liquidity
            "pool" (once), or nominate the next "admin" (it takes over when it calls
            accept_admin). Admin only.
    @param role the role name
    @param account the new holder
    """
    roles._check_admin(PREFIX)
    roles._check_account(PREFIX, account)
    if role == "guardian":
        pause.guardian = account
    elif role == "series_creator":
        self.series_creator = account
    elif role == "fee_recipient":
        self.fee_recipient = account
    elif role == "admin":
        roles.pending_admin = account  # two steps: code size forbids transfer_admin here
    elif role == "pool":
        assert self.pool == empty(address), "market: pool already set"
        self.pool = account
    else:
        raise "market: unknown role"
    log roles.RoleSet(role=role, account=account)


@external
def set_paused(paused: bool):
    """
    @notice Pause or unpause new risk. The guardian may only pause; the admin may do both.
    @param paused True to pause
    """
    pause._set_paused(PREFIX, paused, roles.admin)


# --- series ---

@external
def create_series(strike: uint256, expiry: uint256, is_call: bool) -> uint256:
    """
    @notice Create a (strike, expiry, call/put) series. Series creator only.
    @param strike 1e18 = 1 USD, in (0, 1e30]
    @param expiry unix seconds, in the future and at most two years away
    @param is_call True for a call
    @return the new series id
    """
    assert msg.sender == self.series_creator, "market: not series creator"
    assert strike > 0 and strike <= STRIKE_MAX, "market: strike outside (0, 1e30]"
    assert expiry > block.timestamp and expiry <= block.timestamp + MAX_TENOR, "market: expiry outside (now, now + 2 years]"
    assert len(self.live_series) < MAX_LIVE_SERIES, "market: too many live series"
    sid: uint256 = self.series_count
    self.series_count = sid + 1
    self.series[sid] = Series(strike=strike, expiry=expiry, is_call=is_call)
    self.live_series.append(sid)
    extcall IOracle(oracle).register_expiry(expiry)
    log SeriesCreated(series_id=sid, strike=strike, expiry=expiry, is_call=is_call)
    return sid


@external
def retire_series(series_id: uint256):
    """
    @notice Drop a fully settled series from the live list (anyone).
    @param series_id the series
    """
    s: Series = self._series(series_id)
    assert block.timestamp >= s.expiry, "market: series not expired"
    assert self.long_oi[series_id] == 0 and self.short_oi[series_id] == 0, "market: series has open positions"
    # the pool's position is minus the accounts' (so 0 here); pool_mark relies on it
    assert self.pool_position[series_id] == 0, "market: series has open positions"
    assert series_id in self.live_series, "market: series not live"
    kept: DynArray[uint256, MAX_LIVE_SERIES] = []
    for sid: uint256 in self.live_series:
        if sid != series_id:
            kept.append(sid)
    self.live_series = kept
    log SeriesRetired(series_id=series_id)


@internal
@view
def _series(series_id: uint256) -> Series:
    assert series_id < self.series_count, "market: unknown series"
    return self.series[series_id]


# --- valuation ---

@internal
@pure
def _intrinsic(s: Series, price: uint256) -> uint256:
    if s.is_call:
        return price - s.strike if price > s.strike else 0
    return s.strike - price if s.strike > price else 0


@internal
@view
def _engine_position(s: Series, size: int256) -> (MarginEngine.EnginePosition, int256, bool):
    # returns the engine's view of a position, or (empty, fixed value, True) when its
    # settlement price is fixed and its value no longer depends on the market
    if block.timestamp >= s.expiry:
        sp: uint256 = staticcall IOracle(oracle).settlement_price(s.expiry)
        if sp > 0:
            return empty(MarginEngine.EnginePosition), size * convert(self._intrinsic(s, sp), int256) // IWAD, True
        return MarginEngine.EnginePosition(strike=s.strike, t_sec=0, vol=0, is_call=s.is_call, size=size), 0, False
    v: uint256 = staticcall IOracle(oracle).vol(s.expiry)
    return MarginEngine.EnginePosition(strike=s.strike, t_sec=s.expiry - block.timestamp, vol=v, is_call=s.is_call, size=size), 0, False


@internal
@view
def _account_book(account: address, series_id: uint256, delta: int256) -> (DynArray[MarginEngine.EnginePosition, 32], int256):
    # the account's book with `delta` added to its position in `series_id` (delta 0: as is),
    # and the value of its positions whose settlement price is fixed
    book: DynArray[MarginEngine.EnginePosition, 32] = []
    fixed: int256 = 0
    found: bool = delta == 0
    ps: DynArray[Position, MAX_POSITIONS] = self._positions[account]
    for p: Position in ps:
        size: int256 = p.size
        if p.series_id == series_id and not found:
            size += delta
            found = True
            if size == 0:
                continue
        ep: MarginEngine.EnginePosition = empty(MarginEngine.EnginePosition)
        fv: int256 = 0
        is_fixed: bool = False
        ep, fv, is_fixed = self._engine_position(self.series[p.series_id], size)
        if is_fixed:
            fixed += fv
        else:
            book.append(ep)
    if not found:
        assert len(ps) < MAX_POSITIONS, "market: too many positions"
        ep: MarginEngine.EnginePosition = empty(MarginEngine.EnginePosition)
        fv: int256 = 0
        is_fixed: bool = False
        ep, fv, is_fixed = self._engine_position(self.series[series_id], delta)
        if is_fixed:
            fixed += fv
        else:
            book.append(ep)
    return book, fixed


@internal
@view
def _pool_book() -> (DynArray[MarginEngine.EnginePosition, 32], int256, uint256):
    # the pool's book over live series, the value of its fixed positions and its gross size
    book: DynArray[MarginEngine.EnginePosition, 32] = []
    fixed: int256 = 0
    gross: uint256 = 0
    for sid: uint256 in self.live_series:
        size: int256 = self.pool_position[sid]
        if size == 0:
            continue
        s: Series = self.series[sid]
        ep: MarginEngine.EnginePosition = empty(MarginEngine.EnginePosition)
        fv: int256 = 0
        is_fixed: bool = False
        ep, fv, is_fixed = self._engine_position(s, size)
        if is_fixed:
            fixed += fv
        else:
            book.append(ep)
            if block.timestamp < s.expiry:
                gross += convert(abs(size), uint256)
    return book, fixed, gross


@internal
@view
def _book_margin(book: DynArray[MarginEngine.EnginePosition, 32], spot: uint256) -> (int256, uint256, uint256):
    # (mark value, MM, IM) of a book, all 1e18 USD
    if len(book) == 0:
        return 0, 0, 0
    return staticcall MarginEngine.__interface__(engine).portfolio_margin(spot, book, (staticcall RiskConfig.__interface__(config).margin_params()))


@internal
@view
def _margin(account: address, spot: uint256) -> (int256, uint256, uint256):
    # (equity 1e18 USD, MM 1e18 USD, IM 1e18 USD) of an account
    book: DynArray[MarginEngine.EnginePosition, 32] = []
    fixed: int256 = 0
    if account == self.pool:
        gross: uint256 = 0
        book, fixed, gross = self._pool_book()
    else:
        book, fixed = self._account_book(account, 0, 0)
    value: int256 = 0
    mm: uint256 = 0
    im: uint256 = 0
    value, mm, im = self._book_margin(book, spot)
    return self.cash[account] * ITOKEN_TO_WAD + value + fixed, mm, im


@internal
@view
def _mark_key() -> uint256:
    # the pool's valuation holds for one block and one oracle state
    return (block.timestamp << 128) | staticcall IOracle(oracle).version()


@internal
@view
def _pool_mark(spot: uint256, key: uint256) -> PoolMark:
    # this block's valuation of the pool's book: stored, or computed from scratch
    m: PoolMark = self.pool_mark
    if m.key == key:
        return m
    book: DynArray[MarginEngine.EnginePosition, 32] = []
    fixed: int256 = 0
    gross: uint256 = 0
    book, fixed, gross = self._pool_book()
    value: int256 = 0
    vega: int256 = 0
    if len(book) > 0:
        value, vega = staticcall MarginEngine.__interface__(engine).value_and_vega(spot, book)
    return PoolMark(key=key, value=value + fixed, vega=vega, gross=gross)


@internal
@view
def _pool_state(spot: uint256) -> (int256, int256, uint256):
    # (pool NAV 1e18 USD, pool net vega 1e18 USD per 1.0 vol, pool gross size 1e18 contracts)
    m: PoolMark = self._pool_mark(spot, self._mark_key())
    return self.cash[self.pool] * ITOKEN_TO_WAD + m.value, m.vega, m.gross


# --- quoting ---

@internal
@view
def _open_series(series_id: uint256) -> Series:
    # a known series still open for trading
    s: Series = self._series(series_id)
    assert block.timestamp < s.expiry, "market: series expired"
    return s


@internal
@view
def _quote(series_id: uint256, s: Series, size: int256, spot: uint256, m: PoolMark, pp: RiskConfig.PoolParams) -> Quote:
    # the pool's price for `size` contracts of open series s, given its valuation m and
    # the pool parameters pp (read once by the caller):
    # half_spread_vol = spread_base + spread_util * U_after + spread_vega * |pool vega after| / NAV
    # spread = max(min_spread * spot, half_spread_vol * vega_per_contract)
    ep: MarginEngine.EnginePosition = empty(MarginEngine.EnginePosition)
    fv: int256 = 0
    is_fixed: bool = False
    ep, fv, is_fixed = self._engine_position(s, IWAD)
    mark_i: int256 = 0
    vega_i: int256 = 0
    mark_i, vega_i = staticcall MarginEngine.__interface__(engine).value_and_vega(spot, [ep])
    nav: int256 = self.cash[self.pool] * ITOKEN_TO_WAD + m.value
    assert nav > 0, "market: pool has no capital"
    old_pos: int256 = self.pool_position[series_id]
    new_pos: int256 = old_pos - size
    gross_after: uint256 = m.gross - convert(abs(old_pos), uint256) + convert(abs(new_pos), uint256)
    util: uint256 = gross_after * spot // convert(nav, uint256)
    vega_after: int256 = m.vega - size * vega_i // IWAD
    half_vol: uint256 = pp.spread_base + pp.spread_util * util // WAD + pp.spread_vega * convert(abs(vega_after), uint256) // convert(nav, uint256)
    spread: uint256 = max(pp.min_spread * spot // WAD, half_vol * convert(vega_i, uint256) // WAD)
    mark: uint256 = convert(mark_i, uint256)
    price: uint256 = 0
    if size > 0:
        price = mark + spread
    elif mark > spread:
        price = mark - spread
    return Quote(price=price, mark=mark, vega=convert(vega_i, uint256), util=util)


@external
@view
def quote(series_id: uint256, size: int256) -> (uint256, uint256, uint256):
    """
    @notice The pool's price for a trade of `size` contracts.
    @param series_id the series
    @param size 1e18 = 1 contract, positive to buy, negative to sell
    @return price per contract (1e18 USD), mark per contract (1e18 USD), pool utilisation after (1e18 = 100%)
    """
    assert size != 0, "market: zero size"
    spot: uint256 = staticcall IOracle(oracle).spot()
    s: Series = self._open_series(series_id)  # before valuing the pool's book: errors first
    pp: RiskConfig.PoolParams = staticcall RiskConfig.__interface__(config).pool_params()
    q: Quote = self._quote(series_id, s, size, spot, self._pool_mark(spot, self._mark_key()), pp)
    return q.price, q.mark, q.util


# --- accounts ---

@internal
def _transfer_in(sender: address, amount: uint256):
    assert extcall IERC20(token).transferFrom(sender, self, amount, default_return_value=True), "market: transfer failed"


@internal
def _transfer_out(to: address, amount: uint256):
    assert extcall IERC20(token).transfer(to, amount, default_return_value=True), "market: transfer failed"


@external
@nonreentrant
def deposit(amount: uint256, account: address = msg.sender):
    """
    @notice Deposit collateral into an account (never paused).
    @param amount token units (1e6 = 1 USDC), above zero
    @param account the account credited (default: the sender)
    """
    assert amount > 0, "market: zero amount"
    assert account != empty(address), "market: zero address"
    self._transfer_in(msg.sender, amount)
    self.cash[account] += convert(amount, int256)
    log Deposit(account=account, sender=msg.sender, amount=amount)


@external
@nonreentrant
def withdraw(amount: uint256):
    """
    @notice Withdraw collateral; with open positions the account must stay above IM.
    @param amount token units (1e6 = 1 USDC), above zero and at most the account's cash
    """
    assert amount > 0, "market: zero amount"
    assert self.cash[msg.sender] >= convert(amount, int256), "market: amount above cash"
    self.cash[msg.sender] -= convert(amount, int256)
    has_risk: bool = len(self._positions[msg.sender]) > 0
    if msg.sender == self.pool:
        has_risk = self.pool_abs_oi > 0
    if has_risk:
        assert not pause.paused, "market: paused"
        equity: int256 = 0
        mm: uint256 = 0
        im: uint256 = 0
        equity, mm, im = self._margin(msg.sender, staticcall IOracle(oracle).spot())
        assert equity >= convert(im, int256), "market: below initial margin"
        self._clear_auction(msg.sender, equity, mm)
    self._transfer_out(msg.sender, amount)
    log Withdraw(account=msg.sender, amount=amount)


@internal
def _clear_auction(account: address, equity: int256, mm: uint256):
    if self.auction_start[account] != 0 and equity >= convert(mm, int256):
        self.auction_start[account] = 0
        log AuctionCleared(account=account)


@internal
def _update_oi(series_id: uint256, old: int256, new: int256):
    # keep long_oi / short_oi equal to the sums of the accounts' long / short sizes
    if old > 0:
        self.long_oi[series_id] -= convert(old, uint256)
    elif old < 0:
        self.short_oi[series_id] -= convert(-old, uint256)
    if new > 0:
        self.long_oi[series_id] += convert(new, uint256)
    elif new < 0:
        self.short_oi[series_id] += convert(-new, uint256)


@internal
def _add_position(account: address, series_id: uint256, delta: int256) -> int256:
    # add delta to an account's position in a series; returns the old size
    ps: DynArray[Position, MAX_POSITIONS] = self._positions[account]
    n: uint256 = len(ps)
    for i: uint256 in range(MAX_POSITIONS):
        if i >= n:
            break
        if ps[i].series_id == series_id:
            old: int256 = ps[i].size
            new: int256 = old + delta
            if new == 0:
                ps[i] = ps[n - 1]
                ps.pop()
            else:
                ps[i].size = new
            self._positions[account] = ps
            self._update_oi(series_id, old, new)
            return old
    if delta != 0:
        assert n < MAX_POSITIONS, "market: too many positions"
        ps.append(Position(series_id=series_id, size=delta))
        self._positions[account] = ps
        self._update_oi(series_id, 0, delta)
    return 0


@internal
def _position(account: address, series_id: uint256) -> int256:
    for p: Position in self._positions[account]:
        if p.series_id == series_id:
            return p.size
    return 0


# --- trading ---

@internal
@pure
def _is_reducing(old: int256, new: int256) -> bool:
    # |new| <= |old| with no change of side
    if old > 0:
        return new >= 0 and new <= old
    if old < 0:
        return new <= 0 and new >= old
    return False


@internal
def _set_pool_position(series_id: uint256, old: int256, new: int256):
    # the pool's position and the running sum of |positions| it is capped by
    self.pool_position[series_id] = new
    self.pool_abs_oi = self.pool_abs_oi - convert(abs(old), uint256) + convert(abs(new), uint256)


@external
@nonreentrant
def trade(series_id: uint256, size: int256, limit_price: uint256) -> uint256:
    """
    @notice Buy (size > 0) or sell (size < 0) options from the pool at its quote.
    @dev The account must end above IM, unless the trade only reduces its position and
         leaves its margin surplus (equity - IM) no worse. While paused only such
         reduce-only trades pass. All checks run on the book as it will be; state
         changes only after they pass.
    @param series_id the series
    @param size 1e18 = 1 contract, not zero
    @param limit_price worst accepted price per contract (1e18 USD): max when buying, min when selling
    @return the premium paid or received, token units
    """
    assert size != 0, "market: zero size"
    trader: address = msg.sender
    pool: address = self.pool
    assert trader != pool, "market: pool cannot trade"
    assert pool != empty(address), "market: no pool"
    spot: uint256 = staticcall IOracle(oracle).spot()
    s: Series = self._open_series(series_id)  # before valuing the pool's book: errors first
    m: PoolMark = self._pool_mark(spot, self._mark_key())
    pp: RiskConfig.PoolParams = staticcall RiskConfig.__interface__(config).pool_params()
    q: Quote = self._quote(series_id, s, size, spot, m, pp)
    if size > 0:
        assert q.price <= limit_price, "market: price above limit"
    else:
        assert q.price >= limit_price, "market: price below limit"

    old: int256 = self._position(trader, series_id)
    reducing: bool = self._is_reducing(old, old + size)
    assert not pause.paused or reducing, "market: paused, reduce-only"

    # pool exposure: caps and utilisation bind only when the pool's |position| grows
    pool_old: int256 = self.pool_position[series_id]
    pool_new: int256 = pool_old - size
    if abs(pool_new) > abs(pool_old):
        lim: RiskConfig.Limits = staticcall RiskConfig.__interface__(config).limits()
        assert convert(abs(pool_new), uint256) <= lim.series_oi_cap, "market: series open interest cap"
        total: uint256 = self.pool_abs_oi - convert(abs(pool_old), uint256) + convert(abs(pool_new), uint256)
        assert total <= lim.total_oi_cap, "market: total open interest cap"
        assert q.util <= pp.max_utilisation, "market: pool utilisation cap"

    # premium = |size| * price, rounded against the trader; fee = fee_rate * spot * |size|
    abs_size: uint256 = convert(abs(size), uint256)
    premium_wad: uint256 = abs_size * q.price // WAD
    premium: uint256 = 0
    if size > 0:
        premium = (premium_wad + TOKEN_TO_WAD - 1) // TOKEN_TO_WAD
    else:
        premium = premium_wad // TOKEN_TO_WAD
    fee_wad: uint256 = pp.fee_rate * spot // WAD * abs_size // WAD
    fee: uint256 = (fee_wad + TOKEN_TO_WAD - 1) // TOKEN_TO_WAD
    to_insurance: uint256 = fee * pp.insurance_share // WAD
    trader_cash: int256 = self.cash[trader]
    pool_cash: int256 = self.cash[pool]
    if size > 0:
        trader_cash -= convert(premium + fee, int256)
        pool_cash += convert(premium, int256)
    else:
        trader_cash += convert(premium, int256) - convert(fee, int256)
        pool_cash -= convert(premium, int256)

    # margin after the trade; only a failing reduce-only trade needs the margin before it
    book: DynArray[MarginEngine.EnginePosition, 32] = []
    fixed: int256 = 0
    book, fixed = self._account_book(trader, series_id, size)
    value: int256 = 0
    mm: uint256 = 0
    im: uint256 = 0
    value, mm, im = self._book_margin(book, spot)
    equity: int256 = trader_cash * ITOKEN_TO_WAD + value + fixed
    surplus: int256 = equity - convert(im, int256)
    if surplus < 0:
        assert reducing, "market: below initial margin"
        eq0: int256 = 0
        mm0: uint256 = 0
        im0: uint256 = 0
        eq0, mm0, im0 = self._margin(trader, spot)
        assert surplus >= eq0 - convert(im0, int256), "market: below initial margin"

    self.cash[trader] = trader_cash
    self.cash[pool] = pool_cash
    self.insurance += to_insurance
    self.fees += fee - to_insurance
    self._add_position(trader, series_id, size)
    self._set_pool_position(series_id, pool_old, pool_new)
    # the pool's valuation moves by this series' change alone (the same truncations as
    # a full revaluation: value = sum over series of size * price // 1e18)
    mark: int256 = convert(q.mark, int256)
    vega: int256 = convert(q.vega, int256)
    m.value += pool_new * mark // IWAD - pool_old * mark // IWAD
    m.vega += pool_new * vega // IWAD - pool_old * vega // IWAD
    m.gross = m.gross - convert(abs(pool_old), uint256) + convert(abs(pool_new), uint256)
    self.pool_mark = m

    self._clear_auction(trader, equity, mm)
    log Trade(account=trader, series_id=series_id, size=size, price=q.price, premium=premium, fee=fee)
    return premium


# --- liquidation ---

@internal
@view
def _discount(account: address) -> uint256:
    # d = min(max_discount, start_discount + discount_rate * hours since flagged)
    lp: RiskConfig.LiquidationParams = staticcall RiskConfig.__interface__(config).liquidation_params()
    start: uint256 = self.auction_start[account]
    if start == 0 or self._auction_void(account):
        return lp.start_discount
    return min(lp.max_discount, lp.start_discount + lp.discount_rate * (block.timestamp - start) // 3600)


@internal
def _flag(account: address, equity: int256, mm: uint256):
    assert equity < convert(mm, int256), "market: account healthy"
    if self.auction_start[account] == 0 or self._auction_void(account):
        self.auction_start[account] = block.timestamp
        log AuctionStarted(account=account, timestamp=block.timestamp)
    self.auction_seen[account] = block.timestamp


@internal
@view
def _auction_void(account: address) -> bool:
    # a flag not re-confirmed below MM within the hour the discount steps by is stale
    return block.timestamp > self.auction_seen[account] + AUCTION_CONFIRM_SEC


@external
def start_auction(account: address):
    """
    @notice Flag an account below MM, starting its liquidation discount clock (anyone).
    @param account the account
    """
    assert account != self.pool, "market: pool cannot be liquidated"
    equity: int256 = 0
    mm: uint256 = 0
    im: uint256 = 0
    equity, mm, im = self._margin(account, staticcall IOracle(oracle).spot())
    self._flag(account, equity, mm)


@external
@nonreentrant
def liquidate(account: address, max_fraction: uint256) -> uint256:
    """
    @notice Take over a fraction of an account below MM at a discount (Dutch auction).
    @dev With E equity, MM, k = im_factor, b = target_buffer, d = discount, the fraction
         that restores E' >= (1 + b) k MM' (with MM' = (1 - f) MM, E' = E - f d MM) is
           f* = ((1 + b) k MM - E) / (((1 + b) k - d) MM),  f = min(1, f*, max_fraction).
         The liquidator receives f of every position and the cash
           transfer = f * (-P) + R,  R = min(f d MM, f E) when E > 0, else f d MM
         (P = mark value of the positions; rounded down to a token unit), so it gains R
         at mark and the account keeps E - R >= (1 - f) E >= 0: a liquidation, whole or
         split into parts, never turns positive equity into bad debt. It must end above
         its own IM. A fully liquidated
         account left with negative cash is covered by the insurance fund, then the pool.
    @param account the account to liquidate
    @param max_fraction 1e18 = 100%: the most the caller will take
    @return the fraction taken, 1e18 = 100%
    """
    liquidator: address = msg.sender
    assert account != self.pool, "market: pool cannot be liquidated"
    assert account != liquidator, "market: self-liquidation"
    assert max_fraction > 0 and max_fraction <= WAD, "market: max_fraction outside (0, 1e18]"
    assert len(self._positions[account]) > 0, "market: no positions"
    spot: uint256 = staticcall IOracle(oracle).spot()
    equity: int256 = 0
    mm: uint256 = 0
    im: uint256 = 0
    equity, mm, im = self._margin(account, spot)
    self._flag(account, equity, mm)
    d: uint256 = self._discount(account)
    lp: RiskConfig.LiquidationParams = staticcall RiskConfig.__interface__(config).liquidation_params()
    target: uint256 = (WAD + lp.target_buffer) * (staticcall RiskConfig.__interface__(config).margin_params()).im_factor // WAD  # (1 + b) k
    f: uint256 = WAD
    if mm > 0 and equity > 0:
        num: uint256 = target * mm // WAD - convert(equity, uint256)
        den: uint256 = (target - d) * mm // WAD
        f = min(WAD, (num * WAD + den - 1) // den)
    f = min(f, max_fraction)

    positions_value: int256 = equity - self.cash[account] * ITOKEN_TO_WAD
    fi: int256 = convert(f, int256)
    # the reward f d MM, capped at the taken share f E of a positive equity: no
    # liquidation, whole or in parts, makes bad debt or leaves the rest with less than (1-f) E
    reward: uint256 = f * d // WAD * mm // WAD
    if equity > 0:
        reward = min(reward, f * convert(equity, uint256) // WAD)
    transfer_wad: int256 = -positions_value * fi // IWAD + convert(reward, int256)
    transfer: int256 = transfer_wad // ITOKEN_TO_WAD
    if transfer * ITOKEN_TO_WAD > transfer_wad:
        transfer -= 1  # rounded down, in the account's favour
    self.cash[account] -= transfer
    self.cash[liquidator] += transfer
    ps: DynArray[Position, MAX_POSITIONS] = self._positions[account]
    for p: Position in ps:
        moved: int256 = p.size * fi // IWAD
        if moved != 0:
            self._add_position(account, p.series_id, -moved)
            self._add_position(liquidator, p.series_id, moved)

    eq_l: int256 = 0
    mm_l: uint256 = 0
    im_l: uint256 = 0
    eq_l, mm_l, im_l = self._margin(liquidator, spot)
    assert eq_l >= convert(im_l, int256), "market: liquidator below initial margin"
    log Liquidation(account=account, liquidator=liquidator, fraction=f, discount=d, transfer=transfer, equity=equity, mm=mm)

    if len(self._positions[account]) == 0:
        self.auction_start[account] = 0
        if self.cash[account] < 0:
            self._cover_bad_debt(account)
    else:
        # margin is linear in a uniform scaling of the book: after taking f of it,
        # MM' = (1 - f) MM and the positions are worth (1 - f) P (up to size rounding)
        keep: int256 = IWAD - fi
        eq_a: int256 = self.cash[account] * ITOKEN_TO_WAD + positions_value * keep // IWAD
        self._clear_auction(account, eq_a, mm * convert(keep, uint256) // WAD)
    return f


@internal
def _cover_bad_debt(account: address):
    # insurance pays first; the rest is socialised to the LPs through the pool's cash
    debt: uint256 = convert(-self.cash[account], uint256)
    from_insurance: uint256 = min(debt, self.insurance)
    socialised: uint256 = debt - from_insurance
    self.insurance -= from_insurance
    self.cash[self.pool] -= convert(socialised, int256)
    self.cash[account] = 0
    log BadDebt(account=account, amount=debt, from_insurance=from_insurance, socialised=socialised)


@external
@nonreentrant
def cover_bad_debt(account: address):
    """
    @notice Cover the negative cash of an account with no positions left (anyone).
    @param account the account in bad debt
    """
    assert account != self.pool, "market: pool cannot be covered"
    assert len(self._positions[account]) == 0, "market: account has positions"
    assert self.cash[account] < 0, "market: no bad debt"
    self._cover_bad_debt(account)


# --- settlement ---

@external
@nonreentrant
def settle(account: address, series_id: uint256) -> int256:
    """
    @notice Settle an account's position in an expired series at its settlement price (anyone).
    @dev payoff = size * max(S - K, 0) for calls, size * max(K - S, 0) for puts, paid
         between the account and the pool (truncated towards zero in token units).
    @param account the account
    @param series_id the series
    @return the payoff, token units (negative when the account pays)
    """
    s: Series = self._series(series_id)
    assert block.timestamp >= s.expiry, "market: series not expired"
    assert account != self.pool, "market: pool settles through its counterparties"
    sp: uint256 = staticcall IOracle(oracle).settlement_price(s.expiry)
    assert sp > 0, "market: settlement price not set"
    size: int256 = self._position(account, series_id)
    assert size != 0, "market: no position"
    payoff: int256 = size * convert(self._intrinsic(s, sp), int256) // IWAD // ITOKEN_TO_WAD
    self.cash[account] += payoff
    self.cash[self.pool] -= payoff
    self._add_position(account, series_id, -size)
    pool_old: int256 = self.pool_position[series_id]
    pool_new: int256 = pool_old + size
    self._set_pool_position(series_id, pool_old, pool_new)
    if self.pool_mark.key == self._mark_key():
        # a fixed position is worth size * payoff // 1e18 in the pool's valuation
        payoff_wad: int256 = convert(self._intrinsic(s, sp), int256)
        self.pool_mark.value += pool_new * payoff_wad // IWAD - pool_old * payoff_wad // IWAD
    log Settled(account=account, series_id=series_id, size=size, settlement_price=sp, payoff=payoff)
    if len(self._positions[account]) == 0 and self.cash[account] < 0:
        self._cover_bad_debt(account)
    return payoff


# --- insurance and fees ---

@external
@nonreentrant
def fund_insurance(amount: uint256):
    """
    @notice Add collateral to the insurance fund (anyone).
    @param amount token units, above zero
    """
    assert amount > 0, "market: zero amount"
    self._transfer_in(msg.sender, amount)
    self.insurance += amount
    log InsuranceFunded(sender=msg.sender, amount=amount)


@external
@nonreentrant
def collect_fees() -> uint256:
    """
    @notice Send the accumulated protocol fees to the fee recipient. Fee recipient only.
    @return the amount sent, token units
    """
    assert msg.sender == self.fee_recipient, "market: not fee recipient"
    amount: uint256 = self.fees
    assert amount > 0, "market: no fees"
    self.fees = 0
    self._transfer_out(msg.sender, amount)
    log FeesCollected(recipient=msg.sender, amount=amount)
    return amount


# --- views ---

@external
@view
def positions(account: address) -> DynArray[Position, MAX_POSITIONS]:
    """
    @notice An account's open positions.
    @param account the account
    @return the positions
    """
    return self._positions[account]


@external
@view
def account_margin(account: address) -> (int256, uint256, uint256):
    """
    @notice An account's equity, maintenance and initial margin at the oracle's prices.
    @param account the account (the pool's margin covers its whole book)
    @return equity (1e18 USD, signed), MM (1e18 USD), IM (1e18 USD)
    """
    return self._margin(account, staticcall IOracle(oracle).spot())


@external
@view
def is_liquidatable(account: address) -> bool:
    """
    @notice True when the account has positions and its equity is below MM.
    @param account the account
    @return liquidatable
    """
    if account == self.pool or len(self._positions[account]) == 0:
        return False
    equity: int256 = 0
    mm: uint256 = 0
    im: uint256 = 0
    equity, mm, im = self._margin(account, staticcall IOracle(oracle).spot())
    return equity < convert(mm, int256)


@external
@view
def pool_state() -> (int256, int256, uint256):
    """
    @notice The pool's NAV, net vega and gross open size.
    @return NAV (1e18 USD), vega (1e18 USD per 1.0 vol), gross (1e18 contracts)
    """
    return self._pool_state(staticcall IOracle(oracle).spot())


@external
@view
def discount(account: address) -> uint256:
    """
    @notice The liquidation discount an account would give now.
    @param account the account
    @return discount, 1e18 = 100%
    """
    return self._discount(account)


@external
@view
def live_series_ids() -> DynArray[uint256, MAX_LIVE_SERIES]:
    """
    @notice The ids of live (not retired) series.
    @return ids
    """
    return self.live_series
