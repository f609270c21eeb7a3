"""Stateful property test of the whole protocol (hypothesis RuleBasedStateMachine).

Traders deposit, trade, withdraw; the oracle moves; time passes across expiries; a
keeper liquidates and settles; an LP deposits and redeems. A shadow ledger rebuilt from
the contract's own events checks after every step that:

- the market's token balance equals what it owes: sum of cash + insurance + fees;
- every account's cash, the insurance fund and the fees equal the shadow ledger;
- open interest is conserved: accounts' positions + the pool's position == 0 per series,
  and long_oi / short_oi equal the sums of the accounts' long / short sizes;
- no healthy account can be liquidated, and a liquidatable one always can be;
- the pool's valuation (NAV, vega, gross size), which the market keeps per block and
  updates trade by trade, equals a revaluation from scratch through the MarginEngine, and
  pool_abs_oi equals the sum of the pool's |positions|.

Runs on anvil (ape-foundry): the embedded py-evm chain is ~50x slower on margin-heavy
transactions. OPTSIM_STATEFUL_EXAMPLES sets the number of examples (CI: 200).
"""

from __future__ import annotations

import os

import ape
import pytest
from ape.exceptions import ContractLogicError
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from onchain.reader import Reader, ViewCall
from risk.units import DAY, USDC, WAD

MAX_PRICE = 10**30
EXAMPLES = int(os.environ.get("OPTSIM_STATEFUL_EXAMPLES", "200"))
STEPS = int(os.environ.get("OPTSIM_STATEFUL_STEPS", "12"))

pytestmark = pytest.mark.slow


