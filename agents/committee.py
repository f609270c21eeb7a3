"""The risk committee's policy: when to review, what to propose, what to execute.

Every `review_every_hours` of simulated time the committee takes the recent price history,
fits the model ensemble to it (risk.ensemble), asks the design for target parameters on
the book as it stands (risk.design) and proposes, per parameter group, the largest step
towards the target that the chain will accept when the change executes
(risk.param_guard, the contracts' rules):

- a field changed on-chain less than `min_interval` ago keeps its value: param_guard would
  refuse the whole struct otherwise;
- a field whose target differs from its value by less than `dead_band` (relative) keeps
  its value: small moves are noise and would restart the field's min_interval clock;
- the remaining fields move by at most `max_rel_change` of their value
  (param_guard.step_towards), exactly as the contract checks;
- anti-procyclicality (`apc`): margins are not loosened while the market is stressed. A
  margin field whose lower value is looser (LOOSER_WHEN_LOWER) keeps its value when the
  target is lower and (`loosening_hold`) the last week's realised vol is above the long-run
  realised vol of all the history up to the review, or the latest implied vol is above
  its long-run mean, or a horizon loss beat the spot_shock in force within the last
  `hold_after_exceedance_days`. Tightening is never held back;
- given the asset's long past (risk.apc.LongHistory, e.g. years of daily closes), the
  design applies the anchors of the rule `optsim backtest` scores (risk.margin_rule),
  through risk.apc.HistoryAnchors and risk.ensemble.design_ensemble:
  the stressed period (EMIR RTS 153/2013 art. 28(b)): the models' mixture takes
  `stressed_weight` of the horizon returns of the most volatile `stress_days` in the long
  past and the simulation's own history;
  the long-lookback floor (art. 28(c)): spot_shock is never proposed below the coverage
  quantile of the long past's horizon losses, however calm the committee's own window;
  with an implied vol index in that past (e.g. DVOL), vol_shock_up and vol_shock_down are
  never below the coverage quantiles of its horizon rises and falls: the vol shocks come
  from the market's implied-vol history, not from a fixed minimum;
  the sanity ceiling: spot_shock is never above `ceiling_multiple` x the worst horizon
  loss in that past and the simulation's history.

A group with a proposal in flight (sent, queued on the timelock and not executed) is never
proposed again until that proposal is executed, abandoned or expired. The change takes
effect only when `Timelock.execute` runs after the delay and within the grace period.

`RiskCommittee` is pure Python (no chain I/O); agents.governance.GovernanceAgent feeds it
from the simulation and turns its actions into transactions.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from typing import Any, cast

import numpy as np

from risk.apc import (
    APC,
    CEILING_MULTIPLE,
    HistoryAnchors,
    LongHistory,
    horizon_sums,
    worst_loss,
)
from risk.book import Book
from risk.design import DesignTargets, Proposal
from risk.ensemble import design_ensemble, fit_ensemble, recent_returns
from risk.param_guard import (
    GRACE_PERIOD,
    SETTERS,
    change_basis,
    is_rate_limited,
    step_towards,
    too_recent,
)
from risk.params import (
    GROUPS,
    LiquidationParams,
    MarginParams,
    ParamError,
    ParamGroup,
    RateLimit,
)
from risk.units import DAY, HOUR, YEAR_SEC

log = logging.getLogger(__name__)

GOVERNABLE = ("margin", "liquidation", "limits")  # the groups risk.design proposes
# margin fields whose lower value makes margins looser (the APC hold keeps them)
LOOSER_WHEN_LOWER = ("spot_shock", "vol_shock_up", "vol_shock_down", "short_min", "im_factor")
SUMMARY = (  # the evidence kept in the review history
    "coverage_achieved",
    "worst_position_exceedance",
    "spot_shock_mixture",
    "model_divergence",
    "divergence_add_on",
    "apc_stressed_uplift",
    "spot_shock_ceiling",
    "regime_stress",
    "regime_jumpy",
    "lar_mm_usd",
    "bad_debt_at_risk_usd",
    "pool_es_at_total_cap_share_of_nav",
)


# --- configuration ---


@dataclass(frozen=True)
class CommitteeConfig:
    """How often the committee reviews, on what data, and what it aims for."""

    review_every_hours: float = 24.0
    analysis_hours: float = 6.0  # from a review's data cut to its proposal (0: same block)
    lookback_hours: float = 24.0 * 14  # window of prices the models are fitted to
    sample_sec: int = HOUR  # returns are taken on this grid (at least the history's spacing)
    min_returns: int = 100  # fewer: the review is skipped (GARCH needs 100, an ensemble 3)
    coverage: float = 0.995  # probability that MM covers a position's loss over the horizon
    horizon_sec: int = DAY  # liquidation horizon
    kappa: float = 1.0  # weight of the model-divergence add-on to spot_shock
    n_paths: int = 20_000  # Monte Carlo draws per review
    lar_paths: int = 200  # draws on which the whole book is re-margined (evidence only)
    es_share: float = 0.10  # pool ES at total_oi_cap, share of NAV
    groups: tuple[str, ...] = GOVERNABLE  # the parameter groups the committee governs
    dead_band: float = 0.02  # relative change below which a field keeps its value
    grace_period_sec: int = GRACE_PERIOD  # as the timelock's
    retry_after_sec: int = HOUR  # wait after a failed execution before trying again
    max_execution_attempts: int = 3  # then the proposal is abandoned and the group freed
    seed: int = 0  # review k simulates with seed + k
    apc: bool = True  # hold margins in stress (module docstring)
    hold_after_exceedance_days: float = 7.0  # no loosening this long after an exceedance
    # with a long history (module docstring): the rule's anchors, risk.margin_rule's defaults
    stressed_weight: float = APC().stressed_weight
    stress_days: float = APC().stress_days
    ceiling_multiple: float = CEILING_MULTIPLE

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first field outside its allowed range."""
        checks: dict[str, tuple[float, float]] = {
            "review_every_hours": (1 / 60, 24 * 365),
            "analysis_hours": (0.0, 24 * 30),
            "lookback_hours": (1.0, 24 * 365 * 5),
            "sample_sec": (1, 30 * DAY),
            "min_returns": (30, 10_000_000),
            "coverage": (0.5, 0.99999),
            "horizon_sec": (60, 30 * DAY),
            "kappa": (0.0, 10.0),
            "n_paths": (1_000, 10_000_000),
            "lar_paths": (10, 1_000_000),
            "es_share": (1e-6, 1.0),
            "dead_band": (0.0, 0.5),
            "grace_period_sec": (0, 365 * DAY),
            "retry_after_sec": (0, 365 * DAY),
            "max_execution_attempts": (1, 1_000),
            "hold_after_exceedance_days": (0.0, 365.0),
            "stressed_weight": (0.0, 0.5),
            "stress_days": (1.0, 3650.0),
            "ceiling_multiple": (0.0, 100.0),
        }
        for name, (lo, hi) in checks.items():
            value = getattr(self, name)
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not (number and math.isfinite(value) and lo <= value <= hi):
                raise ValueError(f"committee.{name} = {value!r} outside allowed range [{lo}, {hi}]")
        unknown = [g for g in self.groups if g not in GOVERNABLE]
        if unknown or not self.groups or len(set(self.groups)) != len(self.groups):
            raise ValueError(
                f"committee.groups = {self.groups!r}: expected distinct names among {GOVERNABLE}"
            )


