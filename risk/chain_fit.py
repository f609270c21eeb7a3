"""SVI on a real option chain: quotes from an exchange snapshot, a bid/ask-weighted fit per
expiry, and how well it fits measured the way a market maker would.

From a `risk.market_data.OptionChain` (USD prices at each expiry's forward), the quotes
kept are the out-of-the-money ones (puts below the forward, calls at or above it: the
liquid side, as SVI calibrations on listed chains do) with both a bid and an ask. Their
bid and ask implied vols are solved with Black-76 on the forward at zero rates (the
forward carries the carry); the fit targets the mid vol with weights 1 / (ask - bid)^2
(risk.svi.calibrate_surface). Per expiry the report gives:

- rmse_vol_pts: root mean square of (fitted - mid) vol, in vol points (1 = 1%);
- inside_bid_ask: the share of quotes whose fitted vol lies within [bid_iv, ask_iv];
- rmse_vs_mark_pts: the same against the exchange's mark vol, for comparison;
- butterfly: grid points of k in [-1.5, 1.5] where the slice's density is negative;

and the surface's calendar violations (total variance falling with expiry on that grid).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from risk.implied_vol import IVStatus, implied_vol_black76
from risk.market_data import OptionChain
from risk.svi import SviSurface, butterfly_violations, calendar_violations, calibrate_surface
from risk.units import YEAR_SEC

K_GRID = np.linspace(-1.5, 1.5, 301)


def chain_quotes(chain: OptionChain) -> pd.DataFrame:
    """The OTM two-sided quotes of a chain in risk.svi's quotes format, plus mark_iv."""
    otm = np.where(chain.is_call, chain.strike >= chain.forward, chain.strike < chain.forward)
    two_sided = np.isfinite(chain.bid) & np.isfinite(chain.ask) & (chain.bid > 0)
    keep = otm & two_sided
    t_sec = chain.t_sec[keep]
    args = (chain.forward[keep], chain.strike[keep], t_sec, chain.is_call[keep], 0.0)
    bid = implied_vol_black76(chain.bid[keep], *args, errors="flag")
    ask = implied_vol_black76(chain.ask[keep], *args, errors="flag")
    ok = (bid.status == IVStatus.OK) & (ask.status == IVStatus.OK) & (ask.vol > bid.vol)
    quotes = pd.DataFrame(
        {
            "t_sec": t_sec,
            "strike": chain.strike[keep],
            "forward": chain.forward[keep],
            "mid_iv": 0.5 * (bid.vol + ask.vol),
            "bid_iv": bid.vol,
            "ask_iv": ask.vol,
            "mark_iv": chain.mark_iv[keep],
        }
    )
    return quotes[ok].reset_index(drop=True)


def fit_chain(chain: OptionChain) -> tuple[SviSurface, pd.DataFrame, pd.DataFrame]:
    """(surface, per-expiry report, calendar violations) for the chain (module docstring)."""
    quotes = chain_quotes(chain)
    surface = calibrate_surface(quotes.drop(columns="mark_iv"))
    t_years = quotes["t_sec"].to_numpy() / YEAR_SEC
    rows = []
    for s, fit in zip(surface.slices, surface.fits, strict=True):
        q = quotes[np.isclose(t_years, s.t_years, rtol=0, atol=1e-12)]
        k = np.log(q["strike"].to_numpy() / q["forward"].to_numpy())
        fitted = s.implied_vol(k)
        bid, ask, mid = (q[c].to_numpy() for c in ("bid_iv", "ask_iv", "mid_iv"))
        rows.append(
            {
                "expiry_days": s.t_years * 365.0,
                "quotes": len(q),
                "rmse_vol_pts": 100 * float(np.sqrt(np.mean((fitted - mid) ** 2))),
                "inside_bid_ask": float(np.mean((fitted >= bid) & (fitted <= ask))),
                "median_spread_pts": 100 * float(np.median(ask - bid)),
                "rmse_vs_mark_pts": 100
                * float(np.sqrt(np.mean((fitted - q["mark_iv"].to_numpy()) ** 2))),
                "butterfly": len(butterfly_violations(s, K_GRID)),
                "converged": fit.success,
            }
        )
    return surface, pd.DataFrame(rows), calendar_violations(surface, K_GRID)
