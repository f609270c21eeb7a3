"""The batched block builder on anvil: one step's transactions in one block.

Runs under `ape test tests/stateful tests/e2e --network ethereum:local:foundry` on the
session's deployment; each test takes automine off for its builder and puts it back.
"""

import pytest
import requests
from eth_account import Account

from onchain.abi import calldata
from onchain.blocks import BlockBuilder, TxRequest
from risk.units import GWEI, USDC, WAD

pytestmark = pytest.mark.anvil


@pytest.fixture
def uri(node_uri):
    return node_uri


@pytest.fixture
def make_builder(uri, accounts, token, market, pool, oracle):
    """make_builder(*extra_keys, revert_reasons=True): a started builder on the session's node."""
    made = []

    def _make(*extra_keys, revert_reasons=True):
        keys = [a.private_key for a in list(accounts)[:8]] + list(extra_keys)
        b = BlockBuilder(uri, keys, [token, market, pool, oracle], revert_reasons=revert_reasons)
        made.append(b.start())
        return b

    yield _make
    for b in made:
        b.queue.clear()
        b.stop()


def _rpc(uri, method, params):
    return requests.post(
        uri, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    ).json()["result"]


def _nonce(uri, address):
    return int(_rpc(uri, "eth_getTransactionCount", [address, "latest"]), 16)


def _mint_all(builder, token, senders, amount):
    for s in senders:
        builder.call(s, token, "mint", s, amount)
    result = builder.mine(builder.chain_time + 1)
    assert all(o.ok for o in result.outcomes), [o.error or o.reason for o in result.outcomes]


def test_mine__transfers_from_several_senders__land_in_one_block_at_timestamp(
    make_builder, accounts, token, stranger, uri
):
    b = make_builder()
    senders = list(accounts)[:5]
    _mint_all(b, token, senders, 1_000 * USDC)
    before = token.balanceOf(stranger)
    for i in range(4):
        for s in senders:
            b.call(s, token, "transfer", stranger, (i + 1) * USDC, tag=(str(s.address), i))
    ts = b.chain_time + 12
    result = b.mine(ts)

    assert result.mined == 20 and result.reverts == 0 and result.rejected == 0
    assert {o.position for o in result.outcomes} == set(range(20))
    block = _rpc(uri, "eth_getBlockByNumber", ["latest", False])
    assert int(block["number"], 16) == result.number
    assert int(block["timestamp"], 16) == ts == result.timestamp
    assert len(block["transactions"]) == 20
    assert token.balanceOf(stranger) - before == 5 * (1 + 2 + 3 + 4) * USDC
    assert result.event_counts()["Transfer"] == 20
    assert [o.request.tag[1] for o in result.outcomes[:5]] == [0] * 5


def test_mine__many_blocks__nonces_stay_right(make_builder, accounts, token, stranger, uri):
    b = make_builder(revert_reasons=False)
    senders = list(accounts)[:3]
    start = {s.address: _nonce(uri, s.address) for s in senders}
    first = b.block_number + 1
    blocks = 25
    for k in range(blocks):
        for s in senders:
            b.call(s, token, "mint", s, 1)
            b.call(s, token, "transfer", stranger, 1)
        result = b.mine(b.chain_time + 5)
        assert result.mined == 6 and result.reverts == 0, [o.error for o in result.outcomes]
        assert result.number == first + k
    for s in senders:
        assert _nonce(uri, s.address) == start[s.address] + 2 * blocks


def test_mine__reverting_call__reported_with_reason_others_mined(
    make_builder, accounts, token, stranger
):
    b = make_builder()
    rich, poor, other = list(accounts)[5:8]
    _mint_all(b, token, [rich], 100 * USDC)
    poor_balance = token.balanceOf(poor)
    b.call(rich, token, "transfer", stranger, USDC, tag="first")
    b.call(poor, token, "transfer", stranger, poor_balance + 1, tag="too much")
    b.call(other, token, "transfer", stranger, 0, gas=24_000, tag="starved")
    b.call(rich, token, "transfer", stranger, USDC, tag="after")
    result = b.mine(b.chain_time + 1)

    by_tag = {o.request.tag: o for o in result.outcomes}
    assert by_tag["first"].ok and by_tag["after"].ok
    assert by_tag["too much"].reverted
    assert by_tag["too much"].reason == "usdc: balance below amount"
    assert by_tag["too much"].events == []
    assert by_tag["starved"].reverted and by_tag["starved"].reason == "out of gas"
    assert result.revert_reasons() == {"usdc: balance below amount": 1, "out of gas": 1}
    assert result.mined == 4


def test_mine__higher_tip_from_another_sender__ordered_first(
    make_builder, accounts, token, stranger
):
    b = make_builder()
    low, high = list(accounts)[1:3]
    _mint_all(b, token, [low, high], 10 * USDC)
    b.call(low, token, "transfer", stranger, 1, tip=1 * GWEI, tag="low 1")
    b.call(low, token, "transfer", stranger, 1, tip=9 * GWEI, tag="low 2")  # behind its nonce
    b.call(high, token, "transfer", stranger, 1, tip=5 * GWEI, tag="high")
    result = b.mine(b.chain_time + 1)

    pos = {o.request.tag: o.position for o in result.outcomes}
    assert pos == {"high": 0, "low 1": 1, "low 2": 2}
    prices = {o.request.tag: o.effective_gas_price for o in result.outcomes}
    assert prices["high"] == result.base_fee + 5 * GWEI


