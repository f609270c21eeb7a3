"""Traders: leveraged option writers, noise traders, directional traders with a signal,
volatility traders with a forecast, and hedgers who insure a spot holding with puts.

Each agent owns one account on the market and queues its trades for the step's block; a
revert (not enough margin, a cap, an expired series) is counted, never fatal. Agents see
the chain as of the last block (the model's index, oracle and pool views) and the outside
market only through what the model hands them (a directional trader's signal, a vol
trader's forecast).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import mesa

from agents import decisions
from risk.greeks import black_scholes
from risk.units import DAY, HOUR, WAD

if TYPE_CHECKING:
    from agents.view import MarketView

MAX_HELD = 7  # the market allows 8 positions per account: keep one slot free


class Trader(mesa.Agent):
    """An account on the market with a chance to act each step."""

    model: MarketView

    def __init__(self, model: MarketView, account: str, capital_usdc: float, activity: float):
        super().__init__(model)
        self.account = account
        self.capital_usdc = capital_usdc
        self.activity = activity  # probability of trading in a step
        self.trades = 0
        self.reverts = 0

    def trade(self, series_id: int, contracts: float) -> None:
        """Buy (contracts > 0) or sell at any price: the market's quote is the price."""
        size = int(round(contracts * 100)) * WAD // 100
        if size == 0:
            return
        limit = decisions.market_limit(size)
        self.model.send(self, "market", "trade", series_id, size, limit, label="trade")

    def close(self, series_id: int) -> None:
        """Trade the whole position in a series back to the pool, to the last unit (dust
        left by a partial liquidation would still take one of the account's 8 slots)."""
        size = self.model.index.raw_positions.get(self.account.lower(), {}).get(series_id, 0)
        if size != 0:
            limit = decisions.market_limit(-size)
            self.model.send(self, "market", "trade", series_id, -size, limit, label="trade")

    def held(self) -> dict[int, float]:
        """Positions as of the last block: {series id: contracts}."""
        return self.model.index.positions.get(self.account.lower(), {})

    def mark(self, series_id: int) -> float:
        """Black-Scholes value of one contract at the oracle's spot and the expiry's vol
        (the pool's mark, without its spread): what sizing by premium needs."""
        m = self.model
        s = m.index.series[series_id]
        t = max(s.expiry - m.now, 60)
        vol = m.oracle.vol_of.get(s.expiry) or float(m.path.reference_iv[m.step_index])
        spot = m.oracle.spot or m.spot
        return float(black_scholes(spot, s.strike, t, vol, s.is_call, second_order=False).price)

    def on_outcome(self, outcome: Any) -> None:
        if outcome.ok:
            self.trades += 1
        else:
            self.reverts += 1


class OptionWriter(Trader):
    """Sells out-of-the-money options for premium while its margin usage is below a target.

    The accounts that end up liquidated when the market runs against them: the higher
    `max_usage` (IM / equity), the thinner the cushion when spot jumps.
    """

    def __init__(self, model, account: str, capital_usdc: float, activity: float, max_usage: float):
        super().__init__(model, account, capital_usdc, activity)
        self.max_usage = max_usage

    def step(self) -> None:
        if self.model.random.random() < self.activity and self.has_room():
            self.sell()

    def has_room(self) -> bool:
        equity, _mm, im = self.model.account_margin(self.account)
        return equity > 0 and im < self.max_usage * equity

    def sell(self) -> None:
        series = self.model.otm_series()
        held = self.model.index.positions.get(self.account.lower(), {})
        if len(held) >= MAX_HELD:  # add to the positions already held
            series = [sid for sid in series if sid in held]
        if not series:
            return
        sid = self.model.random.choice(series)
        # a sale adds roughly spot_shock * spot of IM per contract: aim at a quarter of the room
        contracts = self.capital_usdc / (0.15 * self.model.spot) / 4
        self.trade(sid, -contracts * self.model.random.uniform(0.5, 1.0))


