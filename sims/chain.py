"""The simulation's chain: agents' transactions queued and mined one block per step,
state read in batches.

Two backends with one interface (`start`, `call`, `mine(timestamp) -> BlockResult`):

- anvil: `sims.blocks.BlockBuilder` (one JSON-RPC batch per block, fee-ordered);
- ape's embedded chain (`EmbeddedBlocks`, below): the same signed transactions sent one
  at a time through the in-process node, highest tip first. py-evm mines every transaction
  in its own block, so the k-th transaction of a step is stamped `timestamp + k`; reverted
  ones are replayed as a call on the block before them to read their reason.

Agents' keys: on anvil, any number of keys derived from the seed and funded with
`anvil_setBalance`; on the embedded chain, ape's test accounts (set by ape-config.yaml).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from eth_hash.auto import keccak

from sims.blocks import (
    DEFAULT_GAS_LIMIT,
    GAS_LIMITS,
    BlockBuilder,
    BlockResult,
    Encoder,
    EventDecoder,
    TxOutcome,
    TxRequest,
    _Signer,
    decode_revert,
)
from sims.deployment import Deployment
from sims.rpc import BatchReader, ViewCall

ETH = 10**18


@dataclass(frozen=True)
class Key:
    """One agent's account: its address and private key (hex)."""

    address: str
    private_key: str


def derived_keys(seed: int, n: int) -> list[Key]:
    """n keys from the seed: keccak("optsim", seed, i), each a valid secp256k1 key."""
    keys = []
    i = 0
    while len(keys) < n:
        raw = keccak(b"optsim" + seed.to_bytes(8, "big") + i.to_bytes(8, "big"))
        i += 1
        try:
            signer = _Signer(raw)
        except ValueError:  # not below the curve order (probability ~2^-128)
            continue
        keys.append(Key(signer.address, "0x" + raw.hex()))
    return keys


class EmbeddedBlocks:
    """BlockBuilder's interface on ape's in-process chain (see the module docstring)."""

    def __init__(
        self,
        provider: Any,
        chain: Any,
        keys: Iterable[str | bytes],
        contracts: Iterable[Any] = (),
        *,
        revert_reasons: bool = True,
        gas_limits: dict[str, int] | None = None,
        default_gas: int = DEFAULT_GAS_LIMIT,
    ):
        self.web3 = provider.web3
        self.chain = chain
        self.signers = {s.address.lower(): s for s in (_Signer(k) for k in keys)}
        self.encoder = Encoder()
        self.decoder = EventDecoder(contracts)
        self.revert_reasons = revert_reasons
        self.gas_limits = {**GAS_LIMITS, **(gas_limits or {})}
        self.default_gas = default_gas
        self.queue: list[TxRequest] = []
        self.nonces: dict[str, int] = {}
        self.chain_id = 0
        self.chain_time = 0
        self.block_number = 0

    def start(self) -> EmbeddedBlocks:
        self.chain_id = self.web3.eth.chain_id
        head = self.web3.eth.get_block("latest")
        self.chain_time, self.block_number = head["timestamp"], head["number"]
        for s in self.signers:
            self.nonces[s] = self.web3.eth.get_transaction_count(_checksum(s))
        return self

    def stop(self) -> None:
        self.queue.clear()

    add = BlockBuilder.add
    call = BlockBuilder.call

    def mine(self, timestamp: int) -> BlockResult:
        """Send the queue one transaction per py-evm block, stamped from `timestamp` on (or
        just after the last block, when a big previous step ran past `timestamp`)."""
        queue, self.queue = self.queue, []
        t0 = time.perf_counter()
        order = sorted(range(len(queue)), key=lambda i: -queue[i].tip)  # stable: ties by arrival
        outcomes: list[TxOutcome | None] = [None] * len(queue)
        ts = max(timestamp, self.chain_time + 1)
        for position, i in enumerate(order):
            t = queue[i]
            sender = t.sender.lower()
            base_fee = self.web3.eth.get_block("latest").get("baseFeePerGas", 0)
            data = bytes.fromhex(t.data[2:] if t.data.startswith("0x") else t.data)
            nonce = self.nonces[sender]
            raw = self.signers[sender].sign(
                self.chain_id, nonce, t.tip, 2 * base_fee + t.tip, t.gas, t.to, t.value, data
            )
            o = TxOutcome(t, "0x" + keccak(raw).hex())
            outcomes[i] = o
            self.chain.pending_timestamp = ts
            try:
                tx_hash = self.web3.eth.send_raw_transaction(raw)
            except Exception as exc:  # rejected by the node: nothing mined
                o.error = str(exc)[:200]
                self.nonces[sender] = self.web3.eth.get_transaction_count(_checksum(sender))
                continue
            self.nonces[sender] = nonce + 1
            rec = self.web3.eth.get_transaction_receipt(tx_hash)
            o.status = int(rec["status"])
            o.gas_used = int(rec["gasUsed"])
            o.effective_gas_price = int(rec.get("effectiveGasPrice", 0))
            o.position = position
            o.events = [
                e for e in (self.decoder.decode(_plain_log(log)) for log in rec["logs"]) if e
            ]
            if o.status == 0:
                o.reason = self._reason(t, rec["blockNumber"]) if self.revert_reasons else None
            ts += 1
        head = self.web3.eth.get_block("latest")
        self.chain_time, self.block_number = head["timestamp"], head["number"]
        timings = {"sign": 0.0, "send": time.perf_counter() - t0, "mine": 0.0}
        return BlockResult(self.block_number, self.chain_time, 0, list(outcomes), timings)  # type: ignore[arg-type]

    def _reason(self, t: TxRequest, block: int) -> str:
        try:
            self.web3.eth.call(
                {"from": _checksum(t.sender), "to": _checksum(t.to), "data": t.data, "gas": t.gas},
                block - 1,
            )
        except Exception as exc:  # the revert we are after
            data = getattr(exc, "data", None)
            if isinstance(data, str) and data.startswith("0x"):
                return decode_revert(data)
            return str(getattr(exc, "message", exc))[:120]
        return "out of gas"


