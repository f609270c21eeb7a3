"""agents.decisions.unwind_orders: the rule both liquidators (simulated and live) unwind by."""

from agents.decisions import unwind_orders

WAD = 10**18


def test_unwind_orders__open_tradeable_positions__exact_opposite_sizes_in_order():
    held = {3: -21 * WAD - 7, 5: 2 * WAD, 9: 0, 11: -WAD}
    assert unwind_orders(held, {3, 5, 9}) == [(3, 21 * WAD + 7), (5, -2 * WAD)]


def test_unwind_orders__nothing_held_or_nothing_tradeable__no_orders():
    assert unwind_orders({}, {1, 2}) == []
    assert unwind_orders({1: WAD}, set()) == []
