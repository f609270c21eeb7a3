"""The chain client's offline parts: signing, calldata and revert data (no node needed).

The block builder itself is tested on anvil in tests/e2e/test_blocks.py.
"""

import pytest
from eth_abi import encode
from eth_account import Account

from onchain.abi import calldata
from onchain.blocks import TxRequest
from onchain.governance import encode_set
from onchain.reader import ViewCall
from onchain.rpc import decode_revert
from onchain.signer import sign_transaction
from risk.params import LiquidationParams, MarginParams

KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
TOKEN = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"


@pytest.mark.parametrize(
    "to, data, value, nonce, tip",
    [
        (TOKEN, "0xa9059cbb" + "00" * 31 + "01" + "00" * 32, 0, 0, 0),
        (TOKEN, "0x", 10**18, 7, 3 * 10**9),
        (None, "0x6080604052", 0, 123_456, 1),
        (TOKEN, "0x" + "ab" * 300, 2**70, 2**40, 2**60),
    ],
)
def test_sign_transaction__same_bytes_as_eth_account(to, data, value, nonce, tip):
    req = TxRequest(Account.from_key(KEY).address, to, data, 250_000, tip=tip, value=value)
    max_fee = 2 * 7 + tip
    ours = sign_transaction(KEY, 31337, nonce, req, max_fee)
    tx = {
        "type": 2,
        "chainId": 31337,
        "nonce": nonce,
        "maxPriorityFeePerGas": tip,
        "maxFeePerGas": max_fee,
        "gas": 250_000,
        "value": value,
        "data": data,
    }
    if to:
        tx["to"] = to
    assert ours == bytes(Account.sign_transaction(tx, KEY).raw_transaction)


def _ape_calldata(contract, method, *args) -> str:
    """ape's own encoding (selector + arguments), independent of onchain.abi's."""
    handler = getattr(contract, method)
    abi = next(a for a in handler.abis if len(a.inputs) == len(args))
    selector = contract.contract_type.selector_identifiers[abi.selector]
    data = handler.encode_input(*args)
    hexdata = data.hex() if isinstance(data, (bytes, bytearray)) else str(data)
    hexdata = hexdata.removeprefix("0x")
    return "0x" + (hexdata if hexdata.startswith(selector[2:]) else selector[2:] + hexdata)


def test_calldata__same_as_ape(market, token, oracle, writer, series_ids):
    assert calldata(token, "transfer", writer, 5) == _ape_calldata(token, "transfer", writer, 5)
    sid = series_ids[0]
    args = (sid, -(10**17), 0)
    assert calldata(market, "trade", *args) == _ape_calldata(market, "trade", *args)
    push = (2_000 * 10**18, [1, 2], [3, 4])
    assert calldata(oracle, "push", *push) == _ape_calldata(oracle, "push", *push)
    # cached: a second call gives the same bytes for other arguments
    assert calldata(market, "trade", sid, 1, 2) == _ape_calldata(market, "trade", sid, 1, 2)
    # reads encode the same way
    assert ViewCall.of(market, "trade", *args).data == _ape_calldata(market, "trade", *args)


def test_calldata__wrong_arity__names_method(token):
    with pytest.raises(ValueError, match="transfer: no overload takes 1 argument"):
        calldata(token, "transfer", 5)


def test_encode_set__same_calldata_as_ape(config):
    """The setters' calldata the committee and `ape run params` propose through the
    timelock (onchain.governance, eth_abi) is what ape encodes for RiskConfig."""
    for group, params in (("margin", MarginParams()), ("liquidation", LiquidationParams())):
        setter = {"margin": "set_margin_params", "liquidation": "set_liquidation_params"}[group]
        raw = params.to_chain()
        assert "0x" + encode_set(group, raw).hex() == _ape_calldata(config, setter, raw)


def test_decode_revert__error_panic_and_empty():
    error = "0x08c379a0" + encode(["string"], ["market: series expired"]).hex()
    assert decode_revert(error) == "market: series expired"
    panic = bytes.fromhex("4e487b71") + (0x11).to_bytes(32, "big")
    assert decode_revert(panic) == "panic 0x11"
    assert decode_revert("0x") == ""
    assert decode_revert(None) == ""
    assert decode_revert("0xdeadbeef") == "0xdeadbeef"
