"""agents/decisions.py: the liquidation fraction and reward keepers expect, as the
market computes them (tests/contracts/option_market/test_liquidation.py checks them
against the chain)."""

from __future__ import annotations

import pytest

from agents.decisions import liquidation_fraction, liquidation_profit, liquidation_reward


def test_fraction_restores_the_target_and_is_whole_in_bad_debt():
    # E 500, MM 1,000, k 1.3, b 10%, d 2%: f = (1.43 x 1000 - 500) / ((1.43 - 0.02) x 1000)
    f = liquidation_fraction(500.0, 1_000.0, 0.02, 1.3, 0.1)
    assert f == pytest.approx(930 / 1_410)
    assert liquidation_fraction(-5.0, 1_000.0, 0.02, 1.3, 0.1) == 1.0
    assert liquidation_fraction(5.0, 0.0, 0.02, 1.3, 0.1) == 0.0


@pytest.mark.parametrize(
    ("equity", "expected"),
    [
        (500.0, 150.0),  # f d MM = 150 < E: the full reward
        (100.0, 100.0),  # 0 < E < f d MM: capped at E, the account ends at zero
        (-50.0, 150.0),  # already in bad debt: the reward is what makes it worth taking
    ],
)
def test_reward_is_f_d_mm_capped_at_a_positive_equity(equity, expected):
    assert liquidation_reward(equity, 1_000.0, 0.15, 1.0) == pytest.approx(expected)


def test_reward_of_a_partial_take_is_capped_at_its_share_of_equity():
    """Taking half of an account with E 100 and d MM 150: the reward is half of E (50),
    not E, so the half left keeps its half of the equity (a review found that capping at
    E let a partial take strip the rest, whose next liquidation made bad debt)."""
    assert liquidation_reward(100.0, 1_000.0, 0.15, 0.5) == pytest.approx(50.0)
    assert liquidation_reward(500.0, 1_000.0, 0.15, 0.5) == pytest.approx(75.0)  # f d MM


def test_profit_uses_the_capped_reward():
    # E 100, MM 1,000, d 15%: f = 1 (1.43 x 1000 - 100 > 1.28 x 1000), reward 100, not 150
    profit = liquidation_profit(100.0, 1_000.0, 0.15, 1.3, 0.1, 0.0, 0.0, 0.0)
    assert profit == pytest.approx(100.0)
