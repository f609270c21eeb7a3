"""The risk engine's commands: `optsim margin`, `calibrate`, `design` and `backtest`.

    optsim margin POSITIONS --spot USD [--params FILE] [--out FILE.csv]
    optsim calibrate {gbm,merton,garch,bates,ensemble} PRICES.csv [--implied-vol X]
    optsim calibrate svi QUOTES.csv|DERIBIT_CHAIN.csv
    optsim calibrate kalman VOL_INDEX.csv   (e.g. Deribit's DVOL)
    optsim design PRICES.csv [--model ensemble|gbm|merton|garch|bates] [--positions FILE
                  --spot USD] [--coverage C] [--horizon-hours H] [--nav USD]
                  [--implied-vol X] [--params FILE] [--backtest] [--out FILE.json]
    optsim backtest PRICES.csv [--start DATE] [--end DATE] [--coverage C]
                  [--horizons 1,8,24] [--refit-days D] [--lookback-days D] [--zoom A:B | A..B ...]
                  [--workers N] [--out FOLDER]

POSITIONS: see risk/book.py; PRICES: see risk/history.py; QUOTES: see risk/svi.py.
--params: a YAML file with `margin:` / `liquidation:` / `limits:` groups (as in
deployments/local.yaml, whose `params:` section is also accepted); missing groups keep
the contracts' defaults.

Every bad input is reported with the field and allowed range, exit status 2, and nothing
is written.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from risk.params import GROUPS, Limits, LiquidationParams, MarginParams, ParamError
from risk.units import HOUR

TAIL_MODELS = ("gbm", "merton", "garch", "bates")
COMMANDS = ("margin", "calibrate", "design", "backtest")


def add_commands(sub: Any) -> None:
    """Register the risk engine's commands on an argparse subparsers object."""
    m = sub.add_parser("margin", help="margin of the accounts in a positions file")
    m.add_argument("positions", type=Path, help="CSV or JSON, one row per position")
    m.add_argument("--spot", type=_positive_float("--spot"), required=True, help="USD")
    m.add_argument("--params", type=Path, default=None, help="YAML with a margin: group")
    m.add_argument("--out", type=Path, default=None, help="write the table as CSV")

    c = sub.add_parser("calibrate", help="fit a tail model to prices, or SVI to quotes")
    c.add_argument("model", choices=(*TAIL_MODELS, "ensemble", "svi", "kalman"))
    c.add_argument(
        "data",
        type=Path,
        help="prices (timestamp,price[,iv], exchange klines or an OHLC/close CSV), quotes or "
        "a Deribit chain (svi), or a vol index such as DVOL (kalman)",
    )
    c.add_argument("--implied-vol", type=_positive_float("--implied-vol"), default=None)

    d = sub.add_parser("design", help="propose risk parameters with their evidence")
    d.add_argument(
        "prices", type=Path, help="timestamp,price[,iv], exchange klines or an OHLC/close CSV"
    )
    d.add_argument("--model", choices=(*TAIL_MODELS, "ensemble"), default="ensemble")
    d.add_argument("--positions", type=Path, default=None, help="the book (default: example)")
    d.add_argument("--spot", type=_positive_float("--spot"), default=None, help="USD")
    coverage = _float_in("--coverage", 0.5, 0.99999, open_lo=True)  # as DesignTargets checks
    d.add_argument("--coverage", type=coverage, default=0.995)
    d.add_argument("--horizon-hours", type=_float_in("--horizon-hours", 0.1, 720), default=24)
    d.add_argument("--nav", type=_positive_float("--nav"), default=1_000_000.0, help="USD")
    d.add_argument("--implied-vol", type=_positive_float("--implied-vol"), default=None)
    d.add_argument("--params", type=Path, default=None, help="parameters in force (YAML)")
    d.add_argument("--paths", type=_float_in("--paths", 1_000, 10_000_000), default=100_000)
    d.add_argument("--seed", type=_float_in("--seed", 0, 2**32 - 1), default=0)
    d.add_argument(
        "--long-history",
        type=Path,
        default=None,
        help="years of the asset's prices: the rule's APC (stressed period, floor) and "
        "ceiling, as optsim backtest scores it",
    )
    d.add_argument(
        "--vol-history",
        type=Path,
        default=None,
        help="a vol index (DVOL) with --long-history: the vol shocks' floors (APC)",
    )
    d.add_argument(
        "--backtest",
        action="store_true",
        help="backtest the submitted rule on these prices at the design's horizon",
    )
    d.add_argument(
        "--lookback-days",
        type=_float_in("--lookback-days", 30.0, 36_500.0),
        default=365.0,
        help="the backtest's fit window",
    )
    d.add_argument("--out", type=Path, default=None, help="write the proposal as JSON")

    b = sub.add_parser(
        "backtest", help="walk-forward backtest of the submitted margin rule, CCP-style"
    )
    b.add_argument("prices", type=Path, help="exchange klines or an OHLC/close CSV")
    b.add_argument("--start", default=None, help="first origin (date or epoch seconds)")
    b.add_argument("--end", default=None, help="no window ends after it (date or epoch seconds)")
    b.add_argument("--coverage", type=_float_in("--coverage", 0.9, 0.9999), default=0.995)
    b.add_argument("--horizons", default="1,8,24", help="hours, comma-separated")
    b.add_argument("--refit-days", type=_float_in("--refit-days", 1.0, 365.0), default=7.0)
    b.add_argument(
        "--lookback-days", type=_float_in("--lookback-days", 30.0, 36_500.0), default=365.0
    )
    b.add_argument(
        "--zoom",
        action="append",
        default=None,
        help="START:END dates, or START..END dates or times (2020-03-12 06:00..2020-03-13"
        " 12:00), to zoom in the plot (repeatable; default the 4 worst days)",
    )
    b.add_argument("--workers", type=_float_in("--workers", 1, 64), default=1)
    b.add_argument("--out", type=Path, default=None, help="folder for JSON, CSV and PNGs")


