# pragma version 0.4.3
"""
@title usdc_mock
@notice A 6-decimal ERC20 stablecoin for local chains: anyone may mint.
@dev Never deploy outside a local or test network.
"""

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256

name: public(String[32])
symbol: public(String[8])
decimals: public(constant(uint8)) = 6
totalSupply: public(uint256)
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])


@deploy
def __init__():
    self.name = "Mock USD Coin"
    self.symbol = "mUSDC"


@external
def mint(to: address, amount: uint256):
    """
    @notice Mint tokens (test networks only).
    @param to the receiver
    @param amount token units, 1e6 = 1 USDC
    """
    self.totalSupply += amount
    self.balanceOf[to] += amount
    log Transfer(sender=empty(address), receiver=to, value=amount)


@external
def transfer(receiver: address, amount: uint256) -> bool:
    """
    @notice Transfer tokens.
    @param receiver the receiver
    @param amount token units
    @return True
    """
    assert self.balanceOf[msg.sender] >= amount, "usdc: balance below amount"
    self.balanceOf[msg.sender] -= amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=msg.sender, receiver=receiver, value=amount)
    return True


@external
def transferFrom(sender: address, receiver: address, amount: uint256) -> bool:
    """
    @notice Transfer tokens on behalf of their owner.
    @param sender the owner
    @param receiver the receiver
    @param amount token units
    @return True
    """
    allowed: uint256 = self.allowance[sender][msg.sender]
    if allowed != max_value(uint256):
        assert allowed >= amount, "usdc: allowance below amount"
        self.allowance[sender][msg.sender] = allowed - amount
    assert self.balanceOf[sender] >= amount, "usdc: balance below amount"
    self.balanceOf[sender] -= amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=sender, receiver=receiver, value=amount)
    return True


@external
def approve(spender: address, amount: uint256) -> bool:
    """
    @notice Allow a spender.
    @param spender the spender
    @param amount token units
    @return True
    """
    self.allowance[msg.sender][spender] = amount
    log Approval(owner=msg.sender, spender=spender, value=amount)
    return True
