"""The simulation's traders, LPs and hedging desk: each decision rule on a fake market.

`FakeMarket` is the part of OptionsMarketModel the agents read (series, positions, the
oracle, the pool, the outside sim's path), set by hand, and records what they send
instead of mining it. No chain: each test states a sim and checks the one decision the
rule should take in it, and that the opposite sim gives the opposite decision.
"""

from __future__ import annotations

from types import SimpleNamespace

import mesa
import numpy as np
import pytest

from agents.hedging import PoolHedger, book_delta, pool_delta, slippage_cost
from agents.liquidity import LiquidityProvider
from agents.traders import DirectionalTrader, PutHedger, VolTrader
from agents.view import OracleView
from onchain.accounts import AccountIndex, SeriesInfo
from onchain.blocks import TxOutcome, TxRequest
from onchain.events import Event
from risk.greeks import black_scholes
from risk.params import MarginParams, PoolParams
from risk.units import DAY, HOUR, USDC, WAD
from sims.config import SimConfig, SimConfigError
from sims.model import OptionsMarketModel

T0 = 1_900_000_000
POOL = "0x" + "50" * 20
MARKET = "0x" + "4d" * 20
TRADER = "0x" + "a1" * 20
OTHER = "0x" + "b2" * 20


class FakeMarket(mesa.Model):
    """What agents read of the model, set by hand; `sent` holds their transactions."""

    def __init__(self, spot: float = 2_000.0, iv: float = 0.6, steps: int = 48, seed: int = 1):
        super().__init__(rng=seed)
        self.cfg = SimConfig()
        self.now = T0
        self.step_index = 0
        self.spot = spot
        n = steps + 1
        self.path = SimpleNamespace(
            spot=np.full(n, spot),
            reference_iv=np.full(n, iv),
            lp_stress=np.zeros(n),
            liquidity=np.ones(n),
        )
        self.oracle = OracleView(spot=spot)
        self.index = AccountIndex()
        self.pool = {"nav": 1_000_000.0, "gross": 0.0, "share_price": 1.0}
        self.params = {"margin": MarginParams(), "pool": PoolParams()}
        self.addresses = {"pool": POOL}
        self.sent: list[SimpleNamespace] = []

    # the model's interface
    signal = OptionsMarketModel.signal

    def send(self, agent, contract, method, *args, tip_gwei=0.0, label=None):
        self.sent.append(SimpleNamespace(agent=agent, contract=contract, method=method, args=args))

    def tradeable_series(self) -> list[int]:
        return [sid for sid, s in self.index.series.items() if s.expiry > self.now + HOUR]

    def pool_positions(self) -> dict[int, float]:
        net: dict[int, float] = {}
        for book in self.index.positions.values():
            for sid, q in book.items():
                net[sid] = net.get(sid, 0.0) - q
        return net

    @property
    def pool_nav(self) -> float:
        return self.pool["nav"]

    def account_margin(self, account: str) -> tuple[float, float, float]:
        return self.index.cash.get(account.lower(), 0.0), 0.0, 0.0

    # set-up helpers
    def list_expiry(self, days: float, strikes_pct=(0.8, 0.9, 1.0, 1.1, 1.2)) -> int:
        """List calls and puts at `strikes_pct` of spot expiring in `days`; returns the expiry."""
        expiry = self.now + int(days * DAY)
        self.oracle.vol_of[expiry] = float(self.path.reference_iv[0])
        for pct in strikes_pct:
            for is_call in (True, False):
                sid = len(self.index.series)
                self.index.series[sid] = SeriesInfo(sid, round(self.spot * pct), expiry, is_call)
        return expiry

    def find(self, expiry: int, strike: float, is_call: bool) -> int:
        return next(
            sid
            for sid, s in self.index.series.items()
            if (s.expiry, s.strike, s.is_call) == (expiry, strike, is_call)
        )

    def hold(self, account: str, sid: int, contracts: float) -> None:
        a = account.lower()
        self.index.positions.setdefault(a, {})[sid] = contracts
        self.index.raw_positions.setdefault(a, {})[sid] = int(contracts * WAD)

    def advance(self, steps: int = 1) -> None:
        self.step_index += steps
        self.now += steps * self.cfg.step_seconds

    def trades(self) -> list[tuple[int, float]]:
        """(series, contracts) of every trade sent, in order."""
        return [(s.args[0], s.args[1] / WAD) for s in self.sent if s.method == "trade"]


