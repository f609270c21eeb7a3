"""onchain.governance: the checks `ape run params propose` makes before sending."""

import pytest

from onchain.governance import (
    GRACE_PERIOD,
    ChangeError,
    apply_changes,
    check_bounds,
    check_rate_limit,
    decode_call,
    encode_set,
    parse_changes,
    proposal_status,
)
from risk.params import MarginParams, PoolParams

WAD = 10**18
DAY = 86_400
MARGIN = MarginParams().to_chain()
POOL = PoolParams().to_chain()
NEVER = (0,) * len(MARGIN)


def _margin(**changes):
    return apply_changes("margin", MARGIN, parse_changes("margin", changes))


def test_rate_limit__change_within_limit__allowed():
    new = _margin(im_factor=1.6)  # 1.3 * 1.25 = 1.625
    assert check_rate_limit("margin", MARGIN, new, WAD // 4, DAY, NEVER, 10**9) == []


def test_rate_limit__too_large_change__names_field_and_allowed_range():
    new = _margin(im_factor=2.0)
    (refusal,) = check_rate_limit("margin", MARGIN, new, WAD // 4, DAY, NEVER, 10**9)
    assert refusal.field == "margin.im_factor"
    assert "1.3 -> 2" in refusal.message
    assert "at most 0.325 per change" in refusal.message
    assert "between 1 and 1.625" in refusal.message


def test_rate_limit__changed_too_recently__says_when_allowed():
    last = list(NEVER)
    last[8] = 1_000_000  # im_factor last changed at t = 1e6
    new = _margin(im_factor=1.4)
    (refusal,) = check_rate_limit("margin", MARGIN, new, WAD // 4, DAY, last, 1_000_000 + 3_600)
    assert refusal.field == "margin.im_factor"
    assert "changed too recently" in refusal.message
    assert f"{DAY - 3_600} s after" in refusal.message
    # at exactly last + min_interval the guard lets it through
    assert check_rate_limit("margin", MARGIN, new, WAD // 4, DAY, last, 1_000_000 + DAY) == []


def test_rate_limit__spot_steps__bounded_but_not_rate_limited():
    new = _margin(spot_steps=6)  # 3 -> 6 is +100%
    assert check_rate_limit("margin", MARGIN, new, WAD // 4, DAY, NEVER, 10**9) == []
    assert check_bounds("margin", _margin(spot_steps=7))[0].field == "margin.spot_steps"


def test_rate_limit__zero_value__scaled_by_upper_bound():
    pool = list(POOL)
    pool[0] = 0  # spread_base 0: a change may move it by 25% of the bound 0.5
    ok = apply_changes("pool", pool, parse_changes("pool", {"spread_base": 0.125}))
    too_far = apply_changes("pool", pool, parse_changes("pool", {"spread_base": 0.13}))
    assert check_rate_limit("pool", pool, ok, WAD // 4, DAY, (0,) * 7, 10**9) == []
    assert check_rate_limit("pool", pool, too_far, WAD // 4, DAY, (0,) * 7, 10**9)


def test_bounds__out_of_range_and_relations__name_the_field():
    (refusal,) = check_bounds("margin", _margin(im_factor=5))
    assert refusal.message == "margin.im_factor = 5 outside allowed range [1.0, 3.0]"
    liq = apply_changes(
        "liquidation", (2 * 10**16, 2 * 10**16, 15 * 10**16, 10**17), {"max_discount": 10**16}
    )
    assert "max_discount" in check_bounds("liquidation", liq)[0].message


def test_parse_changes__bad_input__raises_naming_the_field():
    with pytest.raises(ChangeError, match="margin.nope: unknown field"):
        parse_changes("margin", ["nope=1"])
    with pytest.raises(ChangeError, match="'abc' is not a number"):
        parse_changes("margin", ["im_factor=abc"])
    with pytest.raises(ChangeError, match="whole number"):
        parse_changes("oracle", ["heartbeat=60.5"])
    with pytest.raises(ChangeError, match="unknown parameter group"):
        parse_changes("fees", ["x=1"])


def test_encode_decode__round_trip_keeps_every_value():
    new = _margin(im_factor=1.4, spot_shock=0.16)
    call = decode_call(encode_set("margin", new))
    assert call.function == "set_margin_params" and call.group == "margin"
    assert call.raw == new
    assert call.values["im_factor"] == 1.4 and call.values["spot_steps"] == 3
    assert decode_call(b"\x12\x34\x56\x78") is None


def test_proposal_status__pending_executable_expired():
    assert proposal_status(1, eta=100, now=99) == "pending"
    assert proposal_status(1, eta=100, now=100) == "executable"
    assert proposal_status(1, eta=100, now=100 + GRACE_PERIOD) == "executable"
    assert proposal_status(1, eta=100, now=101 + GRACE_PERIOD) == "expired"
    assert proposal_status(2, eta=100, now=0) == "executed"
    assert proposal_status(3, eta=100, now=0) == "vetoed"
