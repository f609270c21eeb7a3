"""Run a keeper bot: `ape run keeper liquidator|settler|oracle --network ... --account ...`.

    liquidator  liquidates accounts below maintenance margin when the reward beats gas
    settler     settles positions in expired series once their price is fixed
    oracle      pushes spot and vols from --source (csv:PATH, sim:SEED, feed:0xADDR) on the
                heartbeat or a deviation, or pulls the Oracle's own feed (--source feed)

The bot keeps its index of accounts and its actions in --state (default
.keeper/<network>-<kind>-<account>.json): a restart resumes from where it stopped and
never repeats an action. It logs JSON lines to stderr, serves /health and /metrics on
--health-port, and stops cleanly on SIGTERM or Ctrl-C (the current iteration finishes).

Examples::

    ape run keeper liquidator --network ethereum:local:foundry --account TEST::4 --once
    ape run keeper settler --network http://127.0.0.1:8545 --account TEST::5 --interval 12
    ape run keeper oracle --network ethereum:sepolia:node --account ops \\
        --source csv:prices.csv --health-port 9100
    ape run keeper liquidator --network ethereum:sepolia:node --account ops --dry-run

Accounts: ape test accounts and any account exposing its private key sign locally;
keystore accounts sign through ape (the passphrase from APE_ACCOUNTS_<alias>_PASSPHRASE
or a prompt). Addresses come from deployments/<network>.addresses.json (--record-dir).
Before anything is sent the deployment is checked against the chain and the account's
balance against one transaction at the current fees.
"""

from __future__ import annotations

import threading
from pathlib import Path

import click
from ape import project
from ape.cli import account_option

from keepers.bots import (
    KINDS,
    KeeperConfig,
    KeeperError,
    KeeperRunner,
    build_bot,
    keeper_rpc,
    stop_on_signals,
)
from keepers.health import HealthServer, Metrics, keeper_logger
from keepers.sender import GasStrategy, signer_for
from keepers.sources import SourceError, parse_source
from keepers.state import StateError
from onchain.contracts import Contracts
from onchain.reader import rpc_uri_of
from onchain.rpc import RpcError
from onchain.script_cli import NetworkCommand, load_deployment, record_dir_option


@click.command(cls=NetworkCommand)
@click.argument("kind", type=click.Choice(KINDS))
@account_option()
@record_dir_option()
@click.option("--dry-run", is_flag=True, help="decide and simulate, send nothing")
@click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="the bot's index and actions (JSON)",
)
@click.option(
    "--health-port",
    type=click.IntRange(0, 65_535),
    default=None,
    help="serve /health and /metrics on 127.0.0.1:PORT",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.05),
    default=12.0,
    show_default=True,
    help="seconds between iterations",
)
@click.option("--once", is_flag=True, help="one iteration, then exit (non-zero if it failed)")
@click.option("--iterations", type=click.IntRange(min=1), default=None, help="stop after N")
@click.option("--source", default=None, help="oracle: csv:PATH, sim:SEED, feed or feed:0xADDR")
@click.option("--confirmations", type=click.IntRange(0, 1_000), default=2, show_default=True)
@click.option("--min-profit-usd", type=click.FloatRange(min=0), default=0.0, show_default=True)
@click.option(
    "--max-gas-usd",
    type=click.FloatRange(min=0.0, min_open=True),
    default=50.0,
    show_default=True,
    help="settler, oracle: the most one transaction may cost",
)
@click.option("--tip-gwei", type=click.FloatRange(min=0), default=1.0, show_default=True)
@click.option(
    "--max-fee-gwei",
    type=click.FloatRange(min=0, min_open=True),
    default=100.0,
    show_default=True,
    help="cap on the max fee per gas, replacements included",
)
@click.option(
    "--stuck-after",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    help="seconds before a pending transaction is replaced with higher fees",
)
def cli(
    provider,
    kind,
    account,
    record_dir,
    dry_run,
    state_path,
    health_port,
    interval,
    once,
    iterations,
    source,
    confirmations,
    min_profit_usd,
    max_gas_usd,
    tip_gwei,
    max_fee_gwei,
    stuck_after,
):
    """Run one keeper bot against the deployment on the connected network."""
    uri = rpc_uri_of(provider)
    if not uri:
        raise click.ClickException(
            "keepers talk JSON-RPC to a node: choose a network with an RPC endpoint "
            "(anvil, a testnet node), not ape's embedded chain; nothing was sent"
        )
    record, _ = load_deployment(project, provider, record_dir)
    try:
        price_source = parse_source(source) if kind == "oracle" else None
        cfg = KeeperConfig(
            kind=kind,
            interval_s=interval,
            dry_run=dry_run,
            confirmations=confirmations,
            min_profit_usd=min_profit_usd,
            max_gas_usd=max_gas_usd,
            gas=GasStrategy(
                tip_gwei=tip_gwei, max_fee_gwei=max_fee_gwei, stuck_after_s=stuck_after
            ),
        )
        cfg.validate()
    except (SourceError, ValueError) as exc:
        raise click.ClickException(f"{exc}; nothing was sent") from None

    if getattr(account, "private_key", None) is None and hasattr(account, "set_autosign"):
        account.set_autosign(True)  # keystore: unlock once (env passphrase or prompt)
    signer = signer_for(account, provider.network.ecosystem)
    network = provider.network.name
    path = state_path or Path(".keeper") / f"{network}-{kind}-{signer.address.lower()[:10]}.json"
    contracts = Contracts.of_project(project, record["contracts"])

    metrics = Metrics(kind)
    log = keeper_logger(kind)
    stop = threading.Event()
    rpc = keeper_rpc(uri, on_retry=lambda exc: metrics.inc("rpc_retries"))
    try:
        bot = build_bot(
            cfg,
            rpc,
            contracts,
            signer,
            path,
            int(record.get("start_block") or 0),
            metrics=metrics,
            log=log,
            stop=stop,
            source=price_source,
        )
        bot.preflight()
    except (KeeperError, StateError, RpcError) as exc:
        raise click.ClickException(str(exc)) from None

    server = (
        HealthServer(metrics, health_port, stale_after=max(60.0, 5 * interval)).start()
        if (health_port is not None)
        else None
    )
    if server is not None:
        log.info("health_endpoint", extra={"url": f"http://127.0.0.1:{server.port}/health"})
    stop_on_signals(stop)
    try:
        code = KeeperRunner(bot, stop).run(1 if once else iterations)
    finally:
        if server is not None:
            server.stop()
    if code:
        raise click.exceptions.Exit(code)
