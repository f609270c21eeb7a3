"""Timelock: propose, veto, execute (delay, grace, a failure ends a proposal), delay, roles.

Runs on the deployed protocol: the timelock governs `config`, `oracle` and `market` and
itself (it has no admin: its targets and roles change only through its own proposals);
gov is its proposer and guardian; the delay is 6 hours. Calldata is built with ape's
`method.encode_input(...)`. A proposal's id is read from its Proposed event.
"""

import ape
import pytest
from eth_abi import decode
from support import ZERO, fields, with_field

from risk.params import MarginParams, OracleParams
from risk.units import DAY

DELAY = 21_600
GRACE = 14 * DAY
QUEUED, EXECUTED, VETOED, FAILED = 1, 2, 3, 4
MARGIN = MarginParams().to_chain()
SPOT_SHOCK_BOUNDS = "config: spot_shock outside [10000000000000000, 900000000000000000]"


@pytest.fixture(scope="module", autouse=True)
def _timelock_setup_first(gov, keeper, stranger, timelock, config, oracle, market):
    """ape's isolation wants session fixtures built before the first test."""


@pytest.fixture(scope="module")
def propose(timelock, gov):
    """propose(target, data, sender=gov) -> (proposal id, receipt)."""

    def _propose(target, data, sender=None):
        tx = timelock.propose(target, data, sender=sender or gov)
        return tx.decode_logs(timelock.Proposed)[0].id, tx

    return _propose


def failed_with(timelock, tx) -> str:
    """The target's revert reason an ExecutionFailed event carries (Error(string))."""
    (ev,) = tx.decode_logs(timelock.ExecutionFailed)
    data = bytes(ev.reason)
    assert data[:4] == bytes.fromhex("08c379a0")
    return decode(["string"], data[4:])[0]


@pytest.fixture(scope="module")
def margin_call(config):
    """Calldata of config.set_margin_params with spot_shock 0.15 -> 0.165 (within limits)."""
    return config.set_margin_params.encode_input(with_field(MARGIN, 0, 165 * 10**15))


# --- deployment ---


def test_deploy__sets_roles_delay_and_targets(timelock, config, oracle, market, pool, gov):
    assert (timelock.proposer(), timelock.guardian()) == (gov.address,) * 2
    assert not hasattr(timelock, "admin")  # it governs itself
    assert timelock.delay() == DELAY
    assert all(timelock.targets(c) for c in (config, oracle, market, timelock))
    assert not timelock.targets(pool)
    assert timelock.proposal_count() == 0


@pytest.mark.parametrize("delay", [59, 30 * DAY + 1], ids=["below", "above"])
def test_deploy__delay_outside_bounds__reverts(project, gov, delay):
    with ape.reverts("timelock: delay outside [60, 2592000]"):
        gov.deploy(project.Timelock, delay, gov, gov, [])


@pytest.mark.parametrize("zero", ["proposer", "guardian", "target"])
def test_deploy__zero_role__reverts(project, gov, zero):
    proposer, guardian = (ZERO, gov) if zero == "proposer" else (gov, ZERO)
    if zero == "target":
        proposer, guardian = gov, gov
    with ape.reverts("timelock: zero address"):
        gov.deploy(project.Timelock, DELAY, proposer, guardian, [ZERO] if zero == "target" else [])


# --- propose ---


def test_propose__queues_and_emits(timelock, config, propose, margin_call):
    pid, tx = propose(config, margin_call)
    eta = tx.timestamp + DELAY
    assert pid == 0
    assert timelock.proposal_count() == 1
    p = timelock.proposals(pid)
    assert (p.target, bytes(p.data), p.eta, p.state) == (config.address, margin_call, eta, QUEUED)
    ev = tx.decode_logs(timelock.Proposed)
    assert [fields(e, "id", "target", "data", "eta") for e in ev] == [
        (0, config.address, margin_call, eta)
    ]


def test_propose__ids_increase(timelock, config, propose, margin_call):
    assert [propose(config, margin_call)[0] for _ in range(2)] == [0, 1]
    assert timelock.proposal_count() == 2


def test_propose__not_proposer__reverts(timelock, config, stranger, margin_call):
    with ape.reverts("timelock: not proposer"):
        timelock.propose(config, margin_call, sender=stranger)
    assert timelock.proposal_count() == 0


