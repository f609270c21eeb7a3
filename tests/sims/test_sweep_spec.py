"""Sweeps without a chain: the sweep file is validated before anything runs (errors name the
field), grids and seeded draws expand as specified, the store resumes only what is not
done, Optuna's search resumes from the store, and the analysis (Wilson intervals, frontier,
recommendation under constraints, sensitivity) holds on synthetic records."""

from __future__ import annotations

import math
import sys
import types

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from sims.runner import RunResult
from sims.sweep import analysis
from sims.sweep.cli import main as sweep_main
from sims.sweep.execute import SerialExecutor, Task, run_task, tasks_for
from sims.sweep.optimise import optimise
from sims.sweep.report import build_report
from sims.sweep.spec import SweepSpecError, param_key, spec_from_dict
from sims.sweep.store import ResultStore

SMALL = {"writers": 3, "noise_traders": 2, "governance": False}


def _spec(**over):
    data = {
        "parameters": {"margin.spot_shock": [0.15, 0.3], "liquidation.start_discount": [0.01]},
        "scenarios": ["crash"],
        "seeds": 2,
        "steps": 6,
        "config": SMALL,
        "objective": {
            "metric": "capital_efficiency",
            "direction": "maximize",
            "constraints": ["bad_debt_probability <= 0.5"],
        },
    }
    data.update(over)
    return spec_from_dict(data)


def _error(**over) -> str:
    with pytest.raises(SweepSpecError) as info:
        _spec(**over)
    return str(info.value)


# --- validation: errors name the field ---


def test_spec__unknown_parameter__names_it():
    msg = _error(parameters={"margin.spot_shok": [0.2]})
    assert msg.startswith("parameters.margin.spot_shok: unknown parameter")
    assert "spot_shock" in msg  # the allowed fields are listed


def test_spec__unknown_group__names_it():
    assert _error(parameters={"risk.spot_shock": [0.2]}).startswith("parameters.risk.spot_shock")


def test_spec__value_outside_contract_bounds__names_field_and_range():
    msg = _error(parameters={"margin.spot_shock": [0.2, 0.95]})
    assert msg == "parameters.margin.spot_shock = 0.95 outside the contract's bounds [0.01, 0.9]"


def test_spec__range_outside_contract_bounds__names_the_end():
    msg = _error(
        method="random", n_trials=3, parameters={"margin.im_factor": {"low": 1.1, "high": 4}}
    )
    assert msg.startswith("parameters.margin.im_factor.high = 4")
    assert "[1.0, 3.0]" in msg


def test_spec__empty_grid__names_field():
    assert (
        _error(parameters={"margin.spot_shock": []}) == "parameters.margin.spot_shock: empty grid"
    )
    assert _error(parameters={}).startswith("parameters: empty")


def test_spec__integer_field_with_fraction__names_field():
    assert "expected an integer" in _error(parameters={"margin.spot_steps": [2.5]})


def test_spec__range_in_a_grid__needs_random_or_optuna():
    msg = _error(parameters={"margin.im_factor": {"low": 1.1, "high": 1.5}})
    assert msg == "parameters.margin.im_factor: a range needs method random or optuna"


def test_spec__combination_breaking_a_rule__names_the_set():
    # max_discount is 0.15 in deployments/local.yaml; a start above it is refused
    msg = _error(parameters={"liquidation.start_discount": [0.05, 0.18]})
    assert msg.startswith("parameters: the set {'liquidation.start_discount': 0.18}")
    assert "max_discount" in msg


@pytest.mark.parametrize(
    "objective, start",
    [
        ({"metric": "profit"}, "objective.metric = 'profit'"),
        ({"direction": "up"}, "objective.direction = 'up'"),
        ({"constraints": ["bad_debt_probability < 0.05"]}, "objective.constraints[0] = "),
        ({"constraints": ["lp_es <= 0.1", "risk <= 2"]}, "objective.constraints[1]: unknown"),
        ({"confidence": 1.5}, "objective.confidence = 1.5"),
        ({"goal": 1}, "objective: unknown setting(s) ['goal']"),
    ],
)
def test_spec__bad_objective__names_field(objective, start):
    assert _error(objective=objective).startswith(start)


