"""Deposits, withdrawals, insurance, fees and roles of OptionMarket."""

import ape
import pytest
from support import ZERO

from risk.units import USDC, WAD


def test_deposit__credits_account_and_moves_tokens(market, token, writer, fund):
    amount = fund(writer, 1_000, deposit=False)
    tx = market.deposit(amount, sender=writer)
    assert market.cash(writer) == amount
    assert token.balanceOf(market) == amount
    assert token.balanceOf(writer) == 0
    ev = tx.decode_logs(market.Deposit)[0]
    assert (ev.account, ev.sender, ev.amount) == (writer.address, writer.address, amount)


def test_deposit__for_another_account(market, writer, buyer, fund):
    amount = fund(writer, 10, deposit=False)
    market.deposit(amount, buyer, sender=writer)
    assert market.cash(buyer) == amount
    assert market.cash(writer) == 0


def test_deposit__zero_amount__reverts(market, writer):
    with ape.reverts("market: zero amount"):
        market.deposit(0, sender=writer)


def test_deposit__zero_account__reverts(market, writer, fund):
    amount = fund(writer, 1, deposit=False)
    with ape.reverts("market: zero address"):
        market.deposit(amount, "0x0000000000000000000000000000000000000000", sender=writer)


def test_deposit__without_allowance__reverts_and_changes_nothing(market, token, stranger):
    token.mint(stranger, USDC, sender=stranger)
    with ape.reverts("usdc: allowance below amount"):
        market.deposit(USDC, sender=stranger)
    assert market.cash(stranger) == 0


def test_deposit__while_paused__works(market, gov, writer, fund):
    market.set_paused(True, sender=gov)
    fund(writer, 5)
    assert market.cash(writer) == 5 * USDC


def test_withdraw__without_positions(market, token, writer, fund):
    fund(writer, 100)
    tx = market.withdraw(40 * USDC, sender=writer)
    assert market.cash(writer) == 60 * USDC
    assert token.balanceOf(writer) == 40 * USDC
    assert tx.decode_logs(market.Withdraw)[0].amount == 40 * USDC


def test_withdraw__paused_without_positions__works(market, gov, writer, fund):
    fund(writer, 100)
    market.set_paused(True, sender=gov)
    market.withdraw(100 * USDC, sender=writer)
    assert market.cash(writer) == 0


def test_withdraw__above_cash__reverts(market, writer, fund):
    fund(writer, 100)
    with ape.reverts("market: amount above cash"):
        market.withdraw(100 * USDC + 1, sender=writer)


def test_withdraw__zero__reverts(market, writer):
    with ape.reverts("market: zero amount"):
        market.withdraw(0, sender=writer)


def test_withdraw__below_initial_margin__reverts(market, writer, fund, seed_pool, find_series):
    seed_pool(1_000_000)
    fund(writer, 3_000)
    market.trade(find_series(2200, 30, True), -5 * WAD, 0, sender=writer)
    equity, mm, im = market.account_margin(writer)
    free = (equity - im) // 10**12
    with ape.reverts("market: below initial margin"):
        market.withdraw(free + 10 * USDC, sender=writer)
    market.withdraw(free - USDC, sender=writer)
    equity2, _, im2 = market.account_margin(writer)
    assert equity2 >= im2


def test_withdraw__paused_with_positions__reverts(
    market, gov, writer, fund, seed_pool, find_series
):
    seed_pool(1_000_000)
    fund(writer, 10_000)
    market.trade(find_series(2200, 30, True), -1 * WAD, 0, sender=writer)
    market.set_paused(True, sender=gov)
    with ape.reverts("market: paused"):
        market.withdraw(USDC, sender=writer)


def test_fund_insurance__adds_to_fund(market, token, stranger, fund):
    fund(stranger, 50, deposit=False)
    tx = market.fund_insurance(50 * USDC, sender=stranger)
    assert market.insurance() == 50 * USDC
    assert token.balanceOf(market) == 50 * USDC
    assert tx.decode_logs(market.InsuranceFunded)[0].amount == 50 * USDC


def test_fund_insurance__zero__reverts(market, stranger):
    with ape.reverts("market: zero amount"):
        market.fund_insurance(0, sender=stranger)


