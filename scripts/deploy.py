"""Deploy the protocol: `ape run deploy --network <ecosystem:network:provider>`.

Reads deployments/<network>.yaml (falls back to deployments/local.yaml on local
networks), deploys and wires every contract, and records the addresses in
deployments/<network>.addresses.json (rewritten after each contract, so an interrupted
deployment is visible as such).

Idempotent: when the addresses file records a complete deployment whose contracts are
on the connected chain (code and wiring checked), nothing is sent. A partial or
mismatching record is refused unless `--redeploy`. The deployer's balance is checked
against the deployment's gas (with a margin) before the first transaction.

Examples::

    ape run deploy --network ethereum:local:foundry
    ape run deploy --network ethereum:local:test --account TEST::0 --record-dir /tmp/dep
    ape run deploy --network ethereum:sepolia:node --account ops \\
        --config deployments/sepolia.yaml
    ape run deploy --network ethereum:sepolia:node --account ops --redeploy
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import click
from ape import project
from ape.cli import account_option

from onchain.deployment import (
    DEPLOYMENTS,
    ConfigError,
    DeployConfig,
    addresses_path,
    check_record,
    deploy_protocol,
    load_record,
    record_addresses,
    write_record,
)
from onchain.script_cli import NetworkCommand
from risk.units import ETH, GWEI

LOCAL_NETWORKS = {"local"}  # chains started afresh by ape: a record of an earlier run is stale


@click.command(cls=NetworkCommand)
@account_option()
@click.option(
    "--config", "config_path", default=None, help="deployment YAML (default: per network)"
)
@click.option(
    "--record-dir",
    default=None,
    help="where to write <network>.addresses.json (default: deployments/)",
)
@click.option("--redeploy", is_flag=True, help="deploy anew even when a deployment is recorded")
@click.option(
    "--admin",
    default=None,
    help="who administers the market and oracle afterwards: deployer, timelock or a "
    "multisig 0x address (it must then call accept_admin); overrides the config's admin",
)
def cli(provider, account, config_path, record_dir, redeploy, admin):
    """Deploy optsim's contracts to the connected network (nothing if already deployed)."""
    name = provider.network.name
    directory = Path(record_dir) if record_dir else DEPLOYMENTS
    cfg = load_config(name, config_path)
    if admin is not None:
        try:
            cfg = replace(cfg, admin=admin)
            cfg.validate()
        except ConfigError as exc:
            raise click.ClickException(f"--admin: {exc}") from exc
    if not redeploy and existing_deployment_ok(provider, name, directory):
        return
    require_funds(provider, account, cfg)

    def _progress(contract_name: str, contract: Any) -> None:
        partial[contract_name] = str(contract.address)
        write_record(
            addresses_path(name, directory),
            {
                "network": name,
                "chain_id": provider.chain_id,
                "contracts": dict(partial),
                "complete": False,
            },
        )

    partial: dict[str, str] = {}
    deployment = deploy_protocol(project, account, cfg, on_deploy=_progress)
    out = record_addresses(name, deployment, directory, chain_id=provider.chain_id)
    for key, addr in deployment.addresses().items():
        click.echo(f"{key:10s} {addr}")
    click.echo(f"{len(deployment.series_ids)} series created; addresses written to {out}")
    if cfg.admin == "deployer":
        click.echo(f"admin of market and oracle: the deployer {account.address}")
    elif cfg.admin == "timelock":
        click.echo("admin of market and oracle: the timelock (every admin power waits its delay)")
    else:
        click.echo(
            f"admin of market and oracle: {cfg.admin} nominated; it takes over when it calls "
            "accept_admin() on both (the deployer stays admin until then)"
        )


def load_config(network: str, config_path: str | None) -> DeployConfig:
    path = Path(config_path) if config_path else DEPLOYMENTS / f"{network}.yaml"
    if not config_path and not path.exists() and network in LOCAL_NETWORKS:
        path = DEPLOYMENTS / "local.yaml"
    if not path.exists():
        raise click.ClickException(
            f"deployment config {path} not found: write it (deployments/local.yaml is the "
            "template) or pass --config"
        )
    try:
        return DeployConfig.load(path)
    except ConfigError as exc:
        raise click.ClickException(f"{path}: {exc}") from exc


def existing_deployment_ok(provider: Any, network: str, directory: Path) -> bool:
    """True when a complete recorded deployment is on this chain (then nothing is sent).

    Raises when the record is partial or does not match the chain, except on local
    chains where no recorded contract exists at all (a fresh chain: deploy anew).
    """
    path = addresses_path(network, directory)
    if not path.exists():
        return False
    try:
        record = load_record(network, directory)
    except ConfigError as exc:
        raise click.ClickException(f"{exc}; fix or remove it, or pass --redeploy") from exc
    problems = check_record(project, provider, record)
    bad = {k: v for k, v in problems.items() if v}
    same_chain = record.get("chain_id") in (None, provider.chain_id)
    if not bad and record.get("complete", True) and same_chain:
        click.echo(f"already deployed on '{network}' ({path}); nothing sent")
        for key, addr in record["contracts"].items():
            click.echo(f"{key:10s} {addr}")
        return True
    recorded_present = [k for k, v in problems.items() if not v and k in record["contracts"]]
    if network in LOCAL_NETWORKS and (not recorded_present or not same_chain):
        click.echo(f"{path} records contracts this fresh local chain does not have; deploying anew")
        return False
    details = "; ".join(f"{k}: {v}" for k, v in bad.items())
    state = "an unfinished deployment" if not record.get("complete", True) else "a deployment"
    raise click.ClickException(
        f"{path} records {state} that does not match chain {provider.chain_id} ({details}). "
        "Nothing was sent. Run again with --redeploy to deploy every contract anew "
        "(the record is overwritten), or point --record-dir elsewhere"
    )


def require_funds(provider: Any, account: Any, cfg: DeployConfig) -> None:
    """Refuse before sending when the deployer cannot pay for the whole deployment."""
    gas = cfg.estimate_gas()
    price = int(provider.gas_price)
    need = gas * price
    have = int(account.balance)
    if have < need:
        raise click.ClickException(
            f"deployer {account.address} has {have / ETH:.6f} ETH; the deployment needs "
            f"about {need / ETH:.6f} ETH ({gas:,} gas at {price / GWEI:.3f} gwei, with margin). "
            "Fund the account or choose another --account; nothing was sent"
        )
