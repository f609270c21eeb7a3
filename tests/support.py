"""What several test modules share: constants and small helpers (fixtures live in the
conftest.py files)."""

from __future__ import annotations

ZERO = "0x" + "00" * 20


def fields(log, *names) -> tuple:
    """Event arguments by name (a log's own `timestamp` attribute is its block's)."""
    return tuple(log.event_arguments[n] for n in names)


def with_field(values, index: int, value: int) -> tuple:
    """A struct (tuple) with one field replaced."""
    new = list(values)
    new[index] = value
    return tuple(new)