class NoiseTrader(Trader):
    """Buys (and sometimes sells back) options of any live series in small sizes."""

    def step(self) -> None:
        if self.model.random.random() >= self.activity:
            return
        series = self.model.tradeable_series()
        if not series:
            return
        book = self.model.index.positions.get(self.account.lower(), {})
        if len(book) >= MAX_HELD:
            series = [s for s in series if s in book] or series
        sid = self.model.random.choice(series)
        held = book.get(sid, 0.0)
        if held > 0 and self.model.random.random() < 0.3:
            self.trade(sid, -held)  # close
        else:
            self.trade(sid, self.model.random.randint(10, 200) / 100)


class DirectionalTrader(Trader):
    """Bets on the direction of spot with options: calls on a bullish signal, puts on a
    bearish one, held for the signal's horizon and then closed.

    The signal (model.signal) is the sign of spot's return over the next `horizon` steps,
    right with probability `quality`: 0.5 is noise, 1 is foresight. One bet at a time, of
    `budget_share` of its capital in premium, so a bad run of signals costs premiums, not
    margin calls.
    """

    def __init__(
        self,
        model: MarketView,
        account: str,
        capital_usdc: float,
        activity: float,
        quality: float,
        horizon: int,
        budget_share: float = 0.1,
    ):
        super().__init__(model, account, capital_usdc, activity)
        self.quality = quality
        self.horizon = horizon  # steps
        self.budget_share = budget_share
        self.close_at: dict[int, int] = {}  # series id -> step at which the bet is closed
        self.bets = {"call": 0, "put": 0}

    def step(self) -> None:
        self.close_due()
        if not self.close_at and self.model.random.random() < self.activity:
            self.bet(self.read_signal())

    def read_signal(self) -> int:
        """+1 bullish, -1 bearish, 0 nothing to say (the path ends within the horizon)."""
        return self.model.signal(self.horizon, self.quality, self.model.random)

    def bet(self, direction: int) -> None:
        """Buy the option that pays if the signal is right, to be closed after the horizon."""
        if direction == 0:
            return
        sid = self.choose_series(direction)
        if sid is None:
            return
        contracts = (
            self.budget_share * self.capital_usdc / max(self.mark(sid), 1e-3 * self.model.spot)
        )
        self.trade(sid, contracts)
        self.close_at[sid] = self.model.step_index + self.horizon
        self.bets["call" if direction > 0 else "put"] += 1

    def choose_series(self, direction: int) -> int | None:
        """The call (bullish) or put (bearish) nearest the money of the nearest expiry that
        outlives the horizon: the most delta per premium without paying for time it won't use."""
        m = self.model
        after = m.now + self.horizon * m.cfg.step_seconds + HOUR
        want_call = direction > 0
        options = [
            sid
            for sid in m.tradeable_series()
            if m.index.series[sid].is_call == want_call and m.index.series[sid].expiry > after
        ]
        if not options:
            return None
        expiry = min(m.index.series[sid].expiry for sid in options)
        nearest = [sid for sid in options if m.index.series[sid].expiry == expiry]
        return min(nearest, key=lambda sid: abs(m.index.series[sid].strike - m.spot))

    def close_due(self) -> None:
        """Close each bet whose horizon has passed; forget it once the position is gone (or
        its series expired: the settler pays it out)."""
        m = self.model
        held = self.held()
        tradeable = set(m.tradeable_series())
        for sid, due in list(self.close_at.items()):
            opened_before = m.step_index > due - self.horizon  # its block has been mined
            if (opened_before and held.get(sid, 0.0) == 0.0) or sid not in tradeable:
                del self.close_at[sid]
            elif due <= m.step_index:
                self.close(sid)


