"""Price histories: reading a CSV of timestamps and prices, checked, as log returns.

Format (one row per observation, header required):

    timestamp   unix seconds, integers, strictly increasing, evenly spaced (a gap of up to
                twice the usual step is allowed and reported; models assume one step)
    price       USD, > 0
    iv          optional: the ATM implied vol at that time (0.6 = 60%), > 0

Lines starting with ``#`` are comments. The sampling step dt (years) is the median
spacing. Unknown columns are rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from risk.units import YEAR_SEC

COLUMNS = ("timestamp", "price", "iv")


@dataclass(frozen=True)
class PriceHistory:
    """Observations sampled every dt years."""

    timestamp: np.ndarray  # (n,) int seconds
    price: np.ndarray  # (n,) USD
    iv: np.ndarray | None  # (n,) or None

    @property
    def dt(self) -> float:
        """Median spacing in years."""
        return float(np.median(np.diff(self.timestamp))) / YEAR_SEC

    @property
    def log_returns(self) -> np.ndarray:
        return np.diff(np.log(self.price))

    @property
    def gaps(self) -> int:
        """Spacings longer than 1.5 median steps (treated as one step by the models)."""
        d = np.diff(self.timestamp)
        return int(np.sum(d > 1.5 * np.median(d)))

    @classmethod
    def from_frame(cls, df: pd.DataFrame) -> PriceHistory:
        unknown = sorted(set(map(str, df.columns)) - set(COLUMNS))
        if unknown:
            raise ValueError(f"prices: unknown column(s) {unknown}; allowed: {list(COLUMNS)}")
        for name in ("timestamp", "price"):
            if name not in df.columns:
                raise ValueError(f"prices: missing column {name!r}")
        if len(df) < 3:
            raise ValueError(f"prices: expected at least 3 rows, got {len(df)}")
        ts = _numeric(df, "timestamp")
        if np.any(ts != np.round(ts)):
            row = int(np.flatnonzero(ts != np.round(ts))[0])
            raise ValueError(f"prices: timestamp = {ts[row]} in row {row} is not whole seconds")
        steps = np.diff(ts)
        if np.any(steps <= 0):
            row = int(np.flatnonzero(steps <= 0)[0]) + 1
            raise ValueError(
                f"prices: timestamp = {int(ts[row])} in row {row} not after the previous "
                f"{int(ts[row - 1])} (allowed: strictly increasing)"
            )
        price = _numeric(df, "price")
        _positive(price, "price", "(0, inf) USD")
        iv = None
        if "iv" in df.columns:
            iv = _numeric(df, "iv")
            _positive(iv, "iv", "(0, inf) (0.6 = 60%)")
        return cls(ts.astype(np.int64), price, iv)

    @classmethod
    def read(cls, path: str | Path) -> PriceHistory:
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"prices: no such file {path}")
        try:
            df = pd.read_csv(path, comment="#")
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise ValueError(f"prices: {path} is not a readable CSV ({exc})") from None
        return cls.from_frame(df)


def _numeric(df: pd.DataFrame, name: str) -> np.ndarray:
    values = pd.to_numeric(df[name], errors="coerce").to_numpy(float)
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        raise ValueError(
            f"prices: {name} = {df[name].iloc[bad[0]]!r} in row {bad[0]} is not a finite number"
        )
    return values


def _positive(values: np.ndarray, name: str, allowed: str) -> None:
    bad = np.flatnonzero(values <= 0)
    if len(bad):
        raise ValueError(
            f"prices: {name} = {values[bad[0]]} in row {bad[0]} outside allowed range {allowed}"
        )
