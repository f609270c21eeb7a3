# pragma version 0.4.3
"""
@title LiquidityPool
@notice ERC4626-style vault whose shares own the market's option-writing book: LPs
        deposit collateral for shares; the market trades against the pool's account.
@dev Scales: assets in token units (1e6 = 1 USDC); shares have 18 decimals.
     totalAssets = max(0, pool NAV) where NAV = pool cash + mark value of its book
     (computed by the market at oracle prices). Share price uses a virtual offset
       shares = assets * (supply + 1e12) / (totalAssets + 1)
       assets = shares * (totalAssets + 1) / (supply + 1e12)
     (rounding against the caller) so a first depositor cannot inflate the price.
     While NAV <= 0 a share has no price: deposits and redemptions revert
     ("pool: NAV not positive"); otherwise 1 unit would buy the whole recovery.
     Hazards: deposits and redemptions need a fresh oracle (the NAV is marked);
     redemptions cannot take the pool below its own IM and stop while the market is
     paused and the pool holds positions; a bank run is served first come, first served.
"""

from ethereum.ercs import IERC20

interface IMarket:
    def deposit(amount: uint256, account: address): nonpayable
    def withdraw(amount: uint256): nonpayable
    def pool_state() -> (int256, int256, uint256): view
    def account_margin(account: address) -> (int256, uint256, uint256): view

# --- events ---

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256

event Deposit:
    sender: indexed(address)
    owner: indexed(address)
    assets: uint256
    shares: uint256

event Withdraw:
    sender: indexed(address)
    receiver: indexed(address)
    owner: indexed(address)
    assets: uint256
    shares: uint256

# --- constants ---

OFFSET: constant(uint256) = 10**12  # virtual shares: 1e6-unit assets -> 1e18-unit shares
TOKEN_TO_WAD: constant(uint256) = 10**12

# --- storage ---

asset: public(immutable(address))
market: public(immutable(address))

name: public(String[32])
symbol: public(String[16])
decimals: public(constant(uint8)) = 18
totalSupply: public(uint256)
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])


@deploy
def __init__(_asset: address, _market: address):
    """
    @notice Deploy the pool for a market; approves the market to pull deposits.
    @param _asset the collateral token
    @param _market the OptionMarket
    """
    assert _asset != empty(address) and _market != empty(address), "pool: zero address"
    asset = _asset
    market = _market
    self.name = "optsim LP share"
    self.symbol = "osLP"
    assert extcall IERC20(_asset).approve(_market, max_value(uint256), default_return_value=True), "pool: approve failed"


# --- ERC20 shares ---

@external
def transfer(receiver: address, amount: uint256) -> bool:
    """
    @notice Transfer shares.
    @param receiver the receiver
    @param amount shares (1e18)
    @return True
    """
    self._transfer(msg.sender, receiver, amount)
    return True


@external
def transferFrom(sender: address, receiver: address, amount: uint256) -> bool:
    """
    @notice Transfer shares on behalf of their owner.
    @param sender the owner
    @param receiver the receiver
    @param amount shares (1e18)
    @return True
    """
    self._spend_allowance(sender, msg.sender, amount)
    self._transfer(sender, receiver, amount)
    return True


@external
def approve(spender: address, amount: uint256) -> bool:
    """
    @notice Allow a spender to move shares.
    @param spender the spender
    @param amount shares (1e18)
    @return True
    """
    self.allowance[msg.sender][spender] = amount
    log Approval(owner=msg.sender, spender=spender, value=amount)
    return True


@internal
def _transfer(sender: address, receiver: address, amount: uint256):
    assert receiver != empty(address), "pool: zero address"
    assert self.balanceOf[sender] >= amount, "pool: balance below amount"
    self.balanceOf[sender] -= amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=sender, receiver=receiver, value=amount)


@internal
def _spend_allowance(owner: address, spender: address, amount: uint256):
    if owner == spender:
        return
    allowed: uint256 = self.allowance[owner][spender]
    if allowed != max_value(uint256):
        assert allowed >= amount, "pool: allowance below amount"
        self.allowance[owner][spender] = allowed - amount


# --- vault ---

@internal
@view
def _nav() -> int256:
    nav: int256 = 0
    vega: int256 = 0
    gross: uint256 = 0
    nav, vega, gross = staticcall IMarket(market).pool_state()
    return nav


