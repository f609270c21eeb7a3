"""The one reader: many contract views in one round trip, and the protocol's named reads.

A `ViewCall` is one encoded view (target, calldata, output types). `Reader.read` sends a
list of them at once:

- with `multicall_code` (the runtime code of contracts/Multicall.vy), up to 256 views go
  into ONE eth_call that runs that code through a state override: one EVM context on the
  node instead of one per view (about 5x less node time on anvil). Nothing is deployed.
- without it, or when the node refuses state overrides (it then falls back for good),
  one eth_call per view, all in one JSON-RPC batch.

`read` raises on the first view that reverts (RpcError naming it); `read_lenient` gives
None for views that revert (margin views while the oracle is stale) and the values of
the others.

Named reads (`margin_params()`, `pool_state()`, `vol(expiry)`, ...) are `Read`s: a view
and the conversion of its raw value into what optsim works with (risk.params structs,
USD floats, ints). They go into the same lists, so a whole block's state is one round
trip, and nobody indexes a tuple by position.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

from eth_hash.auto import keccak

from onchain import abi
from onchain.abi import MethodAbi, method_abi
from onchain.contracts import Contracts
from onchain.rpc import CallReverted, InProcessRpc, JsonRpc, RpcError, decode_revert, result_of
from risk.param_guard import SETTERS
from risk.params import (
    GROUPS,
    Limits,
    LiquidationParams,
    MarginParams,
    OracleParams,
    PoolParams,
    RateLimit,
)
from risk.units import USDC, WAD

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)

# where the reader puts the Multicall's code through eth_call's state override ("optsim")
MULTICALL_ADDRESS = "0x00000000000000000000000000006f707473696d"
MULTICALL_MAX_CALLS = 256  # contracts/Multicall.vy's bounds
MULTICALL_MAX_CALLDATA = 260
MULTICALL_MAX_RETURN = 2_048
_AGGREGATE = MethodAbi(
    keccak(b"aggregate((address,bytes)[])")[:4], ("(address,bytes)[]",), ("(bool,bytes)[]",)
)


@dataclass(frozen=True)
class ViewCall:
    """One encoded view: target, calldata and the output types to decode."""

    to: str
    data: str
    out_types: tuple[str, ...]
    label: str  # the method's name, for errors

    @classmethod
    def of(cls, contract: Any, method: str, *args: Any) -> ViewCall:
        """Encode `contract.method(*args)` from an ape contract instance's ABI."""
        m = method_abi(contract.contract_type, method, len(args))
        return cls(str(contract.address), m.calldata(args), m.outputs, method)

    def at(self, address: str) -> ViewCall:
        """The same view on another contract (a price feed answers the Oracle's ABI)."""
        return ViewCall(str(address), self.data, self.out_types, self.label)

    def decode(self, result: str | bytes) -> Any:
        """The call's return data (hex or bytes) decoded (a single value unwrapped)."""
        raw = bytes.fromhex(result[2:]) if isinstance(result, str) else result
        values = abi.decode(self.out_types, raw)
        return values[0] if len(values) == 1 else values


@dataclass(frozen=True)
class Read(Generic[T]):
    """A named read: a view and the conversion of its raw value."""

    call: ViewCall
    convert: Callable[[Any], T]


class PoolState(NamedTuple):
    """OptionMarket.pool_state: the pool's book valued at the oracle's price."""

    nav: float  # USD
    vega: float  # USD per 1.0 of vol
    gross: float  # sum of |positions|, contracts


@dataclass(frozen=True)
class SeriesTerms:
    """OptionMarket.series: what one series pays."""

    strike: float  # USD
    expiry: int  # unix seconds
    is_call: bool


def _usd(raw: int) -> float:
    return raw / WAD


def _usdc(raw: int) -> float:
    return raw / USDC


def _pool_state(raw: Any) -> PoolState:
    nav, vega, gross = raw
    return PoolState(nav / WAD, vega / WAD, gross / WAD)


def _positions(raw: Any) -> dict[int, int]:
    return {int(sid): int(size) for sid, size in raw if size != 0}


def _series(raw: Any) -> SeriesTerms:
    return SeriesTerms(raw[0] / WAD, int(raw[1]), bool(raw[2]))


