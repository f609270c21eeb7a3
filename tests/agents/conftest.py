"""Fixtures of the risk committee's tests (agents/committee.py, agents/governance.py)."""

from __future__ import annotations

import pytest
from committee_cases import (
    CALM_HOURS,
    CRASH_HOURS,
    FAST,
    NAV,
    RATE,
    T0,
    defaults,
    limits_of,
    price_history,
)

from agents.committee import CommitteeConfig, RiskCommittee
from risk.book import example_book
from risk.units import HOUR


@pytest.fixture(scope="module")
def crash_history():
    return price_history(T0 + (CALM_HOURS + CRASH_HOURS) * HOUR)


@pytest.fixture(scope="module")
def committee_book():
    return example_book(n_accounts=100, seed=1)


@pytest.fixture(scope="module")
def review_after_crash(crash_history, committee_book):
    """review_after_crash(current=None, rate=RateLimit(), last_update=None, **config)
    -> (committee, actions) for a review at the end of the crash."""

    def _review(current=None, rate=RATE, last_update=None, **config):
        committee = RiskCommittee(CommitteeConfig(**{**FAST, **config}))
        ts, spots, ivs = crash_history
        actions = committee.review(
            int(ts[-1]),
            ts,
            spots,
            ivs,
            committee_book,
            current or defaults(),
            limits_of(rate),
            last_update or {},
            NAV,
        )
        return committee, actions

    return _review
