"""The contracts table: the protocol's contracts by name, with their addresses and ABIs.

Every part of optsim names contracts as a deployment records them ("market", "oracle",
"config", ...). `Contracts` turns (name, method, arguments) into calldata and view
calls, and receipt logs into events, from the ABIs the project compiles (no connection
needed): the simulation builds it from a fresh deployment, the keeper bots and scripts
from a recorded one.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

from onchain.abi import MethodAbi, method_abi
from onchain.events import Event, EventDecoder

# recorded name -> contract type in this project (the token only when it is the mock)
CONTRACT_TYPES = {
    "token": "usdc_mock",
    "oracle": "Oracle",
    "engine": "MarginEngine",
    "config": "RiskConfig",
    "market": "OptionMarket",
    "pool": "LiquidityPool",
    "timelock": "Timelock",
}
# the contracts the simulation's agents send to (and whose events a block decodes)
AGENT_CONTRACTS = ("market", "pool", "token", "oracle", "config", "timelock")


class Contracts:
    """Addresses and ABIs by name.

    Args:
        addresses: name -> address ("market", "oracle", "config", ...); names without a
            contract type are ignored.
        contract_types: name -> ethpm ContractType (``project.OptionMarket.contract_type``).
    """

    def __init__(self, addresses: Mapping[str, str], contract_types: Mapping[str, Any]):
        self.addresses = {n: str(a) for n, a in addresses.items() if n in contract_types}
        self.types = dict(contract_types)
        self.decoder = EventDecoder(
            SimpleNamespace(address=self.addresses[n], contract_type=self.types[n])
            for n in self.addresses
        )

    @classmethod
    def of(cls, handles: Mapping[str, Any]) -> Contracts:
        """From ape contract instances by name (a fresh deployment's handles)."""
        return cls(
            {n: str(c.address) for n, c in handles.items()},
            {n: c.contract_type for n, c in handles.items()},
        )

    @classmethod
    def of_project(cls, project: Any, addresses: Mapping[str, str]) -> Contracts:
        """A recorded deployment's addresses with this project's ABIs (CONTRACT_TYPES)."""
        types = {n: getattr(project, t).contract_type for n, t in CONTRACT_TYPES.items()}
        return cls(addresses, types)

    def method(self, name: str, method: str, nargs: int) -> MethodAbi:
        return method_abi(self.types[name], method, nargs)

    def calldata(self, name: str, method: str, *args: Any) -> str:
        """Hex calldata of `name.method(*args)`."""
        return self.method(name, method, len(args)).calldata(args)

    def decode_log(self, log: dict) -> Event | None:
        """A receipt or eth_getLogs entry as an Event (None: not one of these contracts)."""
        return self.decoder.decode(log)
