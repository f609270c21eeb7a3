"""The options market as a Mesa model run against the deployed contracts.

One step is one block. `step()` reads as the order of events in that block: the outside
market moves (the scenario's MarketPath), the oracle updater reports it with the highest
tip, the lister lists expiries, traders trade, LPs deposit or redeem, keepers liquidate and
settle, the risk committee reviews parameters, the LPs' hedging desk trades off-chain; then
the block is mined at the step's timestamp, every outcome goes back to the agent that sent
it, and metrics are collected from the new state.

Agents never touch the chain directly: they queue transactions with `send()`, and read
the model's view of the chain as of the last block (`oracle`, `index`, `params`,
`pool`). Margins for keepers and traders come from the risk engine over the account
index (onchain.accounts), re-read only for the accounts each block's events touched.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import mesa
import numpy as np

from agents import decisions
from agents.hedging import PoolHedger, pool_delta
from agents.keepers import Liquidator, OracleUpdater, SeriesLister, Settler
from agents.liquidity import LiquidityProvider
from agents.traders import DirectionalTrader, NoiseTrader, OptionWriter, PutHedger, VolTrader
from agents.view import OracleView
from onchain.accounts import AccountIndex
from risk.param_guard import SETTERS
from risk.params import GROUPS, LiquidationParams, RateLimit
from risk.units import ETH_PER_GWEI, GWEI, HOUR, USDC, WAD
from sims.config import SimConfig, SimConfigError
from sims.market_path import MarketPath

log = logging.getLogger("optsim.sim")
GOVERNED = tuple(g for g, s in SETTERS.items() if s.holder == "config")  # RiskConfig's groups


@dataclass
class StepTally:
    """What happened on-chain in one block, from its receipts."""

    txs: int = 0
    reverts: int = 0
    rejected: int = 0
    gas: int = 0
    liquidations: int = 0
    liquidated_mm_usd: float = 0.0
    bad_debt_usd: float = 0.0
    socialised_usd: float = 0.0
    settlements: int = 0
    trades: int = 0
    param_changes: int = 0
    proposals: int = 0
    lp_deposits_usd: float = 0.0  # into the pool (its ERC4626 Deposit events)
    lp_redemptions_usd: float = 0.0
    lp_failed_redemptions: int = 0  # redeems reverted (the pool at its IM, a stale oracle)


class OptionsMarketModel(mesa.Model):
    """Traders and keepers on a deployed options protocol, one block per step.

    Args:
        chain: an onchain.session.Chain on the deployed protocol (its block builder started).
        cfg: the run's settings.
        path: the outside market, cfg.steps + 1 entries.
        history: (timestamps, spots, IVs) before the run, for the risk committee's fits.
        admin: the deployer's address (series creator, oracle updater, proposer).
        keys: addresses of the other agents' accounts (cfg.n_accounts() of them).
        seed: all randomness comes from it.
    """

    def __init__(
        self,
        chain: Any,
        cfg: SimConfig,
        path: MarketPath,
        admin: str,
        keys: list[str],
        seed: int | None = None,
        history: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
        long_history: Any = None,
    ):
        super().__init__(rng=seed)
        cfg.validate()
        if len(path.spot) < cfg.steps + 1:
            raise SimConfigError(
                f"path: {len(path.spot)} entries, need steps + 1 = {cfg.steps + 1}"
            )
        if len(keys) < cfg.n_accounts():
            raise SimConfigError(f"accounts: {len(keys)} given, {cfg.n_accounts()} needed")
        self.cfg = cfg
        self.history = history or (np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0))
        self.chain = chain
        self.addresses = chain.addresses  # the protocol's contracts by name
        self.path = path
        self.step_index = 0
        self.now = int(path.timestamp[0])
        self.start = self.now
        self.spot = float(path.spot[0])
        self.gas_gwei = float(path.gas_gwei[0])
        self.oracle = OracleView()
        self.oracle_next: float | None = None
        self.vols_next: dict[int, float] = {}  # expiry -> vol of this block's oracle push
        self.index = AccountIndex()
        self.params: dict[str, Any] = {}
        self.pool: dict[str, float] = {}
        self.tally = StepTally()
        self.auction_start: dict[str, int] = {}
        self.auction_seen: dict[str, int] = {}  # last confirmation below MM (a liquidation)
        self._margins: tuple | None = None
        self._live_ids: list[int] = []
        self._pool_positions: dict[int, float] = {}
        self.last_block: Any = None
        # seconds by part of the step: agents, chain, ...
        self.timings: defaultdict[str, float] = defaultdict(float)
        self.revert_log: Counter = Counter()  # (label, reason) -> count, over the run
        self._agents_by_id: dict[int, Any] = {}

        it = iter(keys)
        self.admin = admin
        self.lp_account = next(it)
        self.updater = OracleUpdater(self, admin)
        self.lister = SeriesLister(self, admin)
        self.settler = Settler(self, next(it))
        shares = cfg.liquidator_bid_share
        self.liquidators = [
            Liquidator(self, next(it), cfg.liquidator_capital, shares[i % len(shares)])
            for i in range(cfg.liquidators)
        ]
        self.writers = [
            OptionWriter(self, next(it), cfg.writer_capital, cfg.activity, cfg.writer_max_usage)
            for _ in range(cfg.writers)
        ]
        self.noise = [
            NoiseTrader(self, next(it), cfg.trader_capital, cfg.activity)
            for _ in range(cfg.noise_traders)
        ]
        self.directional = [
            DirectionalTrader(
                self,
                next(it),
                cfg.trader_capital,
                cfg.activity,
                cfg.signal_quality,
                cfg.signal_horizon,
            )
            for _ in range(cfg.directional)
        ]
        self.vol_traders = [
            VolTrader(
                self,
                next(it),
                cfg.trader_capital,
                cfg.activity,
                cfg.vol_threshold,
                cfg.vol_forecast_noise,
            )
            for _ in range(cfg.vol_traders)
        ]
        self.put_hedgers = [
            PutHedger(self, next(it), cfg.trader_capital, cfg.hedger_spot_usd)
            for _ in range(cfg.put_hedgers)
        ]
        self.lps = [
            LiquidityProvider(
                self,
                next(it),
                cfg.lp_capital,
                hurdle=cfg.lp_hurdle,
                run_fear=cfg.lp_run_fear + self.random.uniform(-0.15, 0.15),
                max_drawdown=cfg.lp_max_drawdown,
            )
            for _ in range(cfg.lps)
        ]
        self.hedger = None
        if cfg.pool_hedger:
            self.hedger = PoolHedger(
                self, cfg.hedge_band, cfg.hedge_base_slippage, cfg.hedge_impact, cfg.hedge_depth_usd
            )
        self.governance = None
        if cfg.governance:
            from agents.committee import CommitteeConfig, RiskCommittee
            from agents.governance import GovernanceAgent

            committee = RiskCommittee(
                CommitteeConfig(review_every_hours=cfg.governance_every_hours, seed=seed or 0),
                long_history,  # risk.apc.LongHistory: the long-lookback floor (or None)
            )
            self.governance = GovernanceAgent(self, admin, committee)
        for a in self.agents:
            self._agents_by_id[a.unique_id] = a
        self.traders = [
            *self.writers,
            *self.noise,
            *self.directional,
            *self.vol_traders,
            *self.put_hedgers,
        ]
        self._pool_address = self.addresses["pool"].lower()
        self.index.watch(
            [t.account for t in self.traders] + [lq.account for lq in self.liquidators]
        )

        self.datacollector = mesa.DataCollector(model_reporters=self._reporters())
        self._open_market()
        self.datacollector.collect(self)

    # --- set-up: one block that funds everyone, lists the first expiries, pushes the oracle ---

    def _open_market(self) -> None:
        c = self.cfg
        token, max_uint = "token", 2**256 - 1
        self.send(
            self.updater, "oracle", "push", int(self.spot * WAD), [], [], tip_gwei=c.oracle_tip_gwei
        )
        self.lister.step()
        funded = [(self.lp_account, c.pool_capital, "pool")]
        funded += [(lq.account, lq.capital_usdc, "market") for lq in self.liquidators]
        funded += [(t.account, t.capital_usdc, "market") for t in self.traders]
        funded += [(lp.account, lp.capital_usdc, "wallet") for lp in self.lps]
        for account, usdc, venue in funded:
            amount = int(usdc * USDC)
            self.chain.send(account, token, "mint", account, amount, label="mint")
            spender = self.addresses["pool" if venue == "wallet" else venue]
            self.chain.send(account, token, "approve", spender, max_uint, label="approve")
            if venue != "wallet":  # LPs keep theirs and deposit when their rules say so
                label = "pool_deposit" if venue == "pool" else "deposit"
                self.chain.send(account, venue, "deposit", amount, label=label)
        self._mine()
        self._read_state()
        # the first vols: push again now that the expiries exist
        self.send(
            self.updater,
            "oracle",
            "push",
            int(self.spot * WAD),
            self.live_expiries(),
            [int(self.path.reference_iv[0] * WAD)] * len(self.live_expiries()),
            tip_gwei=c.oracle_tip_gwei,
        )
        self.now += 1
        self._mine()
        self._read_state()
        self.timings.clear()  # the run's timings are the steps'; set-up counts as set-up

    # --- what agents call ---

    def send(
        self,
        agent: Any,
        contract: str,
        method: str,
        *args: Any,
        tip_gwei: float = 0.0,
        label: str | None = None,
    ) -> None:
        """Queue a transaction from the agent's account for this step's block."""
        if agent is self.updater and method == "push" and args:
            self.oracle_next = args[0] / WAD
            self.vols_next = {int(e): v / WAD for e, v in zip(args[1], args[2], strict=True)}
        self.chain.send(
            agent.account,
            contract,
            method,
            *args,
            tip=int(tip_gwei * GWEI),
            label=label,
            tag=agent.unique_id,
        )

    def gas_cost_usd(self, outcome: Any) -> float:
        """The scenario's gas price (plus the tip) times gas used, at spot (gas token = ETH).
        The local chain's base fee is ~0; the scenario's gas market is charged here."""
        price_gwei = self.gas_gwei + outcome.request.tip / GWEI
        return outcome.gas_used * price_gwei * ETH_PER_GWEI * self.spot

    def signal(self, horizon: int, quality: float, rng: Any) -> int:
        """The sign of spot's return over the next `horizon` steps (+1 up, -1 down), right
        with probability `quality` and flipped otherwise; 0 when the path ends here. Only
        the sign leaks, and only as reliably as the quality says."""
        k = self.step_index
        end = min(k + horizon, len(self.path.spot) - 1)
        if end <= k:
            return 0
        sign = 1 if self.path.spot[end] >= self.path.spot[k] else -1
        return sign if rng.random() < quality else -sign

    def pool_positions(self) -> dict[int, float]:
        """The pool's position per series (contracts): minus every account's."""
        return self._pool_positions

    def live_expiries(self) -> list[int]:
        return sorted({s.expiry for s in self.index.series.values() if s.expiry > self.now})

    def live_series_count(self) -> int:
        return len(self._live_ids)

    def tradeable_series(self) -> list[int]:
        return [sid for sid in self._live_ids if self.index.series[sid].expiry > self.now + HOUR]

    def otm_series(self) -> list[int]:
        out = []
        for sid in self.tradeable_series():
            s = self.index.series[sid]
            if (s.is_call and s.strike > self.spot * 1.02) or (
                not s.is_call and s.strike < self.spot * 0.98
            ):
                out.append(sid)
        return out

    def retirable_series(self) -> list[int]:
        expiry_of = {sid: s.expiry for sid, s in self.index.series.items()}
        return [
            sid
            for sid in decisions.retirable_series(
                self._live_ids, self.index.positions, expiry_of, self.oracle.settlement, self.now
            )
            if self._pool_positions.get(sid, 0) == 0
        ]

    def engine_margins(self) -> tuple[list[str], np.ndarray, Any]:
        """(accounts, equity, Margin) of every trader and liquidator, by the risk engine at
        the price the oracle shows after this block's update."""
        if self._margins is None:
            accounts = [a for a in self.index.positions if self.index.positions[a]]
            if not accounts:
                self._margins = ([], np.zeros(0), None)
            else:
                spot = self.oracle_next or self.oracle.spot
                vols = {**self.oracle.vol_of, **self.vols_next}
                equity, m = self.index.margins(
                    accounts, spot, vols, self.now, self.params["margin"], self.oracle.settlement
                )
                self._margins = (accounts, equity, m)
        return self._margins

    def account_margin(self, account: str) -> tuple[float, float, float]:
        """(equity, MM, IM) of one account in USD (risk engine, as engine_margins)."""
        accounts, equity, m = self.engine_margins()
        a = account.lower()
        if a in accounts:
            i = accounts.index(a)
            return float(equity[i]), float(m.mm[i]), float(m.im[i])
        return self.index.cash.get(a, 0.0), 0.0, 0.0

    def discount_now(self, account: str) -> float:
        """The liquidation discount the account gives in this block (OptionMarket._discount)."""
        lp: LiquidationParams = self.params["liquidation"]
        start = self.auction_start.get(account.lower(), 0)
        # a flag not re-confirmed below MM within the hour is void (AUCTION_CONFIRM_SEC)
        if start == 0 or self.now > self.auction_seen.get(account.lower(), 0) + HOUR:
            return lp.start_discount
        # as OptionMarket._discount: start + rate * seconds / 3600 (not whole hours)
        return min(
            lp.max_discount, lp.start_discount + lp.discount_rate * (self.now - start) / HOUR
        )

    # governance reads
    def price_history(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Timestamps, spots and reference IVs up to now: the pre-run history, then the path."""
        k = self.step_index + 1
        ts, spot, iv = self.history
        return (
            np.concatenate([ts, self.path.timestamp[:k]]),
            np.concatenate([spot, self.path.spot[:k]]),
            np.concatenate([iv, self.path.reference_iv[:k]]),
        )

    def book(self) -> Any:
        accounts = [a for a in self.index.positions if self.index.positions[a]]
        return self.index.book(
            accounts, self.oracle.spot, self.oracle.vol_of, self.now, self.oracle.settlement
        )

    def params_in_force(self) -> dict[str, Any]:
        return dict(self.params)

    def rate_limits(self) -> dict[str, RateLimit]:
        return dict(self._rate_limits)

    def last_updates(self) -> dict[tuple[str, int], int]:
        """(group, field index) -> when the field last changed on-chain (0: never)."""
        r = self.chain.reader
        return r.read_named(
            {(g, i): r.last_update(g, i) for g in GOVERNED for i in range(len(GROUPS[g].FIELDS))}
        )

    @property
    def pool_nav(self) -> float:
        return self.pool.get("nav", 0.0)

    def close(self) -> None:
        """Release what outlives a step (the risk committee's worker thread)."""
        if self.governance is not None:
            self.governance.close()

    # --- one block ---

    def step(self) -> None:
        self.step_index = min(self.steps, len(self.path.spot) - 1)
        k = self.step_index
        self.now = int(self.path.timestamp[k])
        self.spot = float(self.path.spot[k])
        self.gas_gwei = float(self.path.gas_gwei[k])
        self._margins = None
        self.oracle_next = None
        self.vols_next = {}
        t0 = time.perf_counter()

        self.updater.step()
        self.lister.step()
        traders = list(self.traders)
        self.random.shuffle(traders)
        for t in traders:
            t.step()
        lps = list(self.lps)
        self.random.shuffle(lps)  # a bank run is first come, first served
        for lp in lps:
            lp.step()
        for lq in self.liquidators:
            lq.step()
        self.settler.step()
        if self.hedger is not None:
            self.hedger.step()
        t1 = time.perf_counter()
        if self.governance is not None:
            self.governance.step()
        t2 = time.perf_counter()
        self._mine()
        t3 = time.perf_counter()
        self._read_state()
        self._margins = None
        self.datacollector.collect(self)
        t4 = time.perf_counter()
        timings = self.timings
        timings["agents"] += t1 - t0
        timings["committee"] += t2 - t1
        timings["chain"] += t3 - t2
        timings["reads"] += t4 - t3

    def _mine(self) -> None:
        result = self.chain.mine(self.now)
        for part, seconds in result.timings.items():  # sign, send, mine, receipts, reasons
            self.timings[f"chain_{part}"] += seconds
        t = self.tally = StepTally()
        events = []
        for o in result.outcomes:
            agent = self._agents_by_id.get(o.request.tag)
            if agent is not None and hasattr(agent, "on_outcome"):
                agent.on_outcome(o)
            t.txs += 1
            t.reverts += o.reverted
            if not o.ok:
                why = o.reason if o.reverted else o.error
                self.revert_log[(o.request.label, str(why)[:80])] += 1
                log.debug(
                    "step %s: %s %s: %s",
                    self.step_index,
                    o.request.label,
                    "reverted" if o.reverted else "rejected",
                    why,
                )
            t.rejected += o.rejected
            t.lp_failed_redemptions += o.request.label == "redeem" and not o.ok
            t.gas += o.gas_used
            for ev in o.events:
                events.append(ev)
                self._tally_event(ev)
        self.index.touched_by(events)
        self.last_block = result

    def _tally_event(self, ev: Any) -> None:
        t, a = self.tally, ev.args
        if str(ev.address).lower() == self._pool_address:  # the pool's ERC4626 events
            if ev.name == "Deposit":
                t.lp_deposits_usd += a["assets"] / USDC
            elif ev.name == "Withdraw":
                t.lp_redemptions_usd += a["assets"] / USDC
        elif ev.name == "Liquidation":
            self.auction_seen[str(a["account"]).lower()] = self.now  # confirmed below MM
            t.liquidations += 1
            t.liquidated_mm_usd += a["mm"] * a["fraction"] / WAD / WAD
        elif ev.name == "BadDebt":
            t.bad_debt_usd += a["amount"] / USDC
            t.socialised_usd += a["socialised"] / USDC
        elif ev.name == "Settled":
            t.settlements += 1
        elif ev.name == "Trade":
            t.trades += 1
        elif ev.name in ("MarginParamsSet", "LiquidationParamsSet", "LimitsSet", "PoolParamsSet"):
            t.param_changes += 1
        elif ev.name == "Proposed":
            t.proposals += 1
        elif ev.name == "AuctionStarted":
            self.auction_start[str(a["account"]).lower()] = int(a["timestamp"])
            self.auction_seen[str(a["account"]).lower()] = int(a["timestamp"])
        elif ev.name == "AuctionCleared":
            self.auction_start.pop(str(a["account"]).lower(), None)

    def _read_state(self) -> None:
        """Everything agents and metrics read: the accounts the block's events touched,
        then the oracle, the pool and the parameters in one round trip by name."""
        r = self.chain.reader
        self.index.refresh(r)
        expiries = sorted({s.expiry for s in self.index.series.values()})
        reads: dict[Any, Any] = {
            "spot": r.spot(),
            "updated_at": r.updated_at(),
            "oracle": r.oracle_params(),
            "pool_state": r.pool_state(),
            "supply": r.share_supply(),
            "insurance": r.insurance(),
            "fees": r.fees(),
            "live": r.live_series(),
            "margin": r.margin_params(),
            "liquidation": r.liquidation_params(),
            "limits": r.limits(),
            "pool": r.pool_params(),
        }
        reads.update({("vol", e): r.vol(e) for e in expiries})
        reads.update({("settlement", e): r.settlement_price(e) for e in expiries})
        first = self.params == {}
        if first:
            reads.update({("rate_limit", g): r.rate_limit(g) for g in GOVERNED})
        v = r.read_named(reads)
        o = self.oracle
        o.spot, o.updated_at = v["spot"], v["updated_at"]
        o.heartbeat = v["oracle"].heartbeat
        o.max_spot_deviation = v["oracle"].max_spot_deviation
        o.max_vol_deviation = v["oracle"].max_vol_deviation
        state, supply = v["pool_state"], v["supply"]
        self.pool = {
            "nav": state.nav,
            "vega": state.vega,
            "gross": state.gross,
            "share_price": state.nav / supply if supply else 0.0,
            "insurance": v["insurance"],
            "fees": v["fees"],
        }
        self._live_ids = v["live"]
        unknown = [s for s in self._live_ids if s not in self.index.series]
        if unknown:
            self.index.load_series(r, unknown)
        self.params = {g: v[g] for g in ("margin", "liquidation", "limits", "pool")}
        o.vol_of = {e: v[("vol", e)] for e in expiries}
        o.settlement = {e: v[("settlement", e)] for e in expiries}
        if first:
            self._rate_limits = {g: v[("rate_limit", g)] for g in GOVERNED}
        net: dict[int, float] = {}
        for p in self.index.positions.values():
            for sid, q in p.items():
                net[sid] = net.get(sid, 0.0) - q
        self._pool_positions = net

    # --- metrics ---

    def _reporters(self) -> dict[str, Any]:
        def below_mm(m: OptionsMarketModel) -> int:
            accounts, equity, margin = m.engine_margins()
            return int(np.sum((margin.mm > 0) & (equity < margin.mm))) if len(accounts) else 0

        def utilisation(m: OptionsMarketModel) -> float:
            return m.pool["gross"] * m.oracle.spot / m.pool["nav"] if m.pool.get("nav") else 0.0

        return {
            "time": lambda m: m.now - m.start,
            "spot": lambda m: m.spot,
            "oracle_spot": lambda m: m.oracle.spot,
            "pool_iv": lambda m: m.oracle.vol_of.get(min(m.live_expiries() or [0]), float("nan")),
            "reference_iv": lambda m: float(m.path.reference_iv[m.step_index]),
            "pool_nav": lambda m: m.pool["nav"],
            "lp_share_price": lambda m: m.pool["share_price"],
            "insurance": lambda m: m.pool["insurance"],
            "fees": lambda m: m.pool["fees"],
            "pool_vega": lambda m: m.pool["vega"],
            "pool_open_interest": lambda m: sum(abs(q) for q in m._pool_positions.values()),
            "utilisation": utilisation,
            "accounts_below_mm": below_mm,
            "total_mm": lambda m: _book_total(m, "mm"),
            "total_im": lambda m: _book_total(m, "im"),
            "short_notional": lambda m: (
                m.oracle.spot
                * sum(-q for p in m.index.positions.values() for q in p.values() if q < 0)
            ),
            "liquidations": lambda m: m.tally.liquidations,
            "liquidated_mm": lambda m: m.tally.liquidated_mm_usd,
            "bad_debt": lambda m: m.tally.bad_debt_usd,
            "socialised": lambda m: m.tally.socialised_usd,
            "settlements": lambda m: m.tally.settlements,
            "trades": lambda m: m.tally.trades,
            "keeper_profit": lambda m: sum(lq.profit_usd for lq in m.liquidators),
            "txs": lambda m: m.tally.txs,
            "reverts": lambda m: m.tally.reverts,
            "gas": lambda m: m.tally.gas,
            "gas_gwei": lambda m: m.gas_gwei,
            "param_changes": lambda m: m.tally.param_changes,
            "proposals": lambda m: m.tally.proposals,
            "spot_shock": lambda m: m.params["margin"].spot_shock,
            "vol_shock_up": lambda m: m.params["margin"].vol_shock_up,
            "im_factor": lambda m: m.params["margin"].im_factor,
            "start_discount": lambda m: m.params["liquidation"].start_discount,
            "total_oi_cap": lambda m: m.params["limits"].total_oi_cap,
            # LPs and the hedging desk
            "lp_deposits": lambda m: m.tally.lp_deposits_usd,
            "lp_redemptions": lambda m: m.tally.lp_redemptions_usd,
            "lp_failed_redemptions": lambda m: m.tally.lp_failed_redemptions,
            "lp_count_in_pool": lambda m: sum(lp.in_pool for lp in m.lps),  # besides the anchor
            "pool_delta": lambda m: pool_delta(m),
            "hedge_position": lambda m: m.hedger.position if m.hedger else 0.0,
            "hedge_pnl": lambda m: m.hedger.pnl if m.hedger else 0.0,
            "hedge_slippage": lambda m: m.hedger.slippage if m.hedger else 0.0,
            "hedged_nav": lambda m: m.pool["nav"] + (m.hedger.pnl if m.hedger else 0.0),
            "put_hedger_pnl": lambda m: sum(h.pnl() for h in m.put_hedgers),
            # trades landed so far, by kind of trader
            **{
                f"{kind}_trades": (lambda m, kind=kind: sum(t.trades for t in getattr(m, kind)))
                for kind in ("writers", "noise", "directional", "vol_traders", "put_hedgers")
            },
        }


def _book_total(m: OptionsMarketModel, field: str) -> float:
    """Sum of every account's MM or IM (risk engine), USD: the capital the book ties up."""
    accounts, _equity, margin = m.engine_margins()
    return float(getattr(margin, field).sum()) if len(accounts) else 0.0