def test_spec__bad_config_scenario_seeds_method__name_the_field():
    assert _error(config={"writerz": 3}).startswith("config: unknown setting(s) ['writerz']")
    assert _error(config={"writers": -1}).startswith("config: writers = -1")
    assert _error(steps=0).startswith("steps: steps = 0 outside")
    assert _error(scenarios=["no_such_scenario"]).startswith("scenarios[0]:")
    assert _error(seeds=[1, 1]) == "seeds: repeated seeds [1, 1]"
    assert _error(seeds=0).startswith("seeds = 0")
    assert _error(method="bayes").startswith("method = 'bayes'")
    assert _error(method="random").startswith("n_trials = 0")
    assert _error(n_trials=5).startswith("n_trials: only for method random or optuna")
    assert _error(colour="red").startswith("unknown setting(s) ['colour']")


def test_cli__invalid_sweep_file__exit_2_and_nothing_written(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"parameters": {"margin.spot_shock": [2.0]}}))
    assert sweep_main([str(path), "--no-ray", "--out", str(tmp_path / "out")]) == 2
    assert "parameters.margin.spot_shock = 2.0 outside" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# --- expansion ---


def test_grid__product_of_values__every_set_on_every_scenario_and_seed():
    spec = _spec(
        parameters={
            "margin.spot_shock": [0.1, 0.2, 0.3],
            "liquidation.start_discount": [0.01, 0.03],
            "margin.im_factor": 1.4,
        },
        scenarios=["crash", "calm"],
        seeds=[7, 11],
    )
    sets = spec.param_sets()
    assert len(sets) == 6
    assert sets[0] == {
        "margin.spot_shock": 0.1,
        "liquidation.start_discount": 0.01,
        "margin.im_factor": 1.4,
    }
    assert spec.swept == ["margin.spot_shock", "liquidation.start_discount"]
    tasks = tasks_for(spec, sets)
    assert len(tasks) == 6 * 2 * 2
    assert len({t.run_id for t in tasks}) == len(tasks)
    assert {t.seed for t in tasks} == {7, 11} and {t.scenario for t in tasks} == {"crash", "calm"}
    # the same file gives the same ids; another step count gives others
    assert [t.run_id for t in tasks_for(spec, sets)] == [t.run_id for t in tasks]
    other = _spec(
        parameters={
            "margin.spot_shock": [0.1, 0.2, 0.3],
            "liquidation.start_discount": [0.01, 0.03],
            "margin.im_factor": 1.4,
        },
        scenarios=["crash", "calm"],
        seeds=[7, 11],
        steps=7,
    )
    assert not {t.run_id for t in tasks_for(other, sets)} & {t.run_id for t in tasks}


def test_random__seeded_draws__reproducible_and_inside_ranges():
    params = {
        "margin.im_factor": {"low": 1.1, "high": 1.6},
        "pool.fee_rate": {"low": 0.0001, "high": 0.003, "log": True},
        "margin.spot_steps": {"low": 2, "high": 5},
        "margin.spot_shock": [0.1, 0.2],
    }
    a = _spec(method="random", n_trials=40, sampler_seed=3, parameters=params).param_sets()
    b = _spec(method="random", n_trials=40, sampler_seed=3, parameters=params).param_sets()
    c = _spec(method="random", n_trials=40, sampler_seed=4, parameters=params).param_sets()
    assert a == b and a != c
    assert all(1.1 <= s["margin.im_factor"] <= 1.6 for s in a)
    assert all(0.0001 <= s["pool.fee_rate"] <= 0.003 for s in a)
    assert all(
        isinstance(s["margin.spot_steps"], int) and 2 <= s["margin.spot_steps"] <= 5 for s in a
    )
    assert {s["margin.spot_steps"] for s in a} == {2, 3, 4, 5}
    assert {s["margin.spot_shock"] for s in a} == {0.1, 0.2}
    # log-uniform: about half the draws below the geometric midpoint
    below = np.mean([s["pool.fee_rate"] < math.sqrt(0.0001 * 0.003) for s in a])
    assert 0.25 < below < 0.75


# --- store and resume ---


def _fake_steps(n: int = 7, bad: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "time": [3_600 * i for i in range(n)],
            "spot": [2_000.0] * n,
            "pool_nav": [1e6] * n,
            "lp_share_price": [1.0 - 0.001 * i for i in range(n)],
            "liquidations": [0] * n,
            "liquidated_mm": [0.0] * (n - 1) + [100.0],
            "bad_debt": [0.0] * (n - 1) + [bad],
            "socialised": [0.0] * n,
            "settlements": [0] * n,
            "accounts_below_mm": [0] * n,
            "keeper_profit": [0.0] * n,
            "param_changes": [0] * n,
            "txs": [1] * n,
            "reverts": [0] * n,
            "gas": [1] * n,
        }
    )


