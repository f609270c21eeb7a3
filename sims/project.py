"""Where the project is, and the process environment its chains need.

ape reads ape-config.yaml from the working directory, and ape-foundry starts `anvil`
from the PATH: tools/anvil (a wrapper around the npm package's binary) must come first.
Every command that starts a chain (optsim run, sweep workers, the dashboard's server)
calls `use_project_env` before it does.
"""

from __future__ import annotations

import os
import sys
import warnings
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"


def tool_path(path: str | None = None) -> str:
    """PATH with tools/ and this Python's executables (the venv's ape, vyper) first."""
    current = os.environ.get("PATH", "") if path is None else path
    tools = str(ROOT / "tools")
    if current.startswith(tools):
        return current
    return f"{tools}:{Path(sys.executable).parent}:{current}"


def use_project_env() -> None:
    """tools/anvil and the venv first on PATH, the project root as working directory,
    and ape quiet: its settings model warns at import about a field of its own, and it
    logs a line per deployment transaction."""
    os.environ["PATH"] = tool_path()
    os.chdir(ROOT)
    warnings.filterwarnings("ignore", module="pydantic_settings")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    try:
        from ape.logging import LogLevel, logger

        logger.set_level(LogLevel.ERROR)
    except ImportError:
        pass


@cache
def compiled_project() -> Any:
    """ape's project at the root, its compiled contracts loaded once per process (~0.4 s):
    the dashboard opens a run at every Reset, a sweep worker runs many."""
    import ape

    return ape.Project(ROOT)
