"""One simulation step = one block: the step's transactions are signed, sent and mined together.

Through ape a transaction costs ~30 ms of Python overhead on anvil; the node itself needs
well under a millisecond for a token transfer. The builder therefore talks raw JSON-RPC:

1. `add()` queues `TxRequest`s for the current block (calldata from onchain.abi);
2. `mine(timestamp)` signs every request locally (EIP-1559, explicit nonces tracked per
   sender), sends them as ONE batch of ``eth_sendRawTransaction``, mines exactly one block
   with ``evm_mine [{"timestamp": ts, "blocks": 1}]``, and reads all receipts and the block
   header in one more batch (``eth_getBlockReceipts``);
3. reverted transactions get their reason from ``ots_getTransactionError`` (one batch, only
   for the reverted ones, only if asked for); events are decoded with the contracts' ABIs.

Anvil behaviours this relies on (checked against anvil 1.7.1, see tests/e2e/test_blocks.py):

- with ``--order fees`` (the default) anvil orders the pool by the transaction's *max fee
  per gas*, not by its tip; transactions with equal max fee keep their arrival order. The
  builder sets max fee = 2 x base fee + tip, so within a block (one base fee) a higher tip
  means a higher max fee and an earlier position: keepers compete on tips as on mainnet.
  A sender's own transactions always stay in nonce order.
- ``evm_mine`` with a timestamp equal to the previous block's is accepted; an earlier one is
  an error, so `mine` refuses it before sending anything.
- a transaction whose gas limit does not fit the block's remaining gas stays in the pool;
  the builder raises the node's block gas limit to twice the block's total gas limits (twice,
  so blocks stay under the EIP-1559 target and the base fee never grows), and any accepted
  transaction that still was not mined is dropped from the pool and reported, so nothing
  leaks into the next step's block.

While a builder is started automine is off: send nothing through ape until `stop()`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from eth_hash.auto import keccak

from onchain.abi import calldata
from onchain.events import Event, EventDecoder
from onchain.rpc import JsonRpc, RpcError, decode_revert
from onchain.signer import Signer

# Conservative gas limits per label, from benchmarks/protocol_chain.py (trade adding the
# 5th position 0.99M with the pool's book valued in it, liquidating a 5-position account
# 1.62M, settling 104k) with headroom for bigger books. A transaction that runs out of
# gas is reported as reason "out of gas".
GAS_LIMITS: dict[str, int] = {
    "transfer": 80_000,
    "approve": 80_000,
    "mint": 100_000,
    "deposit": 200_000,
    "pool_deposit": 2_000_000,  # values the pool's book (pool_state) before minting shares
    "redeem": 10_000_000,  # values and margins the pool's whole book: 2.2M-3.1M measured
    "withdraw": 4_000_000,
    "trade": 6_000_000,  # a reducing trade on 8 positions values the book twice: ~3.5M
    "liquidate": 8_000_000,  # two 8-position books valued: the account and the keeper
    "settle": 400_000,
    "push": 600_000,
}
DEFAULT_GAS_LIMIT = 1_000_000


@dataclass(frozen=True)
class TxRequest:
    """One transaction an agent wants in the current block.

    Attributes:
        sender: address of the signing account (its key must be known to the builder).
        to: target address; None deploys `data` as init code.
        data: hex calldata (``0x`` + selector + arguments).
        gas: gas limit.
        tip: max priority fee per gas, in wei; a higher tip lands earlier in the block.
        label: what the transaction does ("trade", "liquidate"); used for gas and tallies.
        tag: anything the caller wants back with the outcome (an agent id).
        value: wei sent along.
    """

    sender: str
    to: str | None
    data: str
    gas: int
    tip: int = 0
    label: str = ""
    tag: Any = None
    value: int = 0


@dataclass
class TxOutcome:
    """What became of one request.

    `status` is 1 (success) or 0 (reverted) for mined transactions and None for those the
    node rejected at submission (`error` says why) or that were not mined in the block.
    """

    request: TxRequest
    tx_hash: str
    status: int | None = None
    gas_used: int = 0
    effective_gas_price: int = 0
    position: int | None = None  # index in the block
    events: list[Event] = field(default_factory=list)
    reason: str | None = None  # revert reason, when asked for (or "out of gas")
    error: str | None = None  # submission error or "not mined"

    @property
    def ok(self) -> bool:
        return self.status == 1

    @property
    def reverted(self) -> bool:
        return self.status == 0

    @property
    def rejected(self) -> bool:
        return self.status is None


@dataclass
class BlockResult:
    """One mined block: an outcome per request (in the order they were added) and totals."""

    number: int
    timestamp: int
    base_fee: int
    outcomes: list[TxOutcome]
    timings: dict[str, float]  # seconds: sign, send, mine, receipts, reasons
    foreign_txs: int = 0  # transactions in the block that this builder did not send

    @property
    def gas_used(self) -> int:
        return sum(o.gas_used for o in self.outcomes)

    @property
    def mined(self) -> int:
        return sum(o.status is not None for o in self.outcomes)

    @property
    def reverts(self) -> int:
        return sum(o.reverted for o in self.outcomes)

    @property
    def rejected(self) -> int:
        return sum(o.rejected for o in self.outcomes)

    def events(self, name: str | None = None) -> Iterator[tuple[TxOutcome, Event]]:
        """Every decoded event of the block (of one name if given), with its transaction."""
        for o in self.outcomes:
            for ev in o.events:
                if name is None or ev.name == name:
                    yield o, ev

    def event_counts(self) -> Counter:
        return Counter(ev.name for _, ev in self.events())

    def revert_reasons(self) -> Counter:
        return Counter(o.reason or "" for o in self.outcomes if o.reverted)


# --- the builder ---# --- the builder ---


class TxQueue:
    """What both chains' builders share: the senders' keys, calldata and event codecs,
    gas limits by label, and the queue of the current step's transactions.

    Args:
        keys: private keys of every sender (ape test accounts expose ``.private_key``).
        contracts: ape contract instances whose events are decoded from receipts.
        revert_reasons: fetch the reason of every reverted transaction.
        gas_limits: gas limit by label, for `call()` when no gas is given.
    """

    def __init__(
        self,
        keys: Iterable[str | bytes],
        contracts: Iterable[Any] = (),
        *,
        revert_reasons: bool = False,
        gas_limits: dict[str, int] | None = None,
        default_gas: int = DEFAULT_GAS_LIMIT,
    ):
        self.signers = {s.address.lower(): s for s in (Signer(k) for k in keys)}
        self.decoder = EventDecoder(contracts)
        self.revert_reasons = revert_reasons
        self.gas_limits = {**GAS_LIMITS, **(gas_limits or {})}
        self.default_gas = default_gas
        self.nonces: dict[str, int] = {}
        self.queue: list[TxRequest] = []
        self.chain_id = 0
        self.chain_time = 0  # timestamp of the last block
        self.block_number = 0

    def add(self, tx: TxRequest) -> TxRequest:
        if tx.sender.lower() not in self.signers:
            raise ValueError(f"no key for sender {tx.sender} ({tx.label})")
        self.queue.append(tx)
        return tx

    def call(
        self,
        sender: Any,
        contract: Any,
        method: str,
        *args: Any,
        tip: int = 0,
        label: str | None = None,
        tag: Any = None,
        gas: int | None = None,
        value: int = 0,
    ) -> TxRequest:
        """Queue `contract.method(*args)` from `sender` (an ape account or an address)."""
        data = calldata(contract, method, *args)
        return self.send_data(
            sender,
            str(contract.address),
            data,
            label or method,
            tip=tip,
            tag=tag,
            gas=gas,
            value=value,
        )

    def send_data(
        self,
        sender: Any,
        to: str,
        data: str,
        label: str,
        *,
        tip: int = 0,
        tag: Any = None,
        gas: int | None = None,
        value: int = 0,
    ) -> TxRequest:
        """Queue encoded calldata; the gas limit is the label's (GAS_LIMITS) unless given."""
        return self.add(
            TxRequest(
                sender=str(getattr(sender, "address", sender)),
                to=to,
                data=data,
                gas=gas or self.gas_limits.get(label, self.default_gas),
                tip=tip,
                label=label,
                tag=tag,
                value=value,
            )
        )

    def transfer_eth(self, sender: str, to: str, value: int) -> TxRequest:
        """Queue a plain ether transfer (21,000 gas)."""
        return self.add(TxRequest(sender, to, "0x", 21_000, label="fund", value=value))


