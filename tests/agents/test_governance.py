"""agents/governance.py: the risk committee's decisions, and the chain accepting them.

Part 1 is pure Python: when a review is due, what it skips and why, how the proposed steps
respect param_guard (checked here with the contract's integer formula, independently of
the committee's own code), min_interval holds, the dead band, one proposal in flight per
group and the execution window.

Part 2 runs on ape's embedded chain (the session protocol: gov proposes and guards, the
timelock delay is 6 hours, every group's rate limit is 25% per update and one day between
changes of a field): the committee's proposals, encoded as the agent encodes them, pass
through the timelock and land exactly; a second change of the same fields within
min_interval is refused on-chain, as the committee predicted by holding them. Part 3
drives the Mesa agent through a stub model that runs each transaction through ape.

Price histories are hourly: 14 calm days (50% vol) then 3 crash days (150% vol, a
downward drift and six -6% jumps), from a seeded generator.
"""

from __future__ import annotations

import math

import ape
import mesa
import numpy as np
import pytest
from ape.exceptions import ContractLogicError

from agents.committee import (
    CommitteeConfig,
    ExecuteAction,
    QueuedProposal,
    RiskCommittee,
    sample_returns,
)
from agents.governance import GovernanceAgent
from onchain.blocks import TxOutcome, TxRequest
from onchain.events import Event
from onchain.governance import encode_set
from risk.book import example_book
from risk.param_guard import GRACE_PERIOD, step_towards
from risk.params import GROUPS, Limits, LiquidationParams, MarginParams, RateLimit
from risk.units import DAY, HOUR, WAD

T0 = 1_700_000_000
CALM_HOURS, CRASH_HOURS = 24 * 14, 72
FAST = dict(n_paths=5_000, lar_paths=20, seed=7)
NAV = 1_000_000.0
RATE = RateLimit()  # as deployed: 25% per update, a day between changes of a field
PARAMS = {"margin": MarginParams, "liquidation": LiquidationParams, "limits": Limits}
GETTERS = {"margin": "margin_params", "liquidation": "liquidation_params", "limits": "limits"}


def price_history(end: int, seed: int = 0):
    """(timestamps, spots, ivs): calm then crash, hourly, the last point at `end`."""
    g = np.random.default_rng(seed)
    dt = 1 / 365 / 24
    calm = g.normal(0.0, 0.5 * math.sqrt(dt), CALM_HOURS)
    crash = g.normal(-0.002, 1.5 * math.sqrt(dt), CRASH_HOURS)
    crash[g.choice(CRASH_HOURS, 6, replace=False)] -= 0.06
    log_spot = math.log(2_000.0) + np.cumsum(np.concatenate([[0.0], calm, crash]))
    n = len(log_spot)
    timestamps = end - HOUR * np.arange(n - 1, -1, -1)
    return timestamps, np.exp(log_spot), np.full(n, 0.5)


def defaults() -> dict:
    return {g: cls() for g, cls in PARAMS.items()}


def limits_of(rate: RateLimit = RATE) -> dict:
    return {g: rate for g in PARAMS}


def allowed_change(f, old: int, rate: RateLimit) -> int:
    """param_guard._check_field: max_rel_change * old / 1e18, or * hi when old == 0."""
    return rate.to_chain()[0] * (old if old != 0 else f.hi) // WAD


@pytest.fixture(scope="module")
def crash_history():
    return price_history(T0 + (CALM_HOURS + CRASH_HOURS) * HOUR)


@pytest.fixture(scope="module")
def committee_book():
    return example_book(n_accounts=100, seed=1)


@pytest.fixture(scope="module")
def review_after_crash(crash_history, committee_book):
    """review_after_crash(current=None, rate=RateLimit(), last_update=None, **config)
    -> (committee, actions) for a review at the end of the crash."""

    def _review(current=None, rate=RATE, last_update=None, **config):
        committee = RiskCommittee(CommitteeConfig(**{**FAST, **config}))
        ts, spots, ivs = crash_history
        actions = committee.review(
            int(ts[-1]),
            ts,
            spots,
            ivs,
            committee_book,
            current or defaults(),
            limits_of(rate),
            last_update or {},
            NAV,
        )
        return committee, actions

    return _review


