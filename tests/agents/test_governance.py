"""agents/governance.py: the risk committee's proposals through the chain.

Part 1 runs on ape's embedded chain (the session protocol: gov proposes and guards, the
timelock delay is 6 hours, every group's rate limit is 25% per update and one day between
changes of a field): the committee's proposals, encoded as the agent encodes them, pass
through the timelock and land exactly; a second change of the same fields within
min_interval is refused on-chain, as the committee predicted by holding them. Part 2
drives the Mesa agent through a stub of the MarketView that runs each transaction
through ape. The committee's own decisions are tested in tests/agents/test_committee.py.
"""

from __future__ import annotations

import mesa
from ape.exceptions import ContractLogicError
from committee_cases import FAST, GETTERS, NAV, PARAMS, price_history

from agents.committee import CommitteeConfig, RiskCommittee
from agents.governance import GovernanceAgent
from onchain.blocks import TxOutcome, TxRequest
from onchain.events import Event
from onchain.governance import encode_set
from onchain.rpc import decode_revert
from risk.param_guard import step_towards
from risk.params import GROUPS, Limits, MarginParams, RateLimit
from risk.units import DAY, HOUR

# --- part 1: the chain accepts what the committee proposes ---


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
    refused = timelock.execute(pid, sender=gov).decode_logs(timelock.ExecutionFailed)
    assert [decode_revert(bytes(e.reason)) for e in refused] == [message]
    assert tuple(config.margin_params()) == margin.calldata_args


# --- part 2: the Mesa agent through a stub of the MarketView ---


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
