"""`optsim margin`, `optsim calibrate`, `optsim design` (risk/cli.py) and price files
(risk/history.py): what they print, what they write, and how they refuse bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from risk.history import PriceHistory
from risk.tail_models import Merton
from risk.units import HOUR
from sims.cli import main


@pytest.fixture(scope="module")
def prices_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "prices.csv"
    x = Merton(0.0, 0.6, 10.0, -0.03, 0.05).simulate(1, 24 * 60, HOUR / 31_536_000, seed=2)[0]
    ts = 1_700_000_000 + HOUR * np.arange(len(x))
    pd.DataFrame({"timestamp": ts, "price": 2_000 * np.exp(x), "iv": 0.65}).to_csv(
        path, index=False
    )
    return path


@pytest.fixture(scope="module")
def positions_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "positions.csv"
    pd.DataFrame(
        {
            "account": ["a", "a", "b"],
            "strike": [2_000.0, 1_800.0, 2_200.0],
            "expiry_days": [30, 30, 7],
            "vol": [0.6, 0.6, 0.7],
            "type": ["call", "put", "call"],
            "size": [-2.0, -1.0, 3.0],
            "cash": [900.0, 900.0, 50.0],
        }
    ).to_csv(path, index=False)
    return path


def test_margin__prints_accounts_and_writes_csv(positions_csv, tmp_path, capsys):
    out = tmp_path / "m.csv"
    assert main(["margin", str(positions_csv), "--spot", "2000", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "2 accounts" in text and "below MM" in text
    df = pd.read_csv(out)
    assert list(df["account"]) == ["a", "b"]
    assert (df["mm"] > 0).all()
    np.testing.assert_allclose(df["im"], 1.3 * df["mm"], rtol=1e-6)


def test_margin__params_file__changes_the_margin(positions_csv, tmp_path):
    params = tmp_path / "p.yaml"
    params.write_text("margin: {spot_shock: 0.3}\n")
    base, wide = tmp_path / "a.csv", tmp_path / "b.csv"
    main(["margin", str(positions_csv), "--spot", "2000", "--out", str(base)])
    main(
        [
            "margin",
            str(positions_csv),
            "--spot",
            "2000",
            "--params",
            str(params),
            "--out",
            str(wide),
        ]
    )
    assert (pd.read_csv(wide)["mm"] > pd.read_csv(base)["mm"]).all()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--spot", "-5"], "--spot: -5.0 outside allowed range (0, inf]"),
        (["--spot", "2000", "--params", "missing.yaml"], "--params: no such file"),
    ],
)
def test_margin__bad_arguments__exit_2_naming_the_field(positions_csv, args, message, capsys):
    with pytest.raises(SystemExit) if args[1] == "-5" else _no_raise():
        code = main(["margin", str(positions_csv), *args])
        assert code == 2
    assert message in capsys.readouterr().err


def test_margin__unknown_params_group__exit_2(positions_csv, tmp_path, capsys):
    params = tmp_path / "p.yaml"
    params.write_text("margins: {spot_shock: 0.3}\n")
    assert main(["margin", str(positions_csv), "--spot", "1", "--params", str(params)]) == 2
    assert "unknown group(s) ['margins']" in capsys.readouterr().err


def test_margin__param_outside_bounds__exit_2_and_nothing_written(positions_csv, tmp_path, capsys):
    params = tmp_path / "p.yaml"
    params.write_text("margin: {spot_shock: 2.0}\n")
    out = tmp_path / "never.csv"
    args = ["margin", str(positions_csv), "--spot", "2000", "--params", str(params)]
    assert main([*args, "--out", str(out)]) == 2
    assert "margin.spot_shock = 2.0 outside allowed range [0.01, 0.9]" in capsys.readouterr().err
    assert not out.exists()


def test_calibrate__merton__prints_fitted_parameters(prices_csv, capsys):
    assert main(["calibrate", "merton", str(prices_csv)]) == 0
    text = capsys.readouterr().out
    assert "maximum likelihood" in text and "lam =" in text and "log-likelihood" in text
    assert "jumps per year" in text and "diffusive volatility per sqrt(year)" in text  # units


def test_calibrate__ensemble__prints_weights(prices_csv, capsys):
    assert main(["calibrate", "ensemble", str(prices_csv)]) == 0
    text = capsys.readouterr().out
    assert "regime:" in text and text.count("(weight ") == 3
    assert "bates: not fitted" in text  # 1,440 returns: too few for its moment fit


def test_calibrate__svi__fits_the_example_quotes(capsys):
    assert main(["calibrate", "svi", "tests/risk/data/quotes_example.csv"]) == 0
    text = capsys.readouterr().out
    assert "calendar violations: 0" in text


def test_design__writes_a_proposal_the_chain_accepts(prices_csv, tmp_path, capsys):
    out = tmp_path / "proposal.json"
    args = ["design", str(prices_csv), "--model", "gbm", "--paths", "20000", "--out", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "## Evidence" in text and "coverage_achieved" in text
    doc = json.loads(out.read_text())
    assert set(doc["params"]) == {"margin", "liquidation", "limits"}
    assert doc["evidence"]["coverage_achieved"] >= 0.995
    assert all(int(x) >= 0 for x in doc["chain"]["margin"])


def test_design__positions_without_spot__exit_2(prices_csv, positions_csv, capsys):
    assert main(["design", str(prices_csv), "--positions", str(positions_csv)]) == 2
    assert "--spot: required with --positions" in capsys.readouterr().err


def test_margin__the_shipped_positions_example__three_accounts_one_below_mm(capsys):
    assert main(["margin", "tests/risk/data/positions_example.csv", "--spot", "2000"]) == 0
    out = capsys.readouterr().out
    assert "3 accounts" in out and "1 below MM" in out


def test_margin__out_folder_missing__exit_2_before_printing(positions_csv, tmp_path, capsys):
    out = tmp_path / "missing" / "m.csv"
    assert main(["margin", str(positions_csv), "--spot", "2000", "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert f"--out: folder {out.parent} does not exist" in captured.err
    assert captured.out == ""  # refused before any work


def test_design__coverage_at_the_open_bound__refused_by_the_parser(prices_csv, capsys):
    with pytest.raises(SystemExit):
        main(["design", str(prices_csv), "--coverage", "0.5"])
    assert "--coverage: 0.5 outside allowed range (0.5, 0.99999]" in capsys.readouterr().err


def test_calibrate__the_shipped_replay_example__reads_past_its_comment_line(capsys):
    from sims.project import ROOT

    assert main(["calibrate", "gbm", str(ROOT / "sims" / "data" / "replay_example.csv")]) == 0
    assert "sigma" in capsys.readouterr().out


# --- price files ---


def test_price_history__reads_dt_and_returns(prices_csv):
    hist = PriceHistory.read(prices_csv)
    assert hist.dt == pytest.approx(HOUR / 31_536_000)
    assert len(hist.log_returns) == len(hist.price) - 1
    assert hist.gaps == 0


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ({"timestamp": [1, 2, 3], "price": [1.0, 2.0, 3.0], "vol": [1, 1, 1]}, r"unknown column"),
        ({"timestamp": [1, 2, 3]}, r"missing column 'price'"),
        ({"timestamp": [1, 3, 2], "price": [1.0, 2.0, 3.0]}, r"timestamp = 2 in row 2 not after"),
        ({"timestamp": [1, 2, 3], "price": [1.0, 0.0, 3.0]}, r"price = 0.0 in row 1 outside"),
        ({"timestamp": [1, 2, 3], "price": [1.0, "x", 3.0]}, r"price = 'x' in row 1 is not"),
        ({"timestamp": [1, 2.5, 3], "price": [1.0, 2.0, 3.0]}, r"not whole seconds"),
        ({"timestamp": [1, 2], "price": [1.0, 2.0]}, r"at least 3 rows"),
    ],
)
def test_price_history__bad_input__names_the_field(frame, message):
    with pytest.raises(ValueError, match=message):
        PriceHistory.from_frame(pd.DataFrame(frame))


class _no_raise:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# --- optsim backtest ---

SLICE = "data/market/ETHUSDT_1h_binance_2020H1.csv"


def test_backtest_scores_the_submitted_rule_and_writes_its_files(tmp_path, capsys):
    args = ["backtest", SLICE, "--lookback-days", "90", "--horizons", "1,8", "--refit-days", "30"]
    assert main([*args, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "# Margin rule backtest: ETHUSDT_1h_binance_2020H1.csv" in out
    for rule in ("submitted", "submitted_no_apc", "static_expost", "static_same_coverage"):
        assert rule in out
    assert "Procyclicality" in out
    doc = json.loads((tmp_path / "backtest.json").read_text())
    rows = {(r["horizon_h"], r["rule"], r["side"]): r for r in doc["scores"]}
    assert rows[(8, "submitted", "long")]["windows"] >= 250
    assert rows[(8, "static_expost", "long")]["margin_over_expost"] == pytest.approx(1.0)
    margins = pd.read_csv(tmp_path / "margins_8h.csv")
    assert {"time", "margin", "no_apc", "loss_long", "loss_short"} <= set(margins.columns)
    assert (tmp_path / "backtest_1h.png").stat().st_size > 20_000
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "backtest.json", "backtest_1h.png", "backtest_8h.png", "margins_1h.csv", "margins_8h.csv"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--horizons", "24"], "prices: 91 windows of 24 h"),
        (["--horizons", "0"], "--horizons: [0] outside allowed range [1, 720] hours"),
        (["--start", "yesterday-ish"], "--start: 'yesterday-ish' is not a date"),
        (["--zoom", "2020-03-12"], "--zoom: '2020-03-12' is not START:END"),
        (["--zoom", "2020-03-12 18:00..2020-03-12 06:00"], "ends before it starts"),
    ],
)
def test_backtest_refuses_bad_input_in_one_line_and_writes_nothing(
    tmp_path, capsys, extra, message
):
    args = ["backtest", SLICE, "--lookback-days", "90", *extra, "--out", str(tmp_path)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert list(tmp_path.iterdir()) == []


LONG = "data/market/ETHUSDT_1h_binance_2017-2025_23h_bars.csv"
DVOL = "data/market/ETH_DVOL_daily_deribit_2021-2022.csv"


def test_design__long_history__vol_shocks_from_dvol_not_the_fixed_minimum(tmp_path, capsys):
    """The issue's replay case: right after a -37% move, design alone floors the vol shocks
    at min_vol_shock 0.1; with the asset's long past (and its implied-vol index) they come
    from DVOL's 99.5% daily rise and fall, and spot_shock from 8 years of 24 h losses,
    the committee's floors (risk.apc.floored)."""
    base = ["design", "sims/data/replay_example.csv", "--paths", "20000"]
    plain, floored = tmp_path / "plain.json", tmp_path / "floored.json"
    assert main([*base, "--out", str(plain)]) == 0
    assert main([*base, "--long-history", LONG, "--vol-history", DVOL, "--out", str(floored)]) == 0
    out = capsys.readouterr().out
    before = json.loads(plain.read_text())["params"]["margin"]
    after = json.loads(floored.read_text())
    margin = after["params"]["margin"]
    assert margin["vol_shock_up"] > 0.1 and margin["vol_shock_down"] > 0.1
    assert margin["spot_shock"] >= before["spot_shock"]
    raised = [n for n in after["notes"] if n.startswith("APC floor: vol_shock_up")]
    assert raised and "ETH_DVOL_daily_deribit_2021-2022.csv" in raised[0]
    assert "APC floor: vol_shock_up" in out


