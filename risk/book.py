"""A book of margin accounts on shared series: loading, validation and margin.

The risk engine's unit of work for keepers, parameter design and the `optsim margin`
command: every account holds a few of the market's listed series, as on-chain.

Positions file (CSV or JSON records), one row per position:

    account   any label (string or integer): rows with the same label form one account
    strike    USD, > 0
    t_sec     seconds to expiry, >= 0 (or `expiry_days`, days, >= 0)
    vol       the series' vol, > 0 (0.6 = 60%)
    type      "call" or "put" (or `is_call`: true/false/1/0)
    size      contracts, negative when short, finite
    cash      optional: the account's collateral in USD (its first row's value is used;
              the other rows may repeat it or leave it empty)

Rows with the same (strike, t_sec, vol, type) share one series; an account holding one
series twice (e.g. long and short) has them netted, as the contract does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from risk.margin import Margin
from risk.margin_batch import accounts_margin
from risk.params import MarginParams
from risk.pricing import check_option_inputs
from risk.units import DAY

REQUIRED = ("account", "strike", "vol", "size")
OPTIONAL = ("t_sec", "expiry_days", "type", "is_call", "cash")


@dataclass(frozen=True)
class Book:
    """Accounts over shared series, as arrays (see the module docstring for units)."""

    spot: float
    strike: np.ndarray  # (S,) USD
    t_sec: np.ndarray  # (S,) seconds
    vol: np.ndarray  # (S,) 1.0 = 100%
    is_call: np.ndarray  # (S,) bool
    series_idx: np.ndarray  # (A, P) int, into the series arrays
    size: np.ndarray  # (A, P) contracts, 0 = empty slot
    cash: np.ndarray  # (A,) USD collateral (NaN = unknown)
    accounts: tuple[Any, ...]  # (A,) labels

    @property
    def series(self) -> dict[str, np.ndarray]:
        return {
            "strike": self.strike,
            "t_sec": self.t_sec,
            "vol": self.vol,
            "is_call": self.is_call,
        }

    def margin(self, params: MarginParams, spot: float | None = None) -> Margin:
        """Value, MM, IM of every account (risk.margin_batch), at `spot` or the book's."""
        return accounts_margin(
            self.spot if spot is None else spot,
            strike=self.strike,
            t_sec=self.t_sec,
            vol=self.vol,
            is_call=self.is_call,
            series_idx=self.series_idx,
            size=self.size,
            params=params,
        )

    def margin_frame(self, params: MarginParams) -> pd.DataFrame:
        """One row per account: value, mm, im and, when cash is known, equity and health."""
        m = self.margin(params)
        df = pd.DataFrame(
            {"account": list(self.accounts), "value": m.value, "mm": m.mm, "im": m.im}
        )
        df["cash"] = self.cash
        df["equity"] = self.cash + m.value
        df["im_surplus"] = df["equity"] - df["im"]
        df["below_mm"] = df["equity"] < df["mm"]
        return df

    def with_cash(self, cash: np.ndarray) -> Book:
        return Book(**{**self.__dict__, "cash": np.asarray(cash, dtype=float)})

    @classmethod
    def from_frame(cls, df: pd.DataFrame, spot: float) -> Book:
        """Build from one row per position (columns in the module docstring).

        Raises:
            ValueError: an unknown or missing column, or a value outside its range, named
                with its row.
        """
        _check_columns(df)
        check_option_inputs(spot=np.asarray([spot], dtype=float))
        t_sec = _tenor(df)
        is_call = _call_flags(df)
        strike = _floats(df, "strike")
        vol = _floats(df, "vol")
        size = _floats(df, "size")
        _check_rows(strike, "strike", lambda x: x > 0, "(0, inf) USD")
        _check_rows(vol, "vol", lambda x: x > 0, "(0, inf) (1.0 = 100%)")
        _check_rows(t_sec, "t_sec", lambda x: x >= 0, "[0, inf) seconds")
        _check_rows(size, "size", np.isfinite, "finite contracts")

        keys = pd.DataFrame({"strike": strike, "t_sec": t_sec, "vol": vol, "call": is_call})
        series_of_row, uniques = pd.MultiIndex.from_frame(keys).factorize()
        labels, account_of_row = _accounts(df["account"])
        n_acc = len(labels)
        # net repeated (account, series) rows, then lay the positions out as (A, P)
        net: dict[tuple[int, int], float] = {}
        for a, s, q in zip(account_of_row, series_of_row, size, strict=True):
            net[(a, s)] = net.get((a, s), 0.0) + q
        per_account: list[list[tuple[int, float]]] = [[] for _ in range(n_acc)]
        for (a, s), q in net.items():
            per_account[a].append((s, q))
        width = max(len(p) for p in per_account)
        idx = np.zeros((n_acc, width), dtype=np.int64)
        sizes = np.zeros((n_acc, width))
        for a, rows in enumerate(per_account):
            for j, (s, q) in enumerate(rows):
                idx[a, j], sizes[a, j] = s, q
        cash = _cash(df, account_of_row, n_acc)
        levels = pd.DataFrame(list(uniques), columns=["strike", "t_sec", "vol", "call"])
        return cls(
            spot=float(spot),
            strike=levels["strike"].to_numpy(float),
            t_sec=levels["t_sec"].to_numpy(float),
            vol=levels["vol"].to_numpy(float),
            is_call=levels["call"].to_numpy(bool),
            series_idx=idx,
            size=sizes,
            cash=cash,
            accounts=tuple(labels),
        )

    @classmethod
    def read(cls, path: str | Path, spot: float) -> Book:
        """Load a CSV or JSON (records) positions file."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"positions: no such file {path}")
        if path.suffix.lower() == ".json":
            df = pd.read_json(path, orient="records")
        elif path.suffix.lower() == ".csv":
            df = pd.read_csv(path)
        else:
            raise ValueError(f"positions: expected a .csv or .json file, got {path.name}")
        if df.empty:
            raise ValueError(f"positions: {path} has no rows")
        return cls.from_frame(df, spot)


def example_book(
    spot: float = 2_000.0,
    vol: float = 0.6,
    n_accounts: int = 2_000,
    seed: int = 0,
    params: MarginParams | None = None,
) -> Book:
    """A synthetic book like the default deployment's: 7- and 30-day expiries, strikes at
    80%-120% of spot; accounts of 1-5 positions, mostly option writers, each funded at its
    IM times U(1, 1.5) under `params` (default MarginParams())."""
    g = np.random.default_rng(seed)
    days = np.repeat([7, 30], 10)
    pct = np.tile(np.repeat([0.8, 0.9, 1.0, 1.1, 1.2], 2), 2)
    calls = np.tile([True, False], 10)
    n_series = len(days)
    n_pos = g.integers(1, 6, n_accounts)
    idx = np.zeros((n_accounts, 5), dtype=np.int64)
    size = np.zeros((n_accounts, 5))
    for a in range(n_accounts):
        chosen = g.choice(n_series, n_pos[a], replace=False)
        idx[a, : n_pos[a]] = chosen
        sign = np.where(g.random(n_pos[a]) < 0.7, -1.0, 1.0)
        size[a, : n_pos[a]] = sign * np.round(g.lognormal(1.0, 0.8, n_pos[a]), 2)
    book = Book(
        spot=spot,
        strike=spot * pct,
        t_sec=days * float(DAY),
        vol=np.full(n_series, vol),
        is_call=calls,
        series_idx=idx,
        size=size,
        cash=np.full(n_accounts, np.nan),
        accounts=tuple(range(n_accounts)),
    )
    im = book.margin(params or MarginParams()).im
    value = book.margin(params or MarginParams()).value
    return book.with_cash(im * g.uniform(1.0, 1.5, n_accounts) - value)


# --- loading ---


def _check_columns(df: pd.DataFrame) -> None:
    columns = set(map(str, df.columns))
    unknown = sorted(columns - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise ValueError(
            f"positions: unknown column(s) {unknown}; allowed: {list(REQUIRED + OPTIONAL)}"
        )
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise ValueError(f"positions: missing column(s) {missing}")
    for group in (("t_sec", "expiry_days"), ("type", "is_call")):
        present = [c for c in group if c in columns]
        if len(present) != 1:
            raise ValueError(f"positions: expected exactly one of the columns {list(group)}")


def _floats(df: pd.DataFrame, name: str) -> np.ndarray:
    values = pd.to_numeric(df[name], errors="coerce").to_numpy(float)
    bad = np.flatnonzero(np.isnan(values))
    if len(bad):
        raise ValueError(
            f"positions: {name} in row {bad[0]} is {df[name].iloc[bad[0]]!r}, not a number"
        )
    return values


def _check_rows(values: np.ndarray, name: str, ok: Any, allowed: str) -> None:
    bad = np.flatnonzero(~ok(values))
    if len(bad):
        raise ValueError(
            f"positions: {name} = {values[bad[0]]} in row {bad[0]} outside allowed range {allowed}"
        )


def _tenor(df: pd.DataFrame) -> np.ndarray:
    if "t_sec" in df.columns:
        return _floats(df, "t_sec")
    days = _floats(df, "expiry_days")
    _check_rows(days, "expiry_days", lambda x: x >= 0, "[0, inf) days")
    return days * DAY


def _call_flags(df: pd.DataFrame) -> np.ndarray:
    if "type" in df.columns:
        kind = df["type"].astype(str).str.strip().str.lower()
        bad = np.flatnonzero(~kind.isin(["call", "put"]).to_numpy())
        if len(bad):
            raise ValueError(
                f"positions: type = {df['type'].iloc[bad[0]]!r} in row {bad[0]} outside allowed "
                "values {'call', 'put'}"
            )
        return (kind == "call").to_numpy()
    flags = df["is_call"].astype(str).str.strip().str.lower()
    mapping = {"true": True, "1": True, "1.0": True, "false": False, "0": False, "0.0": False}
    bad = np.flatnonzero(~flags.isin(list(mapping)).to_numpy())
    if len(bad):
        raise ValueError(
            f"positions: is_call = {df['is_call'].iloc[bad[0]]!r} in row {bad[0]} outside allowed "
            "values {true, false, 1, 0}"
        )
    return flags.map(mapping).to_numpy(bool)


def _accounts(column: pd.Series) -> tuple[list[Any], np.ndarray]:
    if column.isna().any():
        raise ValueError(
            f"positions: account is empty in row {int(np.flatnonzero(column.isna())[0])}"
        )
    codes, labels = pd.factorize(column, sort=False)
    return list(labels), codes


def _cash(df: pd.DataFrame, account_of_row: np.ndarray, n_acc: int) -> np.ndarray:
    cash = np.full(n_acc, np.nan)
    if "cash" not in df.columns:
        return cash
    values = pd.to_numeric(df["cash"], errors="coerce").to_numpy(float)
    for row, (a, c) in enumerate(zip(account_of_row, values, strict=True)):
        if np.isnan(c):
            continue
        if np.isnan(cash[a]):
            cash[a] = c
        elif cash[a] != c:
            raise ValueError(
                f"positions: cash = {c} in row {row} differs from the account's first cash "
                f"{cash[a]} (one value per account)"
            )
    return cash
