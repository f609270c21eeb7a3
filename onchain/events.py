"""Receipt logs decoded into events with the contracts' ABIs, fast.

eth_abi.decode costs ~40 us a call and every receipt's logs are decoded; all the
protocol's event arguments but strings are single 32-byte words, read here directly.
Values come out as ape gives them (checksummed addresses, lists for arrays).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from eth_abi import decode
from eth_hash.auto import keccak
from eth_utils import to_checksum_address


@dataclass(frozen=True)
class Event:
    """A decoded log: the event's name and its arguments by name (ape's names and types)."""

    name: str
    args: dict[str, Any]
    address: str
    log_index: int


@lru_cache(maxsize=4096)
def checksum(address: str) -> str:
    """The EIP-55 form of an address (cached: events repeat the same few)."""
    return to_checksum_address(address)


def _word_reader(typ: str) -> Callable[[bytes], Any] | None:
    """A decoder of one 32-byte ABI word of a static type, or None for other types.

    eth_abi.decode costs ~40 us a call; events are decoded for every receipt, and all the
    protocol's event arguments but strings are single words.
    """
    if typ.startswith("uint"):
        return lambda w: int.from_bytes(w, "big")
    if typ.startswith("int"):
        return lambda w: int.from_bytes(w, "big", signed=True)
    if typ == "address":
        return lambda w: checksum("0x" + w[12:].hex())
    if typ == "bool":
        return lambda w: w != bytes(32)
    if typ.startswith("bytes") and typ[5:].isdigit():
        size = int(typ[5:])
        return lambda w: w[:size]
    return None


def _as_ape(value: Any, typ: str) -> Any:
    """eth_abi's values as ape gives them: checksummed addresses, lists for arrays."""
    if typ == "address":
        return checksum(value)
    if typ == "address[]" and isinstance(value, tuple):
        return [checksum(v) for v in value]
    if isinstance(value, tuple):
        return list(value)
    return value


@dataclass(frozen=True)
class _EventSpec:
    name: str
    inputs: list[tuple[str, str, bool]]  # name, canonical type, indexed
    readers: list[Callable[[bytes], Any] | None]  # per input; None: decode with eth_abi
    data_fast: bool  # every non-indexed input is one static word


class EventDecoder:
    """Decode receipt logs with the ABIs of the given ape contract instances.

    Keys are (contract address, topic0), so two contracts may declare events with the same
    signature but different indexed arguments. Indexed arguments of dynamic types (strings,
    arrays) are only their hash in the log: they are returned as the raw 32-byte topic.
    """

    def __init__(self, contracts: Iterable[Any] = ()) -> None:
        self._events: dict[tuple[str, str], _EventSpec] = {}
        for c in contracts:
            self.add(c)

    def add(self, contract: Any) -> None:
        address = str(contract.address).lower()
        for abi in contract.contract_type.events:
            if getattr(abi, "anonymous", False):
                continue
            topic0 = "0x" + keccak(abi.selector.encode()).hex()
            inputs = [(i.name, i.canonical_type, bool(i.indexed)) for i in abi.inputs]
            readers = [_word_reader(t) for _, t, _ in inputs]
            fast = all(
                r is not None for r, (_, _, ix) in zip(readers, inputs, strict=True) if not ix
            )
            self._events[(address, topic0)] = _EventSpec(abi.name, inputs, readers, fast)

    def decode(self, log: dict) -> Event | None:
        """An RPC log dict as an Event, or None if its contract or event is unknown."""
        topics = log["topics"]
        if not topics:
            return None
        spec = self._events.get((log["address"].lower(), topics[0].lower()))
        if spec is None:
            return None
        data = bytes.fromhex(log["data"][2:])
        if spec.data_fast:
            words = iter([data[i : i + 32] for i in range(0, len(data), 32)])
            values = None
        else:
            types = [t for _, t, ix in spec.inputs if not ix]
            values = iter(decode(types, data))
        topic_values = iter(topics[1:])
        args: dict[str, Any] = {}
        for (arg_name, typ, indexed), read in zip(spec.inputs, spec.readers, strict=True):
            if indexed:
                raw = bytes.fromhex(next(topic_values)[2:])
                args[arg_name] = read(raw) if read is not None else raw
            elif values is None:
                args[arg_name] = read(next(words))  # type: ignore[misc]
            else:
                args[arg_name] = _as_ape(next(values), typ)
        return Event(spec.name, args, checksum(log["address"]), int(log["logIndex"], 16))
