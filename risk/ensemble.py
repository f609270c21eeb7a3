"""Model risk: an ensemble of tail models weighted by regime, and the divergence add-on.

Every participant in a market tends to use the same model, so they all fail together
when the model does. optsim never trusts one model: it fits several to the same data,
weights them by what the recent data says about the regime, and charges extra margin
when they disagree.

Regime indicators (from the returns, and the implied vol when one is given):

    stress   = max(0, RV_recent / IV - 1)     (IV: the market's ATM vol; without one, the
                                               long-run realised vol of the whole sample)
    jumpy    = observed share of returns beyond 4 robust sigmas (sigma from the median
               absolute deviation) / the share a normal distribution would give, minus 1,
               floored at 0

Weights are a softmax of scores, one rule per model (readable as the committee's beliefs):

    gbm     score = 0 - 2 stress - 1 jumpy        calm, no jumps: the plain model is fine
    merton  score = 0 + 1 jumpy                   jumps matter
    garch   score = 0 + 2 stress                  volatility clusters after a shock
    bates   score = 0 + 1 stress + 1 jumpy        both

Divergence add-on: each model alone gives the spot shock that meets the coverage target
(risk.design); the ensemble's own shock comes from the mixture of the models' draws. With
s_m the models' shocks and w_m their weights, the divergence is the weighted standard
deviation D = sqrt(sum w_m (s_m - s_bar)^2), and the proposed shock is

    spot_shock = s_mixture + kappa * D          (kappa = 1 by default)

so a margin rises when the models disagree, even if the mixture alone looks safe.

With the asset's past (risk.apc.HistoryAnchors) the design applies the same
anti-procyclicality and ceiling as the walk-forward rule that `optsim backtest` scores
(risk.margin_rule), in its order:

    spot_shock = min(ceiling, max(floor, s_mixture + kappa * D + (s_stressed - s_u)))

s_u is the coverage shock of the models' mixture on the underlying alone (a long and a
short position), s_stressed the same with the stressed period's horizon returns taking
their weight: the book's design gains exactly the uplift the rule's stressed weight gives.
The floor also raises the vol shocks to the implied vol index's moves (risk.apc.floored).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from risk.apc import CEILING, HistoryAnchors, stressed_mixtures
from risk.book import Book
from risk.design import (
    DesignTargets,
    Proposal,
    Revaluation,
    degenerate_note,
    design,
    horizon_draws,
    is_degenerate,
    liquidation_design,
    liquidations_at_risk,
    position_exceedance,
    simulate_over,
    spot_shock_for,
)
from risk.params import LiquidationParams, MarginParams
from risk.tail_models import GARCH, GBM, Bates, HorizonPaths, Merton, fit_problems
from risk.units import HOUR

MODELS: dict[str, Any] = {"gbm": GBM, "merton": Merton, "garch": GARCH, "bates": Bates}
SCORES: dict[str, tuple[float, float, float]] = {  # base, per unit of stress, per unit of jumpy
    "gbm": (0.0, -2.0, -1.0),
    "merton": (0.0, 0.0, 1.0),
    "garch": (0.0, 2.0, 0.0),
    "bates": (0.0, 1.0, 1.0),
}
RECENT_DAYS = 7  # the "recent" realised vol the regime and the APC hold look at
MIN_FITTED = 2  # stable fits an ensemble needs (of at least 3 asked for)
NORMAL_TAIL_4SD = math.erfc(4.0 / math.sqrt(2.0))  # P(|Z| > 4)
MAD_TO_SD = 1.482602218505602  # sigma = 1.4826 MAD for a normal


@dataclass(frozen=True)
class Regime:
    """The indicators the weights follow (see the module docstring)."""

    realised_vol: float  # recent, annualised
    reference_vol: float  # the implied vol given, or the sample's long-run realised vol
    stress: float
    jumpy: float

    def at(self, realised_vol: float) -> Regime:
        """The same lookback's regime with a newer recent realised vol."""
        return replace(
            self, realised_vol=realised_vol, stress=_stress(realised_vol, self.reference_vol)
        )


