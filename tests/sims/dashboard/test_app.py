"""The dashboard page (sims.dashboard.app) without a browser or a chain: its figures from a small
frame, its text panel, and the whole page rendered on a fake model."""

from __future__ import annotations

import time
from types import SimpleNamespace

import ipyvuetify as v
import ipywidgets
import mesa
import numpy as np
import pandas as pd
import pytest
import solara
from matplotlib.figure import Figure

from agents.committee import Review
from risk.params import MarginParams
from risk.units import HOUR
from sims.config import SimConfig
from sims.dashboard import app


def _frame(n: int = 7, liquidations=(0, 0, 2, 0, 1, 0, 0), changes=(0, 0, 0, 0, 1, 0, 0)):
    return pd.DataFrame(
        {
            "time": np.arange(n) * HOUR,
            "spot": 2_000.0 - 50.0 * np.arange(n),
            "oracle_spot": 2_000.0 - 45.0 * np.arange(n),
            "pool_nav": np.full(n, 2e6),
            "hedged_nav": 2e6 + 1e3 * np.arange(n),
            "utilisation": np.linspace(0.0, 0.3, n),
            "accounts_below_mm": [0, 0, 3, 1, 2, 0, 0][:n],
            "liquidations": list(liquidations)[:n],
            "bad_debt": np.zeros(n),
            "param_changes": list(changes)[:n],
            "spot_shock": [0.15] * 4 + [0.18] * (n - 4),
            "im_factor": np.full(n, 1.3),
            "vol_shock_up": np.full(n, 0.5),
            "start_discount": np.full(n, 0.02),
        }
    )


class FakeMarket(mesa.Model):
    """The dashboard's view of a model (inputs, cfg, datacollector), without a chain."""

    def __init__(
        self,
        scenario="crash",
        seed=7,
        steps=168,
        governance=True,
        writers=6,
        noise_traders=4,
        spot_shock=0.15,
        im_factor=1.3,
    ):
        super().__init__(rng=seed)
        self.cfg = SimConfig(scenario=scenario, steps=steps, governance=governance)
        self.governance, self.start = None, 0
        self.inputs = {"scenario": scenario, "seed": seed}
        frame = _frame()
        reporters = {c: (lambda m, c=c: frame[c].iloc[m.steps % len(frame)]) for c in frame}
        reporters["time"] = lambda m: m.steps * HOUR
        self.datacollector = mesa.DataCollector(model_reporters=reporters)
        self.datacollector.collect(self)

    def step(self):
        self.datacollector.collect(self)


# --- figures ---


@pytest.mark.parametrize("draw", app.FIGURES, ids=lambda f: f.__name__)
def test_figure__small_frame__draws_a_figure(draw):
    fig = draw(_frame())
    assert isinstance(fig, Figure)
    assert fig.axes and any(ax.has_data() for ax in fig.axes)


def test_spot_figure__liquidations__one_marker_per_block_with_them():
    ax = app.spot_figure(_frame()).axes[0]
    (markers,) = ax.collections
    np.testing.assert_allclose(markers.get_offsets()[:, 0], [2.0, 4.0])  # hours
    np.testing.assert_allclose(markers.get_offsets()[:, 1], [1_900.0, 1_800.0])


def test_spot_figure__no_liquidations__no_markers():
    ax = app.spot_figure(_frame(liquidations=(0,) * 7)).axes[0]
    assert not ax.collections


def test_nav_figure__hedged_nav__second_line_only_when_it_differs():
    df = _frame()
    assert len(app.nav_figure(df).axes[0].lines) == 2
    df["hedged_nav"] = df["pool_nav"]
    assert len(app.nav_figure(df).axes[0].lines) == 1


def test_liquidations_figure__title__run_total():
    assert (
        app.liquidations_figure(_frame()).axes[0].get_title() == "Liquidations per step (total 3)"
    )


def test_params_figure__governance_change__marked_and_value_in_force_shown():
    axes = app.params_figure(_frame()).axes
    titles = [ax.get_title() for ax in axes if ax.get_visible()]
    assert titles == [
        "spot_shock = 0.18",
        "im_factor = 1.3",
        "vol_shock_up = 0.5",
        "start_discount = 0.02",
    ]
    spot_shock = axes[0]
    marks = [line for line in spot_shock.lines if line.get_linestyle() == ":"]
    assert [line.get_xdata()[0] for line in marks] == [4.0]


