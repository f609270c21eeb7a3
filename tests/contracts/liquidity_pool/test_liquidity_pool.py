"""LiquidityPool: share math, previews, ERC20 shares, redemptions against the pool's margin.

Three states, one class each, on the deployed protocol:
- TestEmptyPool: nobody has deposited;
- TestSeededPool: the LP has deposited 100,000 USDC and the pool holds no positions;
- TestPoolWithBook: as seeded, then the buyer has bought 10 ATM 30-day calls from the pool.
Share price: shares = assets * (supply + 1e12) // (totalAssets + 1),
             assets = shares * (totalAssets + 1) // (supply + 1e12).
Options decay between blocks, so with a book the exact checks rebuild the pre-trade
totals from the totals read in the same block as the transaction.
"""

import ape
import pytest

from risk.units import USDC, WAD

OFFSET = 10**12
MAX = 2**256 - 1
ZERO = "0x0000000000000000000000000000000000000000"
SEED = 100_000 * USDC
SEED_SHARES = SEED * OFFSET


def fields(log, *names) -> tuple:
    return tuple(log.event_arguments[n] for n in names)


def pool_logs(tx, pool, event: str) -> list:
    """The pool's own logs (the token emits Transfer events with the same signature)."""
    return [e for e in tx.decode_logs(getattr(pool, event)) if e.contract_address == pool.address]


@pytest.fixture(scope="module", autouse=True)
def _pool_setup_first(
    gov,
    lp,
    writer,
    buyer,
    keeper,
    stranger,
    pool,
    market,
    token,
    push,
    fund,
    seed_pool,
    find_series,
):
    """Build session fixtures before the first test (ape's isolation) and refresh prices."""
    push(2_000)


@pytest.fixture(scope="class")
def seeded(seed_pool):
    return seed_pool(100_000)


@pytest.fixture(scope="class")
def pool_book(seeded, market, buyer, fund, find_series):
    """The buyer holds 10 ATM 30-day calls bought from the pool."""
    fund(buyer, 50_000)
    series = find_series(2_000, 30, True)
    market.trade(series, 10 * WAD, MAX, sender=buyer)
    return series


def mint_and_approve(token, pool, account, usdc: int) -> int:
    amount = usdc * USDC
    token.mint(account, amount, sender=account)
    token.approve(pool, MAX, sender=account)
    return amount


