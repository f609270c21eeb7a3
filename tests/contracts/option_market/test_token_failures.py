"""A collateral token answering False instead of reverting: nothing moves or is credited."""

import ape
import pytest

from risk.units import USDC


@pytest.fixture(scope="module")
def bad(project, gov, protocol):
    """A market and pool on a token that can be told to answer False."""
    token = gov.deploy(project.false_token_mock)
    market = gov.deploy(
        project.OptionMarket, token, protocol.oracle, protocol.engine, protocol.config
    )
    pool = gov.deploy(project.LiquidityPool, token, market)
    market.set_role("pool", pool, sender=gov)
    return token, market, pool


@pytest.fixture(scope="module", autouse=True)
def _token_failures_setup_first(bad, gov, writer, lp):
    """Build the module's fixtures before the first test (ape's isolation needs it)."""


def test_deposit__token_answers_false__reverts_and_credits_nothing(bad, writer):
    token, market, _ = bad
    token.mint(writer, 10 * USDC, sender=writer)
    token.approve(market, 10 * USDC, sender=writer)
    token.set_failing(True, sender=writer)
    with ape.reverts("market: transfer failed"):
        market.deposit(10 * USDC, sender=writer)
    assert market.cash(writer) == 0


def test_withdraw__token_answers_false__reverts_and_keeps_cash(bad, writer):
    token, market, _ = bad
    token.mint(writer, 10 * USDC, sender=writer)
    token.approve(market, 10 * USDC, sender=writer)
    market.deposit(10 * USDC, sender=writer)
    token.set_failing(True, sender=writer)
    with ape.reverts("market: transfer failed"):
        market.withdraw(10 * USDC, sender=writer)
    assert market.cash(writer) == 10 * USDC


def test_pool_deposit__token_answers_false__reverts_and_mints_nothing(bad, lp):
    token, _, pool = bad
    token.mint(lp, 10 * USDC, sender=lp)
    token.approve(pool, 10 * USDC, sender=lp)
    token.set_failing(True, sender=lp)
    with ape.reverts("pool: transfer failed"):
        pool.deposit(10 * USDC, sender=lp)
    assert pool.totalSupply() == 0


def test_pool_deploy__approve_answers_false__reverts(project, gov, bad):
    token, market, _ = bad
    token.set_failing(True, sender=gov)
    with ape.reverts("pool: approve failed"):
        gov.deploy(project.LiquidityPool, token, market)
