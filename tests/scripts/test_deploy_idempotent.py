"""`ape run deploy` run twice sends nothing the second time; bad input sends nothing."""

import json
import os
import subprocess
import sys
from pathlib import Path

import ape
import click
import pytest

from onchain.deployment import DeployConfig

ROOT = Path(__file__).resolve().parents[2]


def test_deploy__twice__second_run_deploys_nothing(run_script, gov, tmp_path, chain):
    nonce0, block0 = gov.nonce, chain.blocks.head.number
    first = run_script("deploy", "--account", "TEST::0", "--record-dir", str(tmp_path))
    assert first.exit_code == 0, first.output
    sent = gov.nonce - nonce0
    assert sent == 7 + 7 + 20  # 7 contracts, 7 wiring calls (with the first push), 20 series
    record = json.loads((tmp_path / "local.addresses.json").read_text())
    assert record["complete"] and record["chain_id"] == chain.chain_id
    assert record["start_block"] == block0 + 1

    second = run_script("deploy", "--account", "TEST::0", "--record-dir", str(tmp_path))
    assert second.exit_code == 0, second.output
    assert "already deployed" in second.output and "nothing sent" in second.output
    assert gov.nonce - nonce0 == sent
    assert json.loads((tmp_path / "local.addresses.json").read_text()) == record


def test_deploy__partial_record__refused_unless_redeploy(run_script, protocol, gov, tmp_path):
    partial = {k: v for k, v in protocol.addresses().items() if k in ("token", "engine", "oracle")}
    (tmp_path / "local.addresses.json").write_text(
        json.dumps({"network": "local", "contracts": partial, "complete": False})
    )
    nonce0 = gov.nonce
    r = run_script("deploy", "--account", "TEST::0", "--record-dir", str(tmp_path))
    assert r.exit_code != 0
    assert "unfinished deployment" in r.output and "config: not deployed" in r.output
    assert "--redeploy" in r.output
    assert gov.nonce == nonce0


def test_deploy__key_without_funds__refused_before_sending(run_script, accounts, chain):
    deploy = run_script.load("deploy")
    broke = accounts.generate_test_account()
    cfg = DeployConfig.load(ROOT / "deployments" / "local.yaml")
    with pytest.raises(click.ClickException, match="Fund the account") as exc:
        deploy.require_funds(chain.provider, broke, cfg)
    assert f"deployer {broke.address} has 0.000000 ETH" in exc.value.message
    assert f"{cfg.estimate_gas():,} gas" in exc.value.message
    assert broke.nonce == 0


def _ape(*args: str) -> subprocess.CompletedProcess:
    bindir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{ROOT / 'tools'}:{bindir}:{os.environ['PATH']}"}
    return subprocess.run(
        [str(bindir / "ape"), *args], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env
    )


def test_status__unreachable_rpc__clear_error_nonzero_exit():
    proc = _ape("run", "status", "--network", "http://127.0.0.1:9")
    assert proc.returncode != 0
    err = proc.stdout + proc.stderr
    assert "cannot connect to network" in err and "http://127.0.0.1:9" in err
    assert "Traceback" not in err


def test_params__wrong_network_name__ape_names_it_nonzero_exit():
    proc = _ape("run", "params", "show", "--network", "ethereum:local:nope")
    assert proc.returncode != 0
    assert "No provider named 'nope'" in proc.stdout + proc.stderr


@pytest.mark.parametrize("admin", ["timelock", "multisig"])
def test_deploy__admin_handed_over__deployer_keeps_no_admin_power(
    run_script, project, accounts, tmp_path, admin
):
    """Audit finding 2: the deployer's key kept every admin power. `--admin timelock` hands
    the market's and the oracle's admin to the timelock at once; `--admin 0x...` (a
    multisig) nominates it, and it takes over when it accepts."""
    multisig = accounts[8]
    who = "timelock" if admin == "timelock" else multisig.address
    r = run_script(
        "deploy", "--account", "TEST::0", "--record-dir", str(tmp_path), "--redeploy",
        "--admin", who,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    record = json.loads((tmp_path / "local.addresses.json").read_text())["contracts"]
    market = project.OptionMarket.at(record["market"])
    oracle = project.Oracle.at(record["oracle"])
    if admin == "timelock":
        assert market.admin() == oracle.admin() == record["timelock"]
        assert "the timelock (every admin power waits its delay)" in r.output
    else:
        assert market.pending_admin() == oracle.pending_admin() == multisig.address
        assert market.admin() == accounts[0].address  # until the multisig accepts
        market.accept_admin(sender=multisig)
        oracle.accept_admin(sender=multisig)
        assert market.admin() == oracle.admin() == multisig.address
    with ape.reverts("market: not admin"):
        market.set_role("fee_recipient", accounts[0], sender=accounts[0])


def test_deploy__bad_admin__refused_before_sending(run_script, gov, tmp_path):
    nonce0 = gov.nonce
    r = run_script(
        "deploy", "--account", "TEST::0", "--record-dir", str(tmp_path), "--admin", "0x1234"
    )
    assert r.exit_code != 0 and "--admin: admin: '0x1234' not allowed" in r.output
    assert gov.nonce == nonce0