def regime_indicators(
    log_returns: Any, dt: float, implied_vol: float | None = None, recent: int | None = None
) -> Regime:
    """Indicators from returns sampled every dt years.

    Args:
        log_returns: 1-D, finite.
        dt: years per return, > 0.
        implied_vol: the market's ATM vol now (annualised), > 0; None to compare with the
            sample's own long-run vol.
        recent: how many of the last returns make the recent window (default: one week's
            worth, at least 20).
    """
    r = np.asarray(log_returns, dtype=float)
    if r.ndim != 1 or len(r) < 30:
        raise ValueError(f"log_returns: expected a 1-D array of at least 30, got shape {r.shape}")
    if not np.all(np.isfinite(r)):
        raise ValueError("log_returns: NaN or infinite values; allowed: finite")
    if not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt = {dt} outside allowed range (0, 1] years")
    if implied_vol is not None and not (math.isfinite(implied_vol) and implied_vol > 0):
        raise ValueError(f"implied_vol = {implied_vol} outside allowed range (0, inf)")
    n_recent = recent or recent_returns(dt)
    n_recent = min(n_recent, len(r))
    rv = float(np.std(r[-n_recent:]) / math.sqrt(dt))
    reference = implied_vol if implied_vol is not None else float(np.std(r) / math.sqrt(dt))
    mad = float(np.median(np.abs(r - np.median(r))))
    sd = MAD_TO_SD * mad if mad > 0 else float(np.std(r))
    tail = float(np.mean(np.abs(r - np.median(r)) > 4.0 * sd)) if sd > 0 else 0.0
    return Regime(
        realised_vol=rv,
        reference_vol=reference,
        stress=_stress(rv, reference),
        jumpy=max(0.0, tail / NORMAL_TAIL_4SD - 1.0),
    )


def recent_returns(dt: float) -> int:
    """How many of the last returns (dt years each) make "recent": one week's, at least 20."""
    return max(20, int(round(RECENT_DAYS / 365 / dt)))


def weight_reasons(regime: Regime, weights: dict[str, float]) -> str:
    """The weights with the indicators that set them, as one line for a proposal's notes."""
    parts = ", ".join(f"{name} {w:.2f}" for name, w in weights.items())
    return (
        f"weights {parts}: stress {regime.stress:.2f} (recent realised vol "
        f"{regime.realised_vol:.0%} against {regime.reference_vol:.0%}; raises garch and "
        f"bates, lowers gbm), jumpy {regime.jumpy:.2f} ("
        + (
            f"4-sigma returns {regime.jumpy + 1:.1f}x a normal's share"
            if regime.jumpy > 0
            else "no more 4-sigma returns than a normal's share"
        )
        + "; raises merton and bates, lowers gbm)"
    )


def _stress(realised_vol: float, reference_vol: float) -> float:
    return max(0.0, realised_vol / reference_vol - 1.0) if reference_vol > 0 else 0.0


def regime_weights(regime: Regime, names: tuple[str, ...]) -> dict[str, float]:
    """Softmax of the rule scores (module docstring) over the named models."""
    scores = []
    for name in names:
        base, per_stress, per_jump = SCORES[name]
        # jumpy is a ratio that can be large; its effect saturates
        scores.append(base + per_stress * regime.stress + per_jump * math.log1p(regime.jumpy))
    z = np.exp(np.asarray(scores) - max(scores))
    w = z / z.sum()
    return {name: float(x) for name, x in zip(names, w, strict=True)}


