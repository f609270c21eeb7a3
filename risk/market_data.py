"""Real market data in the formats users have: price bars, a volatility index, an option
chain snapshot.

    read_bars(path)          exchange klines (Binance: millisecond opens, OHLC, volume, any
                             order, the newest bar unfinished) or any OHLC / close CSV with
                             an epoch or datetime column
    read_vol_index(path)     a daily volatility index such as Deribit's DVOL (percent)
    read_option_chain(path)  a Deribit book-summary snapshot (inverse options priced in the
                             underlying, converted to USD at the expiry's forward)

Every reader checks its whole file before it returns anything. The first problem is one
`MarketDataError` line naming the file, the data row (1 = the first row under the header),
the column and the allowed values. Time runs forward in what they return, whichever way the
file is sorted; a file sorted neither way, a repeated timestamp, a non-positive price or a
gap of more than `max_gap_bars` bars is refused. Shorter gaps are kept and reported, as
exchanges have outages (Binance ETHUSDT has 28 between 2017 and 2025, the longest 34 h).

Conventions: times are unix seconds (UTC); a bar's timestamp is its open, its close is
`timestamp + interval`; vols are fractions (0.6 = 60%); prices are USD.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from risk.history import PriceHistory
from risk.units import DAY, HOUR

MAX_GAP_BARS = 100  # a longer hole is not a series any statistic should run across
TIME_COLUMNS = ("timestamp", "open_time", "time", "datetime", "date")
EXPIRY_HOUR = 8  # Deribit options expire at 08:00 UTC


class MarketDataError(ValueError):
    """A market data file that cannot be used; one line naming the file, row and column."""


@dataclass(frozen=True)
class Gap:
    """A hole in a series: no observation for `seconds` after `after` (a timestamp)."""

    after: int
    seconds: int

    def describe(self, interval: int) -> str:
        when = datetime.fromtimestamp(self.after, UTC).strftime("%Y-%m-%d %H:%M")
        return f"{self.seconds / HOUR:g} h after {when} UTC ({self.seconds // interval - 1} bars)"


@dataclass(frozen=True)
class Bars:
    """Price bars in time order, with what the reader found on the way."""

    source: str  # the file's name
    timestamp: np.ndarray  # (n,) int, each bar's open
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray  # USD
    volume: np.ndarray | None
    interval: int  # seconds: the usual spacing (median)
    gaps: tuple[Gap, ...] = ()
    notes: tuple[str, ...] = ()  # e.g. the newest bar dropped as unfinished

    def __len__(self) -> int:
        return len(self.timestamp)

    def between(self, start: int | str | None = None, end: int | str | None = None) -> Bars:
        """The bars opening in [start, end) (unix seconds or an ISO date, UTC)."""
        lo = -np.inf if start is None else _to_epoch(start)
        hi = np.inf if end is None else _to_epoch(end)
        keep = (self.timestamp >= lo) & (self.timestamp < hi)
        vol = None if self.volume is None else self.volume[keep]
        gaps = tuple(g for g in self.gaps if lo <= g.after < hi)
        return Bars(
            self.source,
            self.timestamp[keep],
            self.open[keep],
            self.high[keep],
            self.low[keep],
            self.close[keep],
            vol,
            self.interval,
            gaps,
            self.notes,
        )

    def to_history(self, iv: np.ndarray | None = None) -> PriceHistory:
        """Closes at each bar's close time, as the risk engine's PriceHistory."""
        return PriceHistory(self.timestamp + self.interval, self.close.copy(), iv)

    def describe(self) -> str:
        first = datetime.fromtimestamp(int(self.timestamp[0]), UTC).strftime("%Y-%m-%d %H:%M")
        last = datetime.fromtimestamp(int(self.timestamp[-1]), UTC).strftime("%Y-%m-%d %H:%M")
        text = (
            f"{self.source}: {len(self)} bars of {self.interval / HOUR:g} h, {first} to {last} "
            f"UTC, {len(self.gaps)} gap(s)"
        )
        if self.gaps:
            longest = max(self.gaps, key=lambda g: g.seconds)
            text += f", the longest {longest.describe(self.interval)}"
        return text + "".join(f"; {n}" for n in self.notes)


@dataclass(frozen=True)
class VolIndex:
    """A daily volatility index (DVOL: 30-day implied vol), in time order."""

    source: str
    timestamp: np.ndarray  # (n,) int, the day's start, UTC
    close: np.ndarray  # fraction (0.6 = 60%)
    high: np.ndarray | None
    low: np.ndarray | None
    gaps: tuple[Gap, ...] = ()
    notes: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.timestamp)


@dataclass(frozen=True)
class OptionChain:
    """One option chain snapshot, prices in USD per unit of the underlying.

    Quotes may be one-sided or empty (no bid on a far out-of-the-money option is normal):
    those prices are NaN and `one_sided` counts them; the mark is always there.
    """

    source: str
    snapshot: int  # unix seconds
    index_price: float  # USD, the underlying's index at the snapshot
    expiry: np.ndarray  # (n,) int, unix seconds
    strike: np.ndarray
    is_call: np.ndarray
    forward: np.ndarray  # USD, the expiry's forward (Deribit's underlying_price)
    bid: np.ndarray  # USD, NaN when there is none
    ask: np.ndarray
    mark: np.ndarray
    mark_iv: np.ndarray  # fraction
    one_sided: int = 0  # quotes missing a bid, an ask or both
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def t_sec(self) -> np.ndarray:
        """Seconds from the snapshot to each option's expiry."""
        return (self.expiry - self.snapshot).astype(float)

    def expiries(self) -> list[int]:
        return sorted({int(e) for e in self.expiry})