def main(args: argparse.Namespace) -> int:
    handlers = {"margin": margin, "calibrate": calibrate, "design": design, "backtest": backtest}
    try:
        return handlers[args.command](args)
    except (ValueError, ParamError) as exc:
        print(f"optsim {args.command}: {exc}", file=sys.stderr)
        return 2


# --- margin ---


def margin(args: argparse.Namespace) -> int:
    from risk.book import Book

    _check_out(args.out)  # before the work, not after it
    params = load_params(args.params)["margin"]
    book = Book.read(args.positions, args.spot)
    df = book.margin_frame(params)
    _print_frame(df, floatfmt="{:,.2f}")
    below = int(df["below_mm"].sum())
    print(
        f"\n{len(df)} accounts, total MM {df['mm'].sum():,.2f} USD, IM {df['im'].sum():,.2f} "
        f"USD; {below} below MM" + ("" if df["cash"].notna().any() else " (no cash given)")
    )
    if args.out:
        _write_atomic(args.out, df.to_csv(index=False))
        print(f"written: {args.out}")
    return 0


# --- calibrate ---


def calibrate(args: argparse.Namespace) -> int:
    if args.model == "svi":
        return _calibrate_svi(args.data)
    if args.model == "kalman":
        return _calibrate_kalman(args.data)
    from risk.market_data import read_prices

    hist = read_prices(args.data)
    r, dt = hist.log_returns, hist.dt
    iv = args.implied_vol if args.implied_vol is not None else _last_iv(hist)
    print(f"{len(r)} returns every {dt * 365 * 24:.3g} hours ({hist.gaps} gaps)\n")
    if args.model == "ensemble":
        from risk.ensemble import fit_ensemble

        ens = fit_ensemble(r, dt, implied_vol=iv)
        reg = ens.regime
        print(
            f"regime: realised vol {reg.realised_vol:.4f}, reference {reg.reference_vol:.4f}, "
            f"stress {reg.stress:.3f}, jumpy {reg.jumpy:.3f}\n"
        )
        for name, model in ens.models.items():
            _print_model(name, model, r, dt, weight=ens.weights[name])
        for name, why in ens.skipped:
            print(f"{name}: not fitted ({why})")
        return 0
    from risk.ensemble import MODELS

    _print_model(args.model, MODELS[args.model].fit(r, dt), r, dt)
    return 0


