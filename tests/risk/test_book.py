"""risk/book.py: loading a positions file, netting into series, and naming bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from risk.book import Book, example_book
from risk.margin import portfolio_margin
from risk.params import MarginParams

ROWS = [
    # account, strike, expiry_days, vol, type, size, cash
    ("alice", 2_000.0, 30, 0.6, "call", -2.0, 5_000.0),
    ("alice", 1_800.0, 30, 0.6, "put", -1.0, None),
    ("bob", 2_000.0, 30, 0.6, "call", 1.5, 1_000.0),
    ("bob", 2_000.0, 30, 0.6, "call", 0.5, 1_000.0),  # same series again: netted to 2.0
    ("carol", 2_400.0, 7, 0.8, "CALL", -3.0, 800.0),
]


def _frame(rows=ROWS):
    cols = ["account", "strike", "expiry_days", "vol", "type", "size", "cash"]
    return pd.DataFrame(rows, columns=cols)


def test_from_frame__series_shared_and_rows_netted():
    book = Book.from_frame(_frame(), spot=2_000.0)
    assert book.accounts == ("alice", "bob", "carol")
    assert len(book.strike) == 3  # (2000 call 30d), (1800 put 30d), (2400 call 7d)
    bob = book.size[1][book.size[1] != 0]
    assert bob.tolist() == [2.0]
    np.testing.assert_array_equal(book.cash, [5_000.0, 1_000.0, 800.0])


def test_margin_frame__matches_the_reference_per_account():
    book = Book.from_frame(_frame(), spot=2_000.0)
    df = book.margin_frame(MarginParams())
    for account, rows in _frame().groupby("account", sort=False):
        ref = portfolio_margin(
            2_000.0,
            rows["strike"],
            rows["expiry_days"] * 86_400.0,
            rows["vol"],
            rows["type"].str.lower() == "call",
            rows["size"],
            MarginParams(),
        )
        got = df.set_index("account").loc[account]
        assert got["mm"] == pytest.approx(ref.mm, rel=1e-12)
        assert got["value"] == pytest.approx(ref.value, rel=1e-12)
        cash = rows["cash"].dropna().iloc[0]
        assert got["equity"] == pytest.approx(cash + ref.value)
        assert bool(got["below_mm"]) == (cash + ref.value < ref.mm)


def test_read__csv_and_json__same_book(tmp_path):
    df = _frame()
    df.to_csv(tmp_path / "p.csv", index=False)
    df.to_json(tmp_path / "p.json", orient="records")
    a = Book.read(tmp_path / "p.csv", 2_000.0)
    b = Book.read(tmp_path / "p.json", 2_000.0)
    np.testing.assert_array_equal(a.size, b.size)
    np.testing.assert_array_equal(a.strike, b.strike)


def test_example_book__accounts_funded_between_im_and_1_5_im():
    book = example_book(n_accounts=100, seed=1)
    m = book.margin(MarginParams())
    equity = book.cash + m.value
    assert np.all(equity >= m.im * (1 - 1e-12)) and np.all(equity <= 1.5 * m.im + 1e-9)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda df: df.assign(colour="red"), r"unknown column\(s\) \['colour'\]"),
        (lambda df: df.drop(columns=["vol"]), r"missing column\(s\) \['vol'\]"),
        (lambda df: df.assign(t_sec=1.0), r"exactly one of the columns \['t_sec', 'expiry_days'\]"),
        (lambda df: df.assign(strike=[1.0, -5.0, 1.0, 1.0, 1.0]), r"strike = -5.0 in row 1"),
        (lambda df: df.assign(vol=[0.5, 0.5, 0.0, 0.5, 0.5]), r"vol = 0.0 in row 2 outside"),
        (lambda df: df.assign(type=["call", "put", "x", "call", "put"]), r"type = 'x' in row 2"),
        (lambda df: df.assign(size=["1", "x", "1", "1", "1"]), r"size in row 1 is 'x', not a"),
        (lambda df: df.assign(expiry_days=[1, 1, -1, 1, 1]), r"expiry_days = -1.0 in row 2"),
        (lambda df: df.assign(cash=[1.0, 2.0, 3.0, 3.0, 4.0]), r"cash = 2.0 in row 1 differs"),
        (lambda df: df.assign(account=["a", None, "b", "b", "c"]), r"account is empty in row 1"),
    ],
)
def test_from_frame__bad_input__names_the_field_and_row(change, message):
    with pytest.raises(ValueError, match=message):
        Book.from_frame(change(_frame()), spot=2_000.0)


def test_read__missing_file_and_wrong_suffix(tmp_path):
    with pytest.raises(ValueError, match=r"positions: no such file"):
        Book.read(tmp_path / "none.csv", 2_000.0)
    (tmp_path / "p.txt").write_text("x")
    with pytest.raises(ValueError, match=r"expected a .csv or .json file"):
        Book.read(tmp_path / "p.txt", 2_000.0)


def test_from_frame__bad_spot__names_it():
    with pytest.raises(ValueError, match=r"spot"):
        Book.from_frame(_frame(), spot=-1.0)
