"""The LPs' hedging desk: delta-hedges the pool's option book on an external venue.

The venue is off-chain (a perp or spot exchange), so the desk sends no transactions; its
position and P&L are the model's to report. Each step it

1. marks its hedge to the venue's price (path spot),
2. measures the pool's net delta with the risk engine (Black-Scholes at the oracle's spot
   and vols: the pool holds minus the sum of every account's positions),
3. trades toward delta-neutral when the exposure is outside a band (a share of NAV), as
   much as the venue's depth lets it, paying

       slippage = |q| x spot x (base + impact x |q| x spot / (depth x liquidity))

   where liquidity = path.liquidity (1 normal, near 0 in a crash).

The model's delta is taken at the oracle's spot and vols: when the oracle lags or the
venue's liquidity vanishes, which is when the hedge matters most, it trades late, small
and expensive.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

from risk.greeks import black_scholes

if TYPE_CHECKING:
    from agents.view import MarketView

MIN_LIQUIDITY = 0.01  # the venue never has no depth at all: slippage stays finite


def book_delta(
    spot: float,
    strike: np.ndarray,
    t_sec: np.ndarray,
    vol: np.ndarray,
    is_call: np.ndarray,
    size: np.ndarray,
) -> float:
    """Net delta (units of the underlying) of `size` contracts of each option."""
    if len(size) == 0:
        return 0.0
    g = black_scholes(spot, strike, t_sec, vol, is_call, second_order=False)
    return float(np.dot(g.delta, size))


def pool_delta(model: MarketView) -> float:
    """The pool's net delta at the oracle's spot and vols: it holds the opposite of every
    account's positions (series not yet expired)."""
    m, spot = model, model.oracle.spot or model.spot
    live = [
        (m.index.series[sid], q)
        for sid, q in m.pool_positions().items()
        if q != 0 and sid in m.index.series and m.index.series[sid].expiry > m.now
    ]
    if not live:
        return 0.0
    iv = float(m.path.reference_iv[m.step_index])
    return book_delta(
        spot,
        np.array([s.strike for s, _ in live]),
        np.array([float(s.expiry - m.now) for s, _ in live]),
        np.array([m.oracle.vol_of.get(s.expiry) or iv for s, _ in live]),
        np.array([s.is_call for s, _ in live]),
        np.array([q for _, q in live]),
    )


def slippage_cost(
    units: float, spot: float, base: float, impact: float, depth_usd: float, liquidity: float
) -> float:
    """USD cost of trading `units` on the venue (formula in the module docstring)."""
    notional = abs(units) * spot
    depth = depth_usd * max(liquidity, MIN_LIQUIDITY)
    return notional * (base + impact * notional / depth)


class PoolHedger(mesa.Agent):
    """The hedging desk (no account: see the module docstring).

    Args:
        band: the exposure left unhedged, as a share of pool NAV (0.02 = 2%).
        base_slippage: cost of a small trade, fraction of notional.
        impact: extra cost per unit of notional / available depth.
        depth_usd: the venue's depth in normal times.
        max_depth_share: the most of the available depth it takes in one step.
    """

    model: MarketView

    def __init__(
        self,
        model: MarketView,
        band: float = 0.02,
        base_slippage: float = 0.0005,
        impact: float = 0.1,
        depth_usd: float = 5_000_000.0,
        max_depth_share: float = 0.25,
    ):
        super().__init__(model)
        self.band = band
        self.base_slippage = base_slippage
        self.impact = impact
        self.depth_usd = depth_usd
        self.max_depth_share = max_depth_share
        self.position = 0.0  # units of the underlying on the venue
        self.trading_pnl = 0.0  # mark to market of the position, USD
        self.slippage = 0.0  # USD paid, cumulative
        self.delta = 0.0  # the pool's, at the last measurement
        self.trades = 0
        self.last_spot = model.spot

    @property
    def pnl(self) -> float:
        return self.trading_pnl - self.slippage

    def step(self) -> None:
        self.mark()
        self.delta = self.measure_delta()
        order = self.order_size(self.delta)
        if order != 0.0:
            self.execute(order)

    def mark(self) -> None:
        """The hedge's gain or loss since the last step, at the venue's price."""
        spot = self.model.spot
        self.trading_pnl += self.position * (spot - self.last_spot)
        self.last_spot = spot

    def measure_delta(self) -> float:
        return pool_delta(self.model)

    def liquidity(self) -> float:
        return float(self.model.path.liquidity[self.model.step_index])

    def order_size(self, delta: float) -> float:
        """Units to trade: nothing inside the band; outside it, all the way to neutral, but
        no more than `max_depth_share` of what the venue can take now."""
        spot = self.model.spot
        exposure = delta + self.position
        band_units = self.band * max(self.model.pool_nav, 0.0) / spot
        if abs(exposure) <= band_units:
            return 0.0
        cap = self.max_depth_share * self.depth_usd * max(self.liquidity(), MIN_LIQUIDITY) / spot
        return float(np.clip(-exposure, -cap, cap))

    def cost(self, units: float) -> float:
        return slippage_cost(
            units,
            self.model.spot,
            self.base_slippage,
            self.impact,
            self.depth_usd,
            self.liquidity(),
        )

    def execute(self, units: float) -> None:
        self.slippage += self.cost(units)
        self.position += units
        self.trades += 1