# --- what the committee decides ---


@dataclass(frozen=True)
class ProposeAction:
    """Queue `params` for `group` on the timelock (calldata_args: the struct as to_chain())."""

    group: str
    params: ParamGroup
    calldata_args: tuple[int, ...]
    evidence: dict[str, float]
    reason: str

    @property
    def method(self) -> str:
        """The RiskConfig setter the timelock will call."""
        return SETTERS[self.group].function


@dataclass(frozen=True)
class ExecuteAction:
    """Execute timelock proposal `pid` (its delay has passed, its grace period has not)."""

    pid: int
    group: str | None = None


@dataclass(frozen=True)
class QueuedProposal:
    """A proposal queued on the timelock and not yet executed."""

    pid: int
    group: str
    eta: int  # earliest execution time, unix seconds (the Proposed event's eta)
    params: ParamGroup
    not_before: int = 0  # after a failed execution: the next try
    attempts: int = 0  # failed executions so far


@dataclass
class Review:
    """One review, for the report: what the engine wanted and what was proposed."""

    time: int
    n_returns: int
    # the committee's targets: the design's, after the APC floor and hold (notes say which)
    targets: dict[str, ParamGroup] = field(default_factory=dict)
    proposed: dict[str, ParamGroup] = field(default_factory=dict)  # the steps proposed
    before: dict[str, ParamGroup] = field(default_factory=dict)  # in force when proposed
    held: dict[str, tuple[str, ...]] = field(default_factory=dict)  # fields in min_interval
    apc_held: dict[str, tuple[str, ...]] = field(default_factory=dict)  # not loosened (APC)
    dead_banded: dict[str, tuple[str, ...]] = field(default_factory=dict)
    evidence: dict[str, float] = field(default_factory=dict)  # summary (SUMMARY keys)
    notes: tuple[str, ...] = ()
    skipped: str | None = None  # why nothing was designed, if so


