"""The runner's rooms stay layered and free of import cycles, static ones included.

The layers are declared as import-linter contracts in pyproject.toml; this runs
them. Contracts only forbid imports between the layers they name, so a cycle
inside one room (an interface module importing its implementations, say) is
looked for here on the full static graph, imports under TYPE_CHECKING and inside
functions included.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterable, List, Set

import grimp

from tests.conftest import REPO


def import_cycles(imports: Dict[str, Iterable[str]]) -> List[List[str]]:
    """Every group of modules that import one another in a circle (each group
    sorted, groups in order), by Tarjan's strongly connected components."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    on_stack: Set[str] = set()
    stack: List[str] = []
    cycles: List[List[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in imports.get(module, ()):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1 or module in imports.get(module, ()):
                cycles.append(sorted(group))

    for module in sorted(imports):
        if module not in index:
            visit(module)
    return sorted(cycles)


def test_the_cycle_finder_finds_a_cycle_and_nothing_else() -> None:
    graph = {
        "runner.gpu.source": ["runner.gpu.nvml"],
        "runner.gpu.nvml": ["runner.gpu.source", "runner.errors"],
        "runner.gpu.scheduler": ["runner.gpu.source"],
        "runner.errors": [],
        "runner.loop": ["runner.loop"],
    }
    assert import_cycles(graph) == [["runner.gpu.nvml", "runner.gpu.source"], ["runner.loop"]]
    del graph["runner.loop"]
    graph["runner.gpu.source"] = []
    assert import_cycles(graph) == []


def test_no_runner_module_imports_itself_round_a_circle() -> None:
    graph = grimp.build_graph("runner", include_external_packages=False)
    imports = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    cycles = import_cycles(imports)
    assert cycles == [], "import cycles in runner/: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_the_import_contracts_in_pyproject_hold() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "runner in layers: host, server, stats, gpu | logs, jobs, base modules KEPT" in (
        result.stdout
    )
