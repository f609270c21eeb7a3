"""The simulation's chain: agents' transactions queued and mined one block per step,
state read in batches.

Two backends with one interface (`start`, `call`, `mine(timestamp) -> BlockResult`):

- anvil: `onchain.blocks.BlockBuilder` (one JSON-RPC batch per block, fee-ordered);
- ape's embedded chain (`EmbeddedBlocks`, below): the same signed transactions sent one
  at a time through the in-process node, highest tip first. py-evm mines every transaction
  in its own block, so the k-th transaction of a step is stamped `timestamp + k`; reverted
  ones are replayed as a call on the block before them to read their reason. A step with
  more transactions than seconds in a step runs the chain's clock ahead of the model's
  until a quieter step lets it catch up: on hourly steps, the set-up block of more than
  about 1,200 agents (three transactions each) does.

Agents' keys are derived from the seed on both chains (`derived_keys`), so a seed's
agents have the same addresses everywhere; `open_chain` funds them with
`anvil_setBalance` on anvil, and with ether transfers from ape's test accounts on the
embedded chain (which has no balance cheat code).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from eth_hash.auto import keccak

from onchain.blocks import (
    DEFAULT_GAS_LIMIT,
    BlockResult,
    TxOutcome,
    TxQueue,
    TxRequest,
    _Signer,
    decode_revert,
)
from onchain.deployment import Deployment
from onchain.rpc import BatchReader, RpcUnavailable, ViewCall
from sims.config import SimConfigError

ETH = 10**18
AGENT_ETH = 1_000 * ETH  # each agent's gas money
EMBEDDED_RESERVE = 1_000 * ETH  # what each of ape's test accounts keeps for itself
# the contracts agents send to and whose events the builders decode, by Chain's names
AGENT_CONTRACTS = ("market", "pool", "token", "oracle", "config", "timelock")


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
            keys, contracts, revert_reasons=revert_reasons, gas_limits=gas_limits,
            default_gas=default_gas,
        )  # fmt: skip
        self.web3 = provider.web3
        self.chain = chain

    def start(self) -> EmbeddedBlocks:
        self.chain_id = self.web3.eth.chain_id
        head = self.web3.eth.get_block("latest")
        self.chain_time, self.block_number = head["timestamp"], head["number"]
        for s in self.signers:
            self.nonces[s] = self.web3.eth.get_transaction_count(_checksum(s))
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
        deployment: the contracts (onchain.deployment.Deployment).
        blocks: a BlockBuilder (anvil) or EmbeddedBlocks (ape's chain), started.
        reader: a BatchReader on the node's RPC endpoint; None reads through ape.
    """

    def __init__(self, deployment: Deployment, blocks: Any, reader: BatchReader | None):
        self.d = deployment
        self.blocks = blocks
        self.reader = reader
        self.contracts = {name: getattr(deployment, name) for name in AGENT_CONTRACTS}
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

    def close(self) -> None:
        """Drop anything still queued and give the node back its mining mode (nothing to
        give back when the node is gone: Ctrl-C stops anvil with its parent, and the
        interrupt, not the closed connection, is what the caller should see)."""
        self.blocks.queue.clear()
        try:
            self.blocks.stop()
        except RpcUnavailable:
            pass

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


def open_chain(
    kind: str,
    provider: Any,
    deployment: Deployment,
    test_accounts: list[Any],
    n: int,
    seed: int,
    multicall: str | None = None,
) -> tuple[Chain, list[str]]:
    """The agents' side of a run: n keys derived from the seed, funded, and a started
    block builder on the deployed protocol.

    Args:
        kind: "anvil" (`BlockBuilder`, one JSON-RPC batch per block) or "embedded"
            (`EmbeddedBlocks` on ape's in-process chain).
        provider: ape's connected provider.
        test_accounts: ape's test accounts; the first is the deployer (the admin agents'
            sender); on the embedded chain they also pay for the agents' gas money.
        multicall: Multicall runtime code for state reads by override (anvil only).

    Returns:
        the Chain (close it with `close()`), and the agents' addresses.

    Raises:
        SimConfigError: the embedded chain's test accounts cannot fund n agents.
    """
    from ape import onchain as ape_chain

    deployer = test_accounts[0]
    keys = derived_keys(seed, n)
    contracts = [getattr(deployment, name) for name in AGENT_CONTRACTS]
    agent_keys = [k.private_key for k in keys]
    builder: Any
    if kind == "anvil":
        from onchain.blocks import BlockBuilder

        builder = BlockBuilder(
            provider.uri, [deployer.private_key, *agent_keys], contracts, revert_reasons=True
        )
        builder.rpc.batch([("anvil_setBalance", [k.address, hex(AGENT_ETH)]) for k in keys])
        reader = BatchReader(provider.uri, multicall_code=multicall)
        builder.start()
    else:
        funders = list(test_accounts)
        builder = EmbeddedBlocks(
            provider, ape_chain, [a.private_key for a in funders] + agent_keys, contracts
        )
        builder.start()
        _fund_from(builder, [str(a.address) for a in funders], [k.address for k in keys])
        reader = None
    return Chain(deployment, builder, reader), [k.address for k in keys]


def _fund_from(builder: EmbeddedBlocks, funders: list[str], agents: list[str]) -> None:
    """Give each agent AGENT_ETH, or an equal share of what the funders can spare."""
    if not agents:
        return
    spare = [max(0, builder.web3.eth.get_balance(_checksum(f)) - EMBEDDED_RESERVE) for f in funders]
    # sum(b // each) >= sum(b) / each - len(funders) >= len(agents): every agent is paid
    each = min(AGENT_ETH, sum(spare) // (len(agents) + len(funders)))
    if each < ETH:
        raise SimConfigError(
            f"agents: ape's test accounts can spare {sum(spare) / ETH:,.0f} ETH, under 1 ETH "
            f"each for {len(agents)} agents; use --chain anvil or fewer agents"
        )
    it = iter(agents)
    for funder, budget in zip(funders, spare, strict=True):
        for _ in range(budget // each):
            to = next(it, None)
            if to is None:
                break
            builder.transfer_eth(funder, to, each)
    result = builder.mine(builder.chain_time + 1)
    failed = [o for o in result.outcomes if not o.ok]
    if failed:
        raise RuntimeError(f"funding the agents: {failed[0].error or failed[0].reason}")
