"""keepers/sender.py on a node in memory: fees and their bumps, stuck transactions
replaced at the same nonce, a lost pool re-broadcast, a nonce taken by another
transaction, a stale nonce resynced. (tests/e2e/test_keepers_live.py runs the bots on
anvil.)"""

from __future__ import annotations

import math

import pytest
from fake_node import FakeClock, FakeNode

from keepers.sender import MIN_BUMP, GasStrategy, KeySigner, Sender
from risk.units import GWEI

KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
MARKET = "0x" + "4d" * 20
DATA = "0x12345678"


def _sender(node: FakeNode, clock: FakeClock, **gas) -> Sender:
    strategy = GasStrategy(
        **{"stuck_after_s": 30.0, "poll_s": 1.0, "wait_s": 600.0, "max_fee_gwei": 100.0, **gas}
    )
    return Sender(node, KeySigner(KEY), 31337, strategy, clock=clock, sleep=clock.sleep)


def _records() -> tuple[list[dict], object]:
    seen: list[dict] = []
    return seen, lambda tx: seen.append(tx.record())


# --- the fee rules ---


def test_fees__base_fee_times_k_plus_tip__capped():
    g = GasStrategy(base_fee_multiplier=2.0, tip_gwei=1.0, max_fee_gwei=100.0)
    assert g.fees(10 * GWEI) == (21 * GWEI, GWEI)
    assert g.fees(80 * GWEI) == (100 * GWEI, GWEI)  # the cap


def test_bumped__at_least_the_replacement_minimum_and_never_above_the_cap():
    g = GasStrategy(bump=1.25, max_fee_gwei=100.0)
    new_max, new_tip = g.bumped(40 * GWEI, 2 * GWEI)
    assert new_max == 50 * GWEI and new_tip == math.ceil(2 * GWEI * 1.25)
    assert g.bumped(95 * GWEI, 2 * GWEI) is None  # +12.5% would pass the cap
    assert GasStrategy(tip_gwei=0.0).bumped(10 * GWEI, 0) == (math.ceil(12.5 * GWEI), 1)


@pytest.mark.parametrize(
    ("field", "value"),
    [("bump", 1.1), ("base_fee_multiplier", 0.5), ("tip_gwei", -1.0), ("poll_s", 0.0)],
)
def test_gas_strategy__out_of_range__error_names_the_field(field, value):
    with pytest.raises(ValueError, match=f"gas.{field}"):
        GasStrategy(**{field: value}).validate()


# --- sending ---


def test_send__mined_at_once__one_broadcast_recorded_before_it_went_out():
    node, clock = FakeNode(), FakeClock()
    node.mine_when = lambda tx: True
    seen, on_broadcast = _records()
    result = _sender(node, clock).send(MARKET, DATA, 100_000, on_broadcast=on_broadcast)
    assert result.status == "mined" and result.replacements == 0
    assert len(node.sent) == 1 and seen[0]["hashes"] == [result.tx_hash]
    assert node.sent[0]["max_fee"] == 21 * GWEI and node.sent[0]["data"] == DATA


def test_send__stuck__replaced_at_the_same_nonce_with_bumped_fees_until_mined():
    node, clock = FakeNode(), FakeClock()
    node.mine_when = lambda tx: len(node.sent) == 3  # the second replacement lands
    seen, on_broadcast = _records()
    result = _sender(node, clock).send(MARKET, DATA, 100_000, on_broadcast=on_broadcast)
    assert result.status == "mined" and result.replacements == 2
    assert {tx["nonce"] for tx in node.sent} == {0}
    for old, new in zip(node.sent, node.sent[1:], strict=False):
        assert new["max_fee"] >= math.ceil(old["max_fee"] * MIN_BUMP)
        assert new["tip"] >= math.ceil(old["tip"] * MIN_BUMP)
    assert result.tx_hash == node.sent[-1]["hash"]
    assert result.hashes == [tx["hash"] for tx in node.sent]
    assert len(seen) == 3  # every replacement persisted before it was sent
    assert clock.now >= 2 * 30.0  # replaced only after stuck_after_s each time


