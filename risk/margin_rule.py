"""The spot-shock rule the risk engine recommends, computed walk-forward: what `spot_shock`
it would have set at each origin of a price history, using only the data before that
origin. (The simulated risk committee and `optsim design` design on a book of options instead,
risk.ensemble.design_ensemble: the same models, weights and divergence add-on on the book's
coverage, and the same APC and ceiling through risk.apc.HistoryAnchors.)

The rule, at an origin t with the models last fitted at refit time f <= t:

1. **Models** (risk.tail_models), fitted every `refit_days` on the `lookback_days` of
   returns before f. A fit that fails, or that the model layer flags as unstable, is left
   out until the next refit (risk.tail_models.fit_problems).
2. **State now.** GARCH starts from its conditional variance filtered up to t; Bates from
   an exponentially weighted variance of the returns before t whose half-life is its own
   mean-reversion time ln 2 / kappa. GBM and Merton have no state.
3. **Each model's shock**: per side, the coverage quantile of the loss of a long (1 - e^R)
   and of a short (e^R - 1) position over the horizon, R the model's horizon log return
   (N draws, the same seed at every origin so that margins move with the state, not with
   Monte Carlo noise); the shock is the larger side (spot_shock is symmetric on-chain).
4. **The ensemble** (risk.ensemble): weights by regime (recent realised vol against the
   lookback's, jumpiness of the lookback); the mixture's shock plus kappa x the weighted
   standard deviation of the models' shocks (the divergence add-on).
5. **Anti-procyclicality** (risk.apc): the mixture takes `stressed_weight` of the stressed
   period's horizon returns (never below the mixture without them: when today is more
   stressed than any window before the last refit, APC does not dilute it), the result is
   floored at the long-lookback quantile and the buffer is applied to the series.

A sanity ceiling: no margin above `ceiling_multiple` x the worst horizon loss (either side)
in the whole history before the fit, nor above risk.apc.CEILING (the largest spot_shock
the contracts accept). The default multiple is 1, a bound with no constant in it: a margin at
the coverage quantile that asks for more than anything the asset has ever done over the
horizon is the model extrapolating its own parametric tail, not the data (an hourly GARCH-t
after a -23% hour asked for a 24 h shock of 131% in March 2020, when the worst 24 h loss
ETH had ever had was 38%). At 99.5% the bound binds only in such extrapolations: the long
lookback's quantile sits far below the same history's maximum. Its price: a crash beyond
every earlier one exceeds the margin at its first window, as it would with any bound, and
a short history gives a low ceiling (each capped origin is counted and reported, never
silent; 0 turns the bound off). Like the floor and the stressed window, the ceiling is
set at each refit (weekly by default), so a record loss raises it at the next refit, not
at once. That matters: in March 2020 a ceiling refreshed at every origin would have
posted 47.8% (the crash's own 24 h loss) the day after it, a 5-day rise of 2.35x instead
of 1.89x, with the same exceedances.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from risk import apc as apc_tools
from risk.apc import APC
from risk.ensemble import MODELS, Regime, recent_returns, regime_indicators, regime_weights
from risk.tail_models import BATES_MIN_RETURNS, fit_problems
from risk.units import DAY, YEAR_SEC

WEIGHTINGS = ("regime", "equal")


@dataclass(frozen=True)
class RuleSettings:
    """The submitted rule's settings (module docstring)."""

    coverage: float = 0.995
    models: tuple[str, ...] = ("gbm", "merton", "garch", "bates")
    kappa: float = 1.0  # divergence add-on, x the models' weighted sd of shocks
    lookback_days: float = 365.0  # returns each fit sees
    refit_days: float = 7.0
    n_paths: int = 10_000
    seed: int = 0
    weighting: str = "regime"  # "regime" (risk.ensemble's rules) or "equal"
    # x the worst horizon loss in the history; 0 = risk.apc.CEILING only
    ceiling_multiple: float = apc_tools.CEILING_MULTIPLE
    apc: APC = field(default_factory=APC)

    def validate(self) -> None:
        if not (isinstance(self.coverage, float) and 0.9 <= self.coverage < 1.0):
            raise ValueError(f"coverage = {self.coverage!r} outside allowed range [0.9, 1)")
        if self.weighting not in WEIGHTINGS:
            raise ValueError(
                f"weighting = {self.weighting!r} not allowed; choose from {WEIGHTINGS}"
            )
        unknown = [m for m in self.models if m not in MODELS]
        if unknown or len(self.models) < 1:
            raise ValueError(f"models: {list(self.models)} not allowed; choose from {list(MODELS)}")
        for name, value, lo, hi in (
            ("kappa", self.kappa, 0.0, 10.0),
            ("lookback_days", self.lookback_days, 30.0, 36_500.0),
            ("refit_days", self.refit_days, 1 / 24, 365.0),
            ("n_paths", self.n_paths, 1_000, 1_000_000),
            ("ceiling_multiple", self.ceiling_multiple, 0.0, 100.0),
        ):
            if not (math.isfinite(value) and lo <= value <= hi):
                raise ValueError(f"{name} = {value!r} outside allowed range [{lo}, {hi}]")
        self.apc.validate()


