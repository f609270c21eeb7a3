"""The `optsim` command.

    optsim run [--scenario NAME|FILE.yaml] [--seed N] [--steps N] [--no-governance]
               [--no-compare] [--chain anvil|embedded] [--config FILE.yaml] [--out DIR]
    optsim run --list-scenarios
    optsim margin | calibrate | design ...   (the risk engine: see risk/cli.py)
    optsim sweep SWEEP.yaml [--workers N] [--address RAY] [--no-ray] [--out DIR]
    optsim dashboard [--port 8765] [--host 127.0.0.1]   (a live run in the browser)

`run` starts a local chain (anvil from node_modules through ape-foundry, or ape's
embedded chain), deploys the protocol from deployments/local.yaml, runs the market
model step by step and writes a results folder with its report; the chain is stopped
at the end, also on errors and Ctrl-C. By default the same seed runs twice, with and
without the risk committee's parameter feedback, side by side in the report.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from risk import cli as risk_cli
from sims.dashboard import cli as dashboard_cli
from sims.project import RESULTS, use_project_env
from sims.sweep import cli as sweep_cli


def _positive_int(name: str, lo: int, hi: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name}: {text!r} is not an integer") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{name}: {value} outside allowed range [{lo}, {hi}]")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="optsim", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a simulation on a local chain and write its report")
    run.add_argument(
        "--scenario", default=None, help="a named scenario or a YAML file (default crash)"
    )
    run.add_argument("--seed", type=_positive_int("--seed", 0, 2**32 - 1), default=7)
    run.add_argument(
        "--steps",
        type=_positive_int("--steps", 1, 100_000),
        default=None,
        help="blocks of step_seconds (default 168 = one week of hours)",
    )
    run.add_argument("--chain", choices=("anvil", "embedded"), default="anvil")
    run.add_argument("--config", type=Path, default=None, help="YAML of SimConfig settings")
    run.add_argument("--no-governance", action="store_true", help="no risk committee")
    run.add_argument("--no-compare", action="store_true", help="skip the run without governance")
    run.add_argument("--out", type=Path, default=None, help="results folder (must not exist)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--list-scenarios", action="store_true", help="list the named scenarios")
    risk_cli.add_commands(sub)
    sweep_cli.add_command(sub)
    dashboard_cli.add_command(sub)
    return parser


def _ticks(bar: Any) -> Callable[[int], Any]:
    """run_simulation's progress callback: one tick of the bar per block."""
    return lambda _step: bar.update(1)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from sims.config import SimConfig, SimConfigError
    from sims.report import summarise, write_results

    if args.list_scenarios:
        from sims.scenarios import list_scenarios

        for name, text in list_scenarios():
            print(f"{name:14s} {text}")
        return 0
    try:
        overrides = {"scenario": args.scenario, "steps": args.steps}
        if args.config is not None:
            cfg = SimConfig.load(args.config, **overrides)
        else:
            cfg = SimConfig.from_dict({k: v for k, v in overrides.items() if v is not None})
        if args.no_governance:
            cfg = replace(cfg, governance=False)
        from sims.scenarios import load_scenario

        load_scenario(cfg.scenario)
    except (SimConfigError, ValueError) as exc:
        print(f"optsim run: {exc}", file=sys.stderr)
        return 2
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    name = Path(cfg.scenario).stem
    out = args.out or RESULTS / f"{name}-seed{args.seed}-{stamp}"
    if Path(out).exists():
        print(f"optsim run: --out {out} already exists", file=sys.stderr)
        return 2

    use_project_env()
    from sims.runner import run_simulation

    variants = {"governance" if cfg.governance else "no_governance": cfg}
    if cfg.governance and not args.no_compare:
        variants["no_governance"] = replace(cfg, governance=False)
    runs: dict[str, Any] = {}
    summaries: dict[str, dict[str, Any]] = {}
    log: list[dict[str, Any]] = []
    for label, variant in variants.items():
        bar = tqdm(
            total=variant.steps,
            desc=f"optsim {name} seed {args.seed} ({label})",
            unit="block",
            disable=args.quiet,
        )
        try:
            result = run_simulation(variant, args.seed, args.chain, progress=_ticks(bar))
        except SimConfigError as exc:
            print(f"optsim run: {exc}", file=sys.stderr)
            return 2
        finally:
            bar.close()
        runs[label] = result.steps
        summaries[label] = summarise(result.steps, result.meta)
        log = log or result.governance_log
    summary = {"scenario": cfg.scenario, "seed": args.seed, "runs": summaries}
    report = write_results(runs, summary, Path(out), log)
    for label, s in summaries.items():
        print(
            f"{label}: LP return {s['lp_return']:+.2%}, liquidations {s['liquidations']}, "
            f"bad debt {s['bad_debt_usd']:,.0f} USD, {s['parameter_changes']} parameter changes, "
            f"{s['transactions']} txs in {s['run_seconds']:.0f} s"
        )
    print(f"report: {report}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "run":
        try:
            return run(args)
        except KeyboardInterrupt:
            print("optsim run: interrupted; no results written", file=sys.stderr)
            return 130
        except SystemExit as exc:
            # once a chain is up, ape's own SIGINT/SIGTERM handler stops its node and exits
            if exc.code in (130, 143):
                print("optsim run: interrupted; no results written", file=sys.stderr)
            raise
    if args.command in risk_cli.COMMANDS:
        return risk_cli.main(args)
    if args.command == "sweep":
        return sweep_cli.handle(args)
    if args.command == "dashboard":
        return dashboard_cli.main(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
