"""Margin-coverage backtests and walk-forward (out-of-sample) evaluation of margin models.

A margin requirement m posted at time t for a position held over `horizon` steps "fails"
(an exceedance, I_t = 1) when the realised loss over (t, t + horizon] is larger than m.
A model targeting `coverage` c should fail with probability p = 1 - c, independently
from one origin to the next. Three likelihood-ratio tests check this:

    Kupiec POF        x failures in n:  LR_pof = -2 [ (n-x) ln(1-p) + x ln p
                                                      - (n-x) ln(1-x/n) - x ln(x/n) ]
                      ~ chi2(1) under H0 (failure probability = p)
    Christoffersen    transitions n_ij = #{t: I_{t-1} = i, I_t = j} over the n - 1 pairs,
    independence      pi01 = n01 / (n00 + n01), pi11 = n11 / (n10 + n11),
                      pi = (n01 + n11) / (n - 1)
                      LR_ind = -2 [ (n00 + n10) ln(1-pi) + (n01 + n11) ln pi
                                    - n00 ln(1-pi01) - n01 ln pi01
                                    - n10 ln(1-pi11) - n11 ln pi11 ]
                      ~ chi2(1) under H0 (pi01 = pi11: no clustering)
    conditional       LR_cc = LR_pof + LR_ind ~ chi2(2) (correct rate and independence)

with 0 ln 0 = 0 throughout, so 0 failures, all failures and empty transition rows give
finite statistics (the likelihood limits). LR_cc uses LR_pof on all n observations, the
usual practical form; Christoffersen's (1998) exact decomposition conditions on the first
observation instead, which differs by one observation.

The walk-forward evaluation fits a model on the `train_window` returns strictly before
each origin t, asks it for a margin (a fraction of notional) and compares it with the
loss realised over (t, t + horizon]. The model only ever receives a copy of that slice,
so it cannot see data at or after t. Units: returns are log returns per step; margins and
losses are fractions of the notional at t (0.05 = 5%):

    long  loss = 1 - exp(R),  short loss = exp(R) - 1,  R = r_t + ... + r_{t+horizon-1}

where r_i = ln(P_{i+1} / P_i) is the return over (i, i+1], so origin t sits at price P_t.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, TypeVar

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import xlogy

M = TypeVar("M")
Side = Literal["long", "short"]
FitFn = Callable[[np.ndarray], Any]
MarginFn = Callable[[Any, int, float, str], float]  # (model, horizon, coverage, side)

SIDES = ("long", "short")
DEFAULT_ALPHA = 0.05  # significance level of the `reject` flags
BASEL_GREEN = 0.95  # traffic light: green while P(X <= x) < 95%
BASEL_RED = 0.9999  # red once P(X <= x) >= 99.99%
_STD_NORMAL = statistics.NormalDist()  # inv_cdf is ~50x faster than scipy's per call


# --- input checks ---


def _check_coverage(coverage: float) -> float:
    """coverage as a float in the open interval (0, 1), else a ValueError naming it."""
    try:
        c = float(coverage)
    except (TypeError, ValueError):
        raise ValueError(f"coverage = {coverage!r} must be a number in (0, 1)") from None
    if not 0.0 < c < 1.0:  # also rejects NaN
        raise ValueError(f"coverage = {coverage!r} outside allowed range (0, 1)")
    return c


def _check_alpha(alpha: float) -> float:
    a = float(alpha)
    if not 0.0 < a < 1.0:
        raise ValueError(f"alpha = {alpha!r} outside allowed range (0, 1)")
    return a


def _check_int(name: str, value: Any, lo: int) -> int:
    """value as an int >= lo (bools and non-integral floats refused)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} = {value!r} must be an integer >= {lo}")
    if value < lo:
        raise ValueError(f"{name} = {value} outside allowed range [{lo}, inf)")
    return int(value)


