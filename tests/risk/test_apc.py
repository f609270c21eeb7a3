"""Anti-procyclicality tools (risk/apc.py): the buffer, the stressed window and the
procyclicality metrics, on series whose answers are known by hand."""

from __future__ import annotations

import numpy as np
import pytest

from risk.apc import APC, buffered, horizon_sums, procyclicality, stressed_window


def test_buffer_adds_its_share_in_calm_and_is_used_up_first_when_margins_rise():
    calc = np.array([0.10, 0.10, 0.12, 0.125, 0.20, 0.20])
    posted = buffered(calc, 0.25, rebuild_steps=0)
    assert posted[:2] == pytest.approx([0.125, 0.125])
    # a rise of up to the buffer is absorbed: the posted margin does not move, even when
    # the buffer is rebuilt at once once margins stop rising
    assert posted[2] == pytest.approx(0.125) and posted[3] == pytest.approx(0.125)
    assert posted[5] == pytest.approx(0.25)  # flat again: rebuilt at once
    slow = buffered(calc, 0.25, rebuild_steps=1e9)
    assert slow[2] == pytest.approx(0.125, abs=1e-9)
    assert slow[3] == pytest.approx(0.125, abs=1e-9)
    # a rise beyond the buffer: the posted margin follows the calculated one, no more
    assert slow[4] == pytest.approx(0.20)
    assert np.all(slow >= calc) and np.all(slow <= 1.25 * calc + 1e-15)


def test_buffer_is_rebuilt_at_the_stated_pace():
    calc = np.array([0.10, 0.20] + [0.20] * 10)
    posted = buffered(calc, 0.25, rebuild_steps=5)
    steps = np.diff(posted[1:7])
    assert steps == pytest.approx([0.25 * 0.20 / 5] * 5)
    assert posted[-1] == pytest.approx(0.25)


def test_buffer_off_posts_the_calculated_margin():
    calc = np.array([0.1, 0.3, 0.2])
    assert buffered(calc, 0.0, 10).tolist() == calc.tolist()


def test_procyclicality_metrics_by_hand():
    m = np.array([1.0, 1.0, 2.0, 2.0, 3.0, 1.5])
    out = procyclicality(m, steps_per_day=1)
    assert out["peak_to_trough"] == 3.0
    assert out["max_1d_increase"] == 2.0
    assert out["max_5d_increase"] == pytest.approx(3.0)  # 1.0 -> 3.0 within 4 days
    assert out["max_30d_increase"] == pytest.approx(3.0)
    assert procyclicality(np.array([2.0, 1.0, 1.5]), 1)["max_1d_increase"] == 1.5
    with pytest.raises(ValueError, match="margin"):
        procyclicality(np.array([1.0, 0.0]), 1)


def test_stressed_window_is_the_most_volatile_stretch():
    r = np.full(1000, 0.01)
    r[600:650] = 0.05
    assert stressed_window(r, 50) == (600, 650)
    assert stressed_window(r[:30], 50) == (0, 30)


def test_horizon_sums_are_the_overlapping_sums():
    r = np.arange(5.0)
    assert horizon_sums(r, 2).tolist() == [1.0, 3.0, 5.0, 7.0]
    assert horizon_sums(r, 6).size == 0


@pytest.mark.parametrize(
    ("field", "value"), [("stressed_weight", 0.6), ("buffer", -0.1), ("floor_years", np.nan)]
)
def test_apc_settings_refuse_values_outside_their_range(field, value):
    with pytest.raises(ValueError, match=f"apc.{field}"):
        APC(**{field: value}).validate()


def test_apc_off_turns_every_tool_off():
    assert not APC.off().on and APC().on


def test_long_history_floor_is_the_two_sided_horizon_quantile():
    from risk.apc import LongHistory, quantile_shock

    g = np.random.default_rng(4)
    r = g.standard_t(4, 3_000) * 0.03
    day = LongHistory(r, 1 / 365, "t4 daily")
    sums = horizon_sums(r, 1)
    assert day.floor(86_400, 0.995) == quantile_shock(sums, 0.995)
    assert day.floor(3_600, 0.995) == day.floor(86_400, 0.995)  # at least one return
    assert day.floor(3 * 86_400, 0.995) == quantile_shock(horizon_sums(r, 3), 0.995)
    lo, hi = np.quantile(sums, [0.005, 0.995])
    assert quantile_shock(sums, 0.995) == max(-np.expm1(lo), np.expm1(hi))
    assert day.years == pytest.approx(3_000 / 365)
    with pytest.raises(ValueError, match="long history short: 50 horizon returns"):
        LongHistory(r[:50], 1 / 365, "short").floor(86_400, 0.995)


