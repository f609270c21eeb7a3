"""onchain.abi: the hot path's ABI codecs give what eth_abi gives."""

import pytest
from eth_abi import decode as eth_decode
from eth_abi import encode as eth_encode
from eth_utils import to_checksum_address

from onchain import abi

A = "0x" + "ab" * 20  # decoded addresses come back in lower case, as from eth_abi
B = "0x00000000000000000000000000006f707473696d"
C = to_checksum_address(A)  # encoding takes any case

CASES = [
    (("uint256",), (2**256 - 1,)),
    (("int256",), (-(2**255),)),
    (("int256", "uint256", "address", "bool"), (-7, 5, A, True)),
    (("(int256,uint256,uint256)",), ((-3, 4, 5),)),
    (("(uint256,int256)[]",), (((1, -(10**18)), (7, 2 * 10**18)),)),
    (("uint256[]",), ((),)),
    (("uint256[]",), (tuple(range(32)),)),
    (("(bool,bytes)[]",), (((True, b"\x01" * 33), (False, b""), (True, b"x" * 64)),)),
    (("string",), ("market: series expired",)),
    (("(uint256,uint256,bool)", "uint256[]", "address"), ((1, 2, False), (9, 8), B)),
    (("bytes32",), (b"\x07" * 32,)),  # not on the fast path: through eth_abi
]


@pytest.mark.parametrize("types, values", CASES)
def test_decode__same_as_eth_abi(types, values):
    data = eth_encode(list(types), list(values))
    assert abi.decode(types, data) == eth_decode(list(types), data) == values


@pytest.mark.parametrize(
    "types, values",
    [
        (("address",), (C,)),
        (("uint256", "int256", "bool"), (10**30, -1, False)),
        (("address", "uint256"), (B, 0)),
        (("uint256[]",), ([1, 2],)),  # not all scalars: through eth_abi
    ],
)
def test_encode__same_as_eth_abi(types, values):
    assert abi.encode(types, list(values)) == eth_encode(list(types), list(values))


def test_encode__negative_unsigned__refused():
    with pytest.raises(ValueError, match="uint256: -1 is negative"):
        abi.encode(("uint256",), [-1])


def test_encode_calls__same_as_eth_abi():
    calls = [(A, bytes.fromhex("12345678") + bytes(32)), (B, b""), (A, b"\xff" * 70)]
    assert abi.encode_calls(calls) == eth_encode(["(address,bytes)[]"], [calls])


def test_decode__truncated_data__raises():
    data = eth_encode(["uint256[]"], [[1, 2, 3]])
    with pytest.raises(ValueError, match="runs past"):
        abi.decode(("uint256[]",), data[:-32])
    with pytest.raises(ValueError, match="need at least"):
        abi.decode(("uint256", "uint256"), data[:32])
