"""RiskConfig: bounds, rate limits, cross-field rules and roles of every parameter group.

The bounds cases are generated from risk/params.py's FIELDS tables and the contract's
revert message prints its own bounds, so each case proves the Python and on-chain
bounds identical. `risk_config` is a fresh RiskConfig at the risk/params.py defaults
with gov as admin and governor (in the deployed protocol the timelock governs).
"""

from dataclasses import dataclass

import ape
import pytest
from support import ZERO, fields, with_field

from risk.params import Limits, LiquidationParams, MarginParams, PoolParams, RateLimit
from risk.units import DAY, WAD

RATE = RateLimit()
MAX_REL = RATE.to_chain()[0]  # 25%


@dataclass(frozen=True)
class Group:
    """One parameter group: its Python mirror and its contract entry points."""

    params: type
    setter: str
    getter: str
    event: str
    group_id: int

    @property
    def defaults(self) -> tuple:
        return self.params().to_chain()


GROUPS = {
    "margin": Group(MarginParams, "set_margin_params", "margin_params", "MarginParamsSet", 0),
    "liquidation": Group(
        LiquidationParams, "set_liquidation_params", "liquidation_params", "LiquidationParamsSet", 1
    ),
    "pool": Group(PoolParams, "set_pool_params", "pool_params", "PoolParamsSet", 3),
    "limits": Group(Limits, "set_limits", "limits", "LimitsSet", 4),
}
BOUNDS_ONLY = {"spot_steps"}  # not rate limited

OUTSIDE = [
    pytest.param(g, i, value, id=f"{g}.{f.name}-{side}")
    for g, grp in GROUPS.items()
    for i, f in enumerate(grp.params.FIELDS)
    for side, value in (("below", f.lo - 1), ("above", f.hi + 1))
    if value >= 0
]
RATE_LIMITED = [
    pytest.param(g, i, id=f"{g}.{f.name}")
    for g, grp in GROUPS.items()
    for i, f in enumerate(grp.params.FIELDS)
    if f.name not in BOUNDS_ONLY
]


def stored(config, group: str) -> tuple:
    return tuple(getattr(config, GROUPS[group].getter)())


def setter(config, group: str):
    return getattr(config, GROUPS[group].setter)


def deploy_config(project, gov, **overrides):
    """A RiskConfig at the defaults, with whole groups replaced by `overrides` tuples."""
    args = [overrides.get(g, grp.defaults) for g, grp in GROUPS.items()]
    return gov.deploy(project.RiskConfig, *args, overrides.get("rate_limit", RATE.to_chain()))


# ape's isolation snapshots per fixture scope: build session and module fixtures first.
@pytest.fixture(scope="module")
def risk_config(protocol, project, gov):
    return deploy_config(project, gov)


@pytest.fixture(scope="module", autouse=True)
def _config_setup_first(gov, keeper, stranger, config, risk_config):
    pass


# --- deployment ---


def test_deploy__stores_every_group_and_roles(risk_config, gov):
    for g, grp in GROUPS.items():
        assert stored(risk_config, g) == grp.defaults
    assert risk_config.admin() == gov.address
    assert risk_config.governor() == gov.address