def _as_exceedances(exceedances: Any, min_len: int) -> np.ndarray:
    """A 1-D boolean array from bools or 0/1 numbers; anything else is a ValueError."""
    arr = np.asarray(exceedances)
    if arr.ndim != 1:
        raise ValueError(f"exceedances: expected a 1-D sequence, got shape {arr.shape}")
    if len(arr) < min_len:
        raise ValueError(
            f"exceedances: length {len(arr)} outside allowed range [{min_len}, inf) "
            "(need at least this many observations)"
        )
    if arr.dtype == bool:
        return arr
    if arr.dtype.kind not in "iuf":
        raise ValueError(
            f"exceedances: dtype {arr.dtype} not allowed; expected booleans (True/False or 0/1)"
        )
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        i = int(np.flatnonzero(np.isnan(arr))[0])
        raise ValueError(f"exceedances: NaN at index {i}; allowed values are {{0, 1}}")
    bad = arr[(arr != 0) & (arr != 1)]
    if bad.size:
        raise ValueError(f"exceedances: value {bad[0]!r} outside allowed values {{0, 1}}")
    return arr.astype(bool)


# --- coverage tests ---


class KupiecResult(NamedTuple):
    """Kupiec's proportion-of-failures test (LR ~ chi2(1) under a correct failure rate)."""

    n: int  # observations
    failures: int  # exceedances x
    expected_failures: float  # n * (1 - coverage)
    failure_rate: float  # x / n
    coverage: float  # target coverage c; H0 failure probability p = 1 - c
    lr: float  # LR_pof >= 0
    p_value: float  # P(chi2(1) > lr)

    @property
    def coverage_achieved(self) -> float:
        """1 - x / n, to set against `coverage`."""
        return 1.0 - self.failure_rate

    @property
    def reject(self) -> bool:
        """Reject H0 at the 5% level."""
        return self.reject_at(DEFAULT_ALPHA)

    def reject_at(self, alpha: float) -> bool:
        """Reject H0 at significance `alpha` in (0, 1)."""
        return self.p_value < _check_alpha(alpha)


class IndependenceResult(NamedTuple):
    """Christoffersen's Markov independence test (LR ~ chi2(1) under no clustering)."""

    n00: int
    n01: int
    n10: int
    n11: int
    pi01: float  # P(fail | no fail before); NaN when n00 + n01 = 0 (row never visited)
    pi11: float  # P(fail | fail before); NaN when n10 + n11 = 0 (no failure before the end)
    pi: float  # pooled (n01 + n11) / (n - 1)
    lr: float  # LR_ind >= 0
    p_value: float  # P(chi2(1) > lr)

    @property
    def reject(self) -> bool:
        """Reject independence at the 5% level."""
        return self.reject_at(DEFAULT_ALPHA)

    def reject_at(self, alpha: float) -> bool:
        """Reject independence at significance `alpha` in (0, 1)."""
        return self.p_value < _check_alpha(alpha)


class ConditionalResult(NamedTuple):
    """Christoffersen's conditional-coverage test, LR_cc = LR_pof + LR_ind ~ chi2(2)."""

    pof: KupiecResult
    independence: IndependenceResult
    lr: float  # LR_cc
    p_value: float  # P(chi2(2) > lr)

    @property
    def reject(self) -> bool:
        """Reject correct conditional coverage at the 5% level."""
        return self.reject_at(DEFAULT_ALPHA)

    def reject_at(self, alpha: float) -> bool:
        """Reject correct conditional coverage at significance `alpha` in (0, 1)."""
        return self.p_value < _check_alpha(alpha)


def _bernoulli_loglik(zeros: float, ones: float, prob: float) -> float:
    """zeros ln(1 - prob) + ones ln(prob), with 0 ln 0 = 0 (the limit at prob = 0 or 1)."""
    return float(xlogy(zeros, 1.0 - prob) + xlogy(ones, prob))


def _lr(restricted: float, unrestricted: float) -> float:
    """-2 (restricted - unrestricted) clipped at 0 (rounding can make it -1e-16)."""
    return max(0.0, -2.0 * (restricted - unrestricted))