@pytest.fixture
def sim() -> FakeMarket:
    return FakeMarket()


# --- the model's signal ---


def test_signal__perfect_quality__is_the_sign_of_the_coming_return(sim):
    sim.path.spot[6] = 2_100.0
    assert all(sim.signal(6, 1.0, sim.random) == 1 for _ in range(50))
    sim.path.spot[6] = 1_900.0
    assert all(sim.signal(6, 1.0, sim.random) == -1 for _ in range(50))


def test_signal__quality__is_the_probability_of_the_right_sign(sim):
    sim.path.spot[6] = 2_100.0
    right = np.mean([sim.signal(6, 0.75, sim.random) == 1 for _ in range(4_000)])
    assert right == pytest.approx(0.75, abs=0.03)


def test_signal__at_the_end_of_the_path__says_nothing(sim):
    sim.step_index = len(sim.path.spot) - 1
    assert sim.signal(6, 1.0, sim.random) == 0


# --- directional trader ---


def directional(sim: FakeMarket) -> DirectionalTrader:
    return DirectionalTrader(sim, TRADER, 20_000.0, activity=1.0, quality=1.0, horizon=6)


def test_directional__bullish_signal__buys_the_call_nearest_the_money(sim):
    expiry = sim.list_expiry(3)
    sim.list_expiry(10)
    sim.path.spot[6] = 2_200.0
    trader = directional(sim)
    trader.step()
    [(sid, contracts)] = sim.trades()
    assert sid == sim.find(expiry, 2_000, True) and contracts > 0
    assert trader.bets == {"call": 1, "put": 0}


def test_directional__bearish_signal__buys_the_put_nearest_the_money(sim):
    expiry = sim.list_expiry(3)
    sim.path.spot[6] = 1_800.0
    trader = directional(sim)
    trader.step()
    [(sid, contracts)] = sim.trades()
    assert sid == sim.find(expiry, 2_000, False) and contracts > 0


def test_directional__spends_its_budget_share_in_premium(sim):
    expiry = sim.list_expiry(3)
    sim.path.spot[6] = 2_200.0
    trader = directional(sim)
    trader.step()
    [(sid, contracts)] = sim.trades()
    price = float(black_scholes(2_000.0, 2_000.0, expiry - T0, 0.6, True).price)
    assert contracts * price == pytest.approx(0.1 * 20_000.0, rel=0.01)


def test_directional__after_the_horizon__closes_the_bet_and_not_before(sim):
    sim.list_expiry(3)
    sim.path.spot[6] = 2_200.0
    trader = directional(sim)
    trader.step()
    [(sid, contracts)] = sim.trades()
    sim.hold(TRADER, sid, contracts)
    sim.sent.clear()
    for _ in range(5):
        sim.advance()
        trader.step()
    assert sim.trades() == []  # holding: one bet at a time, horizon not reached
    sim.advance()
    trader.step()
    assert sim.trades() == [(sid, -contracts)]


def test_directional__expiry_within_the_horizon__is_not_chosen(sim):
    sim.list_expiry(0.2)  # 4.8 hours: the 6-hour bet would outlive it
    sim.path.spot[6] = 2_200.0
    directional(sim).step()
    assert sim.trades() == []


# --- volatility trader ---


def vol_trader(sim: FakeMarket) -> VolTrader:
    trader = VolTrader(sim, TRADER, 20_000.0, 1.0, threshold=0.05, forecast_noise=0.0)
    trader.bias = 0.0
    return trader


def test_vol_trader__side__buys_below_forecast_minus_threshold_and_sells_above(sim):
    trader = vol_trader(sim)
    assert trader.side(bid_vol=0.50, ask_vol=0.52, forecast=0.60) == 1
    assert trader.side(bid_vol=0.68, ask_vol=0.70, forecast=0.60) == -1
    assert trader.side(bid_vol=0.57, ask_vol=0.63, forecast=0.60) == 0
    assert trader.side(bid_vol=0.54, ask_vol=0.56, forecast=0.60) == 0  # gap 4 < 5 points


def test_vol_trader__pool_iv_below_forecast__buys_an_atm_straddle(sim):
    expiry = sim.list_expiry(3)
    sim.oracle.vol_of[expiry] = 0.45  # the outside sim says 0.60
    vol_trader(sim).step()
    call, put = sim.find(expiry, 2_000, True), sim.find(expiry, 2_000, False)
    [(a, qa), (b, qb)] = sim.trades()
    assert {a, b} == {call, put} and qa == qb > 0


