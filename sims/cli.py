"""The `optsim` command.

    optsim run [--seed N] [--steps N] [--chain anvil|embedded] [--out DIR] [--no-crash]
    optsim margin | calibrate | design ...   (the risk engine: see risk/cli.py)

`run` starts a local chain (anvil from node_modules through ape-foundry, or ape's
embedded chain), deploys the protocol from deployments/local.yaml, runs the market
model step by step and writes a results folder with its report; the chain is stopped
at the end, also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from risk import cli as risk_cli

ROOT = Path(__file__).resolve().parent.parent
NETWORKS = {"anvil": "ethereum:local:foundry", "embedded": "ethereum:local:test"}
START_TS = 1_900_000_000  # the simulated clock starts here (2030-03-17), whatever the wall clock


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
    run.add_argument("--seed", type=_positive_int("--seed", 0, 2**32 - 1), default=7)
    run.add_argument(
        "--steps",
        type=_positive_int("--steps", 1, 100_000),
        default=168,
        help="hourly blocks (default 168 = one week)",
    )
    run.add_argument("--chain", choices=sorted(NETWORKS), default="anvil")
    run.add_argument("--out", type=Path, default=None, help="results folder (must not exist)")
    run.add_argument("--no-crash", action="store_true", help="calm market: no crash in the path")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    risk_cli.add_commands(sub)
    return parser


def _quiet_imports() -> None:
    """ape's settings model warns at import about a field of its own; not ours to fix."""
    import warnings

    warnings.filterwarnings("ignore", module="pydantic_settings")
    warnings.filterwarnings("ignore", category=DeprecationWarning)


def _chain_env() -> None:
    """Put tools/anvil and the venv's executables first on PATH; work from the project root."""
    venv_bin = Path(sys.executable).parent
    os.environ["PATH"] = f"{ROOT / 'tools'}:{venv_bin}:{os.environ.get('PATH', '')}"
    os.chdir(ROOT)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from sims.model import SimConfig, SimConfigError

    scenario = "calm" if args.no_crash else "crash"
    cfg = SimConfig(steps=args.steps, crash_step=-1 if args.no_crash else min(96, args.steps // 2))
    try:
        cfg.validate()
    except SimConfigError as exc:
        print(f"optsim run: {exc}", file=sys.stderr)
        return 2
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out = args.out or ROOT / "results" / f"{scenario}-seed{args.seed}-{stamp}"
    if Path(out).exists():
        print(f"optsim run: --out {out} already exists", file=sys.stderr)
        return 2

    _chain_env()
    _quiet_imports()
    import ape

    from sims.chain_api import ChainApi
    from sims.deployment import DeployConfig, deploy_protocol
    from sims.model import OptionsMarketModel
    from sims.quiet import silence_revert_traces
    from sims.report import summarise, write_results

    logging.getLogger("ape").setLevel(logging.ERROR)
    silence_revert_traces()
    project = ape.Project(ROOT)
    t0 = time.perf_counter()
    with ape.networks.parse_network_choice(NETWORKS[args.chain]) as provider:
        accts = list(ape.accounts.test_accounts)
        deploy_cfg = DeployConfig.load(ROOT / "deployments" / "local.yaml")
        deployment = deploy_protocol(project, accts[0], deploy_cfg, create_series=False)
        uri = getattr(provider, "uri", None) if args.chain == "anvil" else None
        api = ChainApi(deployment, ape.chain, uri, start_ts=START_TS)
        model = OptionsMarketModel(api, accts, cfg, seed=args.seed)
        t_setup = time.perf_counter() - t0
        for _ in tqdm(
            range(cfg.steps),
            desc=f"optsim {scenario} seed {args.seed}",
            unit="block",
            disable=args.quiet,
        ):
            model.step()
        t_run = time.perf_counter() - t0 - t_setup
    steps = model.datacollector.get_model_vars_dataframe()
    summary = summarise(
        steps,
        {
            "scenario": scenario,
            "seed": args.seed,
            "steps": cfg.steps,
            "chain": args.chain,
            "writers": cfg.writers,
            "buyers": cfg.buyers,
            "setup_seconds": round(t_setup, 2),
            "run_seconds": round(t_run, 2),
            "steps_per_second": round(cfg.steps / t_run, 2),
            "tx_per_second": round(float(steps["txs"].sum()) / t_run, 1),
        },
    )
    report = write_results(steps, summary, Path(out))
    print(
        f"LP return {summary['lp_return']:+.2%}, liquidations {summary['liquidations']}, "
        f"bad debt {summary['bad_debt_usd']:,.0f} USD, {summary['transactions']} txs "
        f"in {t_run:.0f} s"
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
    if args.command in risk_cli.COMMANDS:
        return risk_cli.main(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