def test_protocol_invariants(
    chain, market, pool, oracle, token, gov, lp, keeper, accounts, fund, seed_pool, revalue_pool
):
    traders = [accounts[2], accounts[3], accounts[5]]
    seed_pool(300_000)
    fund(keeper, 5_000_000)
    for t in traders:
        token.approve(market, 2**256 - 1, sender=t)
    reader = Reader(chain.provider.uri)

    class Protocol(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.snapshot = chain.snapshot()
            self.actors = [*traders, keeper, pool]
            self.cash = {a.address: market.cash(a) for a in self.actors}
            self.insurance = market.insurance()
            self.fees = market.fees()
            self.spot = 2_000.0
            self.vol = 0.6
            self.series: list[int] = []
            self.expiries: list[int] = []

        @initialize()
        def create_series(self):
            now = chain.pending_timestamp
            self.expiries = [now + 3 * DAY, now + 10 * DAY]
            for expiry in self.expiries:
                for strike, is_call in ((2_000, True), (1_900, False)):
                    market.create_series(strike * WAD, expiry, is_call, sender=gov)
                    self.series.append(market.series_count() - 1)
            self._push(self.spot)

        def teardown(self):
            chain.restore(self.snapshot)

        # --- helpers ---

        def _push(self, spot: float):
            now = chain.pending_timestamp
            live = [e for e in self.expiries if e > now + 60]
            oracle.push(int(spot * WAD), live, [int(self.vol * WAD)] * len(live), sender=gov)
            self.spot = spot

        def _apply(self, tx):
            """Replay the receipt's events into the shadow ledger."""
            share = 5 * 10**17  # insurance_share of deployments/local.yaml
            for log in tx.events:
                name, ev = log.event_name, log.event_arguments
                if name == "Deposit" and log.contract_address == market.address:
                    self.cash[ev["account"]] = self.cash.get(ev["account"], 0) + ev["amount"]
                elif name == "Withdraw" and log.contract_address == market.address:
                    self.cash[ev["account"]] -= ev["amount"]
                elif name == "Trade":
                    premium, fee = ev["premium"], ev["fee"]
                    sign = 1 if ev["size"] > 0 else -1
                    self.cash[ev["account"]] += -sign * premium - fee
                    self.cash[pool.address] += sign * premium
                    to_ins = fee * share // WAD
                    self.insurance += to_ins
                    self.fees += fee - to_ins
                elif name == "Liquidation":
                    self.cash[ev["account"]] -= ev["transfer"]
                    self.cash[ev["liquidator"]] += ev["transfer"]
                elif name == "Settled":
                    self.cash[ev["account"]] += ev["payoff"]
                    self.cash[pool.address] -= ev["payoff"]
                elif name == "BadDebt":
                    self.cash[ev["account"]] += ev["amount"]
                    self.insurance -= ev["from_insurance"]
                    self.cash[pool.address] -= ev["socialised"]
                elif name == "InsuranceFunded":
                    self.insurance += ev["amount"]

        def _try(self, fn, *args, **kwargs):
            try:
                tx = fn(*args, **kwargs)
            except ContractLogicError:
                return None
            self._apply(tx)
            return tx

        # --- rules ---

        @rule(t=st.sampled_from(range(3)), amount=st.integers(10, 20_000))
        def deposit(self, t, amount):
            token.mint(traders[t], amount * USDC, sender=traders[t])
            self._apply(market.deposit(amount * USDC, sender=traders[t]))

        @rule(t=st.sampled_from(range(3)), frac=st.floats(0.05, 1.0))
        def withdraw(self, t, frac):
            amount = int(max(market.cash(traders[t]), 0) * frac)
            if amount > 0:
                self._try(market.withdraw, amount, sender=traders[t])

        @rule(
            t=st.sampled_from(range(3)),
            k=st.integers(0, 3),
            tenths=st.integers(-50, 50).filter(bool),
        )
        def trade(self, t, k, tenths):
            size = tenths * WAD // 10
            limit = MAX_PRICE if size > 0 else 0
            self._try(market.trade, self.series[k], size, limit, sender=traders[t])

        @rule(move=st.floats(-0.2, 0.2), vol_factor=st.floats(0.75, 1.35))
        def move_oracle(self, move, vol_factor):
            self.vol = min(max(self.vol * vol_factor, 0.2), 2.0)
            self._push(round(self.spot * (1 + move), 6))

        @rule(hours=st.integers(1, 60))
        def pass_time(self, hours):
            chain.pending_timestamp += hours * 3_600
            self._push(self.spot)

        @rule(t=st.sampled_from(range(3)), frac=st.sampled_from([WAD, WAD // 4]))
        def liquidate(self, t, frac):
            account = traders[t]
            if len(market.positions(account)) == 0:
                return
            if market.is_liquidatable(account):
                tx = market.liquidate(account, frac, sender=keeper)
                self._apply(tx)
                ev = tx.decode_logs(market.Liquidation)[0]
                if ev.equity > 0:  # audit finding 4: positive equity never turns into debt
                    assert not tx.decode_logs(market.BadDebt), "liquidation made bad debt"
                    # what is left keeps E - reward >= 0, up to a token unit of rounding
                    assert market.account_margin(account)[0] >= -(10**12), "equity < 0"
                if frac == WAD and len(market.positions(account)) > 0:
                    assert not market.is_liquidatable(account), (
                        "still liquidatable after liquidation"
                    )
            else:
                with ape.reverts("market: account healthy"):
                    market.liquidate(account, frac, sender=keeper)

        @rule(t=st.sampled_from(range(3)))
        def settle(self, t):
            account = traders[t]
            now = chain.pending_timestamp
            for p in market.positions(account):
                expiry = market.series(p.series_id).expiry
                if expiry <= now and oracle.settlement_price(expiry) > 0:
                    self._apply(market.settle(account, p.series_id, sender=keeper))

        def _pool_underwater(self) -> bool:
            """NAV clearly below zero (1 USDC of room for the next block's decay) with
            shares outstanding; False when the oracle is stale (pool_state reverts)."""
            try:
                nav = market.pool_state()[0]
            except ContractLogicError:
                return False
            return nav < -WAD and pool.totalSupply() > 0

        @rule(amount=st.integers(1_000, 100_000))
        def lp_deposit(self, amount):
            token.mint(lp, amount * USDC, sender=lp)
            underwater, supply = self._pool_underwater(), pool.totalSupply()
            tx = self._try(pool.deposit, amount * USDC, sender=lp)
            if underwater:  # invariant: no deposit mints shares while NAV <= 0
                assert tx is None and pool.totalSupply() == supply

        @rule(frac=st.floats(0.01, 0.5))
        def lp_redeem(self, frac):
            shares = int(pool.balanceOf(lp) * frac)
            if shares > 0:
                underwater = self._pool_underwater()
                tx = self._try(pool.redeem, shares, sender=lp)
                assert not (underwater and tx is not None), "redeemed while NAV <= 0"

        @rule(amount=st.integers(1, 1_000))
        def fund_insurance(self, amount):
            token.mint(keeper, amount * USDC, sender=keeper)
            token.approve(market, 2**256 - 1, sender=keeper)
            self._apply(market.fund_insurance(amount * USDC, sender=keeper))

        # --- invariants ---

        @invariant()
        def ledger_and_open_interest(self):
            # one JSON-RPC batch per check: ape's per-call overhead would dominate
            holders = list(self.cash)
            calls = [ViewCall.of(market, "cash", a) for a in holders]
            calls += [
                ViewCall.of(market, "insurance"),
                ViewCall.of(market, "fees"),
                ViewCall.of(token, "balanceOf", market.address),
            ]
            calls += [ViewCall.of(market, "positions", a.address) for a in (*traders, keeper)]
            for sid in self.series:
                calls += [
                    ViewCall.of(market, name, sid)
                    for name in ("long_oi", "short_oi", "pool_position")
                ]
            values = reader.read(calls)
            n = len(holders)
            onchain = dict(zip(holders, values[:n], strict=True))
            insurance, fees, balance = values[n : n + 3]
            assert onchain == self.cash
            assert (insurance, fees) == (self.insurance, self.fees)
            assert balance == sum(onchain.values()) + insurance + fees
            books = values[n + 3 : n + 7]
            sizes = {sid: [0, 0] for sid in self.series}  # long, short
            for book in books:
                for sid, size in book:
                    if sid in sizes:
                        sizes[sid][0 if size > 0 else 1] += abs(size)
            oi = values[n + 7 :]
            for i, sid in enumerate(self.series):
                long_oi, short_oi, pool_pos = oi[3 * i : 3 * i + 3]
                assert (long_oi, short_oi) == tuple(sizes[sid])
                assert long_oi - short_oi + pool_pos == 0

        @invariant()
        def pool_valuation_matches_revaluation(self):
            now = chain.blocks.head.timestamp
            if reader.read([ViewCall.of(oracle, "is_stale")])[0]:
                return  # pool_state reverts, as every valuation would
            state, abs_oi = reader.read(
                [ViewCall.of(market, "pool_state"), ViewCall.of(market, "pool_abs_oi")]
            )
            fresh = revalue_pool(now, reader)
            assert tuple(state) == (fresh.nav, fresh.vega, fresh.gross)
            assert abs_oi == fresh.abs_oi

    run_state_machine_as_test(
        Protocol,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            print_blob=True,
        ),
    )
