"""risk/market_data.py: real market data in (klines, OHLC and close CSVs, a vol index, an
option chain), on the slices in data/market/ and on small bad files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from risk.greeks import black76
from risk.implied_vol import implied_vol_black76
from risk.market_data import (
    MarketDataError,
    read_bars,
    read_option_chain,
    read_prices,
    read_vol_index,
)
from risk.units import HOUR

DATA = Path(__file__).resolve().parents[2] / "data" / "market"
KLINES = DATA / "ETHUSDT_1h_binance_2020H1.csv"
DVOL = DATA / "ETH_DVOL_daily_deribit_2021-2022.csv"
CHAIN = DATA / "ETH_deribit_chain_2025-11-22T0215Z_4_expiries.csv"


def _utc(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def _write(tmp_path, text: str, name: str = "bars.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- exchange klines ---


def test_read_bars__binance_klines__time_order_newest_dropped_gaps_reported():
    bars = read_bars(KLINES)
    assert bars.interval == HOUR
    assert bars.timestamp[0] == _utc("2020-01-01") and bars.timestamp[-1] == _utc(
        "2020-06-30T23:00"
    )
    assert np.all(np.diff(bars.timestamp) > 0)
    assert any("reversed" in n for n in bars.notes) and any("unfinished" in n for n in bars.notes)
    steps = np.diff(bars.timestamp) // HOUR
    assert len(bars.gaps) == int(np.sum(steps > 1)) > 0  # the exchange's outages, reported
    assert len(bars) + sum(g.seconds // HOUR - 1 for g in bars.gaps) == 182 * 24
    # the crash of 2020-03-12: the worst hour fell about 23% (SOURCES.md), at a low of 101.2
    crash = bars.between("2020-03-12", "2020-03-13")
    assert np.min(np.diff(np.log(crash.close))) < np.log(0.8)
    assert np.min(crash.low) == pytest.approx(101.2, abs=0.5)


def test_read_bars__to_history__closes_at_each_bar_close():
    bars = read_bars(KLINES)
    hist = bars.to_history()
    assert np.array_equal(hist.timestamp, bars.timestamp + HOUR)
    assert np.array_equal(hist.price, bars.close) and hist.dt == pytest.approx(HOUR / 31_536_000)


def test_read_prices__klines_or_optsims_own_format(tmp_path):
    assert len(read_prices(KLINES).price) == len(read_bars(KLINES))
    own = _write(tmp_path, "timestamp,price\n0,100\n3600,101\n7200,99\n", "own.csv")
    assert list(read_prices(own).price) == [100.0, 101.0, 99.0]


# --- other bar files ---


def test_read_bars__close_csv_with_iso_datetimes__oldest_first_last_bar_kept(tmp_path):
    path = _write(tmp_path, "Date,Close\n2024-01-01,100\n2024-01-02,102\n2024-01-03,101\n")
    bars = read_bars(path)
    assert bars.interval == 86_400 and len(bars) == 3 and bars.notes == ()
    assert bars.timestamp[0] == _utc("2024-01-01") and list(bars.high) == [100, 102, 101]


def test_read_bars__epoch_seconds_ohlc__any_extra_columns_ignored(tmp_path):
    text = (
        "time,open,high,low,close,trades\n0,10,11,9,10.5,3\n60,10.5,12,10,11,4\n120,11,11,10,10,5\n"
    )
    bars = read_bars(_write(tmp_path, text))
    assert bars.interval == 60 and bars.volume is None and list(bars.close) == [10.5, 11, 10]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("when,close\n1,2\n2,3\n3,4\n", r"bars.csv: unknown format: .* expected a time column"),
        ("timestamp,close\n0,1\n3600,2\n", "2 data rows, need at least 3"),
        ("timestamp,close\n0,1\n3600,2\n1800,3\n7200,4\n", "row 3, column 'timestamp': 1800"),
        ("timestamp,close\n0,1\n3600,2\n3600,3\n", "row 3, column 'timestamp': 3600 repeats"),
        (
            "timestamp,close\n0,1\n3600,0\n7200,3\n",
            r"row 2, column 'close': 0 outside .*\(0, inf\)",
        ),
        ("timestamp,close\n0,1\n3600,abc\n7200,3\n", "row 2, column 'close': 'abc' is not"),
        (
            "timestamp,open,high,low,close\n0,1,2,1,1.5\n3600,1.5,1.4,1,1.2\n7200,1,2,1,1\n",
            r"row 2, column 'high': 1.4 outside allowed range \[max\(open, close\)",
        ),
        ("date,close\n2024-01-01,1\n2024-13-01,2\n2024-01-03,3\n", "row 2, column 'date'"),
        (
            "date,close\n01/02/2024,1\n12/03/2024,2\n05/04/2024,3\n",
            r"row 1, column 'date': '01/02/2024' reads as 2024-01-02 or 2024-02-01 \(day and "
            r"month order unknown\); write dates as YYYY-MM-DD",
        ),
        (
            "timestamp,close\n0,1\n3600,1\n7200,1\n"
            + "".join(f"{t},1\n" for t in range(7200 + 102 * 3600, 7200 + 106 * 3600, 3600)),
            "row 4, column 'timestamp': a gap of 102 h .* at most 100 bars",
        ),
    ],
    ids=[
        "format",
        "too-few",
        "unsorted",
        "duplicate",
        "zero",
        "not-a-number",
        "high",
        "date",
        "slash-date",
        "gap",
    ],
)
def test_read_bars__bad_file__one_line_naming_file_row_and_column(tmp_path, text, message):
    with pytest.raises(MarketDataError, match=message) as err:
        read_bars(_write(tmp_path, text))
    assert "\n" not in str(err.value)


def test_read_bars__missing_file__names_it(tmp_path):
    with pytest.raises(MarketDataError, match="no such file"):
        read_bars(tmp_path / "none.csv")


# --- the vol index ---


def test_read_vol_index__dvol__fractions_daily_newest_day_dropped():
    v = read_vol_index(DVOL)
    assert v.timestamp[0] == _utc("2021-03-24") and v.timestamp[-1] == _utc("2022-12-31")
    assert np.all(np.diff(v.timestamp) == 86_400)
    day = int(np.flatnonzero(v.timestamp == _utc("2021-05-19"))[0])
    assert v.close[day] == pytest.approx(1.5827) and v.high[day] == pytest.approx(1.7593)
    assert any("partial" in n for n in v.notes)


def test_read_vol_index__hourly_file__refused_naming_the_column(tmp_path):
    text = "timestamp,close\n0,60\n3600,61\n7200,62\n10800,63\n"
    with pytest.raises(MarketDataError, match="column 'timestamp': a spacing of 3600 s"):
        read_vol_index(_write(tmp_path, text))


# --- the option chain ---


def test_read_option_chain__usd_at_the_forward_is_black76_at_mark_iv():
    chain = read_option_chain(CHAIN)
    assert chain.snapshot == _utc("2025-11-22T02:15:13") and chain.index_price == 2758.38
    assert len(chain.expiries()) == 4 and len(chain.strike) == 412
    assert {datetime.fromtimestamp(e, UTC).hour for e in chain.expiries()} == {8}
    # out of the money (Deribit marks in-the-money options off parity): the vol implied by the
    # USD mark is Deribit's mark IV to within half a vol point (at the index instead of the
    # forward, the 7-month options would be 2% off)
    delta = black76(chain.forward, chain.strike, chain.t_sec, chain.mark_iv, chain.is_call).delta
    otm = np.where(chain.is_call, chain.strike > chain.forward, chain.strike < chain.forward)
    use = otm & (np.abs(delta) > 0.05)
    iv = implied_vol_black76(
        chain.mark[use],
        chain.forward[use],
        chain.strike[use],
        chain.t_sec[use],
        chain.is_call[use],
    ).vol
    assert use.sum() > 100 and np.max(np.abs(iv - chain.mark_iv[use])) < 0.005
    two = np.isfinite(chain.bid) & np.isfinite(chain.ask)
    assert np.all(chain.bid[two] <= chain.ask[two]) and chain.one_sided == int((~two).sum())


def _chain_text(bid: str, ask: str, name: str = "ETH-26DEC25-3000-C") -> str:
    head = "instrument_name,bid_price,ask_price,mark_price,mark_iv,underlying_price,"
    head += "estimated_delivery_price,creation_timestamp\n"
    row = f"{name},{bid},{ask},0.05,60,2800,2758,1763777713871\n"
    return head + row + row.replace("3000-C", "3200-C")


@pytest.mark.parametrize(
    ("bid", "ask", "name", "message"),
    [
        ("0.06", "0.05", "ETH-26DEC25-3000-C", r"row 1, column 'bid_price': .* crossed"),
        ("", "", "ETH-26DEC25-3000-C", "not one two-sided quote"),
        ("0.04", "0.05", "ETH-26DEC25-3000", r"row 1, column 'instrument_name': .* not an option"),
        ("0.04", "0.05", "ETH-21NOV25-3000-C", "row 1, column 'instrument_name': expired"),
    ],
    ids=["crossed", "empty", "name", "expired"],
)
def test_read_option_chain__bad_quotes__one_line_naming_row_and_column(
    tmp_path, bid, ask, name, message
):
    path = _write(tmp_path, _chain_text(bid, ask, name), "chain.csv")
    with pytest.raises(MarketDataError, match=message):
        read_option_chain(path)


def test_read_bars__slash_dates_only_one_order_reads__taken_that_way(tmp_path):
    """25/03/2024 can only be day-first: the column is read so, not refused."""
    bars = read_bars(_write(tmp_path, "date,close\n24/03/2024,1\n25/03/2024,2\n26/03/2024,3\n"))
    assert list(bars.timestamp) == [1711238400, 1711324800, 1711411200]
