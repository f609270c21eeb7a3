"""Parameter design: margin, liquidation and open-interest parameters from a tail model.

Given a model of the underlying's returns (risk.tail_models), the liquidation horizon H,
a coverage target c (e.g. 0.995) and a book (risk.book.Book), the design chooses:

1. **Margin shocks.** Over H the model gives joint draws of the spot move e^r and of the
   volatility ratio v'/v. Each position is revalued at (spot e^r, vol v'/v, T - H), so its
   loss includes theta. The vol shocks are the c-quantiles of the vol ratio
   (up = q_c - 1, down = 1 - q_(1-c), at the reference tenor); a model with constant vol
   has no say on them and the current ones are kept. Then the smallest spot_shock with

        max over positions  P(loss over H > MM)  <=  1 - c

   is found by bisection (MM of one contract long or short of each series, risk.margin_batch,
   monotone in spot_shock). If even the bound does not reach c, the bound is proposed and
   the evidence says so.
2. **Liquidation reward.** An account at its MM that is liquidated with discount d gives
   up the fraction f(d) = A / (B - d) (A = (1+b)k - 1, B = (1+b)k, k = im_factor,
   b = target_buffer; OptionMarket.liquidate) and pays the keeper f d MM. The keeper's
   cost is gas (gas_units x gas price x the gas token's USD price) plus slippage on
   flattening the delta it takes over (slippage x f |delta| spot). The break-even
   discount of an account solves A d / (B - d) = cost / MM:  d = B x / (A + x), x = cost/MM.
   start_discount covers the `start_quantile` account in normal conditions; max_discount
   the `max_quantile` account under stress (gas and slippage at their stress values);
   discount_rate reaches max_discount after `ramp_hours`.
3. **Open-interest caps.** The pool is the counterparty of the book: it holds minus the net
   position in each series. Its loss per contract of open interest over H, with the
   book's mix, has an expected shortfall ES_c; total_oi_cap = es_share x NAV / ES_c. The
   series cap is the same for the worst single series (long or short one contract):
   series_oi_cap = series_es_share x NAV / max_s ES_c(s).

Evidence (what governance reads before voting): coverage achieved, the worst position's
exceedance probability, the pool's VaR and ES at the caps as shares of NAV,
liquidations-at-risk (the c-quantile over the draws of the MM of accounts pushed below
their MM) and bad debt at risk, and the share of accounts whose liquidation pays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
import pandas as pd

from risk.book import Book
from risk.greeks import black_scholes
from risk.margin_batch import accounts_margin, margin_from_table, scenario_table
from risk.params import Limits, LiquidationParams, MarginParams, ParamGroup
from risk.pricing import bs_price_unchecked
from risk.units import DAY, ETH_PER_GWEI, YEAR_SEC

FIELD_BOUNDS = {f.name: f for g in (MarginParams, LiquidationParams, Limits) for f in g.FIELDS}


class TailModel(Protocol):
    """What the design needs from a model of returns (see risk.tail_models)."""

    def simulate_horizon(self, n_paths: int, n_steps: int, dt: float, seed: int | None) -> Any:
        """Per path over n_steps of dt years: .terminal (log return) and .vol_ratio arrays."""
        ...


@dataclass(frozen=True)
class DesignTargets:
    """What the design aims for and what it assumes about keepers (units in comments)."""

    coverage: float = 0.995  # probability that MM covers a position's loss over the horizon
    horizon_sec: int = DAY  # liquidation horizon, seconds
    n_paths: int = 100_000  # Monte Carlo draws of the horizon
    steps_per_horizon: int = 24  # simulation steps within the horizon
    seed: int = 0
    es_share: float = 0.10  # pool ES over the horizon at total_oi_cap, share of NAV
    series_es_share: float = 0.03  # pool ES of one series at series_oi_cap, share of NAV
    pool_nav: float = 1_000_000.0  # USD
    gas_units: float = 1_800_000.0  # gas of one liquidation (benchmarks/protocol_chain.py)
    gas_price_gwei: float = 0.05  # normal conditions (an L2)
    stress_gas_price_gwei: float = 2.0  # congestion in a crash
    gas_token_usd: float | None = None  # USD per gas token; None: the book's spot
    slippage: float = 0.002  # cost of flattening delta, share of the notional hedged
    stress_slippage: float = 0.02
    start_quantile: float = 0.5  # share of accounts whose liquidation pays at the start
    max_quantile: float = 0.95  # ... under stress at the maximum discount
    ramp_hours: float = 4.0  # hours from start_discount to max_discount
    lar_paths: int = 1_000  # draws on which the whole book is re-margined (LaR)
    # implied vol moves for reasons returns cannot show (demand, variance premium): the vol
    # shocks are never proposed below this, whatever the model says
    min_vol_shock: float = 0.1

    def validate(self) -> None:
        checks = {
            "coverage": (0.5, 0.99999, False),
            "horizon_sec": (60, 30 * DAY, True),
            "n_paths": (1_000, 10_000_000, True),
            "steps_per_horizon": (1, 10_000, True),
            "es_share": (0.0, 1.0, False),
            "series_es_share": (0.0, 1.0, False),
            "pool_nav": (0.0, 1e15, False),
            "gas_units": (0.0, 3e7, True),
            "gas_price_gwei": (0.0, 1e5, True),
            "stress_gas_price_gwei": (0.0, 1e5, True),
            "slippage": (0.0, 0.5, True),
            "stress_slippage": (0.0, 0.5, True),
            "start_quantile": (0.0, 1.0, True),
            "max_quantile": (0.0, 1.0, True),
            "ramp_hours": (0.0, 1e4, False),
            "lar_paths": (10, 1_000_000, True),
            "min_vol_shock": (0.0, 0.9, True),
        }
        for name, (lo, hi, closed_lo) in checks.items():
            value = getattr(self, name)
            ok = (lo <= value if closed_lo else lo < value) and value <= hi
            if not (isinstance(value, (int, float)) and math.isfinite(value) and ok):
                bracket = "[" if closed_lo else "("
                raise ValueError(
                    f"design.{name} = {value} outside allowed range {bracket}{lo}, {hi}]"
                )
        if self.gas_token_usd is not None and not self.gas_token_usd > 0:
            raise ValueError(
                f"design.gas_token_usd = {self.gas_token_usd} outside allowed range (0, inf)"
            )


@dataclass(frozen=True)
class Proposal:
    """Proposed parameter groups with the evidence behind them."""

    margin: MarginParams
    liquidation: LiquidationParams
    limits: Limits
    evidence: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def groups(self) -> dict[str, ParamGroup]:
        return {"margin": self.margin, "liquidation": self.liquidation, "limits": self.limits}

    def evidence_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"metric": list(self.evidence), "value": list(self.evidence.values())}
        ).set_index("metric")

    def changes(self, current: dict[str, ParamGroup]) -> pd.DataFrame:
        """Field by field: group, field, current, proposed (only the fields that differ)."""
        rows = []
        for name, new in self.groups().items():
            old = current.get(name)
            for f in new.FIELDS:
                a = getattr(old, f.name) if old is not None else None
                b = getattr(new, f.name)
                if a is None or f.to_chain(a) != f.to_chain(b):
                    rows.append({"group": name, "field": f.name, "current": a, "proposed": b})
        return pd.DataFrame(rows, columns=["group", "field", "current", "proposed"])


# --- the design ---


def design(
    model: TailModel,
    book: Book,
    current: MarginParams | None = None,
    liquidation: LiquidationParams | None = None,
    targets: DesignTargets | None = None,
    iv_ratio: Any = None,
) -> Proposal:
    """Propose margin, liquidation and limit parameters for `book` under `model`.

    Args:
        model: a fitted tail model (GBM, Merton, GARCH-t, Bates or an ensemble).
        book: the accounts to protect; its series define the positions tested.
        current: the margin parameters in force (their grid, tenor scaling, short minimum
            and IM factor are kept; default MarginParams()).
        liquidation: the liquidation parameters in force (target_buffer is kept).
        targets: coverage, horizon, keeper costs (DesignTargets()).
        iv_ratio: optional observed ratios of ATM implied vol over one horizon (e.g. from a
            Kalman-filtered IV history, IV(t + H) / IV(t)); when given, the vol shocks come
            from their quantiles instead of the model's vol ratio.

    Returns:
        A Proposal whose evidence is described in the module docstring.
    """
    targets = targets or DesignTargets()
    targets.validate()
    current = current or MarginParams()
    liquidation = liquidation or LiquidationParams()
    current.validate()
    liquidation.validate()
    draws = horizon_draws(model, targets)
    moves = Revaluation.build(book, draws, targets.horizon_sec)

    notes: list[str] = []
    ratio = draws.vol_ratio if iv_ratio is None else _check_iv_ratio(iv_ratio)
    margin, vol_note = _vol_shocks(current, ratio, targets)
    notes.append(vol_note)
    margin, coverage_ok, worst = spot_shock_for(margin, moves, book, targets.coverage)
    if not coverage_ok:
        notes.append(
            f"coverage {targets.coverage} not reached even at the largest spot_shock "
            f"{margin.spot_shock}: the worst position exceeds its MM with probability {worst:.4f}"
        )
    degenerate = coverage_ok and is_degenerate(margin.spot_shock, worst)
    if degenerate:
        notes.append(degenerate_note(margin.spot_shock, worst))
    liq, liq_evidence = liquidation_design(margin, liquidation, book, targets)
    limits, pool_evidence = _limits(moves, book, targets)
    notes.extend(limit_notes(limits, pool_evidence, book, targets))
    evidence = {
        "coverage_target": targets.coverage,
        "worst_position_exceedance": worst,
        # not a result when the book does not constrain the shock (degenerate_note)
        "coverage_achieved": math.nan if degenerate else 1.0 - worst,
        "degenerate": float(degenerate),
        **pool_evidence,
        **liq_evidence,
        **liquidations_at_risk(book, margin, draws, targets),
    }
    return Proposal(margin, liq, limits, evidence, tuple(notes))


def is_degenerate(shock: float, worst: float) -> bool:
    """The book does not inform the shock: every position is covered at the smallest
    spot_shock, or no draw at all exceeds any position's MM (the shock then covers the
    positions' largest possible loss, e.g. long options' premium, not a quantile)."""
    smallest = FIELD_BOUNDS["spot_shock"]
    return shock <= smallest.lo / smallest.scale or worst == 0.0


def degenerate_note(shock: float, worst: float) -> str:
    why = (
        "every position is covered at the smallest spot_shock"
        if worst > 0.0
        else "no draw exceeds any position's MM (the losses are bounded, e.g. long options)"
    )
    return (
        f"degenerate review: {why} at spot_shock {shock}, so the book says nothing about "
        "the coverage (no coverage figure; typically no book at risk, or only far "
        "out-of-the-money or long positions); the spot_shock comes from the floors"
    )


def limit_notes(
    limits: Limits, evidence: dict[str, float], book: Book, targets: DesignTargets
) -> list[str]:
    """How the OI caps follow from the book, the pool's NAV and the ES budget, and a
    warning when the book already holds more than a cap."""
    nav = targets.pool_nav
    es_unit = (
        evidence["book_pool_es_share_of_nav"] * nav / max(evidence["book_open_interest"], 1e-12)
    )
    es_series = evidence["worst_series_es_per_contract_usd"]
    notes = [
        f"total_oi_cap {limits.total_oi_cap:,.1f} = ES budget {targets.es_share:.0%} of NAV "
        f"{nav:,.0f} USD / the pool's {targets.coverage:.1%} ES per contract of the book's "
        f"mix {es_unit:,.2f} USD",
        f"series_oi_cap {limits.series_oi_cap:,.1f} = {targets.series_es_share:.0%} of NAV / "
        f"the worst single series' ES per contract {es_series:,.2f} USD",
    ]
    net = np.zeros(len(book.strike))
    np.add.at(net, book.series_idx.ravel(), book.size.ravel())
    oi, largest = float(np.abs(net).sum()), float(np.abs(net).max()) if len(net) else 0.0
    if oi > limits.total_oi_cap:
        notes.append(
            f"warning: the book already holds {oi:,.1f} contracts of open interest, above the "
            f"proposed total_oi_cap {limits.total_oi_cap:,.1f}: new risk would be refused "
            "until it runs off (existing positions are not cut)"
        )
    if largest > limits.series_oi_cap:
        notes.append(
            f"warning: the book's largest series holds {largest:,.1f} contracts, above the "
            f"proposed series_oi_cap {limits.series_oi_cap:,.1f}"
        )
    return notes


@dataclass(frozen=True)
class HorizonDraws:
    """Joint draws over the liquidation horizon."""

    log_return: np.ndarray  # (N,) log spot move
    vol_ratio: np.ndarray  # (N,) v_end / v_start


def horizon_draws(model: TailModel, targets: DesignTargets) -> HorizonDraws:
    """Simulate the horizon with the model (steps_per_horizon steps of H / steps years)."""
    horizon = targets.horizon_sec / YEAR_SEC
    sim = simulate_over(model, horizon, targets.n_paths, targets.steps_per_horizon, targets.seed)
    log_return = np.asarray(sim.terminal, dtype=float).copy()
    vol_ratio = np.asarray(sim.vol_ratio, dtype=float).copy()
    if not (np.all(np.isfinite(log_return)) and np.all(np.isfinite(vol_ratio))):
        raise ValueError("model: simulated horizon has NaN or infinite values")
    return HorizonDraws(log_return, vol_ratio)


def simulate_over(model: Any, horizon: float, n_paths: int, n_steps: int, seed: Any) -> Any:
    """simulate_horizon over `horizon` years; a model tied to its data's step (GARCH) uses
    its own dt and as many steps as fit the horizon."""
    model_dt = getattr(model, "dt", None)
    if model_dt is not None:
        steps = max(1, int(round(horizon / model_dt)))
        return model.simulate_horizon(n_paths, steps, model_dt, seed)
    return model.simulate_horizon(n_paths, n_steps, horizon / n_steps, seed)


@dataclass(frozen=True)
class Revaluation:
    """Each series' value change per contract on every draw, USD: (S, N)."""

    pnl: np.ndarray  # V(spot e^r, vol v'/v, T - H) - V(spot, vol, T)

    @classmethod
    def build(cls, book: Book, draws: HorizonDraws, horizon_sec: int) -> Revaluation:
        spot_end = book.spot * np.exp(draws.log_return)[None, :]
        vol_end = book.vol[:, None] * draws.vol_ratio[None, :]
        t_end = np.maximum(book.t_sec - horizon_sec, 0.0)[:, None]
        col = (slice(None), None)
        end = bs_price_unchecked(spot_end, book.strike[col], t_end, vol_end, book.is_call[col])
        start = bs_price_unchecked(
            np.float64(book.spot), book.strike, book.t_sec, book.vol, book.is_call
        )
        return cls(end - start[:, None])