@dataclass(frozen=True)
class Analysis:
    """A review's inputs, frozen when it began; `run()` fits the ensemble and designs.

    `run` is a pure function of these fields (its Monte Carlo seed is in `targets`), so
    running it in another thread while the simulation goes on gives the same proposal.
    """

    time: int  # when the review began (its data ends here), unix seconds
    n_returns: int
    free: tuple[str, ...]  # the groups it may propose
    busy_notes: tuple[str, ...]
    returns: Any  # log returns on the sample grid
    dt_years: float
    latest_iv: float | None
    book: Book
    margin: MarginParams | None
    liquidation: LiquidationParams | None
    targets: DesignTargets
    kappa: float
    apc_hold: str | None = None  # why margins may not be loosened now (None: they may)
    anchors: HistoryAnchors | None = None  # the long past's anchors (None: no long past)

    def run(self) -> Proposal | str:
        """The design's proposal, or why there is none."""
        try:
            ensemble = fit_ensemble(self.returns, self.dt_years, self.latest_iv)
        except ValueError as exc:
            return f"the ensemble could not be fitted: {exc}"
        try:
            return design_ensemble(
                ensemble,
                self.book,
                self.margin,
                self.liquidation,
                self.targets,
                self.kappa,
                self.anchors,
            )
        except (ValueError, ParamError) as exc:
            return f"the design failed: {exc}"


# --- the committee ---


