"""A simulation's chain: agents' transactions queued and mined one block per step, state
read in batches.

Two block builders with one interface (`start`, `call`, `mine(timestamp) -> BlockResult`,
`stop`):

- anvil: onchain.blocks.BlockBuilder (one JSON-RPC batch per block, fee-ordered);
- ape's embedded chain: onchain.embedded.EmbeddedBlocks (the same signed transactions,
  one py-evm block each).

Reads go through one onchain.reader.Reader on either chain (by Multicall state override
on anvil, one eth_call at a time in process).

Agents' keys are derived from the seed on both chains (onchain.signer.derived_keys), so
a seed's agents have the same addresses everywhere; `open_chain` funds them with
`anvil_setBalance` on anvil, and with ether transfers from ape's test accounts on the
embedded chain (which has no balance cheat code).
"""

from __future__ import annotations

from typing import Any

from onchain.blocks import BlockBuilder, BlockResult, TxRequest
from onchain.contracts import AGENT_CONTRACTS, Contracts
from onchain.deployment import Deployment
from onchain.embedded import EmbeddedBlocks, checksum_or_none
from onchain.reader import Reader
from onchain.rpc import InProcessRpc, JsonRpc, RpcUnavailable
from onchain.signer import derived_keys
from risk.units import ETH

AGENT_ETH = 1_000 * ETH  # each agent's gas money
EMBEDDED_RESERVE = 1_000 * ETH  # what each of ape's test accounts keeps for itself


class FundingError(ValueError):
    """The embedded chain's test accounts cannot give every agent its gas money."""


class Chain:
    """Queued actions and batched reads on one deployed protocol.

    Args:
        blocks: a BlockBuilder (anvil) or EmbeddedBlocks (ape's chain), started.
        reader: the Reader of the same node, with the deployment's contracts table.
    """

    def __init__(self, blocks: Any, reader: Reader):
        if reader.contracts is None:
            raise ValueError("reader: a Chain needs the deployment's contracts table")
        self.blocks = blocks
        self.reader = reader
        self.contracts = reader.contracts
        self.addresses = dict(self.contracts.addresses)

    def send(
        self,
        sender: str,
        contract: str,
        method: str,
        *args: Any,
        tip: int = 0,
        label: str | None = None,
        tag: Any = None,
    ) -> TxRequest:
        """Queue contract.method(*args) from `sender` for this step's block."""
        data = self.contracts.calldata(contract, method, *args)
        return self.blocks.send_data(
            sender, self.contracts.addresses[contract], data, label or method, tip=tip, tag=tag
        )

    def mine(self, timestamp: int) -> BlockResult:
        return self.blocks.mine(timestamp)

    def close(self) -> None:
        """Drop anything still queued and give the node back its mining mode (nothing to
        give back when the node is gone: Ctrl-C stops anvil with its parent, and the
        interrupt, not the closed connection, is what the caller should see)."""
        self.blocks.queue.clear()
        try:
            self.blocks.stop()
        except RpcUnavailable:
            pass


def open_chain(
    kind: str,
    provider: Any,
    deployment: Deployment,
    test_accounts: list[Any],
    n: int,
    seed: int,
    multicall: str | None = None,
) -> tuple[Chain, list[str]]:
    """The agents' side of a run: n keys derived from the seed, funded, and a started
    block builder on the deployed protocol.

    Args:
        kind: "anvil" (`BlockBuilder`, one JSON-RPC batch per block) or "embedded"
            (`EmbeddedBlocks` on ape's in-process chain).
        provider: ape's connected provider.
        test_accounts: ape's test accounts; the first is the deployer (the admin agents'
            sender); on the embedded chain they also pay for the agents' gas money.
        multicall: Multicall runtime code for state reads by override (anvil only).

    Returns:
        the Chain (close it with `close()`), and the agents' addresses.

    Raises:
        FundingError: the embedded chain's test accounts cannot fund n agents.
    """
    from ape import chain as ape_chain

    deployer = test_accounts[0]
    keys = derived_keys(seed, n)
    handles = deployment.handles(AGENT_CONTRACTS)
    contracts = Contracts.of(handles)
    agent_keys = [k.private_key for k in keys]
    builder: Any
    if kind == "anvil":
        rpc = JsonRpc(provider.uri, timeout=120.0)
        builder = BlockBuilder(
            rpc, [deployer.private_key, *agent_keys], handles.values(), revert_reasons=True
        )
        rpc.batch([("anvil_setBalance", [k.address, hex(AGENT_ETH)]) for k in keys])
        reader = Reader(rpc, contracts, multicall_code=multicall)
        builder.start()
    else:
        funders = list(test_accounts)
        builder = EmbeddedBlocks(
            provider, ape_chain, [a.private_key for a in funders] + agent_keys, handles.values()
        )
        builder.start()
        _fund_from(builder, [str(a.address) for a in funders], [k.address for k in keys])
        reader = Reader(InProcessRpc(provider.web3, str(deployer.address)), contracts)
    return Chain(builder, reader), [k.address for k in keys]


def _fund_from(builder: EmbeddedBlocks, funders: list[str], agents: list[str]) -> None:
    """Give each agent AGENT_ETH, or an equal share of what the funders can spare."""
    if not agents:
        return
    spare = [
        max(0, builder.web3.eth.get_balance(checksum_or_none(f)) - EMBEDDED_RESERVE)
        for f in funders
    ]
    # sum(b // each) >= sum(b) / each - len(funders) >= len(agents): every agent is paid
    each = min(AGENT_ETH, sum(spare) // (len(agents) + len(funders)))
    if each < ETH:
        raise FundingError(
            f"agents: ape's test accounts can spare {sum(spare) / ETH:,.0f} ETH, under 1 ETH "
            f"each for {len(agents)} agents; use --chain anvil or fewer agents"
        )
    it = iter(agents)
    for funder, budget in zip(funders, spare, strict=True):
        for _ in range(budget // each):
            to = next(it, None)
            if to is None:
                break
            builder.transfer_eth(funder, to, each)
    result = builder.mine(builder.chain_time + 1)
    failed = [o for o in result.outcomes if not o.ok]
    if failed:
        raise RuntimeError(f"funding the agents: {failed[0].error or failed[0].reason}")
