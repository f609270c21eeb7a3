# pragma version 0.4.3
"""
@title Timelock
@notice The governance path for risk parameters: a proposer queues a parameter change,
        it waits `delay`, a guardian may veto it meanwhile, then anyone executes it
        within the grace period. Targets (market, oracle) check bounds and rate limits
        when the change executes, against the values in force at that moment.
@dev Assumptions and hazards:
     - Only whitelisted targets can be called, with calldata up to MAX_DATA bytes; a
       target removed from the list blocks its queued proposals too.
     - A proposal dies on its first failed execution: the target's revert reason is
       logged (ExecutionFailed) and the proposal can never run again, so an old
       whole-struct proposal that failed (e.g. on a rate limit) cannot be executed by a
       stranger later and silently undo newer changes. An execution whose call ran out
       of the gas it was given reverts instead (the executor's fault, not the
       proposal's): the proposal stays queued. Residual risk: a target that itself makes
       an external call can be starved one level down without this check seeing it; no
       call the deployment queues does (parameter setters, roles), so keep it so.
     - The delay itself is bounded [MIN_DELAY, MAX_DELAY] and changes only through
       the timelock (a queued call to this contract's set_delay). So do its targets,
       proposer and guardian: the timelock governs itself and has no admin. Its first
       targets are given at deployment (and it is always its own target).
     - A contract that nominates the timelock as its admin (roles.transfer_admin) is
       taken over by anyone calling claim_admin: accepting can only move power from a
       key to the timelock.
"""

import modules.roles as roles

initializes: roles


interface Administered:
    def accept_admin(): nonpayable

# --- types ---

struct Proposal:
    target: address
    data: Bytes[1024]
    eta: uint256  # earliest execution time, unix seconds
    state: uint8  # 0 none, 1 queued, 2 executed, 3 vetoed, 4 failed

# --- events ---

event Proposed:
    id: indexed(uint256)
    target: indexed(address)
    data: Bytes[1024]
    eta: uint256

event Executed:
    id: indexed(uint256)
    target: indexed(address)

event ExecutionFailed:
    id: indexed(uint256)
    target: indexed(address)
    reason: Bytes[256]

event Vetoed:
    id: indexed(uint256)
    guardian: indexed(address)

event DelaySet:
    old: uint256
    new: uint256

event TargetSet:
    target: address
    allowed: bool

# --- constants ---

MAX_DATA: constant(uint256) = 1024
MIN_DELAY: constant(uint256) = 60  # seconds
MAX_DELAY: constant(uint256) = 30 * 86_400
GRACE_PERIOD: constant(uint256) = 14 * 86_400
QUEUED: constant(uint8) = 1
EXECUTED: constant(uint8) = 2
VETOED: constant(uint8) = 3
FAILED: constant(uint8) = 4
PREFIX: constant(String[16]) = "timelock"

# --- storage ---

proposer: public(address)
guardian: public(address)
delay: public(uint256)
targets: public(HashMap[address, bool])
proposals: public(HashMap[uint256, Proposal])
proposal_count: public(uint256)


@deploy
def __init__(
    _delay: uint256, _proposer: address, _guardian: address, _targets: DynArray[address, 8]
):
    """
    @notice Deploy the timelock.
    @param _delay seconds a change waits, in [60, 2592000]
    @param _proposer who may queue changes (the risk committee)
    @param _guardian who may veto queued changes
    @param _targets the contracts it may call (config, oracle, market); itself always
    """
    assert _delay >= MIN_DELAY and _delay <= MAX_DELAY, "timelock: delay outside [60, 2592000]"
    assert _proposer != empty(address) and _guardian != empty(address), "timelock: zero address"
    roles.__init__()
    self.delay = _delay
    self.proposer = _proposer
    self.guardian = _guardian
    self.targets[self] = True
    log TargetSet(target=self, allowed=True)
    for target: address in _targets:
        roles._check_account(PREFIX, target)
        self.targets[target] = True
        log TargetSet(target=target, allowed=True)


