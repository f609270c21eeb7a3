"""Keepers: the oracle updater, liquidators, the settler and the series lister.

Each reads the model's view of the chain (the account index and the oracle as of the
last block), decides with agents.decisions (the rules the live bots use too) and queues
its transactions for this step's block. Liquidators compete: they bid a share of their
expected profit as priority fee, and the block orders them by it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import mesa

from agents import decisions
from risk.params import allowed_spot_deviation
from risk.units import DAY, HOUR, WAD

if TYPE_CHECKING:
    from agents.view import MarketView


class Keeper(mesa.Agent):
    """An account that sends transactions and counts what became of them."""

    model: MarketView

    def __init__(self, model: MarketView, account: str):
        super().__init__(model)
        self.account = account
        self.sent = 0
        self.done = 0
        self.reverts = 0
        self.gas_spent_usd = 0.0

    def on_outcome(self, outcome: Any) -> None:
        self.gas_spent_usd += self.model.gas_cost_usd(outcome)
        if outcome.ok:
            self.done += 1
        else:
            self.reverts += 1


class OracleUpdater(Keeper):
    """Pushes spot and ATM vols on the heartbeat or when spot moves past the deviation
    threshold; stops while the scenario's oracle is down and lags by `lag_steps`."""

    def __init__(
        self, model: MarketView, account: str, deviation: float = 0.005, lag_steps: int = 0
    ):
        super().__init__(model, account)
        self.deviation = deviation
        self.lag_steps = lag_steps

    def step(self) -> None:
        m = self.model
        k = max(0, m.step_index - self.lag_steps)
        if not m.path.oracle_live[k]:
            return
        spot, last = float(m.path.spot[k]), m.oracle.spot
        heartbeat = m.oracle.heartbeat
        if not decisions.oracle_update_due(
            m.now, m.oracle.updated_at, last, spot, heartbeat, self.deviation
        ):
            return
        allowed = allowed_spot_deviation(
            m.oracle.max_spot_deviation, heartbeat, m.now - m.oracle.updated_at
        )
        price = decisions.clamp_to_deviation(spot, last, 0.99 * allowed)
        expiries = m.live_expiries()
        iv = float(m.path.reference_iv[k])
        vols = [
            int(
                decisions.clamp_to_deviation(
                    iv, m.oracle.vol_of.get(e, iv), 0.99 * m.oracle.max_vol_deviation
                )
                * WAD
            )
            for e in expiries
        ]
        # first in the block: everyone else acts on the new price
        m.send(
            self, "oracle", "push", int(price * WAD), expiries, vols, tip_gwei=m.cfg.oracle_tip_gwei
        )
        self.sent += 1


class Liquidator(Keeper):
    """Finds accounts below MM with the risk engine at the price the oracle is about to
    show, and liquidates those whose reward beats gas (and slippage) now."""

    def __init__(self, model: MarketView, account: str, capital_usdc: float, bid_share: float):
        super().__init__(model, account)
        self.capital_usdc = capital_usdc
        self.bid_share = bid_share  # share of the expected profit bid as priority fee
        self.profit_usd = 0.0

    def step(self) -> None:
        self.unwind()
        self.liquidate()

    @property
    def unwind_tip(self) -> float:
        """No priority: an unwind is not a race (bidding to land it first would cost more
        than it saves, as tips are paid); it frees position slots for the next block."""
        return 0.0

    def unwind(self) -> None:
        """Sell back to the pool what earlier liquidations handed over (an account holds at
        most 8 positions, and the keeper's capital is for liquidating, not for carrying risk).
        They land after this block's liquidations, which therefore count every slot held."""
        m = self.model
        held = m.index.raw_positions.get(self.account.lower(), {})
        for sid, q in decisions.unwind_orders(held, set(m.tradeable_series())):
            limit = decisions.market_limit(q)
            m.send(self, "market", "trade", sid, q, limit, tip_gwei=self.unwind_tip, label="trade")

    def liquidate(self) -> None:
        m = self.model
        accounts, equity, margin = m.engine_margins()
        if not len(accounts):
            return
        p = m.params
        gas_usd_price = m.spot
        # this block's unwinds land after its liquidations: every slot held now counts
        slots = set(m.index.positions.get(self.account.lower(), {}))
        for i in decisions.liquidation_candidates(equity, margin.mm)[
            : m.cfg.max_liquidations_per_keeper
        ]:
            account = accounts[i]
            if account == self.account.lower():
                continue
            taken = decisions.slots_after_taking(slots, m.index.positions.get(account, {}))
            if taken is None:  # the liquidation would revert: too many positions
                continue
            d = m.discount_now(account)
            profit = decisions.liquidation_profit(
                float(equity[i]),
                float(margin.mm[i]),
                d,
                p["margin"].im_factor,
                p["liquidation"].target_buffer,
                m.cfg.liquidation_gas,
                m.gas_gwei,
                gas_usd_price,
            )
            if profit <= 0:
                continue
            cap = max(0.0, m.cfg.oracle_tip_gwei - 1.0)  # the oracle update stays first
            tip = decisions.bid_tip_gwei(
                profit, m.cfg.liquidation_gas, gas_usd_price, self.bid_share, cap
            )
            m.send(self, "market", "liquidate", account, WAD, tip_gwei=tip, label="liquidate")
            slots = taken
            self.sent += 1

    def on_outcome(self, outcome: Any) -> None:
        super().on_outcome(outcome)
        for ev in outcome.events:
            if ev.name == "Liquidation":
                a = ev.args
                self.profit_usd += decisions.liquidation_reward(
                    a["equity"] / WAD, a["mm"] / WAD, a["discount"] / WAD, a["fraction"] / WAD
                )
        self.profit_usd -= self.model.gas_cost_usd(outcome)


class Settler(Keeper):
    """After an expiry's price is fixed, settles every position in it, then retires the
    series once nobody holds it."""

    def step(self) -> None:
        m = self.model
        idx = m.index
        expiry_of = {sid: s.expiry for sid, s in idx.series.items()}
        pairs = decisions.settle_candidates(idx.positions, expiry_of, m.oracle.settlement, m.now)
        for account, sid in pairs[: m.cfg.max_settlements_per_step]:
            m.send(self, "market", "settle", account, sid, label="settle")
            self.sent += 1
        for sid in m.retirable_series():  # held series never qualify: no race with settling
            m.send(self, "market", "retire_series", sid, label="retire")


class SeriesLister(Keeper):
    """Keeps one expiry listed per tenor in `list_tenors_days` (strikes around spot, calls
    and puts): when fewer expiries than tenors are left more than a day ahead, it lists
    the longest tenor again (all of them at the start)."""

    def step(self) -> None:
        m = self.model
        tenors = sorted(m.cfg.list_tenors_days)
        ahead = {s.expiry for s in m.index.series.values() if s.expiry > m.now + DAY}
        if len(ahead) >= len(tenors):
            return
        todo = tenors if not ahead else tenors[-1:]
        per_expiry = 2 * len(m.cfg.strikes_pct)
        for days in todo:
            if m.live_series_count() + per_expiry * (1 + todo.index(days)) > 32:
                return
            expiry = m.now + int(days * DAY)
            expiry -= expiry % HOUR
            for pct in m.cfg.strikes_pct:
                strike = int(round(m.spot * pct)) * WAD
                for is_call in (True, False):
                    m.send(
                        self,
                        "market",
                        "create_series",
                        strike,
                        expiry,
                        is_call,
                        label="create_series",
                    )
                    self.sent += 1