@dataclass(frozen=True)
class Fit:
    """The models fitted at one refit, and what the lookback says about the regime."""

    index: int  # the refit's origin (returns before it were used)
    models: dict[str, Any]
    left_out: dict[str, str]  # model -> why
    regime: Regime
    stressed: tuple[int, int]  # [start, end) of the stressed window's returns (risk.apc)
    history_start: int  # the long lookback's first return (the floor's; -1 when off)


def fit_at(returns: np.ndarray, index: int, dt: float, settings: RuleSettings) -> Fit:
    """Fit the models on the lookback before `index` (returns[index - L:index])."""
    lookback = lookback_returns(settings, dt)
    if index < lookback:
        raise ValueError(
            f"origin {index}: needs {lookback} returns of lookback before it, has {index}"
        )
    window = returns[index - lookback : index]
    models, left_out = {}, {}
    for name in settings.models:
        try:
            model = MODELS[name].fit(window, dt)
        except ValueError as exc:
            left_out[name] = str(exc)
            continue
        problems = fit_problems(model)
        if problems:
            left_out[name] = "; ".join(problems)
        else:
            models[name] = model
    a = settings.apc
    floor_n = int(round(a.floor_years / dt))
    history_start = max(0, index - floor_n) if a.floor_years > 0 else -1
    stressed = (0, 0)
    if a.stressed_weight > 0:
        stress_n = int(round(a.stress_days * DAY / (dt * YEAR_SEC)))
        stressed = apc_tools.stressed_window(returns[:index], stress_n)
    regime = regime_indicators(window, dt)
    return Fit(index, models, left_out, regime, stressed, history_start)


def lookback_returns(settings: RuleSettings, dt: float) -> int:
    """Returns each fit sees: lookback_days of them, at least BATES_MIN_RETURNS when Bates
    is among the models (its moment fit needs them)."""
    n = int(round(settings.lookback_days * DAY / (dt * YEAR_SEC)))
    return max(n, BATES_MIN_RETURNS) if "bates" in settings.models else n


# --- the margin at one origin ---


@dataclass(frozen=True)
class OriginMargin:
    """Everything the rule computed at one origin (fractions of notional)."""

    shocks: dict[str, float]  # each model alone
    weights: dict[str, float]
    mixture: float  # the ensemble's mixture, no APC
    divergence: float
    no_apc: float  # mixture + kappa divergence (the rule without APC)
    stressed_mixture: float  # the mixture with the stressed period's weight
    floor: float  # the long lookback's quantile (0 when off)
    calculated: float  # max(stressed mixture + add-on, floor): before the buffer


