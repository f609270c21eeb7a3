"""risk.param_guard: the contracts' bounds, rate limits and grace period, mirrored once.

The contract side (contracts/modules/param_guard.vy through its mock) is tested in
tests/contracts/param_guard/, including agreement with these functions.
"""

from dataclasses import replace

import numpy as np
import pytest

from risk.param_guard import (
    allowed_change,
    check_bounds,
    check_rate_limit,
    round_towards,
    step_towards,
    too_recent,
    updates_needed,
)
from risk.params import Limits, LiquidationParams, MarginParams, PoolParams, RateLimit
from risk.units import DAY, WAD

MARGIN = MarginParams().to_chain()
NEVER = (0,) * len(MARGIN)
IM_FACTOR = 8  # index of margin.im_factor


def _raw(params) -> tuple[int, ...]:
    """A struct in chain units without validation (to build out-of-bounds proposals)."""
    return tuple(f.to_chain(getattr(params, f.name)) for f in params.FIELDS)


def _margin(**changes) -> tuple[int, ...]:
    return _raw(replace(MarginParams(), **changes))


# --- a whole struct, with reasons ---


def test_check_rate_limit__change_within_limit__allowed():
    new = _margin(im_factor=1.6)  # 1.3 * 1.25 = 1.625
    assert check_rate_limit("margin", MARGIN, new, WAD // 4, DAY, NEVER, 10**9) == []


def test_check_rate_limit__too_large_change__names_field_and_allowed_range():
    (refusal,) = check_rate_limit(
        "margin", MARGIN, _margin(im_factor=2.0), WAD // 4, DAY, NEVER, 10**9
    )
    assert refusal.field == "margin.im_factor"
    assert "1.3 -> 2" in refusal.message
    assert "at most 0.325 per change" in refusal.message
    assert "between 1 and 1.625" in refusal.message


def test_check_rate_limit__changed_too_recently__says_when_allowed():
    last = list(NEVER)
    last[IM_FACTOR] = 1_000_000
    new = _margin(im_factor=1.4)
    (refusal,) = check_rate_limit("margin", MARGIN, new, WAD // 4, DAY, last, 1_000_000 + 3_600)
    assert refusal.field == "margin.im_factor"
    assert "changed too recently" in refusal.message
    assert f"{DAY - 3_600} s after" in refusal.message
    # at exactly last + min_interval the guard lets it through
    assert check_rate_limit("margin", MARGIN, new, WAD // 4, DAY, last, 1_000_000 + DAY) == []


def test_check_rate_limit__spot_steps__bounded_but_not_rate_limited():
    assert (
        check_rate_limit("margin", MARGIN, _margin(spot_steps=6), WAD // 4, DAY, NEVER, 10**9) == []
    )
    assert check_bounds("margin", _margin(spot_steps=7))[0].field == "margin.spot_steps"


def test_check_rate_limit__zero_value__scaled_by_upper_bound():
    pool = _raw(replace(PoolParams(), spread_base=0.0))
    ok = _raw(replace(PoolParams(), spread_base=0.125))  # 25% of the bound 0.5
    too_far = _raw(replace(PoolParams(), spread_base=0.13))
    assert check_rate_limit("pool", pool, ok, WAD // 4, DAY, (0,) * 7, 10**9) == []
    assert check_rate_limit("pool", pool, too_far, WAD // 4, DAY, (0,) * 7, 10**9)


def test_check_bounds__out_of_range_and_relations__name_the_field():
    (refusal,) = check_bounds("margin", _margin(im_factor=5))
    assert refusal.message == "margin.im_factor = 5 outside allowed range [1.0, 3.0]"
    liq = _raw(LiquidationParams(max_discount=0.01))  # below start_discount 0.02
    assert "max_discount" in check_bounds("liquidation", liq)[0].message


# --- one field ---


def test_allowed_change__relative_to_value_or_upper_bound():
    f = MarginParams.FIELDS[IM_FACTOR]
    assert allowed_change(f, 13 * 10**17, WAD // 4) == 325 * 10**15
    assert allowed_change(f, 0, WAD // 4) == f.hi // 4


def test_too_recent__never_changed_or_interval_passed__false():
    assert not too_recent(0, DAY, 5)
    assert too_recent(100, DAY, 100 + DAY - 1)
    assert not too_recent(100, DAY, 100 + DAY)


def test_round_towards__fifteen_digits_never_past_the_target():
    assert round_towards(10**20, 123_456_789_012_345_678_901) == 123_456_789_012_345 * 10**6
    assert round_towards(2 * 10**20, 123_456_789_012_345_678_901) == 123_456_789_012_346 * 10**6
    assert round_towards(5, 7) == 7


def test_updates_needed__counts_the_chain_steps():
    f = MarginParams.FIELDS[IM_FACTOR]
    assert updates_needed("margin", f, 13 * 10**17, 13 * 10**17, WAD // 4) == 0
    assert updates_needed("margin", f, 13 * 10**17, 16 * 10**17, WAD // 4) == 1  # to 1.625
    assert updates_needed("margin", f, 10**18, 2 * 10**18, WAD // 4) == 4  # 1.25, 1.5625, 1.95
    assert updates_needed("margin", f, 10**18, 2 * 10**18, 0) == float("inf")


def test_updates_needed__bounds_only_field__one_update_whatever_the_step():
    spot_steps = MarginParams.FIELDS[1]
    assert updates_needed("margin", spot_steps, 3, 6, WAD // 4) == 1
    assert updates_needed("margin", spot_steps, 3, 3, 0) == 0


def test_updates_needed__from_zero__steps_of_the_upper_bound_share():
    spread_base = PoolParams.FIELDS[0]  # upper bound 0.5: a first step of 0.125 from 0
    # 0 -> 0.125 -> 0.15625 -> 0.1953125 -> 0.244140625 -> 0.25
    assert updates_needed("pool", spread_base, 0, 25 * 10**16, WAD // 4) == 5


# --- step_towards ---


def test_step_towards__moves_at_most_the_rate_limit():
    limit = RateLimit(max_rel_change=0.25, min_interval=DAY)
    current = MarginParams()
    target = replace(current, spot_shock=0.5, im_factor=1.35, vol_shock_down=0.0)
    step = step_towards(current, target, limit)
    assert step.spot_shock == pytest.approx(0.15 * 1.25)
    assert step.im_factor == pytest.approx(1.35)  # within the limit: reached
    assert step.vol_shock_down == pytest.approx(0.3 * 0.75)
    again = step
    for _ in range(20):
        again = step_towards(again, target, limit)
    assert again.spot_shock == pytest.approx(0.5)


def test_step_towards__from_zero__scales_with_the_upper_bound():
    limit = RateLimit(max_rel_change=0.1, min_interval=DAY)
    step = step_towards(Limits(0.0, 0.0), Limits(5e11, 10.0), limit)
    assert step.series_oi_cap == pytest.approx(1e11)  # 10% of the 1e12 bound
    assert step.total_oi_cap == pytest.approx(10.0)


def test_step_towards__many_digit_values__exactly_what_the_chain_allows():
    """param_guard's integer check on every field, for values with more digits than a
    float holds (OI caps after a few rate-limited steps)."""
    g = np.random.default_rng(3)
    limit = RateLimit(max_rel_change=0.07, min_interval=DAY)
    rel = limit.to_chain()[0]
    for _ in range(500):
        current = Limits(float(g.uniform(1, 1e6)), float(g.uniform(1, 1e9)))
        target = Limits(float(g.uniform(1, 1e7)), float(g.uniform(1, 1e10)))
        step = step_towards(current, target, limit)
        assert (
            check_rate_limit("limits", current.to_chain(), step.to_chain(), rel, DAY, (0, 0), 1)
            == []
        )
        for f, new in zip(Limits.FIELDS, step.to_chain(), strict=True):
            assert f.to_chain(f.to_human(new)) == new


def test_step_towards__to_zero__one_step_from_within_the_upper_bound_share():
    """Audit finding 11: a field that left 0 could never return to it under a rate limit
    below 100%. A move to 0 is now measured against the upper bound, as a move from 0:
    short_min 0.01 (bound 0.5, 25% of it = 0.125) reaches 0 at once; vol_shock_up 2.0
    (bound 3, 25% = 0.75) steps down first, then reaches 0."""
    limit = RateLimit(max_rel_change=0.25, min_interval=DAY)
    rel = limit.to_chain()[0]
    current = MarginParams(short_min=0.01, vol_shock_up=2.0)
    target = replace(current, short_min=0.0, vol_shock_up=0.0)
    step = step_towards(current, target, limit)
    assert step.short_min == 0.0
    assert step.vol_shock_up == pytest.approx(1.5)
    assert (
        check_rate_limit("margin", current.to_chain(), step.to_chain(), rel, DAY, [0] * 9, 1) == []
    )
    # straight to 0 from 2.0 is refused, naming the basis
    jump = replace(current, vol_shock_up=0.0).to_chain()
    (refusal,) = check_rate_limit("margin", current.to_chain(), jump, rel, DAY, [0] * 9, 1)
    assert "of the upper bound (from or to 0)" in refusal.message
    vol_up = MarginParams.FIELDS[2]
    # 2.0 -> 1.5 -> 1.125 -> 0.84375 -> 0.6328125 -> 0
    assert updates_needed("margin", vol_up, 2 * WAD, 0, rel) == 5
