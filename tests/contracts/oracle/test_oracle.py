"""Oracle: pushes, staleness, settlement prices, expiries, the feed, roles and parameters.

`oracle` here is a fresh Oracle (gov is admin and governor, keeper the updater) priced
at 2000 USD with a 60% vol for `expiry`; `blank_oracle` has never been priced.
`protocol.oracle` is the deployed one, whose governor is the timelock.
Time: `chain.pending_timestamp = t` sets the next transaction's timestamp;
`chain.mine(timestamp=t)` sets the block that views read.
"""

import ape
import pytest
from ape.exceptions import ContractLogicError
from support import ZERO, fields, with_field

from risk.params import OracleParams, RateLimit
from risk.units import DAY, WAD

SPOT = 2_000 * WAD
VOL = 6 * 10**17
VOL_MIN = 10**16
VOL_MAX = 5 * WAD
SPOT_MAX = 10**12 * WAD
MAX_PENDING = 64
PARAMS = OracleParams().to_chain()  # (heartbeat, staleness_limit, max_spot_dev, max_vol_dev)
RATE = RateLimit().to_chain()  # (max_rel_change 25%, min_interval 1 day)
STALENESS = OracleParams().staleness_limit


def pending_expiries(solo_oracle) -> list[int]:
    """The whole pending_expiries array (the getter reads one index at a time)."""
    out: list[int] = []
    while True:
        try:
            out.append(solo_oracle.pending_expiries(len(out)))
        except ContractLogicError:
            return out


@pytest.fixture(scope="module")
def expiry(protocol, chain):
    return chain.pending_timestamp + 30 * DAY


# ape's isolation snapshots the chain per fixture scope and wants every session and module
# fixture set up before the first test runs: module fixtures ask for `protocol` first, and
# `_setup_first` builds them all at once.


@pytest.fixture(scope="module")
def blank_oracle(protocol, project, gov, keeper):
    solo_oracle = gov.deploy(project.Oracle, PARAMS, RATE)
    solo_oracle.set_updater(keeper, True, sender=gov)
    return solo_oracle


@pytest.fixture(scope="module")
def solo_oracle(protocol, project, gov, keeper, expiry):
    solo_oracle = gov.deploy(project.Oracle, PARAMS, RATE)
    solo_oracle.set_updater(keeper, True, sender=gov)
    solo_oracle.push(SPOT, [expiry], [VOL], sender=keeper)
    return solo_oracle


@pytest.fixture(scope="module")
def make_feed(protocol, project, gov):
    """make_feed(decimals): an aggregator_mock owned by gov."""

    def _make(decimals: int = 8):
        return gov.deploy(project.aggregator_mock, decimals)

    return _make


@pytest.fixture(scope="module", autouse=True)
def _oracle_setup_first(
    gov, lp, writer, buyer, keeper, stranger, blank_oracle, solo_oracle, make_feed
):
    pass


# --- deployment and first reads ---


def test_deploy__sets_roles_params_and_no_price(blank_oracle, gov):
    assert blank_oracle.admin() == gov.address
    assert blank_oracle.governor() == gov.address
    assert tuple(blank_oracle.params()) == PARAMS
    assert blank_oracle.market() == ZERO
    assert blank_oracle.feed() == ZERO
    assert blank_oracle.round_id() == 0


