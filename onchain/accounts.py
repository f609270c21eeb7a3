"""An off-chain index of the market's accounts and series, kept current from events.

Reading every account's margin from the chain every block costs a call per account. The
index instead holds each account's cash and positions and re-reads only the accounts a
block's events touched (Deposit, Withdraw, Trade, Liquidation, Settled, BadDebt); margins
then come from the risk engine (risk.margin_batch) at the oracle's price, for every account
at once. The simulation's keepers and the live keeper bots share it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from onchain.reader import Read, Reader
from risk.book import Book
from risk.margin import Margin
from risk.margin_batch import accounts_margin
from risk.params import MarginParams
from risk.units import WAD

ACCOUNT_EVENTS = ("Deposit", "Withdraw", "Trade", "Liquidation", "Settled", "BadDebt")


@dataclass(frozen=True)
class SeriesInfo:
    series_id: int
    strike: float  # USD
    expiry: int  # timestamp
    is_call: bool


@dataclass
class AccountIndex:
    """Cash (USD) and positions ({series id: contracts}) per account, and the series."""

    cash: dict[str, float] = field(default_factory=dict)
    positions: dict[str, dict[int, float]] = field(default_factory=dict)
    raw_positions: dict[str, dict[int, int]] = field(default_factory=dict)  # exact, 1e18
    series: dict[int, SeriesInfo] = field(default_factory=dict)
    stale: set[str] = field(default_factory=set)

    def watch(self, addresses: list[str]) -> None:
        """Start tracking accounts (read on the next refresh)."""
        for a in addresses:
            a = a.lower()
            if a not in self.cash:
                self.cash[a] = 0.0
                self.positions[a] = {}
            self.stale.add(a)

    def touched_by(self, events: list[Any]) -> None:
        """Mark the accounts named in a block's events as stale (Event objects with .name and
        .args); new accounts are added, and SeriesCreated events add series on refresh."""
        for ev in events:
            if ev.name in ACCOUNT_EVENTS:
                for key in ("account", "liquidator"):
                    if key in ev.args:
                        self.watch([str(ev.args[key])])
            elif ev.name == "SeriesCreated":
                a = ev.args
                sid = int(a["series_id"])
                self.series[sid] = SeriesInfo(
                    sid, a["strike"] / WAD, int(a["expiry"]), bool(a["is_call"])
                )

    def refresh(self, reader: Reader) -> int:
        """Re-read the stale accounts' cash and positions in one batch; returns how many."""
        stale = sorted(self.stale)
        if not stale:
            return 0
        calls: list[Read] = []
        for a in stale:
            calls += [reader.cash(a), reader.positions(a)]
        values = reader.read(calls)
        for i, a in enumerate(stale):
            cash, book = values[2 * i], values[2 * i + 1]
            self.cash[a] = cash
            self.positions[a] = {sid: size / WAD for sid, size in book.items()}
            self.raw_positions[a] = book
        missing = {sid for p in self.positions.values() for sid in p} - set(self.series)
        if missing:
            self.load_series(reader, sorted(missing))
        self.stale.clear()
        return len(stale)

    def load_series(self, reader: Reader, ids: list[int]) -> None:
        for sid, s in zip(ids, reader.read([reader.series(i) for i in ids]), strict=True):
            self.series[sid] = SeriesInfo(sid, s.strike, s.expiry, s.is_call)

    # --- margin with the risk engine ---

    def book(
        self,
        accounts: list[str],
        spot: float,
        vol_of: dict[int, float],
        now: int,
        settlement: dict[int, float] | None = None,
    ) -> Book:
        """The accounts as a risk.book.Book at the oracle's spot and vols (per expiry).

        As on-chain (OptionMarket._engine_position): a position whose expiry has passed and
        whose settlement price is fixed is worth its payoff at that price, carries no margin,
        and so is moved into cash here (settlement: expiry -> price, 0 = not fixed).
        """
        settlement = settlement or {}

        def fixed(sid: int) -> float | None:
            s = self.series[sid]
            price = settlement.get(s.expiry, 0.0) if s.expiry <= now else 0.0
            if price <= 0:
                return None
            return max(price - s.strike, 0.0) if s.is_call else max(s.strike - price, 0.0)

        payoff = {sid: fixed(sid) for a in accounts for sid in self.positions.get(a.lower(), {})}
        live = {
            a: {
                sid: q
                for sid, q in self.positions.get(a.lower(), {}).items()
                if payoff[sid] is None
            }
            for a in accounts
        }
        sids = sorted({sid for a in accounts for sid in live[a]})
        col = {sid: j for j, sid in enumerate(sids)}
        width = max([len(live[a]) for a in accounts] + [1])
        idx = np.zeros((len(accounts), width), dtype=np.int64)
        size = np.zeros((len(accounts), width))
        cash = np.array([self.cash.get(a.lower(), 0.0) for a in accounts])
        for i, a in enumerate(accounts):
            for j, (sid, q) in enumerate(live[a].items()):
                idx[i, j], size[i, j] = col[sid], q
            for sid, q in self.positions.get(a.lower(), {}).items():
                paid = payoff[sid]
                if paid is not None:
                    cash[i] += q * paid
        infos = [self.series[s] for s in sids] or [SeriesInfo(-1, spot, now, True)]
        return Book(
            spot=spot,
            strike=np.array([s.strike for s in infos]),
            t_sec=np.array([max(s.expiry - now, 0) for s in infos], dtype=float),
            vol=np.array([vol_of.get(s.expiry, 0.5) or 0.5 for s in infos]),
            is_call=np.array([s.is_call for s in infos]),
            series_idx=idx,
            size=size,
            cash=cash,
            accounts=tuple(accounts),
        )

    def margins(
        self,
        accounts: list[str],
        spot: float,
        vol_of: dict[int, float],
        now: int,
        params: MarginParams,
        settlement: dict[int, float] | None = None,
    ) -> tuple[np.ndarray, Margin]:
        """(equity, Margin) of each account in USD, as the contract would compute them."""
        book = self.book(accounts, spot, vol_of, now, settlement)
        m = accounts_margin(
            spot,
            book.strike,
            book.t_sec,
            book.vol,
            book.is_call,
            book.series_idx,
            book.size,
            params,
        )
        return book.cash + m.value, m
