"""ABI: calldata and return values coded without eth_abi's overhead, and the one cache of
the contracts' method ABIs.

A simulation block reads ~100 views and sends ~50 transactions; eth_abi's generic,
validating codecs cost ~0.1-0.2 ms per value, a third of the reads' time. The calls the
simulation makes take only static arguments (addresses, integers, booleans) and return
integers, addresses, booleans, bytes, tuples of them and dynamic arrays: those are
coded here directly, and anything else falls back to eth_abi. tests/onchain/test_abi.py
checks both against eth_abi.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_hash.auto import keccak

_STATIC_SCALARS = ("uint", "int", "address", "bool")
_TWO_256 = 1 << 256
_TWO_255 = 1 << 255


def _scalar_kind(typ: str) -> str | None:
    for kind in _STATIC_SCALARS:
        if typ.startswith(kind) and (kind != "int" or not typ.startswith("uint")):
            return kind
    return None


def _word(typ: str, value: Any) -> bytes:
    kind = _scalar_kind(typ)
    if kind == "address":
        return bytes(12) + bytes.fromhex(str(value)[2:])
    if kind == "bool":
        return (1 if value else 0).to_bytes(32, "big")
    if kind == "int":
        return (int(value) % _TWO_256).to_bytes(32, "big")
    v = int(value)
    if v < 0:
        raise ValueError(f"{typ}: {v} is negative")
    return v.to_bytes(32, "big")


@lru_cache(maxsize=1024)
def _all_scalars(types: tuple[str, ...]) -> bool:
    return all(_scalar_kind(t) is not None and "[" not in t for t in types)


def encode(types: tuple[str, ...], args: list[Any]) -> bytes:
    """ABI-encode arguments (static scalars directly, anything else through eth_abi)."""
    if _all_scalars(types):
        return b"".join(_word(t, a) for t, a in zip(types, args, strict=True))
    return abi_encode(list(types), args)


def encode_calls(calls: list[tuple[str, bytes]]) -> bytes:
    """ABI-encode one `(address,bytes)[]` argument: Multicall.aggregate's calls."""
    n = len(calls)
    heads, tails, offset = [], [], 32 * n
    for target, data in calls:
        padded = data + bytes(-len(data) % 32)
        item = _word("address", target) + (64).to_bytes(32, "big")
        item += len(data).to_bytes(32, "big") + padded
        heads.append(offset.to_bytes(32, "big"))
        tails.append(item)
        offset += len(item)
    return (32).to_bytes(32, "big") + n.to_bytes(32, "big") + b"".join(heads) + b"".join(tails)


# --- decoding ---


@lru_cache(maxsize=1024)
def _parse(typ: str) -> Any:
    """("scalar", kind, typ) | ("bytes",) | ("tuple", [parts]) | ("array", elem) | None."""
    if typ.endswith("[]"):
        elem = _parse(typ[:-2])
        return None if elem is None else ("array", elem)
    if typ.endswith("]"):  # fixed-size arrays: not used on the hot path
        return None
    if typ.startswith("("):
        parts = [_parse(t) for t in _split_tuple(typ[1:-1])]
        return None if any(p is None for p in parts) else ("tuple", parts)
    if typ in ("bytes", "string"):
        return ("bytes", typ)
    kind = _scalar_kind(typ)
    return None if kind is None else ("scalar", kind)


def _split_tuple(inner: str) -> list[str]:
    out, depth, start = [], 0, 0
    for i, ch in enumerate(inner):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(inner[start:i])
            start = i + 1
    if inner:
        out.append(inner[start:])
    return out


def _is_static(node: Any) -> bool:
    if node[0] == "scalar":
        return True
    if node[0] == "tuple":
        return all(_is_static(p) for p in node[1])
    return False


def _head_size(node: Any) -> int:
    if node[0] == "tuple" and _is_static(node):
        return sum(_head_size(p) for p in node[1])
    return 32


def _at(data: bytes, pos: int) -> int:
    return int.from_bytes(data[pos : pos + 32], "big")