def test_propose__target_not_allowed__reverts(timelock, pool, gov):
    data = pool.approve.encode_input(gov, 1)
    with ape.reverts("timelock: target not allowed"):
        timelock.propose(pool, data, sender=gov)
    assert timelock.proposal_count() == 0


def test_propose__calldata_shorter_than_selector__reverts(timelock, config, gov, propose):
    with ape.reverts("timelock: calldata shorter than a selector"):
        timelock.propose(config, b"\x1a\x26\x5b", sender=gov)
    assert timelock.proposal_count() == 0
    assert propose(config, b"\x1a\x26\x5b\x0f")[0] == 0  # a bare selector is enough


# --- veto ---


def test_veto__queued__marks_vetoed_and_emits(timelock, config, gov, propose, margin_call):
    pid, _ = propose(config, margin_call)
    tx = timelock.veto(pid, sender=gov)
    assert timelock.proposals(pid).state == VETOED
    assert [fields(e, "id", "guardian") for e in tx.decode_logs(timelock.Vetoed)] == [
        (pid, gov.address)
    ]


def test_veto__not_guardian__reverts(
    timelock, config, chain, gov, keeper, stranger, propose, margin_call
):
    move, tx = propose(timelock, timelock.set_role.encode_input("guardian", keeper))
    chain.pending_timestamp = tx.timestamp + DELAY
    timelock.execute(move, sender=gov)
    pid, _ = propose(config, margin_call)
    for who in (stranger, gov):  # gov is still proposer, no longer guardian
        with ape.reverts("timelock: not guardian"):
            timelock.veto(pid, sender=who)
    assert timelock.proposals(pid).state == QUEUED


@pytest.mark.parametrize("state", ["unknown", "executed", "vetoed"])
def test_veto__not_queued__reverts(timelock, config, chain, gov, propose, margin_call, state):
    pid = 7
    if state != "unknown":
        pid, tx = propose(config, margin_call)
        if state == "executed":
            chain.pending_timestamp = tx.timestamp + DELAY
            timelock.execute(pid, sender=gov)
        else:
            timelock.veto(pid, sender=gov)
    with ape.reverts("timelock: proposal not queued"):
        timelock.veto(pid, sender=gov)


# --- execute ---


def test_execute__at_eta__calls_target_by_anyone(
    timelock, config, chain, stranger, propose, margin_call
):
    pid, tx = propose(config, margin_call)
    chain.pending_timestamp = tx.timestamp + DELAY
    receipt = timelock.execute(pid, sender=stranger)
    assert config.margin_params().spot_shock == 165 * 10**15
    assert timelock.proposals(pid).state == EXECUTED
    assert [fields(e, "id", "target") for e in receipt.decode_logs(timelock.Executed)] == [
        (pid, config.address)
    ]


def test_execute__target_removed_after_queueing__reverts(
    timelock, config, chain, gov, stranger, propose, margin_call
):
    pid, tx = propose(config, margin_call)
    drop, drop_tx = propose(timelock, timelock.set_target.encode_input(config, False))
    chain.pending_timestamp = drop_tx.timestamp + DELAY
    timelock.execute(drop, sender=stranger)
    with ape.reverts("timelock: target not allowed"):
        timelock.execute(pid, sender=stranger)
    assert timelock.proposals(pid).state == QUEUED
    assert tuple(config.margin_params()) == MARGIN


def test_execute__before_delay__reverts(timelock, config, chain, stranger, propose, margin_call):
    pid, tx = propose(config, margin_call)
    chain.pending_timestamp = tx.timestamp + DELAY - 1
    with ape.reverts("timelock: delay not passed"):
        timelock.execute(pid, sender=stranger)
    assert timelock.proposals(pid).state == QUEUED
    assert tuple(config.margin_params()) == MARGIN


def test_execute__at_end_of_grace__accepted(
    timelock, config, chain, stranger, propose, margin_call
):
    pid, tx = propose(config, margin_call)
    chain.pending_timestamp = tx.timestamp + DELAY + GRACE
    timelock.execute(pid, sender=stranger)
    assert timelock.proposals(pid).state == EXECUTED


