"""The benchmark scripts keep up with the package: every name they import from rnnlab exists.

Benchmarks are run by hand, so nothing else would notice a moved function. This reads their
imports (top level and inside functions) with ast and resolves each one, without running
any benchmark.
"""

import ast
import importlib
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py"))


@pytest.mark.parametrize("path", BENCHMARKS, ids=lambda p: p.name)
def test_every_rnnlab_name_a_benchmark_imports_exists(path):
    missing = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "rnnlab":
            module = importlib.import_module(node.module)
            missing += [f"{node.module}.{a.name} (line {node.lineno})" for a in node.names
                        if not hasattr(module, a.name)
                        and importlib.util.find_spec(f"{node.module}.{a.name}") is None]
    assert not missing, f"{path.name} imports names rnnlab no longer has: {missing}"