def test_collect_fees__pays_recipient(market, token, gov, writer, fund, seed_pool, find_series):
    seed_pool(1_000_000)
    fund(writer, 10_000)
    tx = market.trade(find_series(2000, 30, True), WAD, 10**30, sender=writer)
    fee = tx.decode_logs(market.Trade)[0].fee
    assert fee > 0
    owed = market.fees()
    assert owed == fee - fee // 2  # insurance_share = 50%
    before = token.balanceOf(gov)
    market.collect_fees(sender=gov)
    assert token.balanceOf(gov) - before == owed
    assert market.fees() == 0
    with ape.reverts("market: no fees"):
        market.collect_fees(sender=gov)


def test_collect_fees__not_recipient__reverts(market, stranger):
    with ape.reverts("market: not fee recipient"):
        market.collect_fees(sender=stranger)


@pytest.mark.parametrize("role", ["guardian", "series_creator", "fee_recipient"])
def test_set_role__admin_sets_each_role(market, gov, stranger, role):
    tx = market.set_role(role, stranger, sender=gov)
    assert getattr(market, role)() == stranger.address
    ev = tx.decode_logs(market.RoleSet)[0]
    assert (ev.role, ev.account) == (role, stranger.address)


def test_set_role__admin__moves_in_two_steps(market, gov, keeper, stranger):
    """Audit finding 2 (info): the admin was replaced in one step, so a mistyped address
    lost the contract. Now the nominee must accept; until then the old admin rules."""
    tx = market.set_role("admin", keeper, sender=gov)
    assert (market.admin(), market.pending_admin()) == (gov.address, keeper.address)
    assert [(e.role, e.account) for e in tx.decode_logs(market.RoleSet)] == [
        ("admin", keeper.address)
    ]
    with ape.reverts("roles: not pending admin"):
        market.accept_admin(sender=stranger)
    market.set_role("fee_recipient", stranger, sender=gov)  # gov is still admin
    tx = market.accept_admin(sender=keeper)
    assert (market.admin(), market.pending_admin()) == (keeper.address, ZERO)
    assert [(e.role, e.account) for e in tx.decode_logs(market.RoleSet)] == [
        ("admin", keeper.address)
    ]
    with ape.reverts("market: not admin"):
        market.set_role("fee_recipient", gov, sender=gov)
    with ape.reverts("roles: not pending admin"):  # no second acceptance
        market.accept_admin(sender=keeper)


def test_set_role__unknown__reverts(market, gov, stranger):
    with ape.reverts("market: unknown role"):
        market.set_role("king", stranger, sender=gov)


def test_set_role__not_admin__reverts(market, stranger):
    with ape.reverts("market: not admin"):
        market.set_role("guardian", stranger, sender=stranger)


def test_set_role__zero_address__reverts(market, gov):
    with ape.reverts("market: zero address"):
        market.set_role("guardian", "0x0000000000000000000000000000000000000000", sender=gov)


def test_set_role__pool__only_once(market, gov, pool, stranger):
    assert market.pool() == pool.address
    with ape.reverts("market: pool already set"):
        market.set_role("pool", stranger, sender=gov)


def test_set_role__pool__not_admin__reverts(market, stranger):
    with ape.reverts("market: not admin"):
        market.set_role("pool", stranger, sender=stranger)


def test_set_paused__guardian_pauses_admin_unpauses(market, gov, stranger):
    market.set_role("guardian", stranger, sender=gov)
    tx = market.set_paused(True, sender=stranger)
    assert market.paused()
    ev = tx.decode_logs(market.Paused)[0]
    assert ev.paused and ev.by == stranger.address
    with ape.reverts("market: not admin or guardian"):
        market.set_paused(False, sender=stranger)
    market.set_paused(False, sender=gov)
    assert not market.paused()


def test_set_paused__stranger__reverts(market, stranger):
    with ape.reverts("market: not admin or guardian"):
        market.set_paused(True, sender=stranger)


def test_cover_bad_debt__no_debt__reverts(market, writer):
    with ape.reverts("market: no bad debt"):
        market.cover_bad_debt(writer, sender=writer)


def test_cover_bad_debt__pool__reverts(market, pool, writer):
    with ape.reverts("market: pool cannot be covered"):
        market.cover_bad_debt(pool, sender=writer)