def kupiec_pof(exceedances: Any, coverage: float) -> KupiecResult:
    """Kupiec's proportion-of-failures likelihood-ratio test.

    LR_pof = -2 [ln L(p) - ln L(x/n)], L(q) = (1-q)^(n-x) q^x, p = 1 - coverage. It only
    looks at the count of failures, not when they happen (see `christoffersen_independence`).

    Args:
        exceedances: 1-D booleans (or 0/1), True where the loss exceeded the margin.
        coverage: target coverage in (0, 1), e.g. 0.99 for a 99% margin.

    Returns:
        KupiecResult; with 0 or n failures the statistic is the finite likelihood limit
        (-2 n ln(1-p), resp. -2 n ln p).

    Raises:
        ValueError: empty or non-boolean exceedances, or coverage outside (0, 1).
    """
    hits = _as_exceedances(exceedances, min_len=1)
    c = _check_coverage(coverage)
    p = 1.0 - c
    n = len(hits)
    x = int(hits.sum())
    rate = x / n
    lr = _lr(_bernoulli_loglik(n - x, x, p), _bernoulli_loglik(n - x, x, rate))
    return KupiecResult(n, x, n * p, rate, c, lr, float(stats.chi2.sf(lr, 1)))


def transition_counts(exceedances: Any) -> tuple[int, int, int, int]:
    """(n00, n01, n10, n11): n_ij = #{t >= 1: I_{t-1} = i, I_t = j}, n - 1 pairs in all."""
    hits = _as_exceedances(exceedances, min_len=2)
    prev, cur = hits[:-1], hits[1:]
    n01 = int(np.sum(~prev & cur))
    n10 = int(np.sum(prev & ~cur))
    n11 = int(np.sum(prev & cur))
    return len(cur) - n01 - n10 - n11, n01, n10, n11


def christoffersen_independence(exceedances: Any) -> IndependenceResult:
    """Christoffersen's first-order Markov independence likelihood-ratio test.

    H0: the chance of a failure does not depend on whether the previous step failed
    (pi01 = pi11). Clustered failures (pi11 > pi01) are what a margin model that reacts
    too slowly to volatility produces. An empty transition row (e.g. no failure before
    the last observation) contributes nothing to either likelihood.

    Args:
        exceedances: 1-D booleans (or 0/1), at least 2 of them.

    Returns:
        IndependenceResult with the transition counts and LR_ind ~ chi2(1).

    Raises:
        ValueError: fewer than 2 observations or non-boolean exceedances.
    """
    n00, n01, n10, n11 = transition_counts(exceedances)
    row0, row1 = n00 + n01, n10 + n11
    pi01 = n01 / row0 if row0 else math.nan
    pi11 = n11 / row1 if row1 else math.nan
    pi = (n01 + n11) / (row0 + row1)
    restricted = _bernoulli_loglik(n00 + n10, n01 + n11, pi)
    unrestricted = 0.0
    if row0:
        unrestricted += _bernoulli_loglik(n00, n01, pi01)
    if row1:
        unrestricted += _bernoulli_loglik(n10, n11, pi11)
    lr = _lr(restricted, unrestricted)
    return IndependenceResult(n00, n01, n10, n11, pi01, pi11, pi, lr, float(stats.chi2.sf(lr, 1)))


def christoffersen_conditional(exceedances: Any, coverage: float) -> ConditionalResult:
    """Christoffersen's conditional-coverage test: LR_cc = LR_pof + LR_ind ~ chi2(2).

    Rejects a model whose failures are too many, too few, or clustered.

    Raises:
        ValueError: as `kupiec_pof` and `christoffersen_independence`.
    """
    pof = kupiec_pof(exceedances, coverage)
    ind = christoffersen_independence(exceedances)
    lr = pof.lr + ind.lr
    return ConditionalResult(pof, ind, lr, float(stats.chi2.sf(lr, 2)))