def test_send__fee_cap_reached__no_replacement_then_pending():
    node, clock = FakeNode(), FakeClock()
    sender = _sender(node, clock, max_fee_gwei=22.0, wait_s=200.0)  # fees start at 21 gwei
    result = sender.send(MARKET, DATA, 100_000, on_broadcast=lambda tx: None)
    assert result.status == "pending" and result.replacements == 0
    assert len(node.sent) == 1
    assert clock.now >= 200.0


def test_send__max_replacements__then_it_waits_without_bumping():
    node, clock = FakeNode(), FakeClock()
    sender = _sender(node, clock, max_replacements=2, wait_s=300.0)
    result = sender.send(MARKET, DATA, 100_000, on_broadcast=lambda tx: None)
    assert result.status == "pending" and result.replacements == 2
    assert len(node.sent) == 3


def test_send__nonce_too_low__resynced_and_sent_once():
    node, clock = FakeNode(), FakeClock()
    node.mine_when = lambda tx: True
    sender = _sender(node, clock)
    sender.next_nonce = 0
    node.nonce = 5  # the account sent elsewhere meanwhile
    result = sender.send(MARKET, DATA, 100_000, on_broadcast=lambda tx: None)
    assert result.status == "mined" and result.nonce == 5
    assert [tx["nonce"] for tx in node.sent] == [5]
    assert sender.next_nonce == 6


def test_send__node_refuses__rejected_with_its_reason_nothing_pending():
    node, clock = FakeNode(), FakeClock()
    node.refuse = "insufficient funds for gas * price + value"
    result = _sender(node, clock).send(MARKET, DATA, 100_000, on_broadcast=lambda tx: None)
    assert result.status == "rejected" and "insufficient funds" in result.reason
    assert node.sent == [] and node.pool == {}


def test_wait__node_lost_its_pool__same_bytes_broadcast_again():
    node, clock = FakeNode(), FakeClock()
    sender = _sender(node, clock, stuck_after_s=1_000.0, wait_s=5.0)
    first = sender.send(MARKET, DATA, 100_000, on_broadcast=lambda tx: None)
    assert first.status == "pending"
    node.restart()  # the keeper follows its recorded transaction: the node no longer has it
    node.mine_when = lambda tx: True
    result = sender.follow(_recorded(sender, node), on_broadcast=lambda tx: None)
    assert result.status == "mined"
    assert [tx["hash"] for tx in node.sent] == [first.tx_hash] * 2  # the very same bytes


def _recorded(sender: Sender, node: FakeNode) -> dict:
    """What the keeper's state file holds for its one transaction (InFlight.record)."""
    tx = node.sent[0]
    raw = sender.signer.sign(31337, tx["nonce"], tx["tip"], tx["max_fee"], tx["gas"], MARKET, DATA)
    return {
        "nonce": tx["nonce"],
        "to": MARKET,
        "data": DATA,
        "gas": tx["gas"],
        "max_fee": tx["max_fee"],
        "tip": tx["tip"],
        "hashes": [tx["hash"]],
        "raw": "0x" + raw.hex(),
    }


def test_wait__nonce_used_by_another_transaction__dropped_after_the_grace():
    node, clock = FakeNode(), FakeClock()
    sender = _sender(node, clock, stuck_after_s=1_000.0, wait_s=5.0)
    sender.send(MARKET, DATA, 100_000, on_broadcast=lambda tx: None)
    node.other_tx_takes_nonce()
    result = sender.follow(_recorded(sender, node), on_broadcast=lambda tx: None)
    assert result.status == "dropped" and "another transaction" in result.reason
    assert sender.next_nonce == 1  # resynced past the taken nonce
