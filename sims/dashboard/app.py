"""The live dashboard (`optsim dashboard`): a Mesa SolaraViz page on a simulation you step.

Display only. The simulation is sims.dashboard.model.DashboardModel (the market model on its
own anvil); this module draws it. The page is Mesa's SolaraViz:

    sidebar   Reset / Play / Step, play and render intervals, the step counter, and the
              model's inputs: scenario, seed, steps, governance, writers, noise traders,
              the initial spot_shock and im_factor (Reset starts a new run with them)
    main      spot (liquidations marked), pool NAV (and hedged NAV), margin utilisation,
              accounts below MM, liquidations per step, the parameters in force (governance
              changes marked), and a text panel: the run so far and the risk committee's
              latest review

Each figure is a pure function from the model's DataCollector frame to a matplotlib
Figure, so it can be drawn without a browser or a chain. `make_page` puts them on a page
for any model class taking the inputs as keywords; `serve` runs solara's server on it.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import pandas as pd
import solara
from matplotlib.figure import Figure

from risk.units import HOUR
from sims.dashboard.model import DashboardModel, current
from sims.project import ROOT, tool_path
from sims.report import review_rows
from sims.scenarios import SCENARIOS

# Mesa's ComponentsView calls a hook after an early return; solara warns when it loads it
warnings.filterwarnings("ignore", message=".*ComponentsView: `use_state` found despite")

TITLE = "optsim dashboard"
LIQUIDATION = "#c0392b"
CHANGE = "#8e44ad"

# the inputs of DashboardModel, as Mesa's UserInputs show them
MODEL_PARAMS: dict[str, dict[str, Any]] = {
    "scenario": {
        "type": "Select",
        "value": "crash",
        "values": sorted(SCENARIOS),
        "label": "Scenario",
    },
    "seed": {"type": "SliderInt", "value": 7, "min": 0, "max": 1_000, "step": 1, "label": "Seed"},
    "steps": {
        "type": "SliderInt",
        "value": 168,
        "min": 24,
        "max": 720,
        "step": 24,
        "label": "Steps (hourly blocks)",
    },
    "governance": {"type": "Checkbox", "value": True, "label": "Risk committee (governance)"},
    "writers": {
        "type": "SliderInt",
        "value": 6,
        "min": 0,
        "max": 40,
        "step": 1,
        "label": "Option writers",
    },
    "noise_traders": {
        "type": "SliderInt",
        "value": 4,
        "min": 0,
        "max": 40,
        "step": 1,
        "label": "Noise traders",
    },
    "spot_shock": {
        "type": "SliderFloat",
        "value": 0.15,
        "min": 0.05,
        "max": 0.5,
        "step": 0.01,
        "label": "Initial spot_shock",
    },
    "im_factor": {
        "type": "SliderFloat",
        "value": 1.3,
        "min": 1.0,
        "max": 2.5,
        "step": 0.05,
        "label": "Initial im_factor",
    },
}
PARAM_COLUMNS = ("spot_shock", "im_factor", "vol_shock_up", "start_discount")


# --- figures: a DataCollector frame in, a Figure out ---


def _hours(df: pd.DataFrame) -> pd.Series:
    return df["time"] / HOUR if "time" in df else pd.Series(range(len(df)), dtype=float)


def _figure(title: str, ylabel: str) -> tuple[Figure, Any]:
    # fixed margins: a layout engine would double the time of a redraw after every step
    fig = Figure(figsize=(6.0, 3.0), dpi=90)
    fig.subplots_adjust(left=0.13, right=0.97, top=0.89, bottom=0.16)
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=11)
    ax.set_xlabel("hours")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    return fig, ax


def spot_figure(df: pd.DataFrame) -> Figure:
    """Spot on the outside market and on the oracle; a marker per block with liquidations."""
    fig, ax = _figure("ETH spot", "USD")
    x = _hours(df)
    ax.plot(x, df["spot"], label="market", color="#2c3e50")
    if "oracle_spot" in df:
        ax.plot(x, df["oracle_spot"], label="oracle", color="#3498db", ls="--", lw=1)
    hit = df["liquidations"] > 0
    if hit.any():
        ax.scatter(
            x[hit],
            df["spot"][hit],
            s=20 + 12 * df["liquidations"][hit],
            marker="v",
            color=LIQUIDATION,
            zorder=3,
            label="liquidations",
        )
    ax.legend(loc="best", fontsize=8)
    return fig


def nav_figure(df: pd.DataFrame) -> Figure:
    """The pool's NAV on-chain, and with the hedging desk's P&L when there is one."""
    fig, ax = _figure("Pool NAV", "million USD")
    x = _hours(df)
    ax.plot(x, df["pool_nav"] / 1e6, label="pool NAV", color="#27ae60")
    if "hedged_nav" in df and not (df["hedged_nav"] == df["pool_nav"]).all():
        ax.plot(x, df["hedged_nav"] / 1e6, label="hedged NAV", color="#16a085", ls="--")
    ax.legend(loc="best", fontsize=8)
    return fig


def utilisation_figure(df: pd.DataFrame) -> Figure:
    """The pool's gross open interest times spot over its NAV."""
    fig, ax = _figure("Margin utilisation", "gross OI x spot / NAV")
    ax.plot(_hours(df), df["utilisation"], color="#e67e22")
    return fig


