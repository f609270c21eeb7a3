"""`ape run status`: NAV, open interest, oracle age and the accounts near MM."""

from risk.units import WAD


def test_status__after_trade_and_rally__lists_account_near_mm(
    run_script, recorded, market, seed_pool, fund, writer, keeper, find_series, push, chain
):
    seed_pool(1_000_000)
    fund(keeper, 50_000)  # deposits, no positions: seen but never near MM
    fund(writer, 2_000)
    sid = find_series(2_200, 30, True)
    market.trade(sid, -4 * WAD, 0, sender=writer)
    push(2_250)
    push(2_500)
    chain.mine(timestamp=chain.blocks.head.timestamp + 600)

    r = run_script("status", "--record-dir", str(recorded))
    assert r.exit_code == 0, r.output
    out = r.output
    assert "pool: NAV 1,0" in out  # ~1,000,000 USD plus the premium, marked
    assert "LP share price" in out
    assert "open interest: 4 long / 4 short contracts" not in out  # the pool is long
    assert "open interest: 4 long / 4 short" not in out
    assert f"#{sid:<3d} call K=2,200" in out and "short 4" in out
    assert "updated 600 s ago (heartbeat 3600 s" in out and ": fresh" in out
    assert "accounts: 2 seen; below 1.2x MM: 1" in out
    (line,) = [x for x in out.splitlines() if str(writer.address) in x]
    assert "LIQUIDATABLE" in line
    assert str(keeper.address) not in out


def test_status__missing_addresses_file__clear_error(run_script, tmp_path):
    r = run_script("status", "--record-dir", str(tmp_path))
    assert r.exit_code != 0
    assert f"{tmp_path / 'local.addresses.json'} not found" in r.output
    assert "ape run deploy" in r.output
