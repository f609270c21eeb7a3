"""Parameter changes through the timelock: build, check, encode and decode them.

`scripts/params.py` uses this module to refuse a change *before* sending it, with the
rules the contracts apply when the change executes (risk.param_guard: hard bounds and
the rate limit, checked at the proposal's eta, the earliest moment it can execute).

The checks work on the integer struct values the contracts hold, so fields a change
leaves alone are sent back bit for bit. The first half of the module is pure (no
chain); the `read_*` and `plan_*` functions read through onchain.reader.Reader.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector

from onchain.events import checksum
from onchain.reader import Reader
from risk.param_guard import (
    GRACE_PERIOD,
    MAX_DELAY,
    MIN_DELAY,
    SETTERS,
    Refusal,
    check_bounds,
    check_rate_limit,
    format_human,
    format_value,
)
from risk.params import GROUPS, Field, ParamGroup, RateLimit

# Timelock.Proposal.state
STATE_NAMES = {0: "none", 1: "queued", 2: "executed", 3: "vetoed", 4: "failed"}
QUEUED = 1


class ChangeError(ValueError):
    """A change that cannot be built (unknown group or field, not a number)."""


@dataclass(frozen=True)
class DecodedCall:
    """A timelock proposal's calldata read back: the function and its arguments."""

    function: str
    group: str | None  # the parameter group, when the call sets one
    values: dict[str, Any]  # human units (risk.params scales); set_rate_limit's group by name
    raw: tuple[int, ...]

    def describe(self) -> str:
        args = ", ".join(f"{k}={format_human(v)}" for k, v in self.values.items())
        return f"{self.function}({args})"


# --- encoding ---


def group_class(group: str) -> type[ParamGroup]:
    if group not in GROUPS:
        raise ChangeError(f"unknown parameter group '{group}'; groups: {', '.join(GROUPS)}")
    return GROUPS[group]


def _struct_sig(function: str, n: int) -> str:
    return f"{function}(({','.join(['uint256'] * n)}))"


def encode_set(group: str, raw: Sequence[int]) -> bytes:
    """Calldata of the setter of `group` with the struct `raw` (chain units)."""
    cls = group_class(group)
    n = len(cls.FIELDS)
    if len(raw) != n:
        raise ChangeError(f"{group}: {n} fields expected, got {len(raw)}")
    sig = _struct_sig(SETTERS[group].function, n)
    return function_signature_to_4byte_selector(sig) + encode(
        [f"({','.join(['uint256'] * n)})"], [tuple(int(x) for x in raw)]
    )


def _decoders() -> dict[bytes, tuple[str, str | None, list[str], tuple[Field, ...]]]:
    out: dict[bytes, tuple[str, str | None, list[str], tuple[Field, ...]]] = {}
    for group, target in SETTERS.items():
        setter = target.function
        fields = GROUPS[group].FIELDS
        sig = _struct_sig(setter, len(fields))
        types = [f"({','.join(['uint256'] * len(fields))})"]
        out[function_signature_to_4byte_selector(sig)] = (setter, group, types, fields)
    out[function_signature_to_4byte_selector("set_rate_limit(uint256,(uint256,uint256))")] = (
        "set_rate_limit",
        None,
        ["uint256", "(uint256,uint256)"],
        RateLimit.FIELDS,
    )
    out[function_signature_to_4byte_selector("set_delay(uint256)")] = (
        "set_delay",
        None,
        ["uint256"],
        (Field("delay", 1, MIN_DELAY, MAX_DELAY),),
    )
    return out


DECODERS = _decoders()
GROUP_BY_ID = {cls.GROUP_ID: name for name, cls in GROUPS.items()}


def decode_call(data: bytes) -> DecodedCall | None:
    """Read a proposal's calldata back into its function and values; None if unknown."""
    data = bytes(data)
    entry = DECODERS.get(data[:4])
    if entry is None:
        return None
    function, group, types, fields = entry
    try:
        args = decode(types, data[4:])
    except Exception:  # noqa: BLE001 - malformed calldata is shown raw, never fatal
        return None
    if function == "set_rate_limit":
        gid, limit = args
        raw = tuple(int(x) for x in limit)
        values: dict[str, Any] = {"group": GROUP_BY_ID.get(int(gid), int(gid))}
        values.update({f.name: f.to_human(v) for f, v in zip(fields, raw, strict=True)})
        return DecodedCall(function, GROUP_BY_ID.get(int(gid)), values, raw)
    raw = tuple(int(x) for x in (args[0] if len(types) == 1 and types[0][0] == "(" else args))
    values = {f.name: f.to_human(v) for f, v in zip(fields, raw, strict=True)}
    return DecodedCall(function, group, values, raw)


# --- building and checking a change ---


