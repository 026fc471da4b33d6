"""The package's import graph: tiers that only import downwards, and no cycles.

Tiers, bottom to top: the core (`nengo_mif.*` modules: neuron types, maths, the
engine interface, exceptions, defaults), the engines (`nengo_mif.keras`,
`nengo_mif.dl`), the jobs (`nengo_mif.networks`, `nengo_mif.deploy`) and the
command line (`nengo_mif.cli`). The graph is read from the source (every
``import``, at module level or inside a function), so a lazy import cannot hide an
upward dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: source folder -> the package it installs as (setup.cfg's package_dir)
PACKAGES = {
    "nengo_mif": "nengo_mif",
    "networks": "nengo_mif.networks",
    "deploy": "nengo_mif.deploy",
}
TIERS = {
    "core": 0,
    "engine": 1,
    "job": 2,
    "cli": 3,
}


def _modules() -> dict[str, Path]:
    modules = {}
    for folder, package in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join([package, *parts])] = path
    return modules


MODULES = _modules()


def tier(module: str) -> str:
    if module == "nengo_mif.cli":
        return "cli"
    if module.startswith(("nengo_mif.networks", "nengo_mif.deploy")):
        return "job"
    if module.startswith(("nengo_mif.keras", "nengo_mif.dl")):
        return "engine"
    return "core"


def _resolve(name: str) -> str | None:
    """The package module an import names (a name imported from a module is dropped)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports(module: str, top_level_only: bool = False) -> set[str]:
    """The package modules ``module`` imports."""
    tree = ast.parse(MODULES[module].read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            target = _resolve(name)
            if target is not None and target != module:
                found.add(target)
    return found


def test_the_graph_sees_the_package():
    assert {"nengo_mif.keras.maths", "nengo_mif.dl.builders", "nengo_mif.networks.train"} <= set(
        MODULES
    )
    assert "nengo_mif.keras.convert" in imports("nengo_mif.keras.engine")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_downwards(module):
    """No upward import: the core knows no engine, an engine no job, a job no CLI."""
    if module == "nengo_mif":
        # the package's face: registers the NengoDL hook (which loads nothing heavy)
        assert imports(module) <= {m for m in MODULES if tier(m) == "core"} | {"nengo_mif.dl.hook"}
        return
    upward = {m for m in imports(module) if TIERS[tier(m)] > TIERS[tier(module)]}
    assert not upward, f"{module} ({tier(module)}) imports {sorted(upward)}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if tier(m) == "engine"))
def test_engines_do_not_import_each_other(module):
    other = "nengo_mif.dl" if module.startswith("nengo_mif.keras") else "nengo_mif.keras"
    crossing = {m for m in imports(module) if m.startswith(other)}
    assert not crossing, f"{module} imports the other engine: {sorted(crossing)}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("nengo_mif.networks")))
def test_networks_do_not_import_deploy(module):
    """Training gets the Loihi neurons passed in (`train(..., loihi=...)`)."""
    assert not {m for m in imports(module) if m.startswith("nengo_mif.deploy")}


def test_no_import_cycles():
    graph = {m: imports(m, top_level_only=True) for m in MODULES}
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(m, path):
        state[m] = 1
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cycle = path[path.index(n) :] + [n]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if n not in state:
                visit(n, [*path, n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