# --- bars ---


def read_bars(
    path: str | Path,
    *,
    drop_unfinished: bool | None = None,
    max_gap_bars: int = MAX_GAP_BARS,
) -> Bars:
    """Price bars from a kline, OHLC or close CSV.

    Columns (case-insensitive): a time column (timestamp, open_time, time, datetime or
    date: epoch seconds or milliseconds, or a date/datetime, UTC unless it says otherwise),
    then close (or price), optionally open, high, low, volume; other columns are ignored.

    Args:
        drop_unfinished: drop the newest bar, which an exchange download includes while it
            is still open. None (default): drop it when the file is an exchange kline
            download (millisecond open times), keep it otherwise.
        max_gap_bars: refuse a file with a hole of more than this many bars.

    Raises:
        MarketDataError: naming the file, row and column of the first problem.
    """
    path, df = _read_csv(path)
    cols = {str(c).strip().lower(): c for c in df.columns}
    close_col = cols.get("close", cols.get("price"))
    time_col = _time_column(
        path,
        df,
        cols,
        close_col is not None,
        f"a time column ({', '.join(TIME_COLUMNS)}) and close (or price)",
    )
    ts, millis = _epochs(path, df, time_col)
    close = _prices(path, df, close_col)
    opened = _prices(path, df, cols["open"]) if "open" in cols else close
    high = _prices(path, df, cols["high"]) if "high" in cols else np.maximum(opened, close)
    low = _prices(path, df, cols["low"]) if "low" in cols else np.minimum(opened, close)
    volume = None
    if "volume" in cols:
        volume = _numbers(path, df, cols["volume"])
        _refuse(path, volume < 0, cols["volume"], volume, "[0, inf)")
    top, bottom = np.maximum(opened, close), np.minimum(opened, close)
    _refuse(path, high < top, cols.get("high", close_col), high, "[max(open, close), inf)")
    _refuse(path, low > bottom, cols.get("low", close_col), low, "(0, min(open, close)]")
    drop = millis if drop_unfinished is None else drop_unfinished
    ts, series, order, notes = _arrange(
        path,
        ts,
        time_col,
        {"open": opened, "high": high, "low": low, "close": close, "volume": volume},
        "dropped the newest bar ({} UTC) as unfinished" if drop else None,
        "%Y-%m-%d %H:%M",
    )
    interval = int(np.median(np.diff(ts)))
    gaps = _gaps(path, ts, order, interval, max_gap_bars, time_col)
    o, h, lo, c, v = (series[k] for k in ("open", "high", "low", "close", "volume"))
    return Bars(path.name, ts, o, h, lo, c, v, interval, gaps, notes)


def read_prices(path: str | Path) -> PriceHistory:
    """A price history from optsim's own format (timestamp,price[,iv]) or from bars
    (`read_bars`: klines, OHLC or close CSVs), whichever the header says."""
    path = Path(path)
    if not path.is_file():
        raise MarketDataError(f"prices: no such file {path}")
    header = _header(path)
    if {"timestamp", "price"} <= header and header <= {"timestamp", "price", "iv"}:
        return PriceHistory.read(path)
    return read_bars(path).to_history()


# --- volatility index ---


