"""Liquidity providers: deposit into the pool and redeem by yield, drawdown and fear.

An LP holds pool shares (LiquidityPool.deposit / redeem) and a wallet of collateral. Each
step it looks at the share price and the market's mood (path.lp_stress, 0 calm .. 1 panic)
and takes one decision:

- in the pool: run (redeem everything) when fear passes its own threshold; leave when the
  share price has fallen more than `max_drawdown` from its peak since entry, or when the
  trailing yield over `lookback` steps is below the hurdle;
- out of the pool: come back with the whole wallet once fear is below `calm_fear`, at
  least `cooldown` steps after leaving, and the trailing yield is not below the hurdle.

A redemption that would take the pool below its IM reverts ("market: below initial
margin"): the run is served first come, first served, and those left behind retry next
step; `failed_redemptions` counts them. While the pool's NAV is not positive, deposits and
redemptions both revert ("pool: NAV not positive": a share has no price). Shares and
wallet are kept from the pool's ERC4626 Deposit and Withdraw events (the market emits
events of the same names: told apart by the emitting contract's address).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import mesa

from risk.units import USDC, YEAR_SEC

if TYPE_CHECKING:
    from agents.view import MarketView


class LiquidityProvider(mesa.Agent):
    """One LP account: capital in a wallet, shares in the pool, and the rules above."""

    model: MarketView

    def __init__(
        self,
        model: MarketView,
        account: str,
        capital_usdc: float,
        run_fear: float = 0.6,
        calm_fear: float = 0.2,
        hurdle: float = 0.0,
        max_drawdown: float = 0.05,
        lookback: int = 72,
        cooldown: int = 12,
    ):
        super().__init__(model)
        self.account = account
        self.capital_usdc = capital_usdc
        self.wallet = capital_usdc  # USD of collateral outside the pool
        self.shares = 0  # pool shares, 1e18
        self.run_fear = run_fear
        self.calm_fear = calm_fear
        self.hurdle = hurdle  # annualised trailing yield it wants (0.05 = 5%)
        self.max_drawdown = max_drawdown
        self.lookback = lookback  # steps
        self.cooldown = cooldown  # steps
        self.prices: list[float] = []  # share price seen each step
        self.peak = 0.0  # highest share price since entry
        self.left_at = -math.inf  # step of the last exit
        self.deposits = 0
        self.redemptions = 0
        self.failed_redemptions = 0
        self.runs = 0  # redemptions sent in fear

    @property
    def in_pool(self) -> bool:
        return self.shares > 0

    def step(self) -> None:
        self.observe()
        if self.in_pool:
            if self.afraid():
                self.runs += 1
                self.redeem()
            elif self.drawdown_breached() or self.yield_below_hurdle():
                self.redeem()
        elif (
            self.wallet >= 1.0
            and self.calm()
            and self.cooled_down()
            and not self.yield_below_hurdle()
        ):
            self.deposit()

    def observe(self) -> None:
        price = self.model.pool.get("share_price", 0.0)
        self.prices.append(price)
        if self.in_pool:
            self.peak = max(self.peak, price)

    def fear(self) -> float:
        return float(self.model.path.lp_stress[self.model.step_index])

    def afraid(self) -> bool:
        """Panic: everyone expects everyone else to leave, and the last out bears the losses."""
        return self.fear() >= self.run_fear

    def calm(self) -> bool:
        return self.fear() < self.calm_fear

    def cooled_down(self) -> bool:
        """Burnt LPs don't come straight back."""
        return self.model.step_index - self.left_at >= self.cooldown

    def drawdown(self) -> float:
        """The share price's fall from its peak since entry (0.05 = 5% down)."""
        if not self.prices or self.peak <= 0:
            return 0.0
        return max(0.0, 1.0 - self.prices[-1] / self.peak)

    def drawdown_breached(self) -> bool:
        """A stop loss: the pool lost more than it was worth to this LP."""
        return self.drawdown() > self.max_drawdown

    def trailing_yield(self) -> float | None:
        """The share price's annualised return over the last `lookback` steps, None until
        there is that much history."""
        if len(self.prices) <= self.lookback or self.prices[-1 - self.lookback] <= 0:
            return None
        growth = self.prices[-1] / self.prices[-1 - self.lookback] - 1.0
        return growth * YEAR_SEC / (self.lookback * self.model.cfg.step_seconds)

    def yield_below_hurdle(self) -> bool:
        """Capital goes where it earns more: below the hurdle the pool is not worth its risk."""
        y = self.trailing_yield()
        return y is not None and y < self.hurdle

    def deposit(self) -> None:
        amount = int(self.wallet * USDC)
        if amount > 0:
            self.model.send(self, "pool", "deposit", amount, label="pool_deposit")

    def redeem(self) -> None:
        self.model.send(self, "pool", "redeem", self.shares, label="redeem")

    def on_outcome(self, outcome: Any) -> None:
        pool = self.model.addresses["pool"].lower()
        for ev in outcome.events:
            if str(ev.address).lower() != pool:
                continue
            if ev.name == "Deposit":
                self.shares += int(ev.args["shares"])
                self.wallet -= ev.args["assets"] / USDC
                self.deposits += 1
                self.peak = self.model.pool.get("share_price", 0.0)
            elif ev.name == "Withdraw":
                self.shares -= int(ev.args["shares"])
                self.wallet += ev.args["assets"] / USDC
                self.redemptions += 1
                self.left_at = self.model.step_index
                self.peak = 0.0
        if outcome.request.label == "redeem" and not outcome.ok:
            self.failed_redemptions += 1