def _checksum(address: str | None) -> Any:
    from eth_utils import to_checksum_address

    return to_checksum_address(address) if address else None


def _plain_log(log: Any) -> dict:
    """A web3 log (AttributeDict of bytes) as the JSON-RPC dict EventDecoder reads."""

    def hx(v: Any) -> str:
        return v if isinstance(v, str) else "0x" + bytes(v).hex()

    return {
        "address": log["address"],
        "topics": [hx(t) for t in log["topics"]],
        "data": hx(log["data"]),
        "logIndex": hex(log["logIndex"]) if isinstance(log["logIndex"], int) else log["logIndex"],
    }


class Chain:
    """Queued actions and batched reads on one deployed protocol.

    Args:
        deployment: the contracts (sims.deployment.Deployment).
        blocks: a BlockBuilder (anvil) or EmbeddedBlocks (ape's chain), started.
        reader: a BatchReader on the node's RPC endpoint; None reads through ape.
    """

    def __init__(self, deployment: Deployment, blocks: Any, reader: BatchReader | None):
        self.d = deployment
        self.blocks = blocks
        self.reader = reader
        self.contracts = {
            "market": deployment.market,
            "pool": deployment.pool,
            "token": deployment.token,
            "oracle": deployment.oracle,
            "config": deployment.config,
            "timelock": deployment.timelock,
        }
        self._by_address = {str(c.address): c for c in self.contracts.values()}

    def send(
        self, sender: str, contract: str, method: str, *args: Any, tip: int = 0,
        label: str | None = None, tag: Any = None,
    ) -> TxRequest:  # fmt: skip
        """Queue contract.method(*args) from `sender` for this step's block."""
        return self.blocks.call(
            sender, self.contracts[contract], method, *args, tip=tip, label=label, tag=tag
        )

    def mine(self, timestamp: int) -> BlockResult:
        return self.blocks.mine(timestamp)

    def view(self, contract: str, method: str, *args: Any) -> ViewCall:
        return ViewCall.of(self.contracts[contract], method, *args)

    def read(self, calls: list[ViewCall]) -> list[Any]:
        """Values of many views at the latest block (one round trip on anvil)."""
        if self.reader is not None:
            return self.reader.call(calls)
        out = []
        for c in calls:
            value = getattr(self._by_address[c.to], c.label)(*c.args)
            out.append(_plain_value(value))
        return out


def _plain_value(value: Any) -> Any:
    """ape's structs and lists as the tuples eth_abi.decode gives (what BatchReader returns)."""
    if isinstance(value, (list, tuple)):
        return tuple(_plain_value(v) for v in value)
    if hasattr(value, "items") and not isinstance(value, dict):  # ape struct
        return tuple(_plain_value(v) for _, v in value.items())
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return value.lower()
    return value
