"""Anti-procyclicality (APC): the tools CCPs must use so margins do not amplify a crash.

EMIR RTS 153/2013 art. 28 gives a CCP three options; optsim offers all three, each on its
own switch (APC), and the procyclicality metrics that show what they do:

1. **Stressed observations in the lookback.** The margin is the coverage quantile of a
   mixture: (1 - w) the models' distribution now and w (default 25%) the horizon losses of
   the stressed period, the `stress_days`-long window of the history before the origin
   with the highest realised volatility (found again at every refit). A calm year cannot
   forget what the asset has done.
2. **A buffer released in stress.** The posted margin is (1 + b) x the calculated one
   (b = 25%) while the calculated margin is flat or falling. When it rises, the buffer is
   used up first: posted = max(calculated, min((1 + b) calculated, posted before)), so a
   rise of up to b is absorbed without a margin call. Once the calculated margin stops
   rising the buffer is rebuilt, by at most b x calculated per `rebuild_days` (at once
   when 0).
3. **A long lookback floor.** The margin is never below the coverage quantile of all the
   horizon losses in the history before the origin (up to `floor_years`); `LongHistory`
   carries an asset's long past to a committee whose own data are short.

Defaults: options 1 and 3 on, the buffer off (`buffer=0.25` turns it on). Why: on ETH
2019-06 to 2025-11 at 24 h (optsim backtest, 2,372 daily windows, risk.margin_rule's
sanity ceiling at the worst loss before each fit) the stressed weight and the floor alone
give a peak-to-trough ratio of 2.04 and a largest 5-day rise of 1.89x (6.88 and 3.32x
without APC) at a mean margin 1.48 x the ex-post 99.5% loss quantile; the buffer (measured
on the same margins, rebuilt over 30 days) lowers them to 1.68 and 1.56x but costs a
quarter more margin every calm day (1.82 x the ex-post quantile), which the backtest
scores as over-margining: a protocol that wants the smoother margin can turn it on.
The choice is structural (which tools), not a fitted number: every setting is the
regulation's or a round default.

Procyclicality metrics of a margin series m_t (CPMI-IOSCO 2022 review of margin
practices): the peak-to-trough ratio max m / min m, and the largest k-day increase
max over t and 0 < j <= k of m_(t+j) / m_t, for k = 1, 5 and 30 days (a rise within the
k days counts even if the margin falls back before they end).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from risk.jit import jit
from risk.params import MarginParams
from risk.units import DAY, HOUR, YEAR_SEC

PROCYCLICALITY_DAYS = (1, 5, 30)
CEILING = 0.9  # MarginParams.spot_shock's upper bound: no margin rule asks for more
CEILING_MULTIPLE = 1.0  # the sanity ceiling, x the worst horizon loss (risk.margin_rule)


@dataclass(frozen=True)
class APC:
    """Which anti-procyclicality tools are on, and their settings (module docstring)."""

    stressed_weight: float = 0.25  # weight of the stressed period's losses; 0 = off
    stress_days: float = 90.0  # length of the stressed window
    buffer: float = 0.0  # share added in calm times, released in stress (EMIR: 0.25); 0 = off
    rebuild_days: float = 30.0  # days to rebuild a used buffer
    floor_years: float = 10.0  # long lookback of the floor; 0 = off

    @classmethod
    def off(cls) -> APC:
        return cls(stressed_weight=0.0, buffer=0.0, floor_years=0.0)

    @property
    def on(self) -> bool:
        return self.stressed_weight > 0 or self.buffer > 0 or self.floor_years > 0

    def validate(self) -> None:
        checks = {
            "stressed_weight": (self.stressed_weight, 0.0, 0.5),
            "stress_days": (self.stress_days, 1.0, 3650.0),
            "buffer": (self.buffer, 0.0, 1.0),
            "rebuild_days": (self.rebuild_days, 0.0, 3650.0),
            "floor_years": (self.floor_years, 0.0, 100.0),
        }
        for name, (value, lo, hi) in checks.items():
            if not (isinstance(value, int | float) and math.isfinite(value) and lo <= value <= hi):
                raise ValueError(f"apc.{name} = {value!r} outside allowed range [{lo}, {hi}]")


def quantile_shock(horizon_log_returns: Any, coverage: float) -> float:
    """The spot shock that covers both sides at `coverage`: the larger of the long side's
    loss quantile (1 - e^R at the (1 - c) quantile of R) and the short side's (e^R - 1 at
    the c quantile)."""
    r = np.asarray(horizon_log_returns, dtype=float)
    lo, hi = float(np.quantile(r, 1.0 - coverage)), float(np.quantile(r, coverage))
    return max(-math.expm1(lo), math.expm1(hi), 0.0)


@dataclass(frozen=True)
class LongHistory:
    """An asset's long past (e.g. years of daily closes, and of a 30-day implied vol index
    such as Deribit's DVOL) for the long-lookback floors."""

    log_returns: np.ndarray
    dt: float  # years per return
    source: str = ""
    vol_index: np.ndarray | None = None  # implied vol levels, oldest first
    vol_dt: float = 1.0 / 365.0  # years between vol_index levels
    vol_source: str = ""

    @classmethod
    def of(
        cls, prices: Any, source: str, vol_index: Any = None, vol_source: str = ""
    ) -> LongHistory:
        """From a PriceHistory and, optionally, a VolIndex (risk.market_data)."""
        return cls(
            prices.log_returns,
            prices.dt,
            source,
            None if vol_index is None else np.asarray(vol_index.close, dtype=float),
            1.0 / 365.0
            if vol_index is None
            else float(np.median(np.diff(vol_index.timestamp))) / YEAR_SEC,
            vol_source,
        )

    @property
    def years(self) -> float:
        return len(self.log_returns) * self.dt

    def floor(self, horizon_sec: float, coverage: float) -> float:
        """quantile_shock of the overlapping horizon sums (the horizon rounded to whole
        returns, at least one: a daily history floors a 1 h horizon at the 24 h quantile)."""
        k = max(1, int(round(horizon_sec / (self.dt * YEAR_SEC))))
        sums = horizon_sums(self.log_returns, k)
        if len(sums) < 100:
            raise ValueError(
                f"long history {self.source}: {len(sums)} horizon returns, need at least 100"
            )
        return quantile_shock(sums, coverage)

    def vol_floor(self, horizon_sec: float, coverage: float) -> tuple[float, float] | None:
        """(up, down): the coverage quantiles of the implied vol's relative rise and fall over
        the horizon (ratios IV(t + H) / IV(t), H rounded to whole levels, at least one),
        the vol shocks a margin needs to cover the market's own repricing of vol; None
        without a vol index."""
        if self.vol_index is None:
            return None
        v = np.asarray(self.vol_index, dtype=float)
        k = max(1, int(round(horizon_sec / (self.vol_dt * YEAR_SEC))))
        if len(v) - k < 100:
            raise ValueError(
                f"vol history {self.vol_source}: {max(len(v) - k, 0)} horizon ratios, need "
                "at least 100"
            )
        ratio = v[k:] / v[:-k]
        up = float(np.quantile(ratio, coverage)) - 1.0
        down = 1.0 - float(np.quantile(ratio, 1.0 - coverage))
        return max(up, 0.0), max(down, 0.0)