class TestEmptyPool:
    def test_metadata(self, pool, token, market):
        assert (pool.name(), pool.symbol(), pool.decimals()) == ("optsim LP share", "osLP", 18)
        assert (pool.asset(), pool.market()) == (token.address, market.address)
        assert (pool.totalSupply(), pool.totalAssets()) == (0, 0)

    def test_previews__empty_pool__one_unit_is_1e12_shares(self, pool):
        assert pool.previewDeposit(USDC) == pool.convertToShares(USDC) == USDC * OFFSET
        assert pool.previewRedeem(WAD) == pool.convertToAssets(WAD) == USDC

    def test_deposit__first__mints_assets_times_1e12(self, pool, market, token, lp):
        amount = mint_and_approve(token, pool, lp, 100_000)
        tx = pool.deposit(amount, sender=lp)
        assert pool.balanceOf(lp) == pool.totalSupply() == SEED_SHARES
        assert pool.totalAssets() == amount
        assert market.cash(pool) == amount
        assert (token.balanceOf(lp), token.balanceOf(pool)) == (0, 0)  # the market holds it
        transfers = pool_logs(tx, pool, "Transfer")
        assert [fields(e, "sender", "receiver", "value") for e in transfers] == [
            (ZERO, lp.address, SEED_SHARES)
        ]
        deposits = pool_logs(tx, pool, "Deposit")
        assert [fields(e, "sender", "owner", "assets", "shares") for e in deposits] == [
            (lp.address, lp.address, amount, SEED_SHARES)
        ]

    def test_deposit__for_receiver__mints_to_receiver(self, pool, token, lp, writer):
        amount = mint_and_approve(token, pool, lp, 10)
        tx = pool.deposit(amount, writer, sender=lp)
        assert (pool.balanceOf(writer), pool.balanceOf(lp)) == (amount * OFFSET, 0)
        ev = pool_logs(tx, pool, "Deposit")[0]
        assert (ev.sender, ev.owner) == (lp.address, writer.address)

    def test_deposit__zero_assets__reverts(self, pool, lp):
        with ape.reverts("pool: zero assets"):
            pool.deposit(0, sender=lp)

    def test_deposit__zero_receiver__reverts(self, pool, token, lp):
        amount = mint_and_approve(token, pool, lp, 10)
        with ape.reverts("pool: zero address"):
            pool.deposit(amount, ZERO, sender=lp)
        assert (pool.totalSupply(), token.balanceOf(lp)) == (0, amount)

    def test_deposit__without_token_allowance__reverts(self, pool, token, stranger):
        token.mint(stranger, USDC, sender=stranger)
        with ape.reverts("usdc: allowance below amount"):
            pool.deposit(USDC, sender=stranger)
        assert pool.balanceOf(stranger) == 0

    def test_deposit__rounds_to_zero_shares__reverts(self, pool, market, token, fund, lp, stranger):
        """A donation to the pool's account before any share exists prices 1 unit at 0 shares."""
        fund(stranger, 1_000_000, deposit=False)
        market.deposit(OFFSET, pool, sender=stranger)  # 1,000,000 USDC donated
        assert pool.previewDeposit(1) == 0
        mint_and_approve(token, pool, lp, 1)
        with ape.reverts("pool: zero shares"):
            pool.deposit(1, sender=lp)
        assert pool.totalSupply() == 0