@pytest.mark.parametrize(
    "params, rate_limit, message",
    [
        (with_field(PARAMS, 0, 59), RATE, "oracle: heartbeat outside [60, 86400]"),
        ((3_600, 3_599, *PARAMS[2:]), RATE, "oracle: staleness_limit below heartbeat"),
        (PARAMS, (WAD // 2 + 1, DAY), "params: max_rel_change outside [0, 5e17]"),
        (PARAMS, (WAD // 2, 3_599), "params: min_interval outside [3600, 31536000]"),
    ],
    ids=["param-bounds", "staleness-below-heartbeat", "max-rel-change", "min-interval"],
)
def test_deploy__invalid_params__reverts(project, gov, params, rate_limit, message):
    with ape.reverts(message):
        gov.deploy(project.Oracle, params, rate_limit)


def test_reads__before_first_price(blank_oracle, expiry):
    with ape.reverts("oracle: no price"):
        blank_oracle.spot()
    with ape.reverts("oracle: no vol for expiry"):
        blank_oracle.vol(expiry)
    assert blank_oracle.is_stale()
    assert tuple(blank_oracle.latestRoundData()) == (0, 0, 0, 0, 0)
    assert blank_oracle.decimals() == 8


# --- push ---


def test_push__spot_and_vols__stores_round_and_emits(blank_oracle, keeper, expiry):
    other = expiry + 7 * DAY
    tx = blank_oracle.push(SPOT, [expiry, other], [VOL, 7 * 10**17], sender=keeper)
    ts = tx.timestamp
    assert blank_oracle.round_id() == 1
    assert blank_oracle.last_spot() == SPOT
    assert blank_oracle.updated_at() == ts
    assert (blank_oracle.round_spot(1), blank_oracle.round_time(1)) == (SPOT, ts)
    assert blank_oracle.spot() == SPOT
    assert not blank_oracle.is_stale()
    assert (blank_oracle.vol(expiry), blank_oracle.vol(other)) == (VOL, 7 * 10**17)
    assert blank_oracle.vol_updated_at(expiry) == ts
    spot_ev = tx.decode_logs(blank_oracle.SpotUpdated)
    assert [fields(e, "round_id", "spot", "timestamp", "source") for e in spot_ev] == [
        (1, SPOT, ts, keeper.address)
    ]
    vol_ev = tx.decode_logs(blank_oracle.VolUpdated)
    assert [fields(e, "expiry", "vol", "timestamp") for e in vol_ev] == [
        (expiry, VOL, ts),
        (other, 7 * 10**17, ts),
    ]


def test_version__every_push_with_data__increments_once(blank_oracle, keeper, expiry):
    assert blank_oracle.version() == 0
    blank_oracle.push(SPOT, [expiry], [VOL], sender=keeper)  # spot and vols: one version
    assert blank_oracle.version() == 1
    blank_oracle.push(0, [expiry], [VOL + 10**16], sender=keeper)  # vols only
    assert blank_oracle.version() == 2
    blank_oracle.push(SPOT + WAD, [], [], sender=keeper)  # spot only
    assert blank_oracle.version() == 3
    blank_oracle.push(0, [], [], sender=keeper)  # nothing changes
    assert blank_oracle.version() == 3


def test_push__zero_price__updates_vols_only(solo_oracle, keeper, expiry):
    round_before, time_before = solo_oracle.round_id(), solo_oracle.updated_at()
    tx = solo_oracle.push(0, [expiry], [7 * 10**17], sender=keeper)
    assert solo_oracle.vol(expiry) == 7 * 10**17
    assert solo_oracle.vol_updated_at(expiry) == tx.timestamp
    assert (solo_oracle.round_id(), solo_oracle.last_spot(), solo_oracle.updated_at()) == (
        round_before,
        SPOT,
        time_before,
    )
    assert tx.decode_logs(solo_oracle.SpotUpdated) == []


@pytest.mark.parametrize("price", [2_500 * WAD, 1_500 * WAD], ids=["up-25%", "down-25%"])
def test_push__spot_deviation_at_limit__accepted(solo_oracle, keeper, price):
    solo_oracle.push(price, [], [], sender=keeper)
    assert solo_oracle.last_spot() == price
    assert solo_oracle.round_id() == 2


@pytest.mark.parametrize("price", [2_501 * WAD, 1_499 * WAD], ids=["up", "down"])
def test_push__spot_deviation_too_large__reverts(solo_oracle, keeper, price):
    with ape.reverts("oracle: spot deviation too large"):
        solo_oracle.push(price, [], [], sender=keeper)
    assert (solo_oracle.last_spot(), solo_oracle.round_id()) == (SPOT, 1)


def test_push__vol_deviation_at_limit__accepted(solo_oracle, keeper, expiry):
    solo_oracle.push(0, [expiry], [2 * VOL], sender=keeper)  # +100%
    assert solo_oracle.vol(expiry) == 2 * VOL


def test_push__vol_deviation_too_large__reverts(solo_oracle, keeper, expiry):
    with ape.reverts("oracle: vol deviation too large"):
        solo_oracle.push(0, [expiry], [2 * VOL + 1], sender=keeper)
    assert solo_oracle.vol(expiry) == VOL


def test_push__bad_vol__reverts_whole_update(solo_oracle, keeper, expiry):
    with ape.reverts("oracle: vol deviation too large"):
        solo_oracle.push(2_100 * WAD, [expiry], [3 * VOL], sender=keeper)
    assert (solo_oracle.last_spot(), solo_oracle.round_id(), solo_oracle.vol(expiry)) == (
        SPOT,
        1,
        VOL,
    )


@pytest.mark.parametrize("vol", [VOL_MIN, VOL_MAX], ids=["min", "max"])
def test_push__vol_at_bounds__accepted(solo_oracle, keeper, expiry, vol):
    new_expiry = expiry + DAY  # no previous vol, so no deviation limit
    solo_oracle.push(0, [new_expiry], [vol], sender=keeper)
    assert solo_oracle.vol(new_expiry) == vol


@pytest.mark.parametrize("vol", [VOL_MIN - 1, VOL_MAX + 1], ids=["below", "above"])
def test_push__vol_outside_bounds__reverts(solo_oracle, keeper, expiry, vol):
    with ape.reverts("oracle: vol outside [1e16, 5e18]"):
        solo_oracle.push(0, [expiry + DAY], [vol], sender=keeper)
    assert solo_oracle.vols(expiry + DAY) == 0


def test_push__spot_at_max__accepted(blank_oracle, keeper):
    blank_oracle.push(SPOT_MAX, [], [], sender=keeper)
    assert blank_oracle.last_spot() == SPOT_MAX


def test_push__spot_above_max__reverts(blank_oracle, keeper):
    with ape.reverts("oracle: spot outside (0, 1e30]"):
        blank_oracle.push(SPOT_MAX + 1, [], [], sender=keeper)
    assert blank_oracle.round_id() == 0


def test_push__lengths_differ__reverts(solo_oracle, keeper, expiry):
    with ape.reverts("oracle: expiries and vols differ in length"):
        solo_oracle.push(SPOT, [expiry], [], sender=keeper)


@pytest.mark.parametrize("who", ["stranger", "gov"], ids=["stranger", "admin"])
def test_push__not_updater__reverts(solo_oracle, request, who):
    with ape.reverts("oracle: not updater"):
        solo_oracle.push(2_100 * WAD, [], [], sender=request.getfixturevalue(who))
    assert solo_oracle.round_id() == 1


# --- staleness ---


def test_spot__at_staleness_limit__returns_price(solo_oracle, chain):
    chain.mine(timestamp=solo_oracle.updated_at() + STALENESS)
    assert solo_oracle.spot() == SPOT
    assert not solo_oracle.is_stale()


def test_spot__past_staleness_limit__reverts(solo_oracle, chain):
    chain.mine(timestamp=solo_oracle.updated_at() + STALENESS + 1)
    with ape.reverts("oracle: stale price"):
        solo_oracle.spot()
    assert solo_oracle.is_stale()


def test_vol__past_staleness_limit__reverts(solo_oracle, chain, keeper, expiry):
    chain.pending_timestamp = solo_oracle.vol_updated_at(expiry) + STALENESS
    solo_oracle.push(2_010 * WAD, [], [], sender=keeper)  # a spot push does not refresh vols
    chain.mine(timestamp=solo_oracle.vol_updated_at(expiry) + STALENESS + 1)
    assert solo_oracle.spot() == 2_010 * WAD
    with ape.reverts("oracle: stale vol"):
        solo_oracle.vol(expiry)


def test_vol__vol_only_push__refreshes_vol_not_spot(solo_oracle, chain, keeper, expiry):
    chain.pending_timestamp = solo_oracle.updated_at() + STALENESS
    solo_oracle.push(0, [expiry], [VOL], sender=keeper)
    chain.mine(timestamp=solo_oracle.updated_at() + STALENESS + 1)
    assert solo_oracle.vol(expiry) == VOL
    with ape.reverts("oracle: stale price"):
        solo_oracle.spot()


# --- settlement prices ---


def test_settlement__first_price_at_or_after_expiry__fixes_it(solo_oracle, chain, gov, keeper):
    e = chain.pending_timestamp + 1_000
    solo_oracle.register_expiry(e, sender=gov)
    chain.pending_timestamp = e - 1
    solo_oracle.push(2_010 * WAD, [], [], sender=keeper)
    assert solo_oracle.settlement_price(e) == 0
    assert pending_expiries(solo_oracle) == [e]
    chain.pending_timestamp = e
    tx = solo_oracle.push(2_020 * WAD, [], [], sender=keeper)
    assert solo_oracle.settlement_price(e) == 2_020 * WAD
    assert solo_oracle.settlement_prices(e) == 2_020 * WAD
    assert pending_expiries(solo_oracle) == []
    ev = tx.decode_logs(solo_oracle.SettlementPriceFixed)
    assert [(x.expiry, x.price, x.round_id) for x in ev] == [(e, 2_020 * WAD, 3)]


def test_settlement__later_pushes__never_overwrite(solo_oracle, chain, gov, keeper):
    e = chain.pending_timestamp + 1_000
    solo_oracle.register_expiry(e, sender=gov)
    chain.pending_timestamp = e + 10
    solo_oracle.push(2_020 * WAD, [], [], sender=keeper)
    tx = solo_oracle.push(2_200 * WAD, [], [], sender=keeper)
    assert solo_oracle.settlement_price(e) == 2_020 * WAD
    assert tx.decode_logs(solo_oracle.SettlementPriceFixed) == []


def test_settlement__several_pending__each_fixed_by_its_first_price(
    solo_oracle, chain, gov, keeper
):
    now = chain.pending_timestamp
    e1, e2, e3 = now + 1_000, now + 2_000, now + 3_000
    for e in (e3, e1, e2):
        solo_oracle.register_expiry(e, sender=gov)
    chain.pending_timestamp = e2 + 5
    tx = solo_oracle.push(2_100 * WAD, [], [], sender=keeper)
    assert sorted(x.expiry for x in tx.decode_logs(solo_oracle.SettlementPriceFixed)) == [e1, e2]
    assert pending_expiries(solo_oracle) == [e3]
    chain.pending_timestamp = e3
    solo_oracle.push(2_200 * WAD, [], [], sender=keeper)
    prices = [solo_oracle.settlement_price(e) for e in (e1, e2, e3)]
    assert prices == [2_100 * WAD, 2_100 * WAD, 2_200 * WAD]
    assert pending_expiries(solo_oracle) == []


def test_settlement__vol_only_push_after_expiry__does_not_fix(
    solo_oracle, chain, gov, keeper, expiry
):
    e = chain.pending_timestamp + 1_000
    solo_oracle.register_expiry(e, sender=gov)
    chain.pending_timestamp = e + 1
    solo_oracle.push(0, [expiry], [VOL], sender=keeper)
    assert solo_oracle.settlement_price(e) == 0
    assert pending_expiries(solo_oracle) == [e]


# --- register_expiry ---


def test_register_expiry__admin__appends_and_emits(solo_oracle, chain, gov):
    e = chain.pending_timestamp + DAY
    tx = solo_oracle.register_expiry(e, sender=gov)
    assert pending_expiries(solo_oracle) == [e]
    assert [x.expiry for x in tx.decode_logs(solo_oracle.ExpiryRegistered)] == [e]


def test_register_expiry__market__appends(protocol, chain, gov):
    """The deployed market registers the expiry of every series it creates."""
    e = chain.pending_timestamp + 3 * DAY
    before = pending_expiries(protocol.oracle)
    protocol.market.create_series(2_000 * WAD, e, True, sender=gov)
    assert pending_expiries(protocol.oracle) == before + [e]


def test_register_expiry__market_role_set__may_register(solo_oracle, chain, gov, writer):
    solo_oracle.set_market(writer, sender=gov)
    e = chain.pending_timestamp + DAY
    solo_oracle.register_expiry(e, sender=writer)
    assert pending_expiries(solo_oracle) == [e]


def test_register_expiry__stranger__reverts(solo_oracle, chain, stranger):
    with ape.reverts("oracle: not market"):
        solo_oracle.register_expiry(chain.pending_timestamp + DAY, sender=stranger)
    assert pending_expiries(solo_oracle) == []


@pytest.mark.parametrize("offset", [0, -1], ids=["now", "past"])
def test_register_expiry__not_in_future__reverts(solo_oracle, chain, gov, offset):
    t = chain.pending_timestamp + 100
    chain.pending_timestamp = t
    with ape.reverts("oracle: expiry not in the future"):
        solo_oracle.register_expiry(t + offset, sender=gov)
    assert pending_expiries(solo_oracle) == []


def test_register_expiry__duplicate__is_a_no_op(solo_oracle, chain, gov):
    e = chain.pending_timestamp + DAY
    solo_oracle.register_expiry(e, sender=gov)
    tx = solo_oracle.register_expiry(e, sender=gov)
    assert pending_expiries(solo_oracle) == [e]
    assert tx.decode_logs(solo_oracle.ExpiryRegistered) == []


def test_register_expiry__max_pending__reverts(solo_oracle, chain, gov):
    first = chain.pending_timestamp + DAY
    for i in range(MAX_PENDING):
        solo_oracle.register_expiry(first + i, sender=gov)
    with ape.reverts("oracle: too many pending expiries"):
        solo_oracle.register_expiry(first + MAX_PENDING, sender=gov)
    solo_oracle.register_expiry(first, sender=gov)  # a duplicate is still a no-op when full
    assert pending_expiries(solo_oracle) == [first + i for i in range(MAX_PENDING)]


# --- pull_from_feed ---


def test_pull_from_feed__no_feed__reverts(solo_oracle, stranger):
    with ape.reverts("oracle: no feed"):
        solo_oracle.pull_from_feed(sender=stranger)


@pytest.mark.parametrize(
    "decimals, answer, price",
    [
        (8, 2_000_12345678, 2_000_12345678 * 10**10),
        (18, 2_000_123456789012345678, 2_000_123456789012345678),
        (20, 2_000_123456789012345678_99, 2_000_123456789012345678),
        (0, 2_000, 2_000 * WAD),
    ],
    ids=["8-decimals", "18-decimals", "20-decimals", "0-decimals"],
)
def test_pull_from_feed__converts_to_18_decimals(
    blank_oracle, make_feed, chain, gov, stranger, decimals, answer, price
):
    feed = make_feed(decimals)
    blank_oracle.set_feed(feed, sender=gov)
    t = chain.pending_timestamp - 60
    feed.set_answer(answer, t, sender=gov)
    tx = blank_oracle.pull_from_feed(sender=stranger)  # anyone may pull
    assert blank_oracle.last_spot() == price
    assert blank_oracle.updated_at() == t  # the round's time, not the block's
    assert (blank_oracle.round_spot(1), blank_oracle.round_time(1)) == (price, t)
    ev = tx.decode_logs(blank_oracle.SpotUpdated)
    assert [fields(e, "round_id", "spot", "timestamp", "source") for e in ev] == [
        (1, price, t, feed.address)
    ]
    assert blank_oracle.version() == 1


def test_pull_from_feed__decimals_above_36__reverts(blank_oracle, make_feed, chain, gov):
    feed = make_feed(37)
    blank_oracle.set_feed(feed, sender=gov)
    feed.set_answer(2_000 * 10**37, chain.pending_timestamp, sender=gov)
    with ape.reverts("oracle: feed decimals outside [0, 36]"):
        blank_oracle.pull_from_feed(sender=gov)
    assert blank_oracle.round_id() == 0


@pytest.mark.parametrize("answer", [0, -1], ids=["zero", "negative"])
def test_pull_from_feed__non_positive_answer__reverts(solo_oracle, make_feed, chain, gov, answer):
    feed = make_feed(8)
    solo_oracle.set_feed(feed, sender=gov)
    feed.set_answer(answer, chain.pending_timestamp, sender=gov)
    with ape.reverts("oracle: feed answer not positive"):
        solo_oracle.pull_from_feed(sender=gov)
    assert (solo_oracle.round_id(), solo_oracle.last_spot()) == (1, SPOT)


def test_pull_from_feed__round_at_staleness_limit__accepted(solo_oracle, make_feed, chain, gov):
    feed = make_feed(8)
    solo_oracle.set_feed(feed, sender=gov)
    t = solo_oracle.updated_at() + STALENESS + 10
    feed.set_answer(2_010 * 10**8, t - STALENESS, sender=gov)
    chain.pending_timestamp = t
    solo_oracle.pull_from_feed(sender=gov)
    assert solo_oracle.last_spot() == 2_010 * WAD


def test_pull_from_feed__stale_round__reverts(solo_oracle, make_feed, chain, gov):
    feed = make_feed(8)
    solo_oracle.set_feed(feed, sender=gov)
    t = solo_oracle.updated_at() + STALENESS + 10
    feed.set_answer(2_010 * 10**8, t - STALENESS - 1, sender=gov)
    chain.pending_timestamp = t
    with ape.reverts("oracle: feed stale"):
        solo_oracle.pull_from_feed(sender=gov)
    assert solo_oracle.round_id() == 1


def test_pull_from_feed__round_not_newer__reverts(solo_oracle, make_feed, gov):
    feed = make_feed(8)
    solo_oracle.set_feed(feed, sender=gov)
    feed.set_answer(2_010 * 10**8, solo_oracle.updated_at(), sender=gov)
    with ape.reverts("oracle: feed round not newer"):
        solo_oracle.pull_from_feed(sender=gov)
    assert solo_oracle.round_id() == 1


def test_pull_from_feed__deviation_too_large__reverts(solo_oracle, make_feed, chain, gov):
    feed = make_feed(8)
    solo_oracle.set_feed(feed, sender=gov)
    feed.set_answer(2_501 * 10**8, chain.pending_timestamp, sender=gov)
    with ape.reverts("oracle: spot deviation too large"):
        solo_oracle.pull_from_feed(sender=gov)
    assert solo_oracle.last_spot() == SPOT


def test_pull_from_feed__settlement_follows_round_time(solo_oracle, make_feed, chain, gov):
    """A round dated before the expiry never fixes it, even when pulled after it."""
    feed = make_feed(8)
    solo_oracle.set_feed(feed, sender=gov)
    e = chain.pending_timestamp + 1_000
    solo_oracle.register_expiry(e, sender=gov)
    feed.set_answer(2_010 * 10**8, e - 1, sender=gov)
    chain.pending_timestamp = e + 50
    solo_oracle.pull_from_feed(sender=gov)
    assert solo_oracle.settlement_price(e) == 0
    feed.set_answer(2_020 * 10**8, e, sender=gov)
    solo_oracle.pull_from_feed(sender=gov)
    assert solo_oracle.settlement_price(e) == 2_020 * WAD


def test_pull_from_feed__round_dated_in_future__cannot_fix_settlement_early(
    solo_oracle, make_feed, chain, gov, keeper
):
    feed = make_feed(8)
    solo_oracle.set_feed(feed, sender=gov)
    e = chain.pending_timestamp + DAY
    solo_oracle.register_expiry(e, sender=gov)
    feed.set_answer(2_010 * 10**8, e, sender=gov)  # dated a day ahead
    with ape.reverts("oracle: feed round in the future"):
        solo_oracle.pull_from_feed(sender=gov)
    assert chain.blocks.head.timestamp < e
    assert solo_oracle.settlement_price(e) == 0
    solo_oracle.push(2_020 * WAD, [], [], sender=keeper)  # updaters keep working


# --- Chainlink-style reads ---


def test_latest_round_data__spot_with_8_decimals(blank_oracle, keeper):
    price = 2_000_123456789012345678
    tx = blank_oracle.push(price, [], [], sender=keeper)
    rid, answer, started, updated, answered = blank_oracle.latestRoundData()
    assert (rid, answer, answered) == (1, 2_000_12345678, 1)
    assert started == updated == tx.timestamp
    assert blank_oracle.decimals() == 8


# --- roles ---


@pytest.mark.parametrize("role", ["governor", "market"])
def test_set_role__admin__sets_and_emits(solo_oracle, gov, writer, role):
    tx = getattr(solo_oracle, f"set_{role}")(writer, sender=gov)
    assert getattr(solo_oracle, role)() == writer.address
    ev = tx.decode_logs(solo_oracle.RoleSet)
    assert [(e.role, e.account) for e in ev] == [(role, writer.address)]


def test_set_updater__allows_and_removes(solo_oracle, gov, writer, keeper):
    tx = solo_oracle.set_updater(writer, True, sender=gov)
    assert solo_oracle.updaters(writer)
    assert [(e.updater, e.allowed) for e in tx.decode_logs(solo_oracle.UpdaterSet)] == [
        (writer.address, True)
    ]
    solo_oracle.push(2_010 * WAD, [], [], sender=writer)
    solo_oracle.set_updater(keeper, False, sender=gov)
    assert not solo_oracle.updaters(keeper)
    with ape.reverts("oracle: not updater"):
        solo_oracle.push(2_020 * WAD, [], [], sender=keeper)


def test_set_feed__sets_and_disables(solo_oracle, make_feed, gov):
    feed = make_feed(8)
    tx = solo_oracle.set_feed(feed, sender=gov)
    assert solo_oracle.feed() == feed.address
    assert [e.feed for e in tx.decode_logs(solo_oracle.FeedSet)] == [feed.address]
    solo_oracle.set_feed(ZERO, sender=gov)  # empty disables pulling
    assert solo_oracle.feed() == ZERO
    with ape.reverts("oracle: no feed"):
        solo_oracle.pull_from_feed(sender=gov)


SETTERS = {
    "set_governor": lambda who: (who,),
    "set_market": lambda who: (who,),
    "set_updater": lambda who: (who, True),
    "set_feed": lambda who: (who,),
}


@pytest.mark.parametrize("setter", list(SETTERS))
def test_set_role__not_allowed__reverts(solo_oracle, gov, keeper, stranger, setter):
    """Audit finding 2: the admin added updaters and feeds, and took the governor role
    back, at once. Those powers are now the governor's (the timelock's): once the governor
    moved to keeper, the admin (gov) can do none of them; the market is wired by the
    admin, once."""
    solo_oracle.set_governor(keeper, sender=gov)
    reason = "oracle: not admin" if setter == "set_market" else "oracle: not governor"
    for who in (stranger, gov if setter != "set_market" else keeper):
        with ape.reverts(reason):
            getattr(solo_oracle, setter)(*SETTERS[setter](stranger), sender=who)
    assert (solo_oracle.market(), solo_oracle.feed(), solo_oracle.updaters(stranger)) == (
        ZERO,
        ZERO,
        False,
    )
    assert solo_oracle.governor() == keeper.address


@pytest.mark.parametrize("setter", ["set_governor", "set_market", "set_updater"])
def test_set_role__zero_address__reverts(solo_oracle, gov, setter):
    with ape.reverts("oracle: zero address"):
        getattr(solo_oracle, setter)(*SETTERS[setter](ZERO), sender=gov)
    assert (solo_oracle.governor(), solo_oracle.market()) == (gov.address, ZERO)


# --- parameters ---


def test_set_oracle_params__within_limits__stores_and_emits(solo_oracle, gov):
    # +25% heartbeat (the rate limit), -25% staleness, other fields unchanged
    new = (4_500, 5_400, PARAMS[2], PARAMS[3])
    version = solo_oracle.version()
    tx = solo_oracle.set_oracle_params(new, sender=gov)
    assert tuple(solo_oracle.params()) == new
    assert solo_oracle.version() == version + 1  # staleness decides whether reads revert
    ev = tx.decode_logs(solo_oracle.OracleParamsSet)
    assert [(tuple(e.old), tuple(e.new)) for e in ev] == [(PARAMS, new)]


def test_set_oracle_params__not_governor__reverts(solo_oracle, protocol, gov, stranger):
    new = with_field(PARAMS, 0, 4_000)
    with ape.reverts("oracle: not governor"):
        solo_oracle.set_oracle_params(new, sender=stranger)
    with ape.reverts("oracle: not governor"):  # deployed: the admin handed over to the timelock
        protocol.oracle.set_oracle_params(new, sender=gov)
    assert tuple(solo_oracle.params()) == PARAMS


@pytest.mark.parametrize(
    "index, value",
    [(i, f.lo - 1) for i, f in enumerate(OracleParams.FIELDS)]
    + [(i, f.hi + 1) for i, f in enumerate(OracleParams.FIELDS)],
    ids=[f"{f.name}-below" for f in OracleParams.FIELDS]
    + [f"{f.name}-above" for f in OracleParams.FIELDS],
)
def test_set_oracle_params__field_outside_bounds__reverts(solo_oracle, gov, index, value):
    f = OracleParams.FIELDS[index]
    with ape.reverts(f"oracle: {f.name} outside [{f.lo}, {f.hi}]"):
        solo_oracle.set_oracle_params(with_field(PARAMS, index, value), sender=gov)
    assert tuple(solo_oracle.params()) == PARAMS


def test_set_oracle_params__change_above_rate_limit__reverts(solo_oracle, gov):
    with ape.reverts("oracle: heartbeat change 901 above rate limit 900"):
        solo_oracle.set_oracle_params(with_field(PARAMS, 0, 4_501), sender=gov)
    assert tuple(solo_oracle.params()) == PARAMS


def test_set_oracle_params__same_field_too_soon__reverts(solo_oracle, chain, gov):
    chain.pending_timestamp = t = chain.pending_timestamp + 10
    solo_oracle.set_oracle_params(with_field(PARAMS, 0, 4_000), sender=gov)
    chain.pending_timestamp = t + 1_000
    with ape.reverts("oracle: heartbeat changed too recently, wait 85400 s"):
        solo_oracle.set_oracle_params(with_field(PARAMS, 0, 4_100), sender=gov)
    assert solo_oracle.params().heartbeat == 4_000
    chain.pending_timestamp = t + DAY
    solo_oracle.set_oracle_params(with_field(PARAMS, 0, 4_100), sender=gov)
    assert solo_oracle.params().heartbeat == 4_100


def test_set_oracle_params__other_field__not_throttled(solo_oracle, gov):
    solo_oracle.set_oracle_params(with_field(PARAMS, 0, 4_000), sender=gov)
    new = (4_000, 8_000, PARAMS[2], PARAMS[3])  # heartbeat unchanged, staleness changes
    solo_oracle.set_oracle_params(new, sender=gov)
    assert tuple(solo_oracle.params()) == new


def test_set_oracle_params__staleness_below_heartbeat__reverts(solo_oracle, gov):
    solo_oracle.set_rate_limit(2, (WAD // 2, DAY), sender=gov)  # allow 50% steps
    new = (5_400, 3_600, PARAMS[2], PARAMS[3])
    with ape.reverts("oracle: staleness_limit below heartbeat"):
        solo_oracle.set_oracle_params(new, sender=gov)
    assert tuple(solo_oracle.params()) == PARAMS


def test_set_rate_limit__stores_and_emits(solo_oracle, gov, chain):
    tx = solo_oracle.set_rate_limit(2, (WAD // 2, 3_600), sender=gov)
    ev = tx.decode_logs(solo_oracle.RateLimitSet)
    names = ("group", "old_max_rel_change", "new_max_rel_change")
    names += ("old_min_interval", "new_min_interval")
    assert [fields(e, *names) for e in ev] == [(2, 25 * 10**16, WAD // 2, DAY, 3_600)]
    # check its effect: 50% steps an hour apart
    t = solo_oracle.set_oracle_params(with_field(PARAMS, 0, 5_400), sender=gov).timestamp
    chain.pending_timestamp = t + 3_600
    solo_oracle.set_oracle_params(with_field(PARAMS, 0, 2_700), sender=gov)
    assert solo_oracle.params().heartbeat == 2_700


@pytest.mark.parametrize("group", [0, 3])
def test_set_rate_limit__other_group__reverts(solo_oracle, gov, group):
    with ape.reverts("oracle: unknown parameter group"):
        solo_oracle.set_rate_limit(group, (WAD, 0), sender=gov)


def test_set_rate_limit__not_governor__reverts(solo_oracle, stranger):
    with ape.reverts("oracle: not governor"):
        solo_oracle.set_rate_limit(2, (WAD, 0), sender=stranger)


def test_rate_limit__exported_getters(solo_oracle, keeper):
    limit = solo_oracle.rate_limit(2)
    assert (limit.max_rel_change, limit.min_interval) == (25 * 10**16, 86_400)
    assert solo_oracle.last_update(2, 0) == 0


# --- audit finding 6: the allowed spot move grows with the time since the last update ---

HEARTBEAT = OracleParams().heartbeat


def test_pull_from_feed__gap_after_a_jump__accepted_once_time_allows(
    solo_oracle, make_feed, chain, gov
):
    """The audit's freeze: the feed at 2,600 and the oracle's last spot 2,000 (+30%, above
    the 25% a single update may move). Every pull reverted, so after staleness_limit the
    market could neither liquidate nor settle. The allowance is max_spot_deviation x
    sqrt(elapsed / heartbeat) beyond one heartbeat: 35.4% after the 2 h staleness limit."""
    feed = make_feed(8)
    solo_oracle.set_feed(feed, sender=gov)
    t = solo_oracle.updated_at() + STALENESS
    feed.set_answer(2_600 * 10**8, t, sender=gov)
    chain.pending_timestamp = t + 1
    solo_oracle.pull_from_feed(sender=gov)
    assert solo_oracle.last_spot() == 2_600 * WAD and solo_oracle.round_id() == 2


def test_push__jump_within_one_heartbeat__still_capped(solo_oracle, keeper, chain):
    """Within a heartbeat the fat-finger cap is unchanged: +30% 30 minutes later reverts."""
    chain.pending_timestamp = solo_oracle.updated_at() + HEARTBEAT // 2
    with ape.reverts("oracle: spot deviation too large"):
        solo_oracle.push(2_600 * WAD, [], [], sender=keeper)
    assert solo_oracle.round_id() == 1


@pytest.mark.parametrize(
    ("hours", "price", "accepted"),
    [(1.44, 2_600, True), (1.40, 2_600, False), (4, 3_000, True), (4, 3_001, False)],
    ids=["1.44h-30%", "1.40h-30%", "4h-50%", "4h-50.05%"],
)
def test_push__allowance_grows_with_the_square_root_of_time(
    solo_oracle, keeper, chain, hours, price, accepted
):
    """25% x sqrt(1.44) = 30%; 25% x sqrt(4) = 50%: the on-chain rule, and its mirror
    risk.params.allowed_spot_deviation, at and beyond the edge."""
    elapsed = int(hours * HEARTBEAT)
    chain.pending_timestamp = solo_oracle.updated_at() + elapsed
    allowed = OracleParams().allowed_spot_deviation(elapsed)
    assert (abs(price / 2_000 - 1) <= allowed + 1e-15) is accepted
    if accepted:
        solo_oracle.push(price * WAD, [], [], sender=keeper)
        assert solo_oracle.last_spot() == price * WAD
    else:
        with ape.reverts("oracle: spot deviation too large"):
            solo_oracle.push(price * WAD, [], [], sender=keeper)
