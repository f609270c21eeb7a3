"""agents.decisions.unwind_orders and slots_after_taking: rules both liquidators
(simulated and live) follow."""

from agents.decisions import MAX_POSITIONS, slots_after_taking, unwind_orders
from risk.units import WAD


def test_unwind_orders__open_tradeable_positions__exact_opposite_sizes_in_order():
    held = {3: -21 * WAD - 7, 5: 2 * WAD, 9: 0, 11: -WAD}
    assert unwind_orders(held, {3, 5, 9}) == [(3, 21 * WAD + 7), (5, -2 * WAD)]


def test_unwind_orders__nothing_held_or_nothing_tradeable__no_orders():
    assert unwind_orders({}, {1, 2}) == []
    assert unwind_orders({1: WAD}, set()) == []


def test_slots_after_taking__within_the_market_limit__the_union():
    assert slots_after_taking({1, 2, 3}, {3: WAD, 4: -WAD}) == {1, 2, 3, 4}
    assert slots_after_taking(set(), range(MAX_POSITIONS)) == set(range(MAX_POSITIONS))


def test_slots_after_taking__past_the_limit__none():
    assert MAX_POSITIONS == 8  # OptionMarket.MAX_POSITIONS
    assert slots_after_taking({1, 2, 3, 4, 5}, {6: 1, 7: 1, 8: 1, 9: 1}) is None
