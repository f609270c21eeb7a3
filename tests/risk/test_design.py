"""risk/design.py: the proposal meets its coverage out of sample, matches closed forms
where there are any, moves the right way with its inputs, and stays inside the chain's
bounds and rate limits."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from scipy.stats import norm

from risk.book import Book, example_book
from risk.design import (
    DesignTargets,
    Revaluation,
    breakeven_discount,
    design,
    expected_shortfall,
    horizon_draws,
    liquidations_at_risk,
    position_exceedance,
)
from risk.margin import portfolio_margin
from risk.params import Limits, LiquidationParams, MarginParams
from risk.tail_models import GBM, Merton
from risk.units import DAY

FAST = DesignTargets(n_paths=40_000, lar_paths=40, seed=1)
BOOK = example_book(n_accounts=300, seed=2)


def _one_series_book(strike_pct: float, days: float, is_call: bool, size: float) -> Book:
    return Book(
        spot=2_000.0,
        strike=np.array([2_000.0 * strike_pct]),
        t_sec=np.array([days * DAY]),
        vol=np.array([0.6]),
        is_call=np.array([is_call]),
        series_idx=np.zeros((1, 1), dtype=np.int64),
        size=np.array([[size]]),
        cash=np.array([np.nan]),
        accounts=(0,),
    )


def test_design__fresh_draws__meet_the_coverage_target():
    """Scored on draws the design never saw (another seed): the worst position's
    exceedance is within Monte Carlo error of 1 - coverage."""
    model = GBM(mu=0.0, sigma=0.8)
    proposal = design(model, BOOK, targets=FAST)
    fresh = replace(FAST, seed=99, n_paths=200_000)
    moves = Revaluation.build(BOOK, horizon_draws(model, fresh), fresh.horizon_sec)
    worst = position_exceedance(proposal.margin, moves, BOOK).max()
    allowed = 1.0 - FAST.coverage
    # 40k design draws: the standard error of a 0.5% frequency is 0.035%; allow 4 of them
    assert worst <= allowed + 4 * math.sqrt(allowed * (1 - allowed) / FAST.n_paths)
    assert proposal.evidence["coverage_achieved"] >= FAST.coverage
    assert worst > allowed / 3  # and not wildly conservative


def test_design__deep_itm_short_call__shock_is_the_return_quantile():
    """A deep in-the-money call moves one for one with spot: its MM covers the loss when
    spot_shock is the coverage quantile of e^r - 1 (no vol effect, a negligible short
    minimum: both zero is refused, as on-chain)."""
    sigma, c = 0.5, 0.99
    book = _one_series_book(0.2, 365, True, -1.0)
    current = MarginParams(short_min=1e-6, vol_shock_up=0.0, vol_shock_down=0.0)
    targets = replace(FAST, coverage=c, n_paths=200_000, min_vol_shock=0.0)
    proposal = design(GBM(mu=0.0, sigma=sigma), book, current=current, targets=targets)
    h = targets.horizon_sec / 31_536_000
    expected = math.exp(norm.ppf(c) * sigma * math.sqrt(h)) - 1.0
    assert proposal.margin.spot_shock == pytest.approx(expected, rel=0.03)


@pytest.mark.parametrize(
    ("low", "high"),
    [
        (dict(model=GBM(0.0, 0.5)), dict(model=GBM(0.0, 1.0))),
        (dict(coverage=0.99), dict(coverage=0.999)),
        (dict(horizon_sec=3_600), dict(horizon_sec=DAY)),
    ],
    ids=["volatility", "coverage", "horizon"],
)
def test_design__riskier_inputs__larger_spot_shock(low, high):
    def shock(over):
        model = over.get("model", GBM(0.0, 0.7))
        targets = replace(FAST, **{k: v for k, v in over.items() if k != "model"})
        return design(model, BOOK, targets=targets).margin.spot_shock

    assert shock(high) > shock(low)


def test_design__jumps__need_more_margin_than_the_same_variance_without():
    jumpy = Merton(mu=0.0, sigma=0.4, lam=20.0, mu_j=-0.05, sigma_j=0.05)
    variance = jumpy.moments(1.0).variance
    plain = GBM(mu=0.0, sigma=math.sqrt(variance))
    assert (
        design(jumpy, BOOK, targets=FAST).margin.spot_shock
        > design(plain, BOOK, targets=FAST).margin.spot_shock
    )


def test_design__every_group__inside_the_chain_bounds():
    proposal = design(GBM(0.0, 3.0), BOOK, targets=FAST)
    for group in proposal.groups().values():
        group.validate()
    assert proposal.margin.spot_shock <= 0.9


def test_design__impossible_coverage__says_so_in_the_notes():
    book = _one_series_book(0.2, 365, True, -1.0)
    targets = replace(FAST, coverage=0.999)
    proposal = design(GBM(0.0, 5.0), book, targets=replace(targets, horizon_sec=30 * DAY))
    assert proposal.margin.spot_shock == 0.9
    assert any("not reached" in note for note in proposal.notes)
    assert proposal.evidence["coverage_achieved"] < 0.999


# --- liquidation reward ---


def test_breakeven_discount__pays_exactly_the_cost():
    k, b = 1.3, 0.1
    x = np.array([0.001, 0.01, 0.05])
    d = breakeven_discount(x, k, b)
    f = ((1 + b) * k - 1) / ((1 + b) * k - d)  # OptionMarket.liquidate's fraction at E = MM
    np.testing.assert_allclose(f * d, x, rtol=1e-12)


def test_breakeven_discount__no_room_to_liquidate__names_the_fields():
    with pytest.raises(ValueError, match=r"im_factor x \(1 \+ target_buffer\) = 1.0"):
        breakeven_discount(np.array([0.01]), 1.0, 0.0)


def test_design__dearer_gas__larger_discounts():
    cheap = design(GBM(0.0, 0.7), BOOK, targets=FAST).liquidation
    dear = design(
        GBM(0.0, 0.7), BOOK, targets=replace(FAST, gas_price_gwei=1.0, stress_gas_price_gwei=20.0)
    ).liquidation
    assert dear.start_discount > cheap.start_discount
    assert dear.max_discount >= cheap.max_discount
    assert cheap.max_discount >= cheap.start_discount


def test_design__liquidation_evidence__shares_match_the_quantiles():
    ev = design(GBM(0.0, 0.7), BOOK, targets=FAST).evidence
    assert ev["accounts_economic_at_start"] == pytest.approx(FAST.start_quantile, abs=0.01)
    assert ev["accounts_economic_at_max_under_stress"] >= FAST.max_quantile - 0.01


# --- open-interest caps ---


def test_design__caps__put_the_pool_es_at_its_share_of_nav():
    targets = replace(FAST, pool_nav=2_000_000.0, es_share=0.05)
    proposal = design(GBM(0.0, 0.7), BOOK, targets=targets)
    assert proposal.evidence["pool_es_at_total_cap_share_of_nav"] == pytest.approx(0.05, rel=1e-4)
    doubled = design(GBM(0.0, 0.7), BOOK, targets=replace(targets, pool_nav=4_000_000.0))
    assert doubled.limits.total_oi_cap == pytest.approx(2 * proposal.limits.total_oi_cap, rel=1e-4)
    assert doubled.limits.series_oi_cap == pytest.approx(
        2 * proposal.limits.series_oi_cap, rel=1e-4
    )


def test_expected_shortfall__mean_of_the_tail():
    loss = np.arange(1000.0)
    assert expected_shortfall(loss, 0.99) == pytest.approx(np.mean(np.arange(990.0, 1000.0)))


# --- liquidations at risk ---


def test_liquidations_at_risk__matches_a_direct_recount():
    book = example_book(n_accounts=40, seed=5)
    margin = MarginParams()
    targets = replace(FAST, lar_paths=12, coverage=0.9)
    draws = horizon_draws(GBM(0.0, 1.5), targets)
    got = liquidations_at_risk(book, margin, draws, targets)
    lar, bad = [], []
    for i in range(targets.lar_paths):
        spot = book.spot * math.exp(draws.log_return[i])
        total_mm, total_bad = 0.0, 0.0
        for a in range(len(book.accounts)):
            live = book.size[a] != 0
            s = book.series_idx[a][live]
            m = portfolio_margin(
                spot,
                book.strike[s],
                np.maximum(book.t_sec[s] - targets.horizon_sec, 0),
                book.vol[s] * draws.vol_ratio[i],
                book.is_call[s],
                book.size[a][live],
                margin,
            )
            equity = book.cash[a] + m.value
            total_mm += m.mm if equity < m.mm else 0.0
            total_bad += -equity if equity < 0 else 0.0
        lar.append(total_mm)
        bad.append(total_bad)
    assert got["lar_mm_usd"] == pytest.approx(np.quantile(lar, 0.9), rel=1e-9)
    assert got["bad_debt_at_risk_usd"] == pytest.approx(np.quantile(bad, 0.9), rel=1e-9, abs=1e-6)
    assert max(lar) > 0


# --- bad input ---


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("coverage", 1.0, r"design.coverage = 1.0 outside allowed range \(0.5, 0.99999\]"),
        ("horizon_sec", 10, r"design.horizon_sec = 10 outside allowed range \[60,"),
        ("n_paths", 10, r"design.n_paths = 10 outside allowed range \[1000,"),
        ("es_share", float("nan"), r"design.es_share = nan outside allowed range"),
        ("gas_token_usd", -1.0, r"design.gas_token_usd = -1.0 outside allowed range \(0, inf\)"),
    ],
)
def test_design_targets__out_of_range__names_the_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        design(GBM(0.0, 0.5), BOOK, targets=replace(FAST, **{field: value}))


def test_design__bad_iv_ratio__names_it():
    with pytest.raises(ValueError, match=r"iv_ratio: values outside allowed range"):
        design(GBM(0.0, 0.5), BOOK, targets=FAST, iv_ratio=np.r_[np.ones(30), -1.0])


def test_design__iv_history__sets_the_vol_shocks():
    g = np.random.default_rng(0)
    ratio = np.exp(g.normal(0.0, 0.2, 5_000))
    proposal = design(GBM(0.0, 0.5), BOOK, targets=FAST, iv_ratio=ratio)
    assert proposal.margin.vol_shock_up == pytest.approx(np.quantile(ratio, 0.995) - 1, abs=1e-5)
    assert proposal.margin.vol_shock_down == pytest.approx(1 - np.quantile(ratio, 0.005), abs=1e-5)


def test_proposal__changes__lists_only_what_differs():
    proposal = design(GBM(0.0, 0.7), BOOK, targets=FAST)
    current = {"margin": MarginParams(), "liquidation": LiquidationParams(), "limits": Limits()}
    changes = proposal.changes(current)
    assert "spot_shock" in set(changes["field"])
    assert "spot_steps" not in set(changes["field"])  # the grid is kept
    assert "target_buffer" not in set(changes["field"])


def test_design__book_that_does_not_constrain_the_shock__degenerate_not_coverage_one():
    """Only a far out-of-the-money option a day from expiry: every position is covered at
    the smallest spot_shock. The design says so instead of reporting coverage 1.0."""
    far = _one_series_book(3.0, 1.0, True, -1.0)
    proposal = design(GBM(0.0, 0.5), far, targets=FAST)
    assert proposal.margin.spot_shock == 0.01
    assert math.isnan(proposal.evidence["coverage_achieved"])
    assert proposal.evidence["degenerate"] == 1.0
    assert any(n.startswith("degenerate review: ") for n in proposal.notes)
    near = design(GBM(0.0, 0.5), _one_series_book(1.0, 7.0, True, -1.0), targets=FAST)
    assert near.evidence["degenerate"] == 0.0 and near.evidence["coverage_achieved"] >= 0.995


def test_design__oi_caps__explained_and_a_book_above_them_is_warned():
    proposal = design(GBM(0.0, 0.7), BOOK, targets=replace(FAST, pool_nav=1_000.0))
    e = proposal.evidence
    total = next(n for n in proposal.notes if n.startswith("total_oi_cap"))
    assert "ES budget 10% of NAV 1,000 USD" in total
    es_unit = e["book_pool_es_share_of_nav"] * 1_000.0 / e["book_open_interest"]
    assert proposal.limits.total_oi_cap == pytest.approx(0.10 * 1_000.0 / es_unit, rel=1e-6)
    assert e["book_open_interest"] > proposal.limits.total_oi_cap
    assert any(
        n.startswith("warning: the book already holds") and "above the proposed total_oi_cap" in n
        for n in proposal.notes
    )
    rich = design(GBM(0.0, 0.7), BOOK, targets=replace(FAST, pool_nav=1e12))
    assert not any(n.startswith("warning:") for n in rich.notes)


def test_is_degenerate__smallest_shock_or_no_exceedance_at_all():
    from risk.design import degenerate_note, is_degenerate

    assert is_degenerate(0.01, 0.003) and is_degenerate(0.2, 0.0)
    assert not is_degenerate(0.2, 0.004)
    assert "no draw exceeds" in degenerate_note(0.2, 0.0)
    assert "covered at the smallest spot_shock" in degenerate_note(0.01, 0.003)