def test_execute__after_grace__reverts(timelock, config, chain, stranger, propose, margin_call):
    pid, tx = propose(config, margin_call)
    chain.pending_timestamp = tx.timestamp + DELAY + GRACE + 1
    with ape.reverts("timelock: proposal expired"):
        timelock.execute(pid, sender=stranger)
    assert timelock.proposals(pid).state == QUEUED
    assert tuple(config.margin_params()) == MARGIN


@pytest.mark.parametrize("state", ["unknown", "executed", "vetoed"])
def test_execute__not_queued__reverts(timelock, config, chain, gov, propose, margin_call, state):
    pid, tx = propose(config, margin_call)
    if state == "unknown":
        pid += 1
    elif state == "vetoed":
        timelock.veto(pid, sender=gov)
    chain.pending_timestamp = tx.timestamp + DELAY
    if state == "executed":
        timelock.execute(pid, sender=gov)
    with ape.reverts("timelock: proposal not queued"):
        timelock.execute(pid, sender=gov)
    assert config.margin_params().spot_shock == (165 * 10**15 if state == "executed" else MARGIN[0])


def test_execute__target_reverts__proposal_fails_for_good_with_the_reason(
    timelock, config, chain, gov, stranger, propose
):
    pid, tx = propose(config, config.set_margin_params.encode_input(with_field(MARGIN, 0, 0)))
    chain.pending_timestamp = tx.timestamp + DELAY
    receipt = timelock.execute(pid, sender=stranger)
    assert failed_with(timelock, receipt) == SPOT_SHOCK_BOUNDS
    assert not receipt.decode_logs(timelock.Executed)
    assert timelock.proposals(pid).state == FAILED
    assert tuple(config.margin_params()) == MARGIN
    with ape.reverts("timelock: proposal not queued"):
        timelock.execute(pid, sender=gov)


def test_execute__old_whole_struct_proposal__cannot_undo_a_newer_change_later(
    timelock, config, chain, gov, stranger, propose
):
    """Audit finding 9: B (the whole margin struct, spot_shock 0.17 with vol_shock_up as
    it was) failed on the rate limit after A moved spot_shock; meanwhile a newer change C
    moved vol_shock_up. A stranger executing B a day later used to undo C. B now died at
    its first failure."""
    a = config.set_margin_params.encode_input(with_field(MARGIN, 0, 16 * 10**16))
    b = config.set_margin_params.encode_input(with_field(MARGIN, 0, 17 * 10**16))
    c = config.set_margin_params.encode_input(
        with_field(with_field(MARGIN, 0, 16 * 10**16), 2, 55 * 10**16)
    )
    pid_a, tx = propose(config, a)
    pid_b, _ = propose(config, b)
    t = tx.timestamp + DELAY + 10
    chain.pending_timestamp = t
    timelock.execute(pid_a, sender=gov)
    chain.pending_timestamp = t + 100
    receipt = timelock.execute(pid_b, sender=gov)
    assert failed_with(timelock, receipt) == (
        f"config: spot_shock changed too recently, wait {DAY - 100} s"
    )
    pid_c, tx_c = propose(config, c)  # the newer change: vol_shock_up 0.5 -> 0.55
    chain.pending_timestamp = tx_c.timestamp + DELAY
    timelock.execute(pid_c, sender=gov)
    chain.pending_timestamp = t + DAY + 10
    with ape.reverts("timelock: proposal not queued"):
        timelock.execute(pid_b, sender=stranger)
    m = config.margin_params()
    assert (m.spot_shock, m.vol_shock_up) == (16 * 10**16, 55 * 10**16)


def test_execute__call_starved_of_gas__reverts_and_stays_queued(
    timelock, config, chain, gov, stranger, propose, margin_call
):
    """Executing with too little gas for the target must not kill a proposal: the
    execution reverts and the proposal stays queued. (Here the 1/64 of the gas left after
    a starved call cannot pay for marking the proposal failed, so the whole execution
    reverts anyway; for a target heavy enough to leave more, Timelock.execute's own check
    reverts it.)"""
    pid, tx = propose(config, margin_call)
    chain.pending_timestamp = tx.timestamp + DELAY
    with ape.reverts():
        timelock.execute(pid, sender=stranger, gas=60_000)
    assert timelock.proposals(pid).state == QUEUED
    timelock.execute(pid, sender=stranger)
    assert timelock.proposals(pid).state == EXECUTED


