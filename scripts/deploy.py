"""Deploy the protocol: `ape run deploy --network <ecosystem:network:provider>`.

Reads deployments/<network>.yaml (falls back to deployments/local.yaml on local
networks), deploys and wires every contract, and records the addresses in
deployments/<network>.addresses.json.
"""

from pathlib import Path

import click
from ape import networks, project
from ape.cli import ConnectedProviderCommand, account_option

from sims.deployment import (
    DEPLOYMENTS,
    ConfigError,
    DeployConfig,
    deploy_protocol,
    record_addresses,
)


@click.command(cls=ConnectedProviderCommand)
@account_option()
@click.option(
    "--config", "config_path", default=None, help="deployment YAML (default: per network)"
)
@click.option(
    "--record-dir",
    default=None,
    help="where to write <network>.addresses.json (default: deployments/)",
)
def cli(account, config_path, record_dir):
    """Deploy optsim's contracts to the connected network."""
    name = networks.provider.network.name
    path = Path(config_path) if config_path else DEPLOYMENTS / f"{name}.yaml"
    if not config_path and not path.exists() and name == "local":
        path = DEPLOYMENTS / "local.yaml"
    try:
        cfg = DeployConfig.load(path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    deployment = deploy_protocol(project, account, cfg)
    out = record_addresses(name, deployment, Path(record_dir) if record_dir else DEPLOYMENTS)
    for key, addr in deployment.addresses().items():
        click.echo(f"{key:10s} {addr}")
    click.echo(f"{len(deployment.series_ids)} series created; addresses written to {out}")
