"""JSON-RPC over HTTP, and batched contract reads: many eth_calls in one round trip.

Through ape or web3.py a contract read costs ~10 ms of Python overhead on anvil; the
node itself answers in ~1 ms. The simulation, the keeper bots and the stateful tests read
dozens of values per step, so calls are encoded by onchain.abi from a cached ABI lookup and
sent as one JSON-RPC batch (or one Multicall) by the one transport here (`JsonRpc`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from eth_abi import decode
from eth_hash.auto import keccak

from onchain import abi

_ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
_PANIC_SELECTOR = bytes.fromhex("4e487b71")  # Panic(uint256)

# where the reader puts the Multicall's code through eth_call's state override ("optsim")
MULTICALL_ADDRESS = "0x00000000000000000000000000006f707473696d"
MULTICALL_MAX_CALLS = 256  # contracts/Multicall.vy's bounds
MULTICALL_MAX_CALLDATA = 260
MULTICALL_MAX_RETURN = 2_048


class RpcError(RuntimeError):
    """A JSON-RPC call failed; the message names the call."""


class RpcUnavailable(RpcError):
    """The node did not answer (connection refused, timeout, HTTP 5xx) after the retries."""


class JsonRpc:
    """A JSON-RPC endpoint over HTTP: batches, with optional retries of transport failures.

    Args:
        uri: the node's HTTP endpoint.
        timeout: seconds per HTTP request.
        retries: attempts after the first one when the transport fails (a JSON-RPC error
            is the node's answer and is never retried).
        backoff: seconds before the first retry; doubled each time up to `max_backoff`.
        on_retry: called with the exception before each retry (metrics, logs).
    """

    def __init__(
        self,
        uri: str,
        *,
        timeout: float = 30.0,
        retries: int = 0,
        backoff: float = 0.2,
        max_backoff: float = 5.0,
        on_retry: Callable[[Exception], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.uri = uri
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.on_retry = on_retry
        self.sleep = sleep
        self.session = requests.Session()
        self.session.trust_env = False  # loopback and explicit URLs: no proxy lookup (0.5 ms)

    def batch(self, calls: list[tuple[str, list]]) -> list[dict]:
        """Send calls as one batch; the raw responses (dicts with result or error) in order."""
        if not calls:
            return []
        body = json.dumps(
            [
                {"jsonrpc": "2.0", "id": i, "method": m, "params": p}
                for i, (m, p) in enumerate(calls)
            ]
        )
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                resp = self.session.post(
                    self.uri,
                    data=body,
                    headers={"Content-Type": "application/json"},
                    timeout=self.timeout,
                )
                if resp.status_code >= 500:
                    raise RpcUnavailable(f"{self.uri}: HTTP {resp.status_code}")
                resp.raise_for_status()
                out = resp.json()
                break
            except (requests.ConnectionError, requests.Timeout, RpcUnavailable) as exc:
                if attempt == self.retries:
                    raise RpcUnavailable(
                        f"{self.uri} unreachable after {self.retries + 1} attempt(s) "
                        f"({calls[0][0]}): {type(exc).__name__}"
                    ) from None
                if self.on_retry is not None:
                    self.on_retry(exc)
                self.sleep(delay)
                delay = min(self.max_backoff, delay * 2)
        if not isinstance(out, list):  # a whole-batch error
            raise RpcError(f"batch of {len(calls)} ({calls[0][0]}...): {out.get('error', out)}")
        by_id = {r.get("id"): r for r in out}
        return [by_id.get(i, {"error": {"message": "no response"}}) for i in range(len(calls))]

    def call(self, method: str, params: list) -> Any:
        """One call's result; raises RpcError naming the method on a JSON-RPC error."""
        (r,) = self.batch([(method, params)])
        if "error" in r:
            raise RpcError(f"{method}: {r['error']}")
        return r.get("result")


def decode_revert(data: str | bytes | None) -> str:
    """A revert's return data as text: Error(string) -> its message, Panic -> "panic 0x..".

    Empty data (a bare `assert`, or vyper's own checks) gives "".
    """
    if isinstance(data, str):
        data = bytes.fromhex(data[2:] if data.startswith("0x") else data)
    if not data:
        return ""
    if data[:4] == _ERROR_SELECTOR:
        try:
            return decode(["string"], data[4:])[0]
        except Exception:  # malformed Error(string): show the bytes
            return "0x" + data.hex()
    if data[:4] == _PANIC_SELECTOR and len(data) >= 36:
        return f"panic {hex(int.from_bytes(data[4:36], 'big'))}"
    return "0x" + data.hex()


# --- ABI lookups ---


@dataclass(frozen=True)
class MethodAbi:
    """What encoding a call and decoding its result needs: selector and canonical types."""

    selector: bytes
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    @classmethod
    def of(cls, abi: Any) -> MethodAbi:
        """From an ethpm MethodABI (ape's `handler.abis[i]` or `contract_type.methods[i]`)."""
        return cls(
            keccak(abi.selector.encode())[:4],
            tuple(i.canonical_type for i in abi.inputs),
            tuple(o.canonical_type for o in abi.outputs),
        )

    def calldata(self, args: tuple) -> str:
        return "0x" + (self.selector + abi.encode(self.inputs, [_plain(a) for a in args])).hex()


def pick_overload(abis: Any, method: str, nargs: int) -> MethodAbi:
    """The overload of `method` taking `nargs` arguments; ValueError naming it if none."""
    found = [a for a in abis if len(a.inputs) == nargs]
    if not found:
        raise ValueError(f"{method}: no overload takes {nargs} argument(s)")
    return MethodAbi.of(found[0])


_METHODS: dict[tuple[str, str, int], MethodAbi] = {}


def method_abi(contract: Any, method: str, nargs: int) -> MethodAbi:
    """The ABI of an ape contract instance's method, looked up through ape once (~0.5 ms)."""
    key = (str(contract.address), method, nargs)
    found = _METHODS.get(key)
    if found is None:
        found = _METHODS[key] = pick_overload(getattr(contract, method).abis, method, nargs)
    return found


def _plain(arg: Any) -> Any:
    """ape accounts and contracts become their addresses; sequences are converted inside."""
    if isinstance(arg, (int, str, bytes, bool)):
        return arg
    address = getattr(arg, "address", None)
    if address is not None:
        return str(address)
    if isinstance(arg, (list, tuple)):
        return [_plain(a) for a in arg]
    return arg


# --- reads ---


@dataclass(frozen=True)
class ViewCall:
    """One encoded read: target, calldata and the output types to decode."""

    to: str
    data: str
    out_types: tuple[str, ...]
    label: str  # the method's name
    args: tuple = ()  # the arguments, for reading through ape where there is no RPC endpoint

    @classmethod
    def of(cls, contract: Any, method: str, *args: Any) -> ViewCall:
        """Encode `contract.method(*args)` from an ape contract instance's ABI."""
        m = method_abi(contract, method, len(args))
        return cls(str(contract.address), m.calldata(args), m.outputs, method, args)

    def decode(self, result: str | bytes) -> Any:
        """The call's return data (hex or bytes) decoded (a single value unwrapped)."""
        raw = bytes.fromhex(result[2:]) if isinstance(result, str) else result
        values = abi.decode(self.out_types, raw)
        return values[0] if len(values) == 1 else values


_AGGREGATE = MethodAbi(
    keccak(b"aggregate((address,bytes)[])")[:4], ("(address,bytes)[]",), ("(bool,bytes)[]",)
)


class BatchReader:
    """Read many ViewCalls in one HTTP round trip and decode the results.

    Args:
        uri: the node's endpoint (or a JsonRpc).
        multicall_code: the runtime code of contracts/Multicall.vy. With it, up to 256
            reads go into one eth_call that runs that code through a state override (one
            EVM context on the node instead of one per read, about 5x less node time on
            anvil); without it, or when the node refuses overrides, one eth_call per read,
            all in one JSON-RPC batch.
    """

    def __init__(
        self, uri: str | JsonRpc, timeout: float = 30.0, multicall_code: str | None = None
    ):
        self.rpc = uri if isinstance(uri, JsonRpc) else JsonRpc(uri, timeout=timeout)
        self.multicall_code = multicall_code

    def call(self, calls: list[ViewCall], block: str = "latest") -> list[Any]:
        if self.multicall_code and calls:
            try:
                return self._multicall(calls, block)
            except _OverrideRefused:
                self.multicall_code = None  # this node has no state overrides: read plainly
        responses = self.rpc.batch(
            [("eth_call", [{"to": c.to, "data": c.data}, block]) for c in calls]
        )
        out = []
        for c, r in zip(calls, responses, strict=True):
            if "error" in r:
                raise RpcError(f"{c.label}: {r['error']}")
            out.append(c.decode(r["result"]))
        return out

    def _multicall(self, calls: list[ViewCall], block: str) -> list[Any]:
        for c in calls:
            if len(c.data) > 2 + 2 * MULTICALL_MAX_CALLDATA:
                raise ValueError(f"{c.label}: calldata above {MULTICALL_MAX_CALLDATA} bytes")
        override = {MULTICALL_ADDRESS: {"code": self.multicall_code}}
        chunks = [
            calls[i : i + MULTICALL_MAX_CALLS] for i in range(0, len(calls), MULTICALL_MAX_CALLS)
        ]
        batch = []
        for chunk in chunks:
            args = abi.encode_calls([(c.to, bytes.fromhex(c.data[2:])) for c in chunk])
            data = "0x" + (_AGGREGATE.selector + args).hex()
            batch.append(("eth_call", [{"to": MULTICALL_ADDRESS, "data": data}, block, override]))
        out = []
        for chunk, r in zip(chunks, self.rpc.batch(batch), strict=True):
            if "error" in r:
                error = r["error"]
                if "override" in str(error).lower() or error.get("code") == -32602:
                    raise _OverrideRefused(str(error))
                raise RpcError(f"multicall of {len(chunk)} reads ({chunk[0].label}, ...): {error}")
            (results,) = abi.decode(_AGGREGATE.outputs, bytes.fromhex(r["result"][2:]))
            for c, (ok, raw) in zip(chunk, results, strict=True):
                if not ok:
                    raise RpcError(f"{c.label}: execution reverted: {decode_revert(raw)}")
                if len(raw) >= MULTICALL_MAX_RETURN:
                    raise RpcError(f"{c.label}: answer may be cut at {MULTICALL_MAX_RETURN} bytes")
                out.append(c.decode(raw))
        return out


def multicall_code(project: Any) -> str:
    """The runtime code of contracts/Multicall.vy from an ape project (for BatchReader)."""
    return str(project.Multicall.contract_type.runtime_bytecode.bytecode)


class _OverrideRefused(RpcError):
    """The node does not take eth_call state overrides."""
