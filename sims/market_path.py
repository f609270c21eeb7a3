"""What a simulation sees of the outside world, step by step: `MarketPath`.

A market path is built by a scenario (sims.scenarios) and read by the Mesa model and its
agents: the oracle updater pushes `spot` and `reference_iv` unless `oracle_live` is false,
keepers weigh `gas_gwei`, LPs run when `lp_stress` is high, hedgers pay more slippage when
`liquidity` is low, and vol traders compare the protocol's quotes with `reference_vol`.

This module also holds the pieces a scenario assembles a path from that do not depend on
the stress events: the base models (`ModelSpec`: the risk engine's tail models or a replay),
the reference implied-vol process, the rolling vol estimate, and the replay CSV reader
(format in `read_replay_csv`).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from risk.tail_models import GARCH, GBM, Bates, Merton
from risk.units import HOUR, YEAR_SEC

REPLAY_EXAMPLE = Path(__file__).parent / "data" / "replay_example.csv"


# --- the reference implied-vol surface ---


@dataclass(frozen=True)
class IVParams:
    """How the external market's implied vol relates to realised vol (a scenario setting).

    ATM implied vol, per step: its target is ``realised_vol * (1 + premium)`` (the variance
    risk premium, in vol terms). log IV reverts to log target with a half-life of
    ``half_life_hours`` plus noise of ``vol_of_vol`` (annualised, in log vol); on steps of
    a stress event (crash, flash crash, vol spike) it jumps up to the target at once
    instead of drifting there. The smile and term structure: see `ReferenceSurface`.
    """

    premium: float = 0.10  # IV over realised vol, as a fraction of realised vol
    half_life_hours: float = 12.0  # how fast IV follows realised vol (down; up in stress: at once)
    vol_of_vol: float = 1.0  # annualised std of log IV's own noise
    skew: float = -0.20  # d(IV / ATM) / dx at x = 0 (x: log-moneyness scaled to 30 days)
    curvature: float = 0.60  # second-order smile term; skew^2 < 4 curvature keeps IV > 0
    term_days: float = 30.0  # how fast the term structure returns to the long-run level

    RANGES = {
        "premium": (-0.5, 2.0),
        "half_life_hours": (0.1, 24.0 * 365),
        "vol_of_vol": (0.0, 10.0),
        "skew": (-2.0, 2.0),
        "curvature": (0.0, 10.0),
        "term_days": (0.1, 3650.0),
    }

    def __post_init__(self) -> None:
        for f in fields(self):
            lo, hi = self.RANGES[f.name]
            value = getattr(self, f.name)
            if not (isinstance(value, int | float) and lo <= value <= hi):
                raise ValueError(f"iv.{f.name} = {value!r} outside allowed range [{lo}, {hi}]")
        if self.skew**2 >= 4.0 * self.curvature and self.skew != 0.0:
            raise ValueError(
                f"iv.skew = {self.skew} outside allowed range: skew^2 < 4 curvature "
                f"(= {4.0 * self.curvature:g}) so that the smile stays positive"
            )


@dataclass(frozen=True)
class ReferenceSurface:
    """The smile and term structure around a step's ATM vol (``MarketPath.reference_vol``).

    For log-moneyness k = ln(K / F) and tenor T years, with a = the step's ATM vol, L the
    long-run IV and tau = term_days / 365:

        atm(T)  = L + (a - L) (1 - e^(-T/tau)) / (T/tau)     (mean IV expected over T)
        x       = k / sqrt(T / (30/365)), clipped to [-3, 3]  (moneyness in 30-day stdevs)
        IV(k,T) = atm(T) (1 + skew x + curvature x^2)

    so short tenors carry today's stress (inverted term structure after a crash), the skew
    flattens as sqrt(T), and skew^2 < 4 curvature keeps the smile positive.
    """

    skew: float
    curvature: float
    term_days: float
    long_run_iv: float  # L: the base model's long-run vol times (1 + premium)


# --- the path ---


@dataclass(frozen=True)
class MarketPath:
    """The outside market, one entry per simulation step (step 0 = the start) per array.

    Return k (spot[k] -> spot[k + 1]) has annualised vol realised_vol[k].
    """

    timestamp: np.ndarray  # int64 unix seconds, strictly increasing by step_seconds
    spot: np.ndarray  # USD
    realised_vol: np.ndarray  # annualised instantaneous vol (model's, or a rolling estimate)
    reference_iv: np.ndarray  # the external market's ATM implied vol, annualised
    oracle_live: np.ndarray  # bool: False while the oracle is out (the updater must not push)
    gas_gwei: np.ndarray  # gas price keepers pay
    lp_stress: np.ndarray  # 0..1 LP fear; LP agents run as it nears 1
    liquidity: np.ndarray  # 0..1 multiplier of the hedging venue's depth
    regime: np.ndarray  # str: "normal", or the active events' kinds joined by "+"
    # (a flash crash's climb back is "flash_recovery")
    step_seconds: int
    surface: ReferenceSurface
    name: str = ""

    ARRAYS = (
        "timestamp",
        "spot",
        "realised_vol",
        "reference_iv",
        "oracle_live",
        "gas_gwei",
        "lp_stress",
        "liquidity",
        "regime",
    )

    def __post_init__(self) -> None:
        n = len(self.spot)
        for name in self.ARRAYS:
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name}: {len(getattr(self, name))} entries, spot has {n}")
        for name in ("spot", "realised_vol", "reference_iv", "gas_gwei"):
            a = getattr(self, name)
            bad = ~(np.isfinite(a) & (a > 0))
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(f"{name}[{i}] = {a[i]} outside allowed range: finite and > 0")
        for name in ("lp_stress", "liquidity"):
            a = getattr(self, name)
            bad = ~((a >= 0) & (a <= 1))
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(f"{name}[{i}] = {a[i]} outside allowed range [0, 1]")

    @property
    def steps(self) -> int:
        """Number of steps (each array has steps + 1 entries)."""
        return len(self.spot) - 1

    def log_returns(self) -> np.ndarray:
        return np.diff(np.log(self.spot))

    def reference_vol(self, step: int, log_moneyness: Any, tenor_years: Any) -> np.ndarray:
        """The external market's implied vol at `step` (formula in `ReferenceSurface`)."""
        s = self.surface
        a, lr = float(self.reference_iv[step]), s.long_run_iv
        t = np.maximum(np.asarray(tenor_years, dtype=float), 1e-9)
        u = t / (s.term_days / 365.0)
        atm = lr + (a - lr) * -np.expm1(-u) / u
        x = np.clip(np.asarray(log_moneyness, dtype=float) / np.sqrt(t * 365.0 / 30.0), -3, 3)
        return atm * (1.0 + s.skew * x + s.curvature * x * x)

    def reference_surface(self, step: int):  # type: ignore[no-untyped-def]
        """The surface at `step` as a function (log_moneyness, tenor_years) -> IV."""
        return lambda k, t: self.reference_vol(step, k, t)