def floored(
    margin: MarginParams, history: LongHistory, horizon_sec: float, coverage: float
) -> tuple[MarginParams, tuple[str, ...]]:
    """The margin parameters raised to the long history's floors, and a note per field raised:
    spot_shock to its coverage loss over the horizon (LongHistory.floor), and, when the
    history has an implied vol index, vol_shock_up/down to its rise and fall
    (LongHistory.vol_floor). Floors are rounded up to 1e-4 and never above a field's bound."""
    what = f"{coverage:.1%} {horizon_sec / HOUR:g} h"
    floors = {
        "spot_shock": (
            history.floor(horizon_sec, coverage),
            f"the {what} loss over {history.years:.1f} years of "
            f"{history.source or 'the long history'}",
        )
    }
    vol = history.vol_floor(horizon_sec, coverage)
    if vol is not None:
        why = f"the {what} move of the implied vol index {history.vol_source}"
        floors["vol_shock_up"] = (vol[0], why)
        floors["vol_shock_down"] = (vol[1], why)
    raised: dict[str, Any] = {}
    notes = []
    for f in MarginParams.FIELDS:
        if f.name not in floors:
            continue
        value, why = floors[f.name]
        floor = min(math.ceil(value * 1e4) / 1e4, float(f.to_human(f.hi)))
        if getattr(margin, f.name) < floor:
            notes.append(f"APC floor: {f.name} {getattr(margin, f.name):.4f} -> {floor:.4f}, {why}")
            raised[f.name] = floor
    return replace(margin, **raised), tuple(notes)


