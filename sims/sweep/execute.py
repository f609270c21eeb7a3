"""Running a sweep's tasks: on Ray (a local instance or a cluster) or serially in-process.

One task is one run: `run_task` builds the SimConfig, calls the runner (by default
sims.runner.run_simulation, which starts its own anvil on a free port through ape-foundry,
`host: auto` in ape-config.yaml, and stops it) and summarises it. Whatever a run raises
comes back as a failed outcome with its error; a Ray worker that dies (a segfault, the
OOM killer) comes back the same way through ray.exceptions. Both executors hand each
outcome to a callback as soon as it finishes, which stores it, so an interrupted sweep
keeps everything that finished.

Ray workers are long-lived processes: the imports (ape, numba kernels) are paid once per
worker, not once per run. On a cluster (`--address`), every node needs this project
installed (`make setup`) with anvil on the PATH.
"""

from __future__ import annotations

import importlib
import os
import socket
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sims.project import use_project_env
from sims.sweep.spec import SweepSpec, grouped, param_key

Outcome = dict[str, Any]  # run_id, status, summary, steps, error, seconds, host


@dataclass(frozen=True)
class Task:
    run_id: str
    params: dict[str, Any]  # "group.field" -> value
    scenario: str
    seed: int
    steps: int
    config: dict[str, Any] = field(default_factory=dict)
    chain: str = "anvil"
    runner: str = "sims.runner:run_simulation"
    trial: int | None = None

    @property
    def param_key(self) -> str:
        return param_key(self.params)


def tasks_for(
    spec: SweepSpec, param_sets: Sequence[dict[str, Any]], trials: Sequence[int] | None = None
) -> list[Task]:
    """Every parameter set on every scenario with every seed."""
    out = []
    for i, params in enumerate(param_sets):
        for scenario in spec.scenarios:
            for seed in spec.seeds:
                out.append(
                    Task(
                        spec.run_id(params, scenario, seed),
                        dict(params),
                        scenario,
                        seed,
                        spec.steps,
                        dict(spec.config),
                        spec.chain,
                        spec.runner,
                        trials[i] if trials is not None else None,
                    )
                )
    return out


def run_task(task: Task) -> Outcome:
    """One run, in whatever process runs it; never raises for a run's own failure."""
    t0 = time.perf_counter()
    out: Outcome = {"run_id": task.run_id, "host": f"{socket.gethostname()}:{os.getpid()}"}
    try:
        use_project_env()
        from sims.config import SimConfig
        from sims.report import summarise
        from sims.sweep.analysis import run_extras

        module, _, name = task.runner.partition(":")
        runner = getattr(importlib.import_module(module), name)
        cfg = SimConfig.from_dict({**task.config, "scenario": task.scenario, "steps": task.steps})
        result = runner(cfg, task.seed, task.chain, params=grouped(task.params))
        summary = summarise(result.steps, result.meta)
        summary.update(run_extras(result.steps))
        out.update(status="done", summary=summary, steps=result.steps)
    except Exception as exc:  # a run's failure is a result, recorded with its error
        tb = traceback.format_exception(exc)
        out.update(status="failed", error=f"{type(exc).__name__}: {exc}\n" + "".join(tb[-3:]))
    out["seconds"] = round(time.perf_counter() - t0, 3)
    return out


# --- executors ---


class SerialExecutor:
    """Runs tasks one after another in this process (no Ray)."""

    name = "serial"
    workers = 1

    def run(self, tasks: Sequence[Task], on_result: Callable[[Task, Outcome], None]) -> None:
        for task in tasks:
            on_result(task, run_task(task))

    def close(self) -> None:
        pass


class RayExecutor:
    """Runs tasks as Ray remote tasks, one CPU each, `workers` at a time on a local
    instance, or on an existing cluster when `address` is given."""

    name = "ray"

    def __init__(self, workers: int = 2, address: str | None = None):
        import ray

        os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
        os.environ.setdefault("RAY_enable_metrics_collection", "0")  # no metrics agent to reach
        self.workers = workers
        t0 = time.perf_counter()
        if address:
            ray.init(address=address, log_to_driver=False, ignore_reinit_error=True)
            self.workers = int(ray.cluster_resources().get("CPU", workers))
        else:
            ray.init(
                num_cpus=workers,
                include_dashboard=False,
                log_to_driver=False,
                ignore_reinit_error=True,
                configure_logging=False,
            )
        self.init_seconds = time.perf_counter() - t0
        self._ray = ray
        # a crashed worker is reported, not retried: the next `optsim sweep` re-runs it
        self._remote = ray.remote(num_cpus=1, max_retries=0)(run_task)

    def run(self, tasks: Sequence[Task], on_result: Callable[[Task, Outcome], None]) -> None:
        ray = self._ray
        pending = {self._remote.remote(t): t for t in tasks}
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    task = pending.pop(ref)
                    try:
                        outcome = ray.get(ref)
                    except ray.exceptions.RayError as exc:  # the worker died or was killed
                        outcome = {
                            "run_id": task.run_id,
                            "status": "failed",
                            "error": f"{type(exc).__name__}: {_first_lines(exc)}",
                        }
                    on_result(task, outcome)
        finally:
            # interrupted: a KeyboardInterrupt in each running task, so that the runner
            # stops its chain (a forced cancel would kill the worker and orphan its anvil)
            for ref in pending:
                ray.cancel(ref, force=False)

    def close(self) -> None:
        self._ray.shutdown()


def make_executor(workers: int, address: str | None = None, no_ray: bool = False) -> Any:
    """Ray when it is installed and wanted, else the serial executor."""
    if no_ray:
        return SerialExecutor()
    try:
        import ray  # noqa: F401
    except ImportError:
        print("optsim sweep: ray is not installed; running serially", file=sys.stderr)
        return SerialExecutor()
    return RayExecutor(workers, address)


def _first_lines(exc: BaseException, n: int = 6) -> str:
    return "\n".join(str(exc).strip().splitlines()[:n])
