"""The simulation's view of a deployed protocol: actions through ape, reads in batches.

Agents call these methods; a revert is logged and counted, never raised. Events of
every receipt are tallied per step (liquidations, bad debt, settlements) for metrics.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ape.exceptions import ContractLogicError

from sims.deployment import Deployment
from sims.rpc import BatchReader, ViewCall

log = logging.getLogger("optsim.chain")

WAD = 10**18
USDC = 10**6


@dataclass
class StepTally:
    """What happened on-chain during one step, from receipts."""

    txs: int = 0
    reverts: int = 0
    gas: int = 0
    liquidations: int = 0
    liquidated_mm_usd: float = 0.0
    bad_debt_usd: float = 0.0
    socialised_usd: float = 0.0
    settlements: int = 0
    revert_reasons: Counter = field(default_factory=Counter)


class ChainApi:
    """Actions and batched reads on one deployed protocol."""

    def __init__(self, deployment: Deployment, chain: Any, rpc_uri: str | None, start_ts: int):
        self.d = deployment
        self.chain = chain
        self.reader = BatchReader(rpc_uri) if rpc_uri else None
        self.tally = StepTally()
        self.total = StepTally()
        self.live_expiries: list[int] = []
        self.next_ts = start_ts
        self._by_address = {
            str(x.address): x
            for x in (deployment.market, deployment.pool, deployment.token, deployment.oracle)
        }

    # --- time: every transaction gets a deterministic timestamp ---

    def begin_block(self, timestamp: int) -> None:
        """Transactions from now on are stamped timestamp, timestamp + 1, ... (one per block)."""
        if timestamp < self.next_ts:
            raise ValueError(f"timestamp {timestamp} before the chain's next time {self.next_ts}")
        self.next_ts = timestamp

    def _stamp(self) -> None:
        # the node would otherwise stamp blocks with wall-clock time, and prices depend on
        # time to expiry: a fixed clock makes the same seed give the same results
        self.chain.pending_timestamp = self.next_ts
        self.next_ts += 1

    # --- bookkeeping ---

    def new_step(self) -> StepTally:
        done, self.tally = self.tally, StepTally()
        return done

    def _send(self, fn, *args, sender) -> Any | None:
        self._stamp()
        try:
            tx = fn(*args, sender=sender)
        except ContractLogicError as exc:
            reason = str(exc.message if hasattr(exc, "message") else exc)[:80]
            self.tally.reverts += 1
            self.total.reverts += 1
            self.tally.revert_reasons[reason] += 1
            log.debug("revert %s: %s", getattr(fn, "name", fn), reason)
            return None
        self.tally.txs += 1
        self.total.txs += 1
        self.tally.gas += tx.gas_used
        for ev in tx.events:
            name, a = ev.event_name, ev.event_arguments
            if name == "Liquidation":
                self.tally.liquidations += 1
                self.tally.liquidated_mm_usd += a["mm"] * a["fraction"] / WAD / WAD
            elif name == "BadDebt":
                self.tally.bad_debt_usd += a["amount"] / USDC
                self.tally.socialised_usd += a["socialised"] / USDC
            elif name == "Settled":
                self.tally.settlements += 1
        return tx

    def _read(self, calls: list[ViewCall]) -> list[Any]:
        if self.reader is not None:
            return self.reader.call(calls)
        out = []
        for c in calls:  # embedded chain: no RPC endpoint, read one by one through ape
            contract = self._by_address[c.to]
            out.append(getattr(contract, c.label)(*c.args))
        return out

    def view(self, contract: Any, method: str, *args: Any) -> ViewCall:
        return ViewCall.of(contract, method, *args)

    # --- actions ---

    def fund(self, account: Any, usdc: float) -> None:
        amount = int(usdc * USDC)
        self._send(self.d.token.mint, account, amount, sender=account)
        self._send(self.d.token.approve, self.d.market, 2**256 - 1, sender=account)
        self._send(self.d.market.deposit, amount, sender=account)

    def fund_pool(self, account: Any, usdc: float) -> None:
        amount = int(usdc * USDC)
        self._send(self.d.token.mint, account, amount, sender=account)
        self._send(self.d.token.approve, self.d.pool, 2**256 - 1, sender=account)
        self._send(self.d.pool.deposit, amount, sender=account)

    def trade(self, account: Any, series_id: int, size: int, limit: int) -> bool:
        return self._send(self.d.market.trade, series_id, size, limit, sender=account) is not None

    def push_oracle(self, account: Any, spot: float, vol: float) -> bool:
        now = self.next_ts
        live = [e for e in self.live_expiries if e > now]
        return (
            self._send(
                self.d.oracle.push,
                int(spot * WAD),
                live,
                [int(vol * WAD)] * len(live),
                sender=account,
            )
            is not None
        )

    def liquidate(self, liquidator: Any, account: Any) -> bool:
        return self._send(self.d.market.liquidate, account, WAD, sender=liquidator) is not None

    def settle(self, keeper: Any, account: Any, series_id: int) -> bool:
        return self._send(self.d.market.settle, account, series_id, sender=keeper) is not None

    def create_series(self, admin: Any, strike: float, expiry: int, is_call: bool) -> int:
        self._send(
            self.d.market.create_series, int(round(strike)) * WAD, expiry, is_call, sender=admin
        )
        if expiry not in self.live_expiries:
            self.live_expiries.append(expiry)
        return self.d.market.series_count() - 1

    # --- reads ---

    def liquidatable(self, accounts: list[Any]) -> list[Any]:
        flags = self._read(
            [self.view(self.d.market, "is_liquidatable", a.address) for a in accounts]
        )
        return [a for a, f in zip(accounts, flags, strict=True) if f]

    def margin(self, account: Any) -> tuple[float, float, float]:
        """(equity, MM, IM) of an account in USD."""
        equity, mm, im = self._read([self.view(self.d.market, "account_margin", account.address)])[
            0
        ]
        return equity / WAD, mm / WAD, im / WAD

    def settleable(self, accounts: list[Any]) -> list[tuple[Any, int]]:
        now = self.chain.blocks.head.timestamp
        if not any(e <= now for e in self.live_expiries):
            return []
        books = self._read([self.view(self.d.market, "positions", a.address) for a in accounts])
        out = []
        for a, book in zip(accounts, books, strict=True):
            for sid, _size in book:
                expiry = self.series_expiry(sid)
                if expiry <= now and self.settlement_price(expiry) > 0:
                    out.append((a, sid))
        return out

    def series_expiry(self, series_id: int) -> int:
        return self.d.market.series(series_id).expiry

    def settlement_price(self, expiry: int) -> int:
        return self.d.oracle.settlement_price(expiry)

    def snapshot(self, series_ids: list[int]) -> dict[str, float]:
        """Pool NAV, LP share price, insurance, fees and the pool's gross open interest."""
        calls = [
            self.view(self.d.market, "pool_state"),
            self.view(self.d.pool, "totalSupply"),
            self.view(self.d.market, "insurance"),
            self.view(self.d.market, "fees"),
        ] + [self.view(self.d.market, "pool_position", s) for s in series_ids]
        values = self._read(calls)
        (nav, vega, gross), supply, insurance, fees = values[:4]
        oi = sum(abs(v) for v in values[4:]) / WAD
        nav_usd = nav / WAD
        return {
            "pool_nav": nav_usd,
            "pool_vega": vega / WAD,
            "lp_share_price": nav_usd / (supply / WAD) if supply else 0.0,
            "insurance": insurance / USDC,
            "fees": fees / USDC,
            "pool_open_interest": oi,
        }
