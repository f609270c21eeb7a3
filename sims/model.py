"""The options market as a Mesa model run against the deployed contracts.

One step is one block of simulated time (an hour by default). `step()` reads as the
order of events in that block: time moves and the market moves, the oracle updater
reports it, traders trade, the liquidator and the settler act, metrics are collected.

First increment of the simulation issue: agents act through ape one transaction at a
time. Batched sending, the governance agent, LPs, hedgers and the scenario library
come next.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import mesa
import numpy as np

from agents.keepers import Liquidator, OracleUpdater, Settler
from agents.traders import OptionBuyer, OptionWriter
from sims.chain_api import ChainApi

DAY = 86_400
HOUR = 3_600


class SimConfigError(ValueError):
    """A simulation setting outside its allowed range; the message names the field."""


@dataclass(frozen=True)
class SimConfig:
    """Settings of one run (validated: errors name the field and the allowed range)."""

    steps: int = 168  # one week of hourly blocks
    step_seconds: int = HOUR
    writers: int = 4
    buyers: int = 3
    writer_capital: float = 20_000.0  # USDC each
    buyer_capital: float = 20_000.0
    pool_capital: float = 2_000_000.0
    spot0: float = 2_000.0
    vol: float = 0.7  # annualised vol of the price path and the oracle's ATM vol
    crash_step: int = 96  # step at which the crash starts (-1: no crash)
    crash_size: float = 0.35  # total fall of the crash
    crash_steps: int = 6  # hours it takes
    writer_max_usage: float = 0.9  # writers sell while IM < this share of their equity
    activity: float = 0.25  # probability a trader acts in a step

    def validate(self) -> None:
        checks = [
            ("steps", 1 <= self.steps <= 100_000, "[1, 100000]"),
            ("step_seconds", 60 <= self.step_seconds <= DAY, "[60, 86400]"),
            ("writers", 0 <= self.writers <= 20, "[0, 20]"),
            ("buyers", 0 <= self.buyers <= 20, "[0, 20]"),
            ("spot0", 1 <= self.spot0 <= 1e7, "[1, 1e7]"),
            ("vol", 0.05 <= self.vol <= 3, "[0.05, 3]"),
            ("crash_size", 0 <= self.crash_size < 0.9, "[0, 0.9)"),
            ("crash_steps", 1 <= self.crash_steps <= 1_000, "[1, 1000]"),
            ("activity", 0 <= self.activity <= 1, "[0, 1]"),
            ("writer_max_usage", 0 < self.writer_max_usage <= 1, "(0, 1]"),
            ("pool_capital", 1_000 <= self.pool_capital <= 1e12, "[1000, 1e12]"),
        ]
        for name, ok, allowed in checks:
            if not ok:
                raise SimConfigError(
                    f"{name} = {getattr(self, name)} outside allowed range {allowed}"
                )


class OptionsMarketModel(mesa.Model):
    """Traders and keepers on a deployed options protocol, one block per step."""

    def __init__(self, api: ChainApi, accounts: list[Any], cfg: SimConfig, seed: int | None = None):
        super().__init__(rng=seed)
        cfg.validate()
        needed = 3 + cfg.writers + cfg.buyers
        if len(accounts) < needed:
            raise SimConfigError(f"accounts: {len(accounts)} given, {needed} needed")
        self.cfg = cfg
        self.chain_api = api
        self.admin = accounts[0]
        self.spot = cfg.spot0
        self.vol = cfg.vol
        self.path = self._price_path()
        self.start = api.next_ts
        self.series_ids: list[int] = []
        self._series_cache: dict[int, tuple[float, int, bool]] = {}
        self.now = self.start

        self.updater = OracleUpdater(self, accounts[0])
        self.liquidator = Liquidator(self, accounts[1], capital_usdc=5_000_000)
        self.settler = Settler(self, accounts[2])
        self.writers = [
            OptionWriter(self, a, cfg.writer_capital, cfg.activity, cfg.writer_max_usage)
            for a in accounts[3 : 3 + cfg.writers]
        ]
        self.buyers = [
            OptionBuyer(self, a, cfg.buyer_capital, cfg.activity)
            for a in accounts[3 + cfg.writers : needed]
        ]
        self._open_market()

        self.datacollector = mesa.DataCollector(
            model_reporters={
                "time": lambda m: m.now - m.start,
                "spot": lambda m: m.spot,
                **{
                    k: (lambda m, k=k: m.state[k])
                    for k in (
                        "pool_nav",
                        "lp_share_price",
                        "insurance",
                        "fees",
                        "pool_open_interest",
                        "pool_vega",
                    )
                },
                "accounts_below_mm": lambda m: m.below_mm,
                "liquidations": lambda m: m.last.liquidations,
                "liquidated_mm": lambda m: m.last.liquidated_mm_usd,
                "bad_debt": lambda m: m.last.bad_debt_usd,
                "socialised": lambda m: m.last.socialised_usd,
                "settlements": lambda m: m.last.settlements,
                "txs": lambda m: m.last.txs,
                "reverts": lambda m: m.last.reverts,
                "gas": lambda m: m.last.gas,
            }
        )
        self.last = api.new_step()
        self.state = api.snapshot(self.series_ids)
        self.below_mm = 0
        self.datacollector.collect(self)

    # --- set-up ---

    def _price_path(self) -> np.ndarray:
        """GBM at the configured vol, with a crash of `crash_size` over `crash_steps`."""
        c = self.cfg
        dt = c.step_seconds / (365 * DAY)
        shocks = self.rng.standard_normal(c.steps)
        log_ret = -0.5 * c.vol**2 * dt + c.vol * math.sqrt(dt) * shocks
        if 0 <= c.crash_step < c.steps:
            end = min(c.crash_step + c.crash_steps, c.steps)
            log_ret[c.crash_step : end] += math.log(1 - c.crash_size) / (end - c.crash_step)
        return c.spot0 * np.exp(np.cumsum(log_ret))

    def _open_market(self) -> None:
        """Series around the money for 3- and 10-day expiries, funded accounts and pool."""
        api, c = self.chain_api, self.cfg
        for days in (3, 10):
            expiry = self.start + days * DAY
            for k in (0.8, 0.9, 1.0, 1.1, 1.2):
                for is_call in (True, False):
                    self.series_ids.append(
                        api.create_series(self.admin, c.spot0 * k, expiry, is_call)
                    )
        api.push_oracle(self.admin, self.spot, self.vol)
        api.fund_pool(self.admin, c.pool_capital)
        api.fund(self.liquidator.account, self.liquidator.capital_usdc)
        for t in (*self.writers, *self.buyers):
            t.fund()

    # --- views the agents use ---

    def live_tradeable_series(self) -> list[int]:
        return [s for s in self.series_ids if self.expiry(s) > self.now + HOUR]

    def otm_series(self) -> list[int]:
        out = []
        for s in self.live_tradeable_series():
            strike, _, is_call = self.series_info(s)
            if (is_call and strike > self.spot * 1.02) or (
                not is_call and strike < self.spot * 0.98
            ):
                out.append(s)
        return out

    def series_info(self, sid: int) -> tuple[float, int, bool]:
        if sid not in self._series_cache:
            s = self.chain_api.d.market.series(sid)
            self._series_cache[sid] = (s.strike / 1e18, s.expiry, s.is_call)
        return self._series_cache[sid]

    def expiry(self, sid: int) -> int:
        return self.series_info(sid)[1]

    def trader_accounts(self) -> list[Any]:
        return [t.account for t in (*self.writers, *self.buyers)]

    def all_accounts(self) -> list[Any]:
        return [*self.trader_accounts(), self.liquidator.account]

    # --- one block ---

    def step(self) -> None:
        api = self.chain_api
        self.now = self.start + self.steps * self.cfg.step_seconds
        api.begin_block(self.now)
        self.spot = float(self.path[self.steps - 1])
        self.updater.update()
        traders = [*self.writers, *self.buyers]
        self.random.shuffle(traders)
        for t in traders:
            t.step()
        self.below_mm = len(api.liquidatable(self.trader_accounts()))
        self.liquidator.step()
        self.settler.step()
        self.last = api.new_step()
        self.state = api.snapshot(self.series_ids)
        self.datacollector.collect(self)
