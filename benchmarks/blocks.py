"""Throughput of the batched block builder (onchain.blocks) against ape's one-by-one sends.

    python -m benchmarks.blocks

On one anvil started through ape-foundry, with the protocol deployed from
deployments/local.yaml, measures transactions and blocks per second for blocks of 10, 100,
200 (the simulation's 200 agents) and 1000 transactions, for plain token transfers and for
market trades (200 traders buying and selling 0.01 of an ATM call), and splits the time of
a block into encoding, signing, HTTP send, mining and reading receipts. The peer is the
same transactions sent one at a time through ape, in the same run (fewer of them).
"""

from __future__ import annotations

import sys
import time

from risk.units import USDC, WAD
from sims.project import use_project_env

SIZES = (10, 100, 200, 1000)
TRADERS = 200
TXS_PER_SIZE = {"transfer": 3_000, "trade": 1_200}  # about this many per block size


def _trader_keys(n: int) -> list[str]:
    from eth_hash.auto import keccak

    return ["0x" + keccak(f"optsim-bench-trader-{i}".encode()).hex() for i in range(n)]


def _run_blocks(builder, fill, size: int, n_blocks: int) -> dict:
    """Mine n_blocks blocks of `size` transactions queued by fill(i); sums of the timings."""
    tot = {"encode": 0.0, "sign": 0.0, "send": 0.0, "mine": 0.0, "receipts": 0.0, "reasons": 0.0}
    bad, why = 0, None
    t_start = time.perf_counter()
    for _ in range(n_blocks):
        t0 = time.perf_counter()
        for i in range(size):
            fill(i)
        tot["encode"] += time.perf_counter() - t0
        result = builder.mine(builder.chain_time + 12)
        bad += result.reverts + result.rejected
        why = why or next((o.error or o.request.label for o in result.outcomes if not o.ok), None)
        for k, v in result.timings.items():
            tot[k] += v
    elapsed = time.perf_counter() - t_start
    if bad:
        raise RuntimeError(f"{bad} of {size * n_blocks} transactions failed, first: {why}")
    return {
        "size": size,
        "blocks": n_blocks,
        "txs": size * n_blocks,
        "seconds": elapsed,
        "tps": size * n_blocks / elapsed,
        "bps": n_blocks / elapsed,
        **{k: 1e3 * v / n_blocks for k, v in tot.items()},  # ms per block
    }


def measure() -> dict:
    import logging

    from ape import accounts, networks, project

    from onchain.blocks import BlockBuilder, TxRequest
    from onchain.deployment import LOCAL_CONFIG, DeployConfig, deploy_protocol
    from onchain.quiet import silence_revert_traces

    logging.getLogger("ape").setLevel(logging.ERROR)
    silence_revert_traces()

    with networks.parse_network_choice("ethereum:local:foundry") as provider:
        test_accounts = list(accounts.test_accounts)
        gov, lp, writer, other = test_accounts[:4]
        d = deploy_protocol(project, gov, DeployConfig.load(LOCAL_CONFIG))
        token, market, pool = d.token, d.market, d.pool
        token.mint(lp, 10_000_000 * USDC, sender=lp)
        token.approve(pool, 2**256 - 1, sender=lp)
        pool.deposit(10_000_000 * USDC, sender=lp)
        sid = d.series_ids[[market.series(s).strike for s in d.series_ids].index(2_000 * WAD)]

        # --- the peer: one at a time through ape ---
        n = 40
        t0 = time.perf_counter()
        for _ in range(n):
            token.transfer(lp, 0, sender=other)
        ape_transfer_tps = n / (time.perf_counter() - t0)
        token.mint(writer, 100_000 * USDC, sender=writer)
        token.approve(market, 2**256 - 1, sender=writer)
        market.deposit(100_000 * USDC, sender=writer)
        n = 20
        t0 = time.perf_counter()
        for i in range(n):
            size = WAD // 100 if i % 2 == 0 else -WAD // 100
            market.trade(sid, size, 10**30 if size > 0 else 0, sender=writer)
        ape_trade_tps = n / (time.perf_counter() - t0)

        # --- the builder ---
        keys = _trader_keys(TRADERS)
        builder = BlockBuilder(
            provider.uri, [a.private_key for a in test_accounts] + keys, [token, market, pool]
        )
        rows: dict[str, list[dict]] = {"transfer": [], "trade": []}
        with builder:
            traders = list(builder.signers)[len(test_accounts) :]
            for t in traders:  # one ETH each, although with base fee 0 and no tip none is spent
                builder.add(TxRequest(str(gov.address), t, "0x", 21_000, label="eth", value=WAD))
            for method, args in (
                ("mint", lambda t: (t, 2_000_000 * USDC)),
                ("approve", lambda t: (market, 2**256 - 1)),
                ("deposit", lambda t: (1_000_000 * USDC,)),
            ):
                for t in traders:
                    builder.call(t, token if method != "deposit" else market, method, *args(t))
                setup = builder.mine(builder.chain_time + 12)
                assert setup.reverts == setup.rejected == 0, setup.revert_reasons()

            def transfer(i: int) -> None:
                t = traders[i % TRADERS]
                builder.call(t, token, "transfer", str(lp.address), 1)

            step = {"n": 0}

            def trade(i: int) -> None:
                # each trader alternates buying and selling 0.01 so positions stay small
                t = traders[i % TRADERS]
                buy = (step["n"] + i // TRADERS) % 2 == 0
                size = WAD // 100 if buy else -WAD // 100
                builder.call(t, market, "trade", sid, size, 10**30 if buy else 0)

            for size in SIZES:
                n_blocks = max(2, TXS_PER_SIZE["transfer"] // size)
                rows["transfer"].append(_run_blocks(builder, transfer, size, n_blocks))
            for size in SIZES:
                n_blocks = max(2, TXS_PER_SIZE["trade"] // size)

                def fill(i: int) -> None:
                    trade(i)
                    if i == 0:
                        step["n"] += 1

                rows["trade"].append(_run_blocks(builder, fill, size, n_blocks))
            builder.call(traders[0], market, "trade", sid, WAD // 100, 10**30)
            gas_trade = builder.mine(builder.chain_time + 12).outcomes[0].gas_used
        return {
            "ape": {"transfer": ape_transfer_tps, "trade": ape_trade_tps},
            "rows": rows,
            "gas_trade": gas_trade,
        }


def main() -> int:
    use_project_env()
    res = measure()
    print()
    print("Batched blocks (onchain.blocks) vs ape one transaction at a time, anvil 1.7.1")
    print()
    print(
        "| workload | txs/block | blocks | tx/s | blocks/s | vs ape | ms/block: encode | sign "
        "| send (HTTP) | mine | receipts |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for kind, rows in res["rows"].items():
        ape_tps = res["ape"][kind]
        print(f"| {kind}, ape one by one | 1 | - | {ape_tps:.1f} | {ape_tps:.1f} | 1x | | | | | |")
        for r in rows:
            print(
                f"| {kind} | {r['size']} | {r['blocks']} | {r['tps']:,.0f} | {r['bps']:.2f} "
                f"| {r['tps'] / ape_tps:.0f}x | {r['encode']:.1f} | {r['sign']:.1f} "
                f"| {r['send']:.1f} | {r['mine']:.1f} | {r['receipts']:.1f} |"
            )
    trade200 = next(r for r in res["rows"]["trade"] if r["size"] == TRADERS)
    print()
    print(
        f"720 blocks x {TRADERS} trades at this rate: {720 / trade200['bps']:.0f} s "
        f"(target 120 s); gas of one trade (1 position): {res['gas_trade']:,}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
