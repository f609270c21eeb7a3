"""Keep ape from printing (and first fetching) the call trace of every reverted transaction.

ape-foundry shows the full call trace of each revert on anvil, fetching it with
debug_traceTransaction first. Simulations and property tests revert by design (a trade
without enough margin is an outcome, not an error), so those traces would flood the
output and cost ~100 ms each. The revert message is still raised and counted.
"""

from __future__ import annotations


def _no_show(self, *args, **kwargs) -> None:  # noqa: ARG001
    return None


def silence_revert_traces() -> None:
    """Make ape's trace display a no-op for this process."""
    from ape_ethereum.trace import Trace

    Trace.show = _no_show  # type: ignore[method-assign]
