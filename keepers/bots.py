"""The keeper bots: one loop, three rule sets from agents.decisions.

Every iteration of a bot:

1. `sync`: reads the market's events from where its saved index stopped up to
   `confirmations` blocks behind the head (persisted), and the newer ones only to mark
   their accounts for re-reading; re-reads those accounts' cash and positions in one
   batch (onchain.accounts.AccountIndex);
2. `follow_pending`: follows any transaction recorded as pending (this run or before a
   restart) until it lands, is replaced, or is handed back as still pending;
3. `act`: decides with agents.decisions and the risk engine, simulates every action
   (eth_estimateGas: a call that would revert costs nothing), checks it pays for its gas,
   records it, sends it, and records what became of it.

LiquidatorBot: accounts below MM by the risk engine at the oracle's price
(decisions.liquidation_candidates), confirmed by the market's is_liquidatable, sent
when decisions.liquidation_profit clears the minimum profit after gas. First, it trades
back what earlier liquidations handed over (decisions.unwind_orders, as the simulation's
liquidator does): the positions it held when the iteration began, in series still open,
each trade costing at most `max_gas_usd`.
SettlerBot: decisions.settle_candidates (expired, price fixed); settlement pays no reward,
so each one must cost at most `max_gas_usd`. Every iteration it also retires the series
nobody holds any more (decisions.retirable_series), under the same cap.
OracleBot: decisions.oracle_update_due (heartbeat or deviation, or an expiry waiting
for its settlement price), prices clamped with decisions.clamp_to_deviation.

The simulation's keepers (agents.keepers: Liquidator, Settler, OracleUpdater) follow the
same rules: both call agents.decisions, so what a simulation says a keeper does is what a
bot does. They share those rules, not a class: an agent acts through the MarketView of one
block, a bot against a node, with retries, fee bumps and a state file.

`KeeperRunner` repeats iterations every `interval_s` until stopped (SIGTERM/SIGINT set
its stop event: the current iteration finishes, the state is saved, exit 0), backing
off while the node is unreachable.
"""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agents import decisions
from keepers.health import Metrics
from keepers.sender import GasStrategy, InFlight, Sender, TxResult
from keepers.sources import CsvSource, FeedSource, SimSource
from keepers.state import REWIND, KeeperState
from onchain.accounts import AccountIndex, SeriesInfo
from onchain.blocks import GAS_LIMITS
from onchain.contracts import Contracts
from onchain.reader import Read, Reader
from onchain.rpc import CallReverted, JsonRpc, RpcError, RpcUnavailable
from risk.params import LiquidationParams, MarginParams, OracleParams
from risk.units import ETH, GWEI, HOUR, WAD

KINDS = ("liquidator", "settler", "oracle")
MAX_VOLS_PER_PUSH = 16


def keeper_rpc(uri: str, on_retry: Any = None) -> JsonRpc:
    """The node's endpoint as a bot uses it: 10 s per request, three retries with back-off
    before a transport failure is raised (RpcUnavailable: the runner waits and tries again)."""
    return JsonRpc(uri, timeout=10.0, retries=3, on_retry=on_retry)


class KeeperError(RuntimeError):
    """A keeper that cannot start (no funds, not an updater...); nothing was sent."""