@pytest.fixture
def fake_runner(monkeypatch):
    """A runner in place of run_simulation: bad debt when spot_shock < 0.2 on odd seeds,
    raises for spot_shock in `fail`; counts its calls."""
    state = {"calls": [], "fail": set()}

    def run(cfg, seed, chain="anvil", progress=None, params=None):
        shock = params["margin"]["spot_shock"]
        state["calls"].append((shock, seed))
        if shock in state["fail"]:
            raise RuntimeError(f"boom at spot_shock {shock}")
        bad = 500.0 if shock < 0.2 and seed % 2 else 0.0
        return RunResult(_fake_steps(cfg.steps + 1, bad), {"step_seconds": 3_600, "seed": seed}, [])

    module = types.ModuleType("fake_sweep_runner")
    module.run = run
    monkeypatch.setitem(sys.modules, "fake_sweep_runner", module)
    return state


def test_store__resume__skips_done_and_reruns_failed_and_missing(tmp_path):
    spec = _spec()
    tasks = tasks_for(spec, spec.param_sets())
    store = ResultStore(tmp_path)
    assert store.pending(tasks) == tasks
    t_done, t_failed = tasks[0], tasks[1]
    store.record(
        t_done.run_id,
        t_done.params,
        t_done.scenario,
        t_done.seed,
        "done",
        param_key=t_done.param_key,
        summary={"bad_debt_usd": 0.0},
        steps=_fake_steps(),
    )
    store.record(
        t_failed.run_id,
        t_failed.params,
        t_failed.scenario,
        t_failed.seed,
        "failed",
        param_key=t_failed.param_key,
        error="RuntimeError: boom",
    )
    again = ResultStore(tmp_path)  # a new process, the same folder
    assert [t.run_id for t in again.pending(tasks)] == [t.run_id for t in tasks[1:]]
    records = {r["run_id"]: r for r in again.records()}
    assert records[t_failed.run_id]["error"] == "RuntimeError: boom"
    assert len(again.steps(records[t_done.run_id])) == 7
    again.record(
        t_failed.run_id,
        t_failed.params,
        t_failed.scenario,
        t_failed.seed,
        "done",
        param_key=t_failed.param_key,
        summary={},
        steps=_fake_steps(),
    )
    assert again.records([t_failed.run_id])[0]["attempts"] == 2
    assert not list(tmp_path.glob("steps/.*"))  # no temporary files left


def test_run_task__runner_raises__failed_outcome_with_error(fake_runner):
    fake_runner["fail"].add(0.3)
    task = Task(
        "x", {"margin.spot_shock": 0.3}, "crash", 0, 6, SMALL, runner="fake_sweep_runner:run"
    )
    out = run_task(task)
    assert out["status"] == "failed"
    assert out["error"].startswith("RuntimeError: boom at spot_shock 0.3")


def test_cli__failed_run__reported_and_rerun_by_the_same_command(tmp_path, fake_runner, capsys):
    path = tmp_path / "sweep.yaml"
    data = {
        "parameters": {"margin.spot_shock": [0.15, 0.3]},
        "seeds": 2,
        "steps": 4,
        "config": SMALL,
        "runner": "fake_sweep_runner:run",
    }
    path.write_text(yaml.safe_dump(data))
    cmd = [str(path), "--no-ray", "--out", str(tmp_path / "out"), "--quiet"]
    fake_runner["fail"].add(0.3)
    assert sweep_main(cmd) == 1
    out = capsys.readouterr().out
    assert "runs: 2 done, 2 failed, 0 missing" in out
    assert "RuntimeError: boom at spot_shock 0.3" in out
    html = (tmp_path / "out" / "report.html").read_text()
    assert "Failed runs (2)" in html and "boom at spot_shock 0.3" in html
    assert len(fake_runner["calls"]) == 4

    fake_runner["fail"].clear()
    fake_runner["calls"].clear()
    assert sweep_main(cmd) == 0
    assert sorted(fake_runner["calls"]) == [(0.3, 0), (0.3, 1)]  # only the failed ones
    assert "runs: 4 done, 0 failed, 0 missing" in capsys.readouterr().out

    fake_runner["calls"].clear()
    assert sweep_main(cmd) == 0
    assert fake_runner["calls"] == []


