"""agents.decisions.settle_candidates and retirable_series: rules both settlers (simulated
and live) follow."""

from agents.decisions import retirable_series, settle_candidates

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


def test_settle_candidates__expired_and_priced_positions_only():
    expiry_of = {1: NOW - 60, 2: NOW + 60, 3: NOW - 7_200}
    settled = {NOW - 60: 2_100.0}
    positions = {"0xa": {1: -2.0, 2: 1.0, 3: 1.0}, "0xb": {1: 0.0}}
    assert settle_candidates(positions, expiry_of, settled, NOW) == [("0xa", 1)]
