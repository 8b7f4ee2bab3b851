"""The package's shape: imports follow the data flow, the core never imports the lab.

Every import of an rnnlab module is read with `ast`, at the top of a module and inside
functions alike, so a cycle cannot hide behind a function-level import.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "rnnlab"

# The core is a library: source -> split -> scale -> windows -> model -> predictions ->
# metrics, with no run folders, worker pools, plots or HTML.
CORE = {"__init__", "errors", "config", "data", "diagnostics", "windows", "models",
        "stacked", "optim", "metrics", "train", "history", "base", "baselines", "checkpoint",
        "fastpath", "metadata", "candidates", "choose", "recurrent", "forecaster", "explain",
        "panel", "globalnet", "global_forecaster", "features", "threads", "pretrained"}
# The lab is built on it: scoring, run folders, experiments, plots, the report, the CLI.
LAB = {"backtest", "folders", "tasks", "runs", "plots", "report", "experiment", "demo", "cli"}


def imports_of(path: Path) -> list[tuple[str, str, int]]:
    """(imported rnnlab module, imported name or "", line) for every import in `path`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module is None:  # from . import x
                found += [(a.name, "", node.lineno) for a in node.names]
            elif node.level == 1:  # from .x import y
                found += [(node.module.split(".")[0], a.name, node.lineno) for a in node.names]
            elif (node.module or "").startswith("rnnlab."):
                found += [(node.module.split(".")[1], a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.Import):
            found += [(a.name.split(".")[1], "", node.lineno) for a in node.names
                      if a.name.startswith("rnnlab.")]
    return found


def graph() -> dict[str, set[str]]:
    modules = {p.stem: p for p in PACKAGE.glob("*.py")}
    edges = {}
    for name, path in modules.items():
        targets = {target for target, _, _ in imports_of(path)}
        # `from . import __version__` reads the package itself, not a module.
        edges[name] = {t for t in targets if t in modules and t != name}
    return edges


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path of module names, or None."""
    state = {}  # 1: on the current path, 2: done

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt]
            if nxt not in state:
                found = visit(nxt, path + [nxt])
                if found:
                    return found
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def test_every_module_is_core_or_lab():
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    assert modules == CORE | LAB, "place the new module in CORE or LAB above"
    assert not CORE & LAB


def test_no_import_cycle():
    assert cycle(graph()) is None, f"import cycle: {' -> '.join(cycle(graph()))}"


def test_the_core_never_imports_the_lab():
    edges = graph()
    wrong = sorted(f"{a} -> {b}" for a in CORE for b in edges[a] if b in LAB)
    assert not wrong, f"core modules import lab modules: {wrong}"


def test_no_private_name_is_imported_across_modules():
    private = [f"{path.name}:{line} imports {name} from {module}"
               for path in PACKAGE.glob("*.py") for module, name, line in imports_of(path)
               if name.startswith("_") and not name.startswith("__")]
    assert not private, private


@pytest.mark.parametrize("edges, expected", [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
    ({"a": {"b"}, "b": set(), "c": {"a"}}, None),
])
def test_the_cycle_finder_can_fail(edges, expected):
    assert cycle(edges) == expected
