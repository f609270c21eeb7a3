"""Market scenarios: a base price model plus stress events, built into a `MarketPath`.

A `Scenario` names a base model -- one of the risk engine's tail models (risk.tail_models:
``gbm``, ``merton``, ``garch``, ``bates``) or ``replay`` of a CSV of prices -- and a list of
stress `Event`s laid over it. ``Scenario.build(steps, step_seconds, seed, ...)`` gives the
path the simulation runs on; the same seed always gives the same path (every draw comes from
``np.random.SeedSequence(seed)``). `SCENARIOS` is the named library, `load_scenario` takes a
name or a YAML file, `replay_path` replays a CSV (format in sims.market_path.read_replay_csv).

How events act (each event has a window of `duration` steps from `start`, and after it an
after-effect fading with half-life `fade`, by default a multiple of the duration per kind):

    crash           spot falls `size` (0.4 = -40%) over the window; vol x `vol` (default
                    1 + 4 size), fading slowly after
    flash_crash     spot falls `size` over the window, then climbs back to where it started
                    over `recovery` steps; vol x `vol` (default 1 + 4 size)
    slow_bleed      spot falls `size` over a long window at vol x `vol` (default 0.5)
    vol_spike       vol x `size` over the window, spot has no drift
    oracle_outage   oracle_live is False over the window (no size)
    gas_spike       gas price x `size`
    lp_run          lp_stress rises to `size` (0..1)
    liquidity_drain the hedging venue's depth falls by `size` (0.8 = 80% of it gone)

The spot moves are exact: the noise within a falling or recovering window is pinned to sum
to zero (a Brownian bridge), so spot at the window's end is exactly (1 - size) times spot at
its start while it still wiggles in between, at the raised vol. Spot-moving events must not
overlap. Vol multipliers multiply the base model's noise (so realised vol and the path
agree) and multiply each other; gas multipliers and liquidity drains multiply; lp_stress
takes the largest. The external market's implied vol follows realised vol (sims.market_path
IVParams) and jumps up at once during crashes, flash crashes and vol spikes. Liquidity also
thins as vol rises: depth = sqrt(long-run vol / realised vol), capped at 1, times the drains.

Timing. `start` is a step (int), a fraction of the run (float in [0, 1): 0.5 = halfway) or
a time from the start ("36h"); `duration`, `recovery` and `fade` are steps (int) or times
("90m", "24h", "14d", "2w"), rounded up to whole steps. Named scenarios use fractions and
times, so they build for any run length and step: when the run is too short, an event that
starts at a fraction is shortened to fit. An event placed by step or time that does not fit
raises ValueError.

YAML format of a custom scenario (every key optional; errors name the field)::

    name: my_crash              # default: the file's name
    description: a 50% crash with the oracle out for its first 6 hours
    model:                      # default: kind gbm with its DEFAULT_PARAMS
      kind: merton              # gbm | merton | garch | bates | replay
      lam: 20                   # any of DEFAULT_PARAMS[kind]; the others keep their defaults
    events:
      - {kind: crash, start: 0.5, duration: 24h, size: 0.5}
      - {kind: oracle_outage, start: 0.5, duration: 6h}
      - {kind: gas_spike, start: 0.5, duration: 12h, size: 50, fade: 2h}
    iv: {premium: 0.1, skew: -0.2}   # any field of sims.market_path.IVParams
    gas_gwei: 0.1               # the base gas price (gwei; an L2)

For ``kind: replay`` give ``csv: path/to/prices.csv`` (relative to the YAML file).

Base models and their parameters: sims.market_path.ModelSpec.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import yaml

from risk.units import DAY, HOUR, YEAR_SEC
from sims.market_path import (
    REPLAY_EXAMPLE,
    IVParams,
    MarketPath,
    ModelSpec,
    ReferenceSurface,
    log_ou,
    read_replay_csv,
    reference_iv_path,
    replay_base,
    rolling_vol,
)

__all__ = [
    "KINDS",
    "REPLAY_EXAMPLE",
    "SCENARIOS",
    "Event",
    "ModelSpec",
    "Scenario",
    "list_scenarios",
    "load_scenario",
    "replay_path",
]

# --- events ---


class _Kind(NamedTuple):
    size: tuple[float, float, str] | None  # allowed range of size (lo, hi, ends), None: no size
    fade: float  # default half-life of the after-effect, in durations
    moves_spot: bool
    stress: bool  # implied vol jumps to its target during the window


KINDS = {
    "crash": _Kind((0.0, 0.95, "()"), 2.0, True, True),
    "flash_crash": _Kind((0.0, 0.95, "()"), 1.0, True, True),
    "slow_bleed": _Kind((0.0, 0.95, "()"), 0.5, True, False),
    "vol_spike": _Kind((1.0, 10.0, "(]"), 0.5, False, True),
    "oracle_outage": _Kind(None, 0.0, False, False),
    "gas_spike": _Kind((1.0, 10_000.0, "(]"), 0.25, False, False),
    "lp_run": _Kind((0.0, 1.0, "(]"), 0.5, False, False),
    "liquidity_drain": _Kind((0.0, 1.0, "()"), 1.0, False, False),
}
DEFAULT_VOL = {"crash": "1 + 4 size", "flash_crash": "1 + 4 size", "slow_bleed": "0.5"}
_TIME = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|h|d|w)\s*$")
_UNIT = {"m": 60, "h": HOUR, "d": DAY, "w": 7 * DAY}
_TIME_HELP = "an integer number of steps or a time like '90m', '24h', '14d', '2w'"


def _is_int(v: Any) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def _check_span(where: str, value: Any, minimum: int) -> None:
    """A duration: steps (int >= minimum) or a positive time string."""
    if _is_int(value) and value >= minimum:
        return
    m = _TIME.match(value) if isinstance(value, str) else None
    if m and (float(m.group(1)) > 0 or minimum == 0):
        return
    raise ValueError(f"{where} = {value!r} outside allowed range: {_TIME_HELP}, >= {minimum}")


def _span_steps(value: Any, step_seconds: int) -> int:
    """Steps of a checked duration: a time string rounds up to whole steps."""
    if _is_int(value):
        return int(value)
    m = _TIME.match(value)
    assert m is not None
    return math.ceil(float(m.group(1)) * _UNIT[m.group(2)] / step_seconds - 1e-9)


@dataclass(frozen=True)
class Event:
    """A stress overlay (module docstring: what each kind does, and the timing rules)."""

    kind: str
    start: int | float | str  # step, fraction of the run in [0, 1), or time "36h"
    duration: int | str  # steps or time, >= 1 step
    size: float | None = None  # meaning and range per kind (KINDS); none for oracle_outage
    recovery: int | str = 0  # flash_crash: steps or time to climb back
    vol: float | None = None  # crash, flash_crash, slow_bleed: vol multiplier in the window
    fade: int | str | None = None  # half-life of the after-effect (default: KINDS[kind].fade)

    def check(self, where: str) -> None:
        """Raise ValueError naming the field (``where`` is e.g. "events[2]")."""
        if self.kind not in KINDS:
            raise ValueError(f"{where}.kind = {self.kind!r} unknown; allowed: {', '.join(KINDS)}")
        kind = KINDS[self.kind]
        s = self.start
        if not (
            (_is_int(s) and int(s) >= 0)
            or (isinstance(s, float) and 0.0 <= s < 1.0)
            or (isinstance(s, str) and _TIME.match(s))
        ):
            raise ValueError(
                f"{where}.start = {s!r} outside allowed range: a step >= 0, a fraction of the "
                f"run in [0, 1), or a time like '36h'"
            )
        _check_span(f"{where}.duration", self.duration, 1)
        _check_span(f"{where}.recovery", self.recovery, 0)
        if _span_steps(self.recovery, 1) and self.kind != "flash_crash":
            raise ValueError(f"{where}.recovery: only flash_crash recovers, not {self.kind}")
        if self.fade is not None:
            _check_span(f"{where}.fade", self.fade, 0)
        if kind.size is None:
            if self.size is not None:
                raise ValueError(f"{where}.size: {self.kind} takes no size")
        else:
            lo, hi, ends = kind.size
            v = self.size
            ok = False
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
                ok = (v > lo if ends[0] == "(" else v >= lo) and (
                    v < hi if ends[1] == ")" else v <= hi
                )
            if not ok:
                raise ValueError(
                    f"{where}.size = {v!r} outside allowed range {ends[0]}{lo:g}, {hi:g}{ends[1]}"
                    f" for {self.kind}"
                )
        if self.vol is not None:
            if self.kind not in DEFAULT_VOL:
                raise ValueError(f"{where}.vol: only {', '.join(DEFAULT_VOL)} take a vol")
            if not (isinstance(self.vol, int | float) and 0.0 < self.vol <= 10.0):
                raise ValueError(f"{where}.vol = {self.vol!r} outside allowed range (0, 10]")

    def vol_multiplier(self) -> float:
        """The vol multiplier within the window (1: none)."""
        if self.kind == "vol_spike":
            return float(self.size)  # type: ignore[arg-type]
        if self.vol is not None:
            return float(self.vol)
        if self.kind in ("crash", "flash_crash"):
            return 1.0 + 4.0 * float(self.size)  # type: ignore[arg-type]
        return 0.5 if self.kind == "slow_bleed" else 1.0


class _Window(NamedTuple):
    """An event placed on a run: steps [a, b) fall (or act), [b, c) recover, then fade."""

    event: Event
    a: int
    b: int
    c: int
    fade: float

    def profile(self, n: int) -> np.ndarray:
        """1 on [a, c), then 0.5 ** (steps after c / fade); n entries."""
        p = np.zeros(n)
        p[self.a : self.c] = 1.0
        if self.fade > 0:
            p[self.c :] = 0.5 ** (np.arange(1, n - self.c + 1) / self.fade)
        return p


def _place(ev: Event, where: str, steps: int, step_seconds: int) -> _Window:
    """Steps of an event on a run of `steps` steps (fractional starts shrink to fit)."""
    fractional = isinstance(ev.start, float)
    if fractional:
        a = int(ev.start * steps)  # type: ignore[operator]
    elif _is_int(ev.start):
        a = int(ev.start)
    else:
        a = round(_span_steps(ev.start, 1) / step_seconds)
    if a >= steps:
        raise ValueError(
            f"{where}.start = {ev.start!r} is step {a}, outside allowed range "
            f"[0, {steps - 1}] for a run of {steps} steps"
        )
    d = max(1, _span_steps(ev.duration, step_seconds))
    r = _span_steps(ev.recovery, step_seconds)
    room = steps - a
    if d + r > room:
        if not fractional:
            what = "duration + recovery" if r else "duration"
            raise ValueError(
                f"{where}.duration = {ev.duration!r} ends at step {a + d + r}, past the end of "
                f"the run: allowed {what} in [1, {room}] steps from step {a}"
            )
        d = max(1, int(d * room / (d + r)))
        r = room - d if r else 0
    fade = (
        KINDS[ev.kind].fade * (d + r)
        if ev.fade is None
        else float(_span_steps(ev.fade, step_seconds))
    )
    return _Window(ev, a, a + d, a + d + r, fade)


# --- scenarios ---


@dataclass(frozen=True)
class Scenario:
    """A named base model plus stress events; `build` turns it into a MarketPath."""

    name: str
    description: str
    model: ModelSpec = field(default_factory=ModelSpec)
    events: tuple[Event, ...] = ()
    iv: IVParams = field(default_factory=IVParams)
    gas_gwei: float = 0.1  # base gas price (an L2), reverting to it with a 6-hour half-life

    def __post_init__(self) -> None:
        object.__setattr__(self, "events", tuple(self.events))
        if not (isinstance(self.name, str) and self.name):
            raise ValueError(f"name = {self.name!r}: expected a non-empty string")
        for i, ev in enumerate(self.events):
            if not isinstance(ev, Event):
                raise ValueError(f"events[{i}] = {ev!r}: expected an Event")
            ev.check(f"events[{i}]")
        if not (isinstance(self.gas_gwei, int | float) and 0.0 < self.gas_gwei <= 10_000):
            raise ValueError(f"gas_gwei = {self.gas_gwei!r} outside allowed range (0, 10000]")

    def build(
        self,
        steps: int,
        step_seconds: int = HOUR,
        seed: int = 0,
        start_ts: int | None = None,
        spot0: float | None = None,
        vol0: float | None = None,
    ) -> MarketPath:
        """The market over `steps` steps of `step_seconds`, from the seed alone.

        Args:
            start_ts: unix time of step 0 (default 0; a replay: its first timestamp).
            spot0: spot at step 0 (default 2,000; a replay: its first price, else the replay
                is scaled to start at spot0).
            vol0: the base model's long-run vol is rescaled to vol0 (its noise scaled, shape
                kept); None keeps the model's own. A replay: the initial rolling estimate.
        """
        _check_int("steps", steps, 1, 1_000_000)
        _check_int("step_seconds", step_seconds, 1, 30 * DAY)
        for name, v, hi in (("spot0", spot0, 1e12), ("vol0", vol0, 5.0)):
            if v is not None and not (isinstance(v, int | float) and 0.0 < v <= hi):
                raise ValueError(f"{name} = {v!r} outside allowed range (0, {hi:g}]")
        n = steps + 1
        dt = step_seconds / YEAR_SEC
        model_rng, gas_rng, iv_rng = (
            np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)
        )
        windows = [
            _place(ev, f"events[{i}]", steps, step_seconds) for i, ev in enumerate(self.events)
        ]
        _check_overlaps(windows, self.events)

        if self.model.kind == "replay":
            base = replay_base(self.model.settings["csv"], steps, step_seconds)
            scale = 1.0
        else:
            base = self.model.simulate(steps, dt, model_rng)
            scale = 1.0 if vol0 is None else vol0 / base.long_run_vol  # type: ignore[operator]

        # spot: the base noise at the events' vol, with the spot events' moves pinned
        vol_mult = np.ones(n)
        for w in windows:
            vol_mult *= 1.0 + (w.event.vol_multiplier() - 1.0) * w.profile(n)
        noise = scale * vol_mult[:-1] * base.noise
        log_ret = base.drift + noise
        for w in windows:
            if KINDS[w.event.kind].moves_spot:
                fall = math.log(1.0 - w.event.size)  # type: ignore[operator]
                for lo, hi, move in ((w.a, w.b, fall), (w.b, w.c, -fall)):
                    if hi > lo:
                        log_ret[lo:hi] = move / (hi - lo) + noise[lo:hi] - noise[lo:hi].mean()
        if base.prices is None:
            first = 2_000.0 if spot0 is None else spot0
            spot = first * np.exp(np.concatenate([[0.0], np.cumsum(log_ret)]))
        else:  # the file's prices times the events' changes (exactly the file's if none)
            first = base.prices[0] if spot0 is None else spot0
            change = np.cumsum(log_ret - (base.drift + base.noise))
            spot = base.prices * (first / base.prices[0]) * np.exp(np.concatenate([[0.0], change]))

        # vols: the model's, or a rolling estimate; implied vol from them (or the replay's)
        if base.vol is not None:
            realised = scale * vol_mult * base.vol
            long_run = scale * base.long_run_vol  # type: ignore[operator]
        else:
            start_vol = vol0 or max(float(np.std(log_ret[: max(2, DAY // step_seconds)])), 1e-4)
            if vol0 is None:
                start_vol /= math.sqrt(dt)
            half_life = max(1.0, DAY / step_seconds)
            realised = np.maximum(rolling_vol(log_ret, dt, half_life, start_vol), 0.01)
            long_run = float(np.median(realised))
        stress = np.zeros(n, dtype=bool)
        for w in windows:
            if KINDS[w.event.kind].stress:
                stress[w.a : w.c] = True
        if base.iv is not None:
            reference_iv = base.iv * vol_mult
        else:
            reference_iv = reference_iv_path(realised, stress, dt, self.iv, iv_rng)

        # the rest of the market
        keep = 0.5 ** (step_seconds / (6 * HOUR))
        gas = log_ou(n, float(self.gas_gwei), 0.35, keep, gas_rng)
        liquidity = np.minimum(1.0, np.sqrt(long_run / realised))
        lp_stress = np.zeros(n)
        oracle_live = np.ones(n, dtype=bool)
        labels: list[list[str]] = [[] for _ in range(n)]
        for w in windows:
            ev, p = w.event, w.profile(n)
            size = 0.0 if ev.size is None else float(ev.size)  # validated: kinds with a size
            if ev.kind == "gas_spike":
                gas *= 1.0 + (size - 1.0) * p
            elif ev.kind == "liquidity_drain":
                liquidity = liquidity * (1.0 - size * p)
            elif ev.kind == "lp_run":
                lp_stress = np.maximum(lp_stress, size * p)
            elif ev.kind == "oracle_outage":
                oracle_live[w.a : w.b] = False
            for k in range(w.a, w.c):
                labels[k].append(ev.kind if k < w.b else "flash_recovery")
        surface = ReferenceSurface(
            self.iv.skew, self.iv.curvature, self.iv.term_days, long_run * (1 + self.iv.premium)
        )
        t0 = start_ts if start_ts is not None else (base.start_ts or 0)
        return MarketPath(
            timestamp=t0 + step_seconds * np.arange(n, dtype=np.int64),
            spot=spot,
            realised_vol=realised,
            reference_iv=reference_iv,
            oracle_live=oracle_live,
            gas_gwei=gas,
            lp_stress=np.clip(lp_stress, 0.0, 1.0),
            liquidity=np.clip(liquidity, 0.0, 1.0),
            regime=np.array(["+".join(x) or "normal" for x in labels]),
            step_seconds=step_seconds,
            surface=surface,
            name=self.name,
        )

    @classmethod
    def from_dict(cls, d: Any, default_name: str = "", base_dir: Path | None = None) -> Scenario:
        """A scenario from the YAML format of the module docstring."""
        if not isinstance(d, dict):
            raise ValueError(f"scenario: expected a mapping of keys, got {type(d).__name__}")
        allowed = ("name", "description", "model", "events", "iv", "gas_gwei")
        _check_keys("scenario", d, allowed)
        if not isinstance(d.get("model") or {}, dict):
            raise ValueError("model: expected a mapping with kind and parameters")
        model = dict(d.get("model") or {})
        kind = model.pop("kind", "gbm")
        if kind == "replay" and "csv" in model and base_dir is not None:
            model["csv"] = str((base_dir / str(model["csv"])).resolve())
        events = d.get("events") or []
        if not isinstance(events, list):
            raise ValueError("events: expected a list of events")
        evs = []
        for i, e in enumerate(events):
            if not isinstance(e, dict):
                raise ValueError(f"events[{i}]: expected a mapping, got {e!r}")
            _check_keys(f"events[{i}]", e, [f.name for f in fields(Event)])
            for key in ("kind", "start", "duration"):
                if key not in e:
                    raise ValueError(f"events[{i}].{key}: missing")
            evs.append(Event(**e))
        iv = d.get("iv") or {}
        if not isinstance(iv, dict):
            raise ValueError("iv: expected a mapping of IVParams fields")
        _check_keys("iv", iv, [f.name for f in fields(IVParams)])
        return cls(
            name=str(d.get("name") or default_name),
            description=str(d.get("description", "")),
            model=ModelSpec(kind, model),
            events=tuple(evs),
            iv=IVParams(**iv),
            gas_gwei=d.get("gas_gwei", 0.1),
        )


def _check_int(name: str, v: Any, lo: int, hi: int) -> None:
    if not (_is_int(v) and lo <= v <= hi):
        raise ValueError(f"{name} = {v!r} outside allowed range: integers in [{lo}, {hi}]")


def _check_keys(where: str, d: dict[str, Any], allowed: Any) -> None:
    for key in d:
        if key not in allowed:
            raise ValueError(f"{where}.{key}: unknown key; allowed: {', '.join(allowed)}")


def _check_overlaps(windows: list[_Window], events: tuple[Event, ...]) -> None:
    moving = [(w, i) for i, w in enumerate(windows) if KINDS[w.event.kind].moves_spot]
    for j, (w, i) in enumerate(moving):
        for v, k in moving[j + 1 :]:
            if w.a < v.c and v.a < w.c:
                raise ValueError(
                    f"events[{k}].start: the {v.event.kind} (steps {v.a}..{v.c}) overlaps the "
                    f"{w.event.kind} of events[{i}] (steps {w.a}..{w.c}); spot-moving events "
                    f"must not overlap"
                )


# --- the library ---


def _stress(name: str, description: str, sigma: float, *events: Event) -> Scenario:
    return Scenario(name, description, ModelSpec("gbm", {"sigma": sigma}), events)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        _stress("calm", "GBM at 50% vol, no events", 0.50),
        _stress(
            "crash",
            "March 2020: -40% in a day mid-run, vol x2.6, venue depth -80%, gas x20",
            0.75,
            Event("crash", 0.5, "24h", 0.40),
            Event("liquidity_drain", 0.5, "24h", 0.80),
            Event("gas_spike", 0.5, "24h", 20.0),
        ),
        _stress(
            "flash_crash",
            "-25% in an hour mid-run, back over the next 6 hours; depth -60% meanwhile",
            0.75,
            Event("flash_crash", 0.5, "1h", 0.25, recovery="6h"),
            Event("liquidity_drain", 0.5, "2h", 0.60),
        ),
        _stress(
            "vol_spike",
            "vol doubles for 2 days from 40% of the run (implied vol follows), no drift",
            0.60,
            Event("vol_spike", 0.4, "48h", 2.0),
        ),
        _stress(
            "slow_bleed",
            "-30% over two weeks from 5% of the run at half the base vol",
            0.70,
            Event("slow_bleed", 0.05, "14d", 0.30),
        ),
        _stress(
            "oracle_outage",
            "-15% over 12 hours mid-run; the oracle is dark for its first 6 hours",
            0.75,
            Event("crash", 0.5, "12h", 0.15),
            Event("oracle_outage", 0.5, "6h"),
        ),
        _stress(
            "gas_spike",
            "-20% over a day mid-run with gas x100 for its first 12 hours",
            0.75,
            Event("crash", 0.5, "24h", 0.20),
            Event("gas_spike", 0.5, "12h", 100.0),
        ),
        _stress(
            "lp_bank_run",
            "-15% over a day mid-run while LPs panic (lp_stress 1) for that day",
            0.75,
            Event("crash", 0.5, "24h", 0.15),
            Event("lp_run", 0.5, "24h", 1.0),
        ),
        Scenario("gbm", "GBM, ETH-like: 75% vol, no drift", ModelSpec("gbm")),
        Scenario(
            "jump",
            "Merton jump diffusion: 60% diffusive vol, 12 jumps a year of -3% +- 8%",
            ModelSpec("merton"),
        ),
        Scenario(
            "garch",
            "GARCH(1,1)-t: 75% long-run vol, hourly alpha 0.06, 24 h half-life, t(5) shocks",
            ModelSpec("garch"),
        ),
        Scenario(
            "bates",
            "Bates: Heston variance (67% long-run vol, kappa 4, xi 1.2, rho -0.2) and 6 jumps "
            "a year of -4% +- 7%",
            ModelSpec("bates"),
        ),
    )
}


def list_scenarios() -> list[tuple[str, str]]:
    """(name, one-line description) of every named scenario."""
    return [(name, s.description) for name, s in SCENARIOS.items()]


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A named scenario, or a custom one from a YAML file (module docstring: the format).

    Raises:
        ValueError: unknown name, missing file, or a bad field (the message names it).
    """
    if isinstance(name_or_path, str) and name_or_path in SCENARIOS:
        return SCENARIOS[name_or_path]
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        raise ValueError(
            f"scenario = {str(name_or_path)!r}: not a named scenario ({', '.join(SCENARIOS)}) "
            f"nor a .yaml file"
        )
    if not path.is_file():
        raise ValueError(f"scenario = {str(name_or_path)!r}: no such file")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ValueError(f"{path.name}: not valid YAML ({e})") from None
    try:
        return Scenario.from_dict(data, default_name=path.stem, base_dir=path.parent)
    except TypeError as e:  # a field of the wrong shape reaching a constructor
        raise ValueError(f"{path.name}: {e}") from None


def replay_path(
    csv_path: str | Path,
    steps: int | None = None,
    step_seconds: int = HOUR,
    seed: int = 0,
    start_ts: int | None = None,
    spot0: float | None = None,
    vol0: float | None = None,
    events: tuple[Event, ...] = (),
) -> MarketPath:
    """Replay a CSV of prices (format: sims.market_path.read_replay_csv) on the step grid.

    Spot at step k is the last price at or before the file's first timestamp + k
    step_seconds (previous tick); steps defaults to all the file covers. The path's
    timestamps start at start_ts (default: the file's first). Without an ``iv`` column the
    reference IV is modelled from a 24-hour EWMA of the returns. Events may be laid over it.
    """
    csv_path = Path(csv_path)
    spec = ModelSpec("replay", {"csv": str(csv_path)})
    if steps is None:
        ts, _, _ = read_replay_csv(csv_path)
        steps = int((ts[-1] - ts[0]) // step_seconds)
    scenario = Scenario(csv_path.stem, f"replay of {csv_path.name}", spec, events)
    return scenario.build(steps, step_seconds, seed, start_ts, spot0, vol0)
