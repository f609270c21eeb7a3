"""Gas of the protocol's heavy paths and transaction throughput on both local chains.

    python -m benchmarks.protocol_chain            # embedded chain and anvil

Measures, on each chain, through ape (the way tests and scripts use it):
- gas of trade / liquidate / settle on a 5-position account;
- transactions per second for a plain token transfer and for a 5-position trade;
and, on anvil only, web3.py JSON-RPC batches of token transfers (the simulation's
hot path), so the table shows the ratio of batched sends to ape's one-by-one sends.
"""

from __future__ import annotations

import json
import sys
import time

from risk.units import DAY, USDC, WAD
from sims.project import use_project_env


def measure(network: str) -> dict:
    """Deploy, build a 5-position account, measure gas and throughput."""
    import logging

    from ape import accounts, chain, networks, project

    from onchain.quiet import silence_revert_traces

    logging.getLogger("ape").setLevel(logging.ERROR)
    silence_revert_traces()

    from onchain.deployment import LOCAL_CONFIG, DeployConfig, deploy_protocol

    with networks.parse_network_choice(network):
        gov, lp, writer, keeper, other = (accounts.test_accounts[i] for i in range(5))
        cfg = DeployConfig.load(LOCAL_CONFIG)
        d = deploy_protocol(project, gov, cfg)
        token, market, pool = d.token, d.market, d.pool
        for who, amount in ((lp, 2_000_000), (writer, 6_000), (keeper, 1_000_000), (other, 1_000)):
            token.mint(who, amount * USDC, sender=who)
            token.approve(market, 2**256 - 1, sender=who)
        token.approve(pool, 2**256 - 1, sender=lp)
        pool.deposit(2_000_000 * USDC, sender=lp)
        market.deposit(6_000 * USDC, sender=writer)
        market.deposit(1_000_000 * USDC, sender=keeper)

        def sid(strike, days, call):
            for s in d.series_ids:
                ser = market.series(s)
                if ser.strike == strike * WAD and ser.is_call == call:
                    if (days <= 7) == (ser.expiry < chain.pending_timestamp + 8 * DAY):
                        return s
            raise LookupError((strike, days, call))

        book = [
            sid(2_000, 7, True),
            sid(2_200, 7, True),
            sid(2_400, 30, True),
            sid(1_800, 30, False),
            sid(1_600, 7, False),
        ]
        gas_trade = []
        for s in book:
            gas_trade.append(market.trade(s, -WAD, 0, sender=writer).gas_used)
        # throughput of 5-position trades (open and close a small extra size)
        n = 10
        t0 = time.perf_counter()
        for i in range(n):
            size = WAD // 100 if i % 2 == 0 else -WAD // 100
            market.trade(book[0], size, 10**30 if size > 0 else 0, sender=writer)
        trade_tps = n / (time.perf_counter() - t0)
        n = 40
        t0 = time.perf_counter()
        for _ in range(n):
            token.transfer(lp, 1, sender=other)
        transfer_tps = n / (time.perf_counter() - t0)

        # leave the writer just above IM, then move the market against it
        equity, _mm, im = market.account_margin(writer)
        market.withdraw((equity - im) // 10**12 - 10 * USDC, sender=writer)
        expiries = sorted({market.series(s).expiry for s in d.series_ids})
        for spot in (2_400, 2_900):
            d.oracle.push(spot * WAD, expiries, [int(0.9 * WAD)] * len(expiries), sender=gov)
        assert market.is_liquidatable(writer)
        liq = market.liquidate(writer, WAD // 2, sender=keeper)
        gas_liquidate = liq.gas_used
        # settle: the keeper holds half the book now; settle one expired position
        chain.pending_timestamp = market.series(book[0]).expiry + 1
        d.oracle.push(2_900 * WAD, [], [], sender=gov)
        gas_settle = market.settle(keeper, book[0], sender=keeper).gas_used

        batch_tps = None
        if "foundry" in network:
            batch_tps = _batched_transfers(chain.provider.uri, token, other)
        return {
            "network": network,
            "gas_trade_5th_position": gas_trade[-1],
            "gas_trade_each": gas_trade,
            "gas_liquidate_5_positions": gas_liquidate,
            "gas_settle": gas_settle,
            "ape_transfer_tps": transfer_tps,
            "ape_trade_5pos_tps": trade_tps,
            "rpc_batch_transfer_tps": batch_tps,
        }


def _batched_transfers(uri: str, token, sender, n: int = 500) -> float:
    """Sign n transfers with explicit nonces and send them as one JSON-RPC batch."""
    import requests
    from eth_account import Account
    from web3 import Web3

    from onchain.reader import ViewCall

    w3 = Web3(Web3.HTTPProvider(uri))
    key = sender.private_key
    acct = Account.from_key(key)
    nonce = w3.eth.get_transaction_count(acct.address)
    chain_id = w3.eth.chain_id
    data = ViewCall.of(token, "transfer", acct.address, 1).data  # selector + arguments
    t0 = time.perf_counter()
    raws = []
    for i in range(n):
        tx = {
            "to": str(token.address),
            "data": data,
            "gas": 60_000,
            "maxFeePerGas": 10**9,
            "maxPriorityFeePerGas": 0,
            "nonce": nonce + i,
            "chainId": chain_id,
            "value": 0,
            "type": 2,
        }
        raws.append(Account.sign_transaction(tx, key).raw_transaction.hex())
    body = [
        {
            "jsonrpc": "2.0",
            "id": i,
            "method": "eth_sendRawTransaction",
            "params": ["0x" + r if not r.startswith("0x") else r],
        }
        for i, r in enumerate(raws)
    ]
    resp = requests.post(uri, data=json.dumps(body), headers={"Content-Type": "application/json"})
    errors = [r for r in resp.json() if "error" in r]
    if errors:
        raise RuntimeError(f"batched sends failed: {errors[:2]}")
    elapsed = time.perf_counter() - t0
    return n / elapsed


def main() -> int:
    use_project_env()
    rows = [measure("ethereum:local:test"), measure("ethereum:local:foundry")]
    emb, anv = rows
    print()
    print("| metric | embedded (py-evm) | anvil | anvil / embedded |")
    print("|---|---|---|---|")
    for key in ("gas_trade_5th_position", "gas_liquidate_5_positions", "gas_settle"):
        print(f"| {key} | {emb[key]:,} | {anv[key]:,} | {anv[key] / emb[key]:.2f} |")
    for key in ("ape_transfer_tps", "ape_trade_5pos_tps"):
        print(f"| {key} | {emb[key]:.1f} | {anv[key]:.1f} | {anv[key] / emb[key]:.1f}x |")
    b = anv["rpc_batch_transfer_tps"]
    print(
        f"| rpc_batch_transfer_tps (web3, one batch) | - | {b:.0f} | "
        f"{b / anv['ape_transfer_tps']:.0f}x ape on anvil |"
    )
    print()
    print("gas per trade as the book grows:", emb["gas_trade_each"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
