"""SVI volatility surface: one raw-SVI smile per expiry, fitted to quotes, checked for arbitrage.

Gatheral's raw SVI gives the total implied variance w = vol^2 T of one expiry as a function of
the log-moneyness k = ln(K / F):

    w(k) = a + b (rho (k - m) + sqrt((k - m)^2 + sigma^2))

with b >= 0 (the wings' mean slope), |rho| < 1 (their asymmetry: slopes b (1 - rho) on the
left, b (1 + rho) on the right), m (the shift), sigma > 0 (the curvature at the minimum) and
a + b sigma sqrt(1 - rho^2) >= 0 (the minimum of w, so that w >= 0 everywhere).

Fitting (`calibrate_slice`): Levenberg-Marquardt (scipy's MINPACK, `least_squares(method="lm")`)
on the residuals

    r_i = sqrt(weight_i) (w(k_i) - w_i) / (2 iv_i T)  ~  sqrt(weight_i) (vol(k_i) - iv_i)

i.e. total-variance errors scaled to vol units to first order, so that a weight of
1 / (ask_iv - bid_iv)^2 asks each quote to be fitted within its spread (vega^2 instead fits
prices to first order). "lm" takes no bounds, so it searches unconstrained variables that
map onto the constraints:

    b = e^u1,  rho = tanh(u2),  m = u3,  sigma = e^u4,
    a = e^u0 - b sigma sqrt(1 - rho^2)          (the minimum of w is e^u0 > 0)

It starts from the best point of a grid over (m, sigma): for fixed m and sigma, w is linear in
(a, b rho, b), so each grid point is a weighted linear least-squares fit (projected onto the
constraints), and LM only polishes the best one.

Arbitrage: a slice is free of butterfly arbitrage where Gatheral's

    g(k) = (1 - k w' / (2 w))^2 - (w'^2 / 4) (1 / w + 1 / 4) + w'' / 2

is >= 0 (the risk-neutral density is g(k) / sqrt(2 pi w) exp(-d2^2 / 2)); a surface is free of
calendar arbitrage where w(k, T) does not decrease in T at fixed k. Between expiries the
surface interpolates w linearly in T at fixed k (which keeps calendar arbitrage out if the
slices have none); before the first and after the last expiry the vol at fixed k is held.

Quotes (`read_quotes`, `calibrate_surface`; tests/risk/data/quotes_example.csv is an example)
are a table with one row per option and these columns:

    t_sec or t_years   time to expiry: seconds (365-day year, as on-chain) or years, > 0
    strike             USD, > 0
    forward            the expiry's forward price, USD, > 0
    mid_iv             mid implied vol (0.6 = 60%), > 0;  or instead:
    mid_price, is_call mid option price in USD (>= 0) and True/1 for calls; converted to vols
                       by risk.implied_vol's Black-76 solver, and quotes that no vol reprices
                       (below intrinsic, above the upper bound, zero) are dropped and counted
    rate               optional, with mid_price: discount rate per year (default 0)
    bid_iv, ask_iv     optional: weights 1 / (ask_iv - bid_iv)^2, 0 <= bid_iv < ask_iv
    weight             optional, instead of bid_iv/ask_iv: weights > 0 (default all 1)

Rows with the same time to expiry form one slice; each row's k uses its own forward.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from os import PathLike
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from risk.implied_vol import IVStatus, implied_vol_black76
from risk.units import YEAR_SEC

ArrayLike = Any  # float or array of floats
N_PARAMS = 5  # a, b, rho, m, sigma: a slice needs at least this many quotes
_GRID_M = 21  # initial-guess grid: shifts m across the quoted k
_GRID_SIGMA = 20  # and curvatures sigma, log-spaced


# --- one slice ---


@dataclass(frozen=True)
class SviSlice:
    """Raw SVI parameters of one expiry (module docstring); checked on construction.

    Attributes:
        a: total variance level, >= -b sigma sqrt(1 - rho^2).
        b: wing slope, >= 0.
        rho: wing asymmetry, in (-1, 1).
        m: shift in log-moneyness.
        sigma: curvature at the minimum, > 0.
        t_years: time to expiry in years, > 0.
    """

    a: float
    b: float
    rho: float
    m: float
    sigma: float
    t_years: float

    def __post_init__(self) -> None:
        for name in ("a", "b", "rho", "m", "sigma", "t_years"):
            value = getattr(self, name)
            try:
                finite = math.isfinite(value)
            except TypeError:
                finite = False
            if not finite:
                raise ValueError(f"SviSlice.{name} = {value!r} outside allowed range finite")
        _require(self.b >= 0.0, "SviSlice.b", self.b, "[0, inf)")
        _require(-1.0 < self.rho < 1.0, "SviSlice.rho", self.rho, "(-1, 1)")
        _require(self.sigma > 0.0, "SviSlice.sigma", self.sigma, "(0, inf)")
        _require(self.t_years > 0.0, "SviSlice.t_years", self.t_years, "(0, inf) years")
        a_min = -self.b * self.sigma * math.sqrt(1.0 - self.rho**2)
        _require(
            self.a >= a_min - 1e-14 * (1.0 + abs(a_min)),  # rounding of the fit's a
            "SviSlice.a",
            self.a,
            f"[{a_min:.6g}, inf) = [-b sigma sqrt(1 - rho^2), inf) (total variance >= 0)",
        )

    def total_variance(self, k: ArrayLike) -> np.ndarray:
        """w(k) = a + b (rho (k - m) + sqrt((k - m)^2 + sigma^2)), k = ln(K / F)."""
        y = np.asarray(k, dtype=float) - self.m
        return self.a + self.b * (self.rho * y + np.sqrt(y * y + self.sigma**2))

    def implied_vol(self, k: ArrayLike) -> np.ndarray:
        """sqrt(w(k) / T): annualised (0.6 = 60%)."""
        return np.sqrt(np.maximum(self.total_variance(k), 0.0) / self.t_years)

    def density_g(self, k: ArrayLike) -> np.ndarray:
        """Gatheral's g(k) (module docstring); < 0 means butterfly arbitrage at k.

        With z = sqrt((k - m)^2 + sigma^2): w' = b (rho + (k - m) / z), w'' = b sigma^2 / z^3.
        Where w(k) = 0, g is -inf or NaN (the density is undefined there).
        """
        k = np.asarray(k, dtype=float)
        y = k - self.m
        z = np.sqrt(y * y + self.sigma**2)
        w = self.a + self.b * (self.rho * y + z)
        w1 = self.b * (self.rho + y / z)
        w2 = self.b * self.sigma**2 / z**3
        with np.errstate(divide="ignore", invalid="ignore"):
            return (1.0 - k * w1 / (2.0 * w)) ** 2 - 0.25 * w1**2 * (1.0 / w + 0.25) + 0.5 * w2


@dataclass(frozen=True)
class SviFit:
    """A calibrated slice and how well it fits.

    Attributes:
        params: the fitted slice.
        rmse: root mean square of (model vol - quoted vol) over the quotes, unweighted,
            in vol units (0.01 = 1 vol point).
        success: the optimiser converged (scipy's status > 0) to finite parameters.
        n_quotes: quotes fitted.
        message: the optimiser's message.
    """

    params: SviSlice
    rmse: float
    success: bool
    n_quotes: int
    message: str = ""


def calibrate_slice(
    k: ArrayLike, iv: ArrayLike, t_years: float, weights: ArrayLike | None = None
) -> SviFit:
    """Fit raw SVI to one expiry's implied vols (method in the module docstring).

    Args:
        k: log-moneyness ln(K / F) of each quote, finite; at least 5 distinct values.
        iv: implied vol of each quote (0.6 = 60%), > 0, same shape as k.
        t_years: time to expiry in years, > 0.
        weights: per quote, > 0 (e.g. 1 / bid-ask spread^2 in vol); default all equal.

    Returns:
        SviFit; check `success` (a fit that did not converge is returned, not raised).

    Raises:
        ValueError: naming the field that is NaN, out of range or of the wrong shape, or
            when there are fewer distinct k than SVI parameters.
    """
    k = _vector("k", k, "finite", lambda a: np.isfinite(a))
    iv = _vector("iv", iv, "(0, inf)", lambda a: a > 0.0)
    t_years = _positive_scalar("t_years", t_years, "years")
    weights = np.ones_like(k) if weights is None else _vector("weights", weights, "(0, inf)")
    for name, arr in (("iv", iv), ("weights", weights)):
        if arr.shape != k.shape:
            raise ValueError(f"{name}: shape {arr.shape} differs from k's {k.shape}")
    n_distinct = np.unique(k).size
    if n_distinct < N_PARAMS:
        raise ValueError(
            f"k: {n_distinct} distinct quotes, allowed range [{N_PARAMS}, inf) "
            "(one per SVI parameter)"
        )
    w_mkt = iv * iv * t_years
    scale = np.sqrt(weights / weights.mean()) / (2.0 * iv * t_years)  # residual per w error

    def residuals(u: np.ndarray) -> np.ndarray:
        a, b, rho, m, sigma = _from_free(u)
        y = k - m
        return scale * (a + b * (rho * y + np.sqrt(y * y + sigma * sigma)) - w_mkt)

    start = _to_free(*_initial_guess(k, w_mkt, scale))
    res = least_squares(residuals, start, method="lm", x_scale="jac", xtol=1e-12, ftol=1e-12)
    a, b, rho, m, sigma = _from_free(res.x)
    params = SviSlice(float(a), float(b), float(rho), float(m), float(sigma), t_years)
    rmse = float(np.sqrt(np.mean((params.implied_vol(k) - iv) ** 2)))
    success = bool(res.status > 0 and np.all(np.isfinite(res.x)))
    return SviFit(params, rmse, success, int(k.size), str(res.message))


def _from_free(u: np.ndarray) -> tuple[Any, Any, Any, Any, Any]:
    """(a, b, rho, m, sigma) from the unconstrained variables (module docstring)."""
    b, rho, m, sigma = np.exp(u[1]), np.tanh(u[2]), u[3], np.exp(u[4])
    return np.exp(u[0]) - b * sigma * np.sqrt(1.0 - rho * rho), b, rho, m, sigma


def _to_free(a: float, b: float, rho: float, m: float, sigma: float) -> np.ndarray:
    w_min = a + b * sigma * math.sqrt(1.0 - rho * rho)
    return np.array([math.log(w_min), math.log(b), math.atanh(rho), m, math.log(sigma)])


def _initial_guess(
    k: np.ndarray, w_mkt: np.ndarray, scale: np.ndarray
) -> tuple[float, float, float, float, float]:
    """Best (a, b, rho, m, sigma) over a grid of (m, sigma), each point a linear fit.

    For fixed m and sigma, w = a + d y + c z with y = k - m, z = sqrt(y^2 + sigma^2),
    c = b and d = b rho: a weighted linear least-squares problem in (a, d, c). Its solution
    is moved into the constraints (b >= 1e-4 of the largest w, |rho| <= 0.99, minimum of
    w >= 1e-4 of the mean w; LM can leave them from there), and the grid point whose
    projected parameters have the smallest residuals wins.
    """
    span = max(float(k.max() - k.min()), 0.05)
    ms = np.linspace(k.min(), k.max(), _GRID_M)
    sigmas = span * np.geomspace(0.01, 2.0, _GRID_SIGMA)
    m, sigma = (g.ravel()[:, None] for g in np.meshgrid(ms, sigmas))  # (grid, 1)
    y = k - m
    z = np.sqrt(y * y + sigma * sigma)
    design = np.stack([np.ones_like(y), y, z], axis=-1) * scale[:, None]  # (grid, n, 3)
    coef = np.linalg.pinv(design) @ (w_mkt * scale)  # (grid, 3)
    a, d, c = coef[:, 0], coef[:, 1], coef[:, 2]
    b = np.maximum(c, 1e-4 * w_mkt.max())
    rho = np.clip(d / b, -0.99, 0.99)
    sig = sigma[:, 0]
    a_min = 1e-4 * w_mkt.mean() - b * sig * np.sqrt(1.0 - rho * rho)
    a = np.maximum(a, a_min)
    model = a[:, None] + b[:, None] * (rho[:, None] * y + z)
    best = int(np.argmin(np.sum(((model - w_mkt) * scale) ** 2, axis=1)))
    return float(a[best]), float(b[best]), float(rho[best]), float(m[best, 0]), float(sig[best])


# --- arbitrage checks ---


def butterfly_violations(slice_: SviSlice, k_grid: ArrayLike) -> pd.DataFrame:
    """Where on `k_grid` the slice has butterfly arbitrage: g(k) < 0 (or undefined).

    Args:
        slice_: the SVI slice.
        k_grid: log-moneyness points to check, finite.

    Returns:
        DataFrame with columns k and g (negative: how much density is missing), one row per
        violating point; empty if there is none.
    """
    k = _vector("k_grid", k_grid, "finite", lambda a: np.isfinite(a))
    g = slice_.density_g(k)
    bad = ~(g >= 0.0)
    return pd.DataFrame({"k": k[bad], "g": g[bad]})


def calendar_violations(
    surface: SviSurface | Sequence[SviSlice], k_grid: ArrayLike
) -> pd.DataFrame:
    """Where on `k_grid` total variance decreases from one expiry to the next.

    Args:
        surface: an SviSurface, or slices (sorted here by expiry).
        k_grid: log-moneyness points to check, finite.

    Returns:
        DataFrame with columns t_short, t_long (years), k and decrease = w(k, t_short) -
        w(k, t_long) > 0, one row per violating (pair of adjacent expiries, k); empty if none.
    """
    k = _vector("k_grid", k_grid, "finite", lambda a: np.isfinite(a))
    slices = surface.slices if isinstance(surface, SviSurface) else tuple(surface)
    slices = tuple(sorted(slices, key=lambda s: s.t_years))
    columns: dict[str, list[np.ndarray]] = {
        name: [np.empty(0)] for name in ("t_short", "t_long", "k", "decrease")
    }
    for short, long in zip(slices[:-1], slices[1:], strict=True):
        decrease = short.total_variance(k) - long.total_variance(k)
        bad = decrease > 0.0
        columns["t_short"].append(np.full(np.count_nonzero(bad), short.t_years))
        columns["t_long"].append(np.full(np.count_nonzero(bad), long.t_years))
        columns["k"].append(k[bad])
        columns["decrease"].append(decrease[bad])
    return pd.DataFrame({name: np.concatenate(parts) for name, parts in columns.items()})


# --- the surface ---


@dataclass(frozen=True)
class SviSurface:
    """SVI slices sorted by expiry, with their forwards and fits (from `calibrate_surface`).

    Attributes:
        slices: one per expiry, strictly increasing t_years.
        forwards: USD, one per slice (median of the slice's quotes); empty if unknown, and
            then only log-moneyness queries work.
        fits: the calibration of each slice (empty when built from slices).
        n_dropped: quotes dropped because no implied vol reprices their price.
    """

    slices: tuple[SviSlice, ...]
    forwards: tuple[float, ...] = ()
    fits: tuple[SviFit, ...] = field(default=(), repr=False)
    n_dropped: int = 0

    def __post_init__(self) -> None:
        if not self.slices:
            raise ValueError("SviSurface.slices: 0 slices, allowed range [1, inf)")
        t = self.expiries
        if np.any(np.diff(t) <= 0.0):
            raise ValueError(f"SviSurface.slices: t_years {t.tolist()} must strictly increase")
        if self.forwards and len(self.forwards) != len(self.slices):
            raise ValueError(
                f"SviSurface.forwards: {len(self.forwards)} values for {len(self.slices)} slices"
            )
        if self.forwards:
            _vector("SviSurface.forwards", self.forwards, "(0, inf) USD")

    @property
    def expiries(self) -> np.ndarray:
        """Each slice's t_years."""
        return np.array([s.t_years for s in self.slices])

    def total_variance(self, k: ArrayLike, t_years: ArrayLike) -> np.ndarray:
        """w(k, T), linear in T at fixed k between expiries, w / T held outside them.

        Args:
            k: log-moneyness ln(K / F(T)), finite.
            t_years: years, > 0; broadcast with k.
        """
        k = _array("k", k, "finite", lambda a: np.isfinite(a))
        t = _array("t_years", t_years, "(0, inf) years")
        k, t = np.broadcast_arrays(k, t)
        expiries = self.expiries
        w = np.stack([s.total_variance(k) for s in self.slices])  # (slice, ...)
        if len(self.slices) == 1:
            return w[0] * t / expiries[0]
        i = np.clip(np.searchsorted(expiries, t) - 1, 0, len(expiries) - 2)
        t0, t1 = expiries[i], expiries[i + 1]
        w0 = np.take_along_axis(w, i[None], axis=0)[0]
        w1 = np.take_along_axis(w, i[None] + 1, axis=0)[0]
        inside = w0 + (t - t0) / (t1 - t0) * (w1 - w0)
        before = w[0] * t / expiries[0]
        after = w[-1] * t / expiries[-1]
        return np.where(t < expiries[0], before, np.where(t > expiries[-1], after, inside))

    def forward(self, t_years: ArrayLike) -> np.ndarray:
        """F(T) in USD: ln F linear in T between expiries (constant carry), flat outside."""
        if not self.forwards:
            raise ValueError("SviSurface.forwards: empty; give log-moneyness k instead")
        t = _array("t_years", t_years, "(0, inf) years")
        return np.exp(np.interp(t, self.expiries, np.log(self.forwards)))

    def implied_vol(
        self, t_years: ArrayLike, *, k: ArrayLike | None = None, strike: ArrayLike | None = None
    ) -> np.ndarray:
        """Implied vol at log-moneyness k or at a strike (USD, needs `forwards`), and T years.

        Returns sqrt(w(k, T) / T), annualised; arguments broadcast.
        """
        if (k is None) == (strike is None):
            raise ValueError("SviSurface.implied_vol: give exactly one of k and strike")
        if strike is not None:
            strike = _array("strike", strike, "(0, inf) USD")
            k = np.log(strike / self.forward(t_years))
        t = _array("t_years", t_years, "(0, inf) years")
        return np.sqrt(np.maximum(self.total_variance(k, t), 0.0) / t)


# --- quotes ---

_TIME_COLUMNS = ("t_sec", "t_years")
_REQUIRED = ("strike", "forward")
_OPTIONAL = ("mid_iv", "mid_price", "is_call", "rate", "bid_iv", "ask_iv", "weight")
QUOTE_COLUMNS = _TIME_COLUMNS + _REQUIRED + _OPTIONAL


def read_quotes(path: str | PathLike[str]) -> pd.DataFrame:
    """Read a quotes CSV (format in the module docstring) and check it.

    Raises:
        ValueError: as `check_quotes`.
    """
    quotes = pd.read_csv(path)
    check_quotes(quotes)
    return quotes


def check_quotes(quotes: pd.DataFrame) -> None:
    """Raise ValueError naming the first column that is missing, unknown, or holds a value
    outside its range (row numbers count from 0)."""
    columns = set(quotes.columns)
    unknown = sorted(columns - set(QUOTE_COLUMNS))
    if unknown:
        raise ValueError(f"quotes: unknown columns {unknown}, allowed {list(QUOTE_COLUMNS)}")
    if len(columns & set(_TIME_COLUMNS)) != 1:
        raise ValueError("quotes: need exactly one of the columns t_sec and t_years")
    for name in _REQUIRED:
        if name not in columns:
            raise ValueError(f"quotes: missing column {name!r}")
    has_iv, has_price = "mid_iv" in columns, "mid_price" in columns
    if has_iv == has_price:
        raise ValueError("quotes: need exactly one of mid_iv and mid_price (with is_call)")
    if has_price and "is_call" not in columns:
        raise ValueError("quotes: mid_price needs the column is_call")
    if "rate" in columns and not has_price:
        raise ValueError("quotes: rate is only used with mid_price")
    if ("bid_iv" in columns) != ("ask_iv" in columns):
        raise ValueError("quotes: bid_iv and ask_iv go together")
    if "weight" in columns and "bid_iv" in columns:
        raise ValueError("quotes: give either weight or bid_iv/ask_iv, not both")
    if len(quotes) == 0:
        raise ValueError(f"quotes: 0 rows, allowed range [{N_PARAMS}, inf)")
    ranges = {
        "t_sec": "(0, inf) seconds",
        "t_years": "(0, inf) years",
        "strike": "(0, inf) USD",
        "forward": "(0, inf) USD",
        "mid_iv": "(0, inf)",
        "weight": "(0, inf)",
    }
    for name, allowed in ranges.items():
        if name in columns:
            _vector(name, quotes[name], allowed)
    if has_price:
        _vector("mid_price", quotes["mid_price"], "[0, inf) USD", lambda a: a >= 0.0)
        flags = pd.to_numeric(quotes["is_call"], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isin(flags, (0.0, 1.0))
        if np.any(bad):
            row = int(np.argmax(bad))
            raise ValueError(
                f"is_call[{row}] = {quotes['is_call'].iloc[row]!r} outside allowed values "
                "{True, False, 0, 1}"
            )
    if "rate" in columns:
        _vector("rate", quotes["rate"], "finite, per year", lambda a: np.isfinite(a))
    if "bid_iv" in columns:
        bid = _vector("bid_iv", quotes["bid_iv"], "[0, inf)", lambda a: a >= 0.0)
        ask = _vector("ask_iv", quotes["ask_iv"], "(bid_iv, inf)", lambda a: a > bid)
        del ask


def calibrate_surface(quotes: pd.DataFrame) -> SviSurface:
    """Fit one SVI slice per expiry to a quotes table (format in the module docstring).

    Prices are turned into vols first (Black-76 on each row's forward); quotes that no vol
    reprices are dropped and counted in `n_dropped`.

    Raises:
        ValueError: from `check_quotes`, or an expiry left with fewer than 5 distinct strikes.
    """
    check_quotes(quotes)
    if "t_sec" in quotes.columns:
        t_years = quotes["t_sec"].to_numpy(dtype=float) / YEAR_SEC
    else:
        t_years = quotes["t_years"].to_numpy(dtype=float)
    strike = quotes["strike"].to_numpy(dtype=float)
    forward = quotes["forward"].to_numpy(dtype=float)
    if "mid_iv" in quotes.columns:
        iv = quotes["mid_iv"].to_numpy(dtype=float)
    else:
        is_call = pd.to_numeric(quotes["is_call"]).to_numpy(dtype=float) == 1.0
        rate = quotes["rate"].to_numpy(dtype=float) if "rate" in quotes.columns else 0.0
        price = quotes["mid_price"].to_numpy(dtype=float)
        # other fields are checked: a flag here is a price no vol reprices (or a zero price)
        solved = implied_vol_black76(
            price, forward, strike, t_years * YEAR_SEC, is_call, rate, errors="flag"
        )
        iv = np.where(solved.status == IVStatus.OK, solved.vol, np.nan)
    if "weight" in quotes.columns:
        weights = quotes["weight"].to_numpy(dtype=float)
    elif "bid_iv" in quotes.columns:
        spread = quotes["ask_iv"].to_numpy(dtype=float) - quotes["bid_iv"].to_numpy(dtype=float)
        weights = 1.0 / spread**2
    else:
        weights = np.ones_like(strike)
    kept = np.isfinite(iv)
    slices, forwards, fits = [], [], []
    for t in np.unique(t_years):
        rows = (t_years == t) & kept
        if np.count_nonzero(rows) < N_PARAMS:
            raise ValueError(
                f"quotes: expiry t_years = {t:.6g} has {np.count_nonzero(rows)} usable quotes, "
                f"allowed range [{N_PARAMS}, inf)"
            )
        k = np.log(strike[rows] / forward[rows])
        fit = calibrate_slice(k, iv[rows], float(t), weights[rows])
        slices.append(fit.params)
        forwards.append(float(np.median(forward[rows])))
        fits.append(fit)
    return SviSurface(tuple(slices), tuple(forwards), tuple(fits), int(np.count_nonzero(~kept)))


# --- input checks ---


def _require(ok: bool, name: str, value: float, allowed: str) -> None:
    if not ok:
        raise ValueError(f"{name} = {value!r} outside allowed range {allowed}")


def _array(name: str, value: ArrayLike, allowed: str, in_range: Any = None) -> np.ndarray:
    """Float array of any shape; ValueError naming the first entry outside the range
    (default: > 0 and finite; NaN is always outside)."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name}: expected numbers, got {value!r:.60}") from e
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(arr) & (in_range(arr) if in_range is not None else arr > 0.0)
    if not np.all(ok):
        index = tuple(int(i) for i in np.argwhere(~ok)[0]) if arr.ndim else ()
        where = "[" + ", ".join(map(str, index)) + "]" if index else ""
        raise ValueError(f"{name}{where} = {arr[~ok].flat[0]} outside allowed range {allowed}")
    return arr


def _vector(name: str, value: ArrayLike, allowed: str, in_range: Any = None) -> np.ndarray:
    """As `_array`, for a 1-D array."""
    arr = _array(name, value, allowed, in_range)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    return arr


def _positive_scalar(name: str, value: float, unit: str) -> float:
    arr = _array(name, value, f"(0, inf) {unit}")
    if arr.ndim != 0:
        raise ValueError(f"{name}: expected a number, got shape {arr.shape}")
    return float(arr)
