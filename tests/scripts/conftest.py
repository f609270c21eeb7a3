"""Fixtures for the operator scripts: run them in-process on the session's chain.

`run_script("params", "show", ...)` invokes an ape script's click command the way
`ape run params show --network ethereum:local:test ...` does, but inside the test
process, so it sees the protocol deployed by tests/conftest.py and ape's isolation
reverts whatever it sends.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from click.testing import CliRunner

from onchain.deployment import record_addresses

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(
        f"optsim_script_{name}", ROOT / "scripts" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def run_script():
    """run_script(name, *args) -> click Result (exit_code, output); .load(name) -> module."""
    modules = {}

    def _module(name: str):
        if name not in modules:
            modules[name] = _load(name)
        return modules[name]

    def _run(name: str, *args: str):
        return CliRunner().invoke(
            _module(name).cli, [*args, "--network", "ethereum:local:test"], catch_exceptions=False
        )

    _run.load = _module
    return _run


@pytest.fixture
def recorded(protocol, chain, tmp_path):
    """A record dir holding the session protocol's addresses, as `ape run deploy` writes it."""
    record_addresses("local", protocol, tmp_path, chain_id=chain.chain_id)
    return tmp_path
