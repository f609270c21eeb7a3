"""Run every benchmark: `python -m benchmarks` (the README's `make bench`).

Each prints its table; a benchmark that misses a target or whose check fails returns 1, and
the run goes on to the next so that one table never hides the others.
"""

import sys

from benchmarks import blocks, margin, montecarlo, pricing, protocol_chain, simulation, sweep

if __name__ == "__main__":
    statuses = [
        bench.main() or 0
        for bench in (pricing, margin, montecarlo, protocol_chain, blocks, simulation, sweep)
    ]
    sys.exit(max(statuses))
