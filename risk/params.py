"""Risk parameters, mirroring the on-chain structs one to one.

Each class holds one parameter group in human units (fractions, seconds, counts) and
converts to and from the integer tuples the contracts take. The bounds are the
contracts' hard bounds (RiskConfig.vy, Oracle.vy); `validate` raises a `ParamError`
that names the field and its allowed range, so bad values never reach the chain.

Scales on-chain: ratios and vols 1e18 = 100%, sizes 1e18 = 1 contract, times in seconds.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from risk.units import DAY, HOUR, WAD


class ParamError(ValueError):
    """A parameter outside its bounds or of the wrong type; the message names the field."""


@dataclass(frozen=True)
class Field:
    """How one struct field is scaled on-chain and its hard bounds (in chain units)."""

    name: str
    scale: int  # chain value = round(human value * scale)
    lo: int
    hi: int

    def to_chain(self, value: float) -> int:
        return int((Decimal(str(value)) * self.scale).to_integral_value())

    def to_human(self, raw: int) -> float | int:
        return raw if self.scale == 1 else raw / self.scale

    def describe_range(self) -> str:
        return f"[{self.to_human(self.lo)}, {self.to_human(self.hi)}]"


class ParamGroup:
    """Base of the parameter groups: conversion, validation and loading from dicts."""

    FIELDS: ClassVar[tuple[Field, ...]]
    GROUP_ID: ClassVar[int]
    NAME: ClassVar[str]

    def validate(self) -> None:
        """Raise ParamError naming the first field outside its bounds."""
        for f in self.FIELDS:
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ParamError(f"{self.NAME}.{f.name}: expected a number, got {value!r}")
            raw = f.to_chain(value)
            if not f.lo <= raw <= f.hi:
                raise ParamError(
                    f"{self.NAME}.{f.name} = {value} outside allowed range {f.describe_range()}"
                )
        self.check_relations()

    def check_relations(self) -> None:
        """Cross-field rules the contracts enforce (overridden where there are any)."""

    def to_chain(self) -> tuple[int, ...]:
        """The struct as the contract takes it (validated first)."""
        self.validate()
        return tuple(f.to_chain(getattr(self, f.name)) for f in self.FIELDS)

    @classmethod
    def from_chain(cls, raw: Any) -> Any:
        """Build from a struct read from the chain (a tuple or an object with attributes)."""
        values = []
        for i, f in enumerate(cls.FIELDS):
            v = getattr(raw, f.name) if hasattr(raw, f.name) else raw[i]
            values.append(f.to_human(int(v)))
        return cls(*values)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Any:
        """Build from a config mapping; unknown keys are errors, missing keys keep defaults."""
        data = dict(data or {})
        names = {f.name for f in cls.FIELDS}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ParamError(f"{cls.NAME}: unknown field(s) {unknown}; allowed: {sorted(names)}")
        obj = cls(**data)
        obj.validate()
        return obj

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]


def _w(name: str, lo: float, hi: float) -> Field:
    return Field(name, WAD, int(Decimal(str(lo)) * WAD), int(Decimal(str(hi)) * WAD))


def _i(name: str, lo: int, hi: int) -> Field:
    return Field(name, 1, lo, hi)


@dataclass(frozen=True)
class MarginParams(ParamGroup):
    """Scenario-grid portfolio margin (MarginEngine.MarginParams)."""

    spot_shock: float = 0.15  # largest spot move of the grid, both directions
    spot_steps: int = 3  # grid points each side of zero
    vol_shock_up: float = 0.5  # relative vol rise at the reference tenor
    vol_shock_down: float = 0.3  # relative vol fall at the reference tenor
    vol_tenor_ref: int = 30 * DAY  # seconds
    vol_tenor_power: float = 0.3  # shocks scale by (ref / T) ** power
    vol_scale_cap: float = 3.0  # cap of that scaling
    short_min: float = 0.01  # minimum MM per short contract, fraction of spot
    im_factor: float = 1.3  # IM = im_factor * MM

    GROUP_ID: ClassVar[int] = 0
    NAME: ClassVar[str] = "margin"
    FIELDS: ClassVar[tuple[Field, ...]] = (
        _w("spot_shock", 0.01, 0.9),
        _i("spot_steps", 1, 6),
        _w("vol_shock_up", 0, 3),
        _w("vol_shock_down", 0, 0.9),
        _i("vol_tenor_ref", DAY, 365 * DAY),
        _w("vol_tenor_power", 0, 1),
        _w("vol_scale_cap", 1, 10),
        _w("short_min", 0, 0.5),
        _w("im_factor", 1, 3),
    )

    def check_relations(self) -> None:
        # a short option far from the money loses on a vol rise the spot grid cannot see
        if self.short_min <= 0 and self.vol_shock_up <= 0:
            raise ParamError(
                "margin.short_min and vol_shock_up both zero: far out-of-the-money shorts "
                "would need no margin (allowed: either above 0)"
            )


@dataclass(frozen=True)
class LiquidationParams(ParamGroup):
    """Dutch-auction liquidation (RiskConfig.LiquidationParams)."""

    start_discount: float = 0.02  # reward at auction start, share of MM taken over
    discount_rate: float = 0.02  # reward growth per hour since the account was flagged
    max_discount: float = 0.15  # cap of the reward
    target_buffer: float = 0.1  # liquidation restores equity to IM * (1 + buffer)

    GROUP_ID: ClassVar[int] = 1
    NAME: ClassVar[str] = "liquidation"
    FIELDS: ClassVar[tuple[Field, ...]] = (
        _w("start_discount", 0, 0.2),
        _w("discount_rate", 0, 0.2),
        _w("max_discount", 0, 0.5),
        _w("target_buffer", 0, 1),
    )

    def check_relations(self) -> None:
        if self.max_discount < self.start_discount:
            raise ParamError(
                f"liquidation.max_discount = {self.max_discount} below start_discount "
                f"= {self.start_discount}"
            )
        if self.max_discount <= 0:
            raise ParamError(
                "liquidation.max_discount = 0: no liquidator reward (allowed: above 0)"
            )
        if self.start_discount <= 0 and self.discount_rate <= 0:
            raise ParamError(
                "liquidation.start_discount and discount_rate both 0: no liquidator reward "
                "(allowed: either above 0)"
            )


def allowed_spot_deviation(max_spot_deviation: float, heartbeat: int, elapsed_sec: int) -> float:
    """max_spot_deviation within a heartbeat of the last spot update, and x sqrt(elapsed /
    heartbeat) after a longer gap: Oracle._allowed_spot_deviation's integer arithmetic."""
    dev = int(Decimal(str(max_spot_deviation)) * WAD)  # as Field.to_chain
    if elapsed_sec <= heartbeat:
        return dev / WAD
    return dev * math.isqrt(int(elapsed_sec) * WAD // int(heartbeat) * WAD) // WAD / WAD


@dataclass(frozen=True)
class OracleParams(ParamGroup):
    """Oracle freshness and deviation limits (Oracle.OracleParams)."""

    heartbeat: int = HOUR  # seconds between updater pushes
    staleness_limit: int = 7_200  # seconds after which reads revert
    max_spot_deviation: float = 0.25  # largest |new / old - 1| per spot update
    max_vol_deviation: float = 1.0  # largest |new / old - 1| per vol update

    GROUP_ID: ClassVar[int] = 2
    NAME: ClassVar[str] = "oracle"
    FIELDS: ClassVar[tuple[Field, ...]] = (
        _i("heartbeat", 60, DAY),
        _i("staleness_limit", 60, 2 * DAY),
        _w("max_spot_deviation", 0.001, 1),
        _w("max_vol_deviation", 0.01, 5),
    )

    def allowed_spot_deviation(self, elapsed_sec: int) -> float:
        """The largest |new / old - 1| one spot update may make `elapsed_sec` after the
        last (Oracle._allowed_spot_deviation, in the chain's integers)."""
        return allowed_spot_deviation(self.max_spot_deviation, self.heartbeat, elapsed_sec)

    def check_relations(self) -> None:
        if self.staleness_limit < self.heartbeat:
            raise ParamError(
                f"oracle.staleness_limit = {self.staleness_limit} below heartbeat "
                f"= {self.heartbeat}"
            )


@dataclass(frozen=True)
class PoolParams(ParamGroup):
    """Pool quoting: spread and fees (RiskConfig.PoolParams)."""

    spread_base: float = 0.01  # half-spread in vol at zero utilisation (0.01 = 1 vol point)
    spread_util: float = 0.02  # extra half-spread per 100% utilisation
    spread_vega: float = 0.5  # extra half-spread per unit of |pool vega| / NAV
    min_spread: float = 0.0005  # minimum half-spread per contract, fraction of spot
    fee_rate: float = 0.0003  # protocol fee per contract, fraction of spot
    insurance_share: float = 0.5  # share of fees paid into the insurance fund
    max_utilisation: float = 5.0  # cap of pool gross notional / NAV

    GROUP_ID: ClassVar[int] = 3
    NAME: ClassVar[str] = "pool"
    FIELDS: ClassVar[tuple[Field, ...]] = (
        _w("spread_base", 0, 0.5),
        _w("spread_util", 0, 1),
        _w("spread_vega", 0, 10),
        _w("min_spread", 0, 0.05),
        _w("fee_rate", 0, 0.01),
        _w("insurance_share", 0, 1),
        _w("max_utilisation", 0.1, 10),  # RiskConfig: 50x let one 2% move cost the NAV
    )


@dataclass(frozen=True)
class Limits(ParamGroup):
    """Open interest caps on the pool's exposure (RiskConfig.Limits), in contracts."""

    series_oi_cap: float = 10_000.0  # cap of |pool position| in one series
    total_oi_cap: float = 50_000.0  # cap of the sum over live series

    GROUP_ID: ClassVar[int] = 4
    NAME: ClassVar[str] = "limits"
    FIELDS: ClassVar[tuple[Field, ...]] = (
        _w("series_oi_cap", 0, 1e12),
        _w("total_oi_cap", 0, 1e12),
    )


@dataclass(frozen=True)
class RateLimit(ParamGroup):
    """Aave-steward-style limit per group (param_guard.RateLimit)."""

    max_rel_change: float = 0.25  # largest |new - old| / old per update
    min_interval: int = DAY  # seconds between changes of one field

    GROUP_ID: ClassVar[int] = -1
    NAME: ClassVar[str] = "rate_limit"
    FIELDS: ClassVar[tuple[Field, ...]] = (  # bounded (param_guard._set_rate_limit)
        _w("max_rel_change", 0, 0.5),
        _i("min_interval", HOUR, 365 * DAY),
    )


GROUPS: dict[str, type[ParamGroup]] = {
    "margin": MarginParams,
    "liquidation": LiquidationParams,
    "oracle": OracleParams,
    "pool": PoolParams,
    "limits": Limits,
}
