"""keepers/bots.py, a bot's `sync`: the event scan stops `confirmations` blocks behind the
head and persists where it stopped; a reorg under that point, or a node that restarted
from an older state, rewinds the scan REWIND blocks and reads them again."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from fake_node import FakeNode

from keepers.bots import KeeperConfig, SettlerBot
from keepers.health import Metrics
from keepers.state import REWIND, KeeperState
from onchain.contracts import Contracts

MARKET = "0x" + "4d" * 20


@pytest.fixture
def make_bot(project, tmp_path):
    def _make(node: FakeNode, start_block: int = 10) -> SettlerBot:
        contracts = Contracts({"market": MARKET}, {"market": project.OptionMarket.contract_type})
        state = KeeperState.open(tmp_path / "s.json", 31337, MARKET, start_block)
        cfg = KeeperConfig(kind="settler", confirmations=2, log_chunk=1_000)
        sender = SimpleNamespace(address="0x" + "aa" * 20)
        return SettlerBot(node, contracts, sender, state, cfg, Metrics("settler"), _quiet_log())

    return _make


def _quiet_log() -> logging.Logger:
    log = logging.getLogger("keeper.test_sync")
    log.addHandler(logging.NullHandler())
    log.propagate = False
    return log


def test_sync__scans_to_confirmations_behind_the_head_and_keeps_its_hash(make_bot):
    node = FakeNode()
    node.head = 500
    bot = make_bot(node)
    bot.sync()
    assert node.log_queries[0] == (10, 498) and bot.state.last_block == 498
    assert bot.state.last_block_hash == "0x" + f"{498:064x}"
    assert node.log_queries[1] == (499, 500)  # newer blocks: read, not persisted
    node.head = 520
    node.log_queries.clear()
    bot.sync()
    assert node.log_queries[0] == (499, 518) and bot.metrics.counters.get("reorgs") is None


def test_sync__block_hash_changed__rewinds_and_rescans(make_bot):
    node = FakeNode()
    node.head = 500
    bot = make_bot(node)
    bot.sync()
    node.blocks[498] = "0x" + "ee" * 32  # a reorg replaced the last scanned block
    node.log_queries.clear()
    bot.sync()
    assert bot.metrics.counters["reorgs"] == 1
    assert node.log_queries[0] == (498 - REWIND + 1, 498)
    assert bot.state.last_block == 498 and bot.state.last_block_hash == "0x" + "ee" * 32


def test_sync__node_behind_the_index__rewinds_from_the_node_head(make_bot):
    node = FakeNode()
    node.head = 500
    bot = make_bot(node)
    bot.sync()
    node.head = 300  # restarted from an older state
    node.log_queries.clear()
    bot.sync()
    assert bot.metrics.counters["reorgs"] == 1
    assert node.log_queries[0] == (300 - REWIND + 1, 298)
    assert bot.state.last_block == 298


def test_sync__rewind_never_goes_before_the_deployment(make_bot):
    node = FakeNode()
    node.head = 40
    bot = make_bot(node, start_block=10)
    bot.sync()
    node.blocks[38] = "0x" + "ee" * 32
    node.log_queries.clear()
    bot.sync()
    assert node.log_queries[0][0] == 10
