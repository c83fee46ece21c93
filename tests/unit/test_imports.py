"""What the code may import: the worker and the fixtures stay Python 3.7 and never reach into the
harness.

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