# --- part 1: the committee's decisions ---


@pytest.mark.parametrize(
    "field, value",
    [
        ("review_every_hours", 0),
        ("min_returns", 10),
        ("coverage", 1.0),
        ("n_paths", 10),
        ("dead_band", -0.01),
        ("kappa", math.nan),
        ("max_execution_attempts", 0),
    ],
)
def test_config__value_outside_range__error_names_the_field(field, value):
    with pytest.raises(ValueError, match=rf"committee\.{field} = "):
        CommitteeConfig(**{field: value})


@pytest.mark.parametrize("groups", [("pool",), (), ("margin", "margin")])
def test_config__groups_not_governable__error_names_the_field(groups):
    with pytest.raises(ValueError, match=r"committee\.groups"):
        CommitteeConfig(groups=groups)


def test_sample_returns__irregular_history__hourly_grid_without_look_ahead():
    t = np.array([0, 600, 3_000, 3_700, 7_300, 9_000, 50_000])  # the last one is the future
    p = np.array([100.0, 101.0, 102.0, 104.0, 103.0, 90.0, 1.0])
    r = sample_returns(9_000, t, p, lookback_sec=10 * HOUR, sample_sec=HOUR)
    # grid 1800, 5400, 9000 -> last prices 101, 104, 90
    np.testing.assert_allclose(r, np.log([104 / 101, 90 / 104]))


def test_review__due_every_n_hours_only(committee_book):
    committee = RiskCommittee(CommitteeConfig(review_every_hours=24, **FAST))
    ts, spots, ivs = price_history(T0, seed=1)

    def review(now):
        return committee.review(
            now, ts, spots, ivs, committee_book, defaults(), limits_of(), {}, NAV
        )

    assert committee.is_due(T0)
    review(T0 - CALM_HOURS * HOUR)  # too little data yet: a cheap review
    assert len(committee.history) == 1
    for later in (HOUR, 23 * HOUR, 24 * HOUR - 1):
        assert not committee.is_due(T0 - CALM_HOURS * HOUR + later)
        assert review(T0 - CALM_HOURS * HOUR + later) == []
    assert len(committee.history) == 1
    review(T0 - CALM_HOURS * HOUR + 24 * HOUR)
    assert len(committee.history) == 2
    assert [r.time - committee.history[0].time for r in committee.history] == [0, 24 * HOUR]


def test_review__too_little_data__skipped_with_reason(committee_book):
    committee = RiskCommittee(CommitteeConfig(min_returns=100, **FAST))
    ts, spots, ivs = price_history(T0)
    now = int(ts[50])  # 50 hourly returns so far
    actions = committee.review(
        now, ts, spots, ivs, committee_book, defaults(), limits_of(), {}, NAV
    )
    assert actions == []
    (record,) = committee.history
    assert record.skipped == "too little data: 50 returns in the last 336 h, need 100"
    assert record.n_returns == 50 and record.targets == {} and record.proposed == {}
    assert not committee.pending


@pytest.mark.parametrize("missing_from", ["current", "rate_limits"])
def test_review__input_missing_for_a_group__error_before_anything_runs(
    committee_book, missing_from
):
    committee = RiskCommittee(CommitteeConfig(**FAST))
    ts, spots, ivs = price_history(T0)
    given = {"current": defaults(), "rate_limits": limits_of()}
    del given[missing_from]["margin"]
    with pytest.raises(ValueError, match=f"{missing_from}: no entry for group 'margin'"):
        committee.review(
            int(ts[-1]),
            ts,
            spots,
            ivs,
            committee_book,
            given["current"],
            given["rate_limits"],
            {},
            NAV,
        )
    assert committee.history == [] and not committee.pending
    assert committee.is_due(int(ts[-1]))  # the review was not spent