# --- base models ---

DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "gbm": {"mu": 0.0, "sigma": 0.75},
    "merton": {"mu": 0.0, "sigma": 0.60, "lam": 12.0, "mu_j": -0.03, "sigma_j": 0.08},
    "garch": {"mu": 0.0, "vol": 0.75, "alpha": 0.06, "half_life_hours": 24.0, "nu": 5.0},
    "bates": {
        "mu": 0.0,
        "kappa": 4.0,
        "theta": 0.45,
        "xi": 1.2,
        "rho": -0.2,
        "v0": 0.45,
        "lam": 6.0,
        "mu_j": -0.04,
        "sigma_j": 0.07,
    },
    "replay": {"csv": str(REPLAY_EXAMPLE)},
}


class _Base(NamedTuple):
    """A base path before the events: return k = drift + noise[k]."""

    noise: np.ndarray  # steps
    drift: float  # per step
    vol: np.ndarray | None  # steps + 1 instantaneous vols, None: estimate from the path
    long_run_vol: float | None
    prices: np.ndarray | None  # the replay's prices on the step grid
    iv: np.ndarray | None  # the replay's implied vols
    start_ts: int | None = None  # the replay's first timestamp


@dataclass(frozen=True)
class ModelSpec:
    """The base model: a kind and its parameters (overrides of DEFAULT_PARAMS[kind]).

    Parameters are annualised (log drift ``mu`` per year, vols per sqrt(year)), as in
    risk.tail_models, except GARCH's: a long-run ``vol``, the hourly weight ``alpha`` of the
    last squared shock and the ``half_life_hours`` of variance shocks. At a step of h hours
    alpha + beta = 0.5 ** (h / half_life_hours), alpha keeps its share of that sum, and
    omega gives the long-run vol.

    realised_vol is the model's instantaneous vol, the jumps' share of the variance included:
    sigma for GBM, sqrt(sigma^2 + lam (mu_j^2 + sigma_j^2)) for Merton, sqrt(h / dt) for
    GARCH, sqrt(v + lam (mu_j^2 + sigma_j^2)) for Bates (whose v is followed by running the
    model one step at a time: about 0.2 ms per step). For a replay it is a 24-hour EWMA of
    the path's returns.
    """

    kind: str = "gbm"
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in DEFAULT_PARAMS:
            raise ValueError(
                f"model.kind = {self.kind!r} unknown; allowed: {', '.join(DEFAULT_PARAMS)}"
            )
        for key in self.params:
            if key not in DEFAULT_PARAMS[self.kind]:
                raise ValueError(
                    f"model.{key}: unknown parameter of {self.kind}; allowed: "
                    f"{', '.join(DEFAULT_PARAMS[self.kind])}"
                )
        if self.kind == "replay":
            read_replay_csv(self.settings["csv"])
        else:
            self.tail_model(HOUR / YEAR_SEC)

    @property
    def settings(self) -> dict[str, Any]:
        return {**DEFAULT_PARAMS[self.kind], **self.params}

    def tail_model(self, dt: float) -> GBM | Merton | GARCH | Bates:
        """The risk engine's model for steps of dt years (ValueError naming model.<field>)."""
        s = self.settings
        try:
            if self.kind == "gbm":
                return GBM(**s)
            if self.kind == "merton":
                return Merton(**s)
            if self.kind == "bates":
                return Bates(**s)
            return _garch(s, dt)
        except (TypeError, ValueError) as e:
            raise ValueError(f"model.{e}") from None

    def long_run_vol(self) -> float:
        """The annualised vol the model returns to (jumps included)."""
        s = self.settings
        jumps = s.get("lam", 0.0) * (s.get("mu_j", 0.0) ** 2 + s.get("sigma_j", 0.0) ** 2)
        base = {"gbm": "sigma", "merton": "sigma", "garch": "vol"}
        if self.kind in base:
            return math.sqrt(s[base[self.kind]] ** 2 + jumps)
        return math.sqrt(s["theta"] + jumps)

    def simulate(self, steps: int, dt: float, rng: np.random.Generator) -> _Base:
        """One path of the base model (log returns split into drift and noise, and vols)."""
        model = self.tail_model(dt)
        seed = int(rng.integers(0, 2**63))
        s = self.settings
        jump_mean = s.get("lam", 0.0) * s.get("mu_j", 0.0) * dt
        jump_var = s.get("lam", 0.0) * (s.get("mu_j", 0.0) ** 2 + s.get("sigma_j", 0.0) ** 2)
        lrv = self.long_run_vol()
        if isinstance(model, GBM | Merton):
            dx = np.diff(model.simulate(1, steps, dt, seed)[0])
            drift = model.mu * dt + jump_mean
            return _Base(dx - drift, drift, np.full(steps + 1, lrv), lrv, None, None)
        if isinstance(model, GARCH):
            dx = np.diff(model.simulate(1, steps, dt, seed, variance0=model.variance)[0])
            eps = dx - model.mu
            h = np.empty(steps + 1)  # h[k]: the variance of return k (the kernel's recursion)
            h[0] = model.variance
            for k in range(steps):
                h[k + 1] = model.omega + model.alpha * eps[k] ** 2 + model.beta * h[k]
            return _Base(eps, model.mu, np.sqrt(h / dt), lrv, None, None)
        # Bates: one step at a time, to read the variance (the model reports it per call)
        v = np.empty(steps + 1)
        v[0] = model.v0
        dx = np.empty(steps)
        seeds = np.random.default_rng(seed).integers(0, 2**63, size=steps)
        out = np.empty((4, 1))
        for k in range(steps):
            one = model.simulate_horizon(1, 1, dt, int(seeds[k]), out=out, variance0=v[k])
            dx[k] = one.terminal[0]
            v[k + 1] = max(v[k] * one.vol_ratio[0] ** 2, 1e-8)
        drift = model.mu * dt + jump_mean
        return _Base(dx - drift, drift, np.sqrt(v + jump_var), lrv, None, None)


