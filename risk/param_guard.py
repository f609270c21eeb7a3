"""The governance rules the contracts enforce, mirrored once in Python.

contracts/modules/param_guard.vy checks every governed field of a proposed struct
(RiskConfig's and the Oracle's setters) as it executes:

- hard bounds: lo <= new <= hi (risk.params.Field, in chain units);
- a rate limit per parameter group (`RateLimit`), for every field that changes:
  - at least `min_interval` seconds since the field last changed (0: never changed),
  - |new - old| <= max_rel_change x old / 1e18 (x the field's upper bound when old or
    new is 0: a field leaves 0 and returns to it by the same step),
  - margin.spot_steps is checked against its bounds only (`NOT_RATE_LIMITED`);
- a change that passes stamps the field's clock with the block's time.

Timelock.vy adds the grace period: a queued change may execute from its eta until
eta + GRACE_PERIOD, and not after.

Everything here works on the contracts' integers, so a step that passes here passes
on-chain. The risk committee (agents.committee), `ape run params` (onchain.governance)
and the sweep's evidence (sims.sweep.analysis) all use these functions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from risk.params import GROUPS, Field, ParamError, ParamGroup, RateLimit
from risk.units import DAY, WAD

GRACE_PERIOD = 14 * DAY  # Timelock.GRACE_PERIOD: a queued change expires at eta + this
MIN_DELAY, MAX_DELAY = 60, 30 * DAY  # Timelock's bounds of its delay, seconds


@dataclass(frozen=True)
class Setter:
    """Where a parameter group lives on-chain: the contract (by its deployment name), the
    setter the timelock calls and the public getter of the struct in force."""

    holder: str
    function: str
    getter: str


SETTERS: dict[str, Setter] = {
    "margin": Setter("config", "set_margin_params", "margin_params"),
    "liquidation": Setter("config", "set_liquidation_params", "liquidation_params"),
    "oracle": Setter("oracle", "set_oracle_params", "params"),
    "pool": Setter("config", "set_pool_params", "pool_params"),
    "limits": Setter("config", "set_limits", "limits"),
}
# fields checked against their bounds only (RiskConfig._check_margin passes limited=False)
NOT_RATE_LIMITED = frozenset({("margin", "spot_steps")})


# --- the rule, one field at a time ---


def is_rate_limited(group: str, field: str) -> bool:
    return (group, field) not in NOT_RATE_LIMITED


def change_basis(f: Field, old: int, new: int | None = None) -> int:
    """What a relative change of a field is measured against: its value, or its upper
    bound when the value or the new value is 0 (0 has no relative scale)."""
    return old if old != 0 and new != 0 else f.hi


def allowed_change(f: Field, old: int, max_rel_change: int, new: int | None = None) -> int:
    """The largest |new - old| one update may make (chain units):
    max_rel_change x change_basis / 1e18 (a move to 0: `new` = 0)."""
    return max_rel_change * change_basis(f, old, new) // WAD


def too_recent(last_update: int, min_interval: int, at: int) -> bool:
    """param_guard's clock: a field changed at `last_update` (0: never) may not change
    again before last_update + min_interval."""
    return last_update != 0 and at < last_update + min_interval


def round_towards(old: int, new: int) -> int:
    """`new` rounded towards `old` to at most 15 significant digits (a float holds those,
    so the human value a ParamGroup keeps converts back to exactly this integer)."""
    q = 10 ** max(0, len(str(abs(new))) - 15)
    if q == 1 or new == old:
        return new
    r = (new // q) * q if new > old else -(-new // q) * q
    return r if (r - old) * (new - old) > 0 else old


def step_towards(current: ParamGroup, target: ParamGroup, limit: RateLimit) -> ParamGroup:
    """The largest move from `current` towards `target` that the rate limit allows, each
    field clamped to `allowed_change` in the chain's integers and rounded towards `current`
    (`round_towards`), so that the struct it returns passes param_guard exactly."""
    rel = limit.to_chain()[0]
    values = {}
    for f in current.FIELDS:
        old_raw, new_raw = f.to_chain(getattr(current, f.name)), f.to_chain(getattr(target, f.name))
        allowed = allowed_change(f, old_raw, rel)
        raw = round_towards(old_raw, max(old_raw - allowed, min(old_raw + allowed, new_raw)))
        if new_raw == 0 and old_raw <= allowed_change(f, old_raw, rel, 0):
            raw = 0  # close enough to 0 to reach it in one update
        values[f.name] = f.to_human(raw)
    moved = type(current)(**values)
    moved.validate()
    return moved


def updates_needed(group: str, f: Field, old: int, new: int, max_rel_change: int) -> int | float:
    """How many updates move a field from `old` to `new` (chain units): one for a field
    that is not rate limited, else steps of the largest `allowed_change`; inf when no step
    can get there (a rate of 0, or an integer field whose allowance rounds to 0)."""
    if old == new:
        return 0
    if not is_rate_limited(group, f.name):
        return 1
    n, x = 0, old
    while x != new:
        if new == 0 and x <= allowed_change(f, x, max_rel_change, 0):
            return n + 1
        allowed = allowed_change(f, x, max_rel_change)
        if allowed == 0 or n >= 10_000:
            return math.inf
        x = min(new, x + allowed) if new > x else max(new, x - allowed)
        n += 1
    return n


# --- checking a whole proposed struct, with reasons ---


@dataclass(frozen=True)
class Refusal:
    """Why the contracts would refuse a change of one field."""

    field: str  # "<group>.<field>"
    message: str

    def __str__(self) -> str:
        return self.message


def check_bounds(group: str, new: Sequence[int]) -> list[Refusal]:
    """Hard bounds of every field, then the cross-field rules (risk.params, the contracts')."""
    cls = GROUPS[group]
    out = []
    for f, v in zip(cls.FIELDS, new, strict=True):
        if not f.lo <= v <= f.hi:
            out.append(
                Refusal(
                    f"{group}.{f.name}",
                    f"{group}.{f.name} = {format_value(f, v)} outside allowed range "
                    f"{f.describe_range()}",
                )
            )
    if not out:
        try:
            cls.from_chain(new).validate()
        except ParamError as exc:
            name = str(exc).split(" ", 1)[0]
            out.append(Refusal(name, str(exc)))
    return out


def check_rate_limit(
    group: str,
    old: Sequence[int],
    new: Sequence[int],
    max_rel_change: int,
    min_interval: int,
    last_updates: Sequence[int],
    at: int,
) -> list[Refusal]:
    """The rate limit of every changed field, as param_guard._check_field applies it at `at`.

    Args:
        old, new: the struct in force and the proposed one (chain units).
        max_rel_change: 1e18 = 100% of the current value (of the upper bound if it is 0).
        min_interval: seconds between two changes of one field.
        last_updates: per field, the time it last changed (0: never).
        at: when the change would execute (a proposal's eta).
    """
    out = []
    for i, f in enumerate(GROUPS[group].FIELDS):
        o, n = int(old[i]), int(new[i])
        if n == o or not is_rate_limited(group, f.name):
            continue
        name = f"{group}.{f.name}"
        last = int(last_updates[i])
        if too_recent(last, min_interval, at):
            ready = last + min_interval
            out.append(
                Refusal(
                    name,
                    f"{name} changed too recently: last change {_when(last)}, at most one "
                    f"change per {min_interval} s, so it may next change at {_when(ready)} "
                    f"({ready - at} s after this change could execute)",
                )
            )
            continue
        allowed = allowed_change(f, o, max_rel_change, n)
        if abs(n - o) > allowed:
            lo, hi = max(f.lo, o - allowed), min(f.hi, o + allowed)
            basis = (
                "of the current value" if o != 0 and n != 0 else "of the upper bound (from or to 0)"
            )
            out.append(
                Refusal(
                    name,
                    f"{name}: change {format_value(f, o)} -> {format_value(f, n)} exceeds the "
                    f"rate limit: at most {format_value(f, allowed)} per change "
                    f"({max_rel_change / WAD:.4g} {basis}), so between {format_value(f, lo)} "
                    f"and {format_value(f, hi)} now; larger moves need steps at least "
                    f"{min_interval} s apart",
                )
            )
    return out


def format_value(f: Field, raw: int) -> str:
    """A chain value in the field's human units, as the messages show it."""
    return format_human(f.to_human(int(raw)))


def format_human(v: Any) -> str:
    return f"{v:.10g}" if isinstance(v, float) else str(v)


def _when(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
