"""What an agent sees of the world: the market as of the last block, and the outside market.

Agents never import the simulation (sims/): the model hands itself to them as a
`MarketView`, and they read and act only through what is declared here. A test can pass
any object with these members; the simulation's OptionsMarketModel is the one that runs.

Reads are as of the last mined block (the account index, the oracle, the pool and the
parameters in force); `send` queues a transaction for the block being built.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from random import Random
from typing import Any, Protocol

import numpy as np

from onchain.accounts import AccountIndex
from risk.book import Book
from risk.params import ParamGroup, RateLimit
from risk.units import HOUR


@dataclass
class OracleView:
    """The on-chain oracle as of the last block (USD, vols 0.6 = 60%, unix seconds)."""

    spot: float = 0.0
    updated_at: int = 0
    vol_of: dict[int, float] = field(default_factory=dict)  # expiry -> vol
    settlement: dict[int, float] = field(default_factory=dict)  # expiry -> price (0 = not yet)
    heartbeat: int = HOUR
    max_spot_deviation: float = 0.25
    max_vol_deviation: float = 1.0


class OutsideMarket(Protocol):
    """The scenario's market off the chain, one entry per step."""

    spot: np.ndarray  # the venue's price, USD
    reference_iv: np.ndarray  # the outside market's ATM implied vol
    oracle_live: np.ndarray  # False while the oracle's source is down
    lp_stress: np.ndarray  # LPs' fear, 0 calm .. 1 panic
    liquidity: np.ndarray  # the hedging venue's depth, 1 = normal


class Settings(Protocol):
    """The run's settings agents act on (sims.config.SimConfig has them all)."""

    step_seconds: int
    oracle_tip_gwei: float
    liquidation_gas: float
    max_liquidations_per_keeper: int
    max_settlements_per_step: int
    list_tenors_days: Sequence[float]
    strikes_pct: Sequence[float]


class MarketView(Protocol):
    """The world as one agent sees it in one block."""

    # --- the clock and the outside market ---
    now: int  # this block's timestamp
    step_index: int
    spot: float  # the venue's price in this block
    gas_gwei: float  # the scenario's gas price
    path: OutsideMarket
    cfg: Settings
    random: Random  # all of an agent's randomness

    # --- the chain as of the last block ---
    index: AccountIndex  # accounts' cash and positions, the listed series
    oracle: OracleView
    pool: dict[str, float]  # nav, vega, gross, share_price, insurance, fees
    params: dict[str, Any]  # in force: MarginParams, LiquidationParams, Limits, PoolParams by group
    addresses: Mapping[str, str]  # the protocol's contracts by name

    @property
    def pool_nav(self) -> float: ...

    # --- acting ---
    def send(
        self,
        agent: Any,
        contract: str,
        method: str,
        *args: Any,
        tip_gwei: float = 0.0,
        label: str | None = None,
    ) -> None:
        """Queue a transaction from the agent's account for this block."""

    def gas_cost_usd(self, outcome: Any) -> float: ...

    # --- series ---
    def tradeable_series(self) -> list[int]: ...
    def otm_series(self) -> list[int]: ...
    def live_expiries(self) -> list[int]: ...
    def live_series_count(self) -> int: ...
    def retirable_series(self) -> list[int]: ...
    def pool_positions(self) -> dict[int, float]: ...

    # --- margins by the risk engine, at the price the oracle shows after this block ---
    def engine_margins(self) -> tuple[list[str], np.ndarray, Any]: ...
    def account_margin(self, account: str) -> tuple[float, float, float]: ...
    def discount_now(self, account: str) -> float: ...

    # --- information ---
    def signal(self, horizon: int, quality: float, rng: Any) -> int: ...

    # --- what the risk committee reads ---
    def price_history(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
    def book(self) -> Book: ...
    def params_in_force(self) -> dict[str, ParamGroup]: ...
    def rate_limits(self) -> dict[str, RateLimit]: ...
    def last_updates(self) -> dict[tuple[str, int], int]: ...
