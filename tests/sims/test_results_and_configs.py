"""Results folders are written whole or not at all; configs name the bad field."""

import os

import pandas as pd
import pytest

from onchain.deployment import ConfigError, DeployConfig
from sims import report
from sims.config import SimConfig, SimConfigError


def _steps() -> pd.DataFrame:
    n = 5
    return pd.DataFrame(
        {
            "time": [3_600 * i for i in range(n)],
            "spot": [2_000.0 - i for i in range(n)],
            "pool_nav": [1e6 + i for i in range(n)],
            "lp_share_price": [1.0 + i / 1e3 for i in range(n)],
            "insurance": [0.0] * n,
            "fees": [0.0] * n,
            "pool_open_interest": [0.0] * n,
            "pool_vega": [0.0] * n,
            "accounts_below_mm": [0] * n,
            "liquidations": [0, 1, 0, 0, 2],
            "liquidated_mm": [0.0] * n,
            "bad_debt": [0.0, 0.0, 5.0, 0.0, 0.0],
            "socialised": [0.0] * n,
            "settlements": [0] * n,
            "txs": [1] * n,
            "reverts": [0] * n,
            "gas": [21_000] * n,
            "oracle_spot": [2_000.0 - i for i in range(n)],
            "utilisation": [0.1] * n,
            "keeper_profit": [0.0, 1.0, 1.0, 1.0, 3.0],
            "param_changes": [0, 0, 1, 0, 0],
            "spot_shock": [0.15, 0.15, 0.16, 0.16, 0.16],
            "start_discount": [0.02] * n,
            "total_oi_cap": [5e4] * n,
        }
    )


def test_write_results__complete_folder(tmp_path):
    steps = _steps()
    summary = report.summarise(steps, {"scenario": "unit"})
    assert summary["liquidations"] == 3 and summary["bad_debt_usd"] == 5.0
    assert summary["lp_return"] == pytest.approx(0.004)
    assert summary["parameter_changes"] == 1 and summary["keeper_profit_usd"] == 3.0
    runs = {"governance": steps, "no_governance": steps.assign(param_changes=0)}
    doc = {"scenario": "unit", "runs": {k: report.summarise(v, {}) for k, v in runs.items()}}
    log = [{"hour": 24.0, "proposed": "margin.spot_shock -> 0.16"}]
    path = report.write_results(runs, doc, tmp_path / "run", log)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "governance.csv",
        "nav_utilisation_bad_debt.png",
        "parameters.png",
        "price_liquidations.png",
        "report.html",
        "steps.csv",
        "steps.parquet",
        "steps_no_governance.csv",
        "steps_no_governance.parquet",
        "summary.json",
    ]
    assert path.name == "report.html"
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "run").stat().st_mode & 0o777 == 0o777 & ~umask  # not mkdtemp's 0700
    text = path.read_text()
    assert "<th>governance</th><th>no_governance</th>" in text
    assert "margin.spot_shock -&gt; 0.16" in text
    back = pd.read_parquet(tmp_path / "run" / "steps.parquet")
    pd.testing.assert_frame_equal(back.reset_index(drop=True), steps, check_dtype=False)


def test_write_results__interrupted__leaves_nothing(tmp_path, monkeypatch):
    def boom(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "_plots", boom)
    with pytest.raises(KeyboardInterrupt):
        report.write_results({"a": _steps()}, {"scenario": "unit"}, tmp_path / "run")
    assert list(tmp_path.iterdir()) == []


def test_write_results__existing_folder__refused(tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(FileExistsError, match="already exists"):
        report.write_results({"a": _steps()}, {}, tmp_path / "run")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("steps", 0, "steps = 0 outside allowed range [1, 100000]"),
        ("vol0", 4.0, "vol0 = 4.0 outside allowed range [0.05, 3.0]"),
        ("writer_max_usage", 1.5, "writer_max_usage = 1.5 outside allowed range [0.01, 1.0]"),
        ("liquidators", 21, "liquidators = 21 outside allowed range [0, 20]"),
        ("strikes_pct", (0.1,), "strikes_pct = (0.1,) outside allowed range"),
        ("liquidator_bid_share", (1.5,), "liquidator_bid_share = (1.5,) outside allowed range"),
    ],
)
def test_sim_config__out_of_range__names_field(field, value, message):
    with pytest.raises(
        SimConfigError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")
    ):
        SimConfig(**{field: value}).validate()


