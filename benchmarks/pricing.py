"""Pricing, Greeks and implied vol of risk.greeks / risk.implied_vol against their peers.

    python -m benchmarks.pricing

Measured in one run, each ratio against a peer timed in the same run on the same data:
(a) price + delta, gamma, vega, theta of 1M-4M options: ours (numba, parallel and serial)
    vs the same formulas in numpy + scipy.special.ndtr; both checked against mpmath on a
    sample, so the speed is compared at the accuracy each one actually reaches;
(b) implied vol: ours vs py_vollib_vectorized (Jaeckel's "Let's Be Rational" in numba) if
    it imports, and vs scipy's brentq per option; plus how many deep out-of-the-money
    prices a plain Newton iteration fails on, against ours;
(c) first-call latency: compiling in a fresh process with an empty numba cache (cold), and
    loading the cached machine code in a second fresh process (warm).

Times are the best of several repeats; the machine's load average is printed because other
processes share its 2 cores.
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numba
import numpy as np
from scipy.optimize import brentq
from scipy.special import ndtr

from benchmarks import timing
from risk.iv_baseline import deep_otm_options, plain_newton_implied_vol
from risk.units import YEAR_SEC

ROOT = Path(__file__).resolve().parent.parent
INV_SQRT_2PI = 0.3989422804014327


# --- data ---


def random_options(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """A realistic book: strikes spot * e^U(-0.7, 0.7), 1 day..2 years, vol 10%..150%."""
    g = np.random.default_rng(seed)
    spot = np.full(n, 2_000.0)
    return {
        "spot": spot,
        "strike": spot * np.exp(g.uniform(-0.7, 0.7, n)),
        "t_sec": g.uniform(86_400.0, 2 * YEAR_SEC, n),
        "vol": g.uniform(0.1, 1.5, n),
        "is_call": g.random(n) < 0.5,
        "rate": 0.04,
        "div_yield": 0.01,
    }


# --- peers ---


def numpy_greeks(spot, strike, t_sec, vol, is_call, rate, div_yield):
    """Price, delta, gamma, vega, theta: the formulas of risk.greeks in numpy + ndtr."""
    t = t_sec / YEAR_SEC
    sq = np.sqrt(t)
    sd = vol * sq
    dq, dr = np.exp(-div_yield * t), np.exp(-rate * t)
    d1 = (np.log(spot / strike) + (rate - div_yield) * t) / sd + 0.5 * sd
    d2 = d1 - sd
    w = np.where(is_call, 1.0, -1.0)
    pdf = np.exp(-0.5 * d1 * d1) * INV_SQRT_2PI
    n1, n2 = ndtr(w * d1), ndtr(w * d2)
    s_dq, k_dr = spot * dq, strike * dr
    return (
        w * (s_dq * n1 - k_dr * n2),
        w * dq * n1,
        dq * pdf / (spot * sd),
        s_dq * pdf * sq,
        -0.5 * s_dq * pdf * vol / sq + w * (div_yield * s_dq * n1 - rate * k_dr * n2),
    )


def brentq_implied_vol(price, spot, strike, t_sec, is_call, rate, div_yield) -> np.ndarray:
    """scipy.optimize.brentq per option on [1e-6, 10], prices from numpy_greeks."""
    out = np.empty(len(price))
    for i in range(len(price)):
        args = (spot[i], strike[i], t_sec[i])

        def f(v, i=i, args=args):
            p = numpy_greeks(*args, v, is_call[i], rate, div_yield)[0]
            return p - price[i]

        out[i] = brentq(f, 1e-6, 10.0, xtol=1e-14, rtol=1e-14)
    return out


def _py_vollib() -> Any:
    try:
        import py_vollib_vectorized
    except ImportError:
        return None
    return py_vollib_vectorized


# --- measuring ---


def mp_max_rel_err(results: dict[str, tuple], opts: dict[str, Any], sample: int = 400) -> dict:
    """Max relative error of each result's five outputs against mpmath (40 digits)."""
    import mpmath as mp

    idx = np.linspace(0, len(opts["spot"]) - 1, sample).astype(int)
    errs = {name: 0.0 for name in results}
    for i in idx:
        with mp.workdps(40):
            s, k = mp.mpf(float(opts["spot"][i])), mp.mpf(float(opts["strike"][i]))
            v, r, q = mp.mpf(float(opts["vol"][i])), mp.mpf(opts["rate"]), mp.mpf(opts["div_yield"])
            t = mp.mpf(float(opts["t_sec"][i])) / YEAR_SEC
            sd, dq, dr = v * mp.sqrt(t), mp.exp(-q * t), mp.exp(-r * t)
            d1 = (mp.log(s / k) + (r - q) * t) / sd + sd / 2
            w = 1 if opts["is_call"][i] else -1
            n1, n2, pdf = mp.ncdf(w * d1), mp.ncdf(w * (d1 - sd)), mp.npdf(d1)
            ref = (
                w * (s * dq * n1 - k * dr * n2),
                w * dq * n1,
                dq * pdf / (s * sd),
                s * dq * pdf * mp.sqrt(t),
                -s * dq * pdf * v / (2 * mp.sqrt(t)) + w * (q * s * dq * n1 - r * k * dr * n2),
            )
        for name, res in results.items():
            for j in range(5):
                exact = float(ref[j])
                err = abs(res[j][i] - exact) / max(abs(exact), 1e-280)
                errs[name] = max(errs[name], err)
    return errs


