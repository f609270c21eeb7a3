# pragma version 0.4.3
"""
@title param_guard_mock
@notice Test harness of modules/param_guard.vy: its checks, one field at a time, with the
        bounds and the "limited" flag as arguments.
@dev Test-only; never deploy to a live network. Reverts start with "mock" (the prefix the
     owning contracts pass as their name).
"""

from ..modules import param_guard

initializes: param_guard
exports: (param_guard.rate_limit, param_guard.last_update)


@deploy
def __init__():
    pass


@external
def set_rate_limit(group: uint256, limit: param_guard.RateLimit):
    """
    @notice Store a group's rate limit (bounded) and log the old and new values.
    @param group the parameter group id
    @param limit max_rel_change (1e18 = 100%) and min_interval (seconds)
    """
    param_guard._set_rate_limit(group, limit)


@external
def check_field(
    group: uint256, field: uint256, old: uint256, new: uint256, lo: uint256, hi: uint256, limited: bool
):
    """
    @notice Check a change of one field as an owner's setter does, stamping its clock.
    @param group the parameter group id
    @param field the field's index in its struct
    @param old the value in force
    @param new the proposed value
    @param lo the field's lower bound
    @param hi the field's upper bound
    @param limited whether the field is rate limited
    """
    param_guard._check_field("mock", "x", group, field, old, new, lo, hi, limited)


@external
@pure
def check_bounds(x: uint256, lo: uint256, hi: uint256):
    """
    @notice Revert when x is outside [lo, hi].
    @param x the value
    @param lo lower bound
    @param hi upper bound
    """
    param_guard._check_bounds("mock", "x", x, lo, hi)
