"""Series registry, quoting and trading against the pool."""

import ape
import pytest

from risk.units import DAY, USDC, WAD

MAX = 10**30


@pytest.fixture
def traded_book(seed_pool, fund, writer, buyer):
    """A funded pool, writer and buyer."""
    seed_pool(1_000_000)
    fund(writer, 20_000)
    fund(buyer, 20_000)


# --- series ---


def test_create_series__registers_series_and_expiry(market, oracle, gov, chain):
    expiry = chain.pending_timestamp + 14 * DAY
    n = market.series_count()
    tx = market.create_series(2_500 * WAD, expiry, False, sender=gov)
    assert market.series_count() == n + 1
    s = market.series(n)
    assert (s.strike, s.expiry, s.is_call) == (2_500 * WAD, expiry, False)
    assert n in market.live_series_ids()
    assert expiry in [
        oracle.pending_expiries(i) for i in range(3)
    ]  # 2 deployed expiries + this one
    ev = tx.decode_logs(market.SeriesCreated)[0]
    assert (ev.series_id, ev.strike, ev.expiry, ev.is_call) == (n, 2_500 * WAD, expiry, False)


def test_create_series__not_creator__reverts(market, stranger, chain):
    with ape.reverts("market: not series creator"):
        market.create_series(WAD, chain.pending_timestamp + DAY, True, sender=stranger)


@pytest.mark.parametrize("strike", [0, 10**30 + 1])
def test_create_series__strike_out_of_range__reverts(market, gov, chain, strike):
    with ape.reverts("market: strike outside (0, 1e30]"):
        market.create_series(strike, chain.pending_timestamp + DAY, True, sender=gov)


@pytest.mark.parametrize("offset", [-1, 2 * 365 * DAY + 10])
def test_create_series__expiry_out_of_range__reverts(market, gov, chain, offset):
    with ape.reverts("market: expiry outside (now, now + 2 years]"):
        market.create_series(WAD, chain.pending_timestamp + offset, True, sender=gov)


def test_create_series__too_many_live__reverts(market, gov, chain):
    expiry = chain.pending_timestamp + 7 * DAY
    while len(market.live_series_ids()) < 32:
        market.create_series(3_000 * WAD, expiry, True, sender=gov)
    with ape.reverts("market: too many live series"):
        market.create_series(3_000 * WAD, expiry, True, sender=gov)


def test_retire_series__before_expiry__reverts(market, series_ids, stranger):
    with ape.reverts("market: series not expired"):
        market.retire_series(series_ids[0], sender=stranger)


def test_retire_series__unknown__reverts(market, stranger):
    with ape.reverts("market: unknown series"):
        market.retire_series(10**6, sender=stranger)


# --- quotes ---


def test_quote__buy_above_mark_above_sell(market, traded_book, find_series):
    sid = find_series(2_000, 30, True)
    buy, mark, util = market.quote(sid, WAD)
    sell, mark2, _ = market.quote(sid, -WAD)
    assert sell < mark == mark2 < buy
    assert util > 0


def test_quote__spread_widens_with_size(market, traded_book, find_series):
    sid = find_series(2_000, 30, True)
    small = market.quote(sid, WAD)[0]
    large = market.quote(sid, 2_000 * WAD)[0]
    assert large > small


def test_quote__zero_size__reverts(market, traded_book, find_series):
    with ape.reverts("market: zero size"):
        market.quote(find_series(2_000, 30, True), 0)


def test_quote__empty_pool__reverts(market, find_series):
    with ape.reverts("market: pool has no capital"):
        market.quote(find_series(2_000, 30, True), WAD)


# --- trades ---


def test_trade__buy__moves_premium_fee_and_positions(
    market, token, pool, buyer, traded_book, find_series, ledger_gap, writer
):
    sid = find_series(2_000, 30, True)
    price = market.quote(sid, 2 * WAD)[0]
    cash0, pool0 = market.cash(buyer), market.cash(pool)
    tx = market.trade(sid, 2 * WAD, price, sender=buyer)
    ev = tx.decode_logs(market.Trade)[0]
    premium, fee = ev.premium, ev.fee
    assert ev.price <= price
    assert premium == (2 * ev.price + 10**12 - 1) // 10**12  # rounded against the buyer
    assert market.cash(buyer) == cash0 - premium - fee
    assert market.cash(pool) == pool0 + premium
    assert market.insurance() + market.fees() == fee
    assert [tuple(p) for p in market.positions(buyer)] == [(sid, 2 * WAD)]
    assert market.pool_position(sid) == -2 * WAD
    assert (market.long_oi(sid), market.short_oi(sid)) == (2 * WAD, 0)
    assert market.pool_abs_oi() == 2 * WAD
    assert ledger_gap([buyer, writer, pool]) == 0