def test_optimise__resumes_from_the_store(tmp_path, fake_runner):
    def spec(n):
        return _spec(
            method="optuna",
            n_trials=n,
            sampler_seed=1,
            seeds=[0, 1],
            parameters={"margin.spot_shock": {"low": 0.05, "high": 0.5}},
            runner="fake_sweep_runner:run",
        )

    store = ResultStore(tmp_path)

    def on_result(task, outcome):
        from sims.sweep.cli import record

        record(store, task, outcome)

    study = optimise(spec(4), store, SerialExecutor(), on_result)
    assert len(study.trials) == 4 and len(fake_runner["calls"]) == 8
    trials = store.trials()
    assert [t["state"] for t in trials] == ["complete"] * 4
    # an interrupted trial: asked and saved, one of its runs missing
    store.forget(tasks_for(spec(4), [trials[3]["params"]], [3])[1].run_id)
    fake_runner["calls"].clear()
    study = optimise(spec(6), store, SerialExecutor(), on_result)
    assert len(study.trials) == 6 and len(store.trials()) == 6
    assert len({t["param_key"] for t in store.trials()}) == 6  # no start-up point redrawn
    # the missing run of trial 3, then two new trials of two seeds
    assert len(fake_runner["calls"]) == 1 + 4
    assert fake_runner["calls"][0] == (trials[3]["params"]["margin.spot_shock"], 1)
    # a trial's value is the objective across its runs
    best = max((t for t in store.trials() if t["value"] is not None), key=lambda t: t["value"])
    assert best["value"] == pytest.approx(
        1 / analysis.reference_margin(best["params"])["im_per_notional"]
    )


# --- analysis ---


def test_wilson__matches_the_closed_form():
    p, lo, hi = analysis.wilson(0, 10)
    z2 = stats.norm.ppf(0.975) ** 2
    assert (p, lo) == (0.0, 0.0) and hi == pytest.approx(z2 / (10 + z2))
    p, lo, hi = analysis.wilson(10, 10)
    assert p == 1.0 and hi == pytest.approx(1.0) and lo == pytest.approx(10 / (10 + z2))
    p, lo, hi = analysis.wilson(3, 10)
    assert lo < 0.3 < hi and hi - 0.3 > 0.3 - lo  # skewed towards 0.5
    assert all(math.isnan(x) for x in analysis.wilson(0, 0))


def test_mean_ci__matches_scipy_t_interval():
    x = [0.01, 0.03, 0.02, 0.05]
    m, lo, hi = analysis.mean_ci(x, 0.9)
    ref = stats.t.interval(0.9, len(x) - 1, loc=np.mean(x), scale=stats.sem(x))
    assert m == pytest.approx(np.mean(x)) and (lo, hi) == pytest.approx(ref)
    assert math.isnan(analysis.mean_ci([0.1])[1])


def test_pareto_front__keeps_only_undominated_points():
    x = [1.0, 2.0, 3.0, 2.5, 1.0, np.nan]
    y = [5.0, 3.0, 1.0, 3.5, 6.0, 0.0]
    assert analysis.pareto_front(x, y).tolist() == [True, True, True, False, False, False]


def _records(spec, outcomes):
    """outcomes: {spot_shock: [bad debt of each seed]} -> store-like records."""
    out = []
    for shock, bads in outcomes.items():
        params = {"margin.spot_shock": shock, "liquidation.start_discount": 0.01}
        for seed, bad in enumerate(bads):
            out.append(
                {
                    "run_id": f"{shock}-{seed}",
                    "param_key": param_key(params),
                    "params": params,
                    "scenario": "crash",
                    "seed": seed,
                    "attempts": 1,
                    "steps_path": None,
                    "status": "failed" if bad is None else "done",
                    "error": "E" if bad is None else None,
                    "summary": {}
                    if bad is None
                    else {
                        "bad_debt_usd": bad,
                        "lp_daily_es_0.99": 0.01 + bad / 1e5,
                        "liquidations_at_risk_24h_usd": 1_000 * shock,
                        "lp_return": -bad / 1e6,
                        "liquidations": 1,
                        "pool_max_drawdown": -0.01,
                    },
                }
            )
    return out


