"""What the code may import: the worker and the fixtures stay Python 3.7 and never reach into the
harness; the harness's own modules import each other without a cycle.

Read from the source with :mod:`ast` (nothing is imported), imports inside functions included.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKER = ROOT / "harness" / "worker"
FIXTURES = ROOT / "fixtures"
OLDEST_WORKER_PYTHON = (3, 7)
# What a worker or fixture may import besides the standard library and its own folder: the
# environment's numpy and TensorFlow/Keras.
ENV_PACKAGES = {"numpy", "tensorflow", "keras", "tf_keras"}
# Standard library modules newer than Python 3.7 (sys.stdlib_module_names lists the running Python's).
NEWER_THAN_37 = {"graphlib", "zoneinfo", "tomllib", "importlib.metadata", "_zoneinfo"}


def portable_files() -> list[Path]:
    return sorted(WORKER.glob("*.py")) + sorted(FIXTURES.glob("*.py"))


def imported_names(tree: ast.AST) -> list[tuple[int, str, int]]:
    """``(line, dotted name, level)`` of every import in ``tree``, in functions too; ``level`` > 0 is a
    relative import (``from . import x``: the name is ``x``'s module, ``from .y import x``: ``y``)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.module:
                found.append((node.lineno, node.module, node.level))
            else:
                found += [(node.lineno, alias.name, node.level) for alias in node.names]
    return found


def foreign_imports(path: Path, source: str) -> list[str]:
    """The imports of a worker or fixture file that are none of: the standard library as of
    Python 3.7, the environment's packages, a module of its own folder. Relative imports count
    as foreign: the worker runs as a script, by path, not as a package."""
    siblings = {p.stem for p in path.parent.glob("*.py")}
    bad = []
    for line, name, level in imported_names(ast.parse(source)):
        top = name.split(".")[0]
        newer = any(name == n or name.startswith(n + ".") for n in NEWER_THAN_37)
        known = top in sys.stdlib_module_names or top in ENV_PACKAGES or top in siblings
        if level or newer or not known:
            bad.append(f"{path.name}:{line}: {'.' * level}{name}")
    return bad


@pytest.mark.parametrize("path", portable_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_worker_and_fixtures_parse_as_python_37(path):
    ast.parse(path.read_text(), filename=str(path), feature_version=OLDEST_WORKER_PYTHON)


def test_the_python_37_check_refuses_newer_syntax():
    for newer in ("if (n := 1):\n    pass\n", "def f(a, /):\n    pass\n", "match x:\n    case 1:\n        pass\n"):
        with pytest.raises(SyntaxError):
            ast.parse(newer, feature_version=OLDEST_WORKER_PYTHON)


@pytest.mark.parametrize("path", portable_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_worker_and_fixtures_import_only_stdlib_numpy_keras_and_their_folder(path):
    assert foreign_imports(path, path.read_text()) == []


def test_a_worker_importing_the_harness_is_caught():
    planted = ("import json\nimport compat\n"
               "def f():\n    from harness.spec import load\n    import harness\n    from . import formats\n"
               "    import yaml\n    import zoneinfo\n    import importlib.metadata\n")
    assert foreign_imports(WORKER / "main.py", planted) == [
        "main.py:4: harness.spec", "main.py:5: harness", "main.py:6: .formats", "main.py:7: yaml",
        "main.py:8: zoneinfo", "main.py:9: importlib.metadata"]


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: Path) -> dict[str, set[str]]:
    """{module: the modules of ``package`` it imports}, for every ``.py`` below ``package`` except the
    worker (run by path, apart). ``from harness import spec`` imports ``harness.spec``;
    ``from harness.spec import X`` imports ``harness.spec``; relative imports are resolved."""
    files = {module_name(p, package.parent): p for p in package.rglob("*.py") if p.parent.name != "worker"}
    graph = {}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = name.split(".")[: len(name.split(".")) - node.level + is_package]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            edges |= {t for t in targets if t in files and t != name}
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or None (depth-first search, three colours)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_import_graph_covers_every_host_module_in_every_subpackage():
    graph = import_graph(ROOT / "harness")
    host = {module_name(p, ROOT) for p in (ROOT / "harness").rglob("*.py") if "worker" not in p.parts}
    assert set(graph) == host
    for package in ("config", "execute", "report", "check", "check.security", "ci"):
        assert any(name.startswith(f"harness.{package}.") for name in graph), package
    # `from harness.execute import launch` and `from harness.check.steps import X` are edges to modules
    assert {"harness.execute.launch", "harness.config.spec", "harness.report.progress"} <= graph["harness.run"]
    assert "harness.check.modelfile" in graph["harness.check.security.scan"]


def test_the_harness_has_no_import_cycle():
    assert find_cycle(import_graph(ROOT / "harness")) is None


def test_an_import_cycle_is_found_even_inside_a_function(tmp_path):
    package = tmp_path / "harness"
    (package / "report").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "report" / "__init__.py").write_text("from . import table\n")
    (package / "report" / "table.py").write_text("def f():\n    from ..spec import X\n")
    (package / "spec.py").write_text("from harness import report\n")
    graph = import_graph(package)
    assert graph["harness.report"] == {"harness.report.table"}
    assert graph["harness.report.table"] == {"harness.spec"}
    assert find_cycle(graph) == ["harness.report", "harness.report.table", "harness.spec", "harness.report"]
