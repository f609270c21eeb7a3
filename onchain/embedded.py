"""ape's in-process chain (py-evm) behind the block builder's interface.

The same signed transactions as on anvil are sent one at a time through the in-process
node, highest tip first. py-evm mines every transaction in its own block, so the k-th
transaction of a step is stamped `timestamp + k`; reverted ones are replayed as a call on
the block before them to read their reason. A step with more transactions than seconds
in a step runs the chain's clock ahead of the model's until a quieter step lets it catch
up: on hourly steps, the set-up block of more than about 1,200 agents (three
transactions each) does.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from eth_hash.auto import keccak

from onchain.blocks import DEFAULT_GAS_LIMIT, BlockResult, TxOutcome, TxQueue, TxRequest
from onchain.events import checksum
from onchain.rpc import decode_revert


class EmbeddedBlocks(TxQueue):
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
        super().__init__(
            keys,
            contracts,
            revert_reasons=revert_reasons,
            gas_limits=gas_limits,
            default_gas=default_gas,
        )
        self.web3 = provider.web3
        self.chain = chain

    def start(self) -> EmbeddedBlocks:
        self.chain_id = self.web3.eth.chain_id
        head = self.web3.eth.get_block("latest")
        self.chain_time, self.block_number = head["timestamp"], head["number"]
        for s in self.signers:
            self.nonces[s] = self.web3.eth.get_transaction_count(checksum_or_none(s))
        return self

    def stop(self) -> None:
        self.queue.clear()

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
                self.nonces[sender] = self.web3.eth.get_transaction_count(checksum_or_none(sender))
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
                {
                    "from": checksum_or_none(t.sender),
                    "to": checksum_or_none(t.to),
                    "data": t.data,
                    "gas": t.gas,
                },
                block - 1,
            )
        except Exception as exc:  # the revert we are after
            data = getattr(exc, "data", None)
            if isinstance(data, str) and data.startswith("0x"):
                return decode_revert(data)
            return str(getattr(exc, "message", exc))[:120]
        return "out of gas"


def checksum_or_none(address: str | None) -> Any:
    """The EIP-55 form of an address, None for None (a deployment's `to`)."""
    return checksum(address) if address else None


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
