"""Traders: leveraged option writers and noise traders.

Each agent owns one account on the market and queues its trades for the step's block; a
revert (not enough margin, a cap, an expired series) is counted, never fatal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import mesa

if TYPE_CHECKING:
    from sims.model import OptionsMarketModel

WAD = 10**18
USDC = 10**6
MAX_PRICE = 10**30


class Trader(mesa.Agent):
    """An account on the market with a chance to act each step."""

    model: OptionsMarketModel

    def __init__(
        self, model: OptionsMarketModel, account: str, capital_usdc: float, activity: float
    ):
        super().__init__(model)
        self.account = account
        self.capital_usdc = capital_usdc
        self.activity = activity  # probability of trading in a step
        self.trades = 0
        self.reverts = 0

    def trade(self, series_id: int, contracts: float) -> None:
        """Buy (contracts > 0) or sell at any price: the market's quote is the price."""
        size = int(round(contracts * 100)) * WAD // 100
        if size == 0:
            return
        limit = MAX_PRICE if size > 0 else 0
        self.model.send(self, "market", "trade", series_id, size, limit, label="trade")

    def on_outcome(self, outcome: Any) -> None:
        if outcome.ok:
            self.trades += 1
        else:
            self.reverts += 1


class OptionWriter(Trader):
    """Sells out-of-the-money options for premium while its margin usage is below a target.

    The accounts that end up liquidated when the market runs against them: the higher
    `max_usage` (IM / equity), the thinner the cushion when spot jumps.
    """

    def __init__(self, model, account: str, capital_usdc: float, activity: float, max_usage: float):
        super().__init__(model, account, capital_usdc, activity)
        self.max_usage = max_usage

    def step(self) -> None:
        if self.model.random.random() < self.activity and self.has_room():
            self.sell()

    def has_room(self) -> bool:
        equity, _mm, im = self.model.account_margin(self.account)
        return equity > 0 and im < self.max_usage * equity

    def sell(self) -> None:
        series = self.model.otm_series()
        held = self.model.index.positions.get(self.account.lower(), {})
        if len(held) >= 7:  # the market allows 8 positions: add to those already held
            series = [sid for sid in series if sid in held]
        if not series:
            return
        sid = self.model.random.choice(series)
        # a sale adds roughly spot_shock * spot of IM per contract: aim at a quarter of the room
        contracts = self.capital_usdc / (0.15 * self.model.spot) / 4
        self.trade(sid, -contracts * self.model.random.uniform(0.5, 1.0))


class NoiseTrader(Trader):
    """Buys (and sometimes sells back) options of any live series in small sizes."""

    def step(self) -> None:
        if self.model.random.random() >= self.activity:
            return
        series = self.model.tradeable_series()
        if not series:
            return
        book = self.model.index.positions.get(self.account.lower(), {})
        if len(book) >= 7:  # the market allows 8 positions
            series = [s for s in series if s in book] or series
        sid = self.model.random.choice(series)
        held = book.get(sid, 0.0)
        if held > 0 and self.model.random.random() < 0.3:
            self.trade(sid, -held)  # close
        else:
            self.trade(sid, self.model.random.randint(10, 200) / 100)