# --- traffic light ---


class TrafficLight(NamedTuple):
    """Basel-style zone of a failure count, from the binomial(n, 1 - coverage) cdf."""

    zone: Literal["green", "yellow", "red"]
    failures: int
    n: int
    coverage: float
    cumulative_probability: float  # P(X <= failures) under a correct model
    green_max: int  # largest count in the green zone
    yellow_max: int  # largest count in the yellow zone (red from yellow_max + 1)


def traffic_light_bounds(
    n: int, coverage: float, green: float = BASEL_GREEN, red: float = BASEL_RED
) -> tuple[int, int]:
    """(green_max, yellow_max) for n observations at a target coverage.

    A count x is green while P(X <= x) < green, yellow while P(X <= x) < red, and red
    after, X ~ binomial(n, 1 - coverage). n = 250 at 99% gives Basel's table: green 0-4,
    yellow 5-9, red 10 or more.
    """
    n = _check_int("n", n, 1)
    p = 1.0 - _check_coverage(coverage)
    if not 0.0 < green < red < 1.0:
        raise ValueError(f"green = {green}, red = {red}: need 0 < green < red < 1")
    cdf = stats.binom.cdf(np.arange(n + 1), n, p)
    # the count x with cdf(x) >= level is the first in the next zone (n if none reach it)
    green_max = int(np.searchsorted(cdf, green, side="left")) - 1
    yellow_max = int(np.searchsorted(cdf, red, side="left")) - 1
    return green_max, yellow_max


def traffic_light(
    failures: int, n: int, coverage: float, green: float = BASEL_GREEN, red: float = BASEL_RED
) -> TrafficLight:
    """Zone of `failures` exceedances in `n` observations (see `traffic_light_bounds`).

    Raises:
        ValueError: failures outside [0, n], n < 1, or coverage outside (0, 1).
    """
    n = _check_int("n", n, 1)
    failures = _check_int("failures", failures, 0)
    if failures > n:
        raise ValueError(f"failures = {failures} outside allowed range [0, n = {n}]")
    c = _check_coverage(coverage)
    green_max, yellow_max = traffic_light_bounds(n, c, green, red)
    zone: Literal["green", "yellow", "red"] = (
        "green" if failures <= green_max else "yellow" if failures <= yellow_max else "red"
    )
    prob = float(stats.binom.cdf(failures, n, 1.0 - c))
    return TrafficLight(zone, failures, n, c, prob, green_max, yellow_max)


# --- losses ---


def log_returns(prices: Any) -> np.ndarray:
    """r_i = ln(P_{i+1} / P_i) from a 1-D array of prices > 0 (length n -> n - 1)."""
    p = np.asarray(prices, dtype=float)
    if p.ndim != 1 or len(p) < 2:
        raise ValueError(f"prices: expected a 1-D array of at least 2 prices, got shape {p.shape}")
    if not np.all(np.isfinite(p) & (p > 0.0)):
        i = int(np.flatnonzero(~(np.isfinite(p) & (p > 0.0)))[0])
        raise ValueError(f"prices: {p[i]} at index {i} outside allowed range (0, inf)")
    return np.diff(np.log(p))


def position_loss(log_return: Any, side: str) -> np.ndarray:
    """Loss per unit notional: 1 - exp(R) for a long, exp(R) - 1 for a short."""
    side = _check_side(side)
    r = np.asarray(log_return, dtype=float)
    return -np.expm1(r) if side == "long" else np.expm1(r)


def _check_side(side: str) -> str:
    if side not in SIDES:
        raise ValueError(f"side = {side!r} outside allowed values {SIDES}")
    return side


def _as_returns(returns: Any) -> np.ndarray:
    r = np.asarray(returns, dtype=float)
    if r.ndim != 1:
        raise ValueError(f"returns: expected a 1-D array of log returns, got shape {r.shape}")
    bad = ~np.isfinite(r)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"returns: {r[i]} at index {i}; expected finite log returns")
    return r


