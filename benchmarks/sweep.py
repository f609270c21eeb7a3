"""Sweep throughput: runs per minute with 1 and 2 Ray workers, the scaling efficiency, and
Ray's overhead per run against its peer, the same runs called serially in this process.

    python -m benchmarks.sweep          # BENCH_SWEEP_RUNS=N (default 6), BENCH_SWEEP_STEPS

The sweep: margin.spot_shock in a grid, seeds 0.., a short crash with few agents, each run
on its own anvil, stored as in `optsim sweep`. Ray's time is split into its start-up
(ray.init and one warm-up run per worker: imports, numba kernels, once per worker process)
and the runs; the overhead per run is the Ray 1-worker time per run minus the in-process
time per run (the peer is warmed up the same way, by one run first). On 2 cores each run's anvil
competes with the other worker, so 2 workers cannot reach twice the throughput.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

from sims.sweep.cli import record
from sims.sweep.execute import RayExecutor, SerialExecutor, tasks_for
from sims.sweep.spec import spec_from_dict
from sims.sweep.store import ResultStore

CONFIG = {
    "writers": 3,
    "noise_traders": 2,
    "directional": 0,
    "vol_traders": 0,
    "put_hedgers": 0,
    "lps": 1,
    "governance": False,
    "history_hours": 0,
}


def small_sweep(n_runs: int, steps: int) -> Any:
    seeds = 2
    shocks = [round(0.1 + 0.05 * i, 2) for i in range(max(1, n_runs // seeds))]
    return spec_from_dict(
        {
            "parameters": {"margin.spot_shock": shocks},
            "scenarios": ["crash"],
            "seeds": seeds,
            "steps": steps,
            "config": CONFIG,
        },
        name="bench",
    )


def measure(executor: Any, tasks: list[Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        store = ResultStore(folder)
        failed: list[str] = []

        def on_result(task: Any, outcome: dict[str, Any]) -> None:
            record(store, task, outcome)
            if outcome["status"] != "done":
                failed.append(outcome.get("error", "")[:200])

        t0 = time.perf_counter()
        executor.run(tasks, on_result)
        wall = time.perf_counter() - t0
        run_seconds = [r["seconds"] for r in store.records() if r["seconds"] is not None]
    return {"wall": wall, "failed": failed, "run_seconds": run_seconds}


def main() -> int:
    n_runs = int(os.environ.get("BENCH_SWEEP_RUNS", "6"))
    steps = int(os.environ.get("BENCH_SWEEP_STEPS", "12"))
    spec = small_sweep(n_runs, steps)
    tasks = tasks_for(spec, spec.param_sets())
    n = len(tasks)
    # the peer: the same runs in this process, after one warm-up run (imports, numba)
    t0 = time.perf_counter()
    warm = measure(SerialExecutor(), tasks[:1])
    cold_first = time.perf_counter() - t0
    serial = measure(SerialExecutor(), tasks)
    rows = [("in-process, serial (peer)", 1, 0.0, serial)]
    for workers in (1, 2):
        t0 = time.perf_counter()
        ray_exec = RayExecutor(workers)
        measure(ray_exec, tasks[:workers])  # one run per worker, as the peer's warm-up
        init = time.perf_counter() - t0
        try:
            rows.append(
                (
                    f"Ray, {workers} worker{'s' * (workers > 1)}",
                    workers,
                    init,
                    measure(ray_exec, tasks),
                )
            )
        finally:
            ray_exec.close()
    print(
        f"\n### Sweep throughput ({n} runs of {steps} blocks, crash, "
        f"{sum(CONFIG[k] for k in ('writers', 'noise_traders', 'lps'))} traders and LPs; "
        f"{os.cpu_count()} cores)\n"
    )
    print(
        "| executor | workers | start-up s (init + warm-up run) | sweep wall s | runs/min "
        "| runs/min incl. start-up | mean run s (in worker) | failed |"
    )
    print("|---|---|---|---|---|---|---|---|")
    thr = {}
    for name, workers, init, m in rows:
        per_min = n / m["wall"] * 60
        per_min_all = n / (m["wall"] + init) * 60
        thr[name] = per_min
        mean_run = sum(m["run_seconds"]) / len(m["run_seconds"]) if m["run_seconds"] else 0.0
        print(
            f"| {name} | {workers} | {init:.1f} | {m['wall']:.1f} | {per_min:.2f} | "
            f"{per_min_all:.2f} | {mean_run:.1f} | {len(m['failed'])} |"
        )
    serial_per_run = serial["wall"] / n
    ray1 = next(r for r in rows if r[1] == 1 and r[0].startswith("Ray"))
    ray2 = next(r for r in rows if r[1] == 2)
    overhead = ray1[3]["wall"] / n - serial_per_run
    efficiency = (n / ray2[3]["wall"]) / (2 * n / ray1[3]["wall"])
    print(
        f"\n- first run in a fresh process (imports, numba, chain): {cold_first:.1f} s "
        f"(warm-up {'ok' if not warm['failed'] else 'FAILED'})"
    )
    print(
        f"- Ray overhead per run (1 worker vs in-process): {overhead:+.2f} s "
        f"({overhead / serial_per_run:+.0%} of an in-process run of {serial_per_run:.1f} s); "
        f"Ray start-up {ray1[2]:.1f} s once per sweep"
    )
    print(
        f"- scaling efficiency, 2 workers vs 1: {efficiency:.0%} "
        f"(throughput x{(n / ray2[3]['wall']) / (n / ray1[3]['wall']):.2f})"
    )
    failed = sum(len(r[3]["failed"]) for r in rows)
    if failed:
        print(f"- {failed} runs failed: {rows[0][3]['failed'][:1]}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
