"""Results folders are written whole or not at all; configs name the bad field."""

import pandas as pd
import pytest

from sims import report
from sims.deployment import ConfigError, DeployConfig
from sims.model import SimConfig, SimConfigError


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
        }
    )


def test_write_results__complete_folder(tmp_path):
    steps = _steps()
    summary = report.summarise(steps, {"scenario": "unit"})
    assert summary["liquidations"] == 3 and summary["bad_debt_usd"] == 5.0
    assert summary["lp_return"] == pytest.approx(0.004)
    path = report.write_results(steps, summary, tmp_path / "run")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "nav_bad_debt.png",
        "price_liquidations.png",
        "report.html",
        "steps.csv",
        "summary.json",
    ]
    assert path.name == "report.html"


def test_write_results__interrupted__leaves_nothing(tmp_path, monkeypatch):
    def boom(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "_plots", boom)
    with pytest.raises(KeyboardInterrupt):
        report.write_results(_steps(), {"scenario": "unit"}, tmp_path / "run")
    assert list(tmp_path.iterdir()) == []


def test_write_results__existing_folder__refused(tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(FileExistsError, match="already exists"):
        report.write_results(_steps(), {}, tmp_path / "run")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("steps", 0, "steps = 0 outside allowed range [1, 100000]"),
        ("vol", 4.0, "vol = 4.0 outside allowed range [0.05, 3]"),
        ("crash_size", 0.95, "crash_size = 0.95 outside allowed range [0, 0.9)"),
        ("writer_max_usage", 1.5, "writer_max_usage = 1.5 outside allowed range (0, 1]"),
    ],
)
def test_sim_config__out_of_range__names_field(field, value, message):
    with pytest.raises(
        SimConfigError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")
    ):
        SimConfig(**{field: value}).validate()


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