def test_vol_trader__pool_iv_above_forecast__sells_the_straddle(sim):
    expiry = sim.list_expiry(3)
    sim.oracle.vol_of[expiry] = 0.80
    trader = vol_trader(sim)
    trader.step()
    [(_, qa), (_, qb)] = sim.trades()
    assert qa == qb < 0 and trader.opened == {"long": 0, "short": 1}


def test_vol_trader__pool_iv_within_spread_and_threshold__does_nothing(sim):
    expiry = sim.list_expiry(3)
    sim.oracle.vol_of[expiry] = 0.58
    vol_trader(sim).step()
    assert sim.trades() == []


def test_vol_trader__spread__widens_the_quoted_vols_around_the_oracle(sim):
    expiry = sim.list_expiry(3)
    sim.pool["gross"] = 250.0  # utilisation 0.5
    trader = vol_trader(sim)
    half = PoolParams().spread_base + PoolParams().spread_util * 0.5
    assert trader.pool_vol(expiry, 1) == pytest.approx(0.6 + half)
    assert trader.pool_vol(expiry, -1) == pytest.approx(0.6 - half)


def test_vol_trader__gap_closed__closes_the_straddle_and_not_before(sim):
    expiry = sim.list_expiry(3)
    sim.oracle.vol_of[expiry] = 0.45
    trader = vol_trader(sim)
    trader.step()
    for sid, q in sim.trades():
        sim.hold(TRADER, sid, q)
    sim.sent.clear()
    sim.advance()
    trader.step()
    assert sim.trades() == []  # still 15 points below the forecast
    sim.oracle.vol_of[expiry] = 0.59
    sim.advance()
    trader.step()
    held = sim.index.positions[TRADER]
    assert sorted(sim.trades()) == sorted((sid, -q) for sid, q in held.items())


# --- put hedger ---


def put_hedger(sim: FakeMarket) -> PutHedger:
    return PutHedger(sim, TRADER, 20_000.0, spot_usd=100_000.0)


def test_put_hedger__unprotected__buys_a_put_per_unit_at_90pct_of_nearest_expiry_over_2_days(
    sim,
):
    sim.list_expiry(1.5)  # too close
    expiry = sim.list_expiry(3)
    sim.list_expiry(10)
    put_hedger(sim).step()
    assert sim.trades() == [(sim.find(expiry, 1_800, False), 50.0)]


def test_put_hedger__protected__does_nothing(sim):
    expiry = sim.list_expiry(3)
    hedger = put_hedger(sim)
    sim.hold(TRADER, sim.find(expiry, 1_800, False), 50.0)
    hedger.step()
    assert sim.trades() == []


def test_put_hedger__put_within_a_day_of_expiry__rolls_into_the_next_expiry(sim):
    near = sim.list_expiry(3)
    hedger = put_hedger(sim)
    old = sim.find(near, 1_800, False)
    sim.hold(TRADER, old, 50.0)
    sim.advance(48)  # 24 hours left
    far = sim.list_expiry(7)
    hedger.step()
    assert sim.trades() == [(old, -50.0), (sim.find(far, 1_800, False), 50.0)]
    assert hedger.rolls == 1


def test_put_hedger__pnl__is_the_holding_plus_the_account(sim):
    hedger = put_hedger(sim)
    sim.spot = 1_600.0
    sim.index.cash[TRADER] = 20_000.0 + 9_000.0  # the puts paid out
    assert hedger.pnl() == pytest.approx(50 * -400.0 + 9_000.0)


# --- liquidity provider ---


def lp_in_pool(sim: FakeMarket, shares: int = 250_000 * WAD) -> LiquidityProvider:
    lp = LiquidityProvider(sim, TRADER, 250_000.0, run_fear=0.6, calm_fear=0.2)
    lp.shares, lp.wallet, lp.peak = shares, 0.0, 1.0
    return lp


def test_lp__fear_above_its_threshold__redeems_every_share(sim):
    lp = lp_in_pool(sim)
    sim.path.lp_stress[0] = 0.7
    lp.step()
    [tx] = sim.sent
    assert (tx.contract, tx.method, tx.args) == ("pool", "redeem", (250_000 * WAD,))
    assert lp.runs == 1


