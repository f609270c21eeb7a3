"""Traders: option writers who sell on margin and buyers who pay premium.

Each agent owns one account on the chain and acts through the protocol's contracts;
a revert (not enough margin, a cap, an expired series) is counted, never fatal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa

if TYPE_CHECKING:
    from sims.model import OptionsMarketModel

WAD = 10**18
USDC = 10**6
MAX_PRICE = 10**30


class Trader(mesa.Agent):
    """An account on the market with a daily chance to act."""

    model: OptionsMarketModel

    def __init__(self, model: OptionsMarketModel, account, capital_usdc: float, activity: float):
        super().__init__(model)
        self.account = account
        self.capital_usdc = capital_usdc
        self.activity = activity  # probability of trading in a step
        self.trades = 0
        self.reverts = 0

    def fund(self) -> None:
        """Mint collateral (local chains only) and deposit it into the margin account."""
        self.model.chain_api.fund(self.account, self.capital_usdc)

    def _trade(self, series_id: int, size: int) -> None:
        limit = MAX_PRICE if size > 0 else 0
        if self.model.chain_api.trade(self.account, series_id, size, limit):
            self.trades += 1
        else:
            self.reverts += 1


class OptionWriter(Trader):
    """Sells out-of-the-money options for premium while its margin usage is below a target.

    The accounts that end up liquidated when the market runs against them: the higher
    `max_usage` (IM / equity), the thinner the cushion when spot jumps.
    """

    def __init__(self, model, account, capital_usdc: float, activity: float, max_usage: float):
        super().__init__(model, account, capital_usdc, activity)
        self.max_usage = max_usage

    def step(self) -> None:
        if self.model.random.random() < self.activity and self.has_room():
            self.sell()

    def has_room(self) -> bool:
        equity, _mm, im = self.model.chain_api.margin(self.account)
        return equity > 0 and im < self.max_usage * equity

    def sell(self) -> None:
        series = self.model.otm_series()
        if not series:
            return
        sid = self.model.random.choice(series)
        # a sale adds roughly spot_shock * spot of IM per contract: aim at a quarter of the room
        contracts = self.capital_usdc / (0.15 * self.model.spot) / 4
        size = max(int(contracts * self.model.random.uniform(0.5, 1.0) * 100), 1) * WAD // 100
        self._trade(sid, -size)


class OptionBuyer(Trader):
    """Buys options of any live series in small sizes: the pool's premium income."""

    def step(self) -> None:
        if self.model.random.random() < self.activity:
            self.buy()

    def buy(self) -> None:
        series = self.model.live_tradeable_series()
        if not series:
            return
        sid = self.model.random.choice(series)
        size = self.model.random.randint(10, 200) * WAD // 100
        self._trade(sid, size)
