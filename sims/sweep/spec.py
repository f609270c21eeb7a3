"""The sweep file: what to vary, over which scenarios and seeds, and what to optimise.

Validated as a whole before anything runs; every error names the field. Format::

    name: margin_vs_discount      # default: the file's name
    method: grid                  # grid | random | optuna
    n_trials: 20                  # random and optuna: parameter sets to try
    sampler_seed: 0               # random and optuna: the sampler's seed
    parameters:                   # "group.field" of risk.params, in human units
      margin.spot_shock: [0.15, 0.25]          # a grid of values
      liquidation.start_discount: 0.02         # fixed for every run
      margin.im_factor: {low: 1.1, high: 1.6}  # a range (random, optuna)
      pool.fee_rate: {low: 0.0001, high: 0.003, log: true}
      margin.spot_steps: {low: 2, high: 5, int: true}
    scenarios: [crash]            # named scenarios or YAML files (relative to this file)
    seeds: 3                      # a count (seeds 0..2) or a list [7, 11]
    steps: 24                     # blocks per run (default: config's steps)
    config: {writers: 3, noise_traders: 2, governance: false}   # SimConfig settings
    chain: anvil                  # anvil | embedded
    objective:
      metric: capital_efficiency  # a name in METRICS
      direction: maximize         # maximize | minimize
      constraints: ["bad_debt_probability <= 0.05", "lp_es <= 0.02"]
      pessimistic: false          # true: judge constraints on the interval's far end
      confidence: 0.95            # of the intervals across seeds

Like Mesa's `batch_run`, a parameter given as a list is swept and a scalar is fixed, and
every parameter set runs on every scenario with every seed (`rng=seeds`). Values are
checked against the contracts' hard bounds (risk.params) and, on a grid, every
combination against the groups' cross-field rules over deployments/local.yaml's values.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from onchain.deployment import LOCAL_CONFIG
from risk.params import GROUPS, Field, ParamError

METHODS = ("grid", "random", "optuna")
MAX_RUNS = 100_000

# metrics of a parameter set across its runs (sims.sweep.analysis computes them)
METRICS = {
    "capital_efficiency": "notional per USD of IM on the reference book (higher: more efficient)",
    "im_per_notional": "IM per USD of notional on the reference book",
    "bad_debt_probability": "share of runs with bad debt > 0",
    "bad_debt_usd": "bad debt per run, mean (USD)",
    "lp_es": "LP daily expected shortfall at 99%, mean across runs",
    "lar": "liquidations-at-risk over 24 hours, mean across runs (USD)",
    "lp_return": "LP return over the run, mean",
    "liquidations": "liquidations per run, mean",
    "pool_max_drawdown": "pool NAV's largest drawdown, mean (negative)",
}
_CONSTRAINT = re.compile(r"^\s*([a-z_]+)\s*(<=|>=)\s*([-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?)\s*$")
_TOP_KEYS = {
    "name",
    "method",
    "n_trials",
    "sampler_seed",
    "parameters",
    "scenarios",
    "seeds",
    "steps",
    "config",
    "chain",
    "objective",
    "runner",
}


class SweepSpecError(ValueError):
    """An invalid sweep file; the message names the field."""


@dataclass(frozen=True)
class Range:
    """A continuous or integer range of one parameter (random and optuna methods)."""

    low: float
    high: float
    log: bool = False
    integer: bool = False


@dataclass(frozen=True)
class Constraint:
    metric: str
    op: str  # "<=" or ">="
    bound: float

    def slack(self, value: float) -> float:
        """<= 0 when satisfied (Optuna's convention for constraints)."""
        return value - self.bound if self.op == "<=" else self.bound - value

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.bound:g}"


@dataclass(frozen=True)
class Objective:
    metric: str = "capital_efficiency"
    direction: str = "maximize"
    constraints: tuple[Constraint, ...] = ()
    pessimistic: bool = False
    confidence: float = 0.95