def test_lp__fear_below_its_threshold__stays(sim):
    lp = lp_in_pool(sim)
    sim.path.lp_stress[0] = 0.5
    lp.step()
    assert sim.sent == []


def test_lp__out_and_calm_after_cooldown__deposits_its_wallet(sim):
    lp = LiquidityProvider(sim, TRADER, 250_000.0, calm_fear=0.2, cooldown=12)
    lp.left_at = 0
    sim.advance(11)
    lp.step()
    assert sim.sent == []  # cooling down
    sim.advance()
    sim.path.lp_stress[12] = 0.3
    lp.step()
    assert sim.sent == []  # not calm yet
    sim.path.lp_stress[12] = 0.1
    lp.step()
    [tx] = sim.sent
    assert (tx.method, tx.args) == ("deposit", (250_000 * USDC,))


def test_lp__drawdown_past_its_limit__leaves(sim):
    lp = lp_in_pool(sim)
    lp.max_drawdown = 0.05
    sim.pool["share_price"] = 0.96
    lp.step()
    assert sim.sent == []
    sim.pool["share_price"] = 0.94
    lp.step()
    assert [tx.method for tx in sim.sent] == ["redeem"]


def test_lp__trailing_yield_below_hurdle__leaves(sim):
    lp = lp_in_pool(sim)
    lp.lookback, lp.hurdle, lp.max_drawdown = 4, 0.0, 1.0
    for price in (1.0, 1.001, 1.002, 1.003):
        sim.pool["share_price"] = price
        lp.step()
    sim.pool["share_price"] = 1.0005  # up over the lookback: stays
    lp.step()
    assert sim.sent == []
    sim.pool["share_price"] = 0.9995  # below where it was 4 steps ago
    lp.step()
    assert [tx.method for tx in sim.sent] == ["redeem"]


def test_lp__pool_events__move_shares_and_wallet_and_market_events_do_not(sim):
    lp = LiquidityProvider(sim, TRADER, 250_000.0)
    request = TxRequest(TRADER, POOL, "0x", 0, label="pool_deposit")
    deposit = Event(
        "Deposit",
        {"sender": TRADER, "owner": TRADER, "assets": 100 * USDC, "shares": 100 * WAD},
        POOL,
        0,
    )
    market_deposit = Event(
        "Deposit", {"account": POOL, "sender": POOL, "amount": 100 * USDC}, MARKET, 1
    )
    lp.on_outcome(TxOutcome(request, "0x1", status=1, events=[market_deposit, deposit]))
    assert (lp.shares, lp.wallet, lp.in_pool) == (100 * WAD, 249_900.0, True)
    withdraw = Event(
        "Withdraw",
        {
            "sender": TRADER,
            "receiver": TRADER,
            "owner": TRADER,
            "assets": 101 * USDC,
            "shares": 100 * WAD,
        },
        POOL,
        0,
    )
    lp.on_outcome(TxOutcome(request, "0x2", status=1, events=[withdraw]))
    assert (lp.shares, lp.wallet, lp.in_pool) == (0, 250_001.0, False)


def test_lp__reverted_redemption__is_counted_and_retried(sim):
    lp = lp_in_pool(sim)
    sim.path.lp_stress[:] = 1.0
    lp.step()
    failed = TxRequest(TRADER, POOL, "0x", 0, label="redeem")
    lp.on_outcome(TxOutcome(failed, "0x1", status=0, reason="sim: below initial margin"))
    assert lp.failed_redemptions == 1 and lp.in_pool
    sim.advance()
    lp.step()
    assert [tx.method for tx in sim.sent] == ["redeem", "redeem"]


# --- pool hedger ---


def test_slippage__same_trade__costs_more_when_liquidity_drops():
    normal = slippage_cost(100.0, 2_000.0, 0.0005, 0.1, 5_000_000.0, 1.0)
    crash = slippage_cost(100.0, 2_000.0, 0.0005, 0.1, 5_000_000.0, 0.2)
    # 200k notional: 0.05% + 0.1 x 200k / 5M = 0.45% normally, 0.05% + 2% at a fifth of depth
    assert normal == pytest.approx(200_000 * 0.0045)
    assert crash == pytest.approx(200_000 * 0.0205)
    assert slippage_cost(-100.0, 2_000.0, 0.0005, 0.1, 5e6, 1.0) == pytest.approx(normal)


