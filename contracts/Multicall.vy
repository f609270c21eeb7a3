# pragma version 0.4.3
"""
@title Multicall
@notice Many static calls in one call: a simulation block's state reads in one EVM context.
@dev optsim never deploys it. The one reader (onchain.reader.Reader) runs this
     runtime code through eth_call's state override at an unused address, so a node that
     supports overrides (anvil, geth) answers a whole block's reads in one execution
     instead of one per read. A call that reverts is reported (success False, its revert
     data), never propagated. Bounds: MAX_CALLS calls of up to MAX_CALLDATA bytes, each
     returning up to MAX_RETURN bytes (longer return data is cut, so the reader refuses
     views whose answer could be longer).
"""

MAX_CALLS: constant(uint256) = 256
MAX_CALLDATA: constant(uint256) = 260  # a selector and eight words
MAX_RETURN: constant(uint256) = 2_048  # e.g. 32 live series ids: 1_088 bytes

struct Call:
    target: address
    data: Bytes[MAX_CALLDATA]

struct Result:
    success: bool
    data: Bytes[MAX_RETURN]


@external
@view
def aggregate(calls: DynArray[Call, MAX_CALLS]) -> DynArray[Result, MAX_CALLS]:
    """
    @notice Make each static call in turn.
    @param calls targets and calldata
    @return per call: whether it succeeded, and its return (or revert) data
    """
    out: DynArray[Result, MAX_CALLS] = []
    for c: Call in calls:
        ok: bool = False
        data: Bytes[MAX_RETURN] = b""
        ok, data = raw_call(
            c.target, c.data, max_outsize=MAX_RETURN, is_static_call=True, revert_on_failure=False
        )
        out.append(Result(success=ok, data=data))
    return out