# --- 1. margin shocks ---


def _vol_shocks(
    current: MarginParams, vol_ratio: np.ndarray, targets: DesignTargets
) -> tuple[MarginParams, str]:
    c = targets.coverage
    hi, lo = np.quantile(vol_ratio, [c, 1.0 - c])
    # the quantiles are over the horizon at the reference tenor, where k(T_ref) = min(1, cap)
    up = _clip("vol_shock_up", max(targets.min_vol_shock, hi - 1.0))
    down = _clip("vol_shock_down", max(targets.min_vol_shock, 1.0 - lo))
    floored = [
        n for n, raw in (("up", hi - 1.0), ("down", 1.0 - lo)) if raw < targets.min_vol_shock
    ]
    note = f"vol shocks from the vol-ratio quantiles: up {up:.4f}, down {down:.4f}"
    if floored:
        note += f" ({' and '.join(floored)} floored at min_vol_shock {targets.min_vol_shock})"
    return replace(current, vol_shock_up=up, vol_shock_down=down), note


def _check_iv_ratio(iv_ratio: Any) -> np.ndarray:
    r = np.asarray(iv_ratio, dtype=float)
    if r.ndim != 1 or len(r) < 20:
        raise ValueError(f"iv_ratio: expected a 1-D array of at least 20, got shape {r.shape}")
    if not np.all(np.isfinite(r) & (r > 0)):
        raise ValueError("iv_ratio: values outside allowed range (0, inf)")
    return r