@dataclass(frozen=True)
class SweepSpec:
    name: str
    method: str
    parameters: dict[str, list[Any] | Range]  # "group.field" -> grid values or a range
    scenarios: tuple[str, ...]
    seeds: tuple[int, ...]
    steps: int
    config: dict[str, Any] = field(default_factory=dict)
    objective: Objective = Objective()
    n_trials: int = 0
    sampler_seed: int = 0
    chain: str = "anvil"
    runner: str = "sims.runner:run_simulation"

    @property
    def swept(self) -> list[str]:
        """Parameters that take more than one value."""
        return [k for k, v in self.parameters.items() if isinstance(v, Range) or len(v) > 1]

    def param_sets(self) -> list[dict[str, Any]]:
        """The parameter sets to run: the grid's product, or n_trials seeded random draws
        (optuna asks for its own as it goes: see sims.sweep.optimise)."""
        if self.method == "grid":
            names = list(self.parameters)
            values: list[Any] = [self.parameters[n] for n in names]  # grid: lists
            return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]
        rng = np.random.default_rng(self.sampler_seed)
        sets = []
        for _ in range(self.n_trials):
            sets.append({n: _draw(v, rng) for n, v in self.parameters.items()})
        return sets

    def fingerprint(self) -> dict[str, Any]:
        """What makes a run different besides its parameters, scenario and seed."""
        return {
            "steps": self.steps,
            "config": self.config,
            "chain": self.chain,
            "runner": self.runner,
        }

    def run_id(self, params: dict[str, Any], scenario: str, seed: int) -> str:
        data = {"params": params, "scenario": scenario, "seed": seed, **self.fingerprint()}
        return _digest(data, 16)


def param_key(params: dict[str, Any]) -> str:
    """A short stable id of a parameter set."""
    return _digest(params, 10)


