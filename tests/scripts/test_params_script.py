"""`ape run params show|propose|execute|veto` on the session's deployment."""


def _params(run_script, recorded, *args):
    return run_script("params", *args, "--record-dir", str(recorded))


def test_show__lists_defaults_and_no_proposals(run_script, recorded):
    r = _params(run_script, recorded, "show")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert any(line.split()[:2] == ["im_factor", "1.3"] for line in lines)
    assert any(line.split()[:2] == ["heartbeat", "3600"] for line in lines)
    assert any(line.split()[:2] == ["total_oi_cap", "50000.0"] for line in lines)
    assert "none queued" in r.output


def test_propose__out_of_bounds__refused_naming_field_nothing_sent(run_script, recorded, timelock):
    count = timelock.proposal_count()
    r = _params(run_script, recorded, "propose", "margin", "im_factor=5", "--account", "TEST::0")
    assert r.exit_code != 0
    assert "margin.im_factor = 5 outside allowed range [1.0, 3.0]" in r.output
    assert "nothing was sent" in r.output
    assert timelock.proposal_count() == count


def test_propose__too_large_change__refused_with_allowed_change(run_script, recorded, timelock):
    count = timelock.proposal_count()
    r = _params(run_script, recorded, "propose", "pool", "fee_rate=0.001", "--account", "TEST::0")
    assert r.exit_code != 0
    assert "pool.fee_rate: change 0.0003 -> 0.001 exceeds the rate limit" in r.output
    assert "between 0.000225 and 0.000375" in r.output
    assert timelock.proposal_count() == count


def test_propose__not_proposer__refused(run_script, recorded, timelock):
    r = _params(run_script, recorded, "propose", "margin", "im_factor=1.4", "--account", "TEST::5")
    assert r.exit_code != 0 and "not the timelock's proposer" in r.output
    assert timelock.proposal_count() == 0


def test_propose_execute__after_delay__changes_params_then_rate_limits(
    run_script, recorded, timelock, config, chain
):
    r = _params(
        run_script,
        recorded,
        "propose",
        "margin",
        "im_factor=1.4",
        "spot_shock=0.16",
        "--account",
        "TEST::0",
    )
    assert r.exit_code == 0, r.output
    assert "margin.im_factor: 1.3 -> 1.4" in r.output and "proposed #0" in r.output
    shown = _params(run_script, recorded, "show").output
    assert "#0 pending" in shown and "set_margin_params(" in shown and "im_factor=1.4" in shown

    early = _params(run_script, recorded, "execute", "0", "--account", "TEST::1")
    assert early.exit_code != 0 and "executable from" in early.output
    assert config.margin_params().im_factor == 13 * 10**17

    chain.pending_timestamp += timelock.delay()
    r = _params(run_script, recorded, "execute", "0", "--account", "TEST::1")
    assert r.exit_code == 0, r.output
    assert config.margin_params().im_factor == 14 * 10**17
    assert config.margin_params().spot_shock == 16 * 10**16
    assert "none queued" in _params(run_script, recorded, "show").output

    # the same field again within min_interval (1 day) would revert at eta: refused now
    again = _params(
        run_script, recorded, "propose", "margin", "im_factor=1.5", "--account", "TEST::0"
    )
    assert again.exit_code != 0
    assert "margin.im_factor changed too recently" in again.output
    assert timelock.proposal_count() == 1


def test_veto__guardian_cancels__execute_refused(run_script, recorded, timelock, chain):
    r = _params(
        run_script,
        recorded,
        "propose",
        "--file",
        str(_change_file(recorded)),
        "--account",
        "TEST::0",
    )
    assert r.exit_code == 0, r.output
    stranger = _params(run_script, recorded, "veto", "0", "--account", "TEST::5")
    assert stranger.exit_code != 0 and "not the timelock's guardian" in stranger.output
    r = _params(run_script, recorded, "veto", "0", "--account", "TEST::0")
    assert r.exit_code == 0 and "vetoed" in r.output, r.output
    assert timelock.proposals(0).state == 3
    chain.pending_timestamp += timelock.delay()
    late = _params(run_script, recorded, "execute", "0", "--account", "TEST::0")
    assert late.exit_code != 0 and "is vetoed" in late.output


def _change_file(directory):
    path = directory / "change.yaml"
    path.write_text("group: oracle\nchanges: {heartbeat: 3000}\n")
    return path


def test_show__missing_addresses_file__names_file_and_how_to_create(run_script, tmp_path):
    r = run_script("params", "show", "--record-dir", str(tmp_path))
    assert r.exit_code != 0
    assert f"{tmp_path / 'local.addresses.json'} not found" in r.output
    assert "ape run deploy" in r.output
