"""A readable summary of a deployment: `ape run status --network <ecosystem:network:provider>`.

Shows the addresses, pool NAV and LP share price, utilisation, open interest (total
and per series), the insurance fund and fees, the oracle's spot and vols with their
age against the heartbeat and staleness limit, the accounts whose equity is below
1.2x their maintenance margin (found from the market's Deposit and Trade events), and
the queued governance proposals. Sends nothing.

Examples::

    ape run status --network ethereum:local:foundry
    ape run status --network ethereum:local:foundry --near 1.5 --record-dir /tmp/dep
    ape run status --network ethereum:sepolia:node --json

Addresses come from deployments/<network>.addresses.json (written by `ape run deploy`).
"""

from __future__ import annotations

import json

import click
from ape import chain, project

from onchain.script_cli import NetworkCommand, load_deployment, record_dir_option
from onchain.status import NEAR_MM, collect_status, format_status


@click.command(cls=NetworkCommand)
@record_dir_option()
@click.option(
    "--near",
    type=click.FloatRange(min=1.0),
    default=NEAR_MM,
    show_default=True,
    help="list accounts with equity below this multiple of their MM",
)
@click.option("--json", "as_json", is_flag=True, help="print the raw summary as JSON")
def cli(provider, record_dir, near, as_json):
    """Summarise the deployment on the connected network."""
    record, dep = load_deployment(project, provider, record_dir)
    status = collect_status(dep, chain, near=near, start_block=record.get("start_block"))
    if as_json:
        click.echo(json.dumps(status, indent=2))
    else:
        click.echo(format_status(status, provider.network.name))