class RiskCommittee:
    """The risk committee's decisions: when to review, what to propose, what to execute.

    Bookkeeping: `review` marks a group pending when it proposes it; the caller then reports
    `proposal_queued` (with the pid and eta from the Proposed event) or `proposal_failed`;
    `executed` or `execution_failed` after an execution. Until then the group is busy.
    """

    def __init__(
        self, config: CommitteeConfig | None = None, long_history: LongHistory | None = None
    ):
        self.config = config or CommitteeConfig()
        self.long_history = long_history
        self.last_review: int | None = None
        self.pending: set[str] = set()  # proposed, not yet confirmed queued
        self.queued: dict[str, QueuedProposal] = {}
        self.history: list[Review] = []
        self.abandoned: list[tuple[QueuedProposal, str]] = []  # (proposal, why)

    # --- when ---

    def is_due(self, now: int) -> bool:
        """True at the first call and every review_every_hours after the last review."""
        if self.last_review is None:
            return True
        return now - self.last_review >= self.config.review_every_hours * HOUR

    def busy(self, group: str) -> bool:
        """A proposal of the group is in flight: sent, or queued and not executed."""
        return group in self.pending or group in self.queued

    # --- what ---

    def review(
        self,
        now: int,
        timestamps: Any,
        prices: Any,
        iv: Any,
        book: Book,
        current: dict[str, ParamGroup],
        rate_limits: dict[str, RateLimit],
        last_update: dict[tuple[Any, int], int],
        pool_nav: float,
    ) -> list[ProposeAction]:
        """Refit, redesign and propose the rate-limited steps of the groups that change.

        The same as `begin_review`, `Analysis.run` and `finish_review` in one go, at `now`.

        Args:
            now: this block's timestamp, unix seconds.
            timestamps, prices, iv: the price history (seconds, USD, ATM vol 0.6 = 60%);
                anything after `now` is ignored. iv may be None.
            book: every trader account as on-chain now.
            current: the parameters in force, by group name (margin and liquidation are
                also the design's starting point).
            rate_limits: each governed group's on-chain rate limit.
            last_update: (group name or id, field index) -> timestamp of the field's last
                on-chain change (0 or missing: never).
            pool_nav: the pool's net asset value, USD.

        Returns:
            One ProposeAction per governed group that changes; [] when no review is due.
        """
        analysis = self.begin_review(
            now, timestamps, prices, iv, book, current, pool_nav, rate_limits
        )
        if analysis is None:
            return []
        return self.finish_review(analysis, analysis.run(), current, rate_limits, last_update, now)

    def begin_review(
        self,
        now: int,
        timestamps: Any,
        prices: Any,
        iv: Any,
        book: Book,
        current: dict[str, ParamGroup],
        pool_nav: float,
        rate_limits: dict[str, RateLimit],
    ) -> Analysis | None:
        """Start a review: check its inputs and freeze them into an `Analysis` (the model
        fits and the design, the slow half, which may run elsewhere while the chain moves on).

        Returns None when no review is due, or when it is skipped (the reason is recorded
        in `history`). Arguments as for `review`.

        Raises:
            ValueError: `current` or `rate_limits` lacks a group the review may propose;
                nothing is recorded and the review stays due.
        """
        if not self.is_due(now):
            return None
        cfg = self.config
        self.expire(now)
        free = tuple(g for g in cfg.groups if not self.busy(g))
        for g in free:
            for name, given in (("current", current), ("rate_limits", rate_limits)):
                if g not in given:
                    raise ValueError(f"{name}: no entry for group {g!r}")
        self.last_review = now
        busy_notes = tuple(f"{g}: a proposal is in flight" for g in cfg.groups if self.busy(g))
        if not free:
            self._skip(now, 0, "every governed group has a proposal in flight")
            return None

        returns = sample_returns(now, timestamps, prices, cfg.lookback_hours * HOUR, cfg.sample_sec)
        n = len(returns)
        if n < cfg.min_returns:
            self._skip(
                now,
                n,
                f"too little data: {n} returns in the last {cfg.lookback_hours:g} h, "
                f"need {cfg.min_returns}",
            )
            return None
        if not (math.isfinite(pool_nav) and pool_nav > 0):
            self._skip(now, n, f"pool NAV {pool_nav} USD: no basis for the OI caps")
            return None
        if book.size.size == 0 or not np.any(book.size):
            self._skip(now, n, "the book holds no positions")
            return None
        targets = DesignTargets(
            coverage=cfg.coverage,
            horizon_sec=cfg.horizon_sec,
            n_paths=cfg.n_paths,
            seed=cfg.seed + len(self.history),
            es_share=cfg.es_share,
            pool_nav=float(pool_nav),
            lar_paths=cfg.lar_paths,
        )
        self.pending.update(free)  # busy until finish_review says what was proposed
        margin = cast(MarginParams | None, current.get("margin"))
        hold = None
        if cfg.apc and margin is not None:
            hold = loosening_hold(
                now, timestamps, prices, iv, margin.spot_shock, cfg.horizon_sec,
                cfg.sample_sec, cfg.hold_after_exceedance_days * DAY,
            )  # fmt: skip
        anchors = None
        if cfg.apc and self.long_history is not None:
            anchors = HistoryAnchors.of(
                self.long_history,
                sample_returns(now, timestamps, prices, math.inf, cfg.sample_sec),
                cfg.sample_sec / YEAR_SEC,
                cfg.horizon_sec,
                APC(stressed_weight=cfg.stressed_weight, stress_days=cfg.stress_days),
                cfg.ceiling_multiple,
            )
        return Analysis(
            time=now,
            n_returns=n,
            free=free,
            busy_notes=busy_notes,
            returns=np.array(returns, dtype=float),
            dt_years=cfg.sample_sec / YEAR_SEC,
            latest_iv=_latest_iv(now, timestamps, iv),
            book=book,
            margin=margin,
            liquidation=cast(LiquidationParams | None, current.get("liquidation")),
            targets=targets,
            kappa=cfg.kappa,
            apc_hold=hold,
            anchors=anchors,
        )

    def finish_review(
        self,
        analysis: Analysis,
        outcome: Proposal | str,
        current: dict[str, ParamGroup],
        rate_limits: dict[str, RateLimit],
        last_update: dict[tuple[Any, int], int],
        now: int,
    ) -> list[ProposeAction]:
        """Turn an analysis' proposal into rate-limited steps from the parameters in force
        at `now` (they may have changed since the review began); `outcome` is what
        `analysis.run()` returned (a Proposal, or why none could be made)."""
        self.pending.difference_update(analysis.free)
        if isinstance(outcome, str):
            self._skip(analysis.time, analysis.n_returns, outcome)
            return []
        for g in analysis.free:
            if g not in current or g not in rate_limits:
                raise ValueError(f"current / rate_limits: no entry for group {g!r}")
        evidence = {**outcome.evidence, "n_returns": float(analysis.n_returns)}
        record = Review(
            time=analysis.time,
            n_returns=analysis.n_returns,
            targets=dict(outcome.groups()),
            evidence={k: float(evidence[k]) for k in SUMMARY if k in evidence},
            notes=outcome.notes
            + analysis.busy_notes
            + ((f"APC: margins not loosened: {analysis.apc_hold}",) if analysis.apc_hold else ()),
        )
        actions = []
        for g in analysis.free:
            target = outcome.groups()[g]
            if g == "margin" and analysis.apc_hold:
                target = _not_looser(current[g], target, record)
            record.targets[g] = target  # what the committee aims for, after APC
            action = self._step(g, current[g], target, rate_limits[g], last_update, now, record)
            if action is not None:
                actions.append(replace(action, evidence=evidence))
                record.proposed[g] = action.params
                record.before[g] = current[g]
                self.pending.add(g)
        self.history.append(record)
        return actions

    def _step(
        self,
        group: str,
        current: ParamGroup,
        target: ParamGroup,
        limit: RateLimit,
        last_update: dict[tuple[Any, int], int],
        now: int,
        record: Review,
    ) -> ProposeAction | None:
        """The group's proposal: held and dead-banded fields keep their values, the rest
        take the rate-limited step towards the target. None when nothing changes."""
        fields = current.FIELDS
        old = current.to_chain()
        want = list(target.to_chain())
        held, banded = [], []
        for i, f in enumerate(fields):
            if want[i] == old[i]:
                continue
            if is_rate_limited(group, f.name) and too_recent(
                _last_update(last_update, group, i), limit.min_interval, now
            ):
                held.append(f.name)
                want[i] = old[i]
            elif abs(want[i] - old[i]) < self.config.dead_band * change_basis(f, old[i]):
                banded.append(f.name)
                want[i] = old[i]
        if held:
            record.held[group] = tuple(held)
        if banded:
            record.dead_banded[group] = tuple(banded)
        if want == list(old):
            return None
        aim = type(current).from_chain(want)
        try:
            new = step_towards(current, aim, limit).to_chain()
            params = type(current).from_chain(new)
            if params.to_chain() != new:
                raise ParamError(f"{group}: {new} does not convert back to itself")
        except ParamError as exc:  # e.g. a cross-field rule broken by holding some fields
            record.notes += (f"{group}: step not proposed: {exc}",)
            return None
        if new == old:
            return None
        moves = [
            f"{f.name} {f.to_human(a)} -> {f.to_human(b)}"
            + ("" if b == w else f" (target {f.to_human(w)})")
            for f, a, b, w in zip(fields, old, new, target.to_chain(), strict=True)
            if a != b
        ]
        reason = f"{group}: " + ", ".join(moves)
        if held:
            reason += f"; held (changed within min_interval): {', '.join(held)}"
        if banded:
            reason += f"; within the dead band: {', '.join(banded)}"
        return ProposeAction(group, params, new, {}, reason)

    def _skip(self, now: int, n: int, reason: str) -> list[ProposeAction]:
        self.history.append(Review(time=now, n_returns=n, skipped=reason))
        log.info("risk committee: review at %s skipped: %s", now, reason)
        return []

    # --- executions ---

    def due_executions(
        self, now: int, queued: list[QueuedProposal] | None = None
    ) -> list[ExecuteAction]:
        """Proposals past their eta (and any retry wait) and within the grace period."""
        items = list(self.queued.values()) if queued is None else queued
        grace = self.config.grace_period_sec
        return [
            ExecuteAction(q.pid, q.group)
            for q in items
            if max(q.eta, q.not_before) <= now <= q.eta + grace
        ]

    def expire(self, now: int) -> None:
        """Forget proposals past their grace period: the timelock will not execute them."""
        for g, q in list(self.queued.items()):
            if now > q.eta + self.config.grace_period_sec:
                self._abandon(g, "expired")

    # --- bookkeeping from the chain's answers ---

    def proposal_queued(self, group: str, pid: int, eta: int, params: ParamGroup) -> None:
        self.pending.discard(group)
        self.queued[group] = QueuedProposal(pid, group, int(eta), params)

    def proposal_failed(self, group: str, reason: str) -> None:
        self.pending.discard(group)
        log.warning("risk committee: proposal of %s failed: %s", group, reason)

    def executed(self, pid: int) -> None:
        for g, q in list(self.queued.items()):
            if q.pid == pid:
                del self.queued[g]

    def proposal_refused(self, pid: int, reason: str) -> None:
        """The target refused the proposal when it executed: the timelock ended it, so the
        group is free for the next review to propose afresh."""
        for g, q in list(self.queued.items()):
            if q.pid == pid:
                self._abandon(g, f"refused by the target: {reason}")

    def execution_failed(self, pid: int, now: int, reason: str) -> None:
        """The execution transaction reverted (too early, out of gas; the proposal stays
        queued): retry after retry_after_sec; abandon after max_execution_attempts."""
        for g, q in list(self.queued.items()):
            if q.pid != pid:
                continue
            q = replace(q, attempts=q.attempts + 1, not_before=now + self.config.retry_after_sec)
            self.queued[g] = q
            if q.attempts >= self.config.max_execution_attempts:
                self._abandon(g, f"{q.attempts} failed executions, last: {reason}")

    def _abandon(self, group: str, why: str) -> None:
        q = self.queued.pop(group)
        self.abandoned.append((q, why))
        log.warning("risk committee: proposal %s (%s) abandoned: %s", q.pid, group, why)


