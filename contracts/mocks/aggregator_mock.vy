# pragma version 0.4.3
"""
@title aggregator_mock
@notice A Chainlink-style feed for tests: the owner sets rounds.
@dev Test networks only.
"""

owner: public(address)
decimals: public(uint8)
round_id: public(uint80)
answer: public(int256)
updated_at: public(uint256)


@deploy
def __init__(_decimals: uint8):
    self.owner = msg.sender
    self.decimals = _decimals


@external
def set_answer(answer: int256, updated_at: uint256):
    """
    @notice Publish a new round.
    @param answer the price with `decimals` decimals
    @param updated_at the round's timestamp
    """
    assert msg.sender == self.owner, "aggregator: not owner"
    self.round_id += 1
    self.answer = answer
    self.updated_at = updated_at


@external
@view
def latestRoundData() -> (uint80, int256, uint256, uint256, uint80):
    """
    @notice The latest round.
    @return roundId, answer, startedAt, updatedAt, answeredInRound
    """
    return self.round_id, self.answer, self.updated_at, self.updated_at, self.round_id