@dataclass(frozen=True)
class Ensemble:
    """Fitted models and their weights; simulates the mixture of their draws."""

    models: dict[str, Any]
    weights: dict[str, float]
    regime: Regime
    skipped: tuple[tuple[str, str], ...] = ()  # (model, why it could not be fitted)

    def simulate_horizon(
        self, n_paths: int, n_steps: int, dt: float, seed: int | None = None
    ) -> HorizonPaths:
        """n_paths draws over n_steps x dt years: round(w_m n_paths) from each model (largest
        remainders), shuffled. Each model gets its own stream spawned from the seed."""
        names = list(self.models)
        counts = _allocate(n_paths, [self.weights[n] for n in names])
        horizon = n_steps * dt
        seeds = np.random.SeedSequence(seed).spawn(len(names) + 1)
        parts = []
        for name, count, ss in zip(names, counts, seeds, strict=False):
            if count == 0:
                continue
            draws = simulate_over(self.models[name], horizon, count, n_steps, _seed_int(ss))
            parts.append(np.stack([np.array(a) for a in draws]))
        both = np.concatenate(parts, axis=1)
        order = np.random.default_rng(seeds[-1]).permutation(both.shape[1])
        both = both[:, order]
        return HorizonPaths(both[0], both[1], both[2], both[3])


def fit_ensemble(
    log_returns: Any,
    dt: float,
    implied_vol: float | None = None,
    names: tuple[str, ...] = ("gbm", "merton", "garch", "bates"),
) -> Ensemble:
    """Fit each named model to the returns and weight them by the regime.

    A model that cannot be fitted to these data (e.g. Bates' moment fit needs 2,000
    returns), or whose fit the model layer flags as unstable (risk.tail_models.fit_problems:
    a non-stationary variance, Bates' Feller condition, a variance beyond any market), is
    left out and listed in `skipped` with the reason. At least MIN_FITTED must remain: two
    models still disagree where it matters, and the proposal's notes name the ones left out.
    """
    if len(names) < 3:
        raise ValueError(f"names: an ensemble needs at least 3 models, got {list(names)}")
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise ValueError(f"names: unknown model(s) {unknown}; allowed: {sorted(MODELS)}")
    regime = regime_indicators(log_returns, dt, implied_vol)
    models, skipped = {}, []
    for name in names:
        try:
            model = MODELS[name].fit(log_returns, dt)
        except ValueError as exc:
            skipped.append((name, str(exc)))
            continue
        problems = fit_problems(model)
        if problems:
            skipped.append((name, "unstable fit: " + "; ".join(problems)))
        else:
            models[name] = model
    if len(models) < MIN_FITTED:
        raise ValueError(
            f"log_returns: only {len(models)} model(s) could be fitted, an ensemble needs "
            f"{MIN_FITTED}: " + "; ".join(f"{n}: {why}" for n, why in skipped)
        )
    return Ensemble(models, regime_weights(regime, tuple(models)), regime, tuple(skipped))


# --- design with the add-on ---


