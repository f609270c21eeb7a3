"""The keeper bots against a testnet: an anvil process these tests start themselves.

The protocol is deployed there with raw transactions (tests/e2e/live/testnet.py); the
bots run in-process through the same code `ape run keeper` runs (keepers/), and the
script itself runs as a subprocess for its start-up checks. Writers sell calls on margin
and the oracle moves; at spot 2400 the two biggest writers are below MM, a tiny one is
below MM but worth less than the gas of liquidating it, and the others are healthy. The
oracle updater's sources (sim:SEED, feed:ADDR, feed) run against a bare deployment.
"""

from __future__ import annotations

import io
import json
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from live.testnet import ROOT, WAD, Anvil, Testnet, free_port

from agents import decisions
from keepers.bots import KeeperConfig, KeeperRunner, build_bot
from keepers.health import HealthServer, Metrics, keeper_logger
from keepers.sender import GasStrategy, KeySigner
from keepers.sources import CsvSource, FeedSource, SimSource, parse_source
from onchain.contracts import Contracts
from onchain.rpc import JsonRpc
from onchain.session import derived_keys
from risk.params import allowed_spot_deviation
from risk.units import GWEI

pytestmark = pytest.mark.anvil

TYPES = (
    "usdc_mock",
    "MarginEngine",
    "Oracle",
    "RiskConfig",
    "OptionMarket",
    "LiquidityPool",
    "Timelock",
    "aggregator_mock",
)
SIZES = (21.0, 19.0, 12.0, 5.0)  # calls sold by each writer on 10k USDC
APE = shutil.which("ape") or str(ROOT / ".venv" / "bin" / "ape")


@dataclass
class Market:
    net: Testnet
    gov: str  # keys
    keeper: str
    rival: str
    writers: list[str]
    tiny: str

    def address(self, key: str) -> str:
        return KeySigner(key).address.lower()


@pytest.fixture(scope="module")
def live_types(project):
    return {n: getattr(project, n).contract_type for n in TYPES}


@pytest.fixture(scope="module")
def live_anvil():
    node = Anvil().start()
    yield node
    node.stop()


def _open_market(net: Testnet, seed: int, sizes=SIZES, tiny: bool = True) -> Market:
    keys = [k.private_key for k in derived_keys(seed, 5 + len(sizes))]
    gov, lp, keeper, rival, tiny_key, *writers = keys
    net.set_balance(KeySigner(gov).address, 1_000 * WAD)
    net.deploy_protocol(gov)
    net.fund(lp, 2_000_000, "pool")
    for key in (keeper, rival):
        net.fund(key, 500_000)
    sid = net.series_id(2200, 1, True)  # 30-day calls
    for key, size in zip(writers, sizes, strict=True):
        net.fund(key, 10_000)
        net.trade(key, sid, -size)
    if tiny:
        net.fund(tiny_key, 100)
        net.trade(tiny_key, sid, -0.2)
    return Market(net, gov, keeper, rival, writers, tiny_key)


_SEEDS = iter(range(100, 10**6))


@pytest.fixture
def live_market(live_anvil, live_types):
    """Four writers and the tiny one: at 2400 writers 0 and 1 and the tiny one are below MM."""
    return _open_market(Testnet(live_anvil.uri, live_types), next(_SEEDS))


@pytest.fixture
def live_one_below(live_anvil, live_types):
    """Two writers: at 2400 only writer 0 is below MM."""
    return _open_market(
        Testnet(live_anvil.uri, live_types), next(_SEEDS), sizes=(21.0, 12.0), tiny=False
    )


_LOGGERS = iter(range(10**6))


