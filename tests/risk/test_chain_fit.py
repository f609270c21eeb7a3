"""SVI on the shipped real Deribit ETH chain (risk/chain_fit.py): the quotes it keeps, the
vols it solves, and how well the bid/ask-weighted fit sits inside the market."""

from __future__ import annotations

import numpy as np
import pytest

from risk.chain_fit import chain_quotes, fit_chain
from risk.market_data import read_option_chain
from risk.pricing import bs_price

CHAIN = "data/market/ETH_deribit_chain_2025-11-22T0215Z_4_expiries.csv"


@pytest.fixture(scope="module")
def chain():
    return read_option_chain(CHAIN)


def test_quotes_are_the_out_of_the_money_two_sided_ones(chain):
    q = chain_quotes(chain)
    assert len(q) > 150
    calls = q["strike"] >= q["forward"]
    assert (q["bid_iv"] < q["mid_iv"]).all() and (q["mid_iv"] < q["ask_iv"]).all()
    # each bid vol reprices the bid: Black-76 on the forward is Black-Scholes at zero rates
    # with spot = forward (risk.pricing is the float64 reference)
    k = 0
    for row in q.itertuples():
        is_call = row.strike >= row.forward
        match = (chain.strike == row.strike) & (chain.forward == row.forward)
        match &= chain.is_call == is_call
        (i,) = np.flatnonzero(match)
        price = float(bs_price(row.forward, row.strike, row.t_sec, row.bid_iv, is_call))
        assert price == pytest.approx(chain.bid[i], rel=1e-7)
        k += 1
    assert k == len(q) and calls.any() and (~calls).any()


def test_svi_sits_inside_the_bid_ask_with_no_arbitrage_on_the_grid(chain):
    surface, report, calendar = fit_chain(chain)
    assert len(report) == 4 and report["converged"].all()
    assert (report["rmse_vol_pts"] < 1.5).all()  # measured 0.14 to 1.02
    assert (report["inside_bid_ask"] >= 0.95).all()  # measured 0.964 to 1.0
    assert (report["butterfly"] == 0).all() and calendar.empty
    assert report["expiry_days"].tolist() == pytest.approx(
        [(e - chain.snapshot) / 86_400 for e in chain.expiries()], abs=1e-9
    )
    assert surface.slices[0].t_years == pytest.approx(report["expiry_days"][0] / 365)
