"""agents.decisions.unwind_orders and slots_after_taking, rules both liquidators
(simulated and live) follow, and retirable_series, which both settlers follow."""

from agents.decisions import MAX_POSITIONS, retirable_series, slots_after_taking, unwind_orders

WAD = 10**18


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


NOW = 1_900_000_000


def test_retirable_series__expired_priced_and_unheld__only_those():
    expiry_of = {1: NOW - 60, 2: NOW - 60, 3: NOW - 60, 4: NOW + 3_600, 5: NOW - 7_200}
    settled = {NOW - 60: 2_100.0}  # the older expiry's price is not fixed yet
    positions = {"0xa": {1: 0.0, 2: -1.5}, "0xb": {4: 2.0}}  # 1 fully closed, 2 still held
    live = [1, 2, 3, 4, 5, 6]  # 6: not in the index (unknown expiry): left alone
    assert retirable_series(live, positions, expiry_of, settled, NOW) == [1, 3]


def test_retirable_series__at_the_expiry_second__retirable():
    # the market's rule: block.timestamp >= expiry
    assert retirable_series([7], {}, {7: NOW}, {NOW: 1.0}, NOW) == [7]
    assert retirable_series([7], {}, {7: NOW + 1}, {NOW + 1: 1.0}, NOW) == []
