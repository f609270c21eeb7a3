"""What every benchmark needs: best-of timing, and first-call latency in fresh processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def best_of(fn: Callable[[], Any], repeat: int = 5) -> float:
    """Seconds of the fastest of `repeat` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def first_call_latency(
    script: str, columns: tuple[str, ...], formats: tuple[str, ...]
) -> list[str]:
    """Rows of a table: `script` (printing one number per column) run in a fresh process
    with an empty numba cache (cold: compiles) and again with the cache it left (warm)."""
    cache = Path(tempfile.mkdtemp(prefix="optsim-numba-cache-"))
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), PYTHONPATH=str(ROOT))
    rows = [
        "| first call in a fresh process | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    try:
        for label in ("cold (empty numba cache: compile)", "warm (cache=True: load)"):
            out = subprocess.run(
                [sys.executable, "-c", script],
                env=env,
                cwd=ROOT,
                check=True,
                capture_output=True,
                text=True,
            ).stdout.split()
            cells = [fmt.format(float(v)) for fmt, v in zip(formats, out, strict=True)]
            rows.append(f"| {label} | " + " | ".join(cells) + " |")
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return rows
