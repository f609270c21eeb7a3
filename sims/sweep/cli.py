"""The `optsim sweep` command.

    optsim sweep sweep.yaml [--workers N] [--address ADDR] [--no-ray] [--out DIR]
                            [--report-only] [--quiet]

Validates the sweep file (errors name the field, nothing runs), runs every run not yet
done in the results folder (default results/sweeps/<name>; the same command resumes an
interrupted sweep and re-runs failed runs), stores each as it finishes and writes
report.html. Exit status: 0 when every planned run is done, 1 when some failed (listed
with their errors), 2 for an invalid sweep file, 130 when interrupted (what finished is
kept and reported).

Standalone: `python -m sims.sweep.cli sweep.yaml ...`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from sims.project import RESULTS


def add_command(subparsers: Any) -> argparse.ArgumentParser:
    """Add `sweep` to optsim's subcommands."""
    p = subparsers.add_parser(
        "sweep", help="run a parameter sweep (grid, random or Optuna) and write its report"
    )
    p.add_argument("spec", type=Path, help="the sweep file (format: sims/sweep/spec.py)")
    p.add_argument("--workers", type=_workers, default=2, help="parallel runs (default 2)")
    p.add_argument(
        "--address", default=None, help="join an existing Ray cluster (ray://... or host:port)"
    )
    p.add_argument("--no-ray", action="store_true", help="run serially in this process")
    p.add_argument(
        "--out", type=Path, default=None, help="results folder (default results/sweeps/NAME)"
    )
    p.add_argument("--report-only", action="store_true", help="only analyse what is stored")
    p.add_argument("--quiet", action="store_true", help="no line per finished run")
    return p


def _workers(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--workers: {text!r} is not an integer") from None
    if not 1 <= n <= 1_024:
        raise argparse.ArgumentTypeError(f"--workers: {n} outside allowed range [1, 1024]")
    return n


def handle(args: argparse.Namespace) -> int:
    from sims.sweep.spec import SweepSpecError, load_spec

    try:
        spec = load_spec(args.spec)
    except SweepSpecError as exc:
        print(f"optsim sweep: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out or RESULTS / "sweeps" / spec.name).resolve()
    try:
        return _sweep(spec, out, args)
    except KeyboardInterrupt:
        print(
            "optsim sweep: interrupted; finished runs are kept, the same command resumes",
            file=sys.stderr,
        )
        return 130


def _sweep(spec: Any, out: Path, args: argparse.Namespace) -> int:
    import yaml

    from sims.sweep.execute import Outcome, Task, make_executor, tasks_for
    from sims.sweep.report import build_report
    from sims.sweep.store import ResultStore

    store = ResultStore(out)
    store.set_meta("spec", yaml.safe_load(Path(args.spec).read_text()))
    runs_per_set = len(spec.scenarios) * len(spec.seeds)
    if spec.method == "optuna":
        planned = spec.n_trials * runs_per_set
        todo_text = f"{spec.n_trials} trials of {runs_per_set} runs"
    else:
        tasks = tasks_for(spec, spec.param_sets())
        planned = len(tasks)
        todo = store.pending(tasks)
        todo_text = f"{planned} runs, {planned - len(todo)} done, {len(todo)} to run"
    print(f"optsim sweep {spec.name}: {todo_text}; results in {out}")

    timing: dict[str, Any] = {}
    interrupted = False
    if not args.report_only:
        finished = [0]

        def on_result(task: Task, outcome: Outcome) -> None:
            record(store, task, outcome)
            finished[0] += 1
            if not args.quiet:
                print(_line(task, outcome), flush=True)

        t0 = time.perf_counter()
        executor = make_executor(args.workers, args.address, args.no_ray)
        try:
            if spec.method == "optuna":
                from sims.sweep.optimise import optimise

                optimise(spec, store, executor, on_result)
            else:
                executor.run(todo, on_result)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            executor.close()
        wall = time.perf_counter() - t0
        if finished[0]:
            timing = {
                "this invocation:": f"{finished[0]} runs in {wall:.0f} s",
                "throughput": f"{finished[0] / wall * 60:.2f} runs/min",
                "executor": f"{executor.name} x{executor.workers}",
            }
    records = _planned_records(spec, store)
    result = build_report(spec, records, out, planned, timing)
    failed = [r for r in records if r["status"] == "failed"]
    done = sum(r["status"] == "done" for r in records)
    print(f"runs: {done} done, {len(failed)} failed, {planned - done - len(failed)} missing")
    for r in failed:
        first = (r["error"] or "").strip().splitlines()[:1]
        print(f"  failed {r['run_id']} {r['params']} seed {r['seed']}: {first[0] if first else ''}")
    best = result["best"]
    if best is not None:
        text = ", ".join(f"{p} = {best[p]:g}" for p in spec.parameters)
        print(f"recommended: {text} ({spec.objective.metric} {best['objective']:.4g})")
    else:
        print("recommended: none (no parameter set meets the constraints)")
    print(f"report: {result['path']}")
    if interrupted:
        raise KeyboardInterrupt
    return 1 if failed or done < planned else 0


def record(store: Any, task: Any, outcome: dict[str, Any]) -> None:
    """Store one outcome of sims.sweep.execute.run_task."""
    store.record(
        task.run_id,
        task.params,
        task.scenario,
        task.seed,
        outcome["status"],
        param_key=task.param_key,
        summary=outcome.get("summary"),
        steps=outcome.get("steps"),
        error=outcome.get("error"),
        seconds=outcome.get("seconds"),
        trial=task.trial,
    )


def _planned_records(spec: Any, store: Any) -> list[dict[str, Any]]:
    """The stored runs this sweep file plans (a changed file leaves older runs out)."""
    from sims.sweep.execute import tasks_for

    if spec.method == "optuna":
        trials = store.trials()
        tasks = tasks_for(spec, [t["params"] for t in trials], [t["number"] for t in trials])
    else:
        tasks = tasks_for(spec, spec.param_sets())
    return store.records({t.run_id for t in tasks})


def _line(task: Any, outcome: dict[str, Any]) -> str:
    params = " ".join(f"{k}={v:g}" for k, v in task.params.items())
    where = f"{Path(task.scenario).stem} seed {task.seed}"
    if outcome["status"] == "done":
        s = outcome["summary"]
        return (
            f"  done   {params} {where} in {outcome.get('seconds', 0):.1f} s: "
            f"bad debt {s['bad_debt_usd']:,.0f} USD, LP return {s['lp_return']:+.2%}"
        )
    first = (outcome.get("error") or "").strip().splitlines()[:1]
    return f"  FAILED {params} {where}: {first[0] if first else ''}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="optsim")
    sub = parser.add_subparsers(dest="command", required=True)
    add_command(sub)
    args = parser.parse_args(["sweep", *(sys.argv[1:] if argv is None else argv)])
    return handle(args)


if __name__ == "__main__":
    sys.exit(main())