def read_vol_index(
    path: str | Path, *, drop_partial: bool = True, max_gap_bars: int = MAX_GAP_BARS
) -> VolIndex:
    """A daily volatility index in percent (Deribit's DVOL download: date, symbol, open,
    high, low, close, newest first, the newest day possibly partial).

    Args:
        drop_partial: drop the newest day (a download made during it is partial).
    """
    path, df = _read_csv(path)
    cols = {str(c).strip().lower(): c for c in df.columns}
    time_col = _time_column(
        path, df, cols, "close" in cols, "a date (or another time column) and close, in percent"
    )
    ts, _ = _epochs(path, df, time_col)
    close = _numbers(path, df, cols["close"])
    _refuse(path, (close <= 0) | (close > 1_000), cols["close"], close, "(0, 1000] percent")
    high = _numbers(path, df, cols["high"]) / 100 if "high" in cols else None
    low = _numbers(path, df, cols["low"]) / 100 if "low" in cols else None
    ts, series, order, notes = _arrange(
        path,
        ts,
        time_col,
        {"close": close / 100, "high": high, "low": low},
        "dropped the newest day ({}) as possibly partial" if drop_partial else None,
        "%Y-%m-%d",
    )
    close, high, low = series["close"], series["high"], series["low"]
    interval = int(np.median(np.diff(ts)))
    if interval != DAY:
        raise MarketDataError(
            f"{path.name}: column {time_col!r}: a spacing of {interval} s; allowed: daily ({DAY} s)"
        )
    gaps = _gaps(path, ts, order, interval, max_gap_bars, time_col)
    return VolIndex(path.name, ts, close, high, low, gaps, notes)


# --- option chain ---

_INSTRUMENT = re.compile(r"^([A-Z]+)-(\d{1,2}[A-Z]{3}\d{2})-(\d+(?:\.\d+)?)-([CP])$")


def read_option_chain(path: str | Path, snapshot: int | None = None) -> OptionChain:
    """A Deribit book-summary snapshot: instrument_name (ETH-26JUN26-4200-C), bid_price,
    ask_price, mark_price (in the underlying: inverse options), mark_iv (percent),
    underlying_price (the expiry's forward, USD), underlying_index or
    estimated_delivery_price (the index, USD), creation_timestamp (ms).

    Prices become USD by the expiry's forward (Deribit prices an option at its USD
    Black-76 value over the forward); expiry is 08:00 UTC of the instrument's date and
    times to expiry are counted from the snapshot (`snapshot`, else creation_timestamp).

    Raises:
        MarketDataError: crossed quotes (bid above ask), a missing mark or forward, a chain
            without a single two-sided quote, naming the row and column.
    """
    path, df = _read_csv(path)
    cols = {str(c).strip().lower(): c for c in df.columns}
    need = ("instrument_name", "bid_price", "ask_price", "mark_price", "mark_iv")
    missing = [c for c in need if c not in cols]
    if "underlying_price" not in cols:
        missing.append("underlying_price")
    if missing:
        raise MarketDataError(
            f"{path.name}: unknown format: missing column(s) {missing}; expected a Deribit "
            f"book summary ({', '.join(need)}, underlying_price, creation_timestamp)"
        )
    if snapshot is None:
        if "creation_timestamp" not in cols:
            raise MarketDataError(
                f"{path.name}: no creation_timestamp column: give the snapshot time"
            )
        stamps = _numbers(path, df, cols["creation_timestamp"])
        snapshot = int(np.median(stamps)) // 1_000
    expiry, strike, is_call = [], [], []
    for row, name in enumerate(df[cols["instrument_name"]].astype(str), start=1):
        m = _INSTRUMENT.match(name.strip())
        if m is None:
            raise MarketDataError(
                f"{path.name} row {row}, column 'instrument_name': {name!r} is not an option "
                "name like ETH-26JUN26-4200-C"
            )
        day = datetime.strptime(m.group(2), "%d%b%y").replace(hour=EXPIRY_HOUR, tzinfo=UTC)
        expiry.append(int(day.timestamp()))
        strike.append(float(m.group(3)))
        is_call.append(m.group(4) == "C")
    exp = np.array(expiry, dtype=np.int64)
    if np.any(exp <= snapshot):
        row = int(np.flatnonzero(exp <= snapshot)[0]) + 1
        raise MarketDataError(
            f"{path.name} row {row}, column 'instrument_name': expired before the snapshot"
        )
    forward = _prices(path, df, cols["underlying_price"])
    mark = _numbers(path, df, cols["mark_price"])
    _refuse(path, mark < 0, cols["mark_price"], mark, "[0, inf)")
    iv = _numbers(path, df, cols["mark_iv"])
    _refuse(path, (iv <= 0) | (iv > 1_000), cols["mark_iv"], iv, "(0, 1000] percent")
    bid = pd.to_numeric(df[cols["bid_price"]], errors="coerce").to_numpy(float)
    ask = pd.to_numeric(df[cols["ask_price"]], errors="coerce").to_numpy(float)
    bid = np.where(bid > 0, bid, np.nan)  # Deribit shows 0 for no bid
    ask = np.where(ask > 0, ask, np.nan)
    crossed = np.isfinite(bid) & np.isfinite(ask) & (bid > ask)
    _refuse(path, crossed, cols["bid_price"], bid, "bid <= ask (a crossed quote)")
    two_sided = np.isfinite(bid) & np.isfinite(ask)
    if not two_sided.any():
        raise MarketDataError(f"{path.name}: not one two-sided quote (bid and ask) in the chain")
    index = float("nan")  # Deribit's underlying_index is a name; its index price is here:
    for c in ("estimated_delivery_price", "index_price"):
        if c in cols:
            index = float(np.median(_prices(path, df, cols[c])))
            break
    notes = (f"{int((~two_sided).sum())} of {len(df)} quotes one-sided or empty",)
    return OptionChain(
        source=path.name,
        snapshot=int(snapshot),
        index_price=index,
        expiry=exp,
        strike=np.array(strike),
        is_call=np.array(is_call),
        forward=forward,
        bid=bid * forward,
        ask=ask * forward,
        mark=mark * forward,
        mark_iv=iv / 100,
        one_sided=int((~two_sided).sum()),
        notes=notes,
    )


