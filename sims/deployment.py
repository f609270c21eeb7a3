"""Deploy the whole protocol through ape from a per-network config file.

Used by `scripts/deploy.py` (ape run deploy), by the tests (embedded chain) and by the
simulations (anvil). The config is validated before anything is sent, so a bad file
costs no gas and leaves no half-deployed protocol.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from risk.params import (
    GROUPS,
    Limits,
    LiquidationParams,
    MarginParams,
    OracleParams,
    ParamError,
    ParamGroup,
    PoolParams,
    RateLimit,
)

WAD = 10**18
DAY = 86_400
ROOT = Path(__file__).resolve().parent.parent
DEPLOYMENTS = ROOT / "deployments"


class ConfigError(ValueError):
    """A deployment config that cannot be used; the message names the field."""


@dataclass(frozen=True)
class SeriesPlan:
    """Series created at deployment: every strike for every expiry, calls and puts."""

    expiries_days: tuple[float, ...] = (7.0, 30.0)
    strikes_pct: tuple[float, ...] = (0.8, 0.9, 1.0, 1.1, 1.2)  # of the initial spot
    calls: bool = True
    puts: bool = True


@dataclass(frozen=True)
class DeployConfig:
    """Everything needed to deploy one protocol instance."""

    collateral: str = "mock"  # "mock" or an ERC20 address
    initial_spot: float = 2_000.0  # USD
    initial_vol: float = 0.6  # annualised ATM vol of every expiry
    feed: str | None = None  # Chainlink-style aggregator address, optional
    updaters: tuple[str, ...] = ("deployer",)
    proposer: str = "deployer"
    guardian: str = "deployer"
    timelock_delay: int = 6 * 3_600  # seconds
    margin: MarginParams = field(default_factory=MarginParams)
    liquidation: LiquidationParams = field(default_factory=LiquidationParams)
    oracle: OracleParams = field(default_factory=OracleParams)
    pool: PoolParams = field(default_factory=PoolParams)
    limits: Limits = field(default_factory=Limits)
    rate_limit: RateLimit = field(default_factory=RateLimit)
    series: SeriesPlan = field(default_factory=SeriesPlan)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeployConfig:
        """Validate a config mapping; errors name the field and the allowed values."""
        data = dict(data or {})
        known = {
            "collateral",
            "initial_spot",
            "initial_vol",
            "feed",
            "updaters",
            "proposer",
            "guardian",
            "timelock_delay",
            "params",
            "series",
        }
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown key(s) {unknown}; allowed: {sorted(known)}")
        params = dict(data.pop("params", None) or {})
        groups: dict[str, type[ParamGroup]] = {**GROUPS, "rate_limit": RateLimit}
        bad = sorted(set(params) - set(groups))
        if bad:
            raise ConfigError(f"params: unknown group(s) {bad}; allowed: {sorted(groups)}")
        kwargs: dict[str, Any] = {}
        try:
            for name, cls_ in groups.items():
                kwargs[name] = cls_.from_dict(params.get(name))
        except (ParamError, TypeError) as exc:
            raise ConfigError(f"params.{exc}") from exc
        series = dict(data.pop("series", None) or {})
        bad = sorted(set(series) - {"expiries_days", "strikes_pct", "calls", "puts"})
        if bad:
            raise ConfigError(f"series: unknown key(s) {bad}")
        plan = SeriesPlan(
            expiries_days=tuple(float(x) for x in series.get("expiries_days", (7, 30))),
            strikes_pct=tuple(float(x) for x in series.get("strikes_pct", (0.8, 0.9, 1, 1.1, 1.2))),
            calls=bool(series.get("calls", True)),
            puts=bool(series.get("puts", True)),
        )
        for d in plan.expiries_days:
            if not 0 < d <= 730:
                raise ConfigError(f"series.expiries_days: {d} outside (0, 730]")
        for k in plan.strikes_pct:
            if not 0 < k <= 100:
                raise ConfigError(f"series.strikes_pct: {k} outside (0, 100]")
        if "updaters" in data:
            data["updaters"] = tuple(data["updaters"])
        cfg = cls(**data, **kwargs, series=plan)
        cfg.validate()
        return cfg

    @classmethod
    def load(cls, path: str | Path) -> DeployConfig:
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"deployment config {path} not found")
        with path.open() as fh:
            return cls.from_dict(yaml.safe_load(fh) or {})

    def validate(self) -> None:
        if not 0 < self.initial_spot <= 1e12:
            raise ConfigError(f"initial_spot: {self.initial_spot} outside (0, 1e12]")
        if not 0.01 <= self.initial_vol <= 5:
            raise ConfigError(f"initial_vol: {self.initial_vol} outside [0.01, 5]")
        if not 60 <= self.timelock_delay <= 30 * DAY:
            raise ConfigError(f"timelock_delay: {self.timelock_delay} outside [60, 2592000]")
        n_series = (
            len(self.series.expiries_days)
            * len(self.series.strikes_pct)
            * (int(self.series.calls) + int(self.series.puts))
        )
        if n_series > 32:
            raise ConfigError(f"series: {n_series} series planned, at most 32 may be live")


@dataclass
class Deployment:
    """Handles of a deployed protocol."""

    token: Any
    oracle: Any
    engine: Any
    config: Any
    market: Any
    pool: Any
    timelock: Any
    series_ids: list[int]
    deployer: Any

    def addresses(self) -> dict[str, str]:
        return {
            name: str(getattr(self, name).address)
            for name in ("token", "oracle", "engine", "config", "market", "pool", "timelock")
        }


def _resolve(who: str, deployer: Any) -> str:
    return str(deployer.address) if who == "deployer" else who


def deploy_protocol(
    project: Any, deployer: Any, cfg: DeployConfig, *, create_series: bool = True
) -> Deployment:
    """Deploy and wire every contract; the timelock ends up governing the parameters.

    Args:
        project: ape's project manager (``ape.project``).
        deployer: the account that deploys (admin of every contract).
        cfg: a validated config.
        create_series: also push the first oracle prices and create the planned series.
    """
    cfg.validate()
    sender = {"sender": deployer}
    if cfg.collateral == "mock":
        token = deployer.deploy(project.usdc_mock)
    else:
        from ape import Contract

        token = Contract(cfg.collateral)
    engine = deployer.deploy(project.MarginEngine)
    oracle = deployer.deploy(project.Oracle, cfg.oracle.to_chain(), cfg.rate_limit.to_chain())
    config = deployer.deploy(
        project.RiskConfig,
        cfg.margin.to_chain(),
        cfg.liquidation.to_chain(),
        cfg.pool.to_chain(),
        cfg.limits.to_chain(),
        cfg.rate_limit.to_chain(),
    )
    market = deployer.deploy(project.OptionMarket, token, oracle, engine, config)
    pool = deployer.deploy(project.LiquidityPool, token, market)
    market.set_pool(pool, **sender)
    oracle.set_market(market, **sender)
    for who in cfg.updaters:
        oracle.set_updater(_resolve(who, deployer), True, **sender)
    if cfg.feed:
        oracle.set_feed(cfg.feed, **sender)
    proposer = _resolve(cfg.proposer, deployer)
    guardian = _resolve(cfg.guardian, deployer)
    timelock = deployer.deploy(project.Timelock, cfg.timelock_delay, proposer, guardian)
    for target in (config, oracle, timelock):
        timelock.set_target(target, True, **sender)
    config.set_governor(timelock, **sender)
    oracle.set_governor(timelock, **sender)
    market.set_role("guardian", guardian, **sender)

    series_ids: list[int] = []
    if create_series:
        series_ids = create_planned_series(deployer, oracle, market, cfg)
    return Deployment(token, oracle, engine, config, market, pool, timelock, series_ids, deployer)


def create_planned_series(deployer: Any, oracle: Any, market: Any, cfg: DeployConfig) -> list[int]:
    """Push the initial spot and vols and create the planned series; returns their ids."""
    from ape import chain

    now = chain.pending_timestamp
    expiries = [int(now + d * DAY) for d in cfg.series.expiries_days]
    spot = int(cfg.initial_spot * WAD)
    vol = int(cfg.initial_vol * WAD)
    sender = {"sender": deployer}
    ids = []
    for e in expiries:
        for k in cfg.series.strikes_pct:
            strike = int(round(cfg.initial_spot * k)) * WAD
            for is_call in [
                c for c, on in ((True, cfg.series.calls), (False, cfg.series.puts)) if on
            ]:
                market.create_series(strike, e, is_call, **sender)
                ids.append(market.series_count() - 1)
    if str(deployer.address) in {_resolve(u, deployer) for u in cfg.updaters}:
        oracle.push(spot, expiries, [vol] * len(expiries), **sender)
    return ids


def record_addresses(network: str, deployment: Deployment, directory: Path = DEPLOYMENTS) -> Path:
    """Write deployments/<network>.addresses.json atomically (never half-written)."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{network}.addresses.json"
    payload = {
        "network": network,
        "contracts": deployment.addresses(),
        "series": deployment.series_ids,
    }
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{network}.", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(payload, fh, indent=2)
    os.replace(tmp, target)
    return target