def test_book_delta__matches_a_finite_difference_of_the_value():
    strike, t, vol = (
        np.array([1_800.0, 2_200.0]),
        np.array([3 * DAY, 10 * DAY]),
        np.array([0.6, 0.7]),
    )
    is_call, size = np.array([False, True]), np.array([-10.0, 4.0])

    def value(s: float) -> float:
        return float(np.dot(black_scholes(s, strike, t, vol, is_call).price, size))

    fd = (value(2_000.01) - value(1_999.99)) / 0.02
    assert book_delta(2_000.0, strike, t, vol, is_call, size) == pytest.approx(fd, rel=1e-6)


def test_pool_delta__is_minus_the_accounts_delta(sim):
    expiry = sim.list_expiry(3)
    call = sim.find(expiry, 2_000, True)
    sim.hold(TRADER, call, 10.0)
    sim.hold(OTHER, call, 5.0)
    one = float(black_scholes(2_000.0, 2_000.0, 3 * DAY, 0.6, True).delta)
    assert pool_delta(sim) == pytest.approx(-15.0 * one)


def test_pool_hedger__inside_the_band__does_not_trade(sim):
    hedger = PoolHedger(sim, band=0.02)  # 2% of 1M NAV = 10 units at 2000
    assert hedger.order_size(8.0) == 0.0
    assert hedger.order_size(12.0) == pytest.approx(-12.0)
    assert hedger.order_size(-12.0) == pytest.approx(12.0)


def test_pool_hedger__order__is_capped_by_the_depth_left(sim):
    hedger = PoolHedger(sim, band=0.0, depth_usd=1_000_000.0, max_depth_share=0.25)
    assert hedger.order_size(100.0) == pytest.approx(-100.0)  # 200k < 250k
    sim.path.liquidity[0] = 0.2
    assert hedger.order_size(100.0) == pytest.approx(-25.0)  # 50k of depth to take


def test_pool_hedger__step__hedges_to_neutral_and_marks_to_market(sim):
    expiry = sim.list_expiry(3)
    sim.hold(TRADER, sim.find(expiry, 2_000, True), -200.0)  # the pool is long calls
    hedger = PoolHedger(sim, band=0.0)
    hedger.step()
    assert hedger.position == pytest.approx(-pool_delta(sim))
    assert hedger.slippage == pytest.approx(hedger.cost(hedger.position))
    units = hedger.position
    sim.advance()
    sim.spot = 1_900.0
    hedger.mark()
    assert hedger.pnl == pytest.approx(units * -100.0 - hedger.slippage)


def test_pool_hedger__same_book_in_a_crash__pays_more_slippage():
    paid = []
    for liquidity in (1.0, 0.2):
        m = FakeMarket()
        expiry = m.list_expiry(3)
        m.hold(TRADER, m.find(expiry, 1_800, False), 300.0)
        m.path.liquidity[0] = liquidity
        hedger = PoolHedger(m, band=0.0, max_depth_share=1.0)
        hedger.step()
        paid.append(hedger.slippage)
    assert paid[1] > paid[0] > 0


# --- configuration ---


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("lps", -1, "lps = -1 outside allowed range [0, 2000]"),
        ("signal_quality", 0.4, "signal_quality = 0.4 outside allowed range [0.5, 1.0]"),
        ("vol_traders", 2.5, "vol_traders = 2.5: expected an integer"),
        ("pool_hedger", "yes", "pool_hedger = 'yes': expected true or false"),
        ("hedge_band", 2.0, "hedge_band = 2.0 outside allowed range [0.0, 1.0]"),
    ],
)
def test_config__bad_agent_setting__names_the_field(field, value, message):
    with pytest.raises(SimConfigError, match=message.replace("[", r"\[").replace(".", r"\.")):
        SimConfig.from_dict({field: value})


def test_config__n_accounts__counts_every_agent_with_an_account():
    cfg = SimConfig.from_dict(
        {
            "writers": 1,
            "noise_traders": 1,
            "liquidators": 1,
            "directional": 2,
            "vol_traders": 3,
            "put_hedgers": 4,
            "lps": 5,
            "pool_hedger": True,
        }
    )
    assert cfg.n_accounts() == 2 + 1 + 1 + 1 + 2 + 3 + 4 + 5  # the desk has no account