def test_recommend__best_efficiency_among_sets_meeting_the_constraint():
    spec = _spec(
        parameters={"margin.spot_shock": [0.1, 0.2, 0.4], "liquidation.start_discount": 0.01},
        seeds=4,
    )
    # the smallest shock is the most capital-efficient but has bad debt on 3 of 4 seeds
    records = _records(spec, {0.1: [0, 9, 9, 9], 0.2: [0, 0, 5, None], 0.4: [0, 0, 0, 0]})
    table = analysis.param_set_table(records, spec)
    by = table.set_index("margin.spot_shock")
    assert (
        by.loc[0.1, "capital_efficiency"]
        > by.loc[0.2, "capital_efficiency"]
        > by.loc[0.4, "capital_efficiency"]
    )
    assert by.loc[0.1, "bad_debt_probability"] == 0.75 and by.loc[0.2, "failed"] == 1
    assert by.loc[0.2, "bad_debt_probability"] == pytest.approx(1 / 3)
    best = analysis.recommend(table, spec)
    assert best["margin.spot_shock"] == 0.2
    # judged on the Wilson interval's upper end, 1 of 3 is not safely below 0.5: the next
    pessimistic = _spec(
        parameters={"margin.spot_shock": [0.1, 0.2, 0.4], "liquidation.start_discount": 0.01},
        seeds=4,
        objective={"constraints": ["bad_debt_probability <= 0.5"], "pessimistic": True},
    )
    table_p = analysis.param_set_table(records, pessimistic)
    assert analysis.recommend(table_p, pessimistic)["margin.spot_shock"] == 0.4
    ev = analysis.evidence(best, spec, records)
    change = {c["parameter"]: c for c in ev["changes"]}["margin.spot_shock"]
    assert change["deployed"] == 0.15 and change["on_chain"] == 2 * 10**17
    assert change["updates_needed"] == 2  # 0.15 -> 0.1875 -> 0.2 at 25% per update
    assert ev["per_scenario"][0]["runs"] == 3 and ev["constraints"][0]["met"]


def test_recommend__nothing_meets_constraints__none():
    spec = _spec(objective={"constraints": ["bad_debt_probability <= 0.1"]})
    records = _records(spec, {0.15: [5, 5], 0.3: [0, 5]})
    assert analysis.recommend(analysis.param_set_table(records, spec), spec) is None


def test_sensitivity__metric_driven_by_one_parameter():
    spec = _spec(
        parameters={
            "margin.spot_shock": [0.1, 0.2, 0.3],
            "liquidation.start_discount": [0.01, 0.02, 0.03],
        }
    )
    records = []
    for pset in spec.param_sets():
        shock = pset["margin.spot_shock"]
        for seed in range(2):
            records.append(
                {
                    "run_id": f"{param_key(pset)}{seed}",
                    "param_key": param_key(pset),
                    "params": pset,
                    "scenario": "crash",
                    "seed": seed,
                    "status": "done",
                    "summary": {
                        "bad_debt_usd": 0.0,
                        "lp_daily_es_0.99": 0.3 - shock,
                        "liquidations_at_risk_24h_usd": 0.0,
                        "lp_return": 0.0,
                    },
                }
            )
    table = analysis.param_set_table(records, spec)
    sens = analysis.sensitivity(table, spec).set_index(["parameter", "metric"])
    assert sens.loc[("margin.spot_shock", "lp_es"), "std_coef"] == pytest.approx(-1.0)
    assert sens.loc[("liquidation.start_discount", "lp_es"), "std_coef"] == pytest.approx(
        0.0, abs=1e-9
    )
    assert sens.loc[("margin.spot_shock", "lp_es"), "spread"] == pytest.approx(0.2)
    # capital efficiency depends on the margin parameter only
    assert sens.loc[("margin.spot_shock", "capital_efficiency"), "std_coef"] < -0.9


def test_report__one_self_contained_file(tmp_path):
    spec = _spec(
        parameters={"margin.spot_shock": [0.1, 0.2, 0.4], "liquidation.start_discount": 0.01},
        seeds=4,
    )
    records = _records(spec, {0.1: [0, 9, 9, 9], 0.2: [0, 0, 5, None], 0.4: [0, 0, 0, 0]})
    result = build_report(spec, records, tmp_path, planned=12)
    html = (tmp_path / "report.html").read_text()
    assert result["path"] == tmp_path / "report.html"
    assert html.count("data:image/png;base64,") == 2  # the frontier and the sensitivity
    assert "Recommendation: margin.spot_shock = 0.2" in html
    assert "Failed runs (1)" in html and 'src="http' not in html
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