def stressed_window(returns: np.ndarray, window: int) -> tuple[int, int]:
    """[start, end) of the `window` consecutive returns with the largest realised variance
    (the whole series if it is shorter)."""
    n = len(returns)
    if n <= window:
        return 0, n
    sq = np.concatenate(([0.0], np.cumsum(returns * returns)))
    sums = sq[window:] - sq[:-window]
    start = int(np.argmax(sums))
    return start, start + window


def worst_loss(horizon_log_returns: Any) -> float:
    """The largest loss of a long (1 - e^R) or a short (e^R - 1) position over the returns."""
    r = np.asarray(horizon_log_returns, dtype=float)
    return max(-math.expm1(float(r.min())), math.expm1(float(r.max())))


def horizon_sums(returns: np.ndarray, horizon: int) -> np.ndarray:
    """Overlapping sums of `horizon` consecutive log returns (empty if too few)."""
    if len(returns) < horizon:
        return np.empty(0)
    c = np.concatenate(([0.0], np.cumsum(returns)))
    return c[horizon:] - c[:-horizon]


def buffered(calculated: Any, buffer: float, rebuild_steps: float) -> np.ndarray:
    """The posted margin of option 2 (module docstring) for a series of calculated margins
    at consecutive origins; rebuild_steps is the number of origins to rebuild the buffer
    (0: at once)."""
    m = np.asarray(calculated, dtype=float)
    out = np.empty_like(m)
    if len(m) == 0 or buffer == 0:
        out[:] = m
        return out
    out[0] = (1.0 + buffer) * m[0]
    for t in range(1, len(m)):
        full = (1.0 + buffer) * m[t]
        if m[t] > m[t - 1]:  # a rise uses the buffer up first: nothing is rebuilt
            step = 0.0
        else:
            step = full if rebuild_steps <= 0 else buffer * m[t] / rebuild_steps
        out[t] = max(m[t], min(full, out[t - 1] + step))
    return out


def procyclicality(margin: Any, steps_per_day: float) -> dict[str, float]:
    """Peak-to-trough ratio and the largest 1-, 5- and 30-day increases (as ratios) of a
    margin series sampled `steps_per_day` times a day."""
    m = np.asarray(margin, dtype=float)
    if len(m) == 0 or not np.all(m > 0):
        raise ValueError("margin: expected a non-empty series of positive margins")
    out = {"peak_to_trough": float(m.max() / m.min())}
    for days in PROCYCLICALITY_DAYS:
        k = max(1, int(round(days * steps_per_day)))
        ahead = np.full(len(m), -np.inf)  # max of m over (t, t + k]
        for j in range(1, min(k, len(m) - 1) + 1):
            ahead[:-j] = np.maximum(ahead[:-j], m[j:])
        out[f"max_{days}d_increase"] = float((ahead[:-1] / m[:-1]).max()) if len(m) > 1 else 1.0
    return out


# --- option 1 (the stressed mixture) and the sanity ceiling, for any design ---


def stressed_mixtures(
    sorted_draws: list[np.ndarray],
    weights: np.ndarray,
    stressed: np.ndarray,
    stressed_weight: float,
    coverage: float,
) -> tuple[float, float]:
    """(mixture, stressed mixture) shocks: the coverage shock of the models' mixture (each
    model's sorted horizon log returns with its weight), and of the same mixture taking
    `stressed_weight` of the stressed period's sorted horizon returns (option 1), never
    below the first: when today is more stressed than the stressed period, APC does not
    dilute it. Without a stressed period or weight both are the mixture."""
    mixture = _mixture_shock(sorted_draws, np.asarray(weights, dtype=float), coverage)
    if stressed_weight <= 0 or len(stressed) == 0:
        return mixture, mixture
    with_stress = _mixture_shock(
        list(sorted_draws) + [stressed],
        np.append((1 - stressed_weight) * np.asarray(weights, dtype=float), stressed_weight),
        coverage,
    )
    return mixture, max(with_stress, mixture)


def ceiling_of(past_horizon_returns: list[np.ndarray], multiple: float) -> float:
    """The sanity ceiling (risk.margin_rule's docstring says why): `multiple` x the worst
    horizon loss, either side, among the past horizon log returns given (series of any
    step, each summed over the horizon), never above CEILING; CEILING alone when multiple
    is 0 or nothing is given."""
    past = [np.asarray(p, dtype=float) for p in past_horizon_returns if len(p)]
    if multiple <= 0 or not past:
        return CEILING
    return min(CEILING, multiple * max(worst_loss(p) for p in past))