# --- set_delay (only through the timelock itself) ---


def test_set_delay__direct_call__reverts(timelock, gov):
    with ape.reverts("timelock: not self"):
        timelock.set_delay(3_600, sender=gov)
    assert timelock.delay() == DELAY


def test_set_delay__through_timelock__changes_delay_and_emits(
    timelock, config, chain, gov, propose, margin_call
):
    old_pid, _ = propose(config, margin_call)
    old_eta = timelock.proposals(old_pid).eta
    pid, tx = propose(timelock, timelock.set_delay.encode_input(3_600))
    chain.pending_timestamp = tx.timestamp + DELAY
    receipt = timelock.execute(pid, sender=gov)
    assert timelock.delay() == 3_600
    assert [fields(e, "old", "new") for e in receipt.decode_logs(timelock.DelaySet)] == [
        (DELAY, 3_600)
    ]
    new_pid, tx = propose(config, margin_call)
    assert timelock.proposals(new_pid).eta == tx.timestamp + 3_600
    assert timelock.proposals(old_pid).eta == old_eta  # queued proposals keep their eta


@pytest.mark.parametrize("delay", [59, 30 * DAY + 1], ids=["below", "above"])
def test_set_delay__outside_bounds__bubbles_reason(timelock, chain, gov, propose, delay):
    pid, tx = propose(timelock, timelock.set_delay.encode_input(delay))
    chain.pending_timestamp = tx.timestamp + DELAY
    receipt = timelock.execute(pid, sender=gov)
    assert failed_with(timelock, receipt) == "timelock: delay outside [60, 2592000]"
    assert timelock.delay() == DELAY


# --- set_target / set_role (only through the timelock itself) ---


@pytest.fixture(scope="module")
def through_timelock(timelock, chain, gov, propose):
    """through_timelock(method, *args) -> receipt: queue a call of the timelock to itself,
    wait the delay and execute it."""

    def _run(method, *args):
        pid, tx = propose(timelock, getattr(timelock, method).encode_input(*args))
        chain.pending_timestamp = tx.timestamp + DELAY
        return timelock.execute(pid, sender=gov)

    return _run


def test_set_target__through_timelock__allows_and_forbids(
    timelock, pool, config, gov, through_timelock, margin_call
):
    tx = through_timelock("set_target", pool, True)
    assert timelock.targets(pool)
    assert [fields(e, "target", "allowed") for e in tx.decode_logs(timelock.TargetSet)] == [
        (pool.address, True)
    ]
    through_timelock("set_target", config, False)
    assert not timelock.targets(config)
    with ape.reverts("timelock: target not allowed"):
        timelock.propose(config, margin_call, sender=gov)


@pytest.mark.parametrize("who", ["gov", "stranger"])
def test_set_target__direct_call__reverts(timelock, pool, gov, stranger, who):
    """Audit finding 2: the deployer changed targets at once; now nobody can."""
    with ape.reverts("timelock: not self"):
        timelock.set_target(pool, True, sender=gov if who == "gov" else stranger)
    assert not timelock.targets(pool)


def test_set_target__itself__refused(timelock, chain, gov, propose):
    """A review found the timelock could drop itself as a target, freezing its delay,
    targets and roles for good (it has no admin to undo it)."""
    pid, tx = propose(timelock, timelock.set_target.encode_input(timelock, False))
    chain.pending_timestamp = tx.timestamp + DELAY
    receipt = timelock.execute(pid, sender=gov)
    assert failed_with(timelock, receipt) == "timelock: always its own target"
    assert timelock.targets(timelock)


def test_set_target__zero_address__bubbles_reason(timelock, chain, gov, propose):
    pid, tx = propose(timelock, timelock.set_target.encode_input(ZERO, True))
    chain.pending_timestamp = tx.timestamp + DELAY
    assert failed_with(timelock, timelock.execute(pid, sender=gov)) == "timelock: zero address"


