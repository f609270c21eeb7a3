"""risk/margin_batch.py: the numba book margin agrees with the reference risk/margin.py,
with the on-chain vectors, and rejects bad input by name."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from risk.margin import portfolio_margin_batch
from risk.margin_batch import accounts_margin, margin_from_table, scenario_table
from risk.params import MarginParams, ParamError
from risk.units import WAD

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "margin_vectors.json"
SPOT = 2_000.0
STEEP = MarginParams(
    spot_shock=0.3,
    spot_steps=6,
    vol_shock_up=2.0,
    vol_shock_down=0.8,
    vol_tenor_ref=86_400,
    vol_tenor_power=1.0,
    vol_scale_cap=10.0,
    short_min=0.2,
    im_factor=2.0,
)


def _series(g, n):
    return {
        "strike": SPOT * np.exp(g.uniform(-0.6, 0.6, n)),
        "t_sec": g.choice([0, 3_600, 86_400, 30 * 86_400, 365 * 86_400], n).astype(float),
        "vol": g.uniform(0.05, 2.0, n),
        "is_call": g.random(n) < 0.5,
    }


def _accounts(g, n_acc, n_pos, n_series):
    idx = np.argsort(g.random((n_acc, n_series)), axis=1)[:, :n_pos]
    size = g.normal(0.0, 5.0, (n_acc, n_pos))
    size[g.random(size.shape) < 0.25] = 0.0
    return idx, size


def _reference(series, idx, size, params):
    return portfolio_margin_batch(
        np.full(idx.shape[0], SPOT),
        *(series[k][idx] for k in ("strike", "t_sec", "vol", "is_call")),
        size,
        params,
    )


@pytest.mark.parametrize("params", [MarginParams(), STEEP], ids=["default", "steep"])
def test_accounts_margin__random_books__match_reference(params):
    g = np.random.default_rng(7)
    series = _series(g, 12)
    idx, size = _accounts(g, 3_000, 6, 12)
    ours = accounts_margin(SPOT, **series, series_idx=idx, size=size, params=params)
    ref = _reference(series, idx, size, params)
    notional = SPOT * np.abs(size).sum(axis=1) + 1.0
    for name, a, b in zip(("value", "mm", "im"), ours, ref, strict=True):
        assert np.max(np.abs(a - b) / notional) < 1e-13, name
    assert np.all(ours.mm >= 0.0)
    assert np.any(ours.mm > 0.0) and np.any(ours.value < 0.0)


def test_accounts_margin__serial_and_parallel__identical():
    g = np.random.default_rng(8)
    series = _series(g, 32)
    idx, size = _accounts(g, 20_000, 5, 32)
    kwargs = dict(series_idx=idx, size=size, params=MarginParams())
    serial = accounts_margin(SPOT, **series, **kwargs, parallel=False)
    parallel = accounts_margin(SPOT, **series, **kwargs, parallel=True)
    for a, b in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(a, b)


def test_accounts_margin__empty_slots__ignore_their_series_index():
    g = np.random.default_rng(9)
    series = _series(g, 4)
    idx = np.array([[0, 1, -1], [2, 3, 99]])
    size = np.array([[1.0, -2.0, 0.0], [-1.0, 0.5, 0.0]])
    ours = accounts_margin(SPOT, **series, series_idx=idx, size=size, params=MarginParams())
    ref = _reference(series, idx[:, :2], size[:, :2], MarginParams())
    for a, b in zip(ours, ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-9)


def test_accounts_margin__matches_every_onchain_vector():
    """The vectors the contract is tested against (tests/contracts/margin_engine): one
    account each."""
    data = json.loads(VECTORS.read_text())
    for vec in data["vectors"]:
        params = MarginParams.from_chain(vec["params_chain"])
        rows = vec["positions"]
        if not rows:
            continue
        strike, t_sec, vol, is_call, size = (np.array(col) for col in zip(*rows, strict=True))
        live = size != 0
        if not live.any():
            continue
        got = accounts_margin(
            vec["spot"] / WAD,
            strike[live].astype(float) / WAD,
            t_sec[live].astype(float),
            vol[live].astype(float) / WAD,
            is_call[live].astype(bool),
            series_idx=np.arange(int(live.sum()))[None, :],
            size=(size[live].astype(float) / WAD)[None, :],
            params=params,
        )
        scale = (vec["spot"] / WAD) * float(np.abs(size).sum()) / WAD + 1.0
        for field in ("value", "mm", "im"):
            diff = abs(float(getattr(got, field)[0]) - vec["expected"][field])
            assert diff / scale < 1e-13, (vec["name"], field)


def test_margin_from_table__reused_table__same_result():
    g = np.random.default_rng(10)
    series = _series(g, 8)
    idx, size = _accounts(g, 100, 4, 8)
    table = scenario_table(SPOT, **series, params=MarginParams())
    again = margin_from_table(table, SPOT, idx, size, MarginParams())
    direct = accounts_margin(SPOT, **series, series_idx=idx, size=size, params=MarginParams())
    np.testing.assert_array_equal(again.mm, direct.mm)


def test_scenario_table__losses_of_a_long__bounded_by_its_mark():
    g = np.random.default_rng(11)
    table = scenario_table(SPOT, **_series(g, 16), params=STEEP)
    assert table.loss.shape == (16, (2 * STEEP.spot_steps + 1) * 3)
    # a long option can lose at most what it is worth
    assert np.all(table.loss <= table.mark[:, None] + 1e-9)


# --- bad input ---


def _one(**over):
    args = dict(
        spot=SPOT,
        strike=[2_000.0, 2_200.0],
        t_sec=[86_400.0, 86_400.0],
        vol=[0.5, 0.5],
        is_call=[True, False],
        series_idx=np.array([[0, 1]]),
        size=np.array([[1.0, -1.0]]),
        params=MarginParams(),
    )
    args.update(over)
    return accounts_margin(**args)


@pytest.mark.parametrize(
    ("over", "message"),
    [
        (
            {"series_idx": np.array([[0, 2]])},
            r"series_idx\[0, 1\] = 2 outside allowed range \[0, 2\)",
        ),
        ({"series_idx": np.array([[-1, 0]])}, r"series_idx\[0, 0\] = -1 outside allowed range"),
        ({"size": np.array([[np.nan, 1.0]])}, r"size\[0, 0\] = nan outside allowed range: finite"),
        ({"size": np.array([[1.0, 1.0, 1.0]])}, r"series_idx and size: expected one shape"),
        ({"series_idx": np.array([[0.0, 1.0]])}, r"series_idx: expected integers in \[0, 2\)"),
        ({"vol": [0.5, -0.1]}, r"vol"),
        ({"strike": [2_000.0]}, r"series.t_sec: expected shape \(1,\)"),
        ({"spot": 0.0}, r"spot"),
        ({"strike": [], "t_sec": [], "vol": [], "is_call": []}, r"series: expected at least one"),
    ],
)
def test_accounts_margin__bad_input__names_the_field(over, message):
    with pytest.raises(ValueError, match=message):
        _one(**over)


def test_accounts_margin__params_out_of_bounds__param_error():
    with pytest.raises(ParamError, match=r"margin.spot_steps = 9 outside allowed range \[1, 6\]"):
        _one(params=MarginParams(spot_steps=9))
