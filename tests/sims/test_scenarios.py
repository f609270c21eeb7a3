"""The market scenario library: every scenario builds, events do what they say, replays
reproduce their file, bad inputs name the field, tail models keep their vol."""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pytest

from risk.units import HOUR, YEAR_SEC
from sims.market_path import read_replay_csv, synthetic_replay_csv
from sims.scenarios import (
    REPLAY_EXAMPLE,
    SCENARIOS,
    Event,
    ModelSpec,
    Scenario,
    list_scenarios,
    load_scenario,
    replay_path,
)

REQUIRED = (
    "calm",
    "crash",
    "flash_crash",
    "vol_spike",
    "slow_bleed",
    "oracle_outage",
    "gas_spike",
    "lp_bank_run",
    "gbm",
    "jump",
    "garch",
    "bates",
)
MID = 84  # where a mid-run event (start 0.5) lands in a week of hourly steps


@pytest.fixture
def write_file(tmp_path):
    def write(name: str, text: str):
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return write


# --- every scenario ---


def test_list_scenarios__has_the_library():
    names = [n for n, _ in list_scenarios()]
    assert set(REQUIRED) <= set(names)
    assert all(desc and "\n" not in desc for _, desc in list_scenarios())


@pytest.mark.parametrize("name", REQUIRED)
@pytest.mark.parametrize(
    "steps, step_seconds", [(1, HOUR), (7, HOUR), (168, HOUR), (600, 900), (40, 86_400)]
)
def test_build__any_length__finite_positive_arrays(name, steps, step_seconds):
    for seed in (0, 1):
        p = SCENARIOS[name].build(steps, step_seconds, seed, start_ts=1_000, spot0=1_500.0)
        assert p.steps == steps and p.name == name
        assert np.array_equal(p.timestamp, 1_000 + step_seconds * np.arange(steps + 1))
        assert p.spot[0] == 1_500.0
        for a in (p.spot, p.realised_vol, p.reference_iv, p.gas_gwei):
            assert np.all(np.isfinite(a)) and np.all(a > 0)
        assert np.all((p.lp_stress >= 0) & (p.lp_stress <= 1))
        assert np.all((p.liquidity > 0) & (p.liquidity <= 1))
        assert p.oracle_live.dtype == bool and p.regime.dtype.kind == "U"