def make_bot(net: Testnet, kind: str, key: str, state: Path, source=None, max_actions=10, **gas):
    """A bot as the script builds it, fast polling; returns (bot, metrics, stop, log lines)."""
    settings = dict(poll_s=0.05, stuck_after_s=60.0, wait_s=30.0)
    settings.update(gas)
    # back-off capped at 1 s: a node restarted on a loaded machine may be down for several
    # seconds, and the default 60 s cap would outlast the tests' waits
    cfg = KeeperConfig(
        kind=kind,
        interval_s=0.1,
        confirmations=0,
        max_actions=max_actions,
        gas=GasStrategy(**settings),
        max_backoff_s=1.0,
    )
    stream = io.StringIO()
    metrics = Metrics(kind)
    log = keeper_logger(f"{kind}-{next(_LOGGERS)}", stream)
    stop = threading.Event()
    contracts = Contracts(net.record["contracts"], net.contracts.types)
    rpc = JsonRpc(net.uri, timeout=10.0, retries=2, backoff=0.05)
    bot = build_bot(
        cfg,
        rpc,
        contracts,
        KeySigner(key),
        state,
        net.record["start_block"],
        metrics=metrics,
        log=log,
        stop=stop,
        source=source,
    )
    return bot, metrics, stop, stream


def liquidated(net: Testnet) -> list[str]:
    return [str(ev.args["account"]).lower() for ev in net.logs("Liquidation")]


