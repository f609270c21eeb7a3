"""Sweeps end to end: `optsim sweep` on local Ray with two workers, each run on its own
anvil; a run that raises and a worker that dies are recorded as failed with their error;
the same command resumes only what is missing or failed."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from sims.sweep.store import ResultStore

pytestmark = pytest.mark.anvil

# the real runner, except for two parameter values: one raises, one kills its worker
RUNNER = """
import os

from sims.runner import run_simulation


def run(cfg, seed, chain="anvil", progress=None, params=None):
    shock = params["margin"]["spot_shock"]
    if shock == 0.35:
        raise RuntimeError("boom: a run that raises")
    if shock == 0.45:
        os._exit(3)
    return run_simulation(cfg, seed, chain, progress, params)
"""
SMALL = {
    "writers": 3,
    "noise_traders": 2,
    "directional": 0,
    "vol_traders": 0,
    "put_hedgers": 0,
    "lps": 0,
    "governance": False,
    "history_hours": 0,
}


def _sweep(spec: Path, out: Path, tmp: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{tmp}:{os.environ.get('PYTHONPATH', '')}"}
    cmd = [sys.executable, "-m", "sims.sweep.cli", str(spec), "--out", str(out), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)


def test_sweep__two_ray_workers__failures_recorded_and_resume_runs_only_missing(tmp_path):
    (tmp_path / "sweep_e2e_runner.py").write_text(RUNNER)
    spec = tmp_path / "sweep.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "parameters": {"margin.spot_shock": [0.15, 0.3, 0.35, 0.45]},
                "scenarios": ["crash"],
                "seeds": [1],
                "steps": 6,
                "config": SMALL,
                "runner": "sweep_e2e_runner:run",
                "objective": {
                    "metric": "capital_efficiency",
                    "constraints": ["bad_debt_probability <= 0.5"],
                },
            }
        )
    )
    out = tmp_path / "out"

    proc = _sweep(spec, out, tmp_path, "--workers", "2")
    assert proc.returncode == 1, proc.stderr[-3000:]  # some runs failed
    assert "4 runs, 0 done, 4 to run" in proc.stdout
    assert "runs: 2 done, 2 failed, 0 missing" in proc.stdout
    store = ResultStore(out)
    by_shock = {r["params"]["margin.spot_shock"]: r for r in store.records()}
    assert set(by_shock) == {0.15, 0.3, 0.35, 0.45}
    for shock in (0.15, 0.3):
        r = by_shock[shock]
        assert r["status"] == "done" and r["seed"] == 1
        steps = store.steps(r)
        assert len(steps) == 7 and steps["txs"].sum() > 0  # the initial state and six blocks
        assert steps["spot_shock"].iloc[-1] == pytest.approx(shock)  # deployed as swept
        assert r["summary"]["steps"] == 6 and "lp_daily_es_0.99" in r["summary"]
    assert by_shock[0.35]["status"] == "failed"
    assert by_shock[0.35]["error"].startswith("RuntimeError: boom: a run that raises")
    assert by_shock[0.45]["status"] == "failed"
    assert "WorkerCrashedError" in by_shock[0.45]["error"] or "died" in by_shock[0.45]["error"]
    html = (out / "report.html").read_text()
    assert "Recommendation: margin.spot_shock = 0.15" in html
    assert "Failed runs (2)" in html and "boom: a run that raises" in html
    assert html.count("data:image/png;base64,") >= 1

    # an interrupted sweep: one finished run never got recorded
    kept, lost = by_shock[0.3], by_shock[0.15]
    lost_steps = store.steps(lost)
    store.forget(lost["run_id"])
    proc = _sweep(spec, out, tmp_path, "--workers", "2")
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "4 runs, 1 done, 3 to run" in proc.stdout
    after = {r["params"]["margin.spot_shock"]: r for r in store.records()}
    assert after[0.3]["finished_at"] == kept["finished_at"] and after[0.3]["attempts"] == 1
    assert after[0.15]["status"] == "done" and after[0.15]["attempts"] == 1
    assert after[0.35]["attempts"] == 2 and after[0.45]["attempts"] == 2
    pd.testing.assert_frame_equal(store.steps(after[0.15]), lost_steps)  # same seed, same run