def parse_changes(group: str, changes: Sequence[str] | Mapping[str, Any]) -> dict[str, int]:
    """`["im_factor=1.4", ...]` or `{"im_factor": 1.4}` -> {field: chain value}.

    Values are in the human units of risk.params (fractions, seconds, contracts).
    """
    cls = group_class(group)
    by_name = {f.name: f for f in cls.FIELDS}
    if isinstance(changes, Mapping):
        items = list(changes.items())
    else:
        items = []
        for text in changes:
            if "=" not in text:
                raise ChangeError(f"'{text}': expected field=value")
            key, _, value = text.partition("=")
            items.append((key.strip(), value.strip()))
    if not items:
        raise ChangeError(f"{group}: no change given (field=value ...)")
    out: dict[str, int] = {}
    for key, value in items:
        f = by_name.get(key)
        if f is None:
            raise ChangeError(f"{group}.{key}: unknown field; fields: {', '.join(by_name)}")
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise ChangeError(f"{group}.{key}: '{value}' is not a number") from None
        if not number.is_finite():
            raise ChangeError(f"{group}.{key}: '{value}' is not a finite number")
        raw = number * f.scale
        if f.scale == 1 and raw != raw.to_integral_value():
            raise ChangeError(f"{group}.{key}: '{value}' must be a whole number (seconds/count)")
        if raw < 0:
            raise ChangeError(f"{group}.{key} = {value} is negative")
        out[key] = int(raw.to_integral_value())
    return out


def apply_changes(
    group: str, current: Sequence[int], changes: Mapping[str, int]
) -> tuple[int, ...]:
    """The new struct: the current one with the changed fields replaced (chain units)."""
    fields = group_class(group).FIELDS
    return tuple(int(changes.get(f.name, v)) for f, v in zip(fields, current, strict=True))


def proposal_status(state: int, eta: int, now: int) -> str:
    """pending (before eta), executable, expired (after eta + grace), executed, vetoed,
    failed (its first execution was refused by the target: it can never run)."""
    if state != QUEUED:
        return STATE_NAMES.get(state, f"state {state}")
    if now < eta:
        return "pending"
    if now <= eta + GRACE_PERIOD:
        return "executable"
    return "expired"


# --- reading the chain (ape contract handles) ---


@dataclass(frozen=True)
class GroupState:
    """A parameter group as in force on-chain, with its rate limit state."""

    group: str
    raw: tuple[int, ...]
    max_rel_change: int
    min_interval: int
    last_updates: tuple[int, ...]

    def human(self) -> ParamGroup:
        return group_class(self.group).from_chain(self.raw)


@dataclass(frozen=True)
class TimelockProposal:
    """One timelock proposal, its calldata decoded."""

    id: int
    target: str
    target_name: str  # "config", "oracle", "timelock" or the address
    data: bytes
    eta: int
    state: int
    call: DecodedCall | None

    def status(self, now: int) -> str:
        return proposal_status(self.state, self.eta, now)

    def describe(self) -> str:
        what = self.call.describe() if self.call else f"calldata 0x{self.data.hex()}"
        return f"{self.target_name}.{what}"


@dataclass(frozen=True)
class ChangePlan:
    """A proposed change, checked: send it only when `refusals` is empty."""

    group: str
    target: str  # address of the contract holding the group
    old: tuple[int, ...]
    new: tuple[int, ...]
    data: bytes
    eta: int
    refusals: list[Refusal]

    def diff(self) -> list[tuple[str, str, str]]:
        fields = group_class(self.group).FIELDS
        return [
            (f.name, format_value(f, o), format_value(f, n))
            for f, o, n in zip(fields, self.old, self.new, strict=True)
            if o != n
        ]


def read_group(reader: Reader, group: str) -> GroupState:
    """A group's struct in force (chain units), its rate limit and its fields' clocks, in
    one round trip."""
    cls = group_class(group)
    setter = SETTERS[group]
    values = reader.read(
        [
            reader.view(setter.holder, setter.getter),
            reader.view(setter.holder, "rate_limit", cls.GROUP_ID),
            *(reader.last_update(group, i) for i in range(len(cls.FIELDS))),
        ]
    )
    raw, limit, last = values[0], values[1], values[2:]
    return GroupState(group, tuple(int(x) for x in raw), int(limit[0]), int(limit[1]), tuple(last))


def read_proposals(reader: Reader, *, include_done: bool = False) -> list[TimelockProposal]:
    """Every queued proposal (and executed/vetoed ones with include_done), oldest first."""
    assert reader.contracts is not None
    names = {
        reader.contracts.addresses[n].lower(): n
        for n in ("config", "oracle", "timelock")
        if n in reader.contracts.addresses
    }
    (count,) = reader.read([reader.view("timelock", "proposal_count")])
    rows = reader.read([reader.view("timelock", "proposals", pid) for pid in range(int(count))])
    out = []
    for pid, (target, data, eta, state) in enumerate(rows):
        if state != QUEUED and not include_done:
            continue
        data = bytes(data)
        target = checksum(str(target))
        out.append(
            TimelockProposal(
                pid,
                target,
                names.get(target.lower(), target),
                data,
                int(eta),
                int(state),
                decode_call(data),
            )
        )
    return out


def plan_change(reader: Reader, group: str, changes: Mapping[str, int], now: int) -> ChangePlan:
    """Build the new struct from the one in force and check it as the contracts will at eta."""
    assert reader.contracts is not None
    state = read_group(reader, group)
    new = apply_changes(group, state.raw, changes)
    (delay,) = reader.read([reader.view("timelock", "delay")])
    eta = now + int(delay)
    refusals = check_bounds(group, new)
    if not refusals:
        refusals = check_rate_limit(
            group,
            state.raw,
            new,
            state.max_rel_change,
            state.min_interval,
            state.last_updates,
            eta,
        )
    if new == state.raw:
        refusals.append(Refusal(group, f"{group}: the change leaves every field as it is"))
    target = reader.contracts.addresses[SETTERS[group].holder]
    return ChangePlan(group, target, state.raw, new, encode_set(group, new), eta, refusals)
