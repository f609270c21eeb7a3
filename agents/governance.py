"""Governance in the simulation: the risk committee's account on the market.

`GovernanceAgent` reads the market through the MarketView it is given, hands the
committee's policy (agents.committee.RiskCommittee) what it needs, sends the proposals and
executions it decides on through the timelock, and reports the chain's answers back.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import mesa

from agents.committee import Analysis, ProposeAction, RiskCommittee
from onchain.governance import encode_set
from onchain.rpc import decode_revert
from risk.design import Proposal
from risk.jit import threadsafe_layer
from risk.param_guard import SETTERS
from risk.params import ParamGroup
from risk.units import HOUR

if TYPE_CHECKING:
    from agents.view import MarketView

log = logging.getLogger(__name__)


# --- the Mesa agent ---


@dataclass(frozen=True)
class _Sent:
    """A transaction of this agent waiting for its outcome."""

    kind: str  # "propose" or "execute"
    group: str | None
    pid: int | None = None
    data: bytes = b""
    params: ParamGroup | None = None


class GovernanceAgent(mesa.Agent):
    """The risk committee's account: proposes through the timelock and executes when due.

    All decisions are the committee's; this agent reads the model, sends transactions and
    reports the chain's answers back. It relies on the model calling `on_outcome` once per
    transaction it sent, in the order sent.
    """

    model: MarketView

    def __init__(
        self,
        model: MarketView,
        account: Any,
        committee: RiskCommittee | None = None,
    ):
        super().__init__(model)
        self.account = account
        self.committee = committee or RiskCommittee()
        self.sent: Counter[str] = Counter()
        self.succeeded: Counter[str] = Counter()
        self.reverts: Counter[str] = Counter()  # by revert reason
        self._waiting: list[_Sent] = []
        self._analysis: tuple[Analysis, Future] | None = None
        self.analysis_seconds = 0.0  # spent in Analysis.run, on the worker thread or not
        self._executor: ThreadPoolExecutor | None = None

    def step(self) -> None:
        self.execute_due()
        self.review()

    def execute_due(self) -> None:
        waiting = {s.pid for s in self._waiting if s.kind == "execute"}
        for action in self.committee.due_executions(self.model.now):
            if action.pid not in waiting:
                self.model.send(self, "timelock", "execute", action.pid, label="execute")
                self._waiting.append(_Sent("execute", action.group, pid=action.pid))
                self.sent["execute"] += 1

    def review(self) -> None:
        """Begin a review when one is due; propose what an analysis found once its
        `analysis_hours` have passed. The analysis runs on a worker thread meanwhile
        (numba releases the GIL), so it overlaps the chain's work on the blocks between;
        it is a pure function of its frozen inputs, so the results do not depend on it."""
        m = self.model
        if self._analysis is not None:
            analysis, future = self._analysis
            if m.now < analysis.time + self.committee.config.analysis_hours * HOUR:
                return
            self._analysis = None
            self._finish(analysis, future.result())
        if not self.committee.is_due(m.now):
            return  # the book and the history are only read when a review is due
        timestamps, spots, ivs = m.price_history()
        started = self.committee.begin_review(
            m.now,
            timestamps,
            spots,
            ivs,
            m.book(),
            m.params_in_force(),
            m.pool_nav,
            m.rate_limits(),
        )
        if started is None:
            return
        if self.committee.config.analysis_hours == 0:
            self._finish(started, self._run(started))
            return
        if threadsafe_layer():
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="risk-committee")
            future = self._executor.submit(self._run, started)
        else:  # no thread-safe numba layer: run it now, propose at the same time anyway
            future = Future()
            future.set_result(self._run(started))
        self._analysis = (started, future)

    def _run(self, analysis: Analysis) -> Proposal | str:
        t0 = time.perf_counter()
        try:
            return analysis.run()
        finally:
            self.analysis_seconds += time.perf_counter() - t0

    def _finish(self, analysis: Analysis, outcome: Proposal | str) -> None:
        m = self.model
        actions = self.committee.finish_review(
            analysis, outcome, m.params_in_force(), m.rate_limits(), m.last_updates(), m.now
        )
        for action in actions:
            self.propose(action)

    def close(self) -> None:
        """Stop the worker thread (an analysis still running is left to finish)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def propose(self, action: ProposeAction) -> None:
        target = self.model.addresses[SETTERS[action.group].holder]
        data = encode_set(action.group, action.calldata_args)
        self.model.send(self, "timelock", "propose", target, data, label="propose")
        self._waiting.append(_Sent("propose", action.group, data=data, params=action.params))
        self.sent["propose"] += 1
        log.info("governance: proposing %s", action.reason)

    def on_outcome(self, outcome: Any) -> None:
        sent = self._match(outcome)
        if sent is None:
            return
        if outcome.ok:
            self.succeeded[sent.kind] += 1
        else:
            reason = outcome.reason or getattr(outcome, "error", None) or "unknown"
            self.reverts[reason] += 1
            log.warning("governance: %s of %s reverted: %s", sent.kind, sent.group, reason)
        if sent.kind == "propose":
            proposed = [e for e in outcome.events if e.name == "Proposed"] if outcome.ok else []
            if proposed and sent.group is not None and sent.params is not None:
                args = proposed[0].args
                self.committee.proposal_queued(
                    sent.group, int(args["id"]), args["eta"], sent.params
                )
            elif sent.group is not None:
                self.committee.proposal_failed(sent.group, outcome.reason or "no Proposed event")
        elif sent.pid is not None:
            refused = [e for e in outcome.events if e.name == "ExecutionFailed"]
            if outcome.ok and refused:  # the target refused it: the timelock ended it
                self.committee.proposal_refused(
                    sent.pid, decode_revert(bytes(refused[0].args["reason"]))
                )
            elif outcome.ok:
                self.committee.executed(sent.pid)
            else:
                self.committee.execution_failed(sent.pid, self.model.now, outcome.reason or "")

    def _match(self, outcome: Any) -> _Sent | None:
        """The sent transaction this outcome answers: by its event when there is one
        (Proposed carries the calldata, Executed the id), else the oldest still waiting."""
        for ev in outcome.events if outcome.ok else []:
            for i, s in enumerate(self._waiting):
                same = (
                    ev.name == "Proposed"
                    and s.kind == "propose"
                    and bytes(ev.args["data"]) == s.data
                ) or (
                    ev.name in ("Executed", "ExecutionFailed")
                    and s.kind == "execute"
                    and int(ev.args["id"]) == s.pid
                )
                if same:
                    return self._waiting.pop(i)
        return self._waiting.pop(0) if self._waiting else None
