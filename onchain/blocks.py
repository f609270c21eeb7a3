"""One simulation step = one block: the step's transactions are signed, sent and mined together.

Through ape a transaction costs ~30 ms of Python overhead on anvil; the node itself needs
well under a millisecond for a token transfer. The builder therefore talks raw JSON-RPC:

1. `add()` queues `TxRequest`s for the current block (calldata from `Encoder`);
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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import coincurve
from eth_abi import decode
from eth_hash.auto import keccak
from eth_utils import to_checksum_address

from onchain.rpc import JsonRpc, RpcError, decode_revert, method_abi

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

__all__ = ["BlockBuilder", "BlockResult", "Encoder", "Event", "EventDecoder", "TxOutcome",
           "TxQueue", "TxRequest", "decode_revert", "sign_transaction"]  # fmt: skip


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


@dataclass(frozen=True)
class Event:
    """A decoded log: the event's name and its arguments by name (ape's names and types)."""

    name: str
    args: dict[str, Any]
    address: str
    log_index: int


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


# --- calldata ---


class Encoder:
    """Calldata from an ape contract instance, a method name and arguments.

    The ABI lookup through ape costs ~0.5 ms; onchain.rpc.method_abi does it once per
    (contract, method, arity) and the arguments are then encoded by onchain.abi alone.
    """

    def calldata(self, contract: Any, method: str, *args: Any) -> str:
        return method_abi(contract, method, len(args)).calldata(args)


# --- events ---


@lru_cache(maxsize=4096)
def _checksum(address: str) -> str:
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
        return lambda w: _checksum("0x" + w[12:].hex())
    if typ == "bool":
        return lambda w: w != bytes(32)
    if typ.startswith("bytes") and typ[5:].isdigit():
        size = int(typ[5:])
        return lambda w: w[:size]
    return None


def _as_ape(value: Any, typ: str) -> Any:
    """eth_abi's values as ape gives them: checksummed addresses, lists for arrays."""
    if typ == "address":
        return _checksum(value)
    if typ == "address[]" and isinstance(value, tuple):
        return [_checksum(v) for v in value]
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
        return Event(spec.name, args, _checksum(log["address"]), int(log["logIndex"], 16))


# --- signing ---


def _rlp_bytes(b: bytes) -> bytes:
    if len(b) == 1 and b[0] < 0x80:
        return b
    return _rlp_prefix(len(b), 0x80) + b


def _rlp_int(i: int) -> bytes:
    return _rlp_bytes(i.to_bytes((i.bit_length() + 7) // 8, "big")) if i else b"\x80"


def _rlp_prefix(length: int, offset: int) -> bytes:
    """RLP length prefix: offset 0x80 for byte strings, 0xc0 for lists."""
    if length <= 55:
        return bytes([offset + length])
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([offset + 55 + len(size)]) + size


def _rlp_list(items: list[bytes]) -> bytes:
    payload = b"".join(items)
    return _rlp_prefix(len(payload), 0xC0) + payload


class _Signer:
    """EIP-1559 signing with coincurve: ~0.25 ms per transaction against eth-account's ~1.5 ms.

    The bytes are identical to eth_account's (tests/sims/test_block_signing.py checks it).
    """

    def __init__(self, key: str | bytes):
        raw = (
            bytes.fromhex(key[2:] if key.startswith("0x") else key) if isinstance(key, str) else key
        )
        self.key = coincurve.PrivateKey(raw)
        public = self.key.public_key.format(compressed=False)[1:]
        self.address = to_checksum_address(keccak(public)[-20:])

    def sign(
        self,
        chain_id: int,
        nonce: int,
        tip: int,
        max_fee: int,
        gas: int,
        to: str | None,
        value: int,
        data: bytes,
    ) -> bytes:
        # pyrlp's generic encoder took half the signing time; the fields are fixed here
        to_bytes = bytes.fromhex(to[2:]) if to else b""
        fields = [
            _rlp_int(chain_id),
            _rlp_int(nonce),
            _rlp_int(tip),
            _rlp_int(max_fee),
            _rlp_int(gas),
            _rlp_bytes(to_bytes),
            _rlp_int(value),
            _rlp_bytes(data),
            b"\xc0",  # empty access list
        ]
        digest = keccak(b"\x02" + _rlp_list(fields))
        sig = self.key.sign_recoverable(digest, hasher=None)
        r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big")
        return b"\x02" + _rlp_list([*fields, _rlp_int(sig[64]), _rlp_int(r), _rlp_int(s)])


def sign_transaction(key: str | bytes, chain_id: int, nonce: int, req: TxRequest, max_fee: int):
    """Signed raw EIP-1559 transaction bytes of `req` (for tests and one-off use)."""
    data = bytes.fromhex(req.data[2:] if req.data.startswith("0x") else req.data)
    return _Signer(key).sign(chain_id, nonce, req.tip, max_fee, req.gas, req.to, req.value, data)


# --- the builder ---


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
        self.signers = {s.address.lower(): s for s in (_Signer(k) for k in keys)}
        self.encoder = Encoder()
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
        label = label or method
        return self.add(
            TxRequest(
                sender=str(getattr(sender, "address", sender)),
                to=str(contract.address),
                data=self.encoder.calldata(contract, method, *args),
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
        uri: the node's JSON-RPC endpoint (ape-foundry's ``provider.uri`` or any anvil).
        keys, contracts, revert_reasons, gas_limits, default_gas: see `TxQueue`
            (revert reasons cost one extra batch per block with reverts; ~1-3 ms per
            reverted transaction on anvil).
        fit_gas_limit: raise the node's block gas limit so every block's transactions fit.

    Use as a context manager, or call `start()` and `stop()`.
    """

    def __init__(
        self,
        uri: str,
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
            keys, contracts, revert_reasons=revert_reasons, gas_limits=gas_limits,
            default_gas=default_gas,
        )  # fmt: skip
        self.uri = uri
        self.rpc = JsonRpc(uri, timeout=timeout)
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