@dataclass(frozen=True)
class HistoryAnchors:
    """What an asset's past sets in a design on a book (risk.ensemble.design_ensemble), the
    same anchors risk.margin_rule's walk-forward rule takes from its price history:

    - the stressed period (option 1): the `stress_days` window of the highest annualised
      realised variance among the long history and the recent returns, as sorted horizon
      log returns, which the models' mixture takes with `stressed_weight`;
    - the floors (option 3): `long`'s coverage losses (LongHistory.floor, vol_floor);
    - the sanity ceiling: ceiling_multiple x the worst horizon loss in both.

    Each series is summed over the horizon at its own step (at least one return, as
    LongHistory.floor: a daily history stands for a shorter horizon at one day).
    """

    long: LongHistory
    stressed: np.ndarray
    stressed_weight: float
    stressed_source: str
    ceiling: float
    ceiling_multiple: float

    @classmethod
    def of(
        cls,
        long: LongHistory,
        recent: Any,
        recent_dt: float,
        horizon_sec: float,
        apc: APC,
        ceiling_multiple: float,
    ) -> HistoryAnchors:
        apc.validate()
        if not (math.isfinite(ceiling_multiple) and 0.0 <= ceiling_multiple <= 100.0):
            raise ValueError(
                f"ceiling_multiple = {ceiling_multiple!r} outside allowed range [0, 100]"
            )
        series = [
            (np.asarray(long.log_returns, dtype=float), long.dt, long.source or "the long history"),
            (np.asarray(recent, dtype=float), recent_dt, "the recent returns"),
        ]
        stressed, source, worst_var, past = np.empty(0), "", -1.0, []
        for r, dt, name in series:
            k = max(1, int(round(horizon_sec / (dt * YEAR_SEC))))
            past.append(horizon_sums(r, k))
            if apc.stressed_weight <= 0:
                continue
            lo, hi = stressed_window(r, max(1, int(round(apc.stress_days * DAY / (dt * YEAR_SEC)))))
            sums = horizon_sums(r[lo:hi], k)
            var = float(np.mean(r[lo:hi] ** 2)) / dt if hi > lo else -1.0
            if len(sums) >= 10 and var > worst_var:
                stressed, worst_var = np.sort(sums), var
                source = f"{name}, {hi - lo} returns at {math.sqrt(var):.0%} realised vol"
        return cls(
            long,
            stressed,
            apc.stressed_weight,
            source,
            ceiling_of(past, ceiling_multiple),
            ceiling_multiple,
        )

    def bounded(
        self, margin: MarginParams, horizon_sec: float, coverage: float
    ) -> tuple[MarginParams, tuple[str, ...]]:
        """The margin raised to the long history's floors (`floored`), then cut to the
        ceiling, in the rule's order, with a note per change."""
        margin, raised = floored(margin, self.long, horizon_sec, coverage)
        margin, cut = self.capped(margin, horizon_sec)
        return margin, raised + cut

    def capped(
        self, margin: MarginParams, horizon_sec: float
    ) -> tuple[MarginParams, tuple[str, ...]]:
        """spot_shock cut to the ceiling (rounded up to 1e-4, as the floors), with a note."""
        cap = math.ceil(self.ceiling * 1e4) / 1e4
        if margin.spot_shock <= cap:
            return margin, ()
        note = (
            f"ceiling: spot_shock {margin.spot_shock:.4f} -> {cap:.4f}, "
            f"{self.ceiling_multiple:g} x the worst {horizon_sec / HOUR:g} h loss in "
            f"{self.long.source or 'the long history'} and the recent returns"
        )
        return replace(margin, spot_shock=cap), (note,)


def _mixture_shock(sorted_rows: list[np.ndarray], weights: np.ndarray, coverage: float) -> float:
    values = np.concatenate(sorted_rows)
    offsets = np.cumsum([0] + [len(r) for r in sorted_rows])
    lo = _mixture_quantile(values, offsets, weights, 1.0 - coverage)
    hi = _mixture_quantile(values, offsets, weights, coverage)
    return max(-math.expm1(lo), math.expm1(hi), 0.0)


@jit
def _mixture_quantile(values, offsets, weights, p):  # type: ignore[no-untyped-def]
    """x with sum_i w_i F_i(x) = p, F_i the empirical CDF of the sorted segment i (bisection
    to 1e-12 of the range; each F_i by binary search)."""
    lo = values.min()
    hi = values.max()
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        cdf = 0.0
        for i in range(weights.shape[0]):
            a = offsets[i]
            b = offsets[i + 1]
            cdf += weights[i] * np.searchsorted(values[a:b], mid, side="right") / (b - a)
        if cdf < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12:
            break
    return hi
