"""One simulation run from start to finish: chain, deployment, agents, steps, results.

    run_simulation(cfg, seed, chain="anvil") -> RunResult

starts a local chain (anvil through ape-foundry, or ape's embedded chain), deploys the
protocol from deployments/local.yaml through ape, hands the agents' keys to a block
builder, and steps the model. The chain is stopped at the end, also on errors and Ctrl-C.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sims.model import OptionsMarketModel, SimConfig, SimConfigError

ROOT = Path(__file__).resolve().parent.parent
NETWORKS = {"anvil": "ethereum:local:foundry", "embedded": "ethereum:local:test"}
START_TS = 1_900_000_000  # the simulated clock starts here (2030-03-17), whatever the wall clock


@dataclass
class RunResult:
    steps: pd.DataFrame
    meta: dict[str, Any]
    governance_log: list[dict[str, Any]]


def run_simulation(
    cfg: SimConfig,
    seed: int,
    chain: str = "anvil",
    progress: Callable[[int], Any] | None = None,
    params: dict[str, dict[str, float]] | None = None,
) -> RunResult:
    """Run one simulation and return its per-step metrics and run facts.

    Args:
        params: initial protocol parameters by group ({"margin": {"spot_shock": 0.2}}),
            over deployments/local.yaml's; validated against the on-chain bounds first.

    Raises:
        SimConfigError: an invalid setting or scenario (nothing is started), or more agents
            than ape's test accounts can fund on the embedded chain (found after deploying
            on that in-process chain; nothing outlives the call).
    """
    import ape
    from ape.logging import logger as ape_logger

    from onchain.deployment import deploy_protocol
    from onchain.quiet import silence_revert_traces
    from onchain.rpc import multicall_code
    from onchain.session import open_chain

    cfg.validate()
    if chain not in NETWORKS:
        raise SimConfigError(f"chain = {chain!r} outside allowed values {sorted(NETWORKS)}")
    path, history = market_path(cfg, seed)
    ape_logger.set_level("ERROR")  # not a line per deployment transaction
    silence_revert_traces()
    project = ape.Project(ROOT)
    deploy_cfg = _deploy_config(params)
    t0 = time.perf_counter()
    # disconnect_after: stop this run's anvil when the run ends, not when the process exits
    with ape.networks.parse_network_choice(NETWORKS[chain], disconnect_after=True) as provider:
        test_accounts = list(ape.accounts.test_accounts)
        deployer = test_accounts[0]
        ape.chain.pending_timestamp = START_TS - 3_600
        deployment = deploy_protocol(project, deployer, deploy_cfg, create_series=False)
        sim_chain, addresses = open_chain(
            chain, provider, deployment, test_accounts, cfg.n_accounts(), seed,
            multicall=multicall_code(project) if chain == "anvil" else None,
        )  # fmt: skip
        model: OptionsMarketModel | None = None
        try:
            model = OptionsMarketModel(
                sim_chain, cfg, path, str(deployer.address), addresses, seed=seed, history=history
            )
            t_setup = time.perf_counter() - t0
            for i in range(cfg.steps):
                model.step()
                if progress is not None:
                    progress(i + 1)
            t_run = time.perf_counter() - t0 - t_setup
        finally:
            if model is not None:
                model.close()
            sim_chain.close()
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
    log = _review_rows(model.governance.committee.history, model.start) if model.governance else []
    return RunResult(steps, meta, log)


def market_path(cfg: SimConfig, seed: int) -> tuple[Any, Any]:
    """The run's outside market (a MarketPath from the scenario) and the calm history the
    risk committee fits on before the run.

    Raises:
        SimConfigError: the scenario cannot be built with these settings.
    """
    from sims.scenarios import load_scenario

    try:
        path = load_scenario(cfg.scenario).build(
            cfg.steps, cfg.step_seconds, seed=seed, start_ts=START_TS, spot0=cfg.spot0,
            vol0=cfg.vol0,
        )  # fmt: skip
        return path, _history(cfg, seed, path)
    except ValueError as exc:
        raise SimConfigError(f"scenario: {exc}") from None


def _deploy_config(params: dict[str, dict[str, float]] | None) -> Any:
    """deployments/local.yaml with `params` merged over its parameter groups."""
    import yaml

    from onchain.deployment import ConfigError, DeployConfig

    path = ROOT / "deployments" / "local.yaml"
    if not params:
        return DeployConfig.load(path)
    data = yaml.safe_load(path.read_text()) or {}
    merged = dict(data.get("params") or {})
    for group, fields in params.items():
        merged[group] = {**(merged.get(group) or {}), **fields}
    try:
        return DeployConfig.from_dict({**data, "params": merged})
    except ConfigError as exc:
        raise SimConfigError(f"params: {exc}") from None


def _history(cfg: SimConfig, seed: int, path: Any) -> tuple[Any, Any, Any]:
    """A calm market of cfg.history_hours before the run, ending at the run's first price."""
    from sims.scenarios import load_scenario

    n = int(cfg.history_hours * 3_600 // cfg.step_seconds)
    if n < 2:
        return None
    calm = load_scenario("calm").build(
        n, cfg.step_seconds, seed=seed + 1_000_003, start_ts=START_TS - n * cfg.step_seconds,
        spot0=cfg.spot0, vol0=cfg.vol0,
    )  # fmt: skip
    scale = float(path.spot[0]) / float(calm.spot[-1])
    return calm.timestamp[:-1], calm.spot[:-1] * scale, calm.reference_iv[:-1]


def _review_rows(history: list[Any], start: int) -> list[dict[str, Any]]:
    """The committee's reviews as report rows: when, what it wanted, what it proposed (the
    fields that move, from the value in force, with the target when the rate limit stops
    the step short of it), and what it held back."""
    rows = []
    for r in history:
        changes = []
        for group, params in r.proposed.items():
            target, before = r.targets.get(group), r.before.get(group)
            for f in params.FIELDS:
                new = getattr(params, f.name)
                old = getattr(before, f.name) if before is not None else None
                if old == new:
                    continue
                aim = getattr(target, f.name) if target is not None else new
                changes.append(
                    f"{group}.{f.name} "
                    + (f"{old:.6g} -> " if old is not None else "-> ")
                    + f"{new:.6g}"
                    + ("" if aim == new else f" (target {aim:.6g})")
                )
        held = [f"{g}.{name}" for g, names in r.held.items() for name in names]
        banded = [f"{g}.{name}" for g, names in r.dead_banded.items() for name in names]
        rows.append(
            {
                "hour": round((r.time - start) / 3_600, 1),
                "returns": r.n_returns,
                "skipped": r.skipped or "",
                "coverage_achieved": r.evidence.get("coverage_achieved", float("nan")),
                "model_divergence": r.evidence.get("model_divergence", float("nan")),
                "proposed": "; ".join(changes),
                "held": ", ".join(held),  # changed on-chain within the min interval
                "dead_banded": ", ".join(banded),  # a move too small to propose
            }
        )
    return rows
