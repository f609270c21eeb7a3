"""onchain.reader.Reader through contracts/Multicall.vy (eth_call with a state override):
the same values as one eth_call per read, reverts named, long batches chunked, and a node
without state overrides read plainly. On anvil, the session's deployment."""

import pytest

from onchain.reader import Reader, ViewCall, multicall_code
from onchain.rpc import JsonRpc, RpcError
from risk.units import WAD

pytestmark = pytest.mark.anvil


@pytest.fixture
def traded(market, seed_pool, fund, writer, buyer, find_series):
    seed_pool(1_000_000)
    fund(writer, 20_000)
    fund(buyer, 20_000)
    market.trade(find_series(2_000, 7, True), -WAD // 2, 0, sender=writer)
    market.trade(find_series(1_800, 30, False), WAD // 4, 10**30, sender=buyer)


def _views(market, oracle, config, pool, accounts):
    expiries = sorted({market.series(s).expiry for s in market.live_series_ids()})
    calls = [ViewCall.of(market, "cash", a) for a in accounts]
    calls += [ViewCall.of(market, "positions", a) for a in accounts]
    calls += [ViewCall.of(market, "pool_state"), ViewCall.of(market, "live_series_ids")]
    calls += [ViewCall.of(config, "margin_params"), ViewCall.of(pool, "totalSupply")]
    calls += [ViewCall.of(oracle, "vols", e) for e in expiries]
    return calls


def test_multicall__same_values_as_one_call_per_read(
    node_uri, project, traded, market, oracle, config, pool, accounts
):
    calls = _views(market, oracle, config, pool, list(accounts)[:8])
    plain = Reader(node_uri).read(calls)
    reader = Reader(node_uri, multicall_code=multicall_code(project))
    assert reader.read(calls) == plain
    assert reader.multicall_code  # the node took the override: still in use
    assert any(plain[8:16])  # positions were read, not empty everywhere


def test_multicall__more_than_256_reads__chunked_in_order(node_uri, project, market, accounts):
    who = [a.address for a in accounts][:10]
    calls = [ViewCall.of(market, "cash", who[i % 10]) for i in range(600)]
    reader = Reader(node_uri, multicall_code=multicall_code(project))
    assert reader.read(calls) == Reader(node_uri).read(calls)


def test_multicall__reverting_view__raises_naming_it(node_uri, project, oracle):
    reader = Reader(node_uri, multicall_code=multicall_code(project))
    with pytest.raises(RpcError, match="vol: execution reverted: oracle: no vol for expiry"):
        reader.read([ViewCall.of(oracle, "last_spot"), ViewCall.of(oracle, "vol", 12_345)])


class _NoOverrides(JsonRpc):
    """A node that refuses eth_call's third (state override) parameter."""

    def batch(self, calls):
        if any(m == "eth_call" and len(p) > 2 for m, p in calls):
            err = {"code": -32602, "message": "state override not supported"}
            return [{"jsonrpc": "2.0", "id": i, "error": err} for i in range(len(calls))]
        return super().batch(calls)


def test_multicall__node_without_overrides__reads_plainly(node_uri, project, market, accounts):
    calls = [ViewCall.of(market, "cash", a) for a in list(accounts)[:3]]
    reader = Reader(_NoOverrides(node_uri), multicall_code=multicall_code(project))
    assert reader.read(calls) == Reader(node_uri).read(calls)
    assert reader.multicall_code is None  # fell back for good


@pytest.mark.parametrize("by_override", [True, False], ids=["multicall", "plain-batch"])
def test_read_lenient__reverting_view__none_in_its_place(node_uri, project, oracle, by_override):
    reader = Reader(node_uri, multicall_code=multicall_code(project) if by_override else None)
    calls = [ViewCall.of(oracle, "last_spot"), ViewCall.of(oracle, "vol", 12_345)]
    spot, vol = reader.read_lenient(calls)
    assert spot == oracle.last_spot() and vol is None


def test_named_reads__the_structs_and_values_ape_reads(node_uri, project, protocol, traded):
    from onchain.contracts import AGENT_CONTRACTS, Contracts
    from risk.params import Limits, LiquidationParams, MarginParams, OracleParams, PoolParams

    r = Reader(
        node_uri,
        Contracts.of(protocol.handles(AGENT_CONTRACTS)),
        multicall_code=multicall_code(project),
    )
    market, config, oracle = protocol.market, protocol.config, protocol.oracle
    expiry = market.series(market.live_series_ids()[0]).expiry
    got = r.read_named(
        {
            "margin": r.margin_params(),
            "liquidation": r.liquidation_params(),
            "pool": r.pool_params(),
            "limits": r.limits(),
            "oracle": r.oracle_params(),
            "rate": r.rate_limit("margin"),
            "spot": r.spot(),
            "vol": r.vol(expiry),
            "state": r.pool_state(),
            "live": r.live_series(),
        }
    )
    assert got["margin"] == MarginParams.from_chain(config.margin_params())
    assert got["liquidation"] == LiquidationParams.from_chain(config.liquidation_params())
    assert got["pool"] == PoolParams.from_chain(config.pool_params())
    assert got["limits"] == Limits.from_chain(config.limits())
    assert got["oracle"] == OracleParams.from_chain(oracle.params())
    assert got["rate"].max_rel_change == config.rate_limit(0).max_rel_change / WAD
    assert got["spot"] == oracle.last_spot() / WAD and got["vol"] == oracle.vols(expiry) / WAD
    nav, vega, gross = market.pool_state()
    assert tuple(got["state"]) == (nav / WAD, vega / WAD, gross / WAD) and gross > 0
    assert got["live"] == list(market.live_series_ids())
