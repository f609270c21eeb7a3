"""Guards that need their own deployment: a market without a pool, small OI caps;
and the reverts of the engine and of the local mocks."""

import ape
import pytest

from onchain.deployment import DeployConfig, deploy_protocol
from risk.params import Limits, MarginParams
from risk.units import USDC, WAD

MAX = 10**30


@pytest.fixture(scope="module")
def small_caps(project, accounts, protocol):
    """A second protocol whose pool may hold at most 10 contracts a series, 15 in all."""
    gov = accounts[0]
    cfg = DeployConfig.load("deployments/local.yaml")
    cfg = DeployConfig(**{**cfg.__dict__, "limits": Limits(series_oi_cap=10, total_oi_cap=15)})
    return deploy_protocol(project, gov, cfg)


@pytest.fixture(scope="module", autouse=True)
def _guards_setup_first(small_caps, gov, stranger, engine, token):
    """Build the module's fixtures before the first test (ape's isolation needs it)."""


def test_trade__total_open_interest_cap__reverts(small_caps, accounts):
    d, lp, trader = small_caps, accounts[1], accounts[6]
    d.token.mint(lp, 1_000_000 * USDC, sender=lp)
    d.token.approve(d.pool, 2**256 - 1, sender=lp)
    d.pool.deposit(1_000_000 * USDC, sender=lp)
    d.token.mint(trader, 500_000 * USDC, sender=trader)
    d.token.approve(d.market, 2**256 - 1, sender=trader)
    d.market.deposit(500_000 * USDC, sender=trader)
    a, b = d.series_ids[0], d.series_ids[1]
    d.market.trade(a, 10 * WAD, MAX, sender=trader)
    with ape.reverts("market: series open interest cap"):
        d.market.trade(a, WAD, MAX, sender=trader)
    d.market.trade(b, 5 * WAD, MAX, sender=trader)
    with ape.reverts("market: total open interest cap"):
        d.market.trade(b, WAD, MAX, sender=trader)
    # reducing the pool's exposure is always allowed
    d.market.trade(b, -WAD, 0, sender=trader)
    assert d.market.pool_position(b) == -4 * WAD


def test_trade__market_without_pool__reverts(project, gov, protocol, stranger):
    bare = gov.deploy(
        project.OptionMarket, protocol.token, protocol.oracle, protocol.engine, protocol.config
    )
    with ape.reverts("market: no pool"):
        bare.trade(0, WAD, MAX, sender=stranger)


def test_portfolio_margin__zero_spot__reverts(engine):
    with ape.reverts("engine: spot is zero"):
        engine.portfolio_margin(0, [], MarginParams().to_chain())


@pytest.mark.parametrize("steps", [0, 7])
def test_portfolio_margin__spot_steps_out_of_range__reverts(engine, steps):
    params = list(MarginParams().to_chain())
    params[1] = steps
    with ape.reverts("engine: spot_steps outside [1, 6]"):
        engine.portfolio_margin(2_000 * WAD, [], tuple(params))


def test_usdc_mock__transfer_above_balance__reverts(token, stranger, gov):
    with ape.reverts("usdc: balance below amount"):
        token.transfer(gov, 1, sender=stranger)


def test_aggregator_mock__not_owner__reverts(project, gov, stranger):
    feed = gov.deploy(project.aggregator_mock, 8)
    with ape.reverts("aggregator: not owner"):
        feed.set_answer(1, 1, sender=stranger)
