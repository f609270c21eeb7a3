"""Pieces shared by the operator scripts in scripts/ (deploy, params, status).

ape connects to the network before a script's code runs; when that fails (no node at
the URL, no URL configured) ape prints a long traceback. `NetworkCommand` turns those
failures into one clear line and a non-zero exit, before anything is sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from ape.cli.commands import ConnectedProviderCommand, parse_network
from ape.exceptions import ApeException

from onchain.contracts import CONTRACT_TYPES, Contracts
from onchain.deployment import (
    DEPLOYMENTS,
    ConfigError,
    Deployment,
    attach,
    check_record,
    load_record,
)
from onchain.reader import Reader, reader_of


class NetworkCommand(ConnectedProviderCommand):
    """ape's connected command, with connection failures reported as clear errors."""

    def invoke(self, ctx: click.Context) -> Any:
        if self.callback is None:
            return None
        active = _already_connected(ctx)
        if active is not None:
            # called inside a session that is connected to the requested network (tests,
            # a console): use that connection; ape's context would disconnect it on exit
            return self._invoke(ctx, provider=active)
        network_ctx = parse_network(ctx)
        if network_ctx is None:
            return self._invoke(ctx)
        try:
            provider = network_ctx.__enter__()
        except (ApeException, OSError) as exc:
            choice = _network_choice(ctx)
            raise click.ClickException(
                f"cannot connect to network {choice}: {exc} "
                "(is the node running and its RPC URL right? `ape networks list` shows the "
                "configured networks); nothing was sent"
            ) from None
        try:
            return self._invoke(ctx, provider=provider)
        finally:
            network_ctx.__exit__(None, None, None)


def _key(provider: Any) -> tuple[str, str, str]:
    return (provider.network.ecosystem.name, provider.network.name, provider.name)


def _already_connected(ctx: click.Context) -> Any:
    from ape import networks

    active = networks.active_provider
    wanted = ctx.params.get("network")
    if active is None or not active.is_connected or not hasattr(wanted, "network"):
        return None
    return active if _key(active) == _key(wanted) else None


def _network_choice(ctx: click.Context) -> str:
    value: Any = ctx.params.get("network")
    provider = getattr(value, "network", None)
    if provider is not None:
        return f"'{value.network.ecosystem.name}:{value.network.name}:{value.name}'"
    return f"'{value}'" if value else "(default)"


def record_dir_option() -> Any:
    return click.option(
        "--record-dir",
        default=None,
        type=click.Path(file_okay=False, path_type=Path),
        help="where <network>.addresses.json is (default: deployments/)",
    )


def deployment_reader(provider: Any, deployment: Deployment) -> Reader:
    """The one Reader of a deployment on the connected network."""
    return reader_of(provider, Contracts.of(deployment.handles(CONTRACT_TYPES)))


def load_deployment(
    project: Any, provider: Any, record_dir: Path | None, account: Any = None
) -> tuple[dict[str, Any], Deployment]:
    """The recorded deployment of the connected network, checked against the chain.

    Raises click.ClickException naming the addresses file (missing, or recording
    contracts that are not on this chain) so scripts exit non-zero before sending.
    """
    network = provider.network.name
    try:
        record = load_record(network, record_dir or DEPLOYMENTS)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    if record.get("chain_id") not in (None, provider.chain_id):
        raise click.ClickException(
            f"the recorded deployment is on chain {record['chain_id']}, the connected chain is "
            f"{provider.chain_id}: wrong network?"
        )
    problems = {k: v for k, v in check_record(project, provider, record).items() if v}
    if problems:
        lines = "; ".join(f"{k}: {v}" for k, v in problems.items())
        raise click.ClickException(
            f"the deployment recorded for '{network}' does not match this chain ({lines}). "
            "Wrong network, a restarted local chain, or an unfinished deployment: "
            "run `ape run deploy` first"
        )
    return record, attach(project, record, account)