# --- reference models ---


class NormalModel(NamedTuple):
    """i.i.d. normal log returns per step: mean mu, standard deviation sigma (> 0)."""

    mu: float
    sigma: float


def fit_normal(train: np.ndarray) -> NormalModel:
    """Sample mean and standard deviation (ddof = 1) of the training log returns."""
    return NormalModel(float(np.mean(train)), float(np.std(train, ddof=1)))


def normal_margin(model: NormalModel, horizon: int, coverage: float, side: str) -> float:
    """Loss quantile at `coverage` over `horizon` steps when R ~ N(mu h, sigma^2 h).

        long   m = 1 - exp(mu h - z sigma sqrt(h))
        short  m = exp(mu h + z sigma sqrt(h)) - 1,      z = Phi^-1(coverage)

    floored at 0 (a margin is never negative).
    """
    z = _STD_NORMAL.inv_cdf(coverage)
    spread = z * model.sigma * math.sqrt(horizon)
    drift = model.mu * horizon
    m = -math.expm1(drift - spread) if _check_side(side) == "long" else math.expm1(drift + spread)
    return max(0.0, m)


def fit_historical(train: np.ndarray) -> np.ndarray:
    """Historical simulation: the model is the training returns themselves."""
    return np.array(train, dtype=float)


def historical_margin(model: np.ndarray, horizon: int, coverage: float, side: str) -> float:
    """Empirical `coverage` quantile of the losses of all overlapping `horizon`-step sums
    of the training returns, floored at 0."""
    if len(model) < horizon:
        raise ValueError(f"train_window = {len(model)} outside allowed range [horizon, inf)")
    csum = np.concatenate(([0.0], np.cumsum(model)))
    losses = position_loss(csum[horizon:] - csum[:-horizon], side)
    return max(0.0, float(np.quantile(losses, coverage)))


# --- walk-forward ---


@dataclass(frozen=True)
class BacktestResult:
    """Per-origin table and the coverage tests on its `exceeded` column.

    table columns (index `origin` = t, the price index at which the margin is posted):
        train_start, train_stop   returns[train_start:train_stop] fitted the model used
                                  (train_stop <= origin out of sample)
        fitted_at                 origin at which that model was fitted
        margin                    requirement, fraction of notional
        realised_return           R = sum of log returns over (t, t + horizon]
        loss                      realised loss, fraction of notional
        exceeded                  loss > margin
    """

    table: pd.DataFrame
    pof: KupiecResult
    independence: IndependenceResult
    conditional: ConditionalResult
    traffic_light: TrafficLight
    coverage: float
    horizon: int
    step: int
    side: str
    scoring: str  # "out-of-sample" or "in-sample"

    @property
    def overlapping(self) -> bool:
        """True when step < horizon: exceedances are autocorrelated by construction."""
        return self.step < self.horizon

    def summary(self) -> dict[str, Any]:
        """One row of `compare_models`: coverage achieved, test p-values, capital cost."""
        return {
            "scoring": self.scoring,
            "n": self.pof.n,
            "coverage": self.coverage,
            "coverage_achieved": self.pof.coverage_achieved,
            "failures": self.pof.failures,
            "expected_failures": self.pof.expected_failures,
            "kupiec_p": self.pof.p_value,
            "independence_p": self.independence.p_value,
            "christoffersen_p": self.conditional.p_value,
            "traffic_light": self.traffic_light.zone,
            "mean_margin": float(self.table["margin"].mean()),
            "overlapping": self.overlapping,
        }


def _origins(n_returns: int, train_window: int, horizon: int, step: int) -> np.ndarray:
    """Origins t = train_window, train_window + step, ... with t + horizon <= n_returns."""
    last = n_returns - horizon
    origins = np.arange(train_window, last + 1, step)
    if len(origins) < 2:
        raise ValueError(
            f"train_window = {train_window}, horizon = {horizon}, step = {step}: too long for "
            f"{n_returns} returns; need train_window + horizon + step <= len(returns) "
            "(at least 2 origins)"
        )
    return origins