def test_review__crash_after_calm__larger_spot_shock_target(crash_history, committee_book):
    ts, spots, ivs = crash_history
    targets = {}
    for label, now in (("calm", ts[CALM_HOURS]), ("crash", ts[-1])):
        committee = RiskCommittee(CommitteeConfig(**FAST))
        # the whole series is passed both times: the calm review must not see the crash
        committee.review(int(now), ts, spots, ivs, committee_book, defaults(), limits_of(), {}, NAV)
        (record,) = committee.history
        assert record.skipped is None
        assert record.n_returns == CALM_HOURS
        targets[label] = record
    calm, crash = targets["calm"], targets["crash"]
    assert crash.targets["margin"].spot_shock > 2 * calm.targets["margin"].spot_shock
    assert crash.evidence["regime_stress"] > calm.evidence["regime_stress"] + 1.0
    assert crash.targets["limits"].total_oi_cap < calm.targets["limits"].total_oi_cap


@pytest.mark.parametrize(
    "rate, awkward",
    [(RateLimit(0.25, DAY), False), (RateLimit(0.07, DAY), True), (RateLimit(0.013, DAY), True)],
    ids=["25pct", "7pct-awkward-values", "1.3pct-awkward-values"],
)
def test_review__every_step_within_param_guard_rate_limit(review_after_crash, rate, awkward):
    current = defaults()
    if awkward:  # values with many digits, as left by earlier rate-limited steps
        # (before step_towards worked in integers, it overstepped the caps' limit by a few wei)
        current["margin"] = MarginParams(spot_shock=0.12345678901234567, vol_shock_up=0.777777777)
        current["limits"] = Limits(
            series_oi_cap=12_345.678901234567, total_oi_cap=98_765.43210987654
        )
    committee, actions = review_after_crash(current=current, rate=rate, dead_band=0.0)
    assert {a.group for a in actions} == {"margin", "liquidation", "limits"}
    for a in actions:
        cls = PARAMS[a.group]
        old = current[a.group].to_chain()
        assert a.params.to_chain() == a.calldata_args
        assert (
            a.method
            == {
                "margin": "set_margin_params",
                "liquidation": "set_liquidation_params",
                "limits": "set_limits",
            }[a.group]
        )
        for f, before, after in zip(cls.FIELDS, old, a.calldata_args, strict=True):
            assert f.lo <= after <= f.hi, f.name
            assert abs(after - before) <= allowed_change(f, before, rate), f.name
    # the crash asks for far more spot_shock than one step: the step is (nearly) all allowed
    f = MarginParams.FIELDS[0]
    margin = next(a for a in actions if a.group == "margin")
    old = current["margin"].to_chain()[0]
    assert margin.calldata_args[0] - old >= 0.9999 * allowed_change(f, old, rate)
    assert committee.history[-1].proposed["margin"] == margin.params


@pytest.mark.parametrize("key", [("margin", 0), (0, 0)], ids=["by-name", "by-group-id"])
def test_review__field_changed_within_min_interval__held(review_after_crash, key):
    now = T0 + (CALM_HOURS + CRASH_HOURS) * HOUR
    last_update = {key: now - HOUR, ("margin", 3): now - DAY}  # spot_shock recent; 3 is not
    committee, actions = review_after_crash(last_update=last_update)
    margin = next(a for a in actions if a.group == "margin")
    old = MarginParams()
    assert margin.params.spot_shock == old.spot_shock  # held: the chain would refuse it
    assert committee.history[-1].targets["margin"].spot_shock > old.spot_shock
    assert margin.params.vol_shock_down != old.vol_shock_down  # min_interval has passed
    assert committee.history[-1].held == {"margin": ("spot_shock",)}
    assert "held (changed within min_interval): spot_shock" in margin.reason