def below_mm_figure(df: pd.DataFrame) -> Figure:
    """Accounts whose equity is below their maintenance margin (liquidatable)."""
    fig, ax = _figure("Accounts below MM", "accounts")
    ax.step(_hours(df), df["accounts_below_mm"], where="post", color=LIQUIDATION)
    ax.set_ylim(bottom=0)
    return fig


def liquidations_figure(df: pd.DataFrame) -> Figure:
    """Liquidations in each block, the run's total in the title."""
    total = int(df["liquidations"].sum())
    fig, ax = _figure(f"Liquidations per step (total {total})", "liquidations")
    ax.bar(_hours(df), df["liquidations"], width=0.8, color=LIQUIDATION)
    ax.set_ylim(bottom=0)
    return fig


def params_figure(df: pd.DataFrame) -> Figure:
    """The governed parameters in force, one panel each; dotted lines where they changed."""
    columns = [c for c in PARAM_COLUMNS if c in df]
    fig = Figure(figsize=(6.0, 3.0), dpi=90)
    fig.subplots_adjust(left=0.1, right=0.97, top=0.8, bottom=0.1, hspace=0.7, wspace=0.3)
    fig.suptitle("Parameters in force (dotted: governance changes)", fontsize=11)
    rows = max(1, math.ceil(len(columns) / 2))
    axes = fig.subplots(rows, 2, sharex=True, squeeze=False).ravel()
    x = _hours(df)
    changed = x[df["param_changes"] > 0] if "param_changes" in df else []
    for ax, column in zip(axes, columns, strict=False):
        ax.step(x, df[column], where="post", color=CHANGE)
        for t in changed:
            ax.axvline(t, color=CHANGE, ls=":", lw=1)
        last = df[column].iloc[-1] if len(df) else float("nan")
        ax.set_title(f"{column} = {last:.4g}", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    for ax in axes[len(columns) :]:
        ax.set_visible(False)
    return fig


FIGURES: tuple[Callable[[pd.DataFrame], Figure], ...] = (
    spot_figure,
    nav_figure,
    utilisation_figure,
    below_mm_figure,
    liquidations_figure,
    params_figure,
)


# --- the text panel ---


def status_markdown(model: Any) -> str:
    """The run so far and the risk committee's latest review, as Markdown."""
    df = model.datacollector.get_model_vars_dataframe()
    inputs = ", ".join(f"{k} {v}" for k, v in getattr(model, "inputs", {}).items())
    lines = [f"**Run**: step {model.steps} of {model.cfg.steps} ({inputs})"]
    if len(df):
        last = df.iloc[-1]
        lines.append(
            f"hour {last['time'] / HOUR:.0f}: spot {last['spot']:,.0f} USD, pool NAV "
            f"{last['pool_nav'] / 1e6:,.3f}M USD, liquidations {int(df['liquidations'].sum())}, "
            f"bad debt {df['bad_debt'].sum():,.0f} USD, "
            f"parameter changes {int(df['param_changes'].sum())}"
        )
    lines.append("")
    lines.append(review_markdown(model))
    return "\n\n".join(lines)


def review_markdown(model: Any) -> str:
    """The latest review of the risk committee, or why there is none."""
    governance = getattr(model, "governance", None)
    if governance is None:
        return "**Risk committee**: off"
    history = governance.committee.history
    if not history:
        return "**Risk committee**: no review yet"
    (row,) = review_rows(history[-1:], model.start)
    text = f"**Latest review** (hour {row['hour']:g}, {row['returns']} returns)"
    if row["skipped"]:
        return f"{text}: skipped, {row['skipped']}"
    proposed = row["proposed"].replace("; ", "\n- ") or "nothing"
    held = f"\n\nheld (changed within their minimum interval): {row['held']}" if row["held"] else ""
    return f"{text}, proposed:\n\n- {proposed}{held}"


# --- the page ---


def figure_component(draw: Callable[[pd.DataFrame], Figure]) -> Callable[[Any], Any]:
    """A SolaraViz component (model -> element) showing draw(the model's frame); Mesa
    re-renders it after every step."""

    def component(model: Any) -> Any:
        df = model.datacollector.get_model_vars_dataframe()
        return solara.FigureMatplotlib(
            draw(df), dependencies=[id(model), model.steps], format="png"
        )

    component.__name__ = draw.__name__
    return component


def status_component(model: Any) -> Any:
    return solara.Markdown(status_markdown(model))


COMPONENTS = [figure_component(draw) for draw in FIGURES] + [status_component]


def make_page(
    model_class: type = DashboardModel,
    model_params: dict[str, dict[str, Any]] | None = None,
    components: list[Any] | None = None,
    name: str = TITLE,
) -> Any:
    """A solara page component showing SolaraViz on a model of `model_class`.

    The first model is built with the inputs' default values when the page opens (off the
    page's thread: starting a chain takes seconds), unless a live one is already up, which
    the page then shows; Reset builds the next one from the sidebar's inputs.
    """
    from mesa.visualization import SolaraViz  # after the warnings filter above

    params = MODEL_PARAMS if model_params is None else model_params
    shown = COMPONENTS if components is None else components

    @solara.component
    def Page() -> None:
        solara.Title(name)
        model: Any = solara.use_reactive(None)
        error: Any = solara.use_reactive(None)

        def start() -> None:
            live = current()
            try:
                if isinstance(live, model_class):
                    model.set(live)
                else:
                    model.set(model_class(**{k: v["value"] for k, v in params.items()}))
            except Exception as exc:  # noqa: BLE001 - shown on the page
                error.set(f"{type(exc).__name__}: {exc}")

        solara.use_thread(start, dependencies=[])
        if error.value:
            solara.Error(f"could not start the simulation: {error.value}")
        elif model.value is None:
            with solara.Column(align="center"):
                solara.SpinnerSolara()
                solara.Text("Starting a local chain and deploying the protocol...")
        else:
            inputs = getattr(model.value, "inputs", {})
            user_params = {k: {**v, "value": inputs.get(k, v["value"])} for k, v in params.items()}
            SolaraViz(
                model, components=shown, model_params=user_params, name=name, play_interval=200
            )

    return Page


Page = make_page()


# --- the server ---


def server_command(port: int = 8765, host: str = "127.0.0.1") -> list[str]:
    """`solara run` on this module, in production mode: no reload, no browser opened, no
    look-up of solara's latest version."""
    return [
        sys.executable,
        "-m",
        "solara",
        "run",
        "sims.dashboard.app",
        "--host",
        host,
        "--port",
        str(port),
        "--production",
        "--no-open",
        "--no-check-version",
    ]


def server_env() -> dict[str, str]:
    """The environment the server needs: tools/anvil and the venv's executables first on
    PATH (ape-foundry starts anvil from there), solara's usage telemetry off."""
    return {**os.environ, "PATH": tool_path(), "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False"}


def start_server(port: int = 8765, host: str = "127.0.0.1", **popen: Any) -> subprocess.Popen:
    """The server as a child process in its own process group (see `stop_server`)."""
    return subprocess.Popen(
        server_command(port, host), cwd=ROOT, env=server_env(), start_new_session=True, **popen
    )


def stop_server(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Stop the server and everything it started (anvil): SIGTERM to its process group
    (the server stops the chain on its way out), then SIGKILL to whatever is left, until
    nothing of the group is left or `timeout` has passed once more."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            break
        proc.poll()  # reap the server; init reaps its orphans
        time.sleep(0.1)
    proc.wait(timeout=timeout)


def serve(port: int = 8765, host: str = "127.0.0.1") -> int:
    """Run the dashboard's server until it exits, Ctrl-C or SIGTERM / SIGHUP; the server
    runs in its own process group, which is stopped with it (anvil included)."""

    def _stop(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _stop)
    proc = start_server(port, host)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        return 130
    finally:
        stop_server(proc)
