"""`ape run deploy` on the embedded chain: deploys, wires and records addresses."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _ape(*args: str) -> subprocess.CompletedProcess:
    ape = Path(sys.executable).parent / "ape"
    env = {
        **os.environ,
        "PATH": f"{ROOT / 'tools'}:{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    return subprocess.run(
        [str(ape), *args], cwd=ROOT, capture_output=True, text=True, timeout=600, env=env
    )


def test_deploy_script__records_every_contract(tmp_path):
    proc = _ape(
        "run",
        "deploy",
        "--network",
        "ethereum:local:test",
        "--account",
        "TEST::0",
        "--record-dir",
        str(tmp_path),
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    record = json.loads((tmp_path / "local.addresses.json").read_text())
    assert record["network"] == "local"
    assert set(record["contracts"]) == {
        "token",
        "oracle",
        "engine",
        "config",
        "market",
        "pool",
        "timelock",
    }
    assert len(set(record["contracts"].values())) == 7
    assert len(record["series"]) == 20
    assert "20 series created" in proc.stdout


def test_deploy_script__bad_config__names_field_and_sends_nothing(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("params:\n  margin:\n    im_factor: 5\n")
    proc = _ape(
        "run",
        "deploy",
        "--network",
        "ethereum:local:test",
        "--account",
        "TEST::0",
        "--config",
        str(bad),
        "--record-dir",
        str(tmp_path),
    )
    assert proc.returncode != 0
    assert "margin.im_factor = 5 outside allowed range [1.0, 3.0]" in proc.stdout + proc.stderr
    assert not (tmp_path / "local.addresses.json").exists()
