# pragma version 0.4.3
"""
@title param_guard
@notice Hard bounds and rate limits for governed risk parameters.
@dev A contract that owns risk parameters `initializes:` this module and calls
     `_check_field` for every field of a proposed struct before storing it.
     Each field must lie inside hard bounds [lo, hi] (fixed in the owning
     contract's code), and a change is rate limited in the style of Aave's risk
     stewards: per parameter group, a maximum relative change per update and a
     minimum time between two updates of the same field.
     Assumptions and hazards:
     - The owning contract restricts who may call its setters (the timelock);
       this module does not check callers.
     - 0 has no relative scale: a change from or to 0 is limited to
       `max_rel_change * hi` instead, so a field leaves 0, and returns to it, by the
       same step (a small value may be set to 0 in one update, a large one steps down
       first).
     - Rate limits are bounded themselves: at most 50% per update and at least an hour
       between two changes of a field, so no setting of them turns the guard off.
     - The first values (set in the constructor) bypass rate limits by design:
       use `_check_bounds` only.
"""

# --- types ---

struct RateLimit:
    max_rel_change: uint256  # 1e18 = 100%: largest |new - old| / old per update
    min_interval: uint256  # seconds between two changes of the same field

# --- events ---

event RateLimitSet:
    group: uint256
    old_max_rel_change: uint256
    new_max_rel_change: uint256
    old_min_interval: uint256
    new_min_interval: uint256

# --- storage ---

# group id => field index => timestamp of the field's last change
last_update: public(HashMap[uint256, HashMap[uint256, uint256]])
# group id => its rate limit
rate_limit: public(HashMap[uint256, RateLimit])

WAD: constant(uint256) = 10**18
MAX_INTERVAL: constant(uint256) = 365 * 86_400
MIN_INTERVAL: constant(uint256) = 3_600
MAX_REL_CHANGE: constant(uint256) = 5 * 10**17


@internal
def _set_rate_limit(group: uint256, limit: RateLimit):
    """
    @notice Store the rate limit of a parameter group (bounded: at most 50% per update,
            between an hour and a year between two changes of a field).
    """
    assert limit.max_rel_change <= MAX_REL_CHANGE, "params: max_rel_change outside [0, 5e17]"
    assert limit.min_interval >= MIN_INTERVAL and limit.min_interval <= MAX_INTERVAL, "params: min_interval outside [3600, 31536000]"
    old: RateLimit = self.rate_limit[group]
    self.rate_limit[group] = limit
    log RateLimitSet(
        group=group,
        old_max_rel_change=old.max_rel_change,
        new_max_rel_change=limit.max_rel_change,
        old_min_interval=old.min_interval,
        new_min_interval=limit.min_interval,
    )


@internal
@pure
def _check_bounds(prefix: String[16], name: String[32], x: uint256, lo: uint256, hi: uint256):
    """
    @notice Revert with "<prefix>: <name> outside [lo, hi]" when value is out of bounds.
    """
    if x < lo or x > hi:
        raise concat(prefix, ": ", name, " outside [", uint2str(lo), ", ", uint2str(hi), "]")


@internal
def _check_field(
    prefix: String[16],
    name: String[32],
    group: uint256,
    field: uint256,
    old: uint256,
    new: uint256,
    lo: uint256,
    hi: uint256,
    limited: bool,
):
    """
    @notice Check a proposed field value against its bounds and, when `limited`, its group's
            rate limit, recording the time of the change when it changes.
    @dev allowed |new - old| = max_rel_change * old / 1e18 (or * hi when old or new is 0)
    """
    self._check_bounds(prefix, name, new, lo, hi)
    if new == old or not limited:
        return
    limit: RateLimit = self.rate_limit[group]
    last: uint256 = self.last_update[group][field]
    if last != 0 and block.timestamp < last + limit.min_interval:
        raise concat(prefix, ": ", name, " changed too recently, wait ", uint2str(last + limit.min_interval - block.timestamp), " s")
    scale: uint256 = old
    if old == 0 or new == 0:
        scale = hi
    allowed: uint256 = limit.max_rel_change * scale // WAD
    delta: uint256 = new - old if new > old else old - new
    if delta > allowed:
        raise concat(prefix, ": ", name, " change ", uint2str(delta), " above rate limit ", uint2str(allowed))
    self.last_update[group][field] = block.timestamp
