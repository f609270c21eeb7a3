"""A private testnet for the keeper tests: an anvil process of their own, the protocol
deployed on it with raw transactions, and the actors' moves (deposit, trade, push).

Nothing here goes through ape's provider: the tests' session is connected to another
node, and the keepers must work against any JSON-RPC endpoint.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from eth_abi import encode
from eth_hash.auto import keccak
from eth_utils import to_checksum_address

from onchain.contracts import CONTRACT_TYPES, Contracts
from onchain.deployment import LOCAL_CONFIG, DeployConfig, write_record
from onchain.reader import Reader
from onchain.rpc import JsonRpc, RpcError
from onchain.signer import Signer
from risk.units import DAY, GWEI, USDC, WAD

ROOT = Path(__file__).resolve().parents[3]
ANVIL = ROOT / "node_modules" / ".bin" / "anvil"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Anvil:
    """An anvil process on a free loopback port; `stop` dumps its state when asked to."""

    def __init__(self, state_file: Path | None = None):
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.state_file = state_file
        self.proc: subprocess.Popen | None = None

    def start(self, load: bool = False) -> Anvil:
        cmd = [str(ANVIL), "--port", str(self.port), "--silent"]
        if self.state_file is not None:
            cmd += ["--dump-state", str(self.state_file)]
            if load:
                cmd += ["--load-state", str(self.state_file)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        rpc = JsonRpc(self.uri, retries=0, timeout=1)
        deadline = time.monotonic() + 15
        while True:
            try:
                rpc.call("eth_chainId", [])
                return self
            except RpcError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"anvil did not start on {self.uri}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM (anvil writes --dump-state on the way out), then wait."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class Testnet:
    """Raw transactions and reads on one node, with the deployment's ABIs."""

    def __init__(self, uri: str, types: dict[str, Any]):
        self.uri = uri
        self.rpc = JsonRpc(uri, timeout=10.0, retries=2)
        self.types = types
        self.chain_id = int(self.rpc.call("eth_chainId", []), 16)
        self.contracts: Contracts | None = None
        self.record: dict[str, Any] = {}

    # --- node ---

    def head(self) -> dict:
        return self.rpc.call("eth_getBlockByNumber", ["latest", False])

    def now(self) -> int:
        return int(self.head()["timestamp"], 16)

    def nonce(self, address: str) -> int:
        return int(self.rpc.call("eth_getTransactionCount", [address, "latest"]), 16)

    def automine(self, on: bool) -> None:
        self.rpc.call("evm_setAutomine", [on])

    def mine(self, seconds: int = 0) -> None:
        if seconds:
            self.rpc.call("evm_increaseTime", [seconds])
        self.rpc.call("evm_mine", [])

    def set_balance(self, address: str, wei: int) -> None:
        self.rpc.call("anvil_setBalance", [address, hex(wei)])

    # --- transactions ---

    def send(
        self,
        key: str,
        to: str | None,
        data: str,
        gas: int = 8_000_000,
        tip_gwei: float = 1.0,
        wait: bool = True,
    ) -> Any:
        signer = Signer(key)
        nonce = int(self.rpc.call("eth_getTransactionCount", [signer.address, "pending"]), 16)
        base = int(self.head().get("baseFeePerGas") or "0x0", 16)
        tip = int(tip_gwei * GWEI)
        raw = signer.sign(
            self.chain_id, nonce, tip, 2 * base + tip, gas, to, 0, bytes.fromhex(data[2:])
        )
        tx_hash = self.rpc.call("eth_sendRawTransaction", ["0x" + raw.hex()])
        if not wait:
            return tx_hash
        rec = None
        for _ in range(200):  # automine answers before the receipt is indexed, sometimes
            rec = self.rpc.call("eth_getTransactionReceipt", [tx_hash])
            if rec is not None:
                break
            time.sleep(0.01)
        if rec is None or int(rec["status"], 16) != 1:
            raise AssertionError(f"transaction {tx_hash} failed: {rec and rec['status']}")
        return rec

    def deploy(self, key: str, type_name: str, *args: Any) -> str:
        ct = self.types[type_name]
        code = ct.deployment_bytecode.bytecode
        if ct.constructor and ct.constructor.inputs:
            types = [i.canonical_type for i in ct.constructor.inputs]
            code += encode(types, list(args)).hex()
        rec = self.send(key, None, code, gas=12_000_000)
        return to_checksum_address(rec["contractAddress"])

    def tx(self, key: str, name: str, method: str, *args: Any, **kw: Any) -> Any:
        assert self.contracts is not None
        data = self.contracts.calldata(name, method, *args)
        return self.send(key, self.contracts.addresses[name], data, **kw)

    def govern(self, key: str, name: str, method: str, *args: Any) -> Any:
        """Change something the timelock governs: propose it (key is the proposer), let the
        delay pass and execute it."""
        assert self.contracts is not None
        data = self.contracts.calldata(name, method, *args)
        target = self.contracts.addresses[name]
        pid = self.view("timelock", "proposal_count")
        self.tx(key, "timelock", "propose", target, bytes.fromhex(data[2:]))
        self.mine(self.view("timelock", "delay"))
        return self.tx(key, "timelock", "execute", pid)

    def view(self, name: str, method: str, *args: Any) -> Any:
        assert self.contracts is not None
        reader = Reader(self.rpc, self.contracts)
        return reader.read([reader.view(name, method, *args)])[0]

    def logs(self, event: str) -> list[Any]:
        assert self.contracts is not None
        topic = None
        for ev in self.types["OptionMarket"].events:
            if ev.name == event:
                topic = "0x" + keccak(ev.selector.encode()).hex()
        market = self.contracts.addresses["market"]
        query = {"fromBlock": "0x0", "toBlock": "latest", "address": market, "topics": [topic]}
        raw = self.rpc.call("eth_getLogs", [query])
        return [self.contracts.decode_log(r) for r in raw]

    # --- the protocol ---

    def deploy_protocol(
        self, gov_key: str, expiries_days: tuple[float, ...] = (1, 30), spot: float = 2_000.0
    ) -> dict[str, Any]:
        """Deploy and wire every contract (as onchain.deployment does through ape), create
        calls and puts at 90/100/110% of spot for each expiry, push spot and vols."""
        cfg = DeployConfig.load(LOCAL_CONFIG)
        gov = Signer(gov_key).address
        start_block = int(self.head()["number"], 16) + 1
        a: dict[str, str] = {}
        a["token"] = self.deploy(gov_key, "usdc_mock")
        a["engine"] = self.deploy(gov_key, "MarginEngine")
        a["oracle"] = self.deploy(
            gov_key, "Oracle", cfg.oracle.to_chain(), cfg.rate_limit.to_chain()
        )
        a["config"] = self.deploy(
            gov_key,
            "RiskConfig",
            cfg.margin.to_chain(),
            cfg.liquidation.to_chain(),
            cfg.pool.to_chain(),
            cfg.limits.to_chain(),
            cfg.rate_limit.to_chain(),
        )
        a["market"] = self.deploy(
            gov_key, "OptionMarket", a["token"], a["oracle"], a["engine"], a["config"]
        )
        a["pool"] = self.deploy(gov_key, "LiquidityPool", a["token"], a["market"])
        targets = [a["config"], a["oracle"], a["market"]]
        a["timelock"] = self.deploy(gov_key, "Timelock", cfg.timelock_delay, gov, gov, targets)
        types = {n: self.types[t] for n, t in CONTRACT_TYPES.items()}
        self.contracts = Contracts(a, types)
        self.tx(gov_key, "market", "set_role", "pool", a["pool"])
        self.tx(gov_key, "oracle", "set_market", a["market"])
        self.tx(gov_key, "oracle", "set_updater", gov, True)
        self.tx(gov_key, "config", "set_governor", a["timelock"])
        self.tx(gov_key, "oracle", "set_governor", a["timelock"])
        self.tx(gov_key, "market", "set_role", "guardian", gov)
        now = self.now()
        expiries = [int(now + d * DAY) for d in expiries_days]
        series: dict[tuple[int, int, bool], int] = {}
        for e in expiries:
            for k in (0.9, 1.0, 1.1):
                for is_call in (True, False):
                    self.tx(gov_key, "market", "create_series", int(spot * k) * WAD, e, is_call)
                    series[(int(spot * k), e, is_call)] = self.view("market", "series_count") - 1
        self.record = {
            "network": "custom",
            "chain_id": self.chain_id,
            "contracts": a,
            "series": sorted(series.values()),
            "complete": True,
            "start_block": start_block,
            "expiries": expiries,
            "series_by_key": series,
        }
        self.push(gov_key, spot, 0.6)
        return self.record

    def write_record(self, directory: Path) -> Path:
        plain = {k: v for k, v in self.record.items() if k != "series_by_key"}
        return write_record(Path(directory) / "custom.addresses.json", plain)

    def live_expiries(self) -> list[int]:
        now = self.now()
        return [e for e in self.record["expiries"] if e > now]

    def push(self, gov_key: str, spot: float, vol: float | None = 0.6, **kw: Any) -> Any:
        expiries = self.live_expiries() if vol is not None else []
        vols = [int(vol * WAD)] * len(expiries) if vol is not None else []
        return self.tx(gov_key, "oracle", "push", int(spot * WAD), expiries, vols, **kw)

    def fund(self, key: str, usdc: float, venue: str = "market") -> None:
        who = Signer(key).address
        self.set_balance(who, 100 * WAD)
        amount = int(usdc * USDC)
        self.tx(key, "token", "mint", who, amount)
        self.tx(key, "token", "approve", self.contracts.addresses[venue], 2**256 - 1)
        self.tx(key, venue, "deposit", amount)

    def trade(self, key: str, sid: int, size: float) -> None:
        limit = 10**30 if size > 0 else 0
        self.tx(key, "market", "trade", sid, int(size * WAD), limit)

    def series_id(self, strike: float, expiry_index: int, is_call: bool) -> int:
        e = self.record["expiries"][expiry_index]
        return self.record["series_by_key"][(int(strike), e, is_call)]

    def positions(self, address: str) -> dict[int, int]:
        """The account's open positions, series id -> size (1e18)."""
        return {int(sid): int(q) for sid, q in self.view("market", "positions", address) if q}

    # --- a Chainlink-style feed (contracts/mocks/aggregator_mock.vy) ---

    def deploy_feed(self, owner_key: str, decimals: int = 8) -> str:
        return self.deploy(owner_key, "aggregator_mock", decimals)

    def set_feed_round(
        self, owner_key: str, feed: str, answer: float, updated_at: int, decimals: int = 8
    ) -> None:
        abi = Contracts({"feed": feed}, {"feed": self.types["aggregator_mock"]})
        data = abi.calldata("feed", "set_answer", round(answer * 10**decimals), updated_at)
        self.send(owner_key, feed, data)

    def liquidatable(self, address: str) -> bool:
        return bool(self.view("market", "is_liquidatable", address))