def test_review__change_within_dead_band__not_proposed(review_after_crash):
    first, _ = review_after_crash()
    target = first.history[-1].targets["margin"]
    # spot_shock 1% off its target (inside the 2% band), vol_shock_up 10% off (outside)
    current = defaults()
    current["margin"] = MarginParams(
        **{
            **target.to_dict(),
            "spot_shock": round(target.spot_shock / 1.01, 6),
            "vol_shock_up": round(target.vol_shock_up * 0.9, 6),
        }
    )
    committee, actions = review_after_crash(current=current)
    assert committee.history[-1].targets["margin"] == target  # same seed, same target
    margin = next(a for a in actions if a.group == "margin")
    assert margin.params.spot_shock == current["margin"].spot_shock
    assert margin.params.vol_shock_up == target.vol_shock_up
    assert committee.history[-1].dead_banded["margin"] == ("spot_shock",)


def test_review__group_in_flight__not_proposed_again(crash_history, committee_book):
    committee = RiskCommittee(CommitteeConfig(groups=("margin", "limits"), **FAST))
    ts, spots, ivs = crash_history
    end = int(ts[-1])

    def groups_proposed(now):
        actions = committee.review(
            now, ts, spots, ivs, committee_book, defaults(), limits_of(), {}, NAV
        )
        return {a.group for a in actions}

    assert groups_proposed(end - 2 * DAY) == {"margin", "limits"}
    assert committee.pending == {"margin", "limits"}
    committee.proposal_queued("margin", pid=7, eta=end - 2 * DAY + 6 * HOUR, params=MarginParams())
    committee.proposal_failed("limits", "timelock: not proposer")
    assert groups_proposed(end - DAY) == {"limits"}  # margin is queued, not executed
    assert "margin: a proposal is in flight" in committee.history[-1].notes
    committee.executed(pid=7)
    committee.proposal_failed("limits", "out of gas")
    assert groups_proposed(end) == {"margin", "limits"}


def test_review__every_group_in_flight__skipped_without_fitting(crash_history, committee_book):
    committee = RiskCommittee(CommitteeConfig(groups=("margin",), **FAST))
    ts, spots, ivs = crash_history
    committee.proposal_queued("margin", pid=0, eta=int(ts[-1]), params=MarginParams())
    assert committee.review(int(ts[-1]), ts, spots, ivs, committee_book, {}, {}, {}, NAV) == []
    assert committee.history[-1].skipped == "every governed group has a proposal in flight"


def test_due_executions__only_after_eta_and_within_grace():
    committee = RiskCommittee()
    queued = [
        QueuedProposal(0, "margin", eta=T0, params=MarginParams()),
        QueuedProposal(1, "limits", eta=T0 + HOUR, params=Limits()),
    ]
    grace = GRACE_PERIOD

    def due(now):
        return [a.pid for a in committee.due_executions(now, queued)]

    assert due(T0 - 1) == []
    assert due(T0) == [0]
    assert due(T0 + HOUR) == [0, 1]
    assert due(T0 + grace) == [0, 1]
    assert due(T0 + grace + 1) == [1]
    assert due(T0 + HOUR + grace + 1) == []
    assert committee.due_executions(T0, queued)[0] == ExecuteAction(0, "margin")


def test_execution_failed__retried_later_then_abandoned():
    committee = RiskCommittee(CommitteeConfig(retry_after_sec=HOUR, max_execution_attempts=2))
    committee.proposal_queued("margin", pid=3, eta=T0, params=MarginParams())
    assert [a.pid for a in committee.due_executions(T0)] == [3]
    committee.execution_failed(3, T0, "config: spot_shock changed too recently, wait 10 s")
    assert committee.due_executions(T0 + HOUR - 1) == []
    assert [a.pid for a in committee.due_executions(T0 + HOUR)] == [3]
    committee.execution_failed(3, T0 + HOUR, "config: spot_shock changed too recently")
    assert committee.queued == {} and not committee.busy("margin")
    assert committee.abandoned[0][0].pid == 3
    committee.proposal_queued("limits", pid=4, eta=T0, params=Limits())
    committee.expire(T0 + GRACE_PERIOD + 1)
    assert committee.queued == {} and committee.abandoned[1][1] == "expired"


# --- part 2: the chain accepts what the committee proposes ---


