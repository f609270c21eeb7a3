"""Sending a keeper's transactions: nonces, fees, stuck transactions, signing.

Fees (EIP-1559): max fee = base fee x k + tip, never above the cap. A transaction not
mined after `stuck_after_s` is replaced: the same nonce, the same call, both fees times
`bump` (at least +12.5%, what nodes require of a replacement), at most `max_replacements`
times and never above the cap. Whichever of the hashes lands is the outcome; the nonce is
used exactly once, so the action happens at most once.

Nonces: read once ("pending" count) and then counted locally; re-read when the node says
a nonce is too low. A transaction the node lost (a restart empties its pool) is
broadcast again with the same signed bytes.

Every signed transaction is handed to `on_broadcast` *before* it is sent, so the caller
can persist it (keepers.state): after a crash the keeper follows the recorded
hashes instead of sending again.

Signers: a private key (ape test accounts, or any account exposing `.private_key`)
signs with coincurve (onchain.signer.Signer); any other ape account (keystore accounts,
unlocked with `set_autosign`) signs through ape's `sign_transaction`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from onchain.rpc import CallReverted, JsonRpc, RpcError, RpcUnavailable
from onchain.signer import Signer
from risk.units import GWEI

MIN_BUMP = 1.125
DROP_AFTER_S = 3.0  # a used nonce without a receipt of ours this long: another tx took it


@dataclass(frozen=True)
class GasStrategy:
    """How a keeper pays for gas.

    Attributes:
        base_fee_multiplier: k in max fee = k x base fee + tip (room for the base fee to
            rise while the transaction waits).
        tip_gwei: priority fee.
        max_fee_gwei: the cap on the max fee per gas, replacements included.
        bump: fee factor of a replacement (>= 1.125).
        stuck_after_s: seconds without a receipt before a replacement.
        max_replacements: replacements of one transaction at most.
        gas_margin: gas limit = estimate x margin.
        poll_s: seconds between receipt checks.
        wait_s: seconds to wait for a receipt before handing the transaction back as
            pending (it is followed again at the next iteration).
    """

    base_fee_multiplier: float = 2.0
    tip_gwei: float = 1.0
    max_fee_gwei: float = 100.0
    bump: float = 1.25
    stuck_after_s: float = 30.0
    max_replacements: int = 6
    gas_margin: float = 1.3
    poll_s: float = 0.5
    wait_s: float = 300.0

    def validate(self) -> None:
        checks = [
            ("base_fee_multiplier", self.base_fee_multiplier >= 1, ">= 1"),
            ("tip_gwei", self.tip_gwei >= 0, ">= 0"),
            ("max_fee_gwei", self.max_fee_gwei > 0, "> 0"),
            ("bump", self.bump >= MIN_BUMP, f">= {MIN_BUMP}"),
            ("stuck_after_s", self.stuck_after_s > 0, "> 0"),
            ("max_replacements", self.max_replacements >= 0, ">= 0"),
            ("gas_margin", self.gas_margin >= 1, ">= 1"),
            ("poll_s", self.poll_s > 0, "> 0"),
            ("wait_s", self.wait_s > 0, "> 0"),
        ]
        for name, ok, rule in checks:
            if not ok:
                raise ValueError(f"gas.{name} = {getattr(self, name)}: must be {rule}")
        if self.tip_gwei > self.max_fee_gwei:
            raise ValueError(f"gas.tip_gwei = {self.tip_gwei}: above max_fee_gwei")

    @property
    def cap(self) -> int:
        return int(self.max_fee_gwei * GWEI)

    def fees(self, base_fee: int) -> tuple[int, int]:
        """(max fee, tip) in wei for a new transaction at this base fee."""
        tip = int(self.tip_gwei * GWEI)
        max_fee = min(self.cap, int(base_fee * self.base_fee_multiplier) + tip)
        return max_fee, min(tip, max_fee)

    def bumped(self, max_fee: int, tip: int) -> tuple[int, int] | None:
        """Fees of a replacement, or None when the cap leaves no room for +12.5%."""
        new_max = min(self.cap, math.ceil(max_fee * self.bump))
        new_tip = min(new_max, max(tip + 1, math.ceil(tip * self.bump)))
        if new_max < math.ceil(max_fee * MIN_BUMP) or new_tip < math.ceil(tip * MIN_BUMP):
            return None
        return new_max, new_tip


# --- signers ---


class KeySigner:
    """Signs with a private key (coincurve; identical bytes to eth-account's)."""

    def __init__(self, key: str | bytes):
        self._signer = Signer(key)
        self.address = self._signer.address

    def sign(
        self, chain_id: int, nonce: int, tip: int, max_fee: int, gas: int, to: str, data: str
    ) -> bytes:
        payload = bytes.fromhex(data[2:] if data.startswith("0x") else data)
        return self._signer.sign(chain_id, nonce, tip, max_fee, gas, to, 0, payload)


class ApeAccountSigner:
    """Signs through an ape account's `sign_transaction` (keystore accounts: call
    ``account.set_autosign(True)`` first, or ape asks to confirm every transaction)."""

    def __init__(self, account: Any, ecosystem: Any):
        self.account = account
        self.ecosystem = ecosystem
        self.address = str(account.address)

    def sign(
        self, chain_id: int, nonce: int, tip: int, max_fee: int, gas: int, to: str, data: str
    ) -> bytes:
        txn = self.ecosystem.create_transaction(
            chain_id=chain_id,
            nonce=nonce,
            max_priority_fee=tip,
            max_fee=max_fee,
            gas_limit=gas,
            receiver=to,
            value=0,
            data=bytes.fromhex(data[2:] if data.startswith("0x") else data),
            type=2,
            sender=self.address,
        )
        signed = self.account.sign_transaction(txn)
        if signed is None:
            raise RuntimeError(f"account {self.address} refused to sign")
        return bytes(signed.serialize_transaction())


def signer_for(account: Any, ecosystem: Any = None) -> KeySigner | ApeAccountSigner:
    """The fast key signer when the ape account exposes its key, else ape's signing."""
    key = getattr(account, "private_key", None)
    if key:
        return KeySigner(key)
    if ecosystem is None:
        raise ValueError(f"account {account}: no private key and no ecosystem to sign with")
    return ApeAccountSigner(account, ecosystem)


# --- sending ---


@dataclass
class TxResult:
    """What became of one call.

    status: "mined" (succeeded), "reverted" (mined, failed), "pending" (still waiting:
    follow it later), "dropped" (its nonce was used by a transaction this keeper did not
    record), "rejected" (the node refused it: funds, fees), "dry_run" (not sent).
    """

    status: str
    nonce: int | None = None
    tx_hash: str | None = None  # the hash that landed (or the latest one sent)
    hashes: list[str] = field(default_factory=list)
    block: int | None = None
    gas_used: int = 0
    effective_gas_price: int = 0
    reason: str = ""
    replacements: int = 0
    logs: list[dict] = field(default_factory=list)


@dataclass
class InFlight:
    """A transaction on its way: everything needed to re-sign, re-send or follow it."""

    nonce: int
    to: str
    data: str
    gas: int
    max_fee: int
    tip: int
    label: str = ""
    hashes: list[str] = field(default_factory=list)
    raw: str = ""
    replacements: int = 0

    def record(self) -> dict[str, Any]:
        return {
            "nonce": self.nonce,
            "to": self.to,
            "data": self.data,
            "gas": self.gas,
            "max_fee": self.max_fee,
            "tip": self.tip,
            "label": self.label,
            "hashes": list(self.hashes),
            "raw": self.raw,
            "replacements": self.replacements,
        }

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> InFlight:
        return cls(
            nonce=int(rec["nonce"]),
            to=rec["to"],
            data=rec["data"],
            gas=int(rec["gas"]),
            max_fee=int(rec["max_fee"]),
            tip=int(rec["tip"]),
            label=rec.get("label", ""),
            hashes=list(rec.get("hashes", [])),
            raw=rec.get("raw", ""),
            replacements=int(rec.get("replacements", 0)),
        )


OnBroadcast = Callable[[InFlight], None]


class Sender:
    """One account's transactions, one at a time, on one chain."""

    def __init__(
        self,
        rpc: JsonRpc,
        signer: KeySigner | ApeAccountSigner,
        chain_id: int,
        gas: GasStrategy,
        *,
        metrics: Any = None,
        log: Any = None,
        stop: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        gas.validate()
        self.rpc = rpc
        self.signer = signer
        self.address = signer.address
        self.chain_id = chain_id
        self.gas = gas
        self.metrics = metrics
        self.log = log
        self.stop = stop or threading.Event()
        self.clock = clock
        self.sleep = sleep
        self.next_nonce: int | None = None
        self._nonce_used_since: dict[int, float] = {}  # nonce -> when seen used without receipt

    # --- reads ---

    def base_fee(self) -> int:
        block = self.rpc.call("eth_getBlockByNumber", ["latest", False])
        return int(block.get("baseFeePerGas") or "0x0", 16)

    def balance(self) -> int:
        return int(self.rpc.call("eth_getBalance", [self.address, "latest"]), 16)

    def sync_nonce(self) -> int:
        self.next_nonce = int(
            self.rpc.call("eth_getTransactionCount", [self.address, "pending"]), 16
        )
        return self.next_nonce

    def estimate(self, to: str, data: str) -> int:
        """Gas the call needs now; raises CallReverted when it would revert (the simulation
        every action goes through before it is sent)."""
        tx = {"from": self.address, "to": to, "data": data}
        est = self.rpc.call("eth_estimateGas", [tx, "latest"])  # the mined state, as decided
        return int(est, 16)

    # --- sending ---

    def send(
        self, to: str, data: str, gas: int, *, label: str = "", on_broadcast: OnBroadcast
    ) -> TxResult:
        """Sign, broadcast and wait for one call; replaces it while it is stuck."""
        if self.next_nonce is None:
            self.sync_nonce()
        base = self.base_fee()
        max_fee, tip = self.gas.fees(base)
        if max_fee < base:
            return TxResult("rejected", reason=f"base fee {base / GWEI:.3f} gwei above the cap")
        tx = InFlight(self.next_nonce or 0, to, data, gas, max_fee, tip, label)
        for _ in range(2):  # a second time only after a "nonce too low" resync
            error = self._broadcast(tx, on_broadcast)
            if error is None:
                break
            if "nonce too low" in error or "already used" in error:
                tx.nonce = self.sync_nonce()
                tx.hashes = []
                continue
            self._note("tx_rejected", label=label, reason=error)
            self._inc("tx_rejected")
            return TxResult("rejected", nonce=tx.nonce, hashes=list(tx.hashes), reason=error)
        else:
            return TxResult("rejected", nonce=tx.nonce, reason="nonce kept moving")
        self.next_nonce = tx.nonce + 1
        self._inc("tx_sent")
        self._note(
            "tx_sent", label=label, nonce=tx.nonce, tx=tx.hashes[-1], max_fee=max_fee, tip=tip
        )
        return self.wait(tx, on_broadcast)

    def follow(self, rec: dict[str, Any], on_broadcast: OnBroadcast) -> TxResult:
        """Wait for a transaction recorded earlier (this run or before a restart)."""
        tx = InFlight.from_record(rec)
        if self.next_nonce is None or self.next_nonce <= tx.nonce:
            self.next_nonce = max(tx.nonce + 1, self.sync_nonce())
        return self.wait(tx, on_broadcast)

    def _broadcast(self, tx: InFlight, on_broadcast: OnBroadcast) -> str | None:
        """Sign and send `tx` at its current fees; the node's error message, or None."""
        raw = self.signer.sign(self.chain_id, tx.nonce, tx.tip, tx.max_fee, tx.gas, tx.to, tx.data)
        from eth_hash.auto import keccak

        tx.raw = "0x" + raw.hex()
        tx.hashes.append("0x" + keccak(raw).hex())
        on_broadcast(tx)  # persisted before it can land
        try:
            self.rpc.call("eth_sendRawTransaction", [tx.raw])
        except RpcUnavailable:
            return None  # it may have arrived; `wait` re-sends it if the node lacks it
        except RpcError as exc:
            text = str(exc).lower()
            if "already known" in text or "known transaction" in text:
                return None
            tx.hashes.pop()
            return str(exc)
        return None

    def wait(self, tx: InFlight, on_broadcast: OnBroadcast) -> TxResult:
        """Poll for a receipt of any of the transaction's hashes, replacing it while stuck."""
        start = last_send = self.clock()
        while True:
            try:
                result = self._check(tx)
                if result is not None:
                    return result
                if self.clock() - last_send >= self.gas.stuck_after_s:
                    last_send = self.clock()
                    self._replace(tx, on_broadcast)
            except RpcUnavailable as exc:
                self._inc("rpc_errors")
                self._note("rpc_unavailable", level="warning", while_="waiting", error=str(exc))
            waited = self.clock() - start
            if waited >= self.gas.wait_s or (self.stop.is_set() and waited >= 2 * self.gas.poll_s):
                return TxResult(
                    "pending",
                    nonce=tx.nonce,
                    tx_hash=tx.hashes[-1] if tx.hashes else None,
                    hashes=list(tx.hashes),
                    replacements=tx.replacements,
                )
            self.sleep(self.gas.poll_s)

    def _check(self, tx: InFlight) -> TxResult | None:
        calls: list[tuple[str, list]] = [("eth_getTransactionCount", [self.address, "latest"])]
        calls += [("eth_getTransactionReceipt", [h]) for h in tx.hashes]
        if tx.hashes:
            calls.append(("eth_getTransactionByHash", [tx.hashes[-1]]))
        rs = self.rpc.batch(calls)
        for r in rs:
            if "error" in r:
                raise RpcError(f"following nonce {tx.nonce}: {r['error']}")
        used = int(rs[0]["result"], 16)
        receipts = [r.get("result") for r in rs[1 : 1 + len(tx.hashes)]]
        for h, rec in zip(tx.hashes, receipts, strict=True):
            if rec:
                return self._outcome(tx, h, rec)
        if used > tx.nonce:
            # a node may count the nonce before it serves the receipt: wait to be sure
            first = self._nonce_used_since.setdefault(tx.nonce, self.clock())
            if self.clock() - first < DROP_AFTER_S:
                return None
            self._inc("tx_dropped")
            self._note("tx_dropped", level="warning", nonce=tx.nonce, hashes=tx.hashes)
            self.sync_nonce()
            return TxResult(
                "dropped",
                nonce=tx.nonce,
                hashes=list(tx.hashes),
                reason="nonce used by another transaction",
            )
        known = rs[-1].get("result") if tx.hashes else None
        if known is None and tx.raw:  # the node lost it (restarted): the same bytes again
            try:
                self.rpc.call("eth_sendRawTransaction", [tx.raw])
                self._inc("tx_rebroadcast")
                self._note("tx_rebroadcast", nonce=tx.nonce, tx=tx.hashes[-1])
            except RpcError as exc:
                if not isinstance(exc, RpcUnavailable) and "known" not in str(exc).lower():
                    self._note("rebroadcast_refused", level="warning", error=str(exc))
        return None

    def _replace(self, tx: InFlight, on_broadcast: OnBroadcast) -> None:
        if tx.replacements >= self.gas.max_replacements:
            return
        fees = self.gas.bumped(tx.max_fee, tx.tip)
        if fees is None:
            self._note("at_fee_cap", level="warning", nonce=tx.nonce, max_fee=tx.max_fee)
            return
        old = (tx.max_fee, tx.tip)
        tx.max_fee, tx.tip = fees
        error = self._broadcast(tx, on_broadcast)
        if error is not None:
            tx.max_fee, tx.tip = old
            self._note("replacement_refused", level="warning", nonce=tx.nonce, reason=error)
            return
        tx.replacements += 1
        self._inc("tx_replaced")
        self._note("tx_replaced", nonce=tx.nonce, tx=tx.hashes[-1], max_fee=tx.max_fee, tip=tx.tip)

    def _outcome(self, tx: InFlight, tx_hash: str, rec: dict) -> TxResult:
        status = int(rec["status"], 16)
        result = TxResult(
            "mined" if status == 1 else "reverted",
            nonce=tx.nonce,
            tx_hash=tx_hash,
            hashes=list(tx.hashes),
            block=int(rec["blockNumber"], 16),
            gas_used=int(rec["gasUsed"], 16),
            effective_gas_price=int(rec.get("effectiveGasPrice") or "0x0", 16),
            replacements=tx.replacements,
            logs=list(rec.get("logs", [])),
        )
        if status == 0:
            result.reason = self.revert_reason(tx, tx_hash, result.block or 0, result.gas_used)
            self._inc("tx_reverted")
        else:
            self._inc("tx_mined")
        if self.next_nonce is None or self.next_nonce <= tx.nonce:
            self.next_nonce = tx.nonce + 1
        return result

    def revert_reason(self, tx: InFlight, tx_hash: str, block: int, gas_used: int) -> str:
        """Why a mined transaction failed: the node's trace API (anvil, erigon), else the
        call replayed on the state after its block."""
        if gas_used >= tx.gas:
            return "out of gas"
        from onchain.rpc import decode_revert

        try:
            data = self.rpc.call("ots_getTransactionError", [tx_hash])
            if data and data != "0x":
                return decode_revert(data)
        except RpcError:
            pass
        try:
            self.rpc.call(
                "eth_call", [{"from": self.address, "to": tx.to, "data": tx.data}, hex(block)]
            )
        except CallReverted as exc:
            return exc.reason
        except RpcError as exc:
            return f"(reason unavailable: {exc})"
        return ""

    # --- reporting ---

    def _inc(self, name: str) -> None:
        if self.metrics is not None:
            self.metrics.inc(name)

    def _note(self, event: str, level: str = "info", **fields: Any) -> None:
        if self.log is not None:
            fields = {k.rstrip("_"): v for k, v in fields.items()}
            getattr(self.log, level)(event, extra=fields)