def _print_model(
    name: str, model: Any, r: np.ndarray, dt: float, weight: float | None = None
) -> None:
    head = f"{name}" + (f" (weight {weight:.3f})" if weight is not None else "")
    print(head)
    print(f"  method: {type(model).FIT_METHOD}")
    for f in fields(model):
        doc = f.metadata.get("doc", "")
        print(f"  {f.name:>8} = {getattr(model, f.name):<12.6g}" + (f"  {doc}" if doc else ""))
    if hasattr(model, "loglik"):
        try:
            print(f"  log-likelihood {model.loglik(r, dt):.2f}")
        except (ValueError, NotImplementedError):
            pass
    m = model.moments(len(r) * dt / len(r))
    data_var = float(np.var(r))
    print(f"  per-step variance: model {m.variance:.4e}, data {data_var:.4e}\n")


def _calibrate_svi(path: Path) -> int:
    from risk.svi import butterfly_violations, calendar_violations, calibrate_surface, read_quotes

    if path.is_file() and "instrument_name" in path.read_text().split("\n", 1)[0]:
        return _calibrate_chain(path)

    surface = calibrate_surface(read_quotes(path))
    rows = []
    k_grid = np.linspace(-1.5, 1.5, 301)
    for s, fit in zip(surface.slices, surface.fits, strict=False):
        rows.append(
            {
                "t_years": s.t_years,
                "a": s.a,
                "b": s.b,
                "rho": s.rho,
                "m": s.m,
                "sigma": s.sigma,
                "rmse_vol": fit.rmse,
                "quotes": fit.n_quotes,
                "butterfly_violations": len(butterfly_violations(s, k_grid)),
            }
        )
    _print_frame(pd.DataFrame(rows), floatfmt="{:.6g}")
    cal = calendar_violations(surface, k_grid)
    print(f"\n{len(surface.slices)} slices, {surface.n_dropped} quotes dropped (no implied vol)")
    print(f"calendar violations: {len(cal)} grid points")
    return 0


def _calibrate_kalman(path: Path) -> int:
    """The Kalman ATM-vol filter against a vol index, out of sample (risk.vol_tracking)."""
    from risk.market_data import read_vol_index
    from risk.vol_tracking import track_vol_index

    out = track_vol_index(read_vol_index(path))
    print(
        f"# Kalman ATM-vol filter on {out.pop('source')}: noise fitted on the first "
        f"{out.pop('days_fitted')} days, scored on the next {out.pop('days_scored')}\n"
    )
    _print_frame(pd.DataFrame({"metric": list(out), "value": list(out.values())}), "{:.4g}")
    return 0


def _calibrate_chain(path: Path) -> int:
    """SVI on an exchange option chain snapshot (risk.chain_fit), bid/ask-weighted."""
    from risk.chain_fit import K_GRID, fit_chain
    from risk.market_data import read_option_chain

    chain = read_option_chain(path)
    _, report, calendar = fit_chain(chain)
    when = pd.Timestamp(chain.snapshot, unit="s")
    print(
        f"# SVI on {path.name}: {len(chain.strike)} options at {when:%Y-%m-%d %H:%M} UTC, "
        f"out-of-the-money two-sided quotes, weights 1 / (ask - bid)^2 in vol\n"
    )
    _print_frame(report, floatfmt="{:.3g}")
    lo, hi = K_GRID[0], K_GRID[-1]
    print(
        f"\ncalendar violations: {len(calendar)} points of the k grid [{lo:g}, {hi:g}] where "
        "total variance falls with expiry"
        + (
            ""
            if calendar.empty
            else f" (largest {calendar['decrease'].max():.4g} between "
            f"{365 * calendar.loc[calendar['decrease'].idxmax(), 't_short']:.1f} and "
            f"{365 * calendar.loc[calendar['decrease'].idxmax(), 't_long']:.1f} days)"
        )
    )
    return 0