def test_mine__unfunded_sender__rejected_not_raised_and_nonce_resynced(
    make_builder, accounts, token, stranger
):
    broke = Account.create()
    b = make_builder(broke.key)
    _mint_all(b, token, [accounts[1]], 10 * USDC)
    b.add(
        TxRequest(
            broke.address,
            str(token.address),
            calldata(token, "mint", broke.address, 1),
            100_000,
            tip=1 * GWEI,
            label="mint",
            tag="broke",
        )
    )
    b.add(TxRequest(broke.address, str(token.address), "0x", 100_000, tip=GWEI, tag="broke 2"))
    b.call(accounts[1], token, "transfer", stranger, 1, tag="fine")
    result = b.mine(b.chain_time + 1)

    by_tag = {o.request.tag: o for o in result.outcomes}
    assert by_tag["fine"].ok
    assert by_tag["broke"].rejected and "fund" in by_tag["broke"].error.lower()
    assert by_tag["broke 2"].rejected
    assert result.rejected == 2 and result.mined == 1
    assert b.nonces[broke.address.lower()] == 0
    # ape-foundry's anvil has base fee 0: with no tip the key needs no ether, and its
    # nonce 0 is still free after the rejection
    assert b.base_fee == 0
    b.call(broke.address, token, "mint", broke.address, 7, tag="free")
    again = b.mine(b.chain_time + 1)
    assert again.outcomes[0].ok
    assert token.balanceOf(broke.address) == 7


def test_mine__trade_events__match_apes_decoding(
    make_builder, chain, accounts, market, token, fund, seed_pool, find_series, writer, buyer
):
    seed_pool(1_000_000)
    fund(writer, 20_000)
    fund(buyer, 20_000)
    b = make_builder()
    sid = find_series(2_000, 7, True)
    b.call(writer, market, "trade", sid, -WAD // 10, 0, tag="sell")
    b.call(buyer, market, "trade", sid, WAD // 20, 10**30, tag="buy")
    b.call(buyer, market, "withdraw", 10**15, tag="too much")
    b.call(buyer, token, "mint", buyer, 5)
    result = b.mine(b.chain_time + 1)

    assert result.outcomes[2].reverted and result.outcomes[2].reason.startswith("market:")
    assert result.event_counts()["Trade"] == 2
    for o in result.outcomes:
        receipt = chain.provider.get_receipt(o.tx_hash)
        ape_events = [(e.event_name, dict(e.event_arguments)) for e in receipt.events]
        ours = [(e.name, e.args) for e in o.events]
        assert ours == ape_events
        assert receipt.gas_used == o.gas_used


def test_pool_mark__trades_and_oracle_push_in_one_block__equal_revaluation(
    make_builder,
    market,
    oracle,
    gov,
    fund,
    seed_pool,
    find_series,
    writer,
    buyer,
    revalue_pool,
):
    seed_pool(1_000_000)
    fund(writer, 50_000)
    fund(buyer, 50_000)
    b = make_builder()
    call, put = find_series(2_000, 7, True), find_series(1_800, 30, False)
    expiries = sorted({market.series(s).expiry for s in market.live_series_ids()})
    b.call(writer, market, "trade", call, -WAD // 2, 0)
    b.call(buyer, market, "trade", put, WAD // 4, 10**30)
    # the oracle moves mid-block: the pool's valuation must be redone, not carried over
    b.call(gov, oracle, "push", 2_050 * WAD, expiries, [int(0.65 * WAD)] * len(expiries))
    b.call(writer, market, "trade", put, -WAD // 3, 0)
    b.call(buyer, market, "trade", call, WAD // 5, 10**30)
    b.call(writer, market, "trade", call, WAD // 10, 10**30)
    result = b.mine(b.chain_time + 60)

    assert result.reverts == 0, [o.reason for o in result.outcomes]
    mark = market.pool_mark()
    assert mark.key == (result.timestamp << 128) | oracle.version()
    fresh = revalue_pool(result.timestamp)
    assert (mark.value, mark.vega, mark.gross) == (fresh.value, fresh.vega, fresh.gross)
    assert market.pool_abs_oi() == fresh.abs_oi


def test_pool_mark__settlements_between_trades_in_one_block__equal_revaluation(
    make_builder,
    chain,
    market,
    oracle,
    keeper,
    fund,
    seed_pool,
    find_series,
    writer,
    buyer,
    push,
    revalue_pool,
):
    seed_pool(1_000_000)
    fund(writer, 50_000)
    fund(buyer, 50_000)
    fund(keeper, 1_000)
    short_dated, long_dated = find_series(1_800, 7, True), find_series(2_000, 30, True)
    market.trade(short_dated, 2 * WAD, 10**30, sender=buyer)
    market.trade(short_dated, -3 * WAD, 0, sender=writer)
    chain.pending_timestamp = market.series(short_dated).expiry + 10
    push(2_100)  # fixes the 7-day expiry's settlement price
    b = make_builder()
    b.call(writer, market, "trade", long_dated, -WAD, 0)  # values the pool's book
    b.call(keeper, market, "settle", buyer, short_dated)
    b.call(buyer, market, "trade", long_dated, WAD // 2, 10**30)
    b.call(keeper, market, "settle", writer, short_dated)
    result = b.mine(b.chain_time + 60)

    assert result.reverts == 0, [o.reason for o in result.outcomes]
    mark = market.pool_mark()
    assert mark.key == (result.timestamp << 128) | oracle.version()  # kept, not recomputed
    fresh = revalue_pool(result.timestamp)
    assert (mark.value, mark.vega, mark.gross) == (fresh.value, fresh.vega, fresh.gross)
    assert market.pool_position(short_dated) == 0
    assert market.pool_abs_oi() == fresh.abs_oi == WAD // 2
