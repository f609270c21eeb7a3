"""Monte Carlo throughput of risk.montecarlo (via risk.tail_models) against a numpy peer.

    python -m benchmarks.montecarlo

Measured in one run on the same problem (terminal log return, running min and max of each
path, nothing stored): path-steps per second of
(a) GBM and Merton jump diffusion, ours (numba, streaming, parallel and serial) vs numpy
    vectorised over paths in blocks of steps (np.random.Generator normals and Poisson counts,
    cumsum for the running path); targets 300M (GBM) and 150M (Merton) path-steps/s;
(b) first-call latency in fresh processes: compile with an empty numba cache (cold), then
    load the cached machine code (warm).

Times are the best of several repeats; the load average is printed because other processes
share the machine's 2 cores.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Any

import numba
import numpy as np

from benchmarks import timing
from risk.tail_models import GBM, Merton

ROOT = Path(__file__).resolve().parent.parent
DT = 1.0 / 252.0
TARGETS = {"GBM": 300e6, "Merton": 150e6}  # path-steps per second, streaming, 2 threads
MODELS = {
    "GBM": GBM(mu=0.05, sigma=0.6),
    "Merton": Merton(mu=0.05, sigma=0.5, lam=10.0, mu_j=-0.05, sigma_j=0.1),
}


def numpy_horizon(model: Any, n_paths: int, n_steps: int, seed: int, block: int = 50) -> tuple:
    """Terminal, min and max of each path: numpy, vectorised over paths, `block` steps at a
    time (so memory stays n_paths x block)."""
    rng = np.random.default_rng(seed)
    drift, vol = model.mu * DT, model.sigma * math.sqrt(DT)
    x = np.zeros(n_paths)
    lo, hi = np.zeros(n_paths), np.zeros(n_paths)
    jumps = isinstance(model, Merton)
    for start in range(0, n_steps, block):
        m = min(block, n_steps - start)
        inc = rng.standard_normal((n_paths, m))
        inc *= vol
        inc += drift
        if jumps:
            counts = rng.poisson(model.lam * DT, (n_paths, m))
            hit = counts > 0  # few steps have jumps: draw their sizes only there
            n_hit = counts[hit]
            inc[hit] += model.mu_j * n_hit + model.sigma_j * np.sqrt(n_hit) * rng.standard_normal(
                n_hit.shape[0]
            )
        path = np.cumsum(inc, axis=1)
        path += x[:, None]
        np.minimum(lo, path.min(axis=1), out=lo)
        np.maximum(hi, path.max(axis=1), out=hi)
        x = path[:, -1].copy()
    return x, lo, hi


def bench_throughput(n_paths: int, n_steps: int, n_paths_numpy: int) -> tuple[list[str], bool]:
    rows = [
        "| model | ours, parallel | ours, serial | numpy peer | parallel / numpy "
        "| parallel / serial | target | met |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    all_met = True
    for name, model in MODELS.items():
        out = np.empty((4, n_paths))
        steps = n_paths * n_steps

        def ours(parallel: bool, model: Any = model, out: np.ndarray = out) -> None:
            model.simulate_horizon(n_paths, n_steps, DT, seed=1, parallel=parallel, out=out)

        t_par = timing.best_of(lambda ours=ours: ours(True), repeat=5)
        t_ser = timing.best_of(lambda ours=ours: ours(False), repeat=2)
        t_np = timing.best_of(
            lambda model=model: numpy_horizon(model, n_paths_numpy, n_steps, 1), repeat=2
        )
        par, ser, peer = steps / t_par, steps / t_ser, n_paths_numpy * n_steps / t_np
        met = par >= TARGETS[name]
        all_met &= met
        rows.append(
            f"| {name} | {par / 1e6:.0f} M/s | {ser / 1e6:.0f} M/s | {peer / 1e6:.0f} M/s "
            f"| **{par / peer:.1f}x** | {par / ser:.2f}x | {TARGETS[name] / 1e6:.0f} M/s "
            f"| {'yes' if met else 'no'} |"
        )
    return rows, all_met


def check_against_peer(n_paths: int = 200_000, n_steps: int = 63) -> list[str]:
    """Same distribution from both (different random numbers): mean and sd of the terminal,
    mean of the minimum, each as ours / numpy."""
    rows = ["| model | terminal mean | terminal sd | mean of minimum |", "|---|---:|---:|---:|"]
    for name, model in MODELS.items():
        ours = model.simulate_horizon(n_paths, n_steps, DT, seed=3)
        peer = numpy_horizon(model, n_paths, n_steps, 3)
        rows.append(
            f"| {name} | {ours.terminal.mean():.5f} vs {peer[0].mean():.5f} "
            f"| {ours.terminal.std():.5f} vs {peer[0].std():.5f} "
            f"| {ours.minimum.mean():.5f} vs {peer[1].mean():.5f} |"
        )
    return rows


_FIRST_CALL = """
import time
t0 = time.perf_counter()
from risk.tail_models import GBM, Merton
t1 = time.perf_counter()
GBM(0.0, 0.5).simulate_horizon(100, 10, 0.01, seed=1, parallel=True)
t2 = time.perf_counter()
Merton(0.0, 0.5, 5.0, 0.0, 0.1).simulate_horizon(100, 10, 0.01, seed=1, parallel=False)
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2)
"""


def first_call_latency() -> list[str]:
    """Import and first calls in fresh processes, cold and warm numba cache."""
    return timing.first_call_latency(
        _FIRST_CALL,
        ("import", "GBM (parallel)", "Merton (serial)"),
        ("{:.2f} s", "{:.2f} s", "{:.3f} s"),
    )


def main() -> int:
    n_paths = int(os.environ.get("BENCH_PATHS", "200000"))
    n_steps = int(os.environ.get("BENCH_STEPS", "1000"))
    print("# Monte Carlo benchmarks\n")
    print(
        f"numba {numba.__version__}, numpy {np.__version__}, {numba.config.NUMBA_NUM_THREADS} "
        f"threads, {os.cpu_count()} cores, load average at start {os.getloadavg()[0]:.2f}\n"
    )
    print(
        f"## (a) streaming terminal + min + max, {n_paths:,} paths x {n_steps:,} steps "
        "(path-steps/s; ours best of 5, serial and numpy best of 2)\n"
    )
    rows, met = bench_throughput(n_paths, n_steps, max(n_paths // 4, 1))
    print("\n".join(rows))
    print("\nSame distributions (ours vs numpy, 200,000 paths x 63 daily steps):\n")
    print("\n".join(check_against_peer()))
    print("\n## (b) first-call latency\n")
    print("\n".join(first_call_latency()))
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")
    if not met:
        print("\ntargets not met on this run (see the load average: the 2 cores are shared)")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