# --- design ---


def design(args: argparse.Namespace) -> int:
    from risk.book import Book, example_book
    from risk.design import DesignTargets
    from risk.design import design as run_design
    from risk.ensemble import MODELS, design_ensemble, fit_ensemble
    from risk.market_data import read_prices

    if args.positions is not None and args.spot is None:
        raise ValueError("--spot: required with --positions (USD, > 0)")
    if args.vol_history is not None and args.long_history is None:
        raise ValueError("--vol-history: needs --long-history (the asset's prices)")
    _check_out(args.out)
    current = load_params(args.params)
    hist = read_prices(args.prices)
    long = None
    if args.long_history is not None:
        from risk.apc import LongHistory
        from risk.market_data import read_vol_index

        vol_index = None if args.vol_history is None else read_vol_index(args.vol_history)
        long = LongHistory.of(
            read_prices(args.long_history),
            args.long_history.name,
            vol_index,
            "" if args.vol_history is None else args.vol_history.name,
        )
    r, dt = hist.log_returns, hist.dt
    spot = args.spot or float(hist.price[-1])
    if args.positions is not None:
        book = Book.read(args.positions, spot)
    else:
        vol = args.implied_vol or _last_iv(hist) or float(np.std(r[-168:]) / math.sqrt(dt))
        book = example_book(spot=spot, vol=vol, params=current["margin"])
    targets = DesignTargets(
        coverage=args.coverage,
        horizon_sec=int(round(args.horizon_hours * HOUR)),
        pool_nav=args.nav,
        n_paths=int(args.paths),
        seed=int(args.seed),
    )
    iv = args.implied_vol if args.implied_vol is not None else _last_iv(hist)
    rule = None
    if args.backtest:  # refused before any work when the history is too short
        from risk.margin_rule import RuleSettings
        from risk.rule_backtest import plan_windows

        rule = RuleSettings(coverage=float(args.coverage), lookback_days=float(args.lookback_days))
        rule_horizons = (_whole_hours("--horizon-hours", args.horizon_hours),)
        plan_windows(hist, rule, rule_horizons)
    anchors = None
    if long is not None:
        from risk.apc import APC, CEILING_MULTIPLE, HistoryAnchors

        anchors = HistoryAnchors.of(long, r, dt, targets.horizon_sec, APC(), CEILING_MULTIPLE)
    if args.model == "ensemble":
        ens = fit_ensemble(r, dt, implied_vol=iv)
        proposal = design_ensemble(
            ens, book, current["margin"], current["liquidation"], targets, anchors=anchors
        )
    else:
        model = MODELS[args.model].fit(r, dt)
        proposal = run_design(model, book, current["margin"], current["liquidation"], targets)
        if anchors is not None:  # one model alone: the floors and the ceiling, no mixture
            margin, changes = anchors.bounded(
                proposal.margin, targets.horizon_sec, targets.coverage
            )
            proposal = replace(proposal, margin=margin, notes=proposal.notes + changes)
    print(
        f"# Parameter proposal ({args.model}, coverage {args.coverage}, "
        f"horizon {args.horizon_hours:g} h, {len(book.accounts)} accounts)\n"
    )
    _print_frame(proposal.changes(current), floatfmt="{:.6g}")
    print("\n## Evidence\n")
    _print_frame(proposal.evidence_frame().reset_index(), floatfmt="{:.6g}")
    for note in proposal.notes:
        print(f"- {note}")
    backtest = None
    if rule is not None:
        from risk.rule_backtest import backtest_rule

        print(
            "\n## The submitted rule (ensemble + divergence add-on + APC), walk-forward on "
            "these prices, and each model alone (optsim backtest for plots and options)\n"
        )
        backtest, _ = _print_scores(backtest_rule(hist, rule, rule_horizons))
    if args.out:
        doc = {
            "model": args.model,
            "targets": vars(targets),
            "params": {name: g.to_dict() for name, g in proposal.groups().items()},
            "chain": {name: list(map(str, g.to_chain())) for name, g in proposal.groups().items()},
            "evidence": proposal.evidence,
            "notes": list(proposal.notes),
            "backtest": None if backtest is None else backtest.to_dict("records"),
        }
        _write_atomic(args.out, json.dumps(doc, indent=2, default=float))
        print(f"\nwritten: {args.out}")
    return 0