@dataclass(frozen=True)
class KeeperConfig:
    """A bot's settings (the script's options)."""

    kind: str
    interval_s: float = 12.0
    dry_run: bool = False
    confirmations: int = 2  # blocks behind the head before events are persisted
    log_chunk: int = 2_000  # blocks per eth_getLogs
    min_profit_usd: float = 0.0  # liquidator: expected profit after gas
    max_gas_usd: float = 50.0  # settler, oracle, unwinds: the most one transaction may cost
    max_actions: int = 10  # per iteration
    deviation: float = 0.005  # oracle: relative move that triggers a push
    gas_token_usd: float | None = None  # None: the oracle's spot (the underlying is ETH)
    max_backoff_s: float = 60.0
    gas: GasStrategy = field(default_factory=GasStrategy)

    def validate(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind = {self.kind!r}: one of {KINDS}")
        for name, ok in (
            ("interval_s", self.interval_s > 0),
            ("confirmations", 0 <= self.confirmations <= 1_000),
            ("log_chunk", self.log_chunk >= 1),
            ("min_profit_usd", self.min_profit_usd >= 0),
            ("max_gas_usd", self.max_gas_usd > 0),
            ("max_actions", self.max_actions >= 1),
            ("deviation", 0 < self.deviation < 1),
            ("max_backoff_s", self.max_backoff_s > 0),
        ):
            if not ok:
                raise ValueError(f"{name} = {getattr(self, name)} outside its allowed range")
        self.gas.validate()


class Bot:
    """What the three bots share: the index, pending transactions, guarded actions."""

    kind = ""

    def __init__(
        self,
        rpc: JsonRpc,
        contracts: Contracts,
        sender: Sender,
        state: KeeperState,
        cfg: KeeperConfig,
        metrics: Metrics,
        log: Any,
    ):
        self.rpc = rpc
        self.contracts = contracts
        self.reader = Reader(rpc, contracts)
        self.sender = sender
        self.state = state
        self.cfg = cfg
        self.metrics = metrics
        self.log = log
        self.me = sender.address.lower()
        self.index = AccountIndex()
        self.index.watch(list(state.accounts))
        for sid, (strike, expiry, is_call) in state.series.items():
            self.index.series[sid] = SeriesInfo(sid, strike / WAD, expiry, is_call)
        self.head: dict[str, Any] = {}
        self.now = 0

    # --- one iteration ---

    def iterate(self) -> None:
        self.sync()
        if not self.follow_pending():
            self.act()
        self.state.save()

    def act(self) -> None:
        raise NotImplementedError

    # --- events -> index ---

    def sync(self) -> None:
        head = self.rpc.call("eth_getBlockByNumber", ["latest", False])
        number = int(head["number"], 16)
        self.head, self.now = head, int(head["timestamp"], 16)
        st = self.state
        target = number - self.cfg.confirmations
        self._check_reorg(number)
        market = self.contracts.addresses["market"]
        frm = st.last_block + 1
        if frm <= target:
            st.last_block_hash = None  # moves with last_block
        while frm <= target:
            to = min(target, frm + self.cfg.log_chunk - 1)
            self._apply_logs(self._logs(market, frm, to), persist=True)
            st.last_block = to
            self.metrics.inc("blocks_scanned", to - frm + 1)
            frm = to + 1
        if st.last_block >= st.start_block and st.last_block_hash is None:
            block = self.rpc.call("eth_getBlockByNumber", [hex(st.last_block), False])
            st.last_block_hash = block["hash"] if block else None
        if number > max(target, st.last_block):  # newer, unconfirmed: re-read, do not persist
            self._apply_logs(self._logs(market, max(target, st.last_block) + 1, number), False)
        self.index.refresh(self.reader)
        self.metrics.set("last_block", st.last_block)
        self.metrics.set("head_block", number)
        self.metrics.set("accounts", len(st.accounts))

    def _check_reorg(self, head_number: int) -> None:
        st = self.state
        if st.last_block < st.start_block:
            return
        if st.last_block > head_number:
            reason = "node behind the index (restarted from an older state?)"
        else:
            if st.last_block_hash is None:
                return
            block = self.rpc.call("eth_getBlockByNumber", [hex(st.last_block), False])
            if block and block["hash"] == st.last_block_hash:
                return
            reason = "block hash changed (reorg)"
        to = min(st.last_block, head_number) - REWIND
        self.log.warning("index_rewind", extra={"reason": reason, "from_block": to + 1})
        self.metrics.inc("reorgs")
        st.rewind(to)
        self.index.watch(list(st.accounts))

    def _logs(self, address: str, frm: int, to: int) -> list[dict]:
        return self.rpc.call(
            "eth_getLogs", [{"fromBlock": hex(frm), "toBlock": hex(to), "address": address}]
        )

    def _apply_logs(self, logs: list[dict], persist: bool) -> None:
        events = []
        for raw in logs:
            ev = self.contracts.decode_log(raw)
            if ev is None:
                continue
            events.append(ev)
            if not persist:
                continue
            block = int(raw["blockNumber"], 16)
            for key in ("account", "liquidator"):
                if key in ev.args:
                    self.state.touch(str(ev.args[key]), block)
            if ev.name == "SeriesCreated":
                a = ev.args
                self.state.series[int(a["series_id"])] = (
                    int(a["strike"]),
                    int(a["expiry"]),
                    bool(a["is_call"]),
                )
        self.index.touched_by(events)

    # --- transactions ---

    def follow_pending(self) -> bool:
        """Follow recorded pending transactions; True while one is still pending."""
        blocked = False
        for key, rec in list(self.state.pending().items()):
            result = self.sender.follow(rec["tx"], self._persist(key))
            self._finish(key, result)
            blocked |= result.status == "pending"
        return blocked

    def _persist(self, key: str) -> Any:
        def on_broadcast(tx: InFlight) -> None:
            self.state.record(key, status="pending", tx=tx.record(), sent_at=time.time())

        return on_broadcast

    def _finish(self, key: str, res: TxResult) -> None:
        self.state.record(
            key,
            status=res.status,
            tx_hash=res.tx_hash,
            block=res.block,
            reason=res.reason,
            gas_used=res.gas_used,
            replacements=res.replacements,
        )
        self.metrics.inc(f"actions_{res.status}")
        level = "info" if res.status in ("mined", "pending") else "warning"
        getattr(self.log, level)(
            f"action_{res.status}",
            extra={
                "key": key,
                "tx": res.tx_hash,
                "block": res.block,
                "reason": res.reason,
                "replacements": res.replacements,
            },
        )
        if res.status in ("mined", "reverted") and res.logs:
            self._apply_logs(res.logs, persist=False)
            self.index.refresh(self.reader)

    def execute(self, key: str, target: str, data: str, label: str, worth_it: Any) -> None:
        """Simulate, check the economics with `worth_it(gas, price_wei)`, record, send."""
        if self.state.action(key) is not None:
            self.metrics.inc("skipped_done_before")
            return
        to = self.contracts.addresses[target]
        try:
            estimate = self.sender.estimate(to, data)
        except CallReverted as exc:
            self.metrics.inc("skipped_simulation_reverts")
            self.log.info("skipped", extra={"key": key, "why": "simulation", "reason": exc.reason})
            return
        gas = min(int(estimate * self.cfg.gas.gas_margin), 30_000_000)
        base = int(self.head.get("baseFeePerGas") or "0x0", 16)
        _, tip = self.cfg.gas.fees(base)
        ok, facts = worth_it(estimate, base + tip)
        if not ok:
            self.metrics.inc("skipped_unprofitable")
            self.log.info("skipped", extra={"key": key, "why": "unprofitable", **facts})
            return
        if self.cfg.dry_run:
            self.metrics.inc("dry_run_actions")
            self.log.info("dry_run", extra={"key": key, "label": label, "gas": gas, **facts})
            return
        self.log.info("acting", extra={"key": key, "label": label, "gas": gas, **facts})
        result = self.sender.send(to, data, gas, label=label, on_broadcast=self._persist(key))
        if result.status == "rejected" and self.state.action(key) is None:
            self.log.warning("not_sent", extra={"key": key, "reason": result.reason})
            return
        self._finish(key, result)

    def gas_usd(self, gas: int, price_wei: int, spot: float) -> float:
        return gas * price_wei / ETH * (self.cfg.gas_token_usd or spot)

    def _budget(self, spot: float, facts: dict | None = None) -> Any:
        """The test of an action that earns nothing: its gas costs at most max_gas_usd."""

        def worth_it(gas: int, price: int) -> tuple[bool, dict]:
            cost = self.gas_usd(gas, price, spot)
            return cost <= self.cfg.max_gas_usd, {
                **(facts or {}),
                "gas_usd": round(cost, 4),
                "gas": gas,
            }

        return worth_it

    def preflight(self) -> None:
        """Refuse to start without funds for one transaction at the current fees."""
        if self.cfg.dry_run:
            return
        label = {"liquidator": "liquidate", "settler": "settle", "oracle": "push"}[self.kind]
        max_fee, _ = self.cfg.gas.fees(self.sender.base_fee())
        need = GAS_LIMITS[label] * max_fee
        have = self.sender.balance()
        if have < need:
            raise KeeperError(
                f"keeper account {self.sender.address} has {have / ETH:.6f} ETH; one {label} "
                f"needs about {need / ETH:.6f} ETH ({GAS_LIMITS[label]:,} gas at "
                f"{max_fee / GWEI:.3f} gwei). Fund it or choose another --account; nothing was sent"
            )


class LiquidatorBot(Bot):
    """Liquidates accounts below MM when the reward beats gas."""

    kind = "liquidator"
    held: dict[int, int] = {}  # noqa: RUF012 - replaced per instance by sync

    def sync(self) -> None:
        super().sync()
        # what the keeper holds as the iteration begins: positions taken over by
        # liquidations that land later in it are traded back on the next iteration
        self.held = dict(self.index.raw_positions.get(self.me, {}))

    def act(self) -> None:
        self.unwind()
        self.liquidate()

    def unwind(self) -> None:
        """Trade back, exactly, the positions earlier liquidations handed over (an account
        holds at most 8, and the keeper's capital is for liquidating): sell with a limit of 0,
        buy with a high cap. Keyed by the series, the size and the keeper's version, so one
        takeover is unwound at most once (a revert is not retried until the book changes)."""
        r = self.reader
        tradeable = {sid for sid, s in self.index.series.items() if s.expiry > self.now + HOUR}
        orders = decisions.unwind_orders(self.held, tradeable)[: self.cfg.max_actions]
        self.metrics.set("unwind_orders", len(orders))
        if not orders:
            return
        spot = r.get(r.spot())
        version = self.state.version(self.me)
        for sid, size in orders:
            limit = decisions.market_limit(size)
            data = self.contracts.calldata("market", "trade", sid, size, limit)
            self.execute(
                f"unwind:{sid}:{size}:{version}", "market", data, "trade", self._budget(spot)
            )

    def liquidate(self) -> None:
        r, idx = self.reader, self.index
        accounts = [a for a, p in idx.positions.items() if p and a != self.me]
        self.metrics.set("accounts_with_positions", len(accounts))
        if not accounts:
            return
        expiries = sorted({idx.series[s].expiry for a in accounts for s in idx.positions[a]})
        v = r.read_named(
            {
                "stale": r.is_stale(),
                "spot": r.spot(),
                "round": r.round_id(),
                "margin": r.margin_params(),
                "liquidation": r.liquidation_params(),
                **{("vol", e): r.vol(e) for e in expiries},
            }
        )
        if v["stale"]:
            self.log.warning("oracle_stale", extra={"note": "liquidations revert until it updates"})
            return
        spot, round_id = v["spot"], v["round"]
        mp: MarginParams = v["margin"]
        lp: LiquidationParams = v["liquidation"]
        vol_of = {e: v[("vol", e)] for e in expiries}
        equity, margin = idx.margins(accounts, spot, vol_of, self.now, mp)
        order = decisions.liquidation_candidates(equity, margin.mm)
        self.metrics.set("below_mm", len(order))
        if not len(order):
            return
        picked = [int(i) for i in order[: self.cfg.max_actions]]
        checks = r.read_named(
            {
                (i, m): r.view("market", m, accounts[i])
                for i in picked
                for m in ("is_liquidatable", "discount")
            },
            lenient=True,
        )
        slots = set(idx.positions.get(self.me, {}))  # this iteration's liquidations add to them
        for i in picked:
            account = accounts[i]
            liquidatable, discount = checks[(i, "is_liquidatable")], checks[(i, "discount")]
            if not liquidatable:
                self.metrics.inc("engine_disagreements")
                self.log.info("skipped", extra={"account": account, "why": "market says healthy"})
                continue
            taken = decisions.slots_after_taking(slots, idx.positions[account])
            if taken is None:
                self.metrics.inc("skipped_position_limit")
                self.log.info("skipped", extra={"account": account, "why": "position limit"})
                continue
            slots = taken
            key = f"liquidate:{account}:{self.state.version(account)}:{round_id}"
            e, mm, d = float(equity[i]), float(margin.mm[i]), int(discount) / WAD

            def worth_it(gas: int, price: int, e=e, mm=mm, d=d) -> tuple[bool, dict]:
                profit = decisions.liquidation_profit(
                    e,
                    mm,
                    d,
                    mp.im_factor,
                    lp.target_buffer,
                    gas,
                    price / GWEI,
                    self.cfg.gas_token_usd or spot,
                )
                facts = {
                    "equity": round(e, 2),
                    "mm": round(mm, 2),
                    "discount": d,
                    "profit_usd": round(profit, 4),
                    "gas": gas,
                }
                return profit > self.cfg.min_profit_usd, facts

            data = self.contracts.calldata("market", "liquidate", account, WAD)
            self.execute(key, "market", data, "liquidate", worth_it)


class SettlerBot(Bot):
    """Settles positions in expired series once the expiry's price is fixed; once nobody
    holds a settled series, retires it from the market's live list (as the simulation's
    settler does), so listing never runs out of the 32 live slots."""

    kind = "settler"

    def act(self) -> None:
        r, idx = self.reader, self.index
        expired = sorted({s.expiry for s in idx.series.values() if s.expiry <= self.now})
        if not expired:
            return
        v = r.read_named({"spot": r.spot(), **{e: r.settlement_price(e) for e in expired}})
        settled = {e: v[e] for e in expired}
        spot = v["spot"]
        expiry_of = {sid: s.expiry for sid, s in idx.series.items()}
        pairs = decisions.settle_candidates(idx.positions, expiry_of, settled, self.now)
        self.metrics.set("settle_candidates", len(pairs))
        for account, sid in pairs[: self.cfg.max_actions]:
            data = self.contracts.calldata("market", "settle", account, sid)
            self.execute(f"settle:{account}:{sid}", "market", data, "settle", self._budget(spot))
        # series nobody holds are retired whatever else waits (a settlement that reverted
        # or costs too much must not hold up the live list); the rule never picks a held one
        live = r.get(r.live_series())
        retire = decisions.retirable_series(live, idx.positions, expiry_of, settled, self.now)
        self.metrics.set("retire_candidates", len(retire))
        for sid in retire[: self.cfg.max_actions]:
            data = self.contracts.calldata("market", "retire_series", sid)
            self.execute(f"retire:{sid}", "market", data, "retire", self._budget(spot))


class OracleBot(Bot):
    """Pushes spot and vols on the heartbeat, on a deviation, and to fix settlement prices."""

    kind = "oracle"

    def __init__(self, *args: Any, source: CsvSource | SimSource | FeedSource, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.source = source

    def preflight(self) -> None:
        super().preflight()
        r = self.reader
        if isinstance(self.source, FeedSource) and self.source.pull:
            feed = r.get(Read(r.view("oracle", "feed"), str))
            if int(feed, 16) == 0:
                raise KeeperError("--source feed: the Oracle has no feed set; nothing was sent")
            return
        allowed = r.read([r.view("oracle", "updaters", self.sender.address)])[0]
        if not allowed:
            raise KeeperError(
                f"{self.sender.address} is not an updater of the Oracle "
                f"({self.contracts.addresses['oracle']}): ask its admin for set_updater, or use "
                "--source feed; nothing was sent"
            )

    def act(self) -> None:
        r, idx, now = self.reader, self.index, self.now
        live = sorted({s.expiry for s in idx.series.values() if s.expiry > now})
        live = live[:MAX_VOLS_PER_PUSH]
        past = sorted({s.expiry for s in idx.series.values() if s.expiry <= now})
        v = r.read_named(
            {
                "spot": r.spot(),
                "updated_at": r.updated_at(),
                "round": r.round_id(),
                "oracle": r.oracle_params(),
                "feed": r.view("oracle", "feed"),
                **{("vol", e): r.vol(e) for e in live},
                **{("settlement", e): r.settlement_price(e) for e in past},
            }
        )
        last_spot, updated_at, round_id = v["spot"], v["updated_at"], v["round"]
        op: OracleParams = v["oracle"]
        vols_now = {e: v[("vol", e)] for e in live}
        awaiting = [e for e in past if v[("settlement", e)] == 0]
        src = self.source
        if isinstance(src, FeedSource):
            feed = src.address or v["feed"]
            rd, dec = r.read(
                [
                    r.view("oracle", "latestRoundData").at(feed),
                    r.view("oracle", "decimals").at(feed),
                ]
            )
            quote = src.quote_from(rd, int(dec))
            if quote is not None and (
                quote.round_time <= updated_at or quote.round_time + op.staleness_limit < now
            ):
                quote = None  # nothing newer than what the oracle has, or a stale round
        else:
            quote = src.quote(now, last_spot)
        if quote is None:
            self.log.info("no_quote", extra={"source": src.kind, "now": now})
            return
        due = decisions.oracle_update_due(
            now, updated_at, last_spot, quote.spot, op.heartbeat, self.cfg.deviation
        )
        self.metrics.set("source_spot", quote.spot)
        if not (due or awaiting):
            return
        if isinstance(src, FeedSource) and src.pull:
            data = self.contracts.calldata("oracle", "pull_from_feed")
            key, label = f"pull:{round_id}", "push"
        else:
            price = decisions.clamp_to_deviation(
                quote.spot, last_spot, 0.99 * op.allowed_spot_deviation(now - updated_at)
            )
            exps, vols = [], []
            for e in live:
                current = vols_now.get(e, 0.0)
                target = quote.vol or current
                if target <= 0:
                    continue
                if current > 0:
                    target = decisions.clamp_to_deviation(
                        target, current, 0.99 * op.max_vol_deviation
                    )
                exps.append(e)
                vols.append(int(target * WAD))
            data = self.contracts.calldata("oracle", "push", int(price * WAD), exps, vols)
            key, label = f"push:{round_id}", "push"

        facts = {"spot": round(quote.spot, 4), "awaiting_settlement": len(awaiting)}
        self.execute(key, "oracle", data, label, self._budget(last_spot, facts))


BOTS: dict[str, type[Bot]] = {
    "liquidator": LiquidatorBot,
    "settler": SettlerBot,
    "oracle": OracleBot,
}


def build_bot(
    cfg: KeeperConfig,
    rpc: JsonRpc,
    contracts: Contracts,
    signer: Any,
    state_path: Any,
    start_block: int,
    *,
    metrics: Metrics,
    log: Any,
    stop: threading.Event,
    source: Any = None,
) -> Bot:
    """A bot on a deployment: its sender, its state file (refused if it belongs to another
    deployment) and, for the oracle updater, its price source."""
    cfg.validate()
    chain_id = int(rpc.call("eth_chainId", []), 16)
    sender = Sender(rpc, signer, chain_id, cfg.gas, metrics=metrics, log=log, stop=stop)
    state = KeeperState.open(state_path, chain_id, contracts.addresses["market"], start_block)
    args = (rpc, contracts, sender, state, cfg, metrics, log)
    if cfg.kind == "oracle":
        if source is None:
            raise KeeperError("the oracle updater needs a price source")
        return OracleBot(*args, source=source)
    return BOTS[cfg.kind](*args)


class KeeperRunner:
    """Runs a bot's iterations every `interval_s` until stopped or `iterations` are done."""

    def __init__(self, bot: Bot, stop: threading.Event | None = None):
        self.bot = bot
        self.stop = stop or bot.sender.stop
        self.failures = 0

    def run(self, iterations: int | None = None) -> int:
        """0 when the last iteration succeeded (or it was stopped), 1 when it failed."""
        bot, log, metrics = self.bot, self.bot.log, self.bot.metrics
        log.info(
            "started",
            extra={
                "account": bot.sender.address,
                "dry_run": bot.cfg.dry_run,
                "from_block": bot.state.last_block + 1,
            },
        )
        done = 0
        while not self.stop.is_set():
            t0 = time.monotonic()
            try:
                bot.iterate()
                self.failures = 0
                metrics.inc("iterations")
                metrics.last_iteration = time.time()
            except RpcUnavailable as exc:
                self.failures += 1
                metrics.inc("rpc_errors")
                log.warning("rpc_unavailable", extra={"error": str(exc), "failures": self.failures})
            except (RpcError, ValueError, KeyError, TypeError, np.linalg.LinAlgError) as exc:
                self.failures += 1
                metrics.inc("iteration_errors")
                log.error("iteration_failed", exc_info=exc, extra={"failures": self.failures})
            done += 1
            if iterations is not None and done >= iterations:
                break
            delay = bot.cfg.interval_s
            if self.failures:
                delay = min(bot.cfg.max_backoff_s, bot.cfg.interval_s * 2 ** (self.failures - 1))
            self.stop.wait(max(0.0, delay - (time.monotonic() - t0)))
        bot.state.save()
        log.info("stopped", extra={"iterations": done, "last_block": bot.state.last_block})
        return 1 if self.failures else 0


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT finish the current iteration, then the runner returns."""

    def _handler(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _handler)
    signal.signal(signal.SIGINT, _handler)
