"""Bayesian search over parameter sets with Optuna's ask/tell, the store as the record.

Each trial is one parameter set evaluated on every scenario with every seed; its value is
the objective's metric across those runs (sims.sweep.analysis) and each constraint is
told to Optuna as a constraint value (<= 0 when met), so the TPE sampler prefers sets
that meet them. Trials are asked in batches that keep the workers busy.

The study lives in memory and is rebuilt from the store on every start: trials whose
runs are all done are added back with their values; trials with failed or missing runs
are asked again with the same parameters (enqueued) and only their missing runs run. So
the same command resumes an interrupted search. (The sampler is seeded with sampler_seed
plus the number of stored trials, so its draws after a resume differ from those of an
uninterrupted search; the trials already made are kept.)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal, cast

from risk.params import ParamError
from sims.sweep.analysis import param_set_table
from sims.sweep.execute import Outcome, Task, tasks_for
from sims.sweep.spec import Range, SweepSpec, check_relations, param_key
from sims.sweep.store import ResultStore


def distributions(spec: SweepSpec) -> dict[str, Any]:
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    out: dict[str, Any] = {}
    for name, v in spec.parameters.items():
        if isinstance(v, Range):
            if v.integer:
                out[name] = IntDistribution(int(v.low), int(v.high), log=v.log)
            else:
                out[name] = FloatDistribution(v.low, v.high, log=v.log)
        else:
            out[name] = CategoricalDistribution(v)
    return out


def optimise(
    spec: SweepSpec,
    store: ResultStore,
    executor: Any,
    on_result: Callable[[Task, Outcome], None],
) -> Any:
    """Run (or resume) the search until spec.n_trials trials are evaluated; returns the
    study. `on_result` stores each run (sims.sweep.cli.record)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = distributions(spec)
    stored = store.trials()
    # seeded by the trials already made too: a resumed search must not redraw the same
    # random start-up points
    study = optuna.create_study(
        direction=cast(Literal["minimize", "maximize"], spec.objective.direction),
        sampler=optuna.samplers.TPESampler(seed=spec.sampler_seed + len(stored)),
    )
    redo: list[dict[str, Any]] = []
    for t in stored:
        done_before = tasks_for(spec, [t["params"]], [t["number"]])
        if store.pending(done_before):
            redo.append(t)
            continue
        value, constraints = _evaluate(spec, store, done_before)
        study.add_trial(
            optuna.trial.create_trial(
                params=t["params"],
                distributions=dists,
                value=value,
                state=optuna.trial.TrialState.COMPLETE
                if value is not None
                else optuna.trial.TrialState.FAIL,
                constraints=constraints,
            )
        )
    evaluated = len(study.trials)  # enqueued trials count only once asked and told
    for t in redo:
        study.enqueue_trial(t["params"])
    next_number = max((t["number"] for t in stored), default=-1) + 1
    runs_per_trial = len(spec.scenarios) * len(spec.seeds)
    batch_size = max(1, math.ceil(getattr(executor, "workers", 1) / runs_per_trial))

    while evaluated < spec.n_trials or redo:
        batch = []
        for _ in range(min(batch_size, max(spec.n_trials - evaluated, len(redo)))):
            trial = study.ask(dists)
            if redo:
                number = redo.pop(0)["number"]
            else:
                number, next_number = next_number, next_number + 1
            params = {k: _plain(trial.params[k]) for k in spec.parameters}
            store.save_trial(number, params, param_key(params))
            batch.append((trial, number, params))
        tasks: list[Task] = []
        for _trial, number, params in batch:
            t_tasks = tasks_for(spec, [params], [number])
            try:
                check_relations(params)
            except ParamError as exc:  # recorded as failed runs; nothing starts
                for task in store.pending(t_tasks):
                    on_result(
                        task,
                        {"run_id": task.run_id, "status": "failed", "error": f"ParamError: {exc}"},
                    )
                continue
            tasks += store.pending(t_tasks)
        executor.run(tasks, on_result)
        for trial, number, params in batch:
            value, constraints = _evaluate(spec, store, tasks_for(spec, [params], [number]))
            if value is None:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                store.finish_trial(number, "fail", None, None)
            else:
                for name, slack in constraints.items():
                    trial.set_constraint(name, slack)
                study.tell(trial, value)
                store.finish_trial(number, "complete", value, list(constraints.values()))
            evaluated += 1
    return study


def _evaluate(
    spec: SweepSpec, store: ResultStore, tasks: list[Task]
) -> tuple[float | None, dict[str, float]]:
    """(objective, {constraint: slack}) of one trial's runs; None when none is done."""
    records = store.records({t.run_id for t in tasks})
    table = param_set_table(records, spec)
    if table.empty or table.iloc[0]["done"] == 0:
        return None, {}
    row = table.iloc[0]
    value = float(row["objective"])
    if not math.isfinite(value):
        return None, {}
    slack = {
        str(c): min(float(s), 1e12)
        for c, s in zip(spec.objective.constraints, row["constraint_slack"], strict=True)
    }
    return value, slack


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v