# --- checks shared by the readers ---


def _read_csv(path: str | Path) -> tuple[Path, pd.DataFrame]:
    path = Path(path)
    if not path.is_file():
        raise MarketDataError(f"{path}: no such file")
    try:
        df = pd.read_csv(path, comment="#", skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise MarketDataError(f"{path.name}: not a readable CSV ({first})") from None
    return path, df


def _header(path: Path) -> set[str]:
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.strip() and not line.lstrip().startswith("#"):
                return {c.strip().lower() for c in line.split(",")}
    return set()


def _numbers(path: Path, df: pd.DataFrame, col: Any) -> np.ndarray:
    values = pd.to_numeric(df[col], errors="coerce").to_numpy(float)
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        raise MarketDataError(
            f"{path.name} row {bad[0] + 1}, column {str(col)!r}: {df[col].iloc[bad[0]]!r} is "
            "not a finite number"
        )
    return values


def _prices(path: Path, df: pd.DataFrame, col: Any) -> np.ndarray:
    values = _numbers(path, df, col)
    _refuse(path, values <= 0, col, values, "(0, inf) USD")
    return values


def _refuse(path: Path, bad: np.ndarray, col: Any, values: np.ndarray, allowed: str) -> None:
    rows = np.flatnonzero(bad)
    if len(rows):
        r = int(rows[0])
        raise MarketDataError(
            f"{path.name} row {r + 1}, column {str(col)!r}: {values[r]:g} outside allowed "
            f"range {allowed}"
        )


def _epochs(path: Path, df: pd.DataFrame, col: Any) -> tuple[np.ndarray, bool]:
    """Unix seconds from epoch numbers (seconds or milliseconds) or dates; and whether
    they were milliseconds (an exchange download)."""
    raw = df[col]
    numeric = pd.to_numeric(raw, errors="coerce")
    if numeric.notna().all():
        values = numeric.to_numpy(float)
        millis = bool(np.median(values) > 1e11)  # ms since 1973, s until the year 5138
        secs = values / 1_000 if millis else values
        if np.any(secs != np.floor(secs)):
            r = int(np.flatnonzero(secs != np.floor(secs))[0])
            raise MarketDataError(
                f"{path.name} row {r + 1}, column {str(col)!r}: {raw.iloc[r]!r} is not a "
                "whole second"
            )
        return secs.astype(np.int64), millis
    parsed = pd.to_datetime(raw, errors="coerce", utc=True)
    if raw.astype(str).str.contains("/").any():  # d/m/y or m/d/y: refuse to guess
        other = pd.to_datetime(raw, errors="coerce", utc=True, dayfirst=True)
        both = parsed.notna() & other.notna()
        if both.all() and (parsed != other).any():
            r = int(np.flatnonzero((parsed != other).to_numpy())[0])
            raise MarketDataError(
                f"{path.name} row {r + 1}, column {str(col)!r}: {raw.iloc[r]!r} reads as "
                f"{parsed.iloc[r]:%Y-%m-%d} or {other.iloc[r]:%Y-%m-%d} (day and month "
                "order unknown); write dates as YYYY-MM-DD"
            )
        if other.notna().sum() > parsed.notna().sum():
            parsed = other  # only day-first reads every row (e.g. 25/03/2020)
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        raise MarketDataError(
            f"{path.name} row {bad[0] + 1}, column {str(col)!r}: {raw.iloc[bad[0]]!r} is not "
            "a date, a datetime or epoch seconds / milliseconds"
        )
    return (parsed.astype("int64").to_numpy() // 1_000_000_000).astype(np.int64), False


def _time_column(
    path: Path, df: pd.DataFrame, cols: dict[str, Any], values_found: bool, expected: str
) -> Any:
    """The file's time column, once the value column is known to be there (`values_found`),
    and enough rows for a series; else the one-line refusal."""
    time_col = next((cols[c] for c in TIME_COLUMNS if c in cols), None)
    if time_col is None or not values_found:
        raise MarketDataError(
            f"{path.name}: unknown format: columns {list(map(str, df.columns))}; expected "
            f"{expected}"
        )
    if len(df) < 3:
        raise MarketDataError(f"{path.name}: {len(df)} data rows, need at least 3")
    return time_col


def _arrange(
    path: Path,
    ts: np.ndarray,
    col: Any,
    series: dict[str, np.ndarray | None],
    drop_note: str | None,
    when: str,
) -> tuple[np.ndarray, dict[str, Any], np.ndarray, tuple[str, ...]]:
    """The rows in time order (`_time_order`), the newest dropped when `drop_note` says why
    (its {} gets the newest time, formatted by `when`); also the order and the notes."""
    order, notes = _time_order(path, ts, col)
    ts = ts[order]
    arranged = {k: None if v is None else v[order] for k, v in series.items()}
    if drop_note is not None:
        newest = datetime.fromtimestamp(int(ts[-1]), UTC).strftime(when)
        notes = (*notes, drop_note.format(newest))
        ts = ts[:-1]
        arranged = {k: None if v is None else v[:-1] for k, v in arranged.items()}
    return ts, arranged, order, notes


def _time_order(path: Path, ts: np.ndarray, col: Any) -> tuple[np.ndarray, tuple[str, ...]]:
    """The order that makes time run forward: as stored or reversed (newest first, as
    exchanges export); a file sorted neither way, or a repeated time, is refused."""
    steps = np.diff(ts)
    if np.any(steps == 0):
        r = int(np.flatnonzero(steps == 0)[0]) + 1
        raise MarketDataError(
            f"{path.name} row {r + 1}, column {str(col)!r}: {int(ts[r])} repeats row {r}'s "
            "timestamp (allowed: each time once)"
        )
    if np.all(steps > 0):
        return np.arange(len(ts)), ()
    if np.all(steps < 0):
        return np.arange(len(ts))[::-1], ("newest first in the file: reversed",)
    up = steps > 0
    r = int(np.flatnonzero(up != up[0])[0]) + 1  # the first row against the file's order
    raise MarketDataError(
        f"{path.name} row {r + 1}, column {str(col)!r}: {int(ts[r])} breaks the file's "
        f"{'increasing' if up[0] else 'decreasing'} time order (allowed: sorted either way)"
    )


def _gaps(
    path: Path, ts: np.ndarray, order: np.ndarray, interval: int, max_bars: int, col: Any
) -> tuple[Gap, ...]:
    """The holes in a time-ordered series (`order`: the file's rows in time order)."""
    steps = np.diff(ts)
    holes = np.flatnonzero(steps > 1.5 * interval)
    for i in holes:
        if steps[i] > max_bars * interval:
            gap = Gap(int(ts[i]), int(steps[i]))
            raise MarketDataError(
                f"{path.name} row {int(order[i + 1]) + 1}, column {str(col)!r}: a gap of "
                f"{gap.describe(interval)}; allowed: at most {max_bars} bars (max_gap_bars)"
            )
    return tuple(Gap(int(ts[i]), int(steps[i])) for i in holes)


def _to_epoch(value: int | str) -> int:
    if isinstance(value, str):
        return int(pd.Timestamp(value, tz="UTC").timestamp())
    return int(value)


def epoch_of(name: str, text: str) -> int:
    """Unix seconds from a date/datetime (UTC unless it says otherwise) or an epoch in
    seconds; a ValueError naming `name` otherwise."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        stamp = pd.Timestamp(text)
    except (ValueError, TypeError):
        raise ValueError(
            f"{name}: {text!r} is not a date (YYYY-MM-DD[ HH:MM]) or epoch seconds"
        ) from None
    if stamp is pd.NaT:
        raise ValueError(f"{name}: {text!r} is not a date (YYYY-MM-DD[ HH:MM]) or epoch seconds")
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
    return int(stamp.timestamp())