class VolTrader(Trader):
    """Trades implied vol against its own forecast with at-the-money straddles.

    Its forecast is the outside market's implied vol (path.reference_iv) plus a bias of its
    own (drawn once) and fresh noise each step. It buys a straddle when the pool's ask vol is
    below forecast - threshold, sells one on margin when the pool's bid vol is above
    forecast + threshold, and closes when the pool's mid vol is back within threshold / 2 of
    its forecast, or a day before expiry (it trades vol, not the last day's gamma).
    """

    def __init__(
        self,
        model: MarketView,
        account: str,
        capital_usdc: float,
        activity: float,
        threshold: float,
        forecast_noise: float,
        budget_share: float = 0.2,
        short_usage: float = 0.3,
    ):
        super().__init__(model, account, capital_usdc, activity)
        self.threshold = threshold  # vol points (0.05 = 5)
        self.noise = forecast_noise
        self.bias = model.random.gauss(0.0, forecast_noise)
        self.budget_share = budget_share  # of capital in premium, long
        self.short_usage = short_usage  # of capital in IM, short
        self.straddle: tuple[int, int, int] | None = None  # (call id, put id, +1 long / -1 short)
        self.opened = {"long": 0, "short": 0}

    def step(self) -> None:
        if self.straddle is not None:
            self.close_if_converged()
        elif self.model.random.random() < self.activity:
            self.open_if_mispriced()

    def forecast(self) -> float:
        """Next to the outside market's IV: its own bias and today's noise."""
        m = self.model
        iv = float(m.path.reference_iv[m.step_index])
        return max(0.05, iv + self.bias + m.random.gauss(0.0, self.noise / 2))

    def pool_vol(self, expiry: int, side: int) -> float:
        """The vol the pool quotes near the money for `expiry`: the oracle's vol plus (side
        +1, what a buyer pays) or minus (-1, what a seller gets) the half-spread in vol,
        spread_base + spread_util x utilisation (OptionMarket._quote without its vega term
        and minimum spread: no quote read per series); side 0 is the mid."""
        m = self.model
        vol = m.oracle.vol_of.get(expiry) or float(m.path.reference_iv[m.step_index])
        pp = m.params.get("pool")
        if pp is None or side == 0:
            return vol
        nav = m.pool.get("nav", 0.0)
        util = m.pool.get("gross", 0.0) * m.oracle.spot / nav if nav > 0 else 0.0
        return max(0.0, vol + side * (pp.spread_base + pp.spread_util * util))

    def side(self, bid_vol: float, ask_vol: float, forecast: float) -> int:
        """+1 buy (the pool sells vol too cheap), -1 sell (too dear), 0 leave it."""
        if ask_vol < forecast - self.threshold:
            return 1
        if bid_vol > forecast + self.threshold:
            return -1
        return 0

    def converged(self, mid_vol: float, forecast: float, side: int) -> bool:
        """The gap it traded on has closed (or turned against it)."""
        return side * (forecast - mid_vol) < self.threshold / 2

    def open_if_mispriced(self) -> None:
        pair = self.choose_straddle()
        if pair is None:
            return
        m = self.model
        expiry = m.index.series[pair[0]].expiry
        side = self.side(self.pool_vol(expiry, -1), self.pool_vol(expiry, 1), self.forecast())
        if side == 0:
            return
        contracts = self.size(pair, side)
        for sid in pair:
            self.trade(sid, side * contracts)
        self.straddle = (*pair, side)
        self.opened["long" if side > 0 else "short"] += 1

    def size(self, pair: tuple[int, int], side: int) -> float:
        """Long: `budget_share` of capital in premium. Short: IM of about `short_usage` of
        capital (a short straddle's IM is roughly 2 x spot_shock x spot per contract)."""
        m = self.model
        if side > 0:
            return self.budget_share * self.capital_usdc / max(sum(map(self.mark, pair)), 1.0)
        shock = m.params["margin"].spot_shock if "margin" in m.params else 0.15
        return self.short_usage * self.capital_usdc / (2 * shock * m.spot)

    def choose_straddle(self) -> tuple[int, int] | None:
        """(call, put) at the strike nearest spot of the nearest expiry over a day away."""
        m = self.model
        by_key: dict[tuple[int, float], dict[bool, int]] = {}
        for sid in m.tradeable_series():
            s = m.index.series[sid]
            if s.expiry > m.now + DAY:
                by_key.setdefault((s.expiry, s.strike), {})[s.is_call] = sid
        pairs = [(k, v) for k, v in by_key.items() if len(v) == 2]
        if not pairs:
            return None
        expiry = min(k[0] for k, _ in pairs)
        _, best = min((p for p in pairs if p[0][0] == expiry), key=lambda p: abs(p[0][1] - m.spot))
        return best[True], best[False]

    def close_if_converged(self) -> None:
        m = self.model
        assert self.straddle is not None
        call, put, side = self.straddle
        held = self.held()
        if held.get(call, 0.0) == 0.0 and held.get(put, 0.0) == 0.0:
            self.straddle = None  # closed, liquidated, settled or never filled
            return
        expiry = m.index.series[call].expiry
        tradeable = set(m.tradeable_series())
        if call not in tradeable or put not in tradeable:
            return  # expired: the settler pays it out
        if expiry - m.now < DAY or self.converged(self.pool_vol(expiry, 0), self.forecast(), side):
            self.close(call)
            self.close(put)


