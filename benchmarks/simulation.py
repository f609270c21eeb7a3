"""Simulation speed: steps and transactions per second of `optsim run`, and where the time goes.

The 1,000-agent case runs a tenth of the blocks and its 720-block time is extrapolated
(labelled as such in the table): the full run would take most of the benchmark's time.

    python -m benchmarks.simulation            # BENCH_SIM=quick for a shorter table

Runs the model through sims.runner (the same path as `optsim run`) on anvil with about
100 and about 1,000 agents, and a small case on ape's embedded chain, and prints for each:
steps/s, transactions/s, and the split of the step time between the chain (signing,
sending, mining, receipts), state reads, the agents' decisions (Python and the risk engine)
and the risk committee (its model fits and design run on a worker thread while the chain
works; that time is listed separately, and only a wait for it shows in the split).
Targets (the simulation issue): 720 hourly blocks with 200 agents in under 2 minutes on
anvil, 1,000 agents in under 10 minutes. The peer is the first increment of the simulation,
which sent every transaction through ape (~30 ms each, benchmarks/protocol_chain.py): its
time is estimated from the same run's transaction count.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import replace

from sims.model import SimConfig
from sims.runner import run_simulation

APE_SECONDS_PER_TX = 0.035  # ape's one-at-a-time send on anvil (protocol_chain: ~25-30 tx/s)


def agents_config(n: int, steps: int, governance: bool) -> SimConfig:
    """About n agents: a quarter writers, the rest noise traders, two liquidators."""
    writers = max(1, n // 4)
    return SimConfig(
        scenario="crash",
        steps=steps,
        writers=writers,
        noise_traders=max(1, n - writers - 2),
        liquidators=2,
        governance=governance,
        history_hours=24 * 30 if governance else 0,
    )


def embedded_config() -> SimConfig:
    """A small case that fits the embedded chain's test accounts (9 besides the deployer)."""
    return replace(
        agents_config(8, 6, governance=False), writers=3, noise_traders=2, liquidators=1,
        directional=1, vol_traders=0, put_hedgers=0, lps=0,
    )  # fmt: skip


def measure(cfg: SimConfig, chain: str, seed: int = 1) -> dict:
    t0 = time.perf_counter()
    result = run_simulation(cfg, seed, chain)
    wall = time.perf_counter() - t0
    meta, steps = result.meta, result.steps
    txs = int(steps["txs"].sum())
    return {
        "chain": chain,
        "agents": meta["agents"],
        "steps": cfg.steps,
        "governance": cfg.governance,
        "wall_s": wall,
        "run_s": meta["run_seconds"],
        "steps_per_s": meta["steps_per_second"],
        "tx_per_s": meta["tx_per_second"],
        "txs": txs,
        "ape_estimate_s": txs * APE_SECONDS_PER_TX,
        "timings": meta.get("timings", {}),
        "analysis_s": meta.get("committee_analysis_seconds", 0.0),
    }


def main() -> int:
    quick = os.environ.get("BENCH_SIM") == "quick"
    steps = 48 if quick else 720
    cases = [
        (agents_config(100, steps, governance=False), "anvil"),
        (agents_config(200, steps, governance=True), "anvil"),
        (agents_config(1_000, max(12, steps // 10), governance=False), "anvil"),
        (embedded_config(), "embedded"),
    ]
    print("# Simulation benchmark\n")
    print(f"{os.cpu_count()} cores, load average at start {os.getloadavg()[0]:.2f}\n")
    print(
        "| chain | agents | steps | governance | run s | steps/s | tx/s | txs | "
        "720 blocks (extrapolated) s | ape one-by-one (est.) s | speed-up | "
        "chain / reads / agents / committee s | committee analysis (worker thread) s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    ok = True
    for cfg, chain in cases:
        r = measure(cfg, chain)
        t = r["timings"]
        split = " / ".join(
            f"{t.get(k, 0.0):.1f}" for k in ("chain", "reads", "agents", "committee")
        )
        speedup = r["ape_estimate_s"] / r["run_s"] if r["run_s"] else float("nan")
        print(
            f"| {r['chain']} | {r['agents']} | {r['steps']} | {r['governance']} | {r['run_s']:.1f} "
            f"| {r['steps_per_s']:.2f} | {r['tx_per_s']:.0f} | {r['txs']} "
            f"| {720 * r['run_s'] / r['steps']:.0f} "
            f"| {r['ape_estimate_s']:.0f} | {speedup:.1f}x | {split} | {r['analysis_s']:.1f} |"
        )
        if chain == "anvil" and r["agents"] >= 150 and r["agents"] < 500 and steps == 720:
            ok &= r["run_s"] < 120
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
