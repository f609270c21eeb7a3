"""Settlement at expiry against the pool, and retiring settled series."""

import ape
import pytest

from risk.units import USDC, WAD

MAX = 10**30


@pytest.fixture
def expired(market, seed_pool, fund, writer, buyer, find_series, chain, push):
    """Buyer long 2 and writer short 3 of the 7-day 1800 call; expiry passes at spot 2100."""
    seed_pool(1_000_000)
    fund(writer, 20_000)
    fund(buyer, 20_000)
    sid = find_series(1_800, 7, True)
    market.trade(sid, 2 * WAD, MAX, sender=buyer)
    market.trade(sid, -3 * WAD, 0, sender=writer)
    chain.pending_timestamp = market.series(sid).expiry + 10
    push(2_100)
    return sid


def test_settle__long_receives_intrinsic_from_pool(
    market, oracle, buyer, pool, expired, ledger_gap, writer
):
    sid = expired
    expiry = market.series(sid).expiry
    assert oracle.settlement_price(expiry) == 2_100 * WAD
    cash0, pool0 = market.cash(buyer), market.cash(pool)
    tx = market.settle(buyer, sid, sender=buyer)
    ev = tx.decode_logs(market.Settled)[0]
    assert ev.payoff == 600 * USDC  # 2 * (2100 - 1800)
    assert (ev.size, ev.settlement_price) == (2 * WAD, 2_100 * WAD)
    assert market.cash(buyer) == cash0 + 600 * USDC
    assert market.cash(pool) == pool0 - 600 * USDC
    assert len(market.positions(buyer)) == 0
    assert market.long_oi(sid) == 0
    assert market.pool_position(sid) == 3 * WAD  # now only the writer's short is against it
    assert market.pool_abs_oi() == 3 * WAD
    assert ledger_gap([buyer, writer, pool]) == 0


def test_settle__short_pays_intrinsic_and_series_retires(
    market, buyer, writer, keeper, pool, expired
):
    sid = expired
    market.settle(buyer, sid, sender=keeper)
    tx = market.settle(writer, sid, sender=keeper)
    assert tx.decode_logs(market.Settled)[0].payoff == -900 * USDC
    assert market.pool_position(sid) == 0 and market.pool_abs_oi() == 0
    assert market.short_oi(sid) == 0
    tx = market.retire_series(sid, sender=keeper)
    assert sid not in market.live_series_ids()
    assert tx.decode_logs(market.SeriesRetired)[0].series_id == sid
    with ape.reverts("market: series not live"):
        market.retire_series(sid, sender=keeper)


def test_settle__short_without_cash__bad_debt_covered(
    market, pool, stranger, fund, seed_pool, find_series, chain, push
):
    seed_pool(1_000_000)
    fund(stranger, 450)
    sid = find_series(2_000, 7, True)
    market.trade(sid, -WAD, 0, sender=stranger)
    assert market.cash(stranger) < 1_000 * USDC  # less than the payoff it will owe
    # the keepers are absent: spot runs to 3000 by expiry without a liquidation
    for spot in (2_500, 3_000):
        push(spot)
    chain.pending_timestamp = market.series(sid).expiry + 1
    push(3_000)
    tx = market.settle(stranger, sid, sender=stranger)
    bad = tx.decode_logs(market.BadDebt)[0]
    assert bad.amount > 0 and bad.socialised == bad.amount - bad.from_insurance
    assert market.cash(stranger) == 0


def test_settle__before_expiry__reverts(market, buyer, find_series):
    with ape.reverts("market: series not expired"):
        market.settle(buyer, find_series(1_800, 7, True), sender=buyer)


def test_settle__price_not_fixed__reverts(market, seed_pool, fund, buyer, find_series, chain):
    seed_pool(1_000_000)
    fund(buyer, 10_000)
    sid = find_series(1_800, 7, True)
    market.trade(sid, WAD, MAX, sender=buyer)
    chain.pending_timestamp = market.series(sid).expiry + 10  # no oracle update since expiry
    with ape.reverts("market: settlement price not set"):
        market.settle(buyer, sid, sender=buyer)


def test_settle__no_position__reverts(market, stranger, expired):
    with ape.reverts("market: no position"):
        market.settle(stranger, expired, sender=stranger)


def test_settle__pool__reverts(market, pool, stranger, expired):
    with ape.reverts("market: pool settles through its counterparties"):
        market.settle(pool, expired, sender=stranger)


def test_settle__paused__still_works(market, gov, buyer, expired):
    market.set_paused(True, sender=gov)
    market.settle(buyer, expired, sender=buyer)
    assert len(market.positions(buyer)) == 0


def test_retire_series__open_positions__reverts(market, keeper, expired, buyer):
    with ape.reverts("market: series has open positions"):
        market.retire_series(expired, sender=keeper)


def test_expired_unsettled_position__counts_at_intrinsic(market, buyer, expired):
    equity, mm, im = market.account_margin(buyer)
    # cash + 2 * 300 USD of intrinsic value; no margin on a fixed payoff
    assert equity == market.cash(buyer) * 10**12 + 600 * WAD
    assert mm == 0 and im == 0