class PutHedger(Trader):
    """Holds `spot_usd` worth of the underlying off the market and keeps it insured: one
    put per unit held, struck at `strike_pct` of spot, of the nearest expiry more than
    `min_days` away; a put with less than `roll_days` left is sold back and replaced.

    Its P&L is the spot holding's plus its market account's (premiums, put values, payoffs):
    what the insurance costs in calm markets and pays in a crash.
    """

    def __init__(
        self,
        model: MarketView,
        account: str,
        capital_usdc: float,
        spot_usd: float,
        strike_pct: float = 0.9,
        min_days: float = 2.0,
        roll_days: float = 1.0,
    ):
        super().__init__(model, account, capital_usdc, activity=1.0)
        self.spot0 = model.spot
        self.units = spot_usd / model.spot  # of the underlying, held throughout
        self.strike_pct = strike_pct
        self.min_days = min_days
        self.roll_days = roll_days
        self.rolls = 0

    def step(self) -> None:
        rolled = self.roll()
        self.protect(rolled)

    def covered(self) -> float:
        """Units insured by puts with more than `roll_days` left."""
        m = self.model
        return sum(
            q
            for sid, q in self.held().items()
            if q > 0
            and not m.index.series[sid].is_call
            and m.index.series[sid].expiry - m.now > self.roll_days * DAY
        )

    def roll(self) -> set[int]:
        """Sell back the puts about to expire: the last day's protection is worth little
        and the series soon stops trading. Returns the series sold."""
        m = self.model
        tradeable = set(m.tradeable_series())
        due = {
            sid
            for sid, q in self.held().items()
            if q > 0
            and sid in tradeable
            and not m.index.series[sid].is_call
            and m.index.series[sid].expiry - m.now <= self.roll_days * DAY
        }
        for sid in due:
            self.close(sid)
        self.rolls += bool(due)
        return due

    def protect(self, rolled: set[int] | frozenset[int] = frozenset()) -> None:
        """Buy puts for the uncovered units (a tenth of slack: no trades over dust)."""
        gap = self.units - self.covered()
        if gap < 0.1 * self.units or len(self.held()) - len(rolled) >= MAX_HELD:
            return
        sid = self.choose_put()
        if sid is not None:
            self.trade(sid, gap)

    def choose_put(self) -> int | None:
        """The put nearest `strike_pct` of spot of the nearest expiry over `min_days` away."""
        m = self.model
        puts = [
            sid
            for sid in m.tradeable_series()
            if not m.index.series[sid].is_call
            and m.index.series[sid].expiry > m.now + self.min_days * DAY
        ]
        if not puts:
            return None
        expiry = min(m.index.series[sid].expiry for sid in puts)
        target = self.strike_pct * m.spot
        return min(
            (sid for sid in puts if m.index.series[sid].expiry == expiry),
            key=lambda sid: abs(m.index.series[sid].strike - target),
        )

    def pnl(self) -> float:
        """USD since the start: the holding at the venue's spot, the account at the risk
        engine's equity (cash plus the puts' value) against the capital deposited."""
        equity, _mm, _im = self.model.account_margin(self.account)
        return self.units * (self.model.spot - self.spot0) + equity - self.capital_usdc