def test_sim_config__yaml__unknown_setting_named(tmp_path):
    path = tmp_path / "sim.yaml"
    path.write_text("writers: 3\nwritters: 4\n")
    with pytest.raises(SimConfigError, match=r"unknown setting\(s\) \['writters'\]"):
        SimConfig.load(path)
    path.write_text("writers: 3\nstrikes_pct: [0.9, 1.0, 1.1]\n")
    cfg = SimConfig.load(path, steps=12)
    assert cfg.writers == 3 and cfg.steps == 12 and cfg.strikes_pct == (0.9, 1.0, 1.1)


def test_sim_config__yaml__malformed_or_missing__config_error_naming_the_file(tmp_path):
    path = tmp_path / "sim.yaml"
    path.write_text("writers: [3\n")
    with pytest.raises(SimConfigError, match=r"--config: .*sim.yaml is not valid YAML"):
        SimConfig.load(path)
    with pytest.raises(SimConfigError, match=r"--config: no such file"):
        SimConfig.load(tmp_path / "absent.yaml")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"colour": 1}, "unknown key"),
        ({"params": {"margin": {"spot_shock": 2}}}, "margin.spot_shock = 2 outside allowed range"),
        ({"params": {"margin": {"spot_shok": 0.1}}}, "unknown field"),
        ({"params": {"risk": {}}}, "unknown group"),
        ({"initial_vol": 9}, "initial_vol: 9 outside"),
        ({"timelock_delay": 1}, "timelock_delay: 1 outside"),
        ({"series": {"expiries_days": [0]}}, "series.expiries_days"),
        (
            {"params": {"liquidation": {"start_discount": 0.1, "max_discount": 0.05}}},
            "max_discount",
        ),
    ],
)
def test_deploy_config__bad_value__names_field(data, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        DeployConfig.from_dict(data)


def test_deploy_config__local_file_is_valid():
    cfg = DeployConfig.load("deployments/local.yaml")
    assert cfg.margin.spot_steps == 3
    assert len(cfg.margin.to_chain()) == 9


def test_summarise__lp_flows_are_not_losses():
    """A redemption lowers NAV but not the share price: no drawdown, not the worst step."""
    steps = _steps().assign(
        pool_nav=[1e6, 1e6, 7e5, 7e5, 6.99e5],
        lp_share_price=[1.0, 1.0, 1.0, 1.0, 0.9986],
        lp_deposits=[0.0] * 5,
        lp_redemptions=[0.0, 0.0, 3e5, 0.0, 0.0],
    )
    summary = report.summarise(steps, {"step_seconds": 3_600})
    assert summary["pool_max_drawdown"] == pytest.approx(-0.0014)
    assert summary["worst_step"]["step"] == 4


def test_summarise__day_length_follows_the_step():
    steps = _steps().assign(liquidated_mm=[1.0, 1.0, 1.0, 1.0, 1.0])
    hourly = report.summarise(steps, {"step_seconds": 3_600})
    quarter_day = report.summarise(steps, {"step_seconds": 21_600})
    assert hourly["liquidations_at_risk_24h_usd"] == 5.0  # all five hours in one day
    assert quarter_day["liquidations_at_risk_24h_usd"] == 4.0  # four 6-hour steps a day


def test_long_history__default_is_the_shipped_eth_closes_and_bad_files_are_named(tmp_path):
    from sims.runner import long_history_of

    h = long_history_of(SimConfig())
    assert h is not None and h.years > 8 and h.source.startswith("ETHUSDT_1h_binance_2017")
    assert 0.1 < h.floor(86_400, 0.995) < 0.5
    up, down = h.vol_floor(86_400, 0.995)
    assert 0.1 < up < 0.5 and 0.05 < down < 0.3 and h.vol_source.startswith("ETH_DVOL")
    assert long_history_of(SimConfig(long_vol_history="")).vol_index is None
    assert long_history_of(SimConfig(long_history="")) is None
    assert long_history_of(SimConfig(governance=False)) is None
    with pytest.raises(SimConfigError, match="long_history: no such file"):
        long_history_of(SimConfig(long_history=str(tmp_path / "nope.csv")))
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,price\n1,2\n1,3\n5,4\n")
    with pytest.raises(SimConfigError, match="long_history: .*bad.csv"):
        long_history_of(SimConfig(long_history=str(bad)))
    with pytest.raises(SimConfigError, match="long_vol_history: no such file"):
        long_history_of(SimConfig(long_vol_history=str(tmp_path / "nope.csv")))
    with pytest.raises(SimConfigError, match="long_history = 3"):
        SimConfig(long_history=3).validate()  # type: ignore[arg-type]
    with pytest.raises(SimConfigError, match="long_vol_history = 3: expected a vol index"):
        SimConfig(long_vol_history=3).validate()  # type: ignore[arg-type]