def on_chain_state(config) -> tuple[dict, dict, dict]:
    current = {g: cls.from_chain(getattr(config, GETTERS[g])()) for g, cls in PARAMS.items()}
    rates = {g: RateLimit.from_chain(config.rate_limit(GROUPS[g].GROUP_ID)) for g in PARAMS}
    last = {
        (g, i): config.last_update(GROUPS[g].GROUP_ID, i)
        for g, cls in PARAMS.items()
        for i in range(len(cls.FIELDS))
    }
    return current, rates, last


def propose(timelock, config, gov, data: bytes) -> tuple[int, int]:
    tx = timelock.propose(config, data, sender=gov)
    ev = tx.decode_logs(timelock.Proposed)[0]
    return ev.id, ev.eta


def test_chain__committee_proposal_executes_and_a_second_change_is_held(
    chain, config, timelock, gov, committee_book
):
    committee = RiskCommittee(CommitteeConfig(review_every_hours=1, **FAST))
    now = chain.pending_timestamp
    ts, spots, ivs = price_history(now)
    current, rates, last = on_chain_state(config)
    actions = committee.review(now, ts, spots, ivs, committee_book, current, rates, last, NAV)
    assert {a.group for a in actions} == set(PARAMS)
    margin = next(a for a in actions if a.group == "margin")
    assert margin.params.spot_shock > current["margin"].spot_shock  # the crash raises it

    for a in actions:
        pid, eta = propose(timelock, config, gov, encode_set(a.group, a.calldata_args))
        committee.proposal_queued(a.group, pid, eta, a.params)
    eta = max(q.eta for q in committee.queued.values())
    chain.pending_timestamp = eta
    for action in committee.due_executions(eta):
        timelock.execute(action.pid, sender=gov)
        committee.executed(action.pid)
    for a in actions:
        assert tuple(getattr(config, GETTERS[a.group])()) == a.calldata_args, a.group
        assert tuple(getattr(config, GETTERS[a.group])()) == a.params.to_chain()
    spot_shock_changed_at = config.last_update(0, 0)

    # a review an hour later: the fields just changed are inside min_interval (one day)
    now = chain.pending_timestamp + HOUR
    ts, spots, ivs = price_history(now)
    current, rates, last = on_chain_state(config)
    changed = {
        f.name
        for f, a, b in zip(
            MarginParams.FIELDS, MarginParams().to_chain(), margin.calldata_args, strict=True
        )
        if a != b
    }
    committee.review(now, ts, spots, ivs, committee_book, current, rates, last, NAV)
    record = committee.history[-1]
    assert changed and changed <= set(record.held["margin"])
    assert "margin" not in record.proposed or all(
        getattr(record.proposed["margin"], name) == getattr(current["margin"], name)
        for name in changed
    )
    # what the committee held, a naive rate-limited step would change: the chain refuses it
    naive = step_towards(current["margin"], record.targets["margin"], rates["margin"])
    assert naive.spot_shock != current["margin"].spot_shock
    pid, eta = propose(timelock, config, gov, encode_set("margin", naive.to_chain()))
    chain.pending_timestamp = eta
    wait = spot_shock_changed_at + DAY - eta
    assert wait > 0
    message = f"config: spot_shock changed too recently, wait {wait} s"
    with ape.reverts(message):
        timelock.execute(pid, sender=gov)
    assert tuple(config.margin_params()) == margin.calldata_args


# --- part 3: the Mesa agent through a stub of the model's interface ---


