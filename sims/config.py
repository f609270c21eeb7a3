"""Settings of one simulation run, validated before anything starts.

Every field has an allowed range; errors name the field. `SimConfig.load` reads a YAML
file of settings (`optsim run --config`), rejecting unknown keys.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from risk.units import DAY, HOUR


class SimConfigError(ValueError):
    """A simulation setting outside its allowed range; the message names the field."""


@dataclass(frozen=True)
class SimConfig:
    """Settings of one run (validated: errors name the field and the allowed range)."""

    scenario: str = "crash"
    steps: int = 168  # one week of hourly blocks
    step_seconds: int = HOUR
    spot0: float = 2_000.0
    vol0: float = 0.7
    writers: int = 6
    noise_traders: int = 4
    liquidators: int = 2
    governance: bool = True
    governance_every_hours: int = 24
    history_hours: int = 24 * 30  # calm market before the run, the committee's first data
    # the asset's long past for the committee's long-lookback floor (a price file, relative
    # to the project; "" for none): real ETH daily closes 2017-2025 (data/market/SOURCES.md)
    long_history: str = "data/market/ETHUSDT_1h_binance_2017-2025_23h_bars.csv"
    # and of its implied vol (a vol index file such as Deribit's DVOL; "" for none)
    long_vol_history: str = "data/market/ETH_DVOL_daily_deribit_2021-2022.csv"
    writer_capital: float = 20_000.0  # USDC each
    trader_capital: float = 20_000.0
    liquidator_capital: float = 2_000_000.0
    pool_capital: float = 2_000_000.0
    writer_max_usage: float = 0.9  # writers sell while IM < this share of their equity
    activity: float = 0.25  # probability a trader acts in a step
    strikes_pct: tuple[float, ...] = (0.8, 0.9, 1.0, 1.1, 1.2)
    list_tenors_days: tuple[float, ...] = (3.0, 10.0)  # expiries kept listed
    oracle_tip_gwei: float = 1_000.0  # the updater's priority fee: first in every block
    liquidation_gas: float = 1_800_000.0  # what a keeper expects a liquidation to cost
    liquidator_bid_share: tuple[float, ...] = (0.5, 0.2)  # per liquidator, cycled
    max_liquidations_per_keeper: int = 10
    max_settlements_per_step: int = 40
    directional: int = 2  # traders with a signal on spot's direction
    signal_quality: float = 0.6  # probability their signal has the right sign
    signal_horizon: int = 6  # steps the signal looks ahead (and a bet is held)
    vol_traders: int = 2  # trade straddles when the pool's IV is away from their forecast
    vol_threshold: float = 0.05  # the gap (vol points, 0.05 = 5) they trade on
    vol_forecast_noise: float = 0.05  # std of their forecast's error, vol points
    put_hedgers: int = 2  # hold spot off-chain and insure it with puts
    hedger_spot_usd: float = 100_000.0  # each put hedger's spot holding
    lps: int = 3  # LPs besides the anchor LP (pool_capital), who come and go
    lp_capital: float = 250_000.0  # USDC each
    lp_run_fear: float = 0.6  # lp_stress at which LPs run (each LP's own: +-0.15 around it)
    lp_hurdle: float = 0.0  # annualised trailing yield below which LPs leave
    lp_max_drawdown: float = 0.05  # share price fall from the peak at which LPs leave
    pool_hedger: bool = True  # the LPs' off-chain delta-hedging desk
    hedge_band: float = 0.02  # unhedged delta allowed, share of pool NAV
    hedge_depth_usd: float = 5_000_000.0  # the venue's depth in normal times
    hedge_impact: float = 0.1  # slippage per unit of notional / available depth
    hedge_base_slippage: float = 0.0005  # slippage of a small trade, fraction of notional

    RANGES = {
        "steps": (1, 100_000),
        "step_seconds": (60, DAY),
        "spot0": (1.0, 1e7),
        "vol0": (0.05, 3.0),
        "writers": (0, 2_000),
        "noise_traders": (0, 2_000),
        "liquidators": (0, 20),
        "governance_every_hours": (1, 24 * 30),
        "history_hours": (0, 24 * 365),
        "writer_capital": (100.0, 1e9),
        "trader_capital": (100.0, 1e9),
        "liquidator_capital": (1_000.0, 1e12),
        "pool_capital": (1_000.0, 1e12),
        "writer_max_usage": (0.01, 1.0),
        "activity": (0.0, 1.0),
        "oracle_tip_gwei": (0.0, 1e6),
        "liquidation_gas": (0.0, 3e7),
        "max_liquidations_per_keeper": (1, 1_000),
        "max_settlements_per_step": (1, 1_000),
        "directional": (0, 2_000),
        "signal_quality": (0.5, 1.0),
        "signal_horizon": (1, 10_000),
        "vol_traders": (0, 2_000),
        "vol_threshold": (0.0, 1.0),
        "vol_forecast_noise": (0.0, 1.0),
        "put_hedgers": (0, 2_000),
        "hedger_spot_usd": (100.0, 1e9),
        "lps": (0, 2_000),
        "lp_capital": (100.0, 1e12),
        "lp_run_fear": (0.0, 1.0),
        "lp_hurdle": (-10.0, 10.0),
        "lp_max_drawdown": (0.0, 1.0),
        "hedge_band": (0.0, 1.0),
        "hedge_depth_usd": (1_000.0, 1e13),
        "hedge_impact": (0.0, 100.0),
        "hedge_base_slippage": (0.0, 0.1),
    }

    def validate(self) -> None:
        for name, (lo, hi) in self.RANGES.items():
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not lo <= value <= hi
            ):
                raise SimConfigError(f"{name} = {value!r} outside allowed range [{lo}, {hi}]")
        for name in (
            "writers",
            "noise_traders",
            "liquidators",
            "directional",
            "vol_traders",
            "put_hedgers",
            "lps",
            "signal_horizon",
        ):
            if not isinstance(getattr(self, name), int):
                raise SimConfigError(f"{name} = {getattr(self, name)!r}: expected an integer")
        for name, what in (("long_history", "a price file"), ("long_vol_history", "a vol index")):
            if not isinstance(getattr(self, name), str):
                raise SimConfigError(
                    f'{name} = {getattr(self, name)!r}: expected {what} path or ""'
                )
        for name in ("governance", "pool_hedger"):
            if not isinstance(getattr(self, name), bool):
                raise SimConfigError(f"{name} = {getattr(self, name)!r}: expected true or false")
        if not self.strikes_pct or not all(0.2 <= k <= 5 for k in self.strikes_pct):
            raise SimConfigError(
                f"strikes_pct = {self.strikes_pct} outside allowed range: 1-16 values in [0.2, 5]"
            )
        if len(self.strikes_pct) > 16:
            raise SimConfigError(
                f"strikes_pct: {len(self.strikes_pct)} values, at most 16 (32 live series)"
            )
        if not self.list_tenors_days or not all(0.1 <= d <= 365 for d in self.list_tenors_days):
            raise SimConfigError(
                f"list_tenors_days = {self.list_tenors_days} outside allowed range [0.1, 365]"
            )
        if (len(self.list_tenors_days) + 1) * 2 * len(self.strikes_pct) > 32:
            raise SimConfigError(
                f"list_tenors_days and strikes_pct: (tenors + 1) x strikes x 2 = "
                f"{(len(self.list_tenors_days) + 1) * 2 * len(self.strikes_pct)} outside allowed "
                "range [2, 32] (the market's live series, with one expiry rolling over)"
            )
        if not self.liquidator_bid_share or not all(0 <= s <= 1 for s in self.liquidator_bid_share):
            raise SimConfigError(
                f"liquidator_bid_share = {self.liquidator_bid_share} outside allowed range [0, 1]"
            )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SimConfig:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise SimConfigError(f"unknown setting(s) {unknown}; allowed: {sorted(names)}")
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in data.items()
        }
        cfg = cls(**values)
        cfg.validate()
        return cfg

    @classmethod
    def load(cls, path: str | Path, **overrides: Any) -> SimConfig:
        path = Path(path)
        if not path.is_file():
            raise SimConfigError(f"--config: no such file {path}")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise SimConfigError(f"--config: {path} is not valid YAML ({exc})") from None
        if not isinstance(data, dict):
            raise SimConfigError(f"--config: {path} is not a mapping of settings")
        return cls.from_dict({**data, **{k: v for k, v in overrides.items() if v is not None}})

    def n_accounts(self) -> int:
        """Keys the run needs besides the deployer: the anchor LP, settler, liquidators,
        traders, LPs (the hedging desk has no account)."""
        traders = self.writers + self.noise_traders + self.directional + self.vol_traders
        return 2 + self.liquidators + traders + self.put_hedgers + self.lps