def test_trade__stores_the_pools_valuation_for_its_block(
    market, oracle, buyer, writer, traded_book, find_series, revalue_pool, chain
):
    sid = find_series(2_000, 30, True)
    market.trade(sid, -3 * WAD, 0, sender=writer)
    tx = market.trade(sid, WAD, MAX, sender=buyer)
    ts = chain.provider.get_block(tx.block_number).timestamp
    mark = market.pool_mark()
    assert mark.key == (ts << 128) | oracle.version()
    fresh = revalue_pool(ts)
    assert (mark.value, mark.vega, mark.gross) == (fresh.value, fresh.vega, fresh.gross)
    assert mark.gross == 2 * WAD and market.pool_abs_oi() == 2 * WAD


def test_trade__sell__receives_premium_less_fee(market, pool, writer, traded_book, find_series):
    sid = find_series(1_800, 7, False)
    cash0 = market.cash(writer)
    tx = market.trade(sid, -3 * WAD, 0, sender=writer)
    ev = tx.decode_logs(market.Trade)[0]
    assert ev.premium == 3 * ev.price // 10**12
    assert market.cash(writer) == cash0 + ev.premium - ev.fee
    assert market.pool_position(sid) == 3 * WAD
    assert market.short_oi(sid) == 3 * WAD
    assert market.pool_abs_oi() == 3 * WAD


def test_trade__close_position__removes_it(market, writer, traded_book, find_series):
    sid = find_series(2_000, 30, True)
    market.trade(sid, -WAD, 0, sender=writer)
    market.trade(sid, WAD, MAX, sender=writer)
    assert len(market.positions(writer)) == 0
    assert market.short_oi(sid) == 0 and market.pool_position(sid) == 0
    assert market.pool_abs_oi() == 0