def wait_for(predicate, timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


# --- (1) liquidation ---


def test_liquidator__oracle_moves__liquidates_exactly_unhealthy_profitable_accounts(
    live_market, tmp_path
):
    net, m = live_market.net, live_market
    net.push(m.gov, 2_400)
    writers = [m.address(k) for k in m.writers]
    below = {a for a in [*writers, m.address(m.tiny)] if net.liquidatable(a)}
    assert below == {writers[0], writers[1], m.address(m.tiny)}  # the scenario's premise
    bot, metrics, stop, stream = make_bot(net, "liquidator", m.keeper, tmp_path / "liq.json")
    server = HealthServer(metrics, 0).start()
    keeper = m.address(m.keeper)
    nonce = net.nonce(keeper)
    try:
        assert KeeperRunner(bot, stop).run(iterations=1) == 0
        taken = net.positions(keeper)  # the writers' calls, handed over by the liquidations
        assert taken and all(q < 0 for q in taken.values())
        assert KeeperRunner(bot, stop).run(iterations=1) == 0  # the next iteration unwinds
        health = requests.get(f"http://127.0.0.1:{server.port}/health", timeout=5)
        prom = requests.get(f"http://127.0.0.1:{server.port}/metrics", timeout=5).text
    finally:
        server.stop()

    assert sorted(liquidated(net)) == sorted([writers[0], writers[1]])
    assert net.liquidatable(m.address(m.tiny))  # below MM, but the reward is below gas
    assert metrics.count("skipped_unprofitable") >= 1
    assert not any(net.liquidatable(a) for a in writers)
    # bought back exactly what was taken over: one trade per series, nothing left open
    assert net.positions(keeper) == {}
    unwinds = {k: a for k, a in bot.state.actions.items() if k.startswith("unwind:")}
    assert [(int(k.split(":")[1]), int(k.split(":")[2])) for k in unwinds] == [
        (sid, -q) for sid, q in taken.items()
    ]
    assert all(a["status"] == "mined" for a in unwinds.values())
    assert net.nonce(keeper) == nonce + 2 + len(taken)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert f'optsim_keeper_tx_mined{{bot="liquidator"}} {2 + len(taken)}' in prom
    events = [json.loads(line)["event"] for line in stream.getvalue().splitlines()]
    assert events.count("action_mined") == 2 + len(taken)
    assert "started" in events and "stopped" in events

    # a second run (the same process or a restart from the state file) does nothing more:
    # no second liquidation, no second unwind
    again, metrics2, stop2, _ = make_bot(net, "liquidator", m.keeper, tmp_path / "liq.json")
    assert KeeperRunner(again, stop2).run(iterations=2) == 0
    assert net.nonce(keeper) == nonce + 2 + len(taken) and len(liquidated(net)) == 2
    assert metrics2.count("tx_sent") == 0 and net.positions(keeper) == {}


# --- (2) settlement ---


def test_settler__expiry_price_fixed__settles_that_expiry_once_then_retires_it(
    live_anvil, live_types, tmp_path
):
    net = Testnet(live_anvil.uri, live_types)
    m = _open_market(net, 901, sizes=(3.0,), tiny=False)
    buyer, seller = m.keeper, m.rival  # funded accounts: one buys a call, one sells a put
    day_call, day_put = net.series_id(2000, 0, True), net.series_id(1800, 0, False)
    net.trade(buyer, day_call, 2.0)
    net.trade(seller, day_put, -1.0)
    settler_key = derived_keys(902, 1)[0].private_key
    net.set_balance(KeySigner(settler_key).address, 10 * WAD)
    settler, s_metrics, s_stop, _ = make_bot(net, "settler", settler_key, tmp_path / "s.json")
    s_nonce = net.nonce(KeySigner(settler_key).address)

    live_before = list(net.view("market", "live_series_ids"))
    net.mine(86_400 + 120)  # past the 1-day expiry; its price is not fixed yet
    assert KeeperRunner(settler, s_stop).run(iterations=1) == 0  # nothing settled or retired
    assert net.nonce(KeySigner(settler_key).address) == s_nonce and net.logs("Settled") == []

    prices = tmp_path / "prices.csv"
    prices.write_text(f"timestamp,spot,vol\n{net.now() - 5},2100,0.55\n")
    updater, _, u_stop, _ = make_bot(
        net, "oracle", m.gov, tmp_path / "o.json", source=CsvSource(prices)
    )
    assert KeeperRunner(updater, u_stop).run(iterations=2) == 0
    expiry = net.record["expiries"][0]
    assert net.view("oracle", "settlement_price", expiry) == 2_100 * WAD

    assert KeeperRunner(settler, s_stop).run(iterations=2) == 0
    settled = {(str(e.args["account"]).lower(), e.args["series_id"]) for e in net.logs("Settled")}
    assert settled == {(m.address(buyer), day_call), (m.address(seller), day_put)}
    assert net.view("market", "positions", m.address(m.writers[0]))  # the 30-day one stays
    # nothing left to settle at that expiry: its series leave the live list, the rest stay
    day_series = {sid for sid in live_before if net.view("market", "series", sid)[1] == expiry}
    assert {day_call, day_put} <= day_series
    retired = {e.args["series_id"] for e in net.logs("SeriesRetired")}
    assert retired == day_series
    assert set(net.view("market", "live_series_ids")) == set(live_before) - day_series
    sent = 2 + len(day_series)
    assert net.nonce(KeySigner(settler_key).address) == s_nonce + sent
    assert KeeperRunner(settler, s_stop).run(iterations=1) == 0  # nothing more to do
    assert net.nonce(KeySigner(settler_key).address) == s_nonce + sent
    assert s_metrics.count("actions_mined") == sent


# --- (2b) the oracle updater's other sources ---


def _bare_protocol(live_anvil, live_types, seed: int) -> tuple[Testnet, str, str]:
    """The protocol with no accounts; returns (net, gov key = the updater, another key)."""
    net = Testnet(live_anvil.uri, live_types)
    gov, other = (k.private_key for k in derived_keys(seed, 2))
    for key in (gov, other):
        net.set_balance(KeySigner(key).address, 100 * WAD)
    net.deploy_protocol(gov)
    return net, gov, other


def _oracle_spot(net: Testnet) -> int:
    return net.view("oracle", "last_spot")


def test_oracle_updater__sim_source__same_seed_same_price_within_max_deviation(
    live_anvil, live_types, tmp_path
):
    net, gov, _ = _bare_protocol(live_anvil, live_types, 905)
    net.mine(3_600 + 60)  # past the heartbeat: a push is due
    before, now = _oracle_spot(net), net.now()
    snapshot = net.rpc.call("evm_snapshot", [])

    def push_once(source, name: str) -> int:
        bot, _, stop, _ = make_bot(net, "oracle", gov, tmp_path / f"{name}.json", source=source)
        assert KeeperRunner(bot, stop).run(iterations=1) == 0
        assert bot.now == now  # the quote is for the head's hour
        return _oracle_spot(net)

    first = push_once(parse_source("sim:7"), "a")
    expected = SimSource(7).quote(now, before / WAD).spot
    assert first != before and abs(first / WAD / expected - 1) < 1e-12
    assert net.rpc.call("evm_revert", [snapshot])  # the same oracle state again
    snapshot = net.rpc.call("evm_snapshot", [])
    assert _oracle_spot(net) == before
    assert push_once(parse_source("sim:7"), "b") == first  # a restarted updater agrees
    assert net.rpc.call("evm_revert", [snapshot])
    snapshot = net.rpc.call("evm_snapshot", [])
    assert push_once(parse_source("sim:8"), "c") != first  # another seed, another path

    # a violent simulated hour: the step is beyond what the oracle accepts (25% within a
    # heartbeat, x sqrt(elapsed / heartbeat) after it: risk.params.allowed_spot_deviation),
    # the push is clamped to it (decisions.clamp_to_deviation) and lands
    assert net.rpc.call("evm_revert", [snapshot])
    allowed = allowed_spot_deviation(0.25, 3_600, now - net.view("oracle", "updated_at"))
    assert 0.25 < allowed < 0.26  # 61 s past the heartbeat
    wild = SimSource(7, vol=1_000.0)  # a step of about -57 +- 11 log units
    raw = wild.quote(now, before / WAD).spot
    assert abs(raw / (before / WAD) - 1) > allowed  # the premise
    pushed = push_once(wild, "d")
    assert pushed == int(decisions.clamp_to_deviation(raw, before / WAD, 0.99 * allowed) * WAD)
    assert 0.24 < abs(pushed / before - 1) <= allowed


def test_oracle_updater__feed_sources__push_new_rounds_only(live_anvil, live_types, tmp_path):
    net, gov, owner = _bare_protocol(live_anvil, live_types, 906)
    feed = net.deploy_feed(owner, 8)
    gov_addr = KeySigner(gov).address

    # feed:ADDR: the updater reads another contract's latestRoundData and pushes it
    bot, metrics, stop, stream = make_bot(
        net, "oracle", gov, tmp_path / "push.json", source=parse_source(f"feed:{feed}")
    )
    net.mine(60)  # blocks of one second share a timestamp: make the round newer
    net.set_feed_round(owner, feed, 2_100, net.now())
    nonce = net.nonce(gov_addr)
    assert KeeperRunner(bot, stop).run(iterations=1) == 0
    assert _oracle_spot(net) == 2_100 * WAD and net.nonce(gov_addr) == nonce + 1

    net.mine(60)
    assert KeeperRunner(bot, stop).run(iterations=1) == 0  # the same round: not newer
    net.set_feed_round(owner, feed, 2_300, net.now() - 3_600)  # older than the last push
    assert KeeperRunner(bot, stop).run(iterations=1) == 0
    assert net.nonce(gov_addr) == nonce + 1 and _oracle_spot(net) == 2_100 * WAD

    net.set_feed_round(owner, feed, 2_300, net.now() + 1)  # newer than the oracle's update...
    net.mine(7_200 + 60)  # ...but older than the staleness limit (2 h) by the time it is read
    assert KeeperRunner(bot, stop).run(iterations=1) == 0
    assert net.nonce(gov_addr) == nonce + 1
    no_quote = [json.loads(x) for x in stream.getvalue().splitlines() if '"no_quote"' in x]
    assert len(no_quote) == 3

    net.set_feed_round(owner, feed, 2_200, net.now())  # fresh again: pushed
    assert KeeperRunner(bot, stop).run(iterations=1) == 0
    assert _oracle_spot(net) == 2_200 * WAD and net.nonce(gov_addr) == nonce + 2
    assert metrics.count("actions_mined") == 2

    # feed: the Oracle pulls its own feed (anyone may call); a round it has is not pulled
    net.govern(gov, "oracle", "set_feed", feed)  # the oracle's feed is the timelock's to set
    net.mine(60)
    net.set_feed_round(owner, feed, 2_250, net.now())
    round_time = net.now()
    puller, p_metrics, p_stop, _ = make_bot(
        net, "oracle", owner, tmp_path / "pull.json", source=parse_source("feed")
    )
    assert isinstance(puller.source, FeedSource) and puller.source.pull
    assert KeeperRunner(puller, p_stop).run(iterations=2) == 0
    assert _oracle_spot(net) == 2_250 * WAD
    assert net.view("oracle", "updated_at") == round_time  # the round's time, not the block's
    assert p_metrics.count("actions_mined") == 1 and p_metrics.count("tx_sent") == 1


# --- (3) fault injection ---


def test_liquidator__node_restarted_mid_run__recovers_and_never_repeats(live_types, tmp_path):
    node = Anvil(tmp_path / "anvil-state.json").start()
    try:
        net = Testnet(node.uri, live_types)
        m = _open_market(net, 903, sizes=(21.0, 15.0), tiny=False)
        big, mid = (m.address(k) for k in m.writers)
        state = tmp_path / "liq.json"
        bot, metrics, stop, _ = make_bot(net, "liquidator", m.keeper, state)
        runner = KeeperRunner(bot, stop)
        out: list[int] = []
        thread = threading.Thread(target=lambda: out.append(runner.run()), daemon=True)
        thread.start()
        nonce = net.nonce(m.address(m.keeper))

        net.push(m.gov, 2_400)
        wait_for(lambda: liquidated(net) == [big], what="the first liquidation")
        node.stop()  # the node goes away mid-run (its state is dumped on exit)
        wait_for(lambda: metrics.count("rpc_errors") >= 1, what="the keeper to notice")
        node.start(load=True)
        net.push(m.gov, 2_500)  # the second writer falls below MM, the first stays above
        wait_for(lambda: mid in liquidated(net), what="the liquidation after the restart")
        wait_for(lambda: net.positions(m.address(m.keeper)) == {}, what="the last unwind")
        time.sleep(0.5)  # a few more iterations on the same facts
        stop.set()
        thread.join(timeout=30)
        assert out == [0]
        assert sorted(liquidated(net)) == sorted([big, mid])
        unwinds = [k for k in bot.state.actions if k.startswith("unwind:")]
        assert len(unwinds) == 2  # one per liquidation, each taking over the writer's calls
        assert net.nonce(m.address(m.keeper)) == nonce + 4

        # the process restarts from its state file: it resumes, scans only new blocks, sends nothing
        net.mine()
        again, metrics2, stop2, _ = make_bot(net, "liquidator", m.keeper, state)
        assert KeeperRunner(again, stop2).run(iterations=2) == 0
        assert metrics2.count("blocks_scanned") <= 3 and metrics2.count("reorgs") == 0
        assert net.nonce(m.address(m.keeper)) == nonce + 4 and len(liquidated(net)) == 2
    finally:
        node.stop()


def _liquidate_in_thread(bot, stop):
    result: list[int] = []
    thread = threading.Thread(
        target=lambda: result.append(KeeperRunner(bot, stop).run(iterations=1)), daemon=True
    )
    thread.start()
    return thread, result


def test_liquidator__rival_lands_first__revert_recorded_not_retried(live_one_below, tmp_path):
    net, m = live_one_below.net, live_one_below
    net.push(m.gov, 2_400)
    target = m.address(m.writers[0])
    keeper = m.address(m.keeper)
    bot, metrics, stop, _ = make_bot(net, "liquidator", m.keeper, tmp_path / "liq.json")
    nonce = net.nonce(keeper)
    net.automine(False)
    try:
        rival_tx = net.tx(m.rival, "market", "liquidate", target, WAD, tip_gwei=50, wait=False)
        thread, result = _liquidate_in_thread(bot, stop)
        wait_for(
            lambda: int(net.rpc.call("eth_getTransactionCount", [keeper, "pending"]), 16) > nonce,
            what="our liquidation in the pool",
        )
        net.mine()
    finally:
        net.automine(True)
    thread.join(timeout=30)
    assert result == [0]
    rival = net.rpc.call("eth_getTransactionReceipt", [rival_tx])
    assert int(rival["status"], 16) == 1
    records = [a for k, a in bot.state.actions.items() if k.startswith(f"liquidate:{target}")]
    assert [r["status"] for r in records] == ["reverted"]
    assert records[0]["reason"] == "market: account healthy"

    assert KeeperRunner(bot, stop).run(iterations=3) == 0  # healthy now: nothing more
    assert net.nonce(keeper) == nonce + 1  # the reverted one, never retried
    assert liquidated(net).count(target) == 1
    assert metrics.count("tx_reverted") == 1


def test_liquidator__stuck_transaction__replaced_with_higher_fee_lands_once(
    live_one_below, tmp_path
):
    net, m = live_one_below.net, live_one_below
    net.push(m.gov, 2_400)
    keeper = m.address(m.keeper)
    bot, metrics, stop, _ = make_bot(
        net,
        "liquidator",
        m.keeper,
        tmp_path / "liq.json",
        stuck_after_s=0.3,
        max_fee_gwei=40,
        tip_gwei=2,
    )
    nonce = net.nonce(keeper)
    net.automine(False)
    try:
        thread, result = _liquidate_in_thread(bot, stop)
        wait_for(lambda: metrics.count("tx_replaced") >= 3, what="replacements")
        net.mine()
    finally:
        net.automine(True)
    thread.join(timeout=30)
    assert result == [0]
    (rec,) = bot.state.actions.values()
    assert rec["status"] == "mined" and rec["replacements"] >= 3
    first, landed = rec["tx"]["hashes"][0], rec["tx_hash"]
    assert landed != first
    assert net.rpc.call("eth_getTransactionReceipt", [first]) is None
    tx = net.rpc.call("eth_getTransactionByHash", [landed])
    assert int(tx["nonce"], 16) == nonce
    assert int(tx["maxPriorityFeePerGas"], 16) > 2 * GWEI
    assert int(tx["maxFeePerGas"], 16) <= 40 * GWEI  # the cap holds
    assert net.nonce(keeper) == nonce + 1 and len(liquidated(net)) == 1


def test_liquidator__restart_while_tx_pending__follows_it_instead_of_resending(
    live_one_below, tmp_path
):
    net, m = live_one_below.net, live_one_below
    net.push(m.gov, 2_400)
    keeper, state = m.address(m.keeper), tmp_path / "liq.json"
    first, _, stop, _ = make_bot(net, "liquidator", m.keeper, state, wait_s=0.5)
    nonce = net.nonce(keeper)
    net.automine(False)
    try:
        thread, result = _liquidate_in_thread(first, stop)
        thread.join(timeout=30)  # gives up waiting: the transaction stays pending
        assert result == [0]
        (key,) = first.state.pending()
        net.rpc.call("anvil_dropAllTransactions", [])  # and the node loses it (restart)
        second, metrics, stop2, _ = make_bot(net, "liquidator", m.keeper, state, wait_s=20)
        thread, result = _liquidate_in_thread(second, stop2)
        wait_for(lambda: metrics.count("tx_rebroadcast") >= 1, what="the rebroadcast")
        net.mine()
        thread.join(timeout=30)
    finally:
        net.automine(True)
    assert second.state.actions[key]["status"] == "mined"
    assert net.nonce(keeper) == nonce + 1 and len(liquidated(net)) == 1
    assert metrics.count("tx_sent") == 0  # followed, never sent anew


# --- (4) the script: bad input and a clean stop ---


def _script(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [APE, "run", "keeper", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def test_keeper_script__bad_input__clear_error_nothing_sent(
    live_anvil, live_types, accounts, tmp_path
):
    net = Testnet(live_anvil.uri, live_types)
    m = _open_market(net, 904, sizes=(21.0,), tiny=False)
    records = tmp_path / "records"
    net.write_record(records)
    broke = "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"  # TEST::9
    net.set_balance(broke, 0)
    funded = "0x976EA74026E726554dB657fA54763abd0C3a0aa9"  # TEST::6, anvil's account 6 too
    assert accounts[6].address == funded
    net.fund(accounts[6].private_key, 500_000)  # capital to take positions over with
    nonces = {a: net.nonce(a) for a in (broke, funded)}
    common = ["--record-dir", str(records), "--once"]
    runs = {
        "network": _script(
            "liquidator", "--network", "ethereum:nowhere:node", "--account", "TEST::6", *common
        ),
        "rpc": _script(
            "liquidator",
            "--network",
            f"http://127.0.0.1:{free_port()}",
            "--account",
            "TEST::6",
            *common,
        ),
        "record": _script(
            "settler",
            "--network",
            live_anvil.uri,
            "--account",
            "TEST::6",
            "--record-dir",
            str(tmp_path / "empty"),
            "--once",
        ),
        "funds": _script(
            "liquidator",
            "--network",
            live_anvil.uri,
            "--account",
            "TEST::9",
            *common,
            "--state",
            str(tmp_path / "broke.json"),
        ),
        "loop": _script(
            "liquidator",
            "--network",
            live_anvil.uri,
            "--account",
            "TEST::6",
            "--record-dir",
            str(records),
            "--dry-run",
            "--confirmations",
            "0",
            "--interval",
            "0.2",
            "--state",
            str(tmp_path / "loop.json"),
        ),
    }
    net.push(m.gov, 2_400)  # the dry run finds the writer below MM
    wait_for(
        lambda: (tmp_path / "loop.json").exists() or runs["loop"].poll() is not None,
        timeout=120,
        what="the looping keeper's first iteration",
    )
    time.sleep(0.5)  # a few iterations: the dry run must not repeat itself either
    runs["loop"].send_signal(signal.SIGTERM)
    out = {k: (p.wait(timeout=120), *p.communicate()) for k, p in runs.items()}

    code, _, err = out["network"]
    assert code != 0 and "nowhere" in err
    code, _, err = out["rpc"]
    assert code == 1 and "cannot connect to network" in err and "nothing was sent" in err
    code, _, err = out["record"]
    assert code == 1 and "custom.addresses.json not found" in err
    code, _, err = out["funds"]
    assert code == 1 and "has 0.000000 ETH" in err and "nothing was sent" in err
    assert not (tmp_path / "broke.json").exists()
    code, _, err = out["loop"]  # SIGTERM: the iteration finishes, exit 0
    assert code == 0, err[-2000:]
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    dry = {e["key"] for e in lines if e["event"] == "dry_run"}
    assert {k.split(":")[1] for k in dry} == {m.address(m.writers[0])}, lines
    assert lines[-1]["event"] == "stopped" and lines[-1]["iterations"] >= 2
    assert {a: net.nonce(a) for a in (broke, funded)} == nonces  # nothing sent by anyone
    assert liquidated(net) == []


def test_signers__ape_account_signing__same_bytes_as_key_signing(accounts, networks):
    """Keystore accounts sign through ape: the raw transaction must equal the key path's."""
    from keepers.sender import ApeAccountSigner

    fields = (31337, 5, GWEI, 3 * GWEI, 200_000, str(accounts[6].address), "0x12345678")
    via_ape = ApeAccountSigner(accounts[3], networks.ethereum).sign(*fields)
    assert via_ape == KeySigner(accounts[3].private_key).sign(*fields)