def position_exceedance(margin: MarginParams, moves: Revaluation, book: Book) -> np.ndarray:
    """P(loss over the horizon > MM) of one contract long (row 0) and short (row 1) per series."""
    n = len(book.strike)
    idx = np.arange(n)[:, None]
    table = scenario_table(book.spot, **book.series, params=margin)
    long_mm = _single_mm(table, book.spot, idx, 1.0, margin)
    short_mm = _single_mm(table, book.spot, idx, -1.0, margin)
    long_loss, short_loss = -moves.pnl, moves.pnl
    return np.stack(
        [
            np.mean(long_loss > long_mm[:, None], axis=1),
            np.mean(short_loss > short_mm[:, None], axis=1),
        ]
    )


def _single_mm(table, spot, idx, sign, margin):  # type: ignore[no-untyped-def]
    return margin_from_table(table, spot, idx, np.full(idx.shape, sign), margin).mm


def spot_shock_for(
    margin: MarginParams, moves: Revaluation, book: Book, coverage: float
) -> tuple[MarginParams, bool, float]:
    allowed = 1.0 - coverage
    bound = FIELD_BOUNDS["spot_shock"]
    lo, hi = bound.lo / bound.scale, bound.hi / bound.scale

    def worst(shock: float) -> float:
        return float(position_exceedance(replace(margin, spot_shock=shock), moves, book).max())

    if worst(hi) > allowed:
        return replace(margin, spot_shock=hi), False, worst(hi)
    if worst(lo) <= allowed:
        return replace(margin, spot_shock=lo), True, worst(lo)
    for _ in range(40):  # bisection to 1e-12 of the range, then round up to 1e-4
        mid = 0.5 * (lo + hi)
        if worst(mid) <= allowed:
            hi = mid
        else:
            lo = mid
    shock = math.ceil(hi * 1e4) / 1e4
    return replace(margin, spot_shock=shock), True, worst(shock)


