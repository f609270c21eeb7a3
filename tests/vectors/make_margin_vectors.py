"""Write tests/vectors/margin_vectors.json: portfolio margin vectors from risk/margin.py.

Run from the repository root after changing the margin rules or this file:

    python tests/vectors/make_margin_vectors.py

Each vector holds the on-chain inputs of MarginEngine.portfolio_margin (integers: spot,
strike and vol at 1e18, sizes at 1e18 = 1 contract, seconds, the MarginParams tuple) and
the value / MM / IM that risk/margin.py computes from exactly those integers, in USD.
tests/contracts/margin_engine/test_margin_vectors.py checks the contract against them and that this
file is up to date. Books are drawn from a seeded `random.Random`, whose stream is stable
across Python versions.
"""

from __future__ import annotations

import json
import random
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from risk.margin import portfolio_margin  # noqa: E402
from risk.params import MarginParams  # noqa: E402
from risk.units import DAY, HOUR, WAD, YEAR_SEC  # noqa: E402

OUT = Path(__file__).with_name("margin_vectors.json")
SEED = 20_250_301

PARAM_SETS: dict[str, MarginParams] = {
    "default": MarginParams(),
    # wide grid, short reference tenor: many scenarios, big short-dated vol shocks
    "wide": MarginParams(
        spot_shock=0.3,
        spot_steps=6,
        vol_shock_up=1.0,
        vol_shock_down=0.5,
        vol_tenor_ref=7 * DAY,
        vol_tenor_power=0.5,
        vol_scale_cap=5.0,
        short_min=0.02,
        im_factor=1.5,
    ),
    # one step each side, no tenor scaling, no short minimum
    "flat": MarginParams(
        spot_shock=0.1,
        spot_steps=1,
        vol_shock_up=0.2,
        vol_shock_down=0.2,
        vol_tenor_ref=30 * DAY,
        vol_tenor_power=0.0,
        vol_scale_cap=1.0,
        short_min=0.0,
        im_factor=1.0,
    ),
    # parameter bounds: the down shock hits the 95% floor, the cap of 10 binds
    "steep": MarginParams(
        spot_shock=0.05,
        spot_steps=2,
        vol_shock_up=3.0,
        vol_shock_down=0.9,
        vol_tenor_ref=365 * DAY,
        vol_tenor_power=1.0,
        vol_scale_cap=10.0,
        short_min=0.5,
        im_factor=3.0,
    ),
}


def _wad(x: float) -> int:
    return int((Decimal(str(x)) * WAD).to_integral_value())


def _pos(strike: float, t_sec: float, vol: float, is_call: bool, size: float) -> list[Any]:
    """One position as the contract takes it: [strike, t_sec, vol, is_call, size]."""
    return [_wad(round(strike, 6)), int(t_sec), _wad(round(vol, 4)), bool(is_call), _wad(size)]