class TestSeededPool:
    @pytest.fixture(scope="class", autouse=True)
    def _seeded(self, seeded):
        pass

    def test_deposit__second_at_same_nav__same_share_price(self, pool, token, writer):
        amount = mint_and_approve(token, pool, writer, 50_000)
        assert pool.previewDeposit(amount) == amount * OFFSET
        pool.deposit(amount, sender=writer)
        assert pool.balanceOf(writer) == amount * OFFSET
        assert pool.totalSupply() == SEED_SHARES + amount * OFFSET
        assert pool.totalAssets() == SEED + amount

    def test_redeem__pays_pro_rata_and_burns(self, pool, market, token, lp):
        shares = SEED_SHARES * 2 // 5
        assert pool.previewRedeem(shares) == pool.convertToAssets(shares) == 40_000 * USDC
        tx = pool.redeem(shares, sender=lp)
        assert token.balanceOf(lp) == 40_000 * USDC
        assert pool.balanceOf(lp) == pool.totalSupply() == SEED_SHARES - shares
        assert market.cash(pool) == pool.totalAssets() == 60_000 * USDC
        transfers = pool_logs(tx, pool, "Transfer")
        assert [fields(e, "sender", "receiver", "value") for e in transfers] == [
            (lp.address, ZERO, shares)
        ]
        withdraws = pool_logs(tx, pool, "Withdraw")
        names = ("sender", "receiver", "owner", "assets", "shares")
        assert [fields(e, *names) for e in withdraws] == [
            (lp.address, lp.address, lp.address, 40_000 * USDC, shares)
        ]

    def test_redeem__all__empties_pool(self, pool, token, lp):
        pool.redeem(SEED_SHARES, sender=lp)
        assert token.balanceOf(lp) == SEED
        assert (pool.totalSupply(), pool.totalAssets()) == (0, 0)

    def test_redeem__to_receiver(self, pool, token, lp, writer):
        pool.redeem(SEED_SHARES // 10, writer, sender=lp)
        assert (token.balanceOf(writer), token.balanceOf(lp)) == (10_000 * USDC, 0)

    def test_redeem__for_owner_with_allowance__spends_it(self, pool, token, lp, keeper):
        pool.approve(keeper, SEED_SHARES // 4, sender=lp)
        tx = pool.redeem(SEED_SHARES // 10, keeper, lp, sender=keeper)
        assert pool.allowance(lp, keeper) == SEED_SHARES // 4 - SEED_SHARES // 10
        assert pool.balanceOf(lp) == SEED_SHARES * 9 // 10
        assert token.balanceOf(keeper) == 10_000 * USDC
        ev = pool_logs(tx, pool, "Withdraw")[0]
        assert (ev.sender, ev.receiver, ev.owner) == (keeper.address, keeper.address, lp.address)

    def test_redeem__for_owner_with_infinite_allowance__keeps_it(self, pool, lp, keeper):
        pool.approve(keeper, MAX, sender=lp)
        pool.redeem(SEED_SHARES // 10, keeper, lp, sender=keeper)
        assert pool.allowance(lp, keeper) == MAX

    def test_redeem__for_owner_above_allowance__reverts(self, pool, lp, keeper):
        pool.approve(keeper, SEED_SHARES // 10 - 1, sender=lp)
        with ape.reverts("pool: allowance below amount"):
            pool.redeem(SEED_SHARES // 10, keeper, lp, sender=keeper)
        assert pool.balanceOf(lp) == SEED_SHARES
        assert pool.allowance(lp, keeper) == SEED_SHARES // 10 - 1

    def test_redeem__zero_shares__reverts(self, pool, lp):
        with ape.reverts("pool: zero shares"):
            pool.redeem(0, sender=lp)

    def test_redeem__zero_receiver__reverts(self, pool, lp):
        with ape.reverts("pool: zero address"):
            pool.redeem(SEED_SHARES, ZERO, sender=lp)
        assert pool.balanceOf(lp) == SEED_SHARES

    def test_redeem__above_balance__reverts(self, pool, lp):
        with ape.reverts("pool: balance below shares"):
            pool.redeem(SEED_SHARES + 1, sender=lp)
        assert pool.balanceOf(lp) == SEED_SHARES

    def test_redeem__dust_worth_zero_assets__reverts(self, pool, lp):
        assert pool.previewRedeem(OFFSET - 1) == 0
        with ape.reverts("pool: zero assets"):
            pool.redeem(OFFSET - 1, sender=lp)
        assert pool.balanceOf(lp) == SEED_SHARES

    def test_redeem__paused_without_positions__works(self, pool, market, token, gov, lp):
        market.set_paused(True, sender=gov)
        pool.redeem(SEED_SHARES, sender=lp)
        assert token.balanceOf(lp) == SEED

    # --- ERC20 shares ---

    def test_transfer__moves_shares_and_emits(self, pool, lp, writer):
        tx = pool.transfer(writer, WAD, sender=lp)
        assert (pool.balanceOf(lp), pool.balanceOf(writer)) == (SEED_SHARES - WAD, WAD)
        assert pool.totalSupply() == SEED_SHARES
        transfers = pool_logs(tx, pool, "Transfer")
        assert [fields(e, "sender", "receiver", "value") for e in transfers] == [
            (lp.address, writer.address, WAD)
        ]

    def test_transfer__above_balance__reverts(self, pool, lp, writer):
        with ape.reverts("pool: balance below amount"):
            pool.transfer(writer, SEED_SHARES + 1, sender=lp)
        assert (pool.balanceOf(lp), pool.balanceOf(writer)) == (SEED_SHARES, 0)

    def test_transfer__to_zero__reverts(self, pool, lp):
        with ape.reverts("pool: zero address"):
            pool.transfer(ZERO, WAD, sender=lp)
        assert pool.balanceOf(lp) == SEED_SHARES

    def test_approve__sets_and_overwrites_allowance(self, pool, lp, keeper):
        tx = pool.approve(keeper, 5 * WAD, sender=lp)
        assert pool.allowance(lp, keeper) == 5 * WAD
        approvals = pool_logs(tx, pool, "Approval")
        assert [fields(e, "owner", "spender", "value") for e in approvals] == [
            (lp.address, keeper.address, 5 * WAD)
        ]
        pool.approve(keeper, 0, sender=lp)
        assert pool.allowance(lp, keeper) == 0

    def test_transfer_from__spends_allowance(self, pool, lp, writer, keeper):
        pool.approve(keeper, 5 * WAD, sender=lp)
        tx = pool.transferFrom(lp, writer, 2 * WAD, sender=keeper)
        assert pool.allowance(lp, keeper) == 3 * WAD
        assert (pool.balanceOf(lp), pool.balanceOf(writer)) == (SEED_SHARES - 2 * WAD, 2 * WAD)
        transfers = pool_logs(tx, pool, "Transfer")
        assert [fields(e, "sender", "receiver", "value") for e in transfers] == [
            (lp.address, writer.address, 2 * WAD)
        ]

    def test_transfer_from__infinite_allowance__keeps_it(self, pool, lp, writer, keeper):
        pool.approve(keeper, MAX, sender=lp)
        pool.transferFrom(lp, writer, 2 * WAD, sender=keeper)
        assert pool.allowance(lp, keeper) == MAX

    def test_transfer_from__own_shares__needs_no_allowance(self, pool, lp, writer):
        pool.transferFrom(lp, writer, WAD, sender=lp)
        assert pool.balanceOf(writer) == WAD

    def test_transfer_from__above_allowance__reverts(self, pool, lp, writer, keeper):
        pool.approve(keeper, WAD, sender=lp)
        with ape.reverts("pool: allowance below amount"):
            pool.transferFrom(lp, writer, WAD + 1, sender=keeper)
        assert pool.allowance(lp, keeper) == WAD
        assert pool.balanceOf(writer) == 0

    def test_transfer_from__above_balance__reverts(self, pool, lp, writer, keeper):
        pool.approve(keeper, MAX, sender=lp)
        with ape.reverts("pool: balance below amount"):
            pool.transferFrom(lp, writer, SEED_SHARES + 1, sender=keeper)
        assert pool.balanceOf(lp) == SEED_SHARES

    def test_transfer_from__to_zero__reverts(self, pool, lp, keeper):
        pool.approve(keeper, MAX, sender=lp)
        with ape.reverts("pool: zero address"):
            pool.transferFrom(lp, ZERO, WAD, sender=keeper)
        assert pool.balanceOf(lp) == SEED_SHARES


class TestPoolWithBook:
    @pytest.fixture(scope="class", autouse=True)
    def _book(self, pool_book):
        pass

    def test_total_assets__is_nav_in_token_units(self, pool, market):
        nav, _, gross = market.pool_state()
        assert pool.totalAssets() == nav // OFFSET
        assert gross == 10 * WAD
        assert pool.previewRedeem(WAD) == pool.convertToAssets(WAD)
        assert pool.previewDeposit(USDC) == pool.convertToShares(USDC)

    def test_spot_move__moves_share_price(self, pool, push):
        before_nav, before_price = pool.totalAssets(), pool.convertToAssets(WAD)
        push(2_200)  # the pool is short calls: it loses
        assert pool.totalAssets() < before_nav - 500 * USDC
        assert pool.convertToAssets(WAD) < before_price
        assert pool.convertToShares(USDC) > USDC * OFFSET

    def test_deposit_and_redeem__after_move__follow_nav(self, pool, token, push, lp, writer):
        push(2_200)
        amount = mint_and_approve(token, pool, writer, 10_000)
        tx = pool.deposit(amount, sender=writer)
        shares = pool_logs(tx, pool, "Deposit")[0].shares
        # totals in the deposit's block, before it
        total, supply = pool.totalAssets() - amount, pool.totalSupply() - shares
        assert shares == amount * (supply + OFFSET) // (total + 1)
        assert shares > amount * OFFSET  # cheaper shares after the pool lost
        tx = pool.redeem(shares, sender=writer)
        paid = pool_logs(tx, pool, "Withdraw")[0].assets
        total, supply = pool.totalAssets() + paid, pool.totalSupply() + shares
        assert paid == shares * (total + 1) // (supply + OFFSET)
        assert token.balanceOf(writer) == paid
        assert pool.totalSupply() == SEED_SHARES

    def test_redeem__below_initial_margin__reverts(self, pool, market, lp):
        equity, _, im = market.account_margin(pool)
        shares = SEED_SHARES * 99 // 100
        assert equity - pool.previewRedeem(shares) * OFFSET < im
        with ape.reverts("market: below initial margin"):
            pool.redeem(shares, sender=lp)
        assert pool.balanceOf(lp) == pool.totalSupply() == SEED_SHARES

    def test_redeem__paused_with_positions__reverts(self, pool, market, gov, lp):
        market.set_paused(True, sender=gov)
        with ape.reverts("market: paused"):
            pool.redeem(SEED_SHARES // 100, sender=lp)
        assert pool.balanceOf(lp) == SEED_SHARES

    def test_deposit__paused_with_positions__works(self, pool, market, token, gov, writer):
        market.set_paused(True, sender=gov)
        amount = mint_and_approve(token, pool, writer, 1_000)
        pool.deposit(amount, sender=writer)
        assert pool.balanceOf(writer) > 0
        assert token.balanceOf(writer) == 0


class TestPoolUnderwater:
    """Audit finding 1 (high): while NAV <= 0, totalAssets() read 0 and a deposit of 1 USDC
    minted assets * (supply + 1e12) / 1 shares, a million times the LP's, which took the
    whole recovery when vol came back. The pool now refuses deposits and redemptions while
    its NAV is not positive: there is no price at which a share can be sold or bought."""

    @pytest.fixture(scope="class", autouse=True)
    def pool_underwater(self, seeded, market, buyer, fund, find_series, push):
        """The audit's reproduction: the buyer holds 240 ATM 30-day calls from a 100k pool,
        and vol doubles three times (0.6 -> 4.8)."""
        fund(buyer, 2_000_000)
        market.trade(find_series(2_000, 30, True), 240 * WAD, MAX, sender=buyer)
        for vol in (1.2, 2.4, 4.8):
            push(2_000, vol)
        assert market.pool_state()[0] < 0

    def test_deposit__nav_not_positive__reverts_and_mints_nothing(
        self, pool, market, token, stranger
    ):
        amount = mint_and_approve(token, pool, stranger, 1)
        with ape.reverts("pool: NAV not positive"):
            pool.deposit(amount, sender=stranger)
        assert pool.balanceOf(stranger) == 0 and pool.totalSupply() == SEED_SHARES
        assert token.balanceOf(stranger) == amount

    def test_redeem__nav_not_positive__reverts(self, pool, lp):
        with ape.reverts("pool: NAV not positive"):
            pool.redeem(SEED_SHARES // 10, sender=lp)
        assert pool.balanceOf(lp) == SEED_SHARES

    def test_recovery__belongs_to_the_lps_who_bore_the_loss(self, pool, token, stranger, lp, push):
        amount = mint_and_approve(token, pool, stranger, 1)
        with ape.reverts("pool: NAV not positive"):
            pool.deposit(amount, sender=stranger)
        push(2_000, 0.6)  # vol comes back
        total = pool.totalAssets()
        assert total > 0 and pool.totalSupply() == pool.balanceOf(lp) == SEED_SHARES
        assert pool.previewRedeem(SEED_SHARES) >= total * (1 - 1e-9)  # all of it, to the LP
