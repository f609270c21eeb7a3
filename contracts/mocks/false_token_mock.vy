# pragma version 0.4.3
"""
@title false_token_mock
@notice A 6-decimal ERC20 that, when told to, answers False instead of reverting
        (as some real tokens do), to test the protocol's checks of return values.
@dev Test networks only.
"""

balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])
decimals: public(constant(uint8)) = 6
failing: public(bool)


@external
def set_failing(failing: bool):
    """
    @notice Make every transfer, transferFrom and approve answer False.
    @param failing True to fail
    """
    self.failing = failing


@external
def mint(to: address, amount: uint256):
    """
    @notice Mint tokens.
    @param to the receiver
    @param amount token units
    """
    self.balanceOf[to] += amount


@external
def transfer(receiver: address, amount: uint256) -> bool:
    """
    @notice Transfer, or answer False when failing.
    @param receiver the receiver
    @param amount token units
    @return success
    """
    if self.failing or self.balanceOf[msg.sender] < amount:
        return False
    self.balanceOf[msg.sender] -= amount
    self.balanceOf[receiver] += amount
    return True


@external
def transferFrom(sender: address, receiver: address, amount: uint256) -> bool:
    """
    @notice Transfer on behalf of the owner, or answer False when failing.
    @param sender the owner
    @param receiver the receiver
    @param amount token units
    @return success
    """
    if self.failing or self.balanceOf[sender] < amount or self.allowance[sender][msg.sender] < amount:
        return False
    self.allowance[sender][msg.sender] -= amount
    self.balanceOf[sender] -= amount
    self.balanceOf[receiver] += amount
    return True


@external
def approve(spender: address, amount: uint256) -> bool:
    """
    @notice Approve, or answer False when failing.
    @param spender the spender
    @param amount token units
    @return success
    """
    if self.failing:
        return False
    self.allowance[msg.sender][spender] = amount
    return True