@dataclass(frozen=True)
class Prepared:
    """What one fit gives every origin up to the next refit, for one horizon.

    Each model's horizon log returns are simulated once, at its state on the fit's day, and
    kept standardised and sorted (`shapes`). At an origin they are moved to the model's
    exact conditional mean and standard deviation given its state then (tail_models'
    moments): exact for a one-step GARCH, and for longer horizons the shape of the fit's
    day with today's scale, the filtered-simulation approximation CCPs use. It keeps the
    Monte Carlo noise out of the margin's day-to-day moves.

    APC's anchors: the stressed period's sorted horizon returns (empty when off) and the
    long lookback's quantile shock (0 when off).
    """

    shapes: dict[str, np.ndarray]
    stressed: np.ndarray
    floor: float
    ceiling: float  # the sanity ceiling (module docstring)

    @classmethod
    def of(
        cls, returns: np.ndarray, fit: Fit, horizon: int, dt: float, settings: RuleSettings
    ) -> Prepared:
        shapes = {}
        for name, model in fit.models.items():
            state = model_state(name, model, returns, fit.index, dt, settings)
            sim = model.simulate_horizon(settings.n_paths, horizon, dt, settings.seed, **state)
            mean, sd = conditional_scale(model, horizon, dt, state)
            shapes[name] = np.sort((np.asarray(sim.terminal, dtype=float) - mean) / sd)
        lo, hi = fit.stressed
        stressed = np.sort(apc_tools.horizon_sums(returns[lo:hi], horizon))
        floor = 0.0
        if fit.history_start >= 0 and fit.index - fit.history_start >= 10 * horizon:
            sums = apc_tools.horizon_sums(returns[fit.history_start : fit.index], horizon)
            floor = apc_tools.quantile_shock(sums, settings.coverage)
        past = apc_tools.horizon_sums(returns[: fit.index], horizon)
        ceiling = apc_tools.ceiling_of([past], settings.ceiling_multiple)
        return cls(shapes, stressed, floor, ceiling)


def model_state(
    name: str, model: Any, returns: np.ndarray, t: int, dt: float, s: RuleSettings
) -> dict[str, float]:
    """The simulation state of a model at origin t (returns[:t] known)."""
    if name == "garch":
        return {"variance0": model.filtered_variance(returns[t - lookback_returns(s, dt) : t])}
    if name == "bates":
        return {"variance0": bates_variance_now(model, returns[:t], dt)}
    return {}


def conditional_scale(
    model: Any, horizon: int, dt: float, state: dict[str, float]
) -> tuple[float, float]:
    """Mean and standard deviation of the horizon log return given the state."""
    m = model.moments(horizon * dt, **state)
    return m.mean, math.sqrt(m.variance)


def margin_at(
    returns: np.ndarray,
    t: int,
    horizon: int,
    dt: float,
    fit: Fit,
    settings: RuleSettings,
    prepared: Prepared | None = None,
) -> OriginMargin:
    """The rule's margin for a position opened at origin t (returns[:t] known)."""
    c = settings.coverage
    prepared = prepared or Prepared.of(returns, fit, horizon, dt, settings)
    draws = {}
    for name, model in fit.models.items():
        state = model_state(name, model, returns, t, dt, settings)
        mean, sd = conditional_scale(model, horizon, dt, state)
        draws[name] = mean + sd * prepared.shapes[name]
    if not draws:
        raise ValueError(
            f"origin {t}: no model could be fitted ("
            + "; ".join(f"{k}: {v}" for k, v in fit.left_out.items())
            + ")"
        )
    shocks = {name: apc_tools.quantile_shock(d, c) for name, d in draws.items()}
    rv = float(np.std(returns[t - recent_returns(dt) : t]) / math.sqrt(dt))
    if settings.weighting == "equal":
        weights = {name: 1.0 / len(draws) for name in draws}
    else:
        weights = regime_weights(fit.regime.at(rv), tuple(draws))
    names = list(draws)
    w = np.array([weights[n] for n in names])
    s = np.array([shocks[n] for n in names])
    divergence = float(math.sqrt(w @ (s - w @ s) ** 2))
    add_on = settings.kappa * divergence
    mixture, stressed_mixture = apc_tools.stressed_mixtures(
        [draws[n] for n in names], w, prepared.stressed, settings.apc.stressed_weight, c
    )
    floor = prepared.floor
    return OriginMargin(
        shocks=shocks,
        weights=weights,
        mixture=mixture,
        divergence=divergence,
        no_apc=mixture + add_on,
        stressed_mixture=stressed_mixture,
        floor=floor,
        calculated=max(stressed_mixture + add_on, floor),
    )