def _garch(s: dict[str, Any], dt: float) -> GARCH:
    """The GARCH of the annualised settings at steps of dt years (module docstring)."""
    for name, lo, hi in (("vol", 0.0, 5.0), ("half_life_hours", 0.1, 1e5)):
        if not (isinstance(s[name], int | float) and lo < s[name] <= hi):
            raise ValueError(f"{name} = {s[name]!r} outside allowed range ({lo:g}, {hi:g}]")
    hourly = 0.5 ** (1.0 / s["half_life_hours"])
    if not (isinstance(s["alpha"], int | float) and 0.0 <= s["alpha"] < hourly):
        raise ValueError(
            f"alpha = {s['alpha']!r} outside allowed range [0, {hourly:.4g}) "
            f"(alpha + beta per hour = 0.5 ** (1 / half_life_hours))"
        )
    p = 0.5 ** (dt * YEAR_SEC / HOUR / s["half_life_hours"])
    alpha = s["alpha"] * p / hourly
    variance = s["vol"] ** 2 * dt
    return GARCH(
        mu=s["mu"] * dt, omega=variance * (1.0 - p), alpha=alpha, beta=p - alpha, nu=s["nu"], dt=dt
    )


def replay_base(csv: str, steps: int, step_seconds: int) -> _Base:
    ts, price, iv = read_replay_csv(csv)
    grid = ts[0] + step_seconds * np.arange(steps + 1, dtype=np.int64)
    if grid[-1] > ts[-1]:
        most = int((ts[-1] - ts[0]) // step_seconds)
        raise ValueError(
            f"steps = {steps} outside allowed range [1, {most}]: {Path(csv).name} covers "
            f"{most} steps of {step_seconds} s"
        )
    p = resample_previous_tick(ts, price, grid, Path(csv).name)
    ivs = None if iv is None else resample_previous_tick(ts, iv, grid, Path(csv).name)
    return _Base(np.diff(np.log(p)), 0.0, None, None, p, ivs, int(ts[0]))


# --- processes a scenario builds a path from ---


def reference_iv_path(
    realised_vol: np.ndarray,
    stress: np.ndarray,
    dt: float,
    params: IVParams,
    rng: np.random.Generator,
) -> np.ndarray:
    """ATM implied vol per step (the process in `IVParams`); dt in years per step."""
    log_target = np.log(realised_vol * (1.0 + params.premium))
    keep = 0.5 ** (dt * 365 * 24 / params.half_life_hours)  # share of the gap left per step
    noise = params.vol_of_vol * math.sqrt(dt) * rng.standard_normal(len(realised_vol))
    out = np.empty(len(realised_vol))
    x = log_target[0]
    for k in range(len(out)):
        if k > 0:
            x = log_target[k] + (x - log_target[k]) * keep + noise[k]
        if stress[k]:
            x = max(x, log_target[k])
        out[k] = x
    return np.exp(out)


def rolling_vol(
    log_returns: np.ndarray, dt: float, half_life_steps: float, vol0: float
) -> np.ndarray:
    """Causal EWMA vol estimate (annualised), one per step: entry k uses returns before k.

    Entry 0 is vol0; n returns give n + 1 entries (the last uses all of them).
    """
    lam = 0.5 ** (1.0 / half_life_steps)
    var = np.empty(len(log_returns) + 1)
    var[0] = vol0 * vol0
    for k, r in enumerate(log_returns):
        var[k + 1] = lam * var[k] + (1.0 - lam) * r * r / dt
    return np.sqrt(var)


def log_ou(n: int, mean: float, sd: float, keep: float, rng: np.random.Generator) -> np.ndarray:
    """n values of exp(OU): log reverts to log(mean) keeping `keep` of the gap per step,
    stationary std `sd`; starts at `mean`."""
    z = rng.standard_normal(n) * sd * math.sqrt(1.0 - keep * keep)
    y = np.empty(n)
    y[0] = 0.0
    for k in range(1, n):
        y[k] = keep * y[k - 1] + z[k]
    return mean * np.exp(y)


# --- replay CSV ---

REPLAY_COLUMNS = {"timestamp": True, "price": True, "iv": False}  # column: required


def read_replay_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Read a replay file: (timestamps int64, prices, ivs or None).

    Format: CSV with a header row; lines starting with ``#`` are comments. Columns:

        timestamp   unix seconds, integers, strictly increasing
        price       USD, > 0
        iv          optional: the external market's ATM implied vol (annualised, in (0, 5])

    Any other column is rejected. Errors name the file, the line and the column.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"model.csv = {str(path)!r}: no such file")
    with path.open(newline="") as fh:
        lines = [(i + 1, line) for i, line in enumerate(fh) if not line.lstrip().startswith("#")]
    rows = list(csv.reader(line for _, line in lines))
    if not rows:
        raise ValueError(f"{path.name}: no header row (expected timestamp,price[,iv])")
    header = [h.strip() for h in rows[0]]
    for h in header:
        if h not in REPLAY_COLUMNS:
            raise ValueError(
                f"{path.name} line {lines[0][0]}: unknown column {h!r}; allowed: "
                f"{', '.join(REPLAY_COLUMNS)}"
            )
    for h, required in REPLAY_COLUMNS.items():
        if required and h not in header:
            raise ValueError(f"{path.name} line {lines[0][0]}: missing column {h!r}")
    if len(rows) < 3:
        raise ValueError(f"{path.name}: {len(rows) - 1} data rows, need at least 2")
    ts: list[int] = []
    price: list[float] = []
    iv: list[float] = []
    for (line_no, _), row in zip(lines[1:], rows[1:], strict=True):
        if len(row) != len(header):
            raise ValueError(
                f"{path.name} line {line_no}: {len(row)} fields, header has {len(header)}"
            )
        cell = dict(zip(header, (c.strip() for c in row), strict=True))
        where = f"{path.name} line {line_no}, column"
        try:
            t = int(cell["timestamp"])
        except ValueError:
            raise ValueError(
                f"{where} timestamp: {cell['timestamp']!r} is not an integer of unix seconds"
            ) from None
        if ts and t <= ts[-1]:
            raise ValueError(f"{where} timestamp: {t} not after the previous row's {ts[-1]}")
        ts.append(t)
        price.append(_positive(cell["price"], f"{where} price", 1e12))
        if "iv" in cell:
            iv.append(_positive(cell["iv"], f"{where} iv", 5.0))
    return (
        np.array(ts, dtype=np.int64),
        np.array(price),
        np.array(iv) if "iv" in header else None,
    )