@pytest.mark.parametrize("name", REQUIRED)
def test_build__same_seed_same_path__other_seed_other_path(name):
    s = SCENARIOS[name]
    a, b, c = s.build(100, seed=5), s.build(100, seed=5), s.build(100, seed=6)
    for field in ("spot", "realised_vol", "reference_iv", "gas_gwei", "liquidity"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field
    assert not np.array_equal(a.spot, c.spot)
    assert not np.array_equal(a.gas_gwei, c.gas_gwei)


# --- the stress events ---


def test_crash__falls_40pct_in_a_day_at_mid_run__vol_up_depth_and_gas_spike():
    p = SCENARIOS["crash"].build(168, seed=11)
    calm = Scenario("x", "", SCENARIOS["crash"].model).build(168, seed=11)
    assert p.spot[MID + 24] / p.spot[MID] == pytest.approx(0.60, rel=1e-12)
    assert 0.7 < p.spot[MID] / p.spot[0] < 1.4  # no fall before it
    window = slice(MID, MID + 24)
    assert np.allclose(p.realised_vol[window], 2.6 * calm.realised_vol[window])
    assert np.all(p.reference_iv[window] >= p.realised_vol[window] * 1.1 - 1e-12)
    assert np.all(p.liquidity[window] < 0.2) and np.all(p.liquidity[:MID] == 1.0)
    assert np.allclose(p.gas_gwei[window], 20 * calm.gas_gwei[window])
    assert all("crash" in r for r in p.regime[window]) and p.regime[MID - 1] == "normal"


def test_crash__short_run__placed_at_fraction_and_shortened_to_fit():
    p = SCENARIOS["crash"].build(10, seed=1)
    assert p.spot[10] / p.spot[5] == pytest.approx(0.60, rel=1e-12)


def test_crash__quarter_hour_steps__lasts_96_steps():
    p = SCENARIOS["crash"].build(400, 900, seed=2)
    assert p.spot[200 + 96] / p.spot[200] == pytest.approx(0.60, rel=1e-12)
    assert p.regime[200 + 95] != "normal" and "crash" not in p.regime[200 + 96]


def test_flash_crash__falls_25pct_in_an_hour__recovers_over_6():
    p = SCENARIOS["flash_crash"].build(168, seed=3)
    assert p.spot[MID + 1] / p.spot[MID] == pytest.approx(0.75, rel=1e-12)
    assert p.spot[MID + 7] == pytest.approx(p.spot[MID], rel=1e-12)
    assert list(p.regime[MID + 1 : MID + 7]).count("flash_recovery") >= 4


def test_oracle_outage__live_false_exactly_over_its_window():
    p = SCENARIOS["oracle_outage"].build(168, seed=4)
    assert np.array_equal(np.flatnonzero(~p.oracle_live), np.arange(MID, MID + 6))
    assert p.spot[MID + 12] / p.spot[MID] == pytest.approx(0.85, rel=1e-12)


def test_gas_spike__multiplies_gas_100x_for_12h__then_fades():
    s = SCENARIOS["gas_spike"]
    p = s.build(168, seed=5)
    plain = Scenario("x", "", s.model, s.events[:1]).build(168, seed=5)
    ratio = p.gas_gwei / plain.gas_gwei
    assert np.allclose(ratio[MID : MID + 12], 100.0) and np.allclose(ratio[:MID], 1.0)
    assert 1.0 < ratio[MID + 12] < 100.0 and ratio[-1] < 1.01


def test_lp_bank_run__lp_stress_1_for_a_day_with_a_fall():
    p = SCENARIOS["lp_bank_run"].build(168, seed=6)
    assert np.all(p.lp_stress[MID : MID + 24] == 1.0) and np.all(p.lp_stress[:MID] == 0.0)
    assert p.spot[MID + 24] / p.spot[MID] == pytest.approx(0.85, rel=1e-12)


def test_vol_spike__iv_doubles__spot_has_no_drift():
    p = SCENARIOS["vol_spike"].build(500, seed=7)
    a = 200
    assert np.allclose(p.realised_vol[a : a + 48], 1.2)  # 0.6 x 2
    before, during = p.reference_iv[a - 48 : a].mean(), p.reference_iv[a + 6 : a + 48].mean()
    assert 1.6 < during / before < 2.5
    move_sd = 1.2 * math.sqrt(48 * HOUR / YEAR_SEC)
    assert abs(math.log(p.spot[a + 48] / p.spot[a])) < 4 * move_sd


def test_slow_bleed__minus_30pct_over_two_weeks_at_low_vol():
    p = SCENARIOS["slow_bleed"].build(400, seed=8)
    a = 20
    assert p.spot[a + 336] / p.spot[a] == pytest.approx(0.70, rel=1e-12)
    assert np.allclose(p.realised_vol[a : a + 336], 0.35)


def test_reference_vol__atm_at_short_tenor__skew_and_term_structure():
    p = SCENARIOS["crash"].build(168, seed=9)
    step = MID + 12
    assert p.reference_vol(step, 0.0, 1e-9) == pytest.approx(p.reference_iv[step])
    short, long_ = p.reference_vol(step, 0.0, [7 / 365, 2.0])
    assert short > long_ > p.surface.long_run_iv  # inverted after a crash
    put, atm, call = p.reference_surface(step)(np.array([-0.2, 0.0, 0.2]), 30 / 365)
    assert put > atm and put > call  # negative skew: puts richer


# --- replay ---


def test_replay_example__is_the_documented_synthetic_series():
    assert REPLAY_EXAMPLE.read_text() == synthetic_replay_csv(seed=7)


def test_replay__reproduces_the_csv_prices_and_iv_at_their_timestamps():
    ts, price, iv = read_replay_csv(REPLAY_EXAMPLE)
    p = replay_path(REPLAY_EXAMPLE)
    assert np.array_equal(p.timestamp, ts) and np.array_equal(p.spot, price)
    assert np.array_equal(p.reference_iv, iv) and p.oracle_live.all()
    two = replay_path(REPLAY_EXAMPLE, step_seconds=2 * HOUR, spot0=1_000.0)
    assert np.allclose(two.spot, price[::2] * 1_000.0 / price[0])


def test_replay__irregular_ticks__previous_tick_and_modelled_iv(write_file):
    path = write_file(
        "ticks.csv",
        """\
        timestamp,price
        0,100
        1000,101
        3500,102
        3700,103
        7300,104
        """,
    )
    p = replay_path(path)
    assert list(p.spot) == [100.0, 102.0, 103.0] and list(p.timestamp) == [0, 3600, 7200]
    assert np.all(p.reference_iv > 0)


def test_replay__past_the_end_of_the_file__raises_naming_steps():
    with pytest.raises(ValueError, match=r"steps = 241 outside allowed range \[1, 240\]"):
        replay_path(REPLAY_EXAMPLE, steps=241)


@pytest.mark.parametrize(
    "text, match",
    [
        ("timestamp,price,volume\n0,1,2\n1,1,2\n", r"unknown column 'volume'"),
        ("timestamp,iv\n0,0.5\n1,0.5\n", r"missing column 'price'"),
        ("timestamp,price\n0,100\n10,-3\n", r"line 3, column price: -3.0 outside .*\(0,"),
        ("timestamp,price\n0,100\n# gap\n0,101\n", r"line 4, column timestamp: 0 not after"),
        ("timestamp,price\n0,100\n1.5,101\n", r"line 3, column timestamp: '1.5'"),
        ("timestamp,price,iv\n0,100,0.5\n1,101,abc\n", r"line 3, column iv: 'abc'"),
        ("timestamp,price\n0,100\n", r"1 data rows"),
    ],
)
def test_replay__bad_csv__raises_naming_row_and_column(write_file, text, match):
    with pytest.raises(ValueError, match=match):
        replay_path(write_file("bad.csv", text))


# --- custom scenarios ---


def test_load_scenario__yaml__builds_the_described_market(write_file):
    write_file("prices.csv", synthetic_replay_csv(seed=3))
    path = write_file(
        "mine.yaml",
        """\
        description: replayed prices with an oracle outage
        model: {kind: replay, csv: prices.csv}
        events:
          - {kind: oracle_outage, start: 10, duration: 3h}
          - {kind: gas_spike, start: 0.5, duration: 2, size: 50, fade: 0}
        iv: {premium: 0.2}
        """,
    )
    s = load_scenario(path)
    assert s.name == "mine" and s.model.kind == "replay" and s.iv.premium == 0.2
    p = s.build(48)
    assert np.array_equal(np.flatnonzero(~p.oracle_live), [10, 11, 12])
    assert load_scenario("crash") is SCENARIOS["crash"]


def test_load_scenario__tail_model_with_overrides(write_file):
    path = write_file("j.yaml", "model: {kind: merton, lam: 40}\n")
    s = load_scenario(path)
    assert s.model.tail_model(HOUR / YEAR_SEC).lam == 40 and s.model.settings["sigma"] == 0.6


@pytest.mark.parametrize(
    "text, match",
    [
        ("colour: red\n", r"scenario.colour: unknown key; allowed: name"),
        ("model: {kind: heston}\n", r"model.kind = 'heston' unknown; allowed: gbm"),
        ("model: {kind: gbm, lam: 3}\n", r"model.lam: unknown parameter of gbm"),
        ("model: {kind: gbm, sigma: 9}\n", r"model.sigma = 9 outside allowed range"),
        ("model: {kind: garch, alpha: 0.99}\n", r"model.alpha = 0.99 outside allowed range"),
        ("events: [{kind: meteor, start: 1, duration: 2}]\n", r"events\[0\].kind = 'meteor'"),
        (
            "events: [{kind: crash, start: 1, duration: 2, size: 0.97}]\n",
            r"events\[0\].size = 0.97 outside allowed range \(0, 0.95\)",
        ),
        (
            "events: [{kind: crash, start: 1, duration: 2, size: 0}]\n",
            r"events\[0\].size = 0 outside allowed range \(0, 0.95\)",
        ),
        (
            "events: [{kind: crash, start: 1, duration: -3, size: 0.2}]\n",
            r"events\[0\].duration = -3 outside allowed range",
        ),
        (
            "events: [{kind: crash, start: -1, duration: 3, size: 0.2}]\n",
            r"events\[0\].start = -1 outside allowed range",
        ),
        (
            "events: [{kind: crash, start: 1.5, duration: 3, size: 0.2}]\n",
            r"events\[0\].start = 1.5 outside allowed range",
        ),
        (
            "events: [{kind: gas_spike, start: 1, duration: 3h, size: 0.5}]\n",
            r"events\[0\].size = 0.5 outside allowed range \(1, 10000\]",
        ),
        (
            "events: [{kind: oracle_outage, start: 1, duration: 3, size: 2}]\n",
            r"events\[0\].size: oracle_outage takes no size",
        ),
        (
            "events: [{kind: crash, start: 1, duration: 3, size: 0.2, sise: 1}]\n",
            r"events\[0\].sise: unknown key",
        ),
        ("events: [{kind: crash, start: 1, size: 0.2}]\n", r"events\[0\].duration: missing"),
        (
            "events: [{kind: crash, start: 1, duration: 3, size: 0.2, recovery: 2}]\n",
            r"events\[0\].recovery: only flash_crash",
        ),
        (
            "events: [{kind: crash, start: 1, duration: 3x, size: 0.2}]\n",
            r"events\[0\].duration = '3x' outside allowed range",
        ),
        ("iv: {premium: 9}\n", r"iv.premium = 9 outside allowed range"),
        ("iv: {smile: 1}\n", r"iv.smile: unknown key"),
        ("gas_gwei: -1\n", r"gas_gwei = -1 outside allowed range"),
        ("model: {kind: replay, csv: nowhere.csv}\n", r"model.csv = .*nowhere.csv.*no such file"),
    ],
)
def test_load_scenario__bad_yaml__raises_naming_the_field(write_file, text, match):
    with pytest.raises(ValueError, match=match):
        load_scenario(write_file("bad.yaml", text))


def test_load_scenario__unknown_name__raises_listing_names():
    with pytest.raises(ValueError, match=r"'armageddon': not a named scenario \(calm, crash"):
        load_scenario("armageddon")


def test_load_scenario__missing_yaml_file__says_no_such_file(tmp_path):
    with pytest.raises(ValueError, match=r"absent.yaml': no such file"):
        load_scenario(str(tmp_path / "absent.yaml"))


def test_build__event_by_step_past_the_end__raises_naming_the_field():
    s = Scenario("x", "", events=(Event("crash", 100, 24, 0.4),))
    with pytest.raises(ValueError, match=r"events\[0\].start = 100 is step 100, outside"):
        s.build(50)
    with pytest.raises(ValueError, match=r"events\[0\].duration = 24 ends at step 124"):
        s.build(120)
    assert s.build(124).spot[124] / s.build(124).spot[100] == pytest.approx(0.6)


def test_build__overlapping_spot_events__raises():
    s = Scenario("x", "", events=(Event("crash", 10, 5, 0.2), Event("slow_bleed", 12, 20, 0.1)))
    with pytest.raises(ValueError, match=r"events\[1\].start: the slow_bleed .* overlaps"):
        s.build(100)


@pytest.mark.parametrize("name, value", [("steps", 0), ("step_seconds", 0.5), ("vol0", -1.0)])
def test_build__bad_arguments__raise_naming_them(name, value):
    args = {"steps": 10, "step_seconds": HOUR, "vol0": None, name: value}
    with pytest.raises(ValueError, match=rf"{name} = "):
        SCENARIOS["calm"].build(**args)


# --- the tail models' vol ---


@pytest.mark.parametrize(
    "name, steps", [("gbm", 20_000), ("jump", 20_000), ("garch", 20_000), ("bates", 4_000)]
)
def test_tail_scenarios__returns_have_the_models_vol(name, steps):
    """Squared returns minus (or over) the model's variance of each return are martingale
    differences, so their mean is 0 (1) within its standard error even with stochastic vol
    and jumps."""
    dt = HOUR / YEAR_SEC
    p = SCENARIOS[name].build(steps, seed=13)
    r = p.log_returns()
    var = p.realised_vol[:-1] ** 2 * dt  # the model's variance of each return
    for excess in (r * r - var, r * r / var - 1.0):  # the second catches a misaligned GARCH h
        z = excess.mean() / (excess.std() / math.sqrt(steps))
        assert abs(z) < 4.0
    long_run = SCENARIOS[name].model.long_run_vol()
    assert abs(r.std() / math.sqrt(dt) / long_run - 1.0) < (0.03 if name == "gbm" else 0.35)


def test_gbm__vol0__rescales_the_path():
    p = SCENARIOS["gbm"].build(20_000, seed=2, vol0=0.4)
    assert r_vol(p) == pytest.approx(0.4, rel=0.03) and np.allclose(p.realised_vol, 0.4)


def r_vol(p) -> float:
    return float(p.log_returns().std() / math.sqrt(p.step_seconds / YEAR_SEC))


def test_model_spec__defaults_are_eth_like():
    for kind in ("gbm", "merton", "garch", "bates"):
        assert 0.5 < ModelSpec(kind).long_run_vol() < 1.0


def test_module_docstring__yaml_example__loads_and_builds(write_file):
    import sims.scenarios

    doc = sims.scenarios.__doc__
    example = doc[doc.index("field)::") + len("field)::") : doc.index("For ``kind: replay``")]
    s = load_scenario(write_file("doc.yaml", example))
    p = s.build(168)
    assert s.name == "my_crash" and p.spot[MID + 24] / p.spot[MID] == pytest.approx(0.5)
    assert np.array_equal(np.flatnonzero(~p.oracle_live), np.arange(MID, MID + 6))
