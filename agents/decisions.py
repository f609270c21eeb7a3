"""Keepers' decisions as pure functions: one module, two drivers.

The simulation's keeper agents (agents/keepers.py) and the live keeper bots (keepers/)
call the same rules here, so what a simulation says a keeper would do is what the bot
does on a real network.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from risk.units import ETH_PER_GWEI, HOUR


def oracle_update_due(
    now: int, last_update: int, last_spot: float, spot: float, heartbeat: int, deviation: float
) -> bool:
    """Push when the heartbeat has passed or spot moved more than `deviation` (relative)."""
    if last_update == 0 or last_spot <= 0:
        return True
    return now - last_update >= heartbeat or abs(spot / last_spot - 1.0) >= deviation


def clamp_to_deviation(spot: float, last_spot: float, max_deviation: float) -> float:
    """The closest price to `spot` that the oracle accepts in one update (its max deviation),
    so a crash is reported in steps instead of being refused."""
    if last_spot <= 0:
        return spot
    lo, hi = last_spot * (1.0 - max_deviation), last_spot * (1.0 + max_deviation)
    return min(max(spot, lo * 1.000001), hi * 0.999999)


def liquidation_fraction(
    equity: float, mm: float, discount: float, im_factor: float, buffer: float
) -> float:
    """The fraction the market takes over (OptionMarket.liquidate):
    f = min(1, ((1+b) k MM - E) / (((1+b) k - d) MM)), 1 when equity <= 0."""
    if mm <= 0:
        return 0.0
    if equity <= 0:
        return 1.0
    target = (1.0 + buffer) * im_factor
    return min(1.0, max(0.0, (target * mm - equity) / ((target - discount) * mm)))


def liquidation_reward(equity: float, mm: float, discount: float, fraction: float) -> float:
    """What the liquidator gains at mark (OptionMarket.liquidate): f d MM, capped at the
    taken share f E of a positive equity, so that no liquidation, whole or in parts,
    turns it into bad debt."""
    reward = fraction * discount * mm
    return min(reward, fraction * equity) if equity > 0 else reward


def liquidation_profit(
    equity: float,
    mm: float,
    discount: float,
    im_factor: float,
    buffer: float,
    gas_units: float,
    gas_price_gwei: float,
    gas_token_usd: float,
    slippage: float = 0.0,
    hedge_notional: float = 0.0,
) -> float:
    """Expected USD profit of liquidating now: the reward (liquidation_reward) minus gas and
    the cost of unwinding the f share of the account's delta (slippage x f x hedge
    notional)."""
    f = liquidation_fraction(equity, mm, discount, im_factor, buffer)
    reward = liquidation_reward(equity, mm, discount, f)
    gas = gas_units * gas_price_gwei * ETH_PER_GWEI * gas_token_usd
    return reward - gas - slippage * f * hedge_notional


def liquidation_candidates(equity: np.ndarray, mm: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """Indices of accounts with positions whose equity is below MM (1 - margin) (most
    underwater first, by equity / MM)."""
    below = np.flatnonzero((mm > 0) & (equity < mm * (1.0 - margin)))
    ratio = equity[below] / mm[below]
    return below[np.argsort(ratio, kind="stable")]


def bid_tip_gwei(
    profit_usd: float, gas_units: float, gas_token_usd: float, share: float, cap: float
) -> float:
    """Priority fee to bid (gwei): give up `share` of the expected profit to land first,
    capped. Competing keepers bid up to their profit, as on mainnet."""
    if profit_usd <= 0 or gas_units <= 0:
        return 0.0
    per_gas_usd = share * profit_usd / gas_units
    return float(min(cap, per_gas_usd / (ETH_PER_GWEI * gas_token_usd)))


def settle_candidates(
    positions: dict[str, dict[int, float]],
    expiry_of: dict[int, int],
    settled_price: dict[int, float],
    now: int,
) -> list[tuple[str, int]]:
    """(account, series) pairs whose expiry is past and whose settlement price is fixed."""
    out = []
    for account, book in positions.items():
        for sid, size in book.items():
            expiry = expiry_of.get(sid)
            if (
                size != 0
                and expiry is not None
                and expiry <= now
                and settled_price.get(expiry, 0) > 0
            ):
                out.append((account, sid))
    return out


def retirable_series(
    live: Iterable[int],
    positions: dict[str, dict[int, float]],
    expiry_of: dict[int, int],
    settled_price: dict[int, float],
    now: int,
) -> list[int]:
    """Live series to drop from the market's live list (`retire_series`): past expiry,
    settlement price fixed, and held by no account (so by the pool neither: its position
    is minus the accounts'). Retiring frees a slot of the 32 live series for listing."""
    held = {sid for book in positions.values() for sid, size in book.items() if size != 0}
    return [
        sid
        for sid in live
        if sid not in held
        and sid in expiry_of
        and expiry_of[sid] <= now
        and settled_price.get(expiry_of[sid], 0) > 0
    ]


def market_limit(size: int) -> int:
    """The limit price (1e18 = 1 USD per contract) of a trade that takes the pool's quote,
    whatever it is: no cap on a buy (size > 0), no floor on a sale."""
    return 10**30 if size > 0 else 0


def unwind_orders(positions: dict[int, int], tradeable: set[int]) -> list[tuple[int, int]]:
    """(series id, size) trades that close the keeper's positions (1e18 units, exactly: dust
    would still take one of an account's 8 position slots) in the series still tradeable;
    positive sizes buy back what the keeper is short, negative ones sell what it is long."""
    return [(sid, -size) for sid, size in positions.items() if size != 0 and sid in tradeable]


MAX_POSITIONS = 8  # OptionMarket.MAX_POSITIONS: series an account may hold at once


def slots_after_taking(held: Iterable[int], taken: Iterable[int]) -> set[int] | None:
    """The series a liquidator holds after taking over an account's positions (it receives
    a share of every one), or None when that exceeds MAX_POSITIONS: the liquidation would
    revert with "market: too many positions"."""
    after = set(held) | set(taken)
    return after if len(after) <= MAX_POSITIONS else None


def hours_since(now: int, then: int) -> float:
    return max(0.0, (now - then) / HOUR) if then else math.inf