def test_trade__buy_above_limit__reverts(market, buyer, traded_book, find_series):
    sid = find_series(2_000, 30, True)
    price = market.quote(sid, WAD)[0]
    with ape.reverts("market: price above limit"):
        market.trade(sid, WAD, price * 99 // 100, sender=buyer)


def test_trade__sell_below_limit__reverts(market, writer, traded_book, find_series):
    sid = find_series(2_000, 30, True)
    price = market.quote(sid, -WAD)[0]
    with ape.reverts("market: price below limit"):
        market.trade(sid, -WAD, price * 101 // 100, sender=writer)


def test_trade__zero_size__reverts(market, writer, traded_book, find_series):
    with ape.reverts("market: zero size"):
        market.trade(find_series(2_000, 30, True), 0, 0, sender=writer)


def test_trade__unknown_series__reverts(market, writer, traded_book):
    with ape.reverts("market: unknown series"):
        market.trade(10**6, WAD, MAX, sender=writer)


def test_trade__expired_series__reverts(market, writer, traded_book, find_series, chain, push):
    sid = find_series(2_000, 7, True)
    chain.pending_timestamp += 7 * DAY + 1
    push(2_000)
    with ape.reverts("market: series expired"):
        market.trade(sid, WAD, MAX, sender=writer)


def test_trade__stale_oracle__reverts(market, writer, traded_book, find_series, chain):
    chain.pending_timestamp += 3 * 3_600
    with ape.reverts("oracle: stale price"):
        market.trade(find_series(2_000, 30, True), WAD, MAX, sender=writer)


def test_trade__below_initial_margin__reverts_and_changes_nothing(
    market, stranger, traded_book, fund, find_series, pool
):
    fund(stranger, 100)
    sid = find_series(2_000, 30, True)
    pool_cash = market.cash(pool)
    with ape.reverts("market: below initial margin"):
        market.trade(sid, -5 * WAD, 0, sender=stranger)
    assert market.cash(stranger) == 100 * USDC
    assert market.cash(pool) == pool_cash
    assert len(market.positions(stranger)) == 0


def size_in(market, account, series_id) -> int:
    return sum(p.size for p in market.positions(account) if p.series_id == series_id)


@pytest.fixture
def spread_below_im(market, seed_pool, fund, writer, find_series, push):
    """The writer holds a call spread on thin margin (short 4 x 2,200, long 4 x 2,400, 30
    days, on 700 USDC); at spot 2,300 it is below IM but above MM (457 < 528, MM 407)."""
    push(2_000)
    seed_pool(1_000_000)
    fund(writer, 700)
    short, long_ = find_series(2_200, 30, True), find_series(2_400, 30, True)
    market.trade(long_, 4 * WAD, MAX, sender=writer)
    market.trade(short, -4 * WAD, 0, sender=writer)
    push(2_300)
    equity, mm, im = market.account_margin(writer)
    assert mm <= equity < im
    return short, long_


def test_trade__below_im_buys_back_dust__fee_above_im_relief__reverts(
    market, writer, spread_below_im
):
    """Reduce-only is allowed below IM only if the surplus (equity - IM) is no worse: a
    dust buy-back pays a rounded-up fee larger than the IM it frees (a mutant without
    that check passed every test)."""
    short, _ = spread_below_im
    cash = market.cash(writer)
    with ape.reverts("market: below initial margin"):
        market.trade(short, 10**6, MAX, sender=writer)
    assert market.cash(writer) == cash and size_in(market, writer, short) == -4 * WAD


def test_trade__below_im_sells_the_protective_leg__reverts(market, writer, spread_below_im):
    """Selling the long leg reduces a position but leaves the short naked: IM rises."""
    _, long_ = spread_below_im
    with ape.reverts("market: below initial margin"):
        market.trade(long_, -WAD, 0, sender=writer)
    assert size_in(market, writer, long_) == 4 * WAD


def test_trade__below_im_buys_back_the_short__allowed(market, writer, spread_below_im):
    """The reduce-only trade that does improve the surplus passes below IM."""
    short, _ = spread_below_im
    before = market.account_margin(writer)
    market.trade(short, WAD, MAX, sender=writer)
    after = market.account_margin(writer)
    assert after[0] - after[2] >= before[0] - before[2]
    assert size_in(market, writer, short) == -3 * WAD


def test_trade__series_cap__reverts(
    market, writer, traded_book, find_series, timelock, config, gov, chain, push
):
    # lower the series cap through governance, within the rate limit (25% per day)
    sid = find_series(2_000, 30, True)
    lim = config.limits()
    new = (lim.series_oi_cap * 3 // 4, lim.total_oi_cap)
    timelock.propose(config, config.set_limits.encode_input(new), sender=gov)
    pid = timelock.proposal_count() - 1
    chain.pending_timestamp += timelock.delay()
    timelock.execute(pid, sender=gov)
    assert config.limits().series_oi_cap == new[0]
    push(2_000)
    market.trade(sid, -WAD, 0, sender=writer)
    cap = new[0]
    with ape.reverts("market: series open interest cap"):
        market.trade(sid, cap + 2 * WAD, MAX, sender=writer)


def test_trade__utilisation_cap__reverts(market, stranger, fund, seed_pool, find_series):
    seed_pool(1_000)  # a small pool: 10 contracts of 2000 USD notional is 20x its NAV
    fund(stranger, 100_000)
    with ape.reverts("market: pool utilisation cap"):
        market.trade(find_series(2_000, 30, True), 10 * WAD, MAX, sender=stranger)


def test_trade__too_many_positions__reverts(market, buyer, traded_book, series_ids):
    for sid in series_ids[:8]:
        market.trade(sid, WAD // 100, MAX, sender=buyer)
    with ape.reverts("market: too many positions"):
        market.trade(series_ids[8], WAD // 100, MAX, sender=buyer)


def test_trade__paused__only_reduce(market, gov, writer, traded_book, find_series):
    sid = find_series(2_000, 30, True)
    market.trade(sid, -2 * WAD, 0, sender=writer)
    market.set_paused(True, sender=gov)
    with ape.reverts("market: paused, reduce-only"):
        market.trade(sid, -WAD, 0, sender=writer)
    with ape.reverts("market: paused, reduce-only"):
        market.trade(sid, 3 * WAD, MAX, sender=writer)  # flips side
    market.trade(sid, WAD, MAX, sender=writer)
    assert market.positions(writer)[0].size == -WAD
