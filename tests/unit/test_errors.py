"""One error family: every error a user acts on is a HarnessError, and the noxfile turns it into one
line in one place (``one_line``), exit status 2 where check and scan document bad input."""
import ast
import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path

import harness
from harness.errors import HarnessError

ROOT = Path(__file__).resolve().parents[2]
INTERNAL = {"_Stopped", "TooLarge"}  # a shard's stop signal; the YAML composer's, re-raised as SpecError


def _modules():
    for info in pkgutil.walk_packages(harness.__path__, "harness."):
        if ".worker" in info.name:  # runs inside the environments, by path: its errors become records
            continue
        yield importlib.import_module(info.name)


def test_every_error_class_of_the_harness_is_a_harness_error():
    found = {name: cls for module in _modules() for name, cls in vars(module).items()
             if inspect.isclass(cls) and issubclass(cls, Exception) and cls.__module__ == module.__name__}
    assert {"SpecError", "UserInputError", "MergeError", "LockError", "TrendError", "TooManyJobs", "Unavailable",
            "OutsideWorkdir", "NotRegular", "EnvError", "InterpreterError", "HistoryError"} <= set(found)
    strays = [name for name, cls in found.items() if not issubclass(cls, HarnessError) and name not in INTERNAL]
    assert strays == []


def test_bad_input_is_status_2_and_the_rest_status_1():
    from harness.check.modelfile import UserInputError
    from harness.config.spec import SpecError
    assert UserInputError("x").exit_status == 2 and SpecError("x").exit_status == 1


def test_every_session_but_lint_and_tests_goes_through_one_line():
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    sessions = {f.name: [ast.unparse(d) for d in f.decorator_list] for f in tree.body
                if isinstance(f, ast.FunctionDef) and any("nox.session" in ast.unparse(d) for d in f.decorator_list)}
    assert {name for name, decorators in sessions.items() if "one_line" not in decorators} == {"lint", "tests"}
    handlers = [ast.unparse(h.type) for h in ast.walk(tree) if isinstance(h, ast.ExceptHandler)]
    assert handlers == ["SpecError", "HarnessError"]  # loading matrix.yaml at import, and one_line


def test_a_bad_input_is_one_line_and_status_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-s", "scan", "--",
                           str(tmp_path / "missing.keras")], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == f"nox -s scan: {tmp_path / 'missing.keras'}: no such file or folder"
    assert "Traceback" not in proc.stdout + proc.stderr
