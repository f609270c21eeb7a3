"""The main job end to end: `optsim run` on its own anvil, twice with the same seed."""

import json
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from sims.config import SimConfig

pytestmark = pytest.mark.anvil


def _run(out: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "sims.cli", "run", "--quiet", "--out", str(out), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def test_run__same_seed__same_results(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        proc = _run(out, "--steps", "10", "--seed", "3", "--no-compare")
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert f"report: {out / 'report.html'}" in proc.stdout
    steps_a, steps_b = pd.read_csv(a / "steps.csv"), pd.read_csv(b / "steps.csv")
    pd.testing.assert_frame_equal(steps_a, steps_b)
    assert len(steps_a) == 11  # the initial state and ten blocks
    assert steps_a["txs"].sum() > 0
    summary = json.loads((a / "summary.json").read_text())
    assert list(summary["runs"]) == ["governance"]  # --no-compare: one run
    run = summary["runs"]["governance"]
    for key in ("lp_return", "liquidations", "bad_debt_usd", "worst_step", "transactions"):
        assert key in run
    assert isinstance(run["reverts"], int)
    assert sum(run["reverts_by_reason"].values()) >= run["reverts"]  # rejections count too
    html = (a / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 3
    pd.testing.assert_frame_equal(
        pd.read_parquet(a / "steps.parquet"), pd.read_parquet(b / "steps.parquet")
    )


def test_run__different_seed__different_path(tmp_path):
    proc_a = _run(tmp_path / "a", "--steps", "3", "--seed", "1", "--no-governance")
    proc_b = _run(tmp_path / "b", "--steps", "3", "--seed", "2", "--no-governance")
    assert proc_a.returncode == proc_b.returncode == 0
    spot_a = pd.read_csv(tmp_path / "a" / "steps.csv")["spot"]
    spot_b = pd.read_csv(tmp_path / "b" / "steps.csv")["spot"]
    assert spot_a.iloc[-1] != spot_b.iloc[-1]


def test_run__bad_steps__names_field_and_writes_nothing(tmp_path):
    proc = _run(tmp_path / "x", "--steps", "0")
    assert proc.returncode == 2
    assert "--steps: 0 outside allowed range [1, 100000]" in proc.stderr
    assert not (tmp_path / "x").exists()


def test_run__governance_and_comparison__side_by_side(tmp_path):
    """The default job: the same seed with and without the risk committee, one report."""
    out = tmp_path / "g"
    proc = _run(out, "--steps", "30", "--seed", "5", "--scenario", "flash_crash")
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["runs"]) == {"governance", "no_governance"}
    assert summary["runs"]["no_governance"]["parameter_changes"] == 0
    gov = pd.read_csv(out / "governance.csv")
    assert len(gov) >= 1  # the committee reviewed at the first step
    steps = pd.read_csv(out / "steps.csv")
    # every change the committee executed is visible in the parameters in force
    assert (steps["spot_shock"].diff().fillna(0) != 0).sum() <= steps["param_changes"].sum()
    html = (out / "report.html").read_text()
    assert "Risk committee reviews" in html and "no_governance" in html


def test_run__embedded_chain__same_agents_and_trades_as_anvil(tmp_path):
    """The default agents (23 accounts, more than ape's 10 test accounts: they are derived
    from the seed and funded on both chains) on the embedded chain act as on anvil. py-evm
    stamps each transaction one second after the one before, so time to expiry, and with
    it every price, differs by a few seconds' theta: values agree closely, not exactly."""
    runs = {}
    for chain in ("embedded", "anvil"):
        out = tmp_path / chain
        proc = _run(out, "--steps", "4", "--seed", "7", "--chain", chain, "--no-compare")
        assert proc.returncode == 0, proc.stderr[-2000:]
        runs[chain] = pd.read_csv(out / "steps.csv")
    emb, anv = runs["embedded"], runs["anvil"]
    assert len(emb) == 5 and emb["trades"].sum() > 0
    for col in ("txs", "trades", "reverts", "liquidations", "settlements", "lp_deposits"):
        assert emb[col].tolist() == anv[col].tolist(), col
    for col in ("pool_nav", "pool_open_interest", "total_mm"):
        assert emb[col].to_numpy() == pytest.approx(anv[col].to_numpy(), rel=1e-4), col


def test_run__bad_config__names_field_and_writes_nothing(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("writers: -1\n")
    proc = _run(tmp_path / "x", "--config", str(cfg))
    assert proc.returncode == 2
    assert "writers = -1 outside allowed range [0, 2000]" in proc.stderr
    proc = _run(tmp_path / "x", "--scenario", "meteor_strike")
    assert proc.returncode == 2 and "meteor_strike" in proc.stderr
    assert not (tmp_path / "x").exists()


def test_run__lp_bank_run__every_agent_acts_and_lps_run(tmp_path):
    """24 blocks of lp_bank_run (the panic starts at block 12) with every kind of agent:
    the LPs come in while it is calm and redeem when the panic starts, every kind of
    trader lands trades, the hedging desk trades; the same seed gives the same steps."""
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        proc = _run(
            out, "--steps", "24", "--seed", "3", "--scenario", "lp_bank_run", "--no-compare"
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
    steps = pd.read_csv(a / "steps.csv")
    pd.testing.assert_frame_equal(steps, pd.read_csv(b / "steps.csv"))
    cfg = SimConfig()
    calm, panic = steps.iloc[1:12], steps.iloc[12:]
    assert calm["lp_deposits"].sum() == pytest.approx(cfg.lps * cfg.lp_capital)
    assert calm["lp_redemptions"].sum() == 0
    assert calm["lp_count_in_pool"].iloc[-1] == cfg.lps
    assert panic["lp_redemptions"].sum() > 0.9 * cfg.lps * cfg.lp_capital
    assert panic["lp_count_in_pool"].iloc[-1] == 0
    last = steps.iloc[-1]
    for kind in ("writers", "noise", "directional", "vol_traders", "put_hedgers"):
        assert last[f"{kind}_trades"] > 0, kind
    assert last["hedge_slippage"] > 0
    pd.testing.assert_series_equal(
        steps["hedged_nav"], steps["pool_nav"] + steps["hedge_pnl"], check_names=False
    )


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_run__interrupted_mid_run__says_so_and_writes_nothing(tmp_path, sig, code):
    out = tmp_path / "r"
    cmd = [
        sys.executable,
        "-m",
        "sims.cli",
        "run",
        "--out",
        str(out),
        "--steps",
        "400",
        "--no-compare",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.extend(iter(lambda: proc.stderr.read(1), "")))
    reader.start()
    deadline = time.monotonic() + 300
    while not re.search(r"\| +[3-9]\d*/400", "".join(err)):  # a few blocks mined
        assert proc.poll() is None and time.monotonic() < deadline, "".join(err)[-2000:]
        time.sleep(0.1)
    proc.send_signal(sig)
    assert proc.wait(timeout=60) == code
    reader.join(timeout=10)
    assert "optsim run: interrupted; no results written" in "".join(err)
    assert "Traceback" not in "".join(err)
    assert list(tmp_path.iterdir()) == []  # no results folder, no temporary one


def test_run__default_crash__apc_margins_at_the_crash_no_looser_than_at_the_start(tmp_path):
    """The issue's target for the committee: a calm first half must not erode the margins
    that years of history justify (APC floor and hold), so the margin fields in force when
    the default crash begins (half-way through the run) are at least those at the start,
    and no margin field is loosened during the crash's day."""
    out = tmp_path / "d"
    proc = _run(out, "--no-compare")  # the default job's governance run
    assert proc.returncode == 0, proc.stderr[-2000:]
    steps = pd.read_csv(out / "steps.csv")
    crash = SimConfig().steps // 2  # Event("crash", 0.5, "24h", ...) of the default scenario
    assert len(steps) == SimConfig().steps + 1
    fields = ["spot_shock", "vol_shock_up", "im_factor"]
    start, at_crash = steps.loc[0, fields], steps.loc[crash, fields]
    assert (at_crash >= start).all(), pd.DataFrame({"start": start, "crash": at_crash})
    during = steps.loc[crash : crash + 24, fields]
    assert (during.diff().fillna(0) >= 0).all().all(), during