# --- anti-procyclicality ---


def loosening_hold(
    now: int,
    timestamps: Any,
    prices: Any,
    iv: Any,
    spot_shock: float,
    horizon_sec: int,
    sample_sec: int,
    exceedance_sec: float,
) -> str | None:
    """Why margins may not be loosened at `now`, or None (the module docstring's rule).

    Long-run levels use all the history up to now; recent realised vol the last week
    (risk.ensemble.recent_returns).
    """
    every = sample_returns(now, timestamps, prices, math.inf, sample_sec)
    per_year = math.sqrt(YEAR_SEC / sample_sec)
    recent_n = recent_returns(sample_sec / YEAR_SEC)
    if len(every) >= 2 * recent_n:
        recent, long_run = np.std(every[-recent_n:]) * per_year, np.std(every) * per_year
        if recent > long_run:
            return f"realised vol {recent:.0%} (last week) above its long-run {long_run:.0%}"
    if iv is not None:
        t, v = np.asarray(timestamps, dtype=float), np.asarray(iv, dtype=float)
        ok = (t <= now) & np.isfinite(v) & (v > 0)
        latest = _latest_iv(now, timestamps, iv)
        if latest is not None and latest > float(np.mean(v[ok])):
            return f"implied vol {latest:.0%} above its long-run mean {float(np.mean(v[ok])):.0%}"
    steps = max(1, int(round(horizon_sec / sample_sec)))
    window = (
        every[-int(exceedance_sec // sample_sec) - steps :] if exceedance_sec > 0 else every[:0]
    )
    if len(window) >= steps:
        worst = worst_loss(horizon_sums(window, steps))
        if worst > spot_shock:
            return (
                f"a {horizon_sec / HOUR:g} h loss of {worst:.1%} beat spot_shock "
                f"{spot_shock:.1%} within the last {exceedance_sec / DAY:g} days"
            )
    return None


def _not_looser(current: ParamGroup, target: ParamGroup, record: Review) -> ParamGroup:
    """The target with every LOOSER_WHEN_LOWER field that would fall kept at its value."""
    keep = {
        name: getattr(current, name)
        for name in LOOSER_WHEN_LOWER
        if getattr(target, name) < getattr(current, name)
    }
    if keep:
        record.apc_held[current.NAME] = tuple(keep)
    return replace(cast(MarginParams, target), **keep)


# --- data ---


def sample_returns(
    now: int, timestamps: Any, prices: Any, lookback_sec: float, sample_sec: int
) -> np.ndarray:
    """Log returns on a grid of sample_sec ending at now, over the lookback window.

    Each grid point takes the last price at or before it, so irregular histories (one
    price per block) give regular returns; nothing after `now` is used.
    """
    t = np.asarray(timestamps, dtype=float)
    p = np.asarray(prices, dtype=float)
    if t.shape != p.shape or t.ndim != 1:
        raise ValueError(
            f"timestamps, prices: expected 1-D arrays of one length, got {t.shape}, {p.shape}"
        )
    keep = (t <= now) & np.isfinite(p) & (p > 0)
    t, p = t[keep], p[keep]
    if len(t) < 2:
        return np.empty(0)
    order = np.argsort(t, kind="stable")
    t, p = t[order], p[order]
    start = max(now - lookback_sec, t[0])
    k = int((now - start) // sample_sec)
    grid = now - sample_sec * np.arange(k, -1, -1, dtype=float)
    idx = np.searchsorted(t, grid, side="right") - 1
    return np.diff(np.log(p[idx]))


def _latest_iv(now: int, timestamps: Any, iv: Any) -> float | None:
    """The last finite, positive implied vol at or before now (None: compare with realised)."""
    if iv is None:
        return None
    t = np.asarray(timestamps, dtype=float)
    v = np.asarray(iv, dtype=float)
    ok = (t <= now) & np.isfinite(v) & (v > 0)
    if not np.any(ok):
        return None
    return float(v[ok][np.argmax(t[ok])])


def _last_update(last_update: dict[tuple[Any, int], int], group: str, index: int) -> int:
    """When a field last changed on-chain (0: never), keyed by group name or group id."""
    found = last_update.get((group, index), last_update.get((GROUPS[group].GROUP_ID, index), 0))
    return int(found or 0)