def _call_margin(
    margin: MarginFn, model: Any, horizon: int, coverage: float, side: str, t: int
) -> float:
    """margin(model, horizon, coverage, side), checked finite and >= 0."""
    m = float(margin(model, horizon, coverage, side))
    if not (math.isfinite(m) and m >= 0.0):
        raise ValueError(f"margin: returned {m} at origin {t}; expected a finite number >= 0")
    return m


def _result(
    origins: np.ndarray,
    train_start: np.ndarray,
    train_stop: np.ndarray,
    fitted_at: np.ndarray,
    margins: np.ndarray,
    returns: np.ndarray,
    horizon: int,
    step: int,
    coverage: float,
    side: str,
    scoring: str,
) -> BacktestResult:
    csum = np.concatenate(([0.0], np.cumsum(returns)))
    realised = csum[origins + horizon] - csum[origins]
    loss = position_loss(realised, side)
    exceeded = loss > margins
    table = pd.DataFrame(
        {
            "train_start": train_start,
            "train_stop": train_stop,
            "fitted_at": fitted_at,
            "margin": margins,
            "realised_return": realised,
            "loss": loss,
            "exceeded": exceeded,
        },
        index=pd.Index(origins, name="origin"),
    )
    cc = christoffersen_conditional(exceeded, coverage)
    light = traffic_light(cc.pof.failures, cc.pof.n, coverage)
    return BacktestResult(
        table, cc.pof, cc.independence, cc, light, coverage, horizon, step, side, scoring
    )


def walk_forward(
    returns: Any,
    fit: Callable[[np.ndarray], M],
    margin: Callable[[M, int, float, str], float],
    *,
    train_window: int,
    horizon: int = 1,
    step: int | None = None,
    coverage: float = 0.99,
    side: Side = "long",
    refit_every: int = 1,
) -> BacktestResult:
    """Out-of-sample backtest of a margin model on a series of log returns.

    At each origin t = train_window, train_window + step, ... (while t + horizon <=
    len(returns)) the model is fitted on returns[t - train_window : t], the returns over
    (t - train_window, t], strictly before t, and asked for `margin(model, horizon,
    coverage, side)`; the loss over (t, t + horizon] is then compared with it. `fit` gets
    a read-only copy of that slice, never a view of the whole series, so it cannot see
    data at or after t. With refit_every = k the model is refitted at every k-th origin
    and reused in between (it then saw even less recent data, never more).

    The default step = horizon makes the loss windows disjoint. With step < horizon they
    overlap, consecutive exceedances share returns and are autocorrelated by
    construction: the independence test then rejects good models and none of the chi2
    p-values are valid (`BacktestResult.overlapping` flags it).

    Args:
        returns: 1-D finite log returns, returns[i] = ln(P_{i+1} / P_i).
        fit: training returns -> model (anything).
        margin: (model, horizon, coverage, side) -> margin, fraction of notional >= 0.
        train_window: returns per fit, >= 1.
        horizon: liquidation horizon in steps, >= 1.
        step: steps between origins, >= 1 (default horizon).
        coverage: target coverage in (0, 1).
        side: "long" (loses when the price falls) or "short".
        refit_every: refit at every refit_every-th origin, >= 1.

    Returns:
        BacktestResult with the per-origin table and the Kupiec / Christoffersen tests.

    Raises:
        ValueError: NaN or infinite returns, an argument outside its range, windows too
            long for the data (fewer than 2 origins), or a margin that is not finite >= 0.
    """
    r = _as_returns(returns)
    c = _check_coverage(coverage)
    _check_side(side)
    train_window = _check_int("train_window", train_window, 1)
    horizon = _check_int("horizon", horizon, 1)
    step = horizon if step is None else _check_int("step", step, 1)
    refit_every = _check_int("refit_every", refit_every, 1)
    origins = _origins(len(r), train_window, horizon, step)

    margins = np.empty(len(origins))
    fitted_at = np.empty(len(origins), dtype=int)
    model: Any = None
    fit_origin = -1
    for k, t in enumerate(origins):
        t = int(t)
        if k % refit_every == 0:
            start, stop = t - train_window, t
            assert stop <= t, "look-ahead: the training slice must end before the origin"
            train = r[start:stop].copy()  # a copy: a view's .base would expose the future
            train.flags.writeable = False
            model = fit(train)
            fit_origin = t
        fitted_at[k] = fit_origin
        margins[k] = _call_margin(margin, model, horizon, c, side, t)
    assert np.all(fitted_at <= origins)

    return _result(
        origins,
        fitted_at - train_window,
        fitted_at,
        fitted_at,
        margins,
        r,
        horizon,
        step,
        c,
        side,
        "out-of-sample",
    )


