"""Keepers: the oracle updater, the liquidator and the settler.

They read state and act through the same contracts as everyone else; each counts
what it did and what reverted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa

if TYPE_CHECKING:
    from sims.model import OptionsMarketModel

WAD = 10**18


class OracleUpdater(mesa.Agent):
    """Pushes the market's spot and ATM vol every step, unless it is down."""

    model: OptionsMarketModel

    def __init__(self, model: OptionsMarketModel, account):
        super().__init__(model)
        self.account = account
        self.updates = 0

    def step(self) -> None:
        self.update()

    def update(self) -> None:
        m = self.model
        m.chain_api.push_oracle(self.account, m.spot, m.vol)
        self.updates += 1


class Liquidator(mesa.Agent):
    """Liquidates every account below maintenance margin, in full, when it can.

    The liquidator needs its own margin: it is funded at the start of the run.
    """

    model: OptionsMarketModel

    def __init__(self, model: OptionsMarketModel, account, capital_usdc: float):
        super().__init__(model)
        self.account = account
        self.capital_usdc = capital_usdc
        self.liquidations = 0
        self.reverts = 0

    def step(self) -> None:
        for account in self.model.chain_api.liquidatable(self.model.trader_accounts()):
            self.liquidate(account)

    def liquidate(self, account) -> None:
        if self.model.chain_api.liquidate(self.account, account):
            self.liquidations += 1
        else:
            self.reverts += 1


class Settler(mesa.Agent):
    """After an expiry's price is fixed, settles every account's expired positions."""

    model: OptionsMarketModel

    def __init__(self, model: OptionsMarketModel, account):
        super().__init__(model)
        self.account = account
        self.settlements = 0

    def step(self) -> None:
        api = self.model.chain_api
        for holder, series_id in api.settleable(self.model.all_accounts()):
            if api.settle(self.account, holder, series_id):
                self.settlements += 1