# --- 2. liquidation reward ---


def breakeven_discount(
    cost_over_mm: np.ndarray, im_factor: float, target_buffer: float
) -> np.ndarray:
    """d with f(d) d = x: d = B x / (A + x), A = (1+b)k - 1, B = (1+b)k (module docstring)."""
    b_ = (1.0 + target_buffer) * im_factor
    a_ = b_ - 1.0
    if a_ <= 0.0:
        raise ValueError(
            f"im_factor x (1 + target_buffer) = {b_} outside allowed range (1, inf): "
            "a liquidation would take nothing over"
        )
    return b_ * cost_over_mm / (a_ + cost_over_mm)


def liquidation_design(
    margin: MarginParams, current: LiquidationParams, book: Book, targets: DesignTargets
) -> tuple[LiquidationParams, dict[str, float]]:
    m = book.margin(margin)
    live = m.mm > 0.0
    delta = _account_delta(book)[live]
    mm = m.mm[live]
    gas_token = targets.gas_token_usd or book.spot
    b_ = (1.0 + current.target_buffer) * margin.im_factor

    def required(gas_gwei: float, slippage: float, d_guess: float) -> np.ndarray:
        # the slippage term depends on f(d) only weakly; it is taken at the current discount
        gas_usd = targets.gas_units * gas_gwei * ETH_PER_GWEI * gas_token
        f = (b_ - 1.0) / (b_ - d_guess)  # fraction taken over at the discount
        cost = gas_usd + slippage * f * np.abs(delta) * book.spot
        return breakeven_discount(cost / mm, margin.im_factor, current.target_buffer)

    normal = required(targets.gas_price_gwei, targets.slippage, current.start_discount)
    stress = required(targets.stress_gas_price_gwei, targets.stress_slippage, current.max_discount)
    start = _clip("start_discount", float(np.quantile(normal, targets.start_quantile)))
    top = _clip("max_discount", max(start, float(np.quantile(stress, targets.max_quantile))))
    rate = _clip("discount_rate", (top - start) / targets.ramp_hours)
    proposal = replace(current, start_discount=start, max_discount=top, discount_rate=rate)
    evidence = {
        "accounts_economic_at_start": float(np.mean(normal <= start)),
        "accounts_economic_at_max_under_stress": float(np.mean(stress <= top)),
        "min_economic_mm_usd_normal": _min_economic_mm(start, b_, targets, gas_token, False),
        "min_economic_mm_usd_stress": _min_economic_mm(top, b_, targets, gas_token, True),
    }
    return proposal, evidence


