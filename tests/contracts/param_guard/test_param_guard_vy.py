"""contracts/modules/param_guard.vy through its mock, tested once here (its owners,
RiskConfig and Oracle, test only which fields they guard and how).

The last test draws changes at random and checks that the contract accepts exactly the
ones risk.param_guard (the Python mirror the risk committee and `ape run params` use)
says it will.
"""

from __future__ import annotations

import ape
import pytest
from ape.exceptions import ContractLogicError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from risk.param_guard import allowed_change, too_recent
from risk.params import Field
from risk.units import DAY, WAD

GROUP = 7
LO, HI = 10**16, 3 * WAD


@pytest.fixture(scope="module")
def guard(project, gov):
    mock = gov.deploy(project.param_guard_mock)
    mock.set_rate_limit(GROUP, (WAD // 4, DAY), sender=gov)
    return mock


# --- bounds ---


def test_check_bounds__outside__reverts_naming_field_and_range(guard):
    guard.check_bounds(LO, LO, HI)
    guard.check_bounds(HI, LO, HI)
    with ape.reverts(f"mock: x outside [{LO}, {HI}]"):
        guard.check_bounds(LO - 1, LO, HI)
    with ape.reverts(f"mock: x outside [{LO}, {HI}]"):
        guard.check_bounds(HI + 1, LO, HI)


def test_check_field__outside_bounds__reverts_even_unchanged_or_unlimited(guard, gov):
    with ape.reverts(f"mock: x outside [{LO}, {HI}]"):
        guard.check_field(GROUP, 0, HI + 1, HI + 1, LO, HI, True, sender=gov)
    with ape.reverts(f"mock: x outside [{LO}, {HI}]"):
        guard.check_field(GROUP, 0, WAD, HI + 1, LO, HI, False, sender=gov)


# --- the relative limit ---


def test_check_field__at_the_limit__accepted_and_clock_stamped(guard, gov, chain):
    tx = guard.check_field(GROUP, 2, WAD, WAD + WAD // 4, LO, HI, True, sender=gov)
    assert guard.last_update(GROUP, 2) == tx.timestamp
    assert guard.last_update(GROUP, 3) == 0


def test_check_field__one_above_the_limit__reverts_with_change_and_allowance(guard, gov):
    allowed = WAD // 4
    with ape.reverts(f"mock: x change {allowed + 1} above rate limit {allowed}"):
        guard.check_field(GROUP, 2, WAD, WAD - allowed - 1, LO, HI, True, sender=gov)
    assert guard.last_update(GROUP, 2) == 0


def test_check_field__old_value_zero__limited_to_share_of_upper_bound(guard, gov):
    allowed = HI // 4
    with ape.reverts(f"mock: x change {allowed + 1} above rate limit {allowed}"):
        guard.check_field(GROUP, 0, 0, allowed + 1, 0, HI, True, sender=gov)
    guard.check_field(GROUP, 0, 0, allowed, 0, HI, True, sender=gov)


def test_check_field__not_limited__any_step_within_bounds_and_no_clock(guard, gov):
    guard.check_field(GROUP, 1, LO, HI, LO, HI, False, sender=gov)
    assert guard.last_update(GROUP, 1) == 0


def test_check_field__unchanged__passes_without_stamping_the_clock(guard, gov):
    guard.check_field(GROUP, 1, WAD, WAD, LO, HI, True, sender=gov)
    assert guard.last_update(GROUP, 1) == 0


# --- the clock ---


def test_check_field__same_field_too_soon__reverts_until_the_interval_passed(guard, gov, chain):
    chain.pending_timestamp = t = chain.pending_timestamp + 10
    guard.check_field(GROUP, 4, WAD, WAD + 1, LO, HI, True, sender=gov)
    chain.pending_timestamp = t + 1_000
    with ape.reverts(f"mock: x changed too recently, wait {DAY - 1_000} s"):
        guard.check_field(GROUP, 4, WAD + 1, WAD + 2, LO, HI, True, sender=gov)
    guard.check_field(GROUP, 5, WAD, WAD + 1, LO, HI, True, sender=gov)  # another field: free
    chain.pending_timestamp = t + DAY
    guard.check_field(GROUP, 4, WAD + 1, WAD + 2, LO, HI, True, sender=gov)
    assert guard.last_update(GROUP, 4) == t + DAY


# --- the limits themselves ---


def test_set_rate_limit__stores_and_logs_old_and_new(guard, gov):
    tx = guard.set_rate_limit(GROUP, (WAD // 10, 2 * DAY), sender=gov)
    limit = guard.rate_limit(GROUP)
    assert (limit.max_rel_change, limit.min_interval) == (WAD // 10, 2 * DAY)
    (ev,) = tx.decode_logs(guard.RateLimitSet)
    assert (ev.group, ev.old_max_rel_change, ev.new_max_rel_change) == (GROUP, WAD // 4, WAD // 10)
    assert (ev.old_min_interval, ev.new_min_interval) == (DAY, 2 * DAY)


@pytest.mark.parametrize(
    ("limit", "message"),
    [
        ((WAD // 2 + 1, DAY), "params: max_rel_change outside [0, 5e17]"),
        ((WAD // 2, 3_599), "params: min_interval outside [3600, 31536000]"),
        ((WAD // 2, 365 * DAY + 1), "params: min_interval outside [3600, 31536000]"),
    ],
    ids=["max-rel-change", "min-interval-low", "min-interval-high"],
)
def test_set_rate_limit__outside_bounds__reverts_and_keeps_the_limit(guard, gov, limit, message):
    with ape.reverts(message):
        guard.set_rate_limit(GROUP, limit, sender=gov)
    assert guard.rate_limit(GROUP).max_rel_change == WAD // 4


# --- the Python mirror agrees with the contract ---


@st.composite
def changes(draw):
    """A change near the edges the guard decides on: the rate limit's allowance (+-2 wei
    around it), the bounds, a zero value, and the clock's interval (+-1 s around it)."""
    rel = draw(st.sampled_from([0, WAD // 100, WAD // 4, WAD // 3, WAD // 2]))
    interval = draw(st.sampled_from([3_600, DAY]))
    old = draw(st.one_of(st.just(0), st.just(HI), st.integers(0, HI)))
    allowed = allowed_change(FIELD, old, rel)
    step = draw(st.one_of(st.integers(allowed - 2, allowed + 2), st.integers(0, 2 * WAD)))
    new = max(0, old + step if draw(st.booleans()) else old - step)  # up to 2 wei above HI
    if draw(st.integers(0, 5)) == 0:  # a move to 0 (allowed from old <= rel x HI)
        new = 0
    since = draw(st.one_of(st.none(), st.integers(interval - 1, interval + 1), st.integers(1, DAY)))
    limited = draw(st.booleans())
    return old, new, rel, interval, since if since is None else max(1, since), limited


FIELD = Field("x", WAD, 0, HI)  # a lower bound of 0: zero values and small steps in bounds


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(change=changes())
def test_mirror__accepts_exactly_what_the_contract_accepts(guard, gov, chain, change):
    old, new, rel, interval, since, limited = change
    group = 11
    snap = chain.snapshot()
    try:
        guard.set_rate_limit(group, (rel, interval), sender=gov)
        last = 0
        if since is not None and rel > 0:  # the field last changed `since` seconds ago
            mid = (LO + HI) // 2
            last = guard.check_field(group, 0, mid, mid + 1, 0, HI, True, sender=gov).timestamp
            chain.pending_timestamp = last + since
        at = chain.pending_timestamp
        step_ok = (
            new == old
            or not limited
            or (
                not too_recent(last, interval, at)
                and abs(new - old) <= allowed_change(FIELD, old, rel, new)
            )
        )
        expected = new <= HI and step_ok
        try:
            guard.check_field(group, 0, old, new, 0, HI, limited, sender=gov)
            accepted = True
        except ContractLogicError:
            accepted = False
        assert accepted == expected, (old, new, rel, interval, last, at, limited)
    finally:
        chain.restore(snap)
