"""A deployment's state at a glance: pool, open interest, oracle, accounts near MM.

`collect_status` reads a deployed protocol (ape contract handles) into a plain dict and
`format_status` renders it for `ape run status`. Accounts are discovered from the
market's Deposit and Trade events since the deployment's first block; their margins
are read through onchain.reader in one JSON-RPC batch when the node has an HTTP endpoint
(anvil, a remote node), one at a time in process on ape's embedded chain.
"""

from __future__ import annotations

from typing import Any

from onchain.contracts import CONTRACT_TYPES, Contracts
from onchain.governance import read_proposals
from onchain.reader import reader_of
from risk.param_guard import GRACE_PERIOD
from risk.units import WAD

NEAR_MM = 1.2  # accounts with equity below this multiple of MM are listed


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
    *,
    near: float = NEAR_MM,
    start_block: int | None = None,
) -> dict[str, Any]:
    """Read everything `format_status` shows; values in USD, contracts, seconds."""
    d = deployment
    r = reader_of(chain.provider, Contracts.of(d.handles(CONTRACT_TYPES)))
    head = chain.blocks.head
    now = int(head.timestamp)
    first = start_block if start_block is not None else (d.start_block or 0)

    fixed = r.read_named(
        {
            "oracle": r.oracle_params(),
            "updated_at": r.updated_at(),
            "stale": r.is_stale(),
            "spot": r.spot(),
            "decimals": r.view("token", "decimals"),
            "live": r.live_series(),
            "supply": r.share_supply(),
            "pool": r.pool_params(),
            "limits": r.limits(),
            "insurance": r.view("market", "insurance"),
            "fees": r.view("market", "fees"),
        }
    )
    oracle_params, updated_at, spot = fixed["oracle"], fixed["updated_at"], fixed["spot"]
    unit = 10 ** int(fixed["decimals"])
    live = fixed["live"]
    per_series = r.read(
        [
            x
            for sid in live
            for x in (
                r.series(sid),
                r.view("market", "pool_position", sid),
                r.view("market", "long_oi", sid),
                r.view("market", "short_oi", sid),
            )
        ]
    )
    series = []
    expiries: dict[int, None] = {}
    for i, sid in enumerate(live):
        terms, pool_pos, long_oi, short_oi = per_series[4 * i : 4 * i + 4]
        expiries[terms.expiry] = None
        series.append(
            {
                "id": sid,
                "strike": terms.strike,
                "expiry": terms.expiry,
                "kind": "call" if terms.is_call else "put",
                "pool_position": int(pool_pos) / WAD,
                "long_oi": int(long_oi) / WAD,
                "short_oi": int(short_oi) / WAD,
            }
        )
    vol_reads = r.read(
        [x for e in expiries for x in (r.vol(e), r.view("oracle", "vol_updated_at", e))]
    )
    vols = [
        {"expiry": e, "vol": vol_reads[2 * i], "age": now - int(vol_reads[2 * i + 1])}
        for i, e in enumerate(expiries)
    ]

    (state,) = r.read_lenient([r.pool_state()])  # reverts while the oracle is stale
    supply = fixed["supply"]
    nav = state.nav if state is not None else None
    util = state.gross * spot / state.nav if state is not None and state.nav > 0 else None

    accounts = discover_accounts(d, first, int(head.number))
    margins = r.read_lenient([r.view("market", "account_margin", a) for a in accounts])
    near_mm: list[dict[str, Any]] = []
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
        for p in read_proposals(r)
    ]
    return {
        "block": int(head.number),
        "time": now,
        "addresses": d.addresses(),
        "oracle": {
            "spot": spot,
            "updated_at": updated_at,
            "age": now - updated_at,
            "heartbeat": oracle_params.heartbeat,
            "staleness_limit": oracle_params.staleness_limit,
            "stale": fixed["stale"],
            "vols": vols,
        },
        "pool": {
            "nav": nav,
            "vega": None if state is None else state.vega,
            "gross": None if state is None else state.gross,
            "shares": supply,
            "share_price": nav / supply if nav is not None and supply else None,
            "utilisation": util,
            "max_utilisation": fixed["pool"].max_utilisation,
        },
        "open_interest": {
            "long": sum(s["long_oi"] for s in series),
            "short": sum(s["short_oi"] for s in series),
            "pool_gross": sum(abs(s["pool_position"]) for s in series),
            "series_cap": fixed["limits"].series_oi_cap,
            "total_cap": fixed["limits"].total_oi_cap,
        },
        "series": series,
        "insurance": int(fixed["insurance"]) / unit,
        "fees": int(fixed["fees"]) / unit,
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