# --- the text panel ---


def _model(governance):
    return SimpleNamespace(
        datacollector=SimpleNamespace(get_model_vars_dataframe=_frame),
        inputs={"scenario": "crash", "seed": 3},
        steps=6,
        cfg=SimConfig(steps=48),
        governance=governance,
        start=0,
    )


def test_status_markdown__no_committee__says_off_and_sums_the_run():
    text = app.status_markdown(_model(None))
    assert "step 6 of 48 (scenario crash, seed 3)" in text
    assert "hour 6: spot 1,700 USD" in text and "liquidations 3" in text
    assert "parameter changes 1" in text
    assert "**Risk committee**: off" in text


def test_review_markdown__latest_review__lists_what_was_proposed():
    proposed = MarginParams(spot_shock=0.18)
    first = Review(time=0, n_returns=10, skipped="too few returns")
    latest = Review(
        time=24 * HOUR,
        n_returns=720,
        proposed={"margin": proposed},
        before={"margin": MarginParams(spot_shock=0.15)},
        targets={"margin": MarginParams(spot_shock=0.2)},
        held={"liquidation": ("start_discount",)},
    )
    gov = SimpleNamespace(committee=SimpleNamespace(history=[first, latest]))
    text = app.review_markdown(_model(gov))
    assert text.startswith("**Latest review** (hour 24, 720 returns), proposed:")
    # only the field that moves, from its value in force, with the target it stops short of
    assert text.count("\n- ") == 1 and "- margin.spot_shock 0.15 -> 0.18 (target 0.2)" in text
    assert "held (changed within their minimum interval): liquidation.start_discount" in text
    gov.committee.history = [first]
    assert app.review_markdown(_model(gov)).endswith("skipped, too few returns")
    gov.committee.history = []
    assert app.review_markdown(_model(gov)) == "**Risk committee**: no review yet"


# --- the page ---


def test_model_params__match_the_dashboard_model_inputs():
    import inspect

    from sims.dashboard.model import DashboardModel
    from sims.scenarios import SCENARIOS

    signature = inspect.signature(DashboardModel.__init__).parameters
    assert set(app.MODEL_PARAMS) == set(signature) - {"self"}
    for name, spec in app.MODEL_PARAMS.items():
        assert spec["value"] == signature[name].default, name
    assert app.MODEL_PARAMS["scenario"]["values"] == sorted(SCENARIOS)


def test_figure_component__after_a_step__a_new_image():
    model = FakeMarket()
    component = app.figure_component(app.spot_figure)
    box, rc = solara.render(solara.component(lambda: component(model))(), handle_error=False)
    before = rc.find(ipywidgets.Image).widget.value
    rc.close()
    model.step()
    box, rc = solara.render(solara.component(lambda: component(model))(), handle_error=False)
    assert rc.find(ipywidgets.Image).widget.value != before
    rc.close()


def test_page__fake_model__controls_inputs_charts_and_panel():
    @solara.component
    def Shell():
        with solara.AppLayout():
            app.make_page(FakeMarket)()

    box, rc = solara.render(Shell(), handle_error=False)
    try:
        rc.find(v.Btn, children=["Step"]).wait_for(timeout=20)  # the model is built off-thread
        rc.find(ipywidgets.Image).wait_for(timeout=20)
        for label in ("Reset", "Step"):
            rc.find(v.Btn, children=[label]).assert_single()
        assert rc.find(v.Select, label="Scenario").widget.v_model == "crash"
        for label in ("Seed", "Steps (hourly blocks)", "Initial spot_shock", "Initial im_factor"):
            rc.find(v.Slider, label=label).assert_single()
        deadline = time.monotonic() + 20
        while len(rc.find(ipywidgets.Image).widgets) < len(app.FIGURES):
            assert time.monotonic() < deadline, "not every chart was drawn"
            time.sleep(0.1)
        assert len(rc.find(ipywidgets.Image).widgets) == len(app.FIGURES)
        assert rc.find(v.Html, children=["Step: 0"]).widgets
    finally:
        rc.close()