def _decode_node(node: Any, data: bytes, pos: int) -> Any:
    """The value whose head is at `pos` (for a dynamic node, the head holds its offset,
    relative to the enclosing block, which callers resolve before calling)."""
    tag = node[0]
    if tag == "scalar":
        word = data[pos : pos + 32]
        kind = node[1]
        if kind == "address":
            return "0x" + word[12:].hex()  # lower case, as eth_abi gives it
        v = int.from_bytes(word, "big")
        if kind == "int":
            return v - _TWO_256 if v >= _TWO_255 else v
        if kind == "bool":
            return bool(v)
        return v
    if tag == "bytes":
        n = _at(data, pos)
        if pos + 32 + n > len(data):
            raise ValueError(f"{node[1]} of {n} bytes runs past the return data")
        raw = data[pos + 32 : pos + 32 + n]
        return raw.decode() if node[1] == "string" else raw
    if tag == "tuple":
        return _decode_sequence(node[1], data, pos)
    n = _at(data, pos)  # array: length, then its elements as a sequence
    if pos + 32 + n * _head_size(node[1]) > len(data):
        raise ValueError(f"array of {n} runs past the return data")
    return tuple(_decode_sequence([node[1]] * n, data, pos + 32))


def _decode_sequence(nodes: list[Any], data: bytes, start: int) -> tuple:
    out = []
    pos = start
    for node in nodes:
        if _is_static(node):
            out.append(_decode_node(node, data, pos))
        else:
            out.append(_decode_node(node, data, start + _at(data, pos)))
        pos += _head_size(node)
    return tuple(out)


@lru_cache(maxsize=1024)
def _parse_all(types: tuple[str, ...]) -> list[Any] | None:
    nodes = [_parse(t) for t in types]
    return None if any(n is None for n in nodes) else nodes


def decode(types: tuple[str, ...], data: bytes) -> tuple:
    """ABI-decode return data as eth_abi.decode does (addresses in lower case, arrays as
    tuples); types it does not know go through eth_abi."""
    nodes = _parse_all(tuple(types))
    if nodes is None:
        return tuple(abi_decode(list(types), data))
    need = sum(_head_size(n) for n in nodes)
    if len(data) < need:
        raise ValueError(f"{len(data)} bytes of return data, {types} need at least {need}")
    return _decode_sequence(nodes, data, 0)


# --- methods: selectors and types, looked up once ---


@dataclass(frozen=True)
class MethodAbi:
    """What encoding a call and decoding its result needs: selector and canonical types."""

    selector: bytes
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    @classmethod
    def of(cls, abi: Any) -> MethodAbi:
        """From an ethpm MethodABI (``contract_type.methods[i]``)."""
        return cls(
            keccak(abi.selector.encode())[:4],
            tuple(i.canonical_type for i in abi.inputs),
            tuple(o.canonical_type for o in abi.outputs),
        )

    def calldata(self, args: tuple) -> str:
        """Hex calldata: selector + the arguments (ape accounts and contracts as addresses)."""
        return "0x" + (self.selector + encode(self.inputs, [plain(a) for a in args])).hex()


_METHODS: dict[tuple[str, str, int], MethodAbi] = {}  # (source:name, method, arity)


def method_abi(contract_type: Any, method: str, nargs: int) -> MethodAbi:
    """The overload of `method` taking `nargs` arguments in an ethpm ContractType (ape's
    ``contract.contract_type``), looked up once per (contract type, method, arity): through
    ape the lookup costs ~0.5 ms. ValueError naming the method if there is none."""
    key = (f"{contract_type.source_id}:{contract_type.name}", method, nargs)
    found = _METHODS.get(key)
    if found is None:
        abis = [m for m in contract_type.methods if m.name == method]
        if not abis:
            raise ValueError(f"{contract_type.name}.{method}: no such method")
        fits = [a for a in abis if len(a.inputs) == nargs]
        if not fits:
            raise ValueError(
                f"{contract_type.name}.{method}: no overload takes {nargs} argument(s)"
            )
        found = _METHODS[key] = MethodAbi.of(fits[0])
    return found


def calldata(contract: Any, method: str, *args: Any) -> str:
    """Hex calldata of `contract.method(*args)` for an ape contract instance."""
    return method_abi(contract.contract_type, method, len(args)).calldata(args)


def plain(arg: Any) -> Any:
    """ape accounts and contracts become their addresses; sequences are converted inside."""
    if isinstance(arg, (int, str, bytes, bool)):
        return arg
    address = getattr(arg, "address", None)
    if address is not None:
        return str(address)
    if isinstance(arg, (list, tuple)):
        return [plain(a) for a in arg]
    return arg
