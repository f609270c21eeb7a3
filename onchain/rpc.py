"""JSON-RPC: the one transport every part of optsim talks to a node through.

Through ape or web3.py a contract read costs ~10 ms of Python overhead on anvil; the
node itself answers in ~1 ms. The simulation, the keeper bots, the status script and the
stateful tests therefore send raw JSON-RPC, batched, through `JsonRpc`:

- transport failures (connection refused, timeout, HTTP 5xx) are retried with exponential
  back-off when `retries` > 0 (the keeper bots talk to one node for days) and raised as
  `RpcUnavailable` when they persist;
- a JSON-RPC error is the node's answer and is never retried: `call` raises it as
  `RpcError` naming the method, or `CallReverted` with the decoded reason when a call or a
  gas estimate reverts.

`InProcessRpc` gives ape's in-process chain (py-evm, no endpoint) the same `batch`
interface for reads, so one reader serves every chain.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import requests
from eth_abi import decode
from web3.exceptions import ContractLogicError

_ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
_PANIC_SELECTOR = bytes.fromhex("4e487b71")  # Panic(uint256)


class RpcError(RuntimeError):
    """A JSON-RPC call failed; the message names the call."""


class RpcUnavailable(RpcError):
    """The node did not answer (connection refused, timeout, HTTP 5xx) after the retries."""


class CallReverted(RpcError):
    """eth_call or eth_estimateGas reverted; `reason` is the decoded revert message."""

    def __init__(self, method: str, reason: str):
        super().__init__(f"{method} reverted: {reason or '(no reason)'}")
        self.method = method
        self.reason = reason


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
        """One call's result; raises RpcError naming the method (CallReverted for reverts)."""
        (r,) = self.batch([(method, params)])
        return result_of(method, r)


class InProcessRpc:
    """`JsonRpc.batch` for reads on ape's in-process chain (eth_call only, one at a time).

    Args:
        web3: the connected provider's web3 (``provider.web3``).
        caller: a funded address that "sends" the calls (py-evm checks that the sender
            can pay for the call's gas, even in eth_call).
    """

    def __init__(self, web3: Any, caller: str):
        self.web3 = web3
        self.caller = caller

    def batch(self, calls: list[tuple[str, list]]) -> list[dict]:
        out: list[dict[str, Any]] = []
        for method, params in calls:
            if method != "eth_call" or len(params) > 2:
                raise RpcError(f"{method} with {len(params)} parameter(s): not in process")
            tx, block = params
            try:
                raw = self.web3.eth.call({**tx, "from": self.caller}, block)
            except ContractLogicError as exc:  # a revert is the node's answer, as over HTTP
                data = getattr(exc, "data", None)
                error: dict[str, Any] = {"message": f"execution reverted: {exc}"}
                if isinstance(data, str) and data.startswith("0x"):
                    error["data"] = data
                out.append({"error": error})
                continue
            except Exception as exc:  # noqa: BLE001 - anything else is a failed call, named
                raise RpcError(f"{method} in process: {type(exc).__name__}: {exc}") from None
            out.append({"result": "0x" + bytes(raw).hex()})
        return out

    def call(self, method: str, params: list) -> Any:
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