def test_set_role__proposer__moves_the_right_to_propose(
    timelock, config, gov, keeper, through_timelock, propose, margin_call
):
    tx = through_timelock("set_role", "proposer", keeper)
    assert timelock.proposer() == keeper.address
    assert [fields(e, "role", "account") for e in tx.decode_logs(timelock.RoleSet)] == [
        ("proposer", keeper.address)
    ]
    with ape.reverts("timelock: not proposer"):
        timelock.propose(config, margin_call, sender=gov)
    assert propose(config, margin_call, sender=keeper)[0] == timelock.proposal_count() - 1


def test_set_role__guardian__sets_and_emits(timelock, keeper, through_timelock):
    tx = through_timelock("set_role", "guardian", keeper)
    assert timelock.guardian() == keeper.address
    assert [fields(e, "role", "account") for e in tx.decode_logs(timelock.RoleSet)] == [
        ("guardian", keeper.address)
    ]


@pytest.mark.parametrize("role", ["proposer", "guardian"])
def test_set_role__direct_call__reverts(timelock, gov, stranger, role):
    """Audit finding 2: the deployer replaced proposer and guardian at once."""
    with ape.reverts("timelock: not self"):
        timelock.set_role(role, stranger, sender=gov)
    assert getattr(timelock, role)() == gov.address


@pytest.mark.parametrize(
    ("role", "account", "reason"),
    [("admin", "keeper", "timelock: unknown role"), ("guardian", "zero", "timelock: zero address")],
)
def test_set_role__bad_role_or_address__bubbles_reason(
    timelock, chain, gov, keeper, propose, role, account, reason
):
    who = keeper if account == "keeper" else ZERO
    pid, tx = propose(timelock, timelock.set_role.encode_input(role, who))
    chain.pending_timestamp = tx.timestamp + DELAY
    assert failed_with(timelock, timelock.execute(pid, sender=gov)) == reason
    assert timelock.guardian() == gov.address


def test_claim_admin__takes_over_a_contract_that_nominated_the_timelock(
    timelock, market, oracle, gov, stranger
):
    with ape.reverts("roles: not pending admin"):  # nothing nominated it yet
        timelock.claim_admin(oracle, sender=stranger)
    oracle.transfer_admin(timelock, sender=gov)
    market.set_role("admin", timelock, sender=gov)
    assert oracle.admin() == gov.address  # nominated, not yet admin
    for target in (oracle, market):
        tx = timelock.claim_admin(target, sender=stranger)  # anyone may complete it
        assert target.admin() == timelock.address and target.pending_admin() == ZERO
        assert [fields(e, "role", "account") for e in tx.decode_logs(target.RoleSet)] == [
            ("admin", timelock.address)
        ]
    with ape.reverts("market: not admin"):  # the deployer's admin powers now wait the delay
        market.set_role("fee_recipient", gov, sender=gov)


# --- end to end on the deployed protocol ---


def test_governance__margin_params_change_end_to_end(
    timelock, config, market, chain, gov, keeper, propose
):
    new = MarginParams(
        spot_shock=0.18, vol_shock_up=0.6, short_min=0.0125, im_factor=1.4
    ).to_chain()  # each change within 25%
    pid, tx = propose(config, config.set_margin_params.encode_input(new))
    assert tuple(config.margin_params()) == MARGIN  # nothing changes while queued
    chain.pending_timestamp = tx.timestamp + timelock.delay()
    receipt = timelock.execute(pid, sender=keeper)
    assert tuple(config.margin_params()) == new
    ev = receipt.decode_logs(config.MarginParamsSet)
    assert [(tuple(e.old), tuple(e.new)) for e in ev] == [(MARGIN, new)]
    assert [e.id for e in receipt.decode_logs(timelock.Executed)] == [pid]


def test_governance__oracle_params_change_end_to_end(timelock, oracle, chain, gov, keeper, propose):
    old = OracleParams().to_chain()
    new = OracleParams(heartbeat=2_700, max_spot_deviation=0.2).to_chain()  # within 25%
    pid, tx = propose(oracle, oracle.set_oracle_params.encode_input(new))
    chain.pending_timestamp = tx.timestamp + timelock.delay()
    receipt = timelock.execute(pid, sender=keeper)
    assert tuple(oracle.params()) == new
    ev = receipt.decode_logs(oracle.OracleParamsSet)
    assert [(tuple(e.old), tuple(e.new)) for e in ev] == [(old, new)]