def _min_economic_mm(
    d: float, b_: float, targets: DesignTargets, gas_token: float, stress: bool
) -> float:
    """The smallest MM whose liquidation at discount d covers the gas (USD)."""
    gwei = targets.stress_gas_price_gwei if stress else targets.gas_price_gwei
    gas_usd = targets.gas_units * gwei * ETH_PER_GWEI * gas_token
    reward_per_mm = (b_ - 1.0) / (b_ - d) * d
    return float(gas_usd / reward_per_mm) if reward_per_mm > 0 else math.inf


def _account_delta(book: Book) -> np.ndarray:
    """Net delta of each account, contracts of the underlying."""
    live_t = np.maximum(book.t_sec, 1.0)
    g = black_scholes(book.spot, book.strike, live_t, book.vol, book.is_call, second_order=False)
    delta = np.where(book.t_sec > 0, g.delta, 0.0)
    return np.sum(book.size * delta[book.series_idx], axis=1)


# --- 3. open-interest caps ---


def _limits(
    moves: Revaluation, book: Book, targets: DesignTargets
) -> tuple[Limits, dict[str, float]]:
    net = np.zeros(len(book.strike))
    np.add.at(net, book.series_idx.ravel(), book.size.ravel())
    pool = -net  # the pool is the counterparty of every trade
    oi = float(np.abs(pool).sum())
    alpha = targets.coverage
    if oi > 0:
        pool_loss = -(pool / oi) @ moves.pnl  # per contract of open interest
        var_unit, es_unit = value_at_risk(pool_loss, alpha), expected_shortfall(pool_loss, alpha)
    else:
        var_unit = es_unit = 0.0
    single = np.concatenate([moves.pnl, -moves.pnl])  # pool long / short one contract
    es_series = max(expected_shortfall(-row, alpha) for row in single)
    nav = targets.pool_nav
    total = _clip("total_oi_cap", targets.es_share * nav / es_unit if es_unit > 0 else 1e12)
    series = _clip(
        "series_oi_cap", targets.series_es_share * nav / es_series if es_series > 0 else 1e12
    )
    evidence = {
        "pool_var_at_total_cap_share_of_nav": var_unit * total / nav,
        "pool_es_at_total_cap_share_of_nav": es_unit * total / nav,
        "worst_series_es_per_contract_usd": es_series,
        "book_open_interest": oi,
        "book_pool_es_share_of_nav": es_unit * oi / nav,
    }
    return Limits(series_oi_cap=series, total_oi_cap=total), evidence


