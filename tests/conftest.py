"""Fixtures named by role: `gov` deploys and governs, `lp` funds the pool, `writer`
sells options on margin, `buyer` buys them, `keeper` liquidates and settles.

The protocol is deployed once per session through the same code as `ape run deploy`
(onchain.deployment); ape's isolation reverts the chain after every test.

ape's isolation keys fixtures by name: two fixtures with the same name and different
scopes in different modules make it skip reverts (a module-scoped `book` in tests/risk
once leaked pool deposits into every market test). Keep fixture names unique.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from onchain.deployment import DeployConfig, deploy_protocol
from onchain.quiet import silence_revert_traces
from risk.units import USDC, WAD

# reverts are asserted by message; their call traces would only slow anvil runs down
silence_revert_traces()


@pytest.fixture(scope="session")
def gov(accounts):
    return accounts[0]


@pytest.fixture(scope="session")
def lp(accounts):
    return accounts[1]


@pytest.fixture(scope="session")
def writer(accounts):
    return accounts[2]


@pytest.fixture(scope="session")
def buyer(accounts):
    return accounts[3]


@pytest.fixture(scope="session")
def keeper(accounts):
    return accounts[4]


@pytest.fixture(scope="session")
def stranger(accounts):
    return accounts[5]


@pytest.fixture(scope="session")
def deploy_config():
    return DeployConfig.load("deployments/local.yaml")


@pytest.fixture(scope="session")
def protocol(project, gov, deploy_config):
    return deploy_protocol(project, gov, deploy_config)


@pytest.fixture(scope="session", autouse=True)
def _protocol_first(
    protocol,
    token,
    market,
    pool,
    config,
    timelock,
    engine,
    oracle,
    push,
    series_ids,
    find_series,
    fund,
    seed_pool,
    ledger_gap,
    gov,
    lp,
    writer,
    buyer,
    keeper,
    stranger,
):
    """Deploy before the first test: ape's isolation snapshots need session fixtures early."""


@pytest.fixture(scope="session")
def token(protocol):
    return protocol.token


@pytest.fixture(scope="session")
def market(protocol):
    return protocol.market


@pytest.fixture(scope="session")
def oracle(protocol):
    return protocol.oracle


@pytest.fixture(scope="session")
def pool(protocol):
    return protocol.pool


@pytest.fixture(scope="session")
def config(protocol):
    return protocol.config


@pytest.fixture(scope="session")
def timelock(protocol):
    return protocol.timelock


@pytest.fixture(scope="session")
def engine(protocol):
    return protocol.engine


@pytest.fixture(scope="session")
def fund(token, market):
    """fund(account, usdc, deposit=True): mint collateral and (by default) deposit it."""

    def _fund(account, amount_usdc: float, deposit: bool = True):
        amount = int(amount_usdc * USDC)
        token.mint(account, amount, sender=account)
        token.approve(market, 2**256 - 1, sender=account)
        if deposit:
            market.deposit(amount, sender=account)
        return amount

    return _fund


@pytest.fixture(scope="session")
def seed_pool(token, pool, lp):
    """seed_pool(usdc): the LP deposits into the pool."""

    def _seed(amount_usdc: float = 1_000_000):
        amount = int(amount_usdc * USDC)
        token.mint(lp, amount, sender=lp)
        token.approve(pool, 2**256 - 1, sender=lp)
        pool.deposit(amount, sender=lp)
        return amount

    return _seed


@pytest.fixture(scope="session")
def push(oracle, market, gov):
    """push(spot_usd, vol=None): move the oracle; vols of all live expiries are refreshed."""

    def _push(spot_usd: float, vol: float | None = 0.6):
        expiries = sorted({market.series(s).expiry for s in market.live_series_ids()})
        vols = [int(vol * WAD)] * len(expiries) if vol is not None else []
        oracle.push(int(spot_usd * WAD), expiries if vol is not None else [], vols, sender=gov)

    return _push


@pytest.fixture(scope="session")
def series_ids(protocol):
    """The series created at deployment (7 and 30 days; strikes 80-120% of 2000; calls, puts)."""
    return protocol.series_ids


@pytest.fixture(scope="session")
def find_series(market, series_ids):
    """find_series(strike_usd, days, is_call) -> id among the deployed series."""

    def _find(strike_usd: float, days: int, is_call: bool) -> int:
        candidates = []
        for sid in series_ids:
            s = market.series(sid)
            if s.strike == int(strike_usd * WAD) and s.is_call == is_call:
                candidates.append((s.expiry, sid))
        candidates.sort()
        return candidates[0 if days <= 7 else -1][1]

    return _find


@pytest.fixture(scope="session")
def ledger_gap(token, market):
    """ledger_gap(accounts): token balance - (sum of cash + insurance + fees)."""

    def _gap(accounts) -> int:
        owed = sum(market.cash(a) for a in accounts) + market.insurance() + market.fees()
        return token.balanceOf(market) - owed

    return _gap


@pytest.fixture(scope="session")
def revalue_pool(market, oracle, engine, pool):
    """revalue_pool(now, reader=None): the pool's NAV, vega and gross size revalued from
    scratch at block time `now` (positions read one by one, valued by the MarginEngine),
    and the sum of its |positions|: what the market's per-block pool_mark must equal.
    With an onchain.reader.Reader the reads take three round trips instead of ape calls."""
    from onchain.reader import ViewCall

    def tdiv(a: int, b: int) -> int:  # the EVM's signed division: truncation towards zero
        q = abs(a) // abs(b)
        return q if (a >= 0) == (b > 0) else -q

    def _revalue(now: int, reader=None) -> SimpleNamespace:
        def read(calls):
            if reader is not None:
                return reader.read([ViewCall.of(c, m, *args) for c, m, *args in calls])
            return [getattr(c, m)(*args) for c, m, *args in calls]

        spot, ids, cash = read(
            [(oracle, "last_spot"), (market, "live_series_ids"), (market, "cash", pool.address)]
        )
        ids = list(ids)
        rows = read([(market, "pool_position", i) for i in ids])
        rows += read([(market, "series", i) for i in ids])
        sizes, series = rows[: len(ids)], rows[len(ids) :]
        expiries = sorted({s[1] for s in series})
        marks = read(
            [(oracle, "settlement_price", e) for e in expiries]
            + [(oracle, "vols", e) for e in expiries]
        )
        settled = dict(zip(expiries, marks[: len(expiries)], strict=True))
        vols = dict(zip(expiries, marks[len(expiries) :], strict=True))
        book, fixed, gross, abs_oi = [], 0, 0, 0
        for size, (strike, expiry, is_call) in zip(sizes, series, strict=True):
            abs_oi += abs(size)
            if size == 0:
                continue
            sp = settled[expiry] if now >= expiry else 0
            if sp > 0:
                payoff = max(sp - strike, 0) if is_call else max(strike - sp, 0)
                fixed += tdiv(size * payoff, WAD)
                continue
            t_sec = max(expiry - now, 0)
            book.append((strike, t_sec, vols[expiry] if t_sec > 0 else 0, is_call, size))
            gross += abs(size) if t_sec > 0 else 0
        value, vega = read([(engine, "value_and_vega", spot, book)])[0] if book else (0, 0)
        nav = cash * 10**12 + value + fixed
        return SimpleNamespace(nav=nav, value=value + fixed, vega=vega, gross=gross, abs_oi=abs_oi)

    return _revalue
