"""One simulation run: plan it, open it on a chain, step it, collect its results.

    run_simulation(cfg, seed, chain="anvil") -> RunResult

The set-up is shared with the dashboard (sims.dashboard.model) and the sweeps (which call
run_simulation):

1. `plan_run` checks everything that can be checked without a chain: the settings, the
   scenario's market path and the calm history before it, the deployment's parameters;
2. `open_run`, on a connected provider, deploys the protocol from deployments/local.yaml
   through ape and opens the agents' side of the chain (derived keys, funded, a started
   block builder and a reader);
3. the caller builds the model on it and steps it; the chain stops at the end, also on
   errors and Ctrl-C.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from onchain.deployment import LOCAL_CONFIG, ConfigError, DeployConfig
from onchain.session import Chain, FundingError, open_chain
from risk.apc import LongHistory
from risk.units import HOUR
from sims.config import SimConfig, SimConfigError
from sims.market_path import MarketPath
from sims.model import OptionsMarketModel
from sims.project import ROOT, compiled_project
from sims.report import review_rows

NETWORKS = {"anvil": "ethereum:local:foundry", "embedded": "ethereum:local:test"}
START_TS = 1_900_000_000  # the simulated clock starts here (2030-03-17), whatever the wall clock


@dataclass
class RunResult:
    steps: pd.DataFrame
    meta: dict[str, Any]
    governance_log: list[dict[str, Any]]


@dataclass(frozen=True)
class RunPlan:
    """What a run needs before any chain: its settings, market, history, deployment config
    and the compiled contracts (ape's project)."""

    cfg: SimConfig
    seed: int
    chain: str
    path: MarketPath
    history: tuple[np.ndarray, np.ndarray, np.ndarray] | None
    deploy: DeployConfig
    project: Any
    long_history: LongHistory | None = None  # the committee's long-lookback floor


@dataclass(frozen=True)
class OpenRun:
    """A run's chain, deployed and opened: the model's `chain`, `admin` and `keys`."""

    chain: Chain
    admin: str
    keys: list[str]


def plan_run(
    cfg: SimConfig,
    seed: int,
    chain: str = "anvil",
    params: dict[str, dict[str, float]] | None = None,
) -> RunPlan:
    """Check a run's inputs, build its market path and load the compiled contracts;
    nothing is started.

    Args:
        params: initial protocol parameters by group ({"margin": {"spot_shock": 0.2}}),
            over deployments/local.yaml's; validated against the on-chain bounds.

    Raises:
        SimConfigError: an invalid setting, scenario or parameter, naming it.
    """
    cfg.validate()
    if chain not in NETWORKS:
        raise SimConfigError(f"chain = {chain!r} outside allowed values {sorted(NETWORKS)}")
    path, history = market_path(cfg, seed)
    return RunPlan(
        cfg,
        seed,
        chain,
        path,
        history,
        deploy_config(params),
        compiled_project(),
        long_history_of(cfg),
    )


def open_run(plan: RunPlan, provider: Any) -> OpenRun:
    """Deploy the protocol on the connected provider and open the agents' side of it.

    Raises:
        SimConfigError: more agents than ape's test accounts can fund on the embedded
            chain (found after deploying on that in-process chain).
    """
    import ape

    from onchain.deployment import deploy_protocol
    from onchain.quiet import silence_revert_traces
    from onchain.reader import multicall_code

    silence_revert_traces()
    project = plan.project
    test_accounts = list(ape.accounts.test_accounts)
    deployer = test_accounts[0]
    ape.chain.pending_timestamp = START_TS - HOUR
    deployment = deploy_protocol(project, deployer, plan.deploy, create_series=False)
    try:
        chain, keys = open_chain(
            plan.chain,
            provider,
            deployment,
            test_accounts,
            plan.cfg.n_accounts(),
            plan.seed,
            multicall=multicall_code(project) if plan.chain == "anvil" else None,
        )
    except FundingError as exc:
        raise SimConfigError(str(exc)) from None
    return OpenRun(chain, str(deployer.address), keys)


def run_simulation(
    cfg: SimConfig,
    seed: int,
    chain: str = "anvil",
    progress: Callable[[int], Any] | None = None,
    params: dict[str, dict[str, float]] | None = None,
) -> RunResult:
    """Run one simulation and return its per-step metrics and run facts.

    Args:
        params: initial protocol parameters by group, as for `plan_run`.

    Raises:
        SimConfigError: as `plan_run` (nothing is started) and `open_run` (nothing
            outlives the call).
    """
    import ape
    from ape.logging import logger as ape_logger

    plan = plan_run(cfg, seed, chain, params)
    ape_logger.set_level("ERROR")  # not a line per deployment transaction
    t0 = time.perf_counter()
    # disconnect_after: stop this run's anvil when the run ends, not when the process exits
    with ape.networks.parse_network_choice(NETWORKS[chain], disconnect_after=True) as provider:
        run = open_run(plan, provider)
        model: OptionsMarketModel | None = None
        try:
            model = OptionsMarketModel(**model_inputs(plan, run))
            t_setup = time.perf_counter() - t0
            for i in range(cfg.steps):
                model.step()
                if progress is not None:
                    progress(i + 1)
            t_run = time.perf_counter() - t0 - t_setup
        finally:
            if model is not None:
                model.close()
            run.chain.close()
    steps = model.datacollector.get_model_vars_dataframe()
    meta = {
        "scenario": cfg.scenario,
        "seed": seed,
        "steps": cfg.steps,
        "step_seconds": cfg.step_seconds,
        "chain": chain,
        "governance": cfg.governance,
        "agents": len(model.agents),
        "setup_seconds": round(t_setup, 2),
        "run_seconds": round(t_run, 2),
        "steps_per_second": round(cfg.steps / t_run, 2) if t_run > 0 else None,
        "tx_per_second": round(float(steps["txs"].sum()) / t_run, 1) if t_run > 0 else None,
        "keeper_reverts": sum(lq.reverts for lq in model.liquidators),
        # reverted (and node-rejected) transactions by "label: reason", set-up included
        "reverts_by_reason": {
            f"{label}: {why}": n for (label, why), n in model.revert_log.most_common()
        },
        "timings": {k: round(v, 2) for k, v in model.timings.items()},
        # the committee's model fits and design, on its worker thread beside the chain's work
        "committee_analysis_seconds": (
            round(model.governance.analysis_seconds, 2) if model.governance else 0.0
        ),
    }
    log = review_rows(model.governance.committee.history, model.start) if model.governance else []
    return RunResult(steps, meta, log)


def model_inputs(plan: RunPlan, run: OpenRun) -> dict[str, Any]:
    """OptionsMarketModel's arguments for a planned run on its opened chain."""
    return {
        "chain": run.chain,
        "cfg": plan.cfg,
        "path": plan.path,
        "admin": run.admin,
        "keys": run.keys,
        "seed": plan.seed,
        "history": plan.history,
        "long_history": plan.long_history,
    }


def market_path(cfg: SimConfig, seed: int) -> tuple[MarketPath, Any]:
    """The run's outside market (a MarketPath from the scenario) and the calm history the
    risk committee fits on before the run.

    Raises:
        SimConfigError: the scenario cannot be built with these settings.
    """
    from sims.scenarios import load_scenario

    try:
        path = load_scenario(cfg.scenario).build(
            cfg.steps,
            cfg.step_seconds,
            seed=seed,
            start_ts=START_TS,
            spot0=cfg.spot0,
            vol0=cfg.vol0,
        )
        return path, _history(cfg, seed, path)
    except ValueError as exc:
        raise SimConfigError(f"scenario: {exc}") from None


def deploy_config(params: dict[str, dict[str, float]] | None) -> DeployConfig:
    """deployments/local.yaml with `params` merged over its parameter groups.

    Raises:
        SimConfigError: a parameter outside its on-chain bounds, naming it.
    """
    import yaml

    if not params:
        return DeployConfig.load(LOCAL_CONFIG)
    data = yaml.safe_load(LOCAL_CONFIG.read_text()) or {}
    merged = dict(data.get("params") or {})
    for group, fields in params.items():
        merged[group] = {**(merged.get(group) or {}), **fields}
    try:
        return DeployConfig.from_dict({**data, "params": merged})
    except ConfigError as exc:
        raise SimConfigError(f"params: {exc}") from None


def long_history_of(cfg: SimConfig) -> LongHistory | None:
    """cfg.long_history (and cfg.long_vol_history) read; None when governance is off or
    long_history is "".

    Raises:
        SimConfigError: a file is missing or not in its format, naming the setting and file.
    """
    if not cfg.governance or not cfg.long_history:
        return None
    from risk.market_data import read_prices, read_vol_index

    hist = _read_setting("long_history", cfg.long_history, read_prices)
    vol = None
    if cfg.long_vol_history:
        vol = _read_setting("long_vol_history", cfg.long_vol_history, read_vol_index)
    return LongHistory.of(
        hist, Path(cfg.long_history).name, vol, Path(cfg.long_vol_history).name if vol else ""
    )


def _read_setting(name: str, value: str, reader: Callable[[Path], Any]) -> Any:
    path = Path(value)
    path = path if path.is_absolute() else ROOT / path
    if not path.is_file():
        raise SimConfigError(f"{name}: no such file {path}")
    try:
        return reader(path)
    except ValueError as exc:
        raise SimConfigError(f"{name}: {path.name}: {exc}") from None


def _history(cfg: SimConfig, seed: int, path: MarketPath) -> Any:
    """A calm market of cfg.history_hours before the run, ending at the run's first price."""
    from sims.scenarios import load_scenario

    n = int(cfg.history_hours * HOUR // cfg.step_seconds)
    if n < 2:
        return None
    calm = load_scenario("calm").build(
        n,
        cfg.step_seconds,
        seed=seed + 1_000_003,
        start_ts=START_TS - n * cfg.step_seconds,
        spot0=cfg.spot0,
        vol0=cfg.vol0,
    )
    scale = float(path.spot[0]) / float(calm.spot[-1])
    return calm.timestamp[:-1], calm.spot[:-1] * scale, calm.reference_iv[:-1]
