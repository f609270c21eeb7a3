"""A node in memory for the keepers' unit tests: the JSON-RPC calls the bots make, and
hooks to make it misbehave (never mine, forget its pool, let another transaction take a
nonce, refuse a nonce). Time is a fake clock that `sleep` advances."""

from __future__ import annotations

from typing import Any

import rlp
from eth_hash.auto import keccak

from onchain.rpc import result_of
from risk.units import GWEI


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeNode:
    """eth_* calls over an in-memory pool; `mine_when(tx)` decides what gets mined."""

    def __init__(self, base_fee: int = 10 * GWEI):
        self.base_fee = base_fee
        self.nonce = 0  # the account's confirmed nonce ("latest")
        self.pool: dict[str, bytes] = {}  # hash -> raw
        self.receipts: dict[str, dict] = {}
        self.sent: list[dict[str, Any]] = []  # every accepted broadcast, decoded
        self.mine_when = lambda tx: False  # tx: a decoded broadcast
        self.refuse: str | None = None  # the error message of the next broadcast
        self.blocks: dict[int, str] = {}  # number -> hash, for the bots' reorg checks
        self.head = 0
        self.log_queries: list[tuple[int, int]] = []  # eth_getLogs ranges asked for

    # --- the JSON-RPC interface of onchain.rpc.JsonRpc ---

    def batch(self, calls: list[tuple[str, list]]) -> list[dict]:
        return [self._answer(m, p) for m, p in calls]

    def call(self, method: str, params: list) -> Any:
        return result_of(method, self._answer(method, params))

    def _answer(self, method: str, params: list) -> dict:
        if method == "eth_getTransactionCount":
            pending = self.nonce + len(self.pool)
            return {"result": hex(self.nonce if params[1] == "latest" else pending)}
        if method == "eth_getBlockByNumber":
            number = self.head if params[0] == "latest" else int(params[0], 16)
            block_hash = self.blocks.get(number, "0x" + f"{number:064x}")
            return {
                "result": {
                    "number": hex(number),
                    "hash": block_hash,
                    "timestamp": hex(1_900_000_000 + 12 * number),
                    "baseFeePerGas": hex(self.base_fee),
                }
            }
        if method == "eth_sendRawTransaction":
            return self._receive(bytes.fromhex(params[0][2:]))
        if method == "eth_getTransactionReceipt":
            return {"result": self.receipts.get(params[0])}
        if method == "eth_getTransactionByHash":
            return {"result": {"hash": params[0]} if params[0] in self.pool else None}
        if method == "eth_getLogs":
            q = params[0]
            self.log_queries.append((int(q["fromBlock"], 16), int(q["toBlock"], 16)))
            return {"result": []}
        return {"error": {"message": f"{method} not in the fake node"}}

    def _receive(self, raw: bytes) -> dict:
        if self.refuse is not None:
            message, self.refuse = self.refuse, None
            return {"error": {"code": -32000, "message": message}}
        tx = decode(raw)
        if tx["nonce"] < self.nonce:
            return {"error": {"code": -32000, "message": "nonce too low"}}
        same = [h for h, r in self.pool.items() if decode(r)["nonce"] == tx["nonce"]]
        for h in same:  # a replacement takes the nonce's place in the pool
            del self.pool[h]
        self.pool[tx["hash"]] = raw
        self.sent.append(tx)
        if self.mine_when(tx):
            self.mine(tx["hash"])
        return {"result": tx["hash"]}

    # --- what the tests do to it ---

    def mine(self, tx_hash: str, status: int = 1) -> None:
        self.pool.pop(tx_hash)
        self.nonce += 1
        self.head += 1
        self.receipts[tx_hash] = {
            "status": hex(status),
            "blockNumber": hex(self.head),
            "gasUsed": hex(50_000),
            "effectiveGasPrice": hex(self.base_fee),
            "logs": [],
        }

    def restart(self) -> None:
        """Its pool is lost, as when a node restarts."""
        self.pool.clear()

    def other_tx_takes_nonce(self) -> None:
        """Another transaction of the account (not the keeper's) is mined at its nonce."""
        self.pool.clear()
        self.nonce += 1
        self.head += 1


def decode(raw: bytes) -> dict[str, Any]:
    """A signed EIP-1559 transaction's fields (what a node reads from the raw bytes)."""
    assert raw[0] == 2
    fields = rlp.decode(raw[1:])
    num = [int.from_bytes(f, "big") for f in fields[:5]]
    return {
        "hash": "0x" + keccak(raw).hex(),
        "nonce": num[1],
        "tip": num[2],
        "max_fee": num[3],
        "gas": num[4],
        "to": "0x" + fields[5].hex(),
        "data": "0x" + fields[7].hex(),
    }
