"""keepers/sources.py: where the oracle updater's prices come from."""

from __future__ import annotations

import pytest

from keepers.sources import CsvSource, FeedSource, SimSource, SourceError, parse_source
from risk.units import HOUR


def _csv(tmp_path, text: str):
    path = tmp_path / "prices.csv"
    path.write_text(text)
    return path


def test_csv__quote_is_the_last_row_at_or_before_now(tmp_path):
    src = CsvSource(_csv(tmp_path, "timestamp,spot,vol\n200,2100,0.7\n100,2000,\n300,1900,0.9\n"))
    assert src.quote(99, 0.0) is None
    q = src.quote(150, 0.0)
    assert (q.spot, q.vol, q.timestamp) == (2000.0, None, 100)  # rows sorted by time
    assert src.quote(200, 0.0).spot == 2100.0
    assert src.quote(10_000, 0.0).vol == 0.9


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("time,price\n1,2\n", "header must name timestamp and spot"),
        ("timestamp,spot\n1,abc\n", "line 2"),
        ("timestamp,spot,vol\n1,2000,9\n", "line 2: spot or vol out of range"),
        ("timestamp,spot\n1,-5\n", "line 2: spot or vol out of range"),
        ("timestamp,spot\n", "no rows"),
    ],
)
def test_csv__bad_file__error_names_the_line(tmp_path, text, message):
    with pytest.raises(SourceError, match=message):
        CsvSource(_csv(tmp_path, text))


def test_sim__same_seed_and_hour__same_quote_from_the_chain_spot():
    a, b, other = SimSource(7), SimSource(7), SimSource(8)
    now = 1_900_000_000 + 1_234
    assert a.quote(now, 2_000.0) == b.quote(now + 100, 2_000.0)  # the same hour
    assert a.quote(now, 2_000.0) != other.quote(now, 2_000.0)
    assert a.quote(now, 2_000.0) != a.quote(now + HOUR, 2_000.0)
    q = a.quote(now, 2_000.0)
    assert q.timestamp % HOUR == 0 and 1_900 < q.spot < 2_100  # one hourly step at 80% vol
    assert a.quote(now, 0.0) is None


def test_feed__round_data__answer_scaled_by_decimals():
    q = FeedSource("0x" + "11" * 20).quote_from((5, 201_234_000_000, 0, 1_700, 5), 8)
    assert (q.spot, q.vol, q.round_time) == (2012.34, None, 1_700)
    assert FeedSource(None).quote_from((5, 0, 0, 1_700, 5), 8) is None


def test_parse_source__every_form_and_its_errors(tmp_path):
    assert isinstance(parse_source("sim:3"), SimSource)
    assert parse_source("feed").pull and not parse_source("feed:0x" + "ab" * 20).pull
    path = _csv(tmp_path, "timestamp,spot\n1,2000\n")
    assert isinstance(parse_source(f"csv:{path}"), CsvSource)
    for spec, message in [
        (None, "needs --source"),
        ("sim:x", "seed must be an integer"),
        ("feed:0x12", "20-byte address"),
        ("csv:/no/such.csv", "file not found"),
        ("ftp:x", "expected csv:PATH"),
    ]:
        with pytest.raises(SourceError, match=message):
            parse_source(spec)