def in_sample_backtest(
    returns: Any,
    fit: Callable[[np.ndarray], M],
    margin: Callable[[M, int, float, str], float],
    *,
    train_window: int,
    horizon: int = 1,
    step: int | None = None,
    coverage: float = 0.99,
    side: Side = "long",
) -> BacktestResult:
    """In-sample scoring, for contrast only: ONE fit on ALL the returns (look-ahead).

    The origins and losses are those of `walk_forward` with the same arguments, but the
    model has seen every loss it is scored on, which flatters it (a historical quantile
    scored in-sample meets its coverage almost by construction). The result is labelled
    scoring = "in-sample"; never use it to accept a model.
    """
    r = _as_returns(returns)
    c = _check_coverage(coverage)
    _check_side(side)
    train_window = _check_int("train_window", train_window, 1)
    horizon = _check_int("horizon", horizon, 1)
    step = horizon if step is None else _check_int("step", step, 1)
    origins = _origins(len(r), train_window, horizon, step)

    train = r.copy()
    train.flags.writeable = False
    model = fit(train)
    m = _call_margin(margin, model, horizon, c, side, int(origins[0]))
    n = len(origins)
    return _result(
        origins,
        np.zeros(n, dtype=int),
        np.full(n, len(r)),
        np.full(n, -1),  # fitted once, not at any origin
        np.full(n, m),
        r,
        horizon,
        step,
        c,
        side,
        "in-sample",
    )


def compare_models(
    returns: Any,
    models: Mapping[str, tuple[FitFn, MarginFn]],
    *,
    train_window: int,
    horizon: int = 1,
    step: int | None = None,
    coverage: float = 0.99,
    side: Side = "long",
    refit_every: int = 1,
    in_sample: bool = False,
) -> pd.DataFrame:
    """One row per model: coverage achieved, failures, test p-values, mean margin.

    Every model is scored on the same origins and losses (see `walk_forward`). The
    `mean_margin` column is the capital cost: among models that pass, the cheaper one
    is better. With in_sample=True each model is instead fitted once on all the data
    (`in_sample_backtest`) and every row says scoring = "in-sample": compare it with the
    default out-of-sample table to see how much in-sample scoring flatters a model.

    Returns:
        DataFrame indexed by model name with the columns of `BacktestResult.summary`.

    Raises:
        ValueError: no models, or any `walk_forward` error.
    """
    if not models:
        raise ValueError("models: expected at least one (name -> (fit, margin)) entry")
    rows = {}
    for name, (fit, margin) in models.items():
        if in_sample:
            res = in_sample_backtest(
                returns,
                fit,
                margin,
                train_window=train_window,
                horizon=horizon,
                step=step,
                coverage=coverage,
                side=side,
            )
        else:
            res = walk_forward(
                returns,
                fit,
                margin,
                train_window=train_window,
                horizon=horizon,
                step=step,
                coverage=coverage,
                side=side,
                refit_every=refit_every,
            )
        rows[name] = res.summary()
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    return table