def design_ensemble(
    ensemble: Ensemble,
    book: Book,
    current: MarginParams | None = None,
    liquidation: LiquidationParams | None = None,
    targets: DesignTargets | None = None,
    kappa: float = 1.0,
    anchors: HistoryAnchors | None = None,
) -> Proposal:
    """risk.design.design on the ensemble's mixture, plus the divergence add-on, and with
    `anchors` the stressed-period uplift, the floors and the ceiling (module docstring).

    The evidence gains each model's weight and own spot shock, the divergence D, the
    add-on kappa D and the stressed uplift; coverage, keeper economics and liquidations at
    risk are those of the final parameters.
    """
    if not (math.isfinite(kappa) and 0.0 <= kappa <= 10.0):
        raise ValueError(f"kappa = {kappa} outside allowed range [0, 10]")
    targets = targets or DesignTargets()
    base = design(ensemble, book, current, liquidation, targets)
    shocks, underlying = {}, []
    for name, model in ensemble.models.items():
        draws = horizon_draws(model, targets)
        moves = Revaluation.build(book, draws, targets.horizon_sec)
        shocks[name] = spot_shock_for(base.margin, moves, book, targets.coverage)[0].spot_shock
        underlying.append(np.sort(draws.log_return))
    w = np.array([ensemble.weights[n] for n in shocks])
    s = np.array(list(shocks.values()))
    mean = float(w @ s)
    divergence = float(math.sqrt(w @ (s - mean) ** 2))
    add_on = kappa * divergence
    uplift = 0.0
    anchor_notes: tuple[str, ...] = ()
    if anchors is not None:
        plain, stressed = stressed_mixtures(
            underlying, w, anchors.stressed, anchors.stressed_weight, targets.coverage
        )
        uplift = stressed - plain
        anchor_notes = (
            f"APC stressed period: spot_shock + {uplift:.4f}, the models' mixture on the "
            f"underlying with {anchors.stressed_weight:.0%} of the stressed period's "
            f"{targets.horizon_sec / HOUR:g} h returns ({anchors.stressed_source}) asks "
            f"{stressed:.4f} against {plain:.4f} without",
        )
    book_shock = min(CEILING, math.ceil((base.margin.spot_shock + add_on) * 1e4) / 1e4)
    shock = min(CEILING, math.ceil((base.margin.spot_shock + add_on + uplift) * 1e4) / 1e4)
    evidence = dict(base.evidence)
    for name in shocks:
        evidence[f"weight_{name}"] = ensemble.weights[name]
        evidence[f"spot_shock_{name}"] = shocks[name]
    evidence.update(
        {
            "spot_shock_mixture": base.margin.spot_shock,
            "model_divergence": divergence,
            "divergence_add_on": add_on,
            "apc_stressed_uplift": uplift,
            "regime_stress": ensemble.regime.stress,
            "regime_jumpy": ensemble.regime.jumpy,
        }
    )
    skipped = tuple(f"{name} left out of the ensemble: {why}" for name, why in ensemble.skipped)
    margin = replace(base.margin, spot_shock=shock)
    if anchors is not None:
        margin, changes = anchors.bounded(margin, targets.horizon_sec, targets.coverage)
        anchor_notes += changes
        evidence["spot_shock_ceiling"] = anchors.ceiling
    # the evidence of what is proposed: coverage, keeper economics and LaR at the final shock
    draws = horizon_draws(ensemble, targets)
    moves = Revaluation.build(book, draws, targets.horizon_sec)
    worst = float(position_exceedance(margin, moves, book).max())
    # whether the book informs the shock is judged at the book's own design (before the
    # anchors, which may lift MM above every draw: coverage 1 is then a result)
    by_book = replace(base.margin, spot_shock=book_shock)
    worst_by_book = (
        worst if by_book == margin else float(position_exceedance(by_book, moves, book).max())
    )
    degenerate = is_degenerate(book_shock, worst_by_book)
    liq, liq_evidence = liquidation_design(margin, base.liquidation, book, targets)
    evidence.update(
        {
            "worst_position_exceedance": worst,
            # a degenerate design (risk.design.is_degenerate) has no coverage figure
            "coverage_achieved": math.nan if degenerate else 1.0 - worst,
            "degenerate": float(degenerate),
            **liq_evidence,
            **liquidations_at_risk(book, margin, draws, targets),
        }
    )
    degenerate_notes = (degenerate_note(book_shock, worst_by_book),) if degenerate else ()
    notes = (
        tuple(n for n in base.notes if not n.startswith("degenerate"))
        + degenerate_notes
        + skipped
        + (
            weight_reasons(ensemble.regime, ensemble.weights),
            f"spot_shock = mixture {base.margin.spot_shock:.4f} + {kappa} x divergence "
            f"{divergence:.4f}"
            + (f" + stressed uplift {uplift:.4f}" if anchors else "")
            + f" = {shock:.4f}",
        )
        + anchor_notes
    )
    return replace(base, margin=margin, liquidation=liq, evidence=evidence, notes=notes)


def _allocate(n: int, weights: list[float]) -> list[int]:
    raw = np.asarray(weights) * n
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts))[: n - counts.sum()]:
        counts[i] += 1
    return [int(c) for c in counts]


def _seed_int(ss: np.random.SeedSequence) -> int:
    return int(ss.generate_state(1, dtype=np.uint32)[0])