@internal
@pure
def _assets_of(nav: int256) -> uint256:
    # NAV (1e18 USD) in token units, 0 when not positive
    if nav <= 0:
        return 0
    return convert(nav, uint256) // TOKEN_TO_WAD


@internal
@view
def _total_assets() -> uint256:
    return self._assets_of(self._nav())


@internal
@view
def _priced_assets() -> uint256:
    """
    @dev totalAssets for a deposit or redemption. While NAV <= 0 a share has no price: a
         deposit would buy the whole recovery for nothing, a redemption would pay nothing.
         Both revert; an empty pool (no shares) takes its first deposit at NAV 0.
    """
    nav: int256 = self._nav()
    total: uint256 = self._assets_of(nav)
    assert total > 0 or (nav == 0 and self.totalSupply == 0), "pool: NAV not positive"
    return total


@internal
@view
def _to_shares(assets: uint256, total: uint256) -> uint256:
    return assets * (self.totalSupply + OFFSET) // (total + 1)


@internal
@view
def _to_assets(shares: uint256, total: uint256) -> uint256:
    return shares * (total + 1) // (self.totalSupply + OFFSET)


@external
@view
def totalAssets() -> uint256:
    """
    @notice The pool's NAV in token units (0 if negative).
    @return assets
    """
    return self._total_assets()


@external
@view
def convertToShares(assets: uint256) -> uint256:
    """
    @notice Shares that `assets` buy now.
    @param assets token units
    @return shares
    """
    return self._to_shares(assets, self._total_assets())


@external
@view
def convertToAssets(shares: uint256) -> uint256:
    """
    @notice Assets that `shares` redeem for now.
    @param shares 1e18
    @return assets, token units
    """
    return self._to_assets(shares, self._total_assets())


@external
@view
def previewDeposit(assets: uint256) -> uint256:
    """
    @notice Shares a deposit of `assets` would mint.
    @param assets token units
    @return shares
    """
    return self._to_shares(assets, self._total_assets())


@external
@view
def previewRedeem(shares: uint256) -> uint256:
    """
    @notice Assets a redemption of `shares` would pay.
    @param shares 1e18
    @return assets, token units
    """
    return self._to_assets(shares, self._total_assets())


@external
@nonreentrant
def deposit(assets: uint256, receiver: address = msg.sender) -> uint256:
    """
    @notice Deposit collateral into the pool for shares (never paused; refused while the
            pool's NAV is not positive, except the first deposit into an empty pool).
    @param assets token units, above zero
    @param receiver who receives the shares
    @return shares minted
    """
    assert assets > 0, "pool: zero assets"
    assert receiver != empty(address), "pool: zero address"
    shares: uint256 = self._to_shares(assets, self._priced_assets())
    assert shares > 0, "pool: zero shares"
    assert extcall IERC20(asset).transferFrom(msg.sender, self, assets, default_return_value=True), "pool: transfer failed"
    extcall IMarket(market).deposit(assets, self)
    self.totalSupply += shares
    self.balanceOf[receiver] += shares
    log Transfer(sender=empty(address), receiver=receiver, value=shares)
    log Deposit(sender=msg.sender, owner=receiver, assets=assets, shares=shares)
    return shares


@external
@nonreentrant
def redeem(shares: uint256, receiver: address = msg.sender, owner: address = msg.sender) -> uint256:
    """
    @notice Burn shares for collateral at NAV; the pool must stay above its IM (refused
            while the NAV is not positive).
    @param shares 1e18, above zero
    @param receiver who receives the assets
    @param owner whose shares are burnt (needs allowance when not the sender)
    @return assets paid, token units
    """
    assert shares > 0, "pool: zero shares"
    assert receiver != empty(address), "pool: zero address"
    assert self.balanceOf[owner] >= shares, "pool: balance below shares"
    assets: uint256 = self._to_assets(shares, self._priced_assets())
    assert assets > 0, "pool: zero assets"
    self._spend_allowance(owner, msg.sender, shares)
    self.balanceOf[owner] -= shares
    self.totalSupply -= shares
    extcall IMarket(market).withdraw(assets)
    assert extcall IERC20(asset).transfer(receiver, assets, default_return_value=True), "pool: transfer failed"
    log Transfer(sender=owner, receiver=empty(address), value=shares)
    log Withdraw(sender=msg.sender, receiver=receiver, owner=owner, assets=assets, shares=shares)
    return assets
