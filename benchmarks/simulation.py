"""Simulation speed: steps and transactions per second of `optsim run`, and where the time goes.

    python -m benchmarks.simulation            # BENCH_SIM=quick for a shorter table

Runs the model through sims.runner (the same path as `optsim run`) on the default crash
scenario with about 100, 200 and 1,000 agents on anvil (720 hourly blocks, the last two
with the risk committee as in the default run), and with about 100 and 1,000 agents on
ape's embedded chain. py-evm executes a margin-heavy transaction in ~0.2 s, so the
embedded rows run only the first few blocks and their 720-block time is extrapolated
(labelled as such; the first blocks carry fewer positions than later ones, so it is a
lower bound). Each row prints steps/s, transactions/s, and the split of the step time
between the chain (signing, sending, mining, receipts), state reads, the agents'
decisions (Python and the risk engine's margins) and the risk committee (its model fits
and design run on a worker thread while the chain works; that time is listed separately,
and only a wait for it shows in the split).

Targets (the simulation issue): 720 hourly blocks with 200 agents in under 2 minutes on
anvil, 1,000 agents in under 10 minutes. The peer is the first increment of the
simulation, which sent every transaction through ape (~16 ms each on anvil,
benchmarks/protocol_chain.py): its time is estimated from the same run's transaction count.
"""

from __future__ import annotations

import os
import sys
import time

from sims.config import SimConfig
from sims.runner import run_simulation

APE_SECONDS_PER_TX = 0.016  # ape's one-at-a-time send on anvil (protocol_chain: 60-65 tx/s)


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


TARGETS_S = {200: 120.0, 1_000: 600.0}  # agents (nominal) -> 720 blocks on anvil, seconds


def main() -> int:
    quick = os.environ.get("BENCH_SIM") == "quick"
    steps = 48 if quick else 720
    cases = [  # (nominal agents, chain, blocks, governance)
        (100, "anvil", steps, False),
        (200, "anvil", steps, True),
        (1_000, "anvil", steps, True),
        (100, "embedded", 2 if quick else 6, False),
        (1_000, "embedded", 1 if quick else 3, False),
    ]
    print("# Simulation benchmark\n")
    print(f"{os.cpu_count()} cores, load average at start {os.getloadavg()[0]:.2f}\n")
    print(
        "| chain | agents | blocks | governance | run s | blocks/s | tx/s | txs | "
        "720 blocks s | target s | ape one-by-one (est.) s | speed-up | "
        "chain / reads / agents / committee s | committee analysis (worker thread) s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    ok = True
    for nominal, chain, blocks, governance in cases:
        r = measure(agents_config(nominal, blocks, governance), chain)
        t = r["timings"]
        split = " / ".join(
            f"{t.get(k, 0.0):.1f}" for k in ("chain", "reads", "agents", "committee")
        )
        # the embedded chain sends one by one already: no batched-vs-ape comparison there
        peer = "- | -"
        if chain == "anvil" and r["run_s"]:
            peer = f"{r['ape_estimate_s']:.0f} | {r['ape_estimate_s'] / r['run_s']:.1f}x"
        full = 720 * r["run_s"] / r["steps"]
        label = f"{full:.0f}" if r["steps"] == 720 else f"~{full:.0f} (extrapolated)"
        target = TARGETS_S.get(nominal) if chain == "anvil" else None
        met = ""
        if target is not None and r["steps"] == 720:
            met = " met" if r["run_s"] < target else " **missed**"
            ok &= r["run_s"] < target
        print(
            f"| {r['chain']} | {r['agents']} | {r['steps']} | {r['governance']} | {r['run_s']:.1f} "
            f"| {r['steps_per_s']:.2f} | {r['tx_per_s']:.0f} | {r['txs']} | {label} "
            f"| {f'{target:.0f}{met}' if target else '-'} "
            f"| {peer} | {split} | {r['analysis_s']:.1f} |"
        )
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
