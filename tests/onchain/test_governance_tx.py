"""onchain.governance: the checks `ape run params propose` makes before sending."""

import pytest

from onchain.governance import (
    ChangeError,
    apply_changes,
    decode_call,
    encode_set,
    parse_changes,
    proposal_status,
)
from risk.param_guard import GRACE_PERIOD
from risk.params import MarginParams, PoolParams

MARGIN = MarginParams().to_chain()
POOL = PoolParams().to_chain()
NEVER = (0,) * len(MARGIN)


def _margin(**changes):
    return apply_changes("margin", MARGIN, parse_changes("margin", changes))


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
