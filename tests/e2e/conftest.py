"""Fixtures of the end-to-end tests that need the session's anvil node."""

import pytest


@pytest.fixture
def node_uri(chain):
    """The session node's HTTP endpoint; skips on a chain without one (the embedded one)."""
    uri = getattr(chain.provider, "uri", None)
    if not uri or not str(uri).startswith("http"):
        pytest.skip("needs an anvil node (--network ethereum:local:foundry)")
    return uri
