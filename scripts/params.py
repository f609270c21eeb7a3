"""Governed risk parameters: show them, propose, execute or veto a change.

Every change goes through the Timelock (propose -> delay -> execute, guardian veto).
A proposal is checked before it is sent, as the contracts will check it when it
executes: hard bounds (risk/params.py) and the rate limit (maximum relative change per
update, minimum time since the field last changed, read from the chain). A change that
would be refused is reported with the field, the allowed change and when it will be
allowed, and nothing is sent. Values are in risk/params.py's units (0.15 = 15%,
seconds, contracts).

Examples::

    ape run params show --network ethereum:local:foundry
    ape run params propose margin im_factor=1.4 spot_shock=0.18 \\
        --network ethereum:local:foundry --account ops
    ape run params propose --file change.yaml --network ethereum:local:foundry --account ops
    ape run params execute 3 --network ethereum:local:foundry --account ops
    ape run params veto 3 --network ethereum:local:foundry --account guardian

A --file YAML holds one group: ``{group: pool, changes: {fee_rate: 0.0005}}``.
Addresses come from deployments/<network>.addresses.json (`ape run deploy` writes it;
--record-dir reads it from elsewhere).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import yaml
from ape import chain, project
from ape.cli import account_option
from ape.exceptions import ContractLogicError

from onchain.governance import (
    QUEUED,
    ChangeError,
    decode_call,
    group_class,
    parse_changes,
    plan_change,
    proposal_status,
    read_group,
    read_proposals,
)
from onchain.rpc import decode_revert
from onchain.script_cli import (
    NetworkCommand,
    deployment_reader,
    load_deployment,
    record_dir_option,
)
from risk.param_guard import GRACE_PERIOD, check_bounds, check_rate_limit
from risk.params import GROUPS
from risk.units import WAD


def now_ts() -> int:
    """The time the next block will carry (what the contracts compare with)."""
    head = int(chain.blocks.head.timestamp)
    try:
        return max(head, int(chain.pending_timestamp))
    except Exception:  # noqa: BLE001 - a node without a pending block: the head's time
        return head


@click.group()
def cli():
    """Show, propose, execute or veto risk parameter changes."""


@cli.command(cls=NetworkCommand)
@record_dir_option()
@click.option("--all", "show_all", is_flag=True, help="also list executed and vetoed proposals")
def show(provider, record_dir, show_all):
    """The parameters in force and the queued proposals."""
    _, dep = load_deployment(project, provider, record_dir)
    reader = deployment_reader(provider, dep)
    now = now_ts()
    for group in GROUPS:
        state = read_group(reader, group)
        click.echo(
            f"{group} (rate limit: {state.max_rel_change / WAD:.4g} of the value per change, "
            f"{state.min_interval} s between changes of a field)"
        )
        values = state.human()
        for f, last in zip(group_class(group).FIELDS, state.last_updates, strict=True):
            changed = f"changed {now - last} s ago" if last else "never changed"
            click.echo(
                f"  {f.name:20s} {getattr(values, f.name)!s:>14}   "
                f"range {f.describe_range():24s} {changed}"
            )
    proposals = read_proposals(reader, include_done=show_all)
    delay = int(dep.timelock.delay())
    click.echo(f"proposals (delay {delay} s, grace period {GRACE_PERIOD} s):")
    if not proposals:
        click.echo("  none queued")
    for p in proposals:
        status = p.status(now)
        when = ""
        if status == "pending":
            when = f", executable in {p.eta - now} s"
        elif status == "executable":
            when = f", expires in {p.eta + GRACE_PERIOD - now} s"
        click.echo(f"  #{p.id} {status} (eta {p.eta}{when}): {p.describe()}")


@cli.command(cls=NetworkCommand)
@account_option()
@record_dir_option()
@click.argument("group", required=False)
@click.argument("changes", nargs=-1)
@click.option(
    "--file",
    "change_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML with `group:` and `changes:` instead of arguments",
)
def propose(provider, account, record_dir, group, changes, change_file):
    """Queue a change: GROUP field=value ... (checked before anything is sent)."""
    group, parsed = _read_change(group, changes, change_file)
    _, dep = load_deployment(project, provider, record_dir, account)
    proposer = str(dep.timelock.proposer())
    if proposer.lower() != str(account.address).lower():
        raise click.ClickException(
            f"{account.address} is not the timelock's proposer ({proposer}); nothing was sent"
        )
    reader = deployment_reader(provider, dep)
    plan = plan_change(reader, group, parsed, now_ts())
    for name, old, new in plan.diff():
        click.echo(f"{group}.{name}: {old} -> {new}")
    if plan.refusals:
        reasons = "\n  ".join(str(r) for r in plan.refusals)
        raise click.ClickException(f"change refused, nothing was sent:\n  {reasons}")
    for p in read_proposals(reader):
        if p.call is not None and p.call.group == group:
            click.echo(
                f"note: proposal #{p.id} also sets {group}; each is checked against the "
                "values in force when it executes"
            )
    receipt = dep.timelock.propose(plan.target, plan.data, sender=account)
    event = [e for e in receipt.events if e.event_name == "Proposed"][0]
    click.echo(
        f"proposed #{event.id}: executable from {event.eta} "
        f"(in {event.eta - now_ts()} s) until {event.eta + GRACE_PERIOD}"
    )


def _read_change(
    group: str | None, changes: tuple[str, ...], change_file: Path | None
) -> tuple[str, dict[str, int]]:
    try:
        if change_file is not None:
            if group or changes:
                raise ChangeError("give either --file or GROUP field=value ..., not both")
            data = yaml.safe_load(change_file.read_text()) or {}
            if not isinstance(data, dict) or set(data) != {"group", "changes"}:
                raise ChangeError(f"{change_file}: expected the keys 'group' and 'changes'")
            group = str(data["group"])
            return group, parse_changes(group, data["changes"] or {})
        if not group:
            raise ChangeError("give GROUP field=value ... or --file")
        return group, parse_changes(group, changes)
    except ChangeError as exc:
        raise click.ClickException(f"{exc}; nothing was sent") from exc


@cli.command(cls=NetworkCommand)
@account_option()
@record_dir_option()
@click.argument("proposal_id", type=int)
def execute(provider, account, record_dir, proposal_id):
    """Execute a queued proposal once its delay has passed (anyone may)."""
    _, dep = load_deployment(project, provider, record_dir, account)
    _require_state(dep, proposal_id, "execute")
    target, data, eta, state = dep.timelock.proposals(proposal_id)
    status = proposal_status(int(state), int(eta), now_ts())
    if status == "pending":
        raise click.ClickException(
            f"proposal #{proposal_id} is executable from {eta} (in {int(eta) - now_ts()} s); "
            "nothing was sent"
        )
    if status == "expired":
        raise click.ClickException(
            f"proposal #{proposal_id} expired at {int(eta) + GRACE_PERIOD}; propose it again"
        )
    call = decode_call(bytes(data))
    if call is not None and call.group is not None and call.function != "set_rate_limit":
        # the target checks the change against the values in force now, not at proposal
        st = read_group(deployment_reader(provider, dep), call.group)
        refusals = check_bounds(call.group, call.raw) or check_rate_limit(
            call.group,
            st.raw,
            call.raw,
            st.max_rel_change,
            st.min_interval,
            st.last_updates,
            now_ts(),
        )
        if refusals:
            reasons = "\n  ".join(str(r) for r in refusals)
            raise click.ClickException(
                f"proposal #{proposal_id} would revert now, nothing was sent:\n  {reasons}"
            )
    _send(dep.timelock.execute, proposal_id, account, "executed")


@cli.command(cls=NetworkCommand)
@account_option()
@record_dir_option()
@click.argument("proposal_id", type=int)
def veto(provider, account, record_dir, proposal_id):
    """Cancel a queued proposal (guardian only)."""
    _, dep = load_deployment(project, provider, record_dir, account)
    guardian = str(dep.timelock.guardian())
    if guardian.lower() != str(account.address).lower():
        raise click.ClickException(
            f"{account.address} is not the timelock's guardian ({guardian}); nothing was sent"
        )
    _require_state(dep, proposal_id, "veto")
    _send(dep.timelock.veto, proposal_id, account, "vetoed")


def _require_state(dep: Any, proposal_id: int, action: str) -> None:
    count = int(dep.timelock.proposal_count())
    if not 0 <= proposal_id < count:
        raise click.ClickException(
            f"no proposal #{proposal_id} (there are {count}); nothing was sent"
        )
    state = int(dep.timelock.proposals(proposal_id)[3])
    if state != QUEUED:
        raise click.ClickException(
            f"proposal #{proposal_id} is {proposal_status(state, 0, 0)}, cannot {action} it; "
            "nothing was sent"
        )


def _send(fn: Any, proposal_id: int, account: Any, done: str) -> None:
    try:
        receipt = fn(proposal_id, sender=account)
    except ContractLogicError as exc:
        raise click.ClickException(f"proposal #{proposal_id} reverted: {exc}") from exc
    failed = [log for log in receipt.events if log.event_name == "ExecutionFailed"]
    if failed:  # the target refused it: the timelock ended the proposal
        reason = decode_revert(bytes(failed[0].event_arguments["reason"]))
        raise click.ClickException(
            f"proposal #{proposal_id} failed for good: the target refused it ({reason}); "
            "propose the change again"
        )
    click.echo(f"proposal #{proposal_id} {done}")