def bates_variance_now(model: Any, returns: np.ndarray, dt: float) -> float:
    """Annualised variance now: squared returns weighted by e^(-kappa age), the model's own
    mean-reversion clock, clipped to [theta / 25, 25 theta] and the simulation's range."""
    n = min(len(returns), int(math.ceil(10.0 / (model.kappa * dt))) + 1)
    r = returns[len(returns) - n :]
    w = np.exp(-model.kappa * dt * np.arange(n)[::-1])
    v = float(w @ (r * r) / w.sum()) / dt
    return float(np.clip(v, model.theta / 25.0, min(25.0 * model.theta, 5.0)))


# --- walk-forward ---


@dataclass(frozen=True)
class RuleRun:
    """The rule at each origin of one horizon (a frame indexed by origin) and its fits."""

    horizon: int  # steps
    frame: pd.DataFrame
    fits: list[Fit]
    capped: int  # origins whose margin was cut to the sanity ceiling

    @property
    def steps_per_day(self) -> float:
        return float(self.frame.attrs["steps_per_day"])


def refit_points(first_origin: int, last_origin: int, dt: float, refit_days: float) -> list[int]:
    step = max(1, int(round(refit_days * DAY / (dt * YEAR_SEC))))
    return list(range(first_origin, last_origin + 1, step))


def run_rule(
    returns: np.ndarray,
    dt: float,
    horizon: int,
    origins: np.ndarray,
    fits: list[Fit],
    settings: RuleSettings,
) -> RuleRun:
    """The rule's margins at `origins` (indices into the prices: returns[:t] are known) with
    the latest fit at or before each origin, and each position's realised loss over
    (t, t + horizon]."""
    points = np.array([f.index for f in fits])
    rows = []
    prepared: dict[int, Prepared] = {}
    if len(origins) and (not fits or origins[0] < points[0]):
        raise ValueError(f"origins: the first ({int(origins[0])}) is before the first fit")
    for t in origins:
        fit = fits[int(np.searchsorted(points, t, side="right")) - 1]
        if fit.index not in prepared:
            prepared = {fit.index: Prepared.of(returns, fit, horizon, dt, settings)}
        om = margin_at(returns, int(t), horizon, dt, fit, settings, prepared[fit.index])
        realised = float(np.sum(returns[t : t + horizon]))
        row = {
            "origin": int(t),
            "loss_long": -math.expm1(realised),
            "loss_short": math.expm1(realised),
            "no_apc": om.no_apc,
            "calculated": om.calculated,
            "mixture": om.mixture,
            "divergence": om.divergence,
            "stressed_mixture": om.stressed_mixture,
            "floor": om.floor,
            "ceiling": prepared[fit.index].ceiling,
        }
        for name in settings.models:
            row[f"shock_{name}"] = om.shocks.get(name, math.nan)
            row[f"weight_{name}"] = om.weights.get(name, 0.0)
        rows.append(row)
    frame = pd.DataFrame(rows).set_index("origin")
    a = settings.apc
    steps_per_day = DAY / (dt * YEAR_SEC) / horizon
    frame["margin"] = apc_tools.buffered(
        frame["calculated"].to_numpy(), a.buffer, a.rebuild_days * steps_per_day
    )
    capped = 0
    for col in ("margin", "no_apc", "calculated"):
        capped = max(capped, int((frame[col] > frame["ceiling"]).sum()))
        frame[col] = np.minimum(frame[col], frame["ceiling"])
    frame.attrs["steps_per_day"] = steps_per_day
    return RuleRun(horizon, frame, fits, capped)


def fit_all(
    returns: np.ndarray, dt: float, points: list[int], settings: RuleSettings, workers: int = 1
) -> list[Fit]:
    """Fits at each refit point, in parallel processes when workers > 1 (same results)."""
    if workers <= 1 or len(points) < 4:
        return [fit_at(returns, p, dt, settings) for p in points]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(fit_at, returns, p, dt, settings) for p in points]
        return [f.result() for f in futures]


def without_apc(settings: RuleSettings) -> RuleSettings:
    return replace(settings, apc=APC.off())