@external
def set_target(target: address, allowed: bool):
    """
    @notice Allow or forbid a contract as a call target; only through a queued call of
            the timelock to itself.
    @param target the contract (market, oracle, config)
    @param allowed True to allow
    """
    assert msg.sender == self, "timelock: not self"
    roles._check_account(PREFIX, target)
    assert target != self, "timelock: always its own target"  # else it could never change again
    self.targets[target] = allowed
    log TargetSet(target=target, allowed=allowed)


@external
def set_role(role: String[16], account: address):
    """
    @notice Set "proposer" or "guardian"; only through a queued call of the timelock to
            itself.
    @param role the role name
    @param account the new holder
    """
    assert msg.sender == self, "timelock: not self"
    roles._check_account(PREFIX, account)
    if role == "proposer":
        self.proposer = account
    elif role == "guardian":
        self.guardian = account
    else:
        raise "timelock: unknown role"
    log roles.RoleSet(role=role, account=account)


@external
def set_delay(new_delay: uint256):
    """
    @notice Change the delay; only through a queued call of the timelock to itself.
    @param new_delay seconds, in [60, 2592000]
    """
    assert msg.sender == self, "timelock: not self"
    assert new_delay >= MIN_DELAY and new_delay <= MAX_DELAY, "timelock: delay outside [60, 2592000]"
    log DelaySet(old=self.delay, new=new_delay)
    self.delay = new_delay


@external
def propose(target: address, data: Bytes[MAX_DATA]) -> uint256:
    """
    @notice Queue a call to a whitelisted target. Proposer only.
    @param target the contract to call
    @param data the calldata (e.g. set_margin_params(...))
    @return the proposal id
    """
    assert msg.sender == self.proposer, "timelock: not proposer"
    assert self.targets[target], "timelock: target not allowed"
    assert len(data) >= 4, "timelock: calldata shorter than a selector"
    pid: uint256 = self.proposal_count
    self.proposal_count = pid + 1
    eta: uint256 = block.timestamp + self.delay
    self.proposals[pid] = Proposal(target=target, data=data, eta=eta, state=QUEUED)
    log Proposed(id=pid, target=target, data=data, eta=eta)
    return pid


@external
def veto(pid: uint256):
    """
    @notice Cancel a queued proposal. Guardian only.
    @param pid the proposal id
    """
    assert msg.sender == self.guardian, "timelock: not guardian"
    assert self.proposals[pid].state == QUEUED, "timelock: proposal not queued"
    self.proposals[pid].state = VETOED
    log Vetoed(id=pid, guardian=msg.sender)


@external
def execute(pid: uint256):
    """
    @notice Execute a queued proposal after its delay and within the grace period (anyone).
            If the target refuses, the proposal fails for good (ExecutionFailed).
    @param pid the proposal id
    """
    p: Proposal = self.proposals[pid]
    assert p.state == QUEUED, "timelock: proposal not queued"
    assert self.targets[p.target], "timelock: target not allowed"
    assert block.timestamp >= p.eta, "timelock: delay not passed"
    assert block.timestamp <= p.eta + GRACE_PERIOD, "timelock: proposal expired"
    self.proposals[pid].state = EXECUTED
    ok: bool = False
    response: Bytes[256] = b""
    gas_before: uint256 = msg.gas
    ok, response = raw_call(p.target, p.data, max_outsize=256, revert_on_failure=False)
    if not ok:
        if msg.gas <= gas_before // 64:  # starved by the executor: keep it queued
            raw_revert(response)
        self.proposals[pid].state = FAILED
        log ExecutionFailed(id=pid, target=p.target, reason=response)
        return
    log Executed(id=pid, target=p.target)


@external
def claim_admin(target: address):
    """
    @notice Accept the admin role of a contract that nominated this timelock (anyone).
    @param target the contract (its pending_admin must be this timelock)
    """
    extcall Administered(target).accept_admin()