class BlockBuilder(TxQueue):
    """Collect a step's transactions and mine them as one block on anvil.

    Args:
        rpc: the node's JSON-RPC endpoint (ape-foundry's ``provider.uri`` or any anvil), or
            a JsonRpc to share with a reader.
        keys, contracts, revert_reasons, gas_limits, default_gas: see `TxQueue`
            (revert reasons cost one extra batch per block with reverts; ~1-3 ms per
            reverted transaction on anvil).
        fit_gas_limit: raise the node's block gas limit so every block's transactions fit.

    Use as a context manager, or call `start()` and `stop()`.
    """

    def __init__(
        self,
        rpc: str | JsonRpc,
        keys: Iterable[str | bytes],
        contracts: Iterable[Any] = (),
        *,
        revert_reasons: bool = False,
        gas_limits: dict[str, int] | None = None,
        default_gas: int = DEFAULT_GAS_LIMIT,
        fit_gas_limit: bool = True,
        timeout: float = 120.0,
    ):
        super().__init__(
            keys,
            contracts,
            revert_reasons=revert_reasons,
            gas_limits=gas_limits,
            default_gas=default_gas,
        )
        self.rpc = rpc if isinstance(rpc, JsonRpc) else JsonRpc(rpc, timeout=timeout)
        self.uri = self.rpc.uri
        self.fit_gas_limit = fit_gas_limit
        self.base_fee = 0
        self.block_gas_limit = 0
        self._restore: list[tuple[str, list]] = []
        self._started = False

    # --- lifecycle ---

    def start(self) -> BlockBuilder:
        """Automine and interval mining off; chain id, base fee, gas limit, nonces read once."""
        if self._started:
            return self
        automine, interval = (
            r.get("result")
            for r in self.rpc.batch([("anvil_getAutomine", []), ("anvil_getIntervalMining", [])])
        )
        if automine:
            self.rpc.call("evm_setAutomine", [False])
            self._restore.append(("evm_setAutomine", [True]))
        if interval:  # anvil --block-time: blocks would be mined behind our back
            self.rpc.call("evm_setIntervalMining", [0])
            self._restore.append(("evm_setIntervalMining", [interval]))
        senders = list(self.signers)
        calls = [("eth_chainId", []), ("eth_getBlockByNumber", ["latest", False])]
        calls += [("eth_getTransactionCount", [s, "pending"]) for s in senders]
        rs = self.rpc.batch(calls)
        for r in rs:
            if "error" in r:
                raise RpcError(f"start: {r['error']}")
        self.chain_id = int(rs[0]["result"], 16)
        self._read_header(rs[1]["result"])
        self.nonces = {s: int(r["result"], 16) for s, r in zip(senders, rs[2:], strict=True)}
        self._started = True
        return self

    def stop(self) -> None:
        """Put automine / interval mining back as they were (ape needs automine)."""
        if self._started and self.queue:
            raise RuntimeError(f"{len(self.queue)} queued transaction(s) not mined")
        while self._restore:
            self.rpc.call(*self._restore.pop())
        self._started = False

    def __enter__(self) -> BlockBuilder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.queue.clear()
        self.stop()

    def _read_header(self, block: dict) -> None:
        self.block_number = int(block["number"], 16)
        self.chain_time = int(block["timestamp"], 16)
        self.base_fee = int(block.get("baseFeePerGas") or "0x0", 16)
        self.block_gas_limit = int(block["gasLimit"], 16)

    # --- one block ---

    def mine(self, timestamp: int) -> BlockResult:
        """Sign and send the queued transactions, mine one block at `timestamp`, read receipts."""
        if not self._started:
            self.start()
        if timestamp < self.chain_time:
            raise ValueError(f"timestamp {timestamp} before the last block's {self.chain_time}")
        queue, self.queue = self.queue, []
        timings = {"sign": 0.0, "send": 0.0, "mine": 0.0, "receipts": 0.0, "reasons": 0.0}

        total_gas = sum(t.gas for t in queue)
        if self.fit_gas_limit and 2 * total_gas > self.block_gas_limit:
            self.block_gas_limit = 2 * total_gas
            self.rpc.call("evm_setBlockGasLimit", [hex(self.block_gas_limit)])

        t0 = time.perf_counter()
        outcomes, raws = [], []
        fee = 2 * self.base_fee
        for t in queue:
            sender = t.sender.lower()
            nonce = self.nonces[sender]
            self.nonces[sender] = nonce + 1
            data = bytes.fromhex(t.data[2:] if t.data.startswith("0x") else t.data)
            raw = self.signers[sender].sign(
                self.chain_id, nonce, t.tip, fee + t.tip, t.gas, t.to, t.value, data
            )
            raws.append("0x" + raw.hex())
            outcomes.append(TxOutcome(t, "0x" + keccak(raw).hex()))
        t1 = time.perf_counter()
        sent = self.rpc.batch([("eth_sendRawTransaction", [r]) for r in raws])
        resync: set[str] = set()
        for o, r in zip(outcomes, sent, strict=True):
            if "error" in r:
                o.error = str(r["error"].get("message", r["error"]))
                resync.add(o.request.sender.lower())
        t2 = time.perf_counter()
        self.rpc.call("evm_mine", [{"timestamp": timestamp, "blocks": 1}])
        t3 = time.perf_counter()
        block_r, receipts_r = self.rpc.batch(
            [("eth_getBlockByNumber", ["latest", False]), ("eth_getBlockReceipts", ["latest"])]
        )
        if "error" in block_r or "error" in receipts_r:
            raise RpcError(f"reading block: {block_r.get('error') or receipts_r.get('error')}")
        self._read_header(block_r["result"])
        by_hash = {r["transactionHash"]: r for r in receipts_r["result"] or []}
        foreign = len(by_hash)
        stray = []
        for o in outcomes:
            if o.error is not None:
                continue
            rec = by_hash.get(o.tx_hash)
            if rec is None:  # accepted but left in the pool: drop it, the step is over
                o.error = "not mined in this block"
                stray.append(o.tx_hash)
                resync.add(o.request.sender.lower())
                continue
            foreign -= 1
            o.status = int(rec["status"], 16)
            o.gas_used = int(rec["gasUsed"], 16)
            o.effective_gas_price = int(rec["effectiveGasPrice"], 16)
            o.position = int(rec["transactionIndex"], 16)
            o.events = [e for e in map(self.decoder.decode, rec["logs"]) if e is not None]
            if o.status == 0 and o.gas_used >= o.request.gas:
                o.reason = "out of gas"
        t4 = time.perf_counter()
        if stray:
            self.rpc.batch([("anvil_dropTransaction", [h]) for h in stray])
        if resync:
            order = sorted(resync)
            counts = self.rpc.batch([("eth_getTransactionCount", [s, "pending"]) for s in order])
            for s, r in zip(order, counts, strict=True):
                if "error" in r:
                    raise RpcError(f"nonce of {s}: {r['error']}")
                self.nonces[s] = int(r["result"], 16)
        if self.revert_reasons:
            self._fill_reasons([o for o in outcomes if o.reverted and o.reason is None])
        t5 = time.perf_counter()
        timings.update(sign=t1 - t0, send=t2 - t1, mine=t3 - t2, receipts=t4 - t3, reasons=t5 - t4)
        return BlockResult(
            self.block_number, self.chain_time, self.base_fee, outcomes, timings, foreign
        )

    def _fill_reasons(self, reverted: list[TxOutcome]) -> None:
        """Revert data of each reverted transaction, one batch (anvil replays each one)."""
        if not reverted:
            return
        rs = self.rpc.batch([("ots_getTransactionError", [o.tx_hash]) for o in reverted])
        for o, r in zip(reverted, rs, strict=True):
            if "error" in r:
                o.reason = f"(reason unavailable: {r['error'].get('message', r['error'])})"
            else:
                o.reason = decode_revert(r.get("result"))
