"""A deployment's state at a glance: pool, open interest, oracle, accounts near MM.

`collect_status` reads a deployed protocol (ape contract handles) into a plain dict and
`format_status` renders it for `ape run status`. Accounts are discovered from the
market's Deposit and Trade events since the deployment's first block; their margins
are read in one JSON-RPC batch when the node has an HTTP endpoint (anvil, a remote
node), one by one through ape on the embedded chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from onchain.governance import GRACE_PERIOD, read_proposals
from onchain.rpc import BatchReader, RpcError, ViewCall

WAD = 10**18
NEAR_MM = 1.2  # accounts with equity below this multiple of MM are listed
SERIES_VIEWS = ("series", "pool_position", "long_oi", "short_oi")


@dataclass(frozen=True)
class Read:
    contract: Any
    method: str
    args: tuple = ()


class Reader:
    """Many view calls: one JSON-RPC batch when there is an endpoint, else ape calls.

    A call that reverts (e.g. margin reads while the oracle is stale) yields None.
    """

    def __init__(self, rpc_uri: str | None):
        self.batch = BatchReader(rpc_uri) if rpc_uri else None

    def read(self, reads: list[Read]) -> list[Any]:
        if self.batch is not None and reads:
            try:
                return self.batch.call([ViewCall.of(r.contract, r.method, *r.args) for r in reads])
            except (RpcError, OSError):
                pass  # one revert fails the batch decode: fall back to calls one by one
        return [self._one(r) for r in reads]

    @staticmethod
    def _one(r: Read) -> Any:
        try:
            return getattr(r.contract, r.method)(*r.args)
        except Exception:  # noqa: BLE001 - a reverting view is reported as unavailable
            return None


def rpc_uri_of(provider: Any) -> str | None:
    """The provider's HTTP endpoint, None for ape's embedded chain (no endpoint)."""
    if getattr(provider, "name", "") == "test":
        return None
    uri = getattr(provider, "http_uri", None)
    return str(uri) if uri else None


def discover_accounts(deployment: Any, start_block: int, stop_block: int) -> list[str]:
    """Accounts that deposited or traded since the deployment (the pool excluded)."""
    market = deployment.market
    seen: dict[str, None] = {}
    for event in (market.Deposit, market.Trade):
        for log in event.range(start_block, stop_block + 1):
            seen[str(log.event_arguments["account"])] = None
    pool = str(deployment.pool.address).lower()
    return [a for a in seen if a.lower() != pool]


def collect_status(
    deployment: Any,
    chain: Any,
    rpc_uri: str | None = None,
    *,
    near: float = NEAR_MM,
    start_block: int | None = None,
) -> dict[str, Any]:
    """Read everything `format_status` shows; values in USD, contracts, seconds."""
    d = deployment
    reader = Reader(rpc_uri)
    head = chain.blocks.head
    now = int(head.timestamp)
    first = start_block if start_block is not None else (d.start_block or 0)

    oracle_params = d.oracle.params()
    updated_at = int(d.oracle.updated_at())
    stale = bool(d.oracle.is_stale())
    spot = int(d.oracle.last_spot()) / WAD
    decimals = int(d.token.decimals())
    unit = 10**decimals

    live = [int(s) for s in d.market.live_series_ids()]
    per_series = reader.read(
        [
            Read(d.market, m, (s,))
            for s in live
            for m in ("series", "pool_position", "long_oi", "short_oi")
        ]
    )
    series = []
    expiries: dict[int, None] = {}
    for i, sid in enumerate(live):
        info, pool_pos, long_oi, short_oi = per_series[4 * i : 4 * i + 4]
        strike, expiry, is_call = info
        expiries[int(expiry)] = None
        series.append(
            {
                "id": sid,
                "strike": int(strike) / WAD,
                "expiry": int(expiry),
                "kind": "call" if is_call else "put",
                "pool_position": int(pool_pos) / WAD,
                "long_oi": int(long_oi) / WAD,
                "short_oi": int(short_oi) / WAD,
            }
        )
    vol_reads = reader.read(
        [Read(d.oracle, m, (e,)) for e in expiries for m in ("vols", "vol_updated_at")]
    )
    vols = [
        {"expiry": e, "vol": int(vol_reads[2 * i]) / WAD, "age": now - int(vol_reads[2 * i + 1])}
        for i, e in enumerate(expiries)
    ]

    pool_state = reader.read([Read(d.market, "pool_state")])[0]
    supply = int(d.pool.totalSupply())
    pool_params = d.config.pool_params()
    limits = d.config.limits()
    nav = vega = gross = None
    if pool_state is not None:
        nav, vega, gross = (int(x) for x in pool_state)
    util = gross * spot / nav if nav and nav > 0 and gross is not None else None

    accounts = discover_accounts(d, first, int(head.number))
    margins = reader.read([Read(d.market, "account_margin", (a,)) for a in accounts])
    near_mm = []
    margins_known = all(m is not None for m in margins)
    for account, m in zip(accounts, margins, strict=True):
        if m is None:
            continue
        equity, mm, _im = (int(x) for x in m)
        if mm > 0 and equity < near * mm:
            near_mm.append({"account": account, "equity": equity / WAD, "mm": mm / WAD})
    near_mm.sort(key=lambda a: a["equity"] / a["mm"])

    proposals = [
        {"id": p.id, "status": p.status(now), "eta": p.eta, "what": p.describe()}
        for p in read_proposals(d)
    ]
    return {
        "block": int(head.number),
        "time": now,
        "addresses": d.addresses(),
        "oracle": {
            "spot": spot,
            "updated_at": updated_at,
            "age": now - updated_at,
            "heartbeat": int(oracle_params[0]),
            "staleness_limit": int(oracle_params[1]),
            "stale": stale,
            "vols": vols,
        },
        "pool": {
            "nav": None if nav is None else nav / WAD,
            "vega": None if vega is None else vega / WAD,
            "gross": None if gross is None else gross / WAD,
            "shares": supply / WAD,
            "share_price": nav / supply if nav is not None and supply else None,
            "utilisation": util,
            "max_utilisation": int(pool_params[6]) / WAD,
        },
        "open_interest": {
            "long": sum(s["long_oi"] for s in series),
            "short": sum(s["short_oi"] for s in series),
            "pool_gross": sum(abs(s["pool_position"]) for s in series),
            "series_cap": int(limits[0]) / WAD,
            "total_cap": int(limits[1]) / WAD,
        },
        "series": series,
        "insurance": int(d.market.insurance()) / unit,
        "fees": int(d.market.fees()) / unit,
        "accounts": len(accounts),
        "margins_known": margins_known,
        "near": near,
        "near_mm": near_mm,
        "proposals": proposals,
    }


def _usd(x: float | None) -> str:
    return "n/a" if x is None else f"{x:,.2f} USD"


def format_status(s: dict[str, Any], network: str = "") -> str:
    """The status as text, one section per concern."""
    lines = [
        f"optsim on {network or 'the connected chain'} at block {s['block']} (time {s['time']})"
    ]
    lines.append("contracts:")
    lines += [f"  {k:9s} {v}" for k, v in s["addresses"].items()]

    o = s["oracle"]
    if o["stale"]:
        fresh = "STALE: reads revert, trading and liquidation stopped"
    elif o["age"] > o["heartbeat"]:
        fresh = "late: past the heartbeat"
    else:
        fresh = "fresh"
    lines.append(
        f"oracle: spot {o['spot']:,.2f} USD, updated {o['age']} s ago "
        f"(heartbeat {o['heartbeat']} s, staleness limit {o['staleness_limit']} s): {fresh}"
    )
    for v in o["vols"]:
        lines.append(f"  vol of expiry {v['expiry']}: {v['vol']:.2%}, updated {v['age']} s ago")

    p = s["pool"]
    price = "n/a" if p["share_price"] is None else f"{p['share_price']:.6f} USD"
    util = "n/a" if p["utilisation"] is None else f"{p['utilisation']:.2%}"
    lines.append(
        f"pool: NAV {_usd(p['nav'])}, LP share price {price} ({p['shares']:,.2f} shares), "
        f"utilisation {util} (cap {p['max_utilisation']:.0%}), net vega "
        + ("n/a" if p["vega"] is None else f"{p['vega']:,.2f} USD per 1.0 of vol")
    )
    oi = s["open_interest"]
    lines.append(
        f"open interest: {oi['long']:,.4g} long / {oi['short']:,.4g} short contracts; pool gross "
        f"{oi['pool_gross']:,.4g} (caps {oi['series_cap']:,.0f} per series, "
        f"{oi['total_cap']:,.0f} total)"
    )
    for x in s["series"]:
        if x["long_oi"] or x["short_oi"]:
            lines.append(
                f"  #{x['id']:<3d} {x['kind']:4s} K={x['strike']:,.0f} exp {x['expiry']}: "
                f"long {x['long_oi']:.4g}, short {x['short_oi']:.4g}, "
                f"pool {x['pool_position']:+.4g}"
            )
    lines.append(f"insurance fund: {s['insurance']:,.2f}; fees: {s['fees']:,.2f} (token units)")

    lines.append(
        f"accounts: {s['accounts']} seen; below {s['near']:g}x MM: {len(s['near_mm'])}"
        + ("" if s["margins_known"] else " (margins unavailable: oracle stale?)")
    )
    for a in s["near_mm"]:
        ratio = a["equity"] / a["mm"]
        flag = "  LIQUIDATABLE" if ratio < 1 else ""
        lines.append(
            f"  {a['account']} equity {_usd(a['equity'])}, MM {_usd(a['mm'])}, "
            f"{ratio:.2f}x MM{flag}"
        )
    lines.append(f"queued proposals: {len(s['proposals'])}")
    for q in s["proposals"]:
        if q["status"] == "pending":
            due = f"executable in {q['eta'] - s['time']} s"
        elif q["status"] == "executable":
            due = f"expires in {q['eta'] + GRACE_PERIOD - s['time']} s"
        else:
            due = f"eta {q['eta']}"
        lines.append(f"  #{q['id']} {q['status']} ({due}): {q['what']}")
    return "\n".join(lines)