def value_at_risk(loss: np.ndarray, alpha: float) -> float:
    """The alpha-quantile of the loss (positive = loss)."""
    return float(np.quantile(loss, alpha))


def expected_shortfall(loss: np.ndarray, alpha: float) -> float:
    """Mean loss in the worst 1 - alpha of draws (at least one draw)."""
    k = max(1, int(math.ceil((1.0 - alpha) * len(loss) - 1e-9)))  # 1e-9: (1 - 0.99) * 1000 > 10
    return float(np.mean(np.partition(loss, len(loss) - k)[len(loss) - k :]))


# --- evidence: liquidations at risk ---


def liquidations_at_risk(
    book: Book, margin: MarginParams, draws: HorizonDraws, targets: DesignTargets
) -> dict[str, float]:
    """Re-margin the whole book on `lar_paths` draws at the horizon.

    Accounts' cash is taken as given (NaN cash: funded exactly at IM under `margin`).
    LaR is the c-quantile over draws of the total MM of accounts below their MM; bad debt
    at risk the c-quantile of the sum of negative equity.
    """
    m0 = book.margin(margin)
    cash = np.where(np.isnan(book.cash), m0.im - m0.value, book.cash)
    n = min(targets.lar_paths, len(draws.log_return))
    t_end = np.maximum(book.t_sec - targets.horizon_sec, 0.0)
    lar = np.empty(n)
    bad = np.empty(n)
    count = np.empty(n)
    for i in range(n):
        spot = book.spot * math.exp(draws.log_return[i])
        m = accounts_margin(
            spot,
            book.strike,
            t_end,
            book.vol * draws.vol_ratio[i],
            book.is_call,
            book.series_idx,
            book.size,
            margin,
        )
        equity = cash + m.value
        below = equity < m.mm
        lar[i] = m.mm[below].sum()
        bad[i] = -equity[equity < 0].sum()
        count[i] = below.mean()
    alpha = targets.coverage
    return {
        "lar_mm_usd": float(np.quantile(lar, alpha)),
        "lar_accounts_share": float(np.quantile(count, alpha)),
        "expected_lar_mm_usd": float(lar.mean()),
        "bad_debt_at_risk_usd": float(np.quantile(bad, alpha)),
    }


def _clip(name: str, value: float) -> float:
    """Clip a proposed value into the field's on-chain bounds, rounded to 1e-6."""
    f = FIELD_BOUNDS[name]
    lo, hi = f.lo / f.scale, f.hi / f.scale
    return float(min(hi, max(lo, round(value, 6))))


__all__ = [
    "DesignTargets",
    "HorizonDraws",
    "Proposal",
    "Revaluation",
    "breakeven_discount",
    "design",
    "expected_shortfall",
    "horizon_draws",
    "liquidation_design",
    "liquidations_at_risk",
    "position_exceedance",
    "simulate_over",
    "spot_shock_for",
    "value_at_risk",
]
