"""JSON-RPC for the keeper bots: retries with back-off, reverts decoded, the contracts' ABIs.

A keeper talks to one node for days. Transport failures (the node restarting, a timeout,
an HTTP 5xx) are retried with exponential back-off and, when they persist, raised as
`RpcUnavailable` so the bot's loop can wait and try again later; a JSON-RPC error is the
node's answer and is raised at once (`CallReverted` when a call or gas estimate reverts,
with the decoded reason).

`Contracts` holds the deployment's addresses and ABIs (ethpm ContractTypes from ape's
project, no connection needed) and gives calldata, batched view reads in the shape
onchain.rpc.BatchReader returns, and decoded event logs.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from onchain.blocks import Event, EventDecoder, decode_revert
from onchain.rpc import JsonRpc, MethodAbi, RpcError, RpcUnavailable, ViewCall, pick_overload

__all__ = ["CallReverted", "Contracts", "LiveChain", "Rpc", "RpcError", "RpcUnavailable"]


class CallReverted(RpcError):
    """eth_call or eth_estimateGas reverted; `reason` is the decoded revert message."""

    def __init__(self, method: str, reason: str):
        super().__init__(f"{method} reverted: {reason or '(no reason)'}")
        self.reason = reason


class Rpc(JsonRpc):
    """A node's JSON-RPC endpoint for a long-running bot: three retries by default, and
    `call` raises CallReverted with the decoded reason when a call or estimate reverts."""

    def __init__(self, uri: str, *, timeout: float = 10.0, retries: int = 3, **kwargs: Any):
        super().__init__(uri, timeout=timeout, retries=retries, **kwargs)

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
    """Addresses and ABIs of the deployed contracts, by the names onchain.deployment records.

    Args:
        addresses: name -> address ("market", "oracle", "config", ...).
        contract_types: name -> ethpm ContractType (``project.OptionMarket.contract_type``).
    """

    def __init__(self, addresses: dict[str, str], contract_types: dict[str, Any]):
        self.addresses = {n: str(a) for n, a in addresses.items() if n in contract_types}
        self.types = contract_types
        self._methods: dict[tuple[str, str, int], MethodAbi] = {}
        self.decoder = EventDecoder(
            SimpleNamespace(address=self.addresses[n], contract_type=contract_types[n])
            for n in self.addresses
        )

    def _method(self, name: str, method: str, nargs: int) -> MethodAbi:
        key = (name, method, nargs)
        found = self._methods.get(key)
        if found is None:
            abis = [m for m in self.types[name].methods if m.name == method]
            found = self._methods[key] = pick_overload(abis, f"{name}.{method}", nargs)
        return found

    def calldata(self, name: str, method: str, *args: Any) -> str:
        return self._method(name, method, len(args)).calldata(args)

    def view(self, name: str, method: str, *args: Any) -> ViewCall:
        m = self._method(name, method, len(args))
        return ViewCall(self.addresses[name], m.calldata(args), m.outputs, method, args)

    def decode_log(self, log: dict) -> Event | None:
        return self.decoder.decode(log)


class LiveChain:
    """The `view` / `read` interface onchain.accounts.AccountIndex reads through, on a node."""

    def __init__(self, rpc: Rpc, contracts: Contracts):
        self.rpc = rpc
        self.contracts = contracts

    def view(self, name: str, method: str, *args: Any) -> ViewCall:
        return self.contracts.view(name, method, *args)

    def read(self, calls: list[ViewCall], block: str = "latest") -> list[Any]:
        """Values of many views in one batch; a revert raises CallReverted naming the view."""
        rs = self.rpc.batch([("eth_call", [{"to": c.to, "data": c.data}, block]) for c in calls])
        return [c.decode(result_of(c.label, r)) for c, r in zip(calls, rs, strict=True)]

    def read_lenient(self, calls: list[ViewCall], block: str = "latest") -> list[Any]:
        """As `read`, with None for the views that revert (is_liquidatable on a stale oracle)."""
        rs = self.rpc.batch([("eth_call", [{"to": c.to, "data": c.data}, block]) for c in calls])
        out: list[Any] = []
        for c, r in zip(calls, rs, strict=True):
            try:
                out.append(c.decode(result_of(c.label, r)))
            except CallReverted:
                out.append(None)
        return out