def test_long_history_vol_floor_is_the_vol_index_ratio_quantiles():
    from risk.apc import LongHistory

    g = np.random.default_rng(6)
    iv = 0.6 * np.exp(np.cumsum(g.normal(0, 0.05, 800)))
    h = LongHistory(np.zeros(500), 1 / 365, "flat", iv, 1 / 365, "iv")
    up, down = h.vol_floor(86_400, 0.99)
    ratio = iv[1:] / iv[:-1]
    assert up == pytest.approx(np.quantile(ratio, 0.99) - 1)
    assert down == pytest.approx(1 - np.quantile(ratio, 0.01))
    week = h.vol_floor(7 * 86_400, 0.99)
    assert week[0] > up and week[1] > down  # vol moves more over a week than a day
    assert LongHistory(np.zeros(500), 1 / 365).vol_floor(86_400, 0.99) is None
    with pytest.raises(ValueError, match="vol history short: 49 horizon ratios"):
        LongHistory(np.zeros(500), 1 / 365, "", iv[:50], 1 / 365, "short").vol_floor(86_400, 0.99)


def test_history_anchors_take_the_more_volatile_series_stressed_spell():
    """The stressed period is the most volatile stress_days of either series, judged by
    annualised variance across their different steps, summed over the horizon at each
    series' own step; the ceiling is the worst horizon loss in both."""
    from risk.apc import HistoryAnchors, LongHistory
    from risk.units import DAY

    g = np.random.default_rng(4)
    daily = g.normal(0, 0.02, 1_000)  # 38% vol
    daily[500:590] = g.normal(0, 0.05, 90)  # a 96% vol quarter
    long = LongHistory(daily, 1 / 365, "daily")
    hourly_calm = g.normal(0, 0.005, 24 * 30)  # 47% vol
    a = HistoryAnchors.of(long, hourly_calm, 1 / 365 / 24, DAY, APC(), 1.0)
    np.testing.assert_allclose(a.stressed, np.sort(daily[500:590]), rtol=1e-12)
    assert a.stressed_source.startswith("daily, 90 returns")
    hourly_wild = g.normal(0, 0.03, 24 * 30)  # 281% vol: now the recent returns are the spell
    b = HistoryAnchors.of(long, hourly_wild, 1 / 365 / 24, DAY, APC(), 1.0)
    assert len(b.stressed) == 24 * 30 - 23  # the whole month (shorter than 90 days), 24 h sums
    assert b.stressed_source.startswith("the recent returns")
    sums = horizon_sums(hourly_wild, 24)
    worst = max(np.abs(np.expm1(daily)).max(), np.expm1(sums.max()), -np.expm1(sums.min()))
    assert b.ceiling == pytest.approx(min(0.9, worst))
    off = HistoryAnchors.of(long, hourly_calm, 1 / 365 / 24, DAY, APC(stressed_weight=0.0), 1.0)
    assert len(off.stressed) == 0 and off.stressed_weight == 0.0


def test_history_anchors_refuse_a_ceiling_multiple_outside_its_range():
    from risk.apc import HistoryAnchors, LongHistory

    long = LongHistory(np.zeros(500), 1 / 365, "flat")
    with pytest.raises(ValueError, match=r"ceiling_multiple = -1 outside allowed range \[0, 100\]"):
        HistoryAnchors.of(long, np.zeros(100), 1 / 365, 86_400, APC(), -1)


def test_stressed_mixture_never_dilutes_a_more_stressed_present():
    """When the models today are wilder than the stressed period, mixing it in would lower
    the quantile: the stressed mixture is then the plain mixture."""
    from risk.apc import stressed_mixtures

    g = np.random.default_rng(0)
    wild = [np.sort(g.normal(0, 0.2, 20_000))]
    mild = np.sort(g.normal(0, 0.02, 2_000))
    plain, stressed = stressed_mixtures(wild, np.array([1.0]), mild, 0.25, 0.995)
    assert stressed == plain
    calm = [np.sort(g.normal(0, 0.01, 20_000))]
    plain, stressed = stressed_mixtures(
        calm, np.array([1.0]), np.sort(g.normal(0, 0.2, 2_000)), 0.25, 0.995
    )
    assert stressed > 3 * plain
