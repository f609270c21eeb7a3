"""The layout's rules, read from the code's imports (no module is run).

Data and imports flow downward only:

    scripts, benchmarks -> sims -> agents -> onchain -> risk
                           keepers -> agents, onchain, risk

so agents never import sims, the chain client never imports the simulation, and the risk
engine imports nothing of the project but itself. No module imports a private name
(`_x`) from another, and the project's modules import each other without cycles.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("risk", "onchain", "agents", "sims", "keepers")
ALLOWED = {  # package -> the project's packages it may import
    "risk": {"risk"},
    "onchain": {"risk", "onchain"},
    "agents": {"risk", "onchain", "agents"},
    "keepers": {"risk", "onchain", "agents", "keepers"},
    "sims": {"risk", "onchain", "agents", "sims"},
    "scripts": {"risk", "onchain", "agents", "keepers"},
    "benchmarks": {"risk", "onchain", "agents", "sims", "keepers", "benchmarks"},
}


def _modules() -> dict[str, Path]:
    out = {}
    for top in ALLOWED:
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(module imported, names taken from it, line) of every import, however nested."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, [a.name for a in node.names], node.lineno))
    return out


def _project(module: str) -> str | None:
    top = module.split(".")[0]
    return top if top in ALLOWED else None


MODULES = _modules()


def test_layout__imports_flow_downward_only():
    upward = []
    for name, path in MODULES.items():
        own = name.split(".")[0]
        for module, _names, line in _imports(path):
            target = _project(module)
            if target is not None and target not in ALLOWED[own]:
                upward.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert upward == []


def test_layout__no_private_name_crosses_a_module():
    crossing = []
    for name, path in MODULES.items():
        for module, names, line in _imports(path):
            if _project(module) is None or module == name:
                continue
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private or any(part.startswith("_") for part in module.split(".")[1:]):
                crossing.append(f"{path.relative_to(ROOT)}:{line} imports {module} {private}")
    assert crossing == []


def test_layout__no_import_cycle():
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        deps = set()
        for module, names, _line in _imports(path):
            if _project(module) is None:
                continue
            # "from pkg import mod" imports the module pkg.mod
            subs = {f"{module}.{n}" for n in names if f"{module}.{n}" in MODULES}
            deps |= subs or ({module} if module in MODULES else set())
        graph[name] = deps - {name}
    cycles = []
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                cycles.append(" -> ".join([*stack[stack.index(dep) :], dep]))
            elif dep not in state:
                visit(dep, [*stack, dep])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_layout__test_fixture_names_are_unique():
    """ape's isolation keys fixtures by name: one name with two scopes makes it skip reverts
    (a module-scoped `book` once leaked pool deposits into every market test)."""
    seen: dict[str, list[str]] = {}
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef):
                continue
            for deco in node.decorator_list:
                target = deco.func if isinstance(deco, ast.Call) else deco
                if isinstance(target, ast.Attribute) and target.attr == "fixture":
                    seen.setdefault(node.name, []).append(str(path.relative_to(ROOT)))
    assert {name: where for name, where in seen.items() if len(where) > 1} == {}


def test_layout__test_file_names_are_unique():
    """pytest imports test files by their base name (no packages under tests/): two files
    of one name would shadow each other."""
    names: dict[str, list[str]] = {}
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        names.setdefault(path.name, []).append(str(path.relative_to(ROOT)))
    assert {n: where for n, where in names.items() if len(where) > 1} == {}
