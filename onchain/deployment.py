"""Deploy the whole protocol through ape from a per-network config file.

Used by `scripts/deploy.py` (ape run deploy), by the tests (embedded chain) and by the
simulations (anvil). The config is validated before anything is sent, so a bad file
costs no gas and leaves no half-deployed protocol.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from onchain.contracts import CONTRACT_TYPES
from risk.param_guard import MAX_DELAY, MIN_DELAY
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
from risk.units import DAY, HOUR, WAD

ROOT = Path(__file__).resolve().parent.parent
DEPLOYMENTS = ROOT / "deployments"
LOCAL_CONFIG = DEPLOYMENTS / "local.yaml"  # the local chains' deployment (simulations, tests)

# Gas of a deployment, measured on the embedded chain with deployments/local.yaml
# (15.6M for the contracts, wiring and first oracle push, 114k-190k per series); the
# deploy script checks the deployer's balance against it before sending anything.
DEPLOY_GAS_BASE = 15_700_000
DEPLOY_GAS_PER_SERIES = 190_000
DEPLOY_GAS_MARGIN = 1.3


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
    # who administers the market and the oracle once deployed: "deployer" (local work),
    # "timelock" (every admin power then waits the delay) or an address (a multisig,
    # nominated: it takes over when it calls accept_admin)
    admin: str = "deployer"
    timelock_delay: int = 6 * HOUR  # seconds
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
            "admin",
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
        if self.admin not in ("deployer", "timelock") and not _is_address(self.admin):
            raise ConfigError(
                f"admin: {self.admin!r} not allowed; use deployer, timelock or a 0x address"
            )
        if not MIN_DELAY <= self.timelock_delay <= MAX_DELAY:
            raise ConfigError(
                f"timelock_delay: {self.timelock_delay} outside [{MIN_DELAY}, {MAX_DELAY}]"
            )
        n_series = (
            len(self.series.expiries_days)
            * len(self.series.strikes_pct)
            * (int(self.series.calls) + int(self.series.puts))
        )
        if n_series > 32:
            raise ConfigError(f"series: {n_series} series planned, at most 32 may be live")

    def n_series(self) -> int:
        plan = self.series
        return len(plan.expiries_days) * len(plan.strikes_pct) * (int(plan.calls) + int(plan.puts))

    def estimate_gas(self) -> int:
        """Gas of the whole deployment with a safety margin (see DEPLOY_GAS_BASE)."""
        return int((DEPLOY_GAS_BASE + DEPLOY_GAS_PER_SERIES * self.n_series()) * DEPLOY_GAS_MARGIN)


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
    start_block: int | None = None  # first block of the deployment (events are read from it)

    def addresses(self) -> dict[str, str]:
        return {name: str(c.address) for name, c in self.handles(CONTRACT_TYPES).items()}

    def handles(self, names: Iterable[str]) -> dict[str, Any]:
        """The ape contract instances of the named contracts."""
        return {name: getattr(self, name) for name in names}


def _resolve(who: str, deployer: Any) -> str:
    return str(deployer.address) if who == "deployer" else who


def _is_address(text: str) -> bool:
    return (
        isinstance(text, str)
        and len(text) == 42
        and text[:2] == "0x"
        and all(c in "0123456789abcdefABCDEF" for c in text[2:])
        and int(text, 16) != 0
    )


def hand_over_admin(market: Any, oracle: Any, timelock: Any, admin: str, deployer: Any) -> None:
    """Give the market's and the oracle's admin role to the timelock (taken over at once
    through Timelock.claim_admin) or nominate an address (it accepts itself); "deployer"
    keeps it. RiskConfig has no admin powers, and the timelock governs itself."""
    if admin == "deployer":
        return
    new = timelock if admin == "timelock" else admin
    sender = {"sender": deployer}
    market.set_role("admin", new, **sender)
    oracle.transfer_admin(new, **sender)
    if admin == "timelock":
        timelock.claim_admin(market, **sender)
        timelock.claim_admin(oracle, **sender)


def deploy_protocol(
    project: Any,
    deployer: Any,
    cfg: DeployConfig,
    *,
    create_series: bool = True,
    on_deploy: Callable[[str, Any], None] | None = None,
) -> Deployment:
    """Deploy and wire every contract; the timelock ends up governing the parameters.

    Args:
        project: ape's project manager (``ape.project``).
        deployer: the account that deploys (admin of every contract).
        cfg: a validated config.
        create_series: also push the first oracle prices and create the planned series.
        on_deploy: called with (name, contract) after each contract is deployed, so a
            caller can record progress (the deploy script records partial deployments).
    """
    from ape import chain

    cfg.validate()
    start_block = chain.blocks.head.number + 1
    sender = {"sender": deployer}

    def _deploy(name: str, *args: Any) -> Any:
        contract = deployer.deploy(getattr(project, CONTRACT_TYPES[name]), *args)
        if on_deploy is not None:
            on_deploy(name, contract)
        return contract

    if cfg.collateral == "mock":
        token = _deploy("token")
    else:
        from ape import Contract

        token = Contract(cfg.collateral)
        if on_deploy is not None:
            on_deploy("token", token)
    engine = _deploy("engine")
    oracle = _deploy("oracle", cfg.oracle.to_chain(), cfg.rate_limit.to_chain())
    config = _deploy(
        "config",
        cfg.margin.to_chain(),
        cfg.liquidation.to_chain(),
        cfg.pool.to_chain(),
        cfg.limits.to_chain(),
        cfg.rate_limit.to_chain(),
    )
    market = _deploy("market", token, oracle, engine, config)
    pool = _deploy("pool", token, market)
    market.set_role("pool", pool, **sender)
    oracle.set_market(market, **sender)
    for who in cfg.updaters:  # the deployer is the oracle's governor until the timelock is
        oracle.set_updater(_resolve(who, deployer), True, **sender)
    if cfg.feed:
        oracle.set_feed(cfg.feed, **sender)
    proposer = _resolve(cfg.proposer, deployer)
    guardian = _resolve(cfg.guardian, deployer)
    timelock = _deploy("timelock", cfg.timelock_delay, proposer, guardian, [config, oracle, market])
    config.set_governor(timelock, **sender)
    oracle.set_governor(timelock, **sender)
    market.set_role("guardian", guardian, **sender)

    series_ids: list[int] = []
    if create_series:
        series_ids = create_planned_series(deployer, oracle, market, cfg)
    hand_over_admin(market, oracle, timelock, cfg.admin, deployer)
    return Deployment(
        token, oracle, engine, config, market, pool, timelock, series_ids, deployer, start_block
    )


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


def addresses_path(network: str, directory: Path = DEPLOYMENTS) -> Path:
    return Path(directory) / f"{network}.addresses.json"


def record_addresses(
    network: str,
    deployment: Deployment,
    directory: Path = DEPLOYMENTS,
    *,
    chain_id: int | None = None,
) -> Path:
    """Write deployments/<network>.addresses.json atomically (never half-written)."""
    payload: dict[str, Any] = {
        "network": network,
        "contracts": deployment.addresses(),
        "series": deployment.series_ids,
        "complete": True,
    }
    if chain_id is not None:
        payload["chain_id"] = chain_id
    if deployment.start_block is not None:
        payload["start_block"] = deployment.start_block
    return write_record(addresses_path(network, directory), payload)


def write_record(target: Path, payload: dict[str, Any]) -> Path:
    """Write a JSON record atomically: a temporary file renamed over the target."""
    directory = target.parent
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{target.stem}.", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(payload, fh, indent=2)
    os.replace(tmp, target)
    return target


# --- recorded deployments: load, check against the chain, attach ---


def load_record(network: str, directory: Path = DEPLOYMENTS) -> dict[str, Any]:
    """The recorded deployment of a network; the error names the file and how to create it."""
    path = addresses_path(network, directory)
    if not path.exists():
        raise ConfigError(
            f"{path} not found: no deployment recorded for network '{network}'. "
            f"Deploy first with `ape run deploy --network <ecosystem>:{network}:<provider>` "
            "(or pass --record-dir where the addresses file is)"
        )
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from exc
    contracts = record.get("contracts")
    if not isinstance(contracts, dict) or not contracts:
        raise ConfigError(f"{path}: no 'contracts' mapping")
    return record


def check_record(project: Any, provider: Any, record: dict[str, Any]) -> dict[str, str]:
    """Compare a recorded deployment with the chain: name -> problem ("" when it matches).

    A contract matches when its address has code, the code starts with this project's
    compiled runtime code (Vyper appends immutables after it) and its wiring views point
    at the other recorded contracts. Names never recorded are reported as "not deployed".
    """
    recorded = record.get("contracts", {})
    problems: dict[str, str] = {}
    codes: dict[str, bytes] = {}
    for name, type_name in CONTRACT_TYPES.items():
        addr = recorded.get(name)
        if not addr:
            problems[name] = "not deployed"
            continue
        code = bytes(provider.get_code(addr))
        codes[name] = code
        if not code:
            problems[name] = f"no code at {addr}"
            continue
        if name == "token" and not _is_project_code(project, type_name, code):
            problems[name] = ""  # an external collateral token: code present is all we check
            continue
        if not _is_project_code(project, type_name, code):
            problems[name] = f"code at {addr} is not this project's {type_name}"
            continue
        problems[name] = ""
    if all(not p for p in problems.values()):
        problems.update(_check_wiring(project, recorded))
    return problems


def _is_project_code(project: Any, type_name: str, code: bytes) -> bool:
    runtime = getattr(project, type_name).contract_type.runtime_bytecode
    if runtime is None or not runtime.bytecode:
        return True
    expected = bytes.fromhex(runtime.bytecode.removeprefix("0x"))
    return code.startswith(expected)


def _check_wiring(project: Any, recorded: dict[str, str]) -> dict[str, str]:
    c = {n: getattr(project, CONTRACT_TYPES[n]).at(recorded[n]) for n in CONTRACT_TYPES}
    checks = [
        ("market", "token", c["market"].token()),
        ("market", "oracle", c["market"].oracle()),
        ("market", "engine", c["market"].engine()),
        ("market", "config", c["market"].config()),
        ("market", "pool", c["market"].pool()),
        ("pool", "market", c["pool"].market()),
        ("oracle", "market", c["oracle"].market()),
        ("config", "timelock", c["config"].governor()),
        ("oracle", "timelock", c["oracle"].governor()),
    ]
    out: dict[str, str] = {}
    for holder, name, seen in checks:
        if str(seen).lower() != str(recorded[name]).lower():
            out[holder] = (
                f"{holder} points at {seen} as its {name}, not the recorded {recorded[name]}"
            )
    return out


def attach(project: Any, record: dict[str, Any], deployer: Any = None) -> Deployment:
    """Contract handles of a recorded deployment (the token read through the mock's ABI)."""
    c = record["contracts"]
    handles = {n: getattr(project, CONTRACT_TYPES[n]).at(c[n]) for n in CONTRACT_TYPES}
    return Deployment(
        token=handles["token"],
        oracle=handles["oracle"],
        engine=handles["engine"],
        config=handles["config"],
        market=handles["market"],
        pool=handles["pool"],
        timelock=handles["timelock"],
        series_ids=list(record.get("series", [])),
        deployer=deployer,
        start_block=record.get("start_block"),
    )