def bench_greeks(sizes: tuple[int, ...]) -> list[str]:
    from risk.greeks import black_scholes

    rows = [
        "| options | numpy + ndtr | ours, serial | ours, parallel | serial / numpy "
        "| parallel / numpy | max rel err numpy | max rel err ours |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in sizes:
        opts = random_options(n, seed=n)
        t_np = timing.best_of(lambda opts=opts: numpy_greeks(**opts), repeat=3)
        t_ser = timing.best_of(
            lambda opts=opts: black_scholes(**opts, second_order=False, parallel=False)
        )
        t_par = timing.best_of(
            lambda opts=opts: black_scholes(**opts, second_order=False, parallel=True)
        )
        ours = black_scholes(**opts, second_order=False)
        errs = mp_max_rel_err({"numpy": numpy_greeks(**opts), "ours": ours}, opts)
        rows.append(
            f"| {n:,} | {n / t_np / 1e6:.1f} M/s | {n / t_ser / 1e6:.1f} M/s "
            f"| {n / t_par / 1e6:.1f} M/s | {t_np / t_ser:.1f}x | **{t_np / t_par:.1f}x** "
            f"| {errs['numpy']:.1e} | {errs['ours']:.1e} |"
        )
    return rows


def bench_implied_vol(n: int, n_brentq: int) -> list[str]:
    from risk.greeks import black_scholes
    from risk.implied_vol import implied_vol

    opts = random_options(n, seed=99)
    greeks = black_scholes(**opts, second_order=False)
    keep = greeks.vega / opts["spot"] > 1e-4  # where the price pins the vol down
    opts = {k: (v[keep] if isinstance(v, np.ndarray) else v) for k, v in opts.items()}
    price, n = greeks.price[keep], int(np.sum(keep))
    args = {k: opts[k] for k in ("spot", "strike", "t_sec", "is_call", "rate", "div_yield")}
    ours = implied_vol(price, **args)
    t_par = timing.best_of(lambda: implied_vol(price, **args, parallel=True), repeat=3)
    t_ser = timing.best_of(lambda: implied_vol(price, **args, parallel=False), repeat=3)
    failed, err = int(np.sum(ours.status != 0)), _round_trip_err(ours.vol, opts["vol"])
    rows = [
        "| solver | options | throughput | ours (parallel) faster by | failed | max rel err |",
        "|---|---:|---:|---:|---:|---:|",
        f"| ours, parallel | {n:,} | {n / t_par / 1e6:.2f} M/s | 1.0x | {failed} | {err:.1e} |",
        f"| ours, serial | {n:,} | {n / t_ser / 1e6:.2f} M/s | {t_ser / t_par:.1f}x "
        f"| {failed} | {err:.1e} |",
    ]
    pv = _py_vollib()
    if pv is not None:
        flag = np.where(opts["is_call"], "c", "p")
        t_years = opts["t_sec"] / YEAR_SEC
        r, q = np.full(n, opts["rate"]), np.full(n, opts["div_yield"])

        def run_pv():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return pv.vectorized_implied_volatility(
                    price,
                    opts["spot"],
                    opts["strike"],
                    t_years,
                    r,
                    flag,
                    q=q,
                    model="black_scholes_merton",
                    return_as="numpy",
                    on_error="ignore",
                )

        theirs = np.asarray(run_pv(), dtype=float).ravel()
        t_pv = timing.best_of(run_pv, repeat=3)
        rows.append(
            f"| py_vollib_vectorized (Let's Be Rational) | {n:,} | {n / t_pv / 1e6:.2f} M/s "
            f"| **{t_pv / t_par:.1f}x** | {int(np.sum(~(theirs > 0)))} "
            f"| {_round_trip_err(theirs, opts['vol']):.1e} |"
        )
    else:
        rows.append("| py_vollib_vectorized | not installed | | | | |")
    sub = slice(0, n_brentq)
    sub_args = {k: (v[sub] if isinstance(v, np.ndarray) else v) for k, v in args.items()}
    start = time.perf_counter()
    theirs = brentq_implied_vol(price[sub], **sub_args)
    t_bq = (time.perf_counter() - start) / n_brentq * n
    rows.append(
        f"| scipy brentq per option | {n_brentq:,} | {n / t_bq / 1e6:.3f} M/s "
        f"| **{t_bq / t_par:.0f}x** | {int(np.sum(~(theirs > 0)))} "
        f"| {_round_trip_err(theirs, opts['vol'][sub]):.1e} |"
    )
    return rows


def _round_trip_err(vol: np.ndarray, true_vol: np.ndarray) -> float:
    """Max relative error where a vol came back (NaN, failures, are counted separately)."""
    ok = vol > 0.0
    return float(np.max(np.abs(vol[ok] / true_vol[ok] - 1.0))) if np.any(ok) else math.nan


def robustness(n: int) -> tuple[list[str], dict[str, int]]:
    from risk.greeks import black_scholes
    from risk.implied_vol import implied_vol

    opts = deep_otm_options(n)
    price = black_scholes(**opts, second_order=False).price
    keep = price > 1e-300  # representable prices only
    opts = {k: v[keep] for k, v in opts.items()}
    price = price[keep]
    args = {k: opts[k] for k in ("spot", "strike", "t_sec", "is_call")}
    ours = implied_vol(price, **args)
    newton, converged = plain_newton_implied_vol(price, **args)
    tol = 1e-8  # deep OTM: ln price is steep in vol, so vol is well determined
    ours_ok = (ours.status == 0) & (np.abs(ours.vol / opts["vol"] - 1.0) <= tol)
    newton_ok = converged & (np.abs(newton / opts["vol"] - 1.0) <= tol)
    tiny = price < 1e-8 * opts["spot"]
    counts = {
        "cases": len(price),
        "newton_fail": int(np.sum(~newton_ok)),
        "ours_fail": int(np.sum(~ours_ok)),
        "newton_fail_quoted": int(np.sum(~newton_ok & ~tiny)),
        "ours_fail_quoted": int(np.sum(~ours_ok & ~tiny)),
        "quoted": int(np.sum(~tiny)),
    }
    rows = [
        "| deep OTM set | cases | plain Newton (vol0 = 0.5) fails | ours fails |",
        "|---|---:|---:|---:|",
        f"| all representable prices | {counts['cases']:,} | {counts['newton_fail']:,} "
        f"| {counts['ours_fail']} |",
        f"| price >= 1e-8 spot | {counts['quoted']:,} | {counts['newton_fail_quoted']:,} "
        f"| {counts['ours_fail_quoted']} |",
    ]
    return rows, counts


_FIRST_CALL = """
import time
t0 = time.perf_counter()
import numpy as np
from risk.greeks import black_scholes
from risk.implied_vol import implied_vol
t1 = time.perf_counter()
g = black_scholes(np.array([2000.0]), np.array([2100.0]), np.array([86400.0 * 30]),
                  np.array([0.6]), np.array([True]), 0.04, 0.01, parallel=False)
t2 = time.perf_counter()
implied_vol(g.price, np.array([2000.0]), np.array([2100.0]), np.array([86400.0 * 30]),
            np.array([True]), 0.04, 0.01, parallel=False)
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2)
"""


def first_call_latency() -> list[str]:
    """Import and first calls in fresh processes, cold and warm numba cache."""
    return timing.first_call_latency(
        _FIRST_CALL,
        ("import", "black_scholes", "implied_vol"),
        ("{:.2f} s", "{:.3f} s", "{:.3f} s"),
    )


def main() -> int:
    sizes = tuple(
        int(v) for v in os.environ.get("BENCH_SIZES", "1000000,2000000,4000000").split(",")
    )
    print("# Pricing benchmarks\n")
    print(
        f"numba {numba.__version__}, numpy {np.__version__}, {numba.config.NUMBA_NUM_THREADS} "
        f"threads, {os.cpu_count()} cores, load average at start {os.getloadavg()[0]:.2f}\n"
    )
    print("## (a) price + delta, gamma, vega, theta (throughput, best of 5)\n")
    print("\n".join(bench_greeks(sizes)))
    print("\nmax rel err: against mpmath at 40 digits on 400 options of each set.\n")
    print("## (b) implied vol of prices from risk.greeks where vega / spot > 1e-4\n")
    print("\n".join(bench_implied_vol(200_000, 2_000)))
    rows, _ = robustness(100_000)
    print("\nRobustness (vol recovered to 1e-8 relative):\n")
    print("\n".join(rows))
    print("\n## (c) first-call latency\n")
    print("\n".join(first_call_latency()))
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