def _positive(text: str, where: str, hi: float) -> float:
    try:
        v = float(text)
    except ValueError:
        raise ValueError(f"{where}: {text!r} is not a number") from None
    if not (math.isfinite(v) and 0.0 < v <= hi):
        raise ValueError(f"{where}: {v} outside allowed range (0, {hi:g}]")
    return v


def resample_previous_tick(
    ts: np.ndarray, values: np.ndarray, grid: np.ndarray, what: str
) -> np.ndarray:
    """values at each grid time: the last row at or before it (previous tick)."""
    if grid[0] < ts[0] or grid[-1] > ts[-1]:
        raise ValueError(
            f"{what}: the step grid {grid[0]}..{grid[-1]} is outside the file's "
            f"timestamps {ts[0]}..{ts[-1]}"
        )
    return values[np.searchsorted(ts, grid, side="right") - 1]


def synthetic_replay_csv(seed: int = 7, days: int = 10, spot0: float = 2_000.0) -> str:
    """The text of sims/data/replay_example.csv: synthetic, not market data.

    Hourly GBM at 65% vol from 2024-01-01 00:00 UTC, a 35% fall over 12 hours starting
    mid-run, half of it recovered over the next two days; iv = 1.1 x a 24 h EWMA of the
    returns, in four decimals. Regenerate with ``synthetic_replay_csv(seed=7)``.
    """
    rng = np.random.default_rng(seed)
    n, dt = days * 24, HOUR / YEAR_SEC
    r = 0.65 * math.sqrt(dt) * rng.standard_normal(n)
    mid = n // 2
    r[mid : mid + 12] += math.log(0.65) / 12
    r[mid + 12 : mid + 60] += -0.5 * math.log(0.65) / 48
    price = spot0 * np.exp(np.concatenate([[0.0], np.cumsum(r)]))
    iv = 1.1 * rolling_vol(r, dt, 24.0, 0.65)
    t0 = 1_704_067_200
    out = [
        f"# synthetic ETH-like prices, not market data: sims.market_path.synthetic_replay_csv"
        f"(seed={seed})",
        "timestamp,price,iv",
    ]
    out += [f"{t0 + k * HOUR},{price[k]:.2f},{iv[k]:.4f}" for k in range(n + 1)]
    return "\n".join(out) + "\n"