class ChainStub(mesa.Model):
    """The model interface GovernanceAgent relies on, on ape's embedded chain: `send`
    queues, `mine` runs the queued calls through ape and reports each outcome."""

    def __init__(self, config, timelock, book, history):
        super().__init__(seed=1)
        self.contracts = {"config": config, "timelock": timelock}
        self.addresses = {name: str(c.address) for name, c in self.contracts.items()}
        self._book = book
        self._history = history
        self.now = 0
        self.pool_nav = NAV
        self.outbox: list = []

    def price_history(self):
        ts, spots, ivs = self._history
        seen = ts <= self.now
        return ts[seen], spots[seen], ivs[seen]

    def book(self):
        return self._book

    def params_in_force(self):
        return on_chain_state(self.contracts["config"])[0]

    def rate_limits(self):
        return on_chain_state(self.contracts["config"])[1]

    def last_updates(self):
        return on_chain_state(self.contracts["config"])[2]

    def send(self, agent, contract_name, method, *args, tip_gwei=0.0, label=None):
        self.outbox.append((agent, contract_name, method, args, label))

    def mine(self, chain):
        chain.pending_timestamp = self.now
        sent, self.outbox = self.outbox, []
        for agent, name, method, args, label in sent:
            contract = self.contracts[name]
            request = TxRequest(
                str(agent.account.address), str(contract.address), "", 0, label=label
            )
            try:
                tx = getattr(contract, method)(*args, sender=agent.account)
            except ContractLogicError as exc:
                outcome = TxOutcome(request, "", status=0, reason=exc.revert_message)
            else:
                events = [
                    Event(log.event_name, dict(log.event_arguments), str(log.contract_address), i)
                    for i, log in enumerate(tx.decode_logs())
                ]
                outcome = TxOutcome(request, str(tx.txn_hash), status=1, events=events)
            agent.on_outcome(outcome)


def test_agent__proposes_executes_and_counts_reverts(chain, config, timelock, gov, committee_book):
    start = chain.pending_timestamp
    model = ChainStub(config, timelock, committee_book, price_history(start + 2 * DAY))
    agent = GovernanceAgent(model, gov, RiskCommittee(CommitteeConfig(**FAST, analysis_hours=0)))
    model.now = start  # a day into the crash; the rest of it is the future
    agent.step()
    assert agent.sent["propose"] == 3 and agent.committee.pending == set(PARAMS)
    model.mine(chain)
    queued = agent.committee.queued
    assert set(queued) == set(PARAMS) and agent.succeeded["propose"] == 3
    assert timelock.proposal_count() == 3
    proposals = {g: q.params for g, q in queued.items()}
    timelock.veto(queued["limits"].pid, sender=gov)  # the guardian stops one

    model.now = max(q.eta for q in queued.values())
    agent.step()  # executions only: the next review is due a day after the first
    assert agent.sent["execute"] == 3 and len(agent.committee.history) == 1
    model.mine(chain)
    assert agent.succeeded["execute"] == 2
    assert agent.reverts == {"timelock: proposal not queued": 1}
    assert set(agent.committee.queued) == {"limits"}
    assert agent.committee.queued["limits"].attempts == 1
    assert tuple(config.margin_params()) == proposals["margin"].to_chain()
    assert tuple(config.liquidation_params()) == proposals["liquidation"].to_chain()
    assert tuple(config.limits()) == Limits().to_chain()


def test_agent__analysis_hours__proposes_after_them_the_same_as_at_once(
    chain, config, timelock, gov, committee_book
):
    start = chain.pending_timestamp
    history = price_history(start + 2 * DAY)
    at_once = RiskCommittee(CommitteeConfig(**FAST, analysis_hours=0))
    expected = at_once.review(start, *history, committee_book, *on_chain_state(config), NAV)
    model = ChainStub(config, timelock, committee_book, history)
    agent = GovernanceAgent(model, gov, RiskCommittee(CommitteeConfig(**FAST, analysis_hours=6)))
    try:
        model.now = start
        agent.step()  # the review begins: its groups are busy, nothing is sent yet
        assert agent.sent["propose"] == 0 and agent.committee.pending == set(PARAMS)
        assert agent.committee.history == []
        model.now = start + 5 * HOUR
        agent.step()
        assert agent.sent["propose"] == 0
        model.now = start + 6 * HOUR
        agent.step()
        assert agent.sent["propose"] == 3
        assert agent.analysis_seconds > 0
        sent = [args for _, name, method, args, _ in model.outbox if method == "propose"]
        data = {bytes(a[1]) for a in sent}
        assert data == {encode_set(a.group, a.calldata_args) for a in expected}
        (review,) = agent.committee.history
        assert review.time == start  # the data cut, not the proposal's time
    finally:
        agent.close()