def grouped(params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{"margin.spot_shock": 0.2} -> {"margin": {"spot_shock": 0.2}} (run_simulation's form)."""
    out: dict[str, dict[str, Any]] = {}
    for name, value in params.items():
        group, fname = name.split(".", 1)
        out.setdefault(group, {})[fname] = value
    return out


def base_params() -> dict[str, dict[str, Any]]:
    """The deployed parameters (deployments/local.yaml), which a sweep's values override."""
    data = yaml.safe_load(LOCAL_CONFIG.read_text()) or {}
    return {g: dict(v) for g, v in (data.get("params") or {}).items() if g in GROUPS}


def check_relations(params: dict[str, Any]) -> None:
    """Raise ParamError if a set breaks a group's cross-field rule over the base values."""
    base = base_params()
    for group, fields_ in grouped(params).items():
        GROUPS[group].from_dict({**base.get(group, {}), **fields_})


def load_spec(path: str | Path) -> SweepSpec:
    path = Path(path)
    if not path.is_file():
        raise SweepSpecError(f"sweep file: no such file {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SweepSpecError(f"sweep file: not valid YAML: {exc}") from None
    return spec_from_dict(data, name=path.stem, base_dir=path.parent)


def spec_from_dict(data: Any, name: str = "sweep", base_dir: Path | None = None) -> SweepSpec:
    """Build and validate a SweepSpec (module docstring: the format)."""
    from sims.model import SimConfig, SimConfigError
    from sims.scenarios import load_scenario

    if not isinstance(data, dict):
        raise SweepSpecError("sweep file: expected a mapping of settings")
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise SweepSpecError(f"unknown setting(s) {unknown}; allowed: {sorted(_TOP_KEYS)}")
    method = data.get("method", "grid")
    if method not in METHODS:
        raise SweepSpecError(f"method = {method!r}: expected one of {list(METHODS)}")
    n_trials = data.get("n_trials", 0)
    if method == "grid":
        if "n_trials" in data:
            raise SweepSpecError("n_trials: only for method random or optuna (a grid runs all)")
    elif not _is_int(n_trials) or not 1 <= n_trials <= MAX_RUNS:
        raise SweepSpecError(f"n_trials = {n_trials!r}: expected an integer in [1, {MAX_RUNS}]")
    sampler_seed = data.get("sampler_seed", 0)
    if not _is_int(sampler_seed) or sampler_seed < 0:
        raise SweepSpecError(f"sampler_seed = {sampler_seed!r}: expected an integer >= 0")

    parameters = _parameters(data.get("parameters"), method)
    scenarios = _scenarios(data.get("scenarios", ["crash"]), base_dir, load_scenario)
    seeds = _seeds(data.get("seeds", 1))

    config = data.get("config") or {}
    if not isinstance(config, dict):
        raise SweepSpecError("config: expected a mapping of SimConfig settings")
    for key in ("scenario", "steps"):
        if key in config:
            raise SweepSpecError(f"config.{key}: set it at the top level of the sweep file")
    steps = data.get("steps", SimConfig.steps)
    for sc in scenarios:
        try:
            SimConfig.from_dict({**config, "scenario": sc, "steps": steps})
        except SimConfigError as exc:
            where = "steps" if str(exc).startswith("steps") else "config"
            raise SweepSpecError(f"{where}: {exc}") from None
    chain = data.get("chain", "anvil")
    if chain not in ("anvil", "embedded"):
        raise SweepSpecError(f"chain = {chain!r}: expected anvil or embedded")
    runner = data.get("runner", SweepSpec.runner)
    if not isinstance(runner, str) or not re.fullmatch(r"[\w.]+:\w+", runner):
        raise SweepSpecError(f"runner = {runner!r}: expected 'module:function'")

    spec = SweepSpec(
        name=str(data.get("name", name)),
        method=method,
        parameters=parameters,
        scenarios=tuple(scenarios),
        seeds=tuple(seeds),
        steps=int(steps),
        config=dict(config),
        objective=_objective(data.get("objective")),
        n_trials=int(n_trials),
        sampler_seed=int(sampler_seed),
        chain=chain,
        runner=runner,
    )
    if method != "optuna":
        sets = spec.param_sets()
        n_runs = len(sets) * len(scenarios) * len(seeds)
        if n_runs > MAX_RUNS:
            raise SweepSpecError(f"parameters: {n_runs} runs, more than {MAX_RUNS}")
        for pset in sets:
            try:
                check_relations(pset)
            except ParamError as exc:
                raise SweepSpecError(f"parameters: the set {pset} breaks a rule: {exc}") from None
    return spec


# --- parts ---


def _parameters(raw: Any, method: str) -> dict[str, list[Any] | Range]:
    if not isinstance(raw, dict) or not raw:
        raise SweepSpecError("parameters: empty; give at least one 'group.field'")
    out: dict[str, list[Any] | Range] = {}
    for name, value in raw.items():
        where = f"parameters.{name}"
        f = _field(name)
        if isinstance(value, dict):
            if method == "grid":
                raise SweepSpecError(f"{where}: a range needs method random or optuna")
            out[name] = _range(where, value, f)
        else:
            values = value if isinstance(value, list) else [value]
            if not values:
                raise SweepSpecError(f"{where}: empty grid")
            if len(set(map(repr, values))) != len(values):
                raise SweepSpecError(f"{where}: repeated values {values}")
            out[name] = [_value(where, v, f) for v in values]
    return out


def _field(name: str) -> Field:
    group, _, fname = str(name).partition(".")
    if group not in GROUPS or not fname:
        raise SweepSpecError(
            f"parameters.{name}: unknown parameter; expected 'group.field' with group in "
            f"{sorted(GROUPS)}"
        )
    by_name = {f.name: f for f in GROUPS[group].FIELDS}
    if fname not in by_name:
        raise SweepSpecError(f"parameters.{name}: unknown parameter; {group} has {sorted(by_name)}")
    return by_name[fname]


def _value(where: str, v: Any, f: Field) -> float | int:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise SweepSpecError(f"{where}: {v!r} is not a number")
    if f.scale == 1:
        if not float(v).is_integer():
            raise SweepSpecError(f"{where}: {v!r}: expected an integer")
        v = int(v)
    if not f.lo <= f.to_chain(v) <= f.hi:
        raise SweepSpecError(f"{where} = {v} outside the contract's bounds {f.describe_range()}")
    return v if f.scale == 1 else float(v)


def _range(where: str, d: dict[str, Any], f: Field) -> Range:
    extra = sorted(set(d) - {"low", "high", "log", "int"})
    if extra or "low" not in d or "high" not in d:
        raise SweepSpecError(f"{where}: a range is {{low, high[, log][, int]}}, got {d}")
    low, high = _value(f"{where}.low", d["low"], f), _value(f"{where}.high", d["high"], f)
    if not low < high:
        raise SweepSpecError(f"{where}: low = {low} must be below high = {high}")
    log, integer = d.get("log", False), d.get("int", f.scale == 1)
    if not isinstance(log, bool) or not isinstance(integer, bool):
        raise SweepSpecError(f"{where}: log and int are true or false")
    if f.scale == 1 and not integer:
        raise SweepSpecError(f"{where}: an integer parameter needs an integer range")
    if log and low <= 0:
        raise SweepSpecError(f"{where}: a log range needs low > 0")
    if integer and not (float(low).is_integer() and float(high).is_integer()):
        raise SweepSpecError(f"{where}: an integer range needs integer ends")
    return Range(low, high, log, integer)


def _scenarios(raw: Any, base_dir: Path | None, load: Any) -> list[str]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise SweepSpecError("scenarios: expected a non-empty list of names or YAML files")
    out = []
    for i, sc in enumerate(raw):
        name = str(sc)
        if name.endswith((".yaml", ".yml")) and base_dir is not None:
            p = Path(name)
            name = str(p if p.is_absolute() else (base_dir / p).resolve())
        try:
            load(name)
        except (ValueError, OSError) as exc:
            raise SweepSpecError(f"scenarios[{i}]: {exc}") from None
        out.append(name)
    if len(set(out)) != len(out):
        raise SweepSpecError(f"scenarios: repeated entries {raw}")
    return out


def _seeds(raw: Any) -> list[int]:
    if _is_int(raw):
        if not 1 <= raw <= MAX_RUNS:
            raise SweepSpecError(f"seeds = {raw}: a count in [1, {MAX_RUNS}] or a list")
        return list(range(raw))
    if not isinstance(raw, list) or not raw:
        raise SweepSpecError("seeds: a count or a non-empty list of integers")
    for s in raw:
        if not _is_int(s) or not 0 <= s <= 2**32 - 1:
            raise SweepSpecError(f"seeds: {s!r} is not an integer in [0, 2**32 - 1]")
    if len(set(raw)) != len(raw):
        raise SweepSpecError(f"seeds: repeated seeds {raw}")
    return list(raw)


def _objective(raw: Any) -> Objective:
    if raw is None:
        return Objective()
    if not isinstance(raw, dict):
        raise SweepSpecError("objective: expected {metric, direction, constraints}")
    allowed = {"metric", "direction", "constraints", "pessimistic", "confidence"}
    extra = sorted(set(raw) - allowed)
    if extra:
        raise SweepSpecError(f"objective: unknown setting(s) {extra}; allowed: {sorted(allowed)}")
    metric = raw.get("metric", "capital_efficiency")
    if metric not in METRICS:
        raise SweepSpecError(f"objective.metric = {metric!r}: expected one of {sorted(METRICS)}")
    direction = raw.get("direction", "maximize")
    if direction not in ("maximize", "minimize"):
        raise SweepSpecError(f"objective.direction = {direction!r}: maximize or minimize")
    constraints = []
    items = raw.get("constraints") or []
    if not isinstance(items, list):
        raise SweepSpecError("objective.constraints: a list like ['bad_debt_probability <= 0.05']")
    for i, text in enumerate(items):
        m = _CONSTRAINT.match(str(text))
        if not m:
            raise SweepSpecError(
                f"objective.constraints[{i}] = {text!r}: expected 'metric <= number' or '>='"
            )
        if m.group(1) not in METRICS:
            raise SweepSpecError(
                f"objective.constraints[{i}]: unknown metric {m.group(1)!r}; "
                f"expected one of {sorted(METRICS)}"
            )
        constraints.append(Constraint(m.group(1), m.group(2), float(m.group(3))))
    pessimistic = raw.get("pessimistic", False)
    if not isinstance(pessimistic, bool):
        raise SweepSpecError("objective.pessimistic: true or false")
    confidence = raw.get("confidence", 0.95)
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, float)
        or not 0.5 <= confidence < 1
    ):
        raise SweepSpecError(f"objective.confidence = {confidence!r}: a number in [0.5, 1)")
    return Objective(metric, direction, tuple(constraints), pessimistic, confidence)


def _draw(v: list[Any] | Range, rng: np.random.Generator) -> Any:
    if not isinstance(v, Range):
        return v[int(rng.integers(len(v)))]
    if v.integer:
        if v.log:
            x = math.exp(rng.uniform(math.log(v.low), math.log(v.high + 1)))
            return int(min(v.high, math.floor(x)))
        return int(rng.integers(int(v.low), int(v.high) + 1))
    if v.log:
        x = math.exp(rng.uniform(math.log(v.low), math.log(v.high)))
    else:
        x = rng.uniform(v.low, v.high)
    return float(min(v.high, max(v.low, float(f"{x:.4g}"))))  # values governance can read


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _digest(data: Any, n: int) -> str:
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:n]