# --- backtest ---


def backtest(args: argparse.Namespace) -> int:
    from risk.backtest_plot import plot_backtest, worst_windows
    from risk.margin_rule import RuleSettings
    from risk.market_data import epoch_of, read_prices
    from risk.rule_backtest import backtest_rule

    horizons = _horizons(args.horizons)
    zooms = [_zoom(z) for z in args.zoom or []]
    if args.out is not None and not Path(args.out).is_dir():
        raise ValueError(f"--out: folder {args.out} does not exist")
    hist = read_prices(args.prices)
    start = None if args.start is None else epoch_of("--start", args.start)
    end = None if args.end is None else epoch_of("--end", args.end)
    settings = RuleSettings(
        coverage=float(args.coverage),
        refit_days=float(args.refit_days),
        lookback_days=float(args.lookback_days),
    )
    bt = backtest_rule(
        hist,
        settings,
        horizons,
        start,
        end,
        workers=int(args.workers),
        progress=lambda msg: print(f"... {msg}", file=sys.stderr, flush=True),
    )
    first = min(int(r.frame.index[0]) for r in bt.runs.values())
    last = max(int(r.frame.index[-1]) for r in bt.runs.values())
    span = (
        f"{pd.Timestamp(hist.timestamp[first], unit='s'):%Y-%m-%d %H:%M} to "
        f"{pd.Timestamp(hist.timestamp[last], unit='s'):%Y-%m-%d %H:%M} UTC"
    )
    print(f"# Margin rule backtest: {args.prices.name}, {span}, coverage {settings.coverage}\n")
    scores, pro = _print_scores(bt)
    if args.out is not None:
        out = Path(args.out)
        files: dict[str, Any] = {
            "backtest.json": json.dumps(
                {
                    "prices": str(args.prices),
                    "span": span,
                    "settings": _plain(settings),
                    "scores": scores.to_dict("records"),
                    "procyclicality": pro.to_dict("records"),
                    "notes": bt.notes,
                },
                indent=2,
                default=_json_default,
            )
        }
        for h, run in bt.runs.items():
            frame = run.frame.assign(time=hist.timestamp[run.frame.index.to_numpy()])
            files[f"margins_{h}h.csv"] = frame.to_csv()
        with tempfile.TemporaryDirectory(dir=out, prefix=".backtest.") as tmp:
            staged = []
            for name, text in files.items():
                (Path(tmp) / name).write_text(text)
                staged.append(name)
            for h, run in bt.runs.items():
                name = f"backtest_{h}h.png"
                windows = zooms or worst_windows(run, hist.timestamp)
                title = f"{args.prices.name}: {h} h margin against realised loss, {span}"
                plot_backtest(run, hist.timestamp, Path(tmp) / name, title, windows)
                staged.append(name)
            for name in staged:
                os.replace(Path(tmp) / name, out / name)
        print(f"\nwritten: {', '.join(str(out / n) for n in staged)}")
    return 0