def _books(rng: random.Random) -> list[tuple[str, str, float, list[list[Any]]]]:
    """(name, params, spot USD, positions) for every vector."""
    s = 2_000.0
    m = 30 * DAY
    books: list[tuple[str, str, float, list[list[Any]]]] = []

    def add(name: str, params: str, spot: float, *positions: list[Any]) -> None:
        books.append((name, params, spot, list(positions)))

    def rand_pos(spot: float, t_lo: float = DAY, t_hi: float = YEAR_SEC) -> list[Any]:
        return _pos(
            strike=spot * rng.uniform(0.7, 1.3),
            t_sec=rng.uniform(t_lo, t_hi),
            vol=rng.uniform(0.1, 3.0),
            is_call=rng.random() < 0.5,
            size=round(rng.choice([-1, 1]) * rng.uniform(0.1, 10.0), 3),
        )

    def call(strike: float, t_sec: float, vol: float, size: float) -> list[Any]:
        return _pos(strike, t_sec, vol, True, size)

    def put(strike: float, t_sec: float, vol: float, size: float) -> list[Any]:
        return _pos(strike, t_sec, vol, False, size)

    # single options, default parameters
    for side, size in (("long", 1.0), ("short", -1.0)):
        for kind, is_call in (("call", True), ("put", False)):
            add(f"single_{side}_{kind}_atm", "default", s, _pos(s, m, 0.6, is_call, size))
    add("single_short_call_otm_small_spot", "default", 1.2345, call(1.4, 14 * DAY, 0.8, -250))
    add("single_long_put_fractional", "default", 65_000.0, put(60_000, 60 * DAY, 0.5, 0.125))

    # spreads, straddles, strangles
    add("bull_call_spread", "default", s, call(2_000, m, 0.6, 1), call(2_200, m, 0.55, -1))
    add("bear_put_spread", "default", s, put(2_000, m, 0.6, 2), put(1_800, m, 0.65, -2))
    add("long_straddle", "default", s, call(2_000, m, 0.6, 1), put(2_000, m, 0.6, 1))
    add("short_straddle", "default", s, call(2_000, m, 0.6, -3), put(2_000, m, 0.6, -3))
    add("short_strangle", "default", s, call(2_300, m, 0.6, -5), put(1_700, m, 0.65, -5))
    w = 7 * DAY
    add("short_strangle_wide_params", "wide", s, call(2_400, w, 0.7, -2), put(1_600, w, 0.75, -2))
    add("calendar_spread", "default", s, call(2_000, w, 0.6, -1), call(2_000, 90 * DAY, 0.55, 1))

    # five-position mixed books
    for i in range(5):
        spot = round(rng.uniform(50, 5_000), 2)
        add(f"mixed_book_{i}", "default", spot, *(rand_pos(spot) for _ in range(5)))

    # near expiry (hours) and long-dated
    for hours in (1, 6, 12):
        add(f"short_call_{hours}h", "default", s, call(2_020, hours * HOUR, 0.7, -4))
    add("short_put_1h_itm", "default", s, put(2_050, HOUR, 0.9, -2))
    h2 = 2 * HOUR
    add("near_expiry_strangle_2h", "wide", s, call(2_050, h2, 1.1, -1), put(1_950, h2, 1.2, -1))
    add("long_dated_long_call_1y", "default", s, call(2_500, YEAR_SEC, 0.7, 3))
    add("long_dated_short_put_1y", "default", s, put(1_500, YEAR_SEC, 0.8, -3))

    # expired positions (T = 0): intrinsic in every scenario, no short minimum
    add("expired_short_call_itm", "default", s, call(1_900, 0, 0.6, -2))
    add("expired_long_put_otm", "default", s, put(1_900, 0, 0.6, 2))
    expired_mix = (put(2_100, 0, 0.6, -1), call(2_000, m, 0.6, -1), call(1_950, 0, 0.6, 1))
    add("expired_and_live_mix", "default", s, *expired_mix)

    # deep in / out of the money
    add("deep_itm_short_call", "default", s, call(600, m, 0.6, -1))
    add("deep_otm_short_call", "default", s, call(6_000, m, 0.6, -10))
    add("deep_itm_long_put", "default", s, put(6_000, 90 * DAY, 0.5, 1))
    add("deep_otm_short_put", "default", s, put(600, 90 * DAY, 0.9, -10))

    # vol extremes
    add("low_vol_short_straddle", "default", s, call(2_000, m, 0.1, -1), put(2_000, m, 0.1, -1))
    add("high_vol_short_call", "default", s, call(2_200, m, 3.0, -1))
    add("high_vol_long_put_1y", "default", s, put(1_800, YEAR_SEC, 3.0, 1))

    # other parameter sets
    add("flat_short_call", "flat", s, call(2_100, m, 0.6, -1))
    add("flat_mixed", "flat", 1_000.0, *(rand_pos(1_000.0) for _ in range(4)))
    add("steep_short_put_1d", "steep", s, put(1_990, DAY, 0.6, -1))
    d3 = 3 * DAY
    add("steep_short_straddle_3d", "steep", s, call(2_000, d3, 0.5, -1), put(2_000, d3, 0.5, -1))
    add("steep_mixed", "steep", 300.0, *(rand_pos(300.0) for _ in range(5)))
    add("wide_mixed", "wide", 40_000.0, *(rand_pos(40_000.0, HOUR, 90 * DAY) for _ in range(3)))
    add("wide_long_call_60d", "wide", s, call(2_000, 60 * DAY, 0.6, 1))
    return books


def _expected(spot: int, positions: list[list[Any]], params: MarginParams) -> dict[str, float]:
    cols = list(zip(*positions, strict=True)) if positions else [()] * 5
    strike, t_sec, vol, is_call, size = cols
    result = portfolio_margin(
        spot / WAD,
        [k / WAD for k in strike],
        [float(t) for t in t_sec],
        [v / WAD for v in vol],
        list(is_call),
        [z / WAD for z in size],
        params,
    )
    return {"value": result.value, "mm": result.mm, "im": result.im}


def build_vectors() -> dict[str, Any]:
    """All vectors, as written to margin_vectors.json."""
    rng = random.Random(SEED)
    vectors = []
    for name, pname, spot_usd, positions in _books(rng):
        params = PARAM_SETS[pname]
        spot = _wad(spot_usd)
        vectors.append(
            {
                "name": name,
                "params": pname,
                "params_chain": list(params.to_chain()),
                "spot": spot,
                "positions": positions,
                "expected": _expected(spot, positions, params),
            }
        )
    return {
        "generator": "tests/vectors/make_margin_vectors.py",
        "seed": SEED,
        "units": {
            "spot": "1e18 = 1 USD",
            "positions": "[strike 1e18 = 1 USD, t_sec seconds, vol 1e18 = 100%, is_call, "
            "size 1e18 = 1 contract (negative = short)]",
            "params_chain": "MarginEngine.MarginParams tuple, see risk/params.py",
            "expected": "USD floats from risk/margin.py: value (signed), mm, im",
        },
        "param_sets": {k: p.to_dict() for k, p in PARAM_SETS.items()},
        "vectors": vectors,
    }


def main() -> None:
    data = build_vectors()
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {len(data['vectors'])} vectors to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
