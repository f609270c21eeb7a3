"""onchain/accounts.py: the off-chain account index margins books as the contract does."""

from __future__ import annotations

import numpy as np
import pytest

from onchain.accounts import AccountIndex, SeriesInfo
from risk.margin import portfolio_margin
from risk.params import MarginParams
from risk.units import DAY

NOW = 1_900_000_000


def _index() -> AccountIndex:
    idx = AccountIndex()
    idx.series = {
        0: SeriesInfo(0, 2_000.0, NOW - 60, True),  # expired a minute ago
        1: SeriesInfo(1, 1_800.0, NOW + 7 * DAY, False),
    }
    idx.cash = {"0xa": 150.0, "0xb": 5_000.0}
    idx.positions = {"0xa": {0: -1.0}, "0xb": {0: -1.0, 1: 2.0}}
    return idx


def test_book__settled_position__is_its_payoff_in_cash_with_no_margin():
    """OptionMarket._engine_position: once the settlement price is fixed, an expired
    position is worth its payoff at that price and carries no margin."""
    idx = _index()
    equity, m = idx.margins(
        ["0xa"], 2_400.0, {NOW + 7 * DAY: 0.6}, NOW, MarginParams(), {NOW - 60: 2_100.0}
    )
    assert equity[0] == pytest.approx(150.0 - 100.0)  # short call, 100 in the money at 2,100
    assert m.mm[0] == 0.0  # healthy, whatever spot does now


def test_book__expired_without_settlement_price__margined_at_intrinsic():
    idx = _index()
    equity, m = idx.margins(["0xa"], 2_400.0, {}, NOW, MarginParams(), {})
    ref = portfolio_margin(2_400.0, [2_000.0], [0.0], [0.0], [True], [-1.0], MarginParams())
    assert equity[0] == pytest.approx(150.0 + ref.value)
    assert m.mm[0] == pytest.approx(ref.mm)


def test_book__mixed_account__live_part_margined_settled_part_in_cash():
    idx = _index()
    vols = {NOW + 7 * DAY: 0.6}
    equity, m = idx.margins(["0xb"], 2_000.0, vols, NOW, MarginParams(), {NOW - 60: 1_900.0})
    ref = portfolio_margin(2_000.0, [1_800.0], [7.0 * DAY], [0.6], [False], [2.0], MarginParams())
    assert equity[0] == pytest.approx(5_000.0 + 0.0 + ref.value)  # the call expired worthless
    assert m.mm[0] == pytest.approx(ref.mm)
    assert np.isfinite(m.im[0])
