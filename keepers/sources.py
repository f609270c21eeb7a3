"""Where the oracle updater gets its prices.

    csv:PATH   rows of timestamp,spot[,vol]: at chain time t the last row with timestamp <= t
    sim:SEED   a simulated feed: each hour a log-normal step (annualised vol `sim_vol`) from
               the oracle's current spot, the same step for the same seed and hour, so a
               restarted updater reports what it would have reported
    feed       the Oracle's own Chainlink-style feed: anyone may call pull_from_feed()
    feed:ADDR  another contract's latestRoundData(), pushed as an updater

A source returns a `Quote` (spot in USD, optional ATM vol, the time it is for) or None
when it has nothing for the current time.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from risk.units import HOUR, YEAR_SEC


class SourceError(ValueError):
    """A price source spec or file that cannot be used; the message names what is wrong."""


@dataclass(frozen=True)
class Quote:
    spot: float  # USD
    vol: float | None  # annualised ATM vol, None: keep the oracle's vols
    timestamp: int  # the time the quote is for
    round_time: int = 0  # feeds: the round's updatedAt


class CsvSource:
    """Prices from a CSV file with a header: timestamp,spot[,vol]."""

    kind = "csv"

    def __init__(self, path: str | Path):
        path = Path(path)
        if not path.exists():
            raise SourceError(f"csv source {path}: file not found")
        rows: list[tuple[int, float, float | None]] = []
        with path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            fields = set(reader.fieldnames or [])
            if not {"timestamp", "spot"} <= fields:
                raise SourceError(
                    f"csv source {path}: header must name timestamp and spot (and optionally "
                    f"vol); found {sorted(fields)}"
                )
            for n, row in enumerate(reader, start=2):
                try:
                    ts, spot = int(row["timestamp"]), float(row["spot"])
                    vol = float(row["vol"]) if row.get("vol") not in (None, "") else None
                except (TypeError, ValueError) as exc:
                    raise SourceError(f"csv source {path} line {n}: {exc}") from None
                if spot <= 0 or (vol is not None and not 0.01 <= vol <= 5):
                    raise SourceError(f"csv source {path} line {n}: spot or vol out of range")
                rows.append((ts, spot, vol))
        if not rows:
            raise SourceError(f"csv source {path}: no rows")
        rows.sort(key=lambda r: r[0])
        self.rows = rows
        self.times = np.array([r[0] for r in rows], dtype=np.int64)

    def quote(self, now: int, chain_spot: float) -> Quote | None:
        i = int(np.searchsorted(self.times, now, side="right")) - 1
        if i < 0:
            return None
        ts, spot, vol = self.rows[i]
        return Quote(spot, vol, ts)


class SimSource:
    """A simulated feed: one seeded log-normal step per hour from the oracle's spot."""

    kind = "sim"

    def __init__(self, seed: int, vol: float = 0.8):
        self.seed = seed
        self.vol = vol

    def quote(self, now: int, chain_spot: float) -> Quote | None:
        if chain_spot <= 0:
            return None
        hour = now // HOUR
        z = np.random.default_rng([self.seed, hour]).standard_normal()
        step = self.vol * math.sqrt(HOUR / YEAR_SEC) * z - 0.5 * self.vol**2 * HOUR / YEAR_SEC
        return Quote(chain_spot * math.exp(step), self.vol, hour * HOUR)


class FeedSource:
    """A Chainlink-style aggregator: `pull` mode asks the Oracle to read its own feed."""

    kind = "feed"

    def __init__(self, address: str | None):
        self.address = address  # None: the Oracle's configured feed, pulled
        self.pull = address is None

    def quote_from(self, round_data: Any, decimals: int) -> Quote | None:
        _, answer, _, updated, _ = round_data
        if answer <= 0:
            return None
        return Quote(answer / 10**decimals, None, int(updated), int(updated))


def parse_source(spec: str | None) -> CsvSource | SimSource | FeedSource:
    """`csv:PATH`, `sim:SEED`, `feed` or `feed:0xADDRESS`."""
    if not spec:
        raise SourceError("the oracle updater needs --source (csv:PATH, sim:SEED, feed, feed:ADDR)")
    kind, _, arg = spec.partition(":")
    if kind == "csv" and arg:
        return CsvSource(arg)
    if kind == "sim":
        try:
            return SimSource(int(arg or "0"))
        except ValueError:
            raise SourceError(f"--source {spec}: the seed must be an integer") from None
    if kind == "feed":
        if not arg:
            return FeedSource(None)
        if not (arg.startswith("0x") and len(arg) == 42):
            raise SourceError(f"--source {spec}: not a 0x-prefixed 20-byte address")
        return FeedSource(arg)
    raise SourceError(f"--source {spec}: expected csv:PATH, sim:SEED, feed or feed:0xADDRESS")