def _print_scores(bt: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Print a rule backtest's score table, its procyclicality with APC on and off, and its
    notes; return every score (one row per horizon, rule and side) and the procyclicality."""
    from risk.rule_backtest import procyclicality_table

    cols = [
        "exceedances", "expected", "kupiec_p_one_sided", "kupiec_p", "independence_p",
        "conditional_p", "yellow_blocks", "red_blocks", "mean_margin", "margin_over_expost",
        "loss_to_margin_mean", "loss_to_margin_max", "passes",
    ]  # fmt: skip
    scores = bt.summary().reset_index()
    _print_frame(scores[["horizon_h", "rule", "side", *cols]], floatfmt="{:.4g}")
    print("\n## Procyclicality of the submitted rule, APC on and off\n")
    pro = procyclicality_table(bt)
    _print_frame(pro, floatfmt="{:.3g}")
    for note in bt.notes:
        print(f"- {note}")
    return scores, pro


def _whole_hours(name: str, hours: float) -> int:
    if not (float(hours).is_integer() and 1 <= hours <= 720):
        raise ValueError(f"{name}: {hours:g} h; the backtest needs whole hours in [1, 720]")
    return int(hours)


def _horizons(text: str) -> tuple[int, ...]:
    try:
        hours = tuple(int(x) for x in text.split(","))
    except ValueError:
        raise ValueError(f"--horizons: {text!r} is not a comma-separated list of hours") from None
    bad = [h for h in hours if not 1 <= h <= 720]
    if bad or not hours:
        raise ValueError(f"--horizons: {bad or text!r} outside allowed range [1, 720] hours")
    return hours


def _zoom(text: str) -> tuple[int, int]:
    from risk.market_data import epoch_of

    a, sep, b = text.partition("..") if ".." in text else text.partition(":")
    if not sep:
        raise ValueError(
            f"--zoom: {text!r} is not START:END (two dates) or START..END (dates or times)"
        )
    whole_day = len(b.strip()) <= 10 and not b.strip().isdigit()  # a date: to its end
    lo, hi = epoch_of("--zoom", a), epoch_of("--zoom", b) + (86_400 if whole_day else 0)
    if hi <= lo:
        raise ValueError(f"--zoom: {text!r} ends before it starts")
    return lo, hi


def _plain(settings: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(settings)


def _json_default(x: Any) -> Any:
    return x.item() if hasattr(x, "item") else str(x)


# --- helpers ---


def load_params(path: Path | None) -> dict[str, Any]:
    """Margin, liquidation and limit groups from a YAML file (defaults where missing)."""
    groups: dict[str, Any] = {
        "margin": MarginParams(),
        "liquidation": LiquidationParams(),
        "limits": Limits(),
    }
    if path is None:
        return groups
    if not Path(path).is_file():
        raise ValueError(f"--params: no such file {path}")
    data = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"--params: {path} is not a mapping of parameter groups")
    data = data.get("params", data)
    unknown = sorted(set(data) - set(GROUPS))
    if unknown:
        raise ValueError(f"--params: unknown group(s) {unknown}; allowed: {sorted(GROUPS)}")
    for name in groups:
        if name in data:
            groups[name] = GROUPS[name].from_dict(data[name])
    return groups


def _last_iv(hist: Any) -> float | None:
    return None if hist.iv is None else float(hist.iv[-1])


def _print_frame(df: pd.DataFrame, floatfmt: str) -> None:
    if df.empty:
        print("(no changes)")
        return
    formatters = {c: floatfmt.format for c in df.columns if df[c].dtype.kind == "f"}
    print(df.to_string(index=False, formatters=formatters))


def _check_out(path: Path | None) -> None:
    if path is not None and not Path(path).parent.is_dir():
        raise ValueError(f"--out: folder {Path(path).parent} does not exist")


def _write_atomic(path: Path, text: str) -> None:
    """Write to a temporary file beside `path`, then rename: never a half-written file."""
    path = Path(path)
    _check_out(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _positive_float(name: str):  # type: ignore[no-untyped-def]
    return _float_in(name, 0.0, math.inf, open_lo=True)


def _float_in(name: str, lo: float, hi: float, open_lo: bool = False):  # type: ignore[no-untyped-def]
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name}: {text!r} is not a number") from None
        ok = (value > lo if open_lo else value >= lo) and value <= hi and math.isfinite(value)
        if not ok:
            bracket = "(" if open_lo else "["
            raise argparse.ArgumentTypeError(
                f"{name}: {value} outside allowed range {bracket}{lo:g}, {hi:g}]"
            )
        return value

    return parse