@pytest.mark.parametrize("edge", ["lo", "hi"])
def test_deploy__every_field_at_its_bound__accepted(project, gov, edge):
    """The bounds are inclusive: a config with every field at lo (or hi) deploys, except
    where a cross-field rule needs one field above its lo (short_min, max_discount,
    discount_rate: tested below), which then sits at its hi."""
    values = {g: tuple(getattr(f, edge) for f in grp.params.FIELDS) for g, grp in GROUPS.items()}
    if edge == "lo":
        values["margin"] = with_field(values["margin"], 7, MarginParams.FIELDS[7].hi)
        for i in (1, 2):
            values["liquidation"] = with_field(
                values["liquidation"], i, LiquidationParams.FIELDS[i].hi
            )
    config = deploy_config(project, gov, **values)
    for g in GROUPS:
        assert stored(config, g) == values[g]


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            {"margin": with_field(MarginParams().to_chain(), 8, 3 * WAD + 1)},
            f"config: im_factor outside [{WAD}, {3 * WAD}]",
        ),
        (
            {"liquidation": (2 * 10**17, 0, 10**17, 0)},
            "config: max_discount below start_discount",
        ),
        ({"rate_limit": (WAD // 2 + 1, DAY)}, "params: max_rel_change outside [0, 5e17]"),
        (
            {"liquidation": (0, 0, 0, 0)},
            "config: max_discount zero: no liquidator reward",
        ),
        (
            {"liquidation": (0, 0, 10**17, 0)},
            "config: start_discount and discount_rate both zero",
        ),
        (
            {"margin": with_field(with_field(MarginParams().to_chain(), 7, 0), 2, 0)},
            "config: short_min and vol_shock_up both zero",
        ),
    ],
    ids=[
        "bounds",
        "max-discount-below-start",
        "rate-limit",
        "no-reward",
        "no-discount",
        "unmargined-shorts",
    ],
)
def test_deploy__invalid_params__reverts(project, gov, overrides, message):
    with ape.reverts(message):
        deploy_config(project, gov, **overrides)


# --- setters: positive path and events ---


@pytest.mark.parametrize("group", list(GROUPS))
def test_set_params__within_limits__stores_and_emits_old_and_new(risk_config, gov, group):
    grp = GROUPS[group]
    old = grp.defaults
    # every rate-limited field up by exactly the limit (a quarter of its value)
    new = tuple(
        v if f.name in BOUNDS_ONLY else v + v * MAX_REL // WAD
        for f, v in zip(grp.params.FIELDS, old, strict=True)
    )
    tx = setter(risk_config, group)(new, sender=gov)
    assert stored(risk_config, group) == new
    ev = tx.decode_logs(getattr(risk_config, grp.event))
    assert [(tuple(e.old), tuple(e.new)) for e in ev] == [(old, new)]


# --- bounds (one case per field and side, from risk/params.py) ---


@pytest.mark.parametrize("group, index, value", OUTSIDE)
def test_set_params__field_outside_bounds__reverts_and_keeps_struct(
    risk_config, gov, group, index, value
):
    f = GROUPS[group].params.FIELDS[index]
    defaults = GROUPS[group].defaults
    with ape.reverts(f"config: {f.name} outside [{f.lo}, {f.hi}]"):
        setter(risk_config, group)(with_field(defaults, index, value), sender=gov)
    assert stored(risk_config, group) == defaults


# --- rate limits ---


@pytest.mark.parametrize("group, index", RATE_LIMITED)
def test_set_params__change_above_rate_limit__reverts_and_keeps_struct(
    risk_config, gov, group, index
):
    f = GROUPS[group].params.FIELDS[index]
    defaults = GROUPS[group].defaults
    allowed = defaults[index] * MAX_REL // WAD
    with ape.reverts(f"config: {f.name} change {allowed + 1} above rate limit {allowed}"):
        new = with_field(defaults, index, defaults[index] + allowed + 1)
        setter(risk_config, group)(new, sender=gov)
    assert stored(risk_config, group) == defaults


def test_set_margin_params__decrease_by_rate_limit__accepted(risk_config, gov):
    defaults = GROUPS["margin"].defaults
    new = with_field(defaults, 0, defaults[0] - defaults[0] // 4)  # spot_shock -25%
    risk_config.set_margin_params(new, sender=gov)
    assert stored(risk_config, "margin") == new


def test_set_margin_params__stamps_the_field_clock_exported_from_param_guard(
    risk_config, gov, chain
):
    """param_guard's rules are tested through its mock (tests/contracts/param_guard); here,
    that RiskConfig hands it the right group and field and exports its state."""
    tx = risk_config.set_margin_params(
        with_field(GROUPS["margin"].defaults, 0, 16 * 10**16), sender=gov
    )
    assert risk_config.last_update(0, 0) == tx.timestamp
    assert risk_config.last_update(0, 2) == 0
    limit = risk_config.rate_limit(0)
    assert (limit.max_rel_change, limit.min_interval) == (25 * 10**16, DAY)


def test_set_margin_params__spot_steps__bounds_only(risk_config, gov):
    defaults = GROUPS["margin"].defaults
    risk_config.set_margin_params(with_field(defaults, 1, 6), sender=gov)  # +100%
    risk_config.set_margin_params(with_field(defaults, 1, 1), sender=gov)  # at once, -83%
    assert risk_config.margin_params().spot_steps == 1


def test_set_params__other_field_or_group__not_throttled(risk_config, gov):
    margin = GROUPS["margin"].defaults
    liquidation = GROUPS["liquidation"].defaults
    risk_config.set_margin_params(with_field(margin, 0, 16 * 10**16), sender=gov)
    # same group, other field; then field index 0 of another group
    both = with_field(with_field(margin, 0, 16 * 10**16), 2, 6 * 10**17)
    risk_config.set_margin_params(both, sender=gov)
    risk_config.set_liquidation_params(with_field(liquidation, 0, 25 * 10**15), sender=gov)
    assert stored(risk_config, "margin") == both
    assert risk_config.liquidation_params().start_discount == 25 * 10**15


# --- cross-field rule ---


def test_set_liquidation_params__max_discount_below_start__reverts(project, gov):
    liquidation = (10**17, 2 * 10**16, 10**17, 10**17)  # start == max == 0.1
    config = deploy_config(project, gov, liquidation=liquidation)
    for bad in (with_field(liquidation, 2, 10**17 - 1), with_field(liquidation, 0, 10**17 + 1)):
        with ape.reverts("config: max_discount below start_discount"):
            config.set_liquidation_params(bad, sender=gov)
    assert tuple(config.liquidation_params()) == liquidation
    equal = (11 * 10**16, 2 * 10**16, 11 * 10**16, 10**17)
    config.set_liquidation_params(equal, sender=gov)
    assert tuple(config.liquidation_params()) == equal


# --- roles ---


@pytest.mark.parametrize("group", list(GROUPS))
def test_set_params__not_governor__reverts(risk_config, config, gov, stranger, group):
    new = with_field(GROUPS[group].defaults, 0, GROUPS[group].defaults[0] + 1)
    with ape.reverts("config: not governor"):
        setter(risk_config, group)(new, sender=stranger)
    with ape.reverts("config: not governor"):  # deployed: the admin handed over to the timelock
        setter(config, group)(new, sender=gov)
    assert stored(risk_config, group) == GROUPS[group].defaults


def test_set_governor__admin__hands_over_control(risk_config, gov, keeper):
    tx = risk_config.set_governor(keeper, sender=gov)
    assert risk_config.governor() == keeper.address
    assert [(e.role, e.account) for e in tx.decode_logs(risk_config.RoleSet)] == [
        ("governor", keeper.address)
    ]
    new = with_field(GROUPS["margin"].defaults, 0, 16 * 10**16)
    with ape.reverts("config: not governor"):
        risk_config.set_margin_params(new, sender=gov)
    risk_config.set_margin_params(new, sender=keeper)
    assert stored(risk_config, "margin") == new


def test_set_governor__not_governor__reverts(risk_config, gov, keeper, stranger):
    """Audit finding 2: the deployer (admin) took the governor role back from the timelock
    at any time, then set a (100%, 0 s) rate limit and moved margins in 8 transactions.
    Only the governor itself can now hand the role on, and no rate limit allows that."""
    risk_config.set_governor(keeper, sender=gov)
    for who in (stranger, gov):  # gov deployed it and is its admin: no power left
        with ape.reverts("config: not governor"):
            risk_config.set_governor(who, sender=who)
    assert risk_config.governor() == keeper.address
    with ape.reverts("params: max_rel_change outside [0, 5e17]"):
        risk_config.set_rate_limit(0, (WAD, 0), sender=keeper)
    with ape.reverts("params: min_interval outside [3600, 31536000]"):
        risk_config.set_rate_limit(0, (WAD // 2, 0), sender=keeper)
    risk_config.set_governor(stranger, sender=keeper)  # the governor may hand it on
    assert risk_config.governor() == stranger.address


def test_set_governor__zero_address__reverts(risk_config, gov):
    with ape.reverts("config: zero address"):
        risk_config.set_governor(ZERO, sender=gov)
    assert risk_config.governor() == gov.address


# --- set_rate_limit ---


@pytest.mark.parametrize("group", list(GROUPS))
def test_set_rate_limit__stores_and_emits(risk_config, gov, group):
    gid = GROUPS[group].group_id
    tx = risk_config.set_rate_limit(gid, (WAD // 2, 365 * DAY), sender=gov)
    ev = tx.decode_logs(risk_config.RateLimitSet)
    names = ("group", "old_max_rel_change", "new_max_rel_change")
    names += ("old_min_interval", "new_min_interval")
    assert [fields(e, *names) for e in ev] == [(gid, MAX_REL, WAD // 2, DAY, 365 * DAY)]


def test_set_rate_limit__applies_to_its_group_only(risk_config, gov, chain):
    """The limit is not readable on-chain, so check its effect."""
    risk_config.set_rate_limit(0, (WAD // 2, 3_600), sender=gov)  # margin: 50%, an hour
    margin = GROUPS["margin"].defaults
    t = risk_config.set_margin_params(with_field(margin, 0, 225 * 10**15), sender=gov).timestamp
    chain.pending_timestamp = t + 3_600
    risk_config.set_margin_params(with_field(margin, 0, 15 * 10**16), sender=gov)  # an hour on
    assert stored(risk_config, "margin") == margin
    pool = GROUPS["pool"].defaults
    with ape.reverts(f"config: spread_base change {pool[0] // 2} above rate limit {pool[0] // 4}"):
        risk_config.set_pool_params(with_field(pool, 0, pool[0] + pool[0] // 2), sender=gov)


@pytest.mark.parametrize("group", [2, 5])
def test_set_rate_limit__unknown_group__reverts(risk_config, gov, group):
    with ape.reverts("config: unknown parameter group"):
        risk_config.set_rate_limit(group, (WAD, 0), sender=gov)


def test_set_rate_limit__not_governor__reverts(risk_config, stranger):
    with ape.reverts("config: not governor"):
        risk_config.set_rate_limit(0, (WAD, 0), sender=stranger)


def test_cross_field_rules__mirror_refuses_what_the_contract_refuses():
    """risk.params checks the same combinations before anything is sent (audit finding 11:
    no liquidator reward; far out-of-the-money shorts with no margin)."""
    from risk.params import ParamError

    with pytest.raises(ParamError, match="max_discount = 0: no liquidator reward"):
        LiquidationParams(start_discount=0, discount_rate=0, max_discount=0).validate()
    with pytest.raises(ParamError, match="start_discount and discount_rate both 0"):
        LiquidationParams(start_discount=0, discount_rate=0, max_discount=0.1).validate()
    LiquidationParams(start_discount=0, discount_rate=0.01).validate()  # a growing discount
    with pytest.raises(ParamError, match="short_min and vol_shock_up both zero"):
        MarginParams(short_min=0, vol_shock_up=0).validate()
    MarginParams(short_min=0).validate()  # either one above zero is enough
    MarginParams(vol_shock_up=0).validate()