def test_design__vol_history_without_long_history__refused(capsys):
    args = ["design", "sims/data/replay_example.csv", "--vol-history", DVOL]
    assert main(args) == 2
    assert capsys.readouterr().err.strip() == (
        "optsim design: --vol-history: needs --long-history (the asset's prices)"
    )


def test_design_backtest__is_the_submitted_rule_at_the_designs_horizon(tmp_path, capsys):
    out_file = tmp_path / "proposal.json"
    args = ["design", SLICE, "--horizon-hours", "8", "--paths", "20000", "--backtest"]
    assert main([*args, "--lookback-days", "90", "--out", str(out_file)]) == 0
    out = capsys.readouterr().out
    assert "The submitted rule (ensemble + divergence add-on + APC)" in out
    rows = json.loads(out_file.read_text())["backtest"]
    rules = {r["rule"] for r in rows}
    assert {"submitted", "submitted_no_apc", "gbm", "merton"} <= rules
    for model in ("garch", "bates"):  # scored alone, or said to be left out at some refits
        assert model in rules or f"- {model} left out at " in out
    assert {r["horizon_h"] for r in rows} == {8}
    assert all(r["windows"] >= 250 for r in rows)


def test_design_backtest__too_short_a_history__refused_before_any_work(tmp_path, capsys):
    out_file = tmp_path / "proposal.json"
    assert main(["design", SLICE, "--backtest", "--out", str(out_file)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "prices: 0 windows of 24 h" in err[0], err
    assert captured.out == "" and not out_file.exists()


def test_calibrate_svi__real_deribit_chain__fit_quality_per_expiry(capsys):
    assert (
        main(["calibrate", "svi", "data/market/ETH_deribit_chain_2025-11-22T0215Z_4_expiries.csv"])
        == 0
    )
    out = capsys.readouterr().out
    assert out.startswith("# SVI on ETH_deribit_chain_2025-11-22T0215Z_4_expiries.csv: 412 options")
    assert "inside_bid_ask" in out and "rmse_vol_pts" in out
    assert "calendar violations: 0 points" in out


def test_zoom_takes_dates_to_the_end_of_the_day_or_times_exactly():
    from risk.cli import _zoom

    assert _zoom("2020-03-12:2020-03-12") == (1583971200, 1583971200 + 86_400)
    assert _zoom("2020-03-12..2020-03-13") == (1583971200, 1583971200 + 2 * 86_400)
    assert _zoom("2020-03-12 06:00..2020-03-12 18:30") == (
        1583971200 + 6 * 3600,
        1583971200 + 18 * 3600 + 1800,
    )
