"""JSON-RPC for the keeper bots: retries with back-off, reverts decoded, the contracts' ABIs.

A keeper talks to one node for days. Transport failures (the node restarting, a timeout,
an HTTP 5xx) are retried with exponential back-off and, when they persist, raised as
`RpcUnavailable` so the bot's loop can wait and try again later; a JSON-RPC error is the
node's answer and is raised at once (`CallReverted` when a call or gas estimate reverts,
with the decoded reason).

`Contracts` holds the deployment's addresses and ABIs (ethpm ContractTypes from ape's
project, no connection needed) and gives calldata, batched view reads in the shape
sims.rpc.BatchReader returns, and decoded event logs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import requests
from eth_abi import decode, encode
from eth_hash.auto import keccak

from sims.blocks import Event, EventDecoder, _plain, decode_revert
from sims.rpc import RpcError, ViewCall


class RpcUnavailable(RpcError):
    """The node did not answer (connection refused, timeout, HTTP 5xx) after the retries."""


class CallReverted(RpcError):
    """eth_call or eth_estimateGas reverted; `reason` is the decoded revert message."""

    def __init__(self, method: str, reason: str):
        super().__init__(f"{method} reverted: {reason or '(no reason)'}")
        self.reason = reason


class Rpc:
    """A JSON-RPC endpoint over HTTP.

    Args:
        uri: the node's HTTP endpoint.
        timeout: seconds per HTTP request.
        retries: attempts after the first one when the transport fails.
        backoff: seconds before the first retry; doubled each time up to `max_backoff`.
        on_retry: called with the exception before each retry (metrics, logs).
    """

    def __init__(
        self,
        uri: str,
        *,
        timeout: float = 10.0,
        retries: int = 3,
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
        self.session.trust_env = False  # loopback and explicit URLs: no proxy lookups

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
                        f"{self.uri} unreachable after {self.retries + 1} attempts "
                        f"({calls[0][0]}): {type(exc).__name__}"
                    ) from None
                if self.on_retry is not None:
                    self.on_retry(exc)
                self.sleep(delay)
                delay = min(self.max_backoff, delay * 2)
        if not isinstance(out, list):  # a whole-batch error
            raise RpcError(f"batch ({calls[0][0]}...): {out.get('error', out)}")
        by_id = {r.get("id"): r for r in out}
        return [by_id.get(i, {"error": {"message": "no response"}}) for i in range(len(calls))]

    def call(self, method: str, params: list) -> Any:
        """One call's result; raises RpcError (CallReverted for reverts)."""
        (r,) = self.batch([(method, params)])
        return result_of(method, r)


def result_of(method: str, response: dict) -> Any:
    """The result of one response, or the error it carries as an exception."""
    if "error" not in response:
        return response.get("result")
    err = response["error"]
    message = str(err.get("message", err)) if isinstance(err, dict) else str(err)
    data = err.get("data") if isinstance(err, dict) else None
    if isinstance(data, dict):  # some nodes nest it
        data = data.get("data")
    if "revert" in message.lower() or (isinstance(data, str) and data.startswith("0x")):
        reason = decode_revert(data) if isinstance(data, str) and data.startswith("0x") else ""
        if not reason and ":" in message:
            reason = message.split(":", 1)[1].strip()
        raise CallReverted(method, reason)
    raise RpcError(f"{method}: {message}")


# --- the deployment's ABIs ---


class Contracts:
    """Addresses and ABIs of the deployed contracts, by the names sims.deployment records.

    Args:
        addresses: name -> address ("market", "oracle", "config", ...).
        contract_types: name -> ethpm ContractType (``project.OptionMarket.contract_type``).
    """

    def __init__(self, addresses: dict[str, str], contract_types: dict[str, Any]):
        self.addresses = {n: str(a) for n, a in addresses.items() if n in contract_types}
        self.types = contract_types
        self._methods: dict[tuple[str, str, int], tuple[bytes, list[str], tuple[str, ...]]] = {}
        self.decoder = EventDecoder(
            SimpleNamespace(address=self.addresses[n], contract_type=contract_types[n])
            for n in self.addresses
        )

    def _method(self, name: str, method: str, nargs: int) -> tuple[bytes, list[str], tuple]:
        key = (name, method, nargs)
        found = self._methods.get(key)
        if found is None:
            abis = [
                m for m in self.types[name].methods if m.name == method and len(m.inputs) == nargs
            ]
            if not abis:
                raise ValueError(f"{name}.{method}: no overload takes {nargs} argument(s)")
            abi = abis[0]
            found = (
                keccak(abi.selector.encode())[:4],
                [i.canonical_type for i in abi.inputs],
                tuple(o.canonical_type for o in abi.outputs),
            )
            self._methods[key] = found
        return found

    def calldata(self, name: str, method: str, *args: Any) -> str:
        selector, types, _ = self._method(name, method, len(args))
        return "0x" + (selector + encode(types, [_plain(a) for a in args])).hex()

    def view(self, name: str, method: str, *args: Any) -> ViewCall:
        _, _, out = self._method(name, method, len(args))
        data = self.calldata(name, method, *args)
        return ViewCall(self.addresses[name], data, out, method, args)

    def decode_log(self, log: dict) -> Event | None:
        return self.decoder.decode(log)


def decode_result(call: ViewCall, result: str) -> Any:
    """A view's return data as BatchReader gives it (one value unwrapped)."""
    values = decode(list(call.out_types), bytes.fromhex(result[2:]))
    return values[0] if len(values) == 1 else values


class LiveChain:
    """The `view` / `read` interface sims.accounts.AccountIndex reads through, on a node."""

    def __init__(self, rpc: Rpc, contracts: Contracts):
        self.rpc = rpc
        self.contracts = contracts

    def view(self, name: str, method: str, *args: Any) -> ViewCall:
        return self.contracts.view(name, method, *args)

    def read(self, calls: list[ViewCall], block: str = "latest") -> list[Any]:
        """Values of many views in one batch; a revert raises CallReverted naming the view."""
        rs = self.rpc.batch([("eth_call", [{"to": c.to, "data": c.data}, block]) for c in calls])
        return [decode_result(c, result_of(c.label, r)) for c, r in zip(calls, rs, strict=True)]

    def read_lenient(self, calls: list[ViewCall], block: str = "latest") -> list[Any]:
        """As `read`, with None for the views that revert (is_liquidatable on a stale oracle)."""
        rs = self.rpc.batch([("eth_call", [{"to": c.to, "data": c.data}, block]) for c in calls])
        out: list[Any] = []
        for c, r in zip(calls, rs, strict=True):
            try:
                out.append(decode_result(c, result_of(c.label, r)))
            except CallReverted:
                out.append(None)
        return out
