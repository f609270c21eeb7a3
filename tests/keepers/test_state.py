"""keepers/state.py: the keeper's memory between runs, saved atomically, refused when it
belongs to another deployment, and rewound after a reorg."""

from __future__ import annotations

import json

import pytest

from keepers import state as state_module
from keepers.state import FORMAT, MAX_FINISHED_ACTIONS, REWIND, KeeperState, StateError

MARKET = "0x" + "4D" * 20


def _new(tmp_path, start_block: int = 100) -> KeeperState:
    return KeeperState.open(tmp_path / "k.json", 31337, MARKET, start_block)


def test_open__no_file__starts_before_the_deployment_block(tmp_path):
    st = _new(tmp_path)
    assert st.last_block == 99 and st.accounts == {} and st.actions == {}
    assert st.market == MARKET.lower()
    assert not (tmp_path / "k.json").exists()  # nothing written until there is something


def test_save_open__round_trip_keeps_everything(tmp_path):
    st = _new(tmp_path)
    st.last_block, st.last_block_hash = 250, "0xabc"
    st.touch("0xAA", 120)
    st.touch("0xaa", 110)  # an older event does not lower the version
    st.series[3] = (2_000 * 10**18, 1_900_000_000, True)
    st.record("settle:0xaa:3", status="pending", tx={"nonce": 4})
    again = KeeperState.open(tmp_path / "k.json", 31337, MARKET, 100)
    assert (again.last_block, again.last_block_hash) == (250, "0xabc")
    assert again.accounts == {"0xaa": 120} and again.version("0xAA") == 120
    assert again.series == {3: (2_000 * 10**18, 1_900_000_000, True)}
    assert again.pending() == {"settle:0xaa:3": {"status": "pending", "tx": {"nonce": 4}}}


def test_save__fails_midway__old_file_intact_and_no_temporary_left(tmp_path, monkeypatch):
    st = _new(tmp_path)
    st.record("push:1", status="mined")
    before = (tmp_path / "k.json").read_text()

    def broken_dump(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(state_module.json, "dump", broken_dump)
    with pytest.raises(OSError, match="disk full"):
        st.record("push:2", status="pending")  # record() saves at once
    assert (tmp_path / "k.json").read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["k.json"]


def test_record__raises_while_saving__caller_sees_it(tmp_path, monkeypatch):
    st = _new(tmp_path)
    monkeypatch.setattr(state_module.os, "replace", _fail)
    with pytest.raises(OSError):
        st.record("liquidate:0xaa:1:7", status="pending")
    assert list(tmp_path.iterdir()) == []


def _fail(*args, **kwargs):
    raise OSError("rename failed")


@pytest.mark.parametrize(
    ("chain_id", "other_market", "message"),
    [(1, MARKET, "belongs to market"), (31337, "0x" + "11" * 20, "belongs to market")],
)
def test_open__another_deployment__refused_naming_it(tmp_path, chain_id, other_market, message):
    _new(tmp_path).record("push:1", status="mined")
    with pytest.raises(StateError, match=message):
        KeeperState.open(tmp_path / "k.json", chain_id, other_market, 100)


def test_open__unreadable_or_other_format__refused(tmp_path):
    path = tmp_path / "k.json"
    path.write_text("{not json")
    with pytest.raises(StateError, match="unreadable"):
        KeeperState.open(path, 31337, MARKET, 100)
    path.write_text(json.dumps({"format": FORMAT + 1}))
    with pytest.raises(StateError, match="format"):
        KeeperState.open(path, 31337, MARKET, 100)


def test_save__many_finished_actions__oldest_dropped_pending_kept(tmp_path):
    st = _new(tmp_path)
    st.actions = {f"settle:{i}": {"status": "mined"} for i in range(MAX_FINISHED_ACTIONS + 10)}
    st.actions["push:9"] = {"status": "pending"}
    st.save()
    assert len(st.actions) == MAX_FINISHED_ACTIONS + 1
    assert "settle:0" not in st.actions and "push:9" in st.actions
    assert f"settle:{MAX_FINISHED_ACTIONS + 9}" in st.actions


def test_rewind__never_before_the_deployment_and_forgets_the_hash(tmp_path):
    st = _new(tmp_path, start_block=100)
    st.last_block, st.last_block_hash = 500, "0xabc"
    st.rewind(500 - REWIND)
    assert (st.last_block, st.last_block_hash) == (500 - REWIND, None)
    st.rewind(10)
    assert st.last_block == 99


def test_done_count__mined_actions_of_a_kind(tmp_path):
    st = _new(tmp_path)
    st.actions = {
        "settle:a:1": {"status": "mined"},
        "settle:a:2": {"status": "reverted"},
        "push:1": {"status": "mined"},
    }
    assert st.done_count("settle") == 1 and st.done_count("push") == 1