class Reader:
    """Views of one node, in batches; named reads of one deployment's contracts.

    Args:
        rpc: a JsonRpc (or its URI), or onchain.rpc.InProcessRpc on ape's embedded chain.
        contracts: the deployment's contracts table, for `view` and the named reads.
        multicall_code: contracts/Multicall.vy's runtime code (`multicall_code(project)`):
            views by state override when the node takes them.
    """

    def __init__(
        self,
        rpc: Any,
        contracts: Contracts | None = None,
        *,
        multicall_code: str | None = None,
    ):
        self.rpc = JsonRpc(rpc) if isinstance(rpc, str) else rpc
        self.contracts = contracts
        self.multicall_code = multicall_code

    # --- any view ---

    def view(self, name: str, method: str, *args: Any) -> ViewCall:
        """`name.method(*args)` of the deployment's contracts, encoded."""
        if self.contracts is None:
            raise ValueError("this reader has no contracts table: use ViewCall.of")
        m = self.contracts.method(name, method, len(args))
        return ViewCall(self.contracts.addresses[name], m.calldata(args), m.outputs, method)

    def read(self, calls: Sequence[ViewCall | Read], block: str = "latest") -> list[Any]:
        """The values of many views (named reads converted); RpcError names the first
        view that reverts."""
        return self._values(calls, block, lenient=False)

    def read_lenient(self, calls: Sequence[ViewCall | Read], block: str = "latest") -> list[Any]:
        """As `read`, with None for the views that revert."""
        return self._values(calls, block, lenient=True)

    def _values(self, calls: Sequence[ViewCall | Read], block: str, lenient: bool) -> list[Any]:
        views = [c.call if isinstance(c, Read) else c for c in calls]
        out: list[Any] = []
        for c, v in zip(calls, self._fetch(views, block), strict=True):
            if isinstance(v, CallReverted):
                if not lenient:
                    raise RpcError(f"{v.method}: execution reverted: {v.reason}")
                out.append(None)
            else:
                out.append(c.convert(v) if isinstance(c, Read) else v)
        return out

    def read_named(
        self, calls: Mapping[K, ViewCall | Read], *, lenient: bool = False
    ) -> dict[K, Any]:
        """`read` (or `read_lenient`) of a mapping: the same keys, with the values."""
        read = self.read_lenient if lenient else self.read
        return dict(zip(calls, read(list(calls.values())), strict=True))

    def get(self, call: Read[T]) -> T:
        """One named read, in its own round trip."""
        return self.read([call])[0]

    # --- named reads: oracle ---

    def spot(self) -> Read[float]:
        """The oracle's last spot, USD."""
        return Read(self.view("oracle", "last_spot"), _usd)

    def updated_at(self) -> Read[int]:
        return Read(self.view("oracle", "updated_at"), int)

    def oracle_params(self) -> Read[OracleParams]:
        return Read(self.view("oracle", "params"), OracleParams.from_chain)

    def vol(self, expiry: int) -> Read[float]:
        """The oracle's ATM vol of an expiry (0 when none was pushed)."""
        return Read(self.view("oracle", "vols", expiry), _usd)

    def settlement_price(self, expiry: int) -> Read[float]:
        """The fixed settlement price of an expiry, USD (0: not fixed yet)."""
        return Read(self.view("oracle", "settlement_prices", expiry), _usd)

    def is_stale(self) -> Read[bool]:
        return Read(self.view("oracle", "is_stale"), bool)

    def round_id(self) -> Read[int]:
        return Read(self.view("oracle", "round_id"), int)

    # --- named reads: market and pool ---

    def pool_state(self) -> Read[PoolState]:
        return Read(self.view("market", "pool_state"), _pool_state)

    def share_supply(self) -> Read[float]:
        """LP shares outstanding (1e18 = one share)."""
        return Read(self.view("pool", "totalSupply"), _usd)

    def insurance(self) -> Read[float]:
        """The insurance fund, USDC."""
        return Read(self.view("market", "insurance"), _usdc)

    def fees(self) -> Read[float]:
        """Fees collected, USDC."""
        return Read(self.view("market", "fees"), _usdc)

    def live_series(self) -> Read[list[int]]:
        return Read(self.view("market", "live_series_ids"), lambda ids: [int(s) for s in ids])

    def cash(self, account: str) -> Read[float]:
        """An account's cash on the market, USDC."""
        return Read(self.view("market", "cash", account), _usdc)

    def positions(self, account: str) -> Read[dict[int, int]]:
        """An account's positions: series id -> size (1e18 = one contract), none zero."""
        return Read(self.view("market", "positions", account), _positions)

    def series(self, series_id: int) -> Read[SeriesTerms]:
        return Read(self.view("market", "series", series_id), _series)

    # --- named reads: parameters in force (RiskConfig) ---

    def margin_params(self) -> Read[MarginParams]:
        return Read(self.view("config", "margin_params"), MarginParams.from_chain)

    def liquidation_params(self) -> Read[LiquidationParams]:
        return Read(self.view("config", "liquidation_params"), LiquidationParams.from_chain)

    def pool_params(self) -> Read[PoolParams]:
        return Read(self.view("config", "pool_params"), PoolParams.from_chain)

    def limits(self) -> Read[Limits]:
        return Read(self.view("config", "limits"), Limits.from_chain)

    def rate_limit(self, group: str) -> Read[RateLimit]:
        """A parameter group's rate limit, read from the contract that holds the group."""
        holder = SETTERS[group].holder
        return Read(self.view(holder, "rate_limit", GROUPS[group].GROUP_ID), RateLimit.from_chain)

    def last_update(self, group: str, field_index: int) -> Read[int]:
        """When a field last changed on-chain (0: never)."""
        holder = SETTERS[group].holder
        return Read(self.view(holder, "last_update", GROUPS[group].GROUP_ID, field_index), int)

    # --- the round trip ---

    def _fetch(self, calls: list[ViewCall], block: str) -> list[Any]:
        """Raw decoded values, a CallReverted in place of each view that reverted."""
        if self.multicall_code and calls:
            try:
                return self._multicall(calls, block)
            except _OverrideRefused:
                self.multicall_code = None  # this node has no state overrides: read plainly
        responses = self.rpc.batch(
            [("eth_call", [{"to": c.to, "data": c.data}, block]) for c in calls]
        )
        out: list[Any] = []
        for c, r in zip(calls, responses, strict=True):
            try:
                out.append(c.decode(result_of(c.label, r)))
            except CallReverted as exc:
                out.append(exc)
        return out

    def _multicall(self, calls: list[ViewCall], block: str) -> list[Any]:
        for c in calls:
            if len(c.data) > 2 + 2 * MULTICALL_MAX_CALLDATA:
                raise ValueError(f"{c.label}: calldata above {MULTICALL_MAX_CALLDATA} bytes")
        override = {MULTICALL_ADDRESS: {"code": self.multicall_code}}
        chunks = [
            calls[i : i + MULTICALL_MAX_CALLS] for i in range(0, len(calls), MULTICALL_MAX_CALLS)
        ]
        batch = []
        for chunk in chunks:
            args = abi.encode_calls([(c.to, bytes.fromhex(c.data[2:])) for c in chunk])
            data = "0x" + (_AGGREGATE.selector + args).hex()
            batch.append(("eth_call", [{"to": MULTICALL_ADDRESS, "data": data}, block, override]))
        out: list[Any] = []
        for chunk, r in zip(chunks, self.rpc.batch(batch), strict=True):
            if "error" in r:
                error = r["error"]
                if "override" in str(error).lower() or error.get("code") == -32602:
                    raise _OverrideRefused(str(error))
                raise RpcError(f"multicall of {len(chunk)} reads ({chunk[0].label}, ...): {error}")
            (results,) = abi.decode(_AGGREGATE.outputs, bytes.fromhex(r["result"][2:]))
            for c, (ok, raw) in zip(chunk, results, strict=True):
                if not ok:
                    out.append(CallReverted(c.label, decode_revert(raw)))
                    continue
                if len(raw) >= MULTICALL_MAX_RETURN:
                    raise RpcError(f"{c.label}: answer may be cut at {MULTICALL_MAX_RETURN} bytes")
                out.append(c.decode(raw))
        return out


def rpc_uri_of(provider: Any) -> str | None:
    """An ape provider's HTTP endpoint; None for ape's embedded chain (no endpoint)."""
    if getattr(provider, "name", "") == "test":
        return None
    uri = getattr(provider, "http_uri", None)
    return str(uri) if uri else None


def reader_of(provider: Any, contracts: Contracts) -> Reader:
    """A Reader of a connected ape provider: JSON-RPC when it has an HTTP endpoint, else
    through its web3 in process (ape's embedded chain, an IPC or WebSocket node)."""
    uri = rpc_uri_of(provider)
    if uri:
        return Reader(JsonRpc(uri), contracts)
    caller = "0x" + "00" * 20  # a node does not ask who makes an eth_call
    if getattr(provider, "name", "") == "test":  # py-evm does: a funded test account
        import ape

        caller = str(ape.accounts.test_accounts[0].address)
    return Reader(InProcessRpc(provider.web3, caller), contracts)


def multicall_code(project: Any) -> str:
    """The runtime code of contracts/Multicall.vy from an ape project (for Reader)."""
    return str(project.Multicall.contract_type.runtime_bytecode.bytecode)


class _OverrideRefused(RpcError):
    """The node does not take eth_call state overrides."""
