"""The main job end to end: `optsim run` on its own anvil, twice with the same seed."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.anvil


def _run(out: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "sims.cli", "run", "--quiet", "--out", str(out), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def test_run__same_seed__same_results(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        proc = _run(out, "--steps", "10", "--seed", "3")
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert f"report: {out / 'report.html'}" in proc.stdout
    steps_a, steps_b = pd.read_csv(a / "steps.csv"), pd.read_csv(b / "steps.csv")
    pd.testing.assert_frame_equal(steps_a, steps_b)
    assert len(steps_a) == 11  # the initial state and ten blocks
    assert steps_a["txs"].sum() > 0
    summary = json.loads((a / "summary.json").read_text())
    for key in ("lp_return", "liquidations", "bad_debt_usd", "worst_step", "transactions"):
        assert key in summary
    html = (a / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 2


def test_run__different_seed__different_path(tmp_path):
    proc_a = _run(tmp_path / "a", "--steps", "3", "--seed", "1")
    proc_b = _run(tmp_path / "b", "--steps", "3", "--seed", "2")
    assert proc_a.returncode == proc_b.returncode == 0
    spot_a = pd.read_csv(tmp_path / "a" / "steps.csv")["spot"]
    spot_b = pd.read_csv(tmp_path / "b" / "steps.csv")["spot"]
    assert spot_a.iloc[-1] != spot_b.iloc[-1]


def test_run__bad_steps__names_field_and_writes_nothing(tmp_path):
    proc = _run(tmp_path / "x", "--steps", "0")
    assert proc.returncode == 2
    assert "--steps: 0 outside allowed range [1, 100000]" in proc.stderr
    assert not (tmp_path / "x").exists()
