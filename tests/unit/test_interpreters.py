"""Interpreter discovery looks on PATH, then in pyenv's versions, and skips ones that do not run."""
import os
import json
import stat
import sys

import pytest

from harness.execute import interpreters


@pytest.fixture(autouse=True)
def _no_inherited_answers(monkeypatch):
    monkeypatch.delenv(interpreters.CACHE_VARIABLE, raising=False)


def _script(path, body):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_finds_the_highest_pyenv_patch_release(tmp_path, monkeypatch):
    root = tmp_path / "pyenv"
    _script(root / "versions" / "3.77.1" / "bin" / "python3.77", "echo 3.77")
    newest = _script(root / "versions" / "3.77.10" / "bin" / "python3.77", "echo 3.77")
    monkeypatch.setenv("PYENV_ROOT", str(root))
    interpreters.find_python.cache_clear()
    assert interpreters.find_python("3.77") == str(newest)


def test_a_shim_that_does_not_run_is_skipped(tmp_path, monkeypatch):
    shims = tmp_path / "shims"
    _script(shims / "python3.78", "echo 'pyenv: python3.78: command not found' >&2; exit 127")
    real = _script(tmp_path / "pyenv" / "versions" / "3.78.0" / "bin" / "python3.78", "echo 3.78")
    monkeypatch.setenv("PATH", f"{shims}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    interpreters.find_python.cache_clear()
    assert interpreters.find_python("3.78") == str(real)


def test_none_when_nothing_is_installed(tmp_path, monkeypatch):
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    interpreters.find_python.cache_clear()
    assert interpreters.find_python("3.99") is None
    assert "pyenv install 3.99" in interpreters.where_looked("3.99")


def test_finds_the_running_interpreter():
    version = "%d.%d" % sys.version_info[:2]
    interpreters.find_python.cache_clear()
    found = interpreters.find_python(version)
    assert found is not None and os.access(found, os.X_OK)


def test_answers_travel_to_session_subprocesses(tmp_path, monkeypatch):
    """nox -j runs each session in a child that inherits the environment: it must not probe again."""
    real = _script(tmp_path / "pyenv" / "versions" / "3.79.1" / "bin" / "python3.79", "echo 3.79")
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    interpreters.find_python.cache_clear()
    assert interpreters.find_python("3.79") == str(real)
    assert json.loads(os.environ[interpreters.CACHE_VARIABLE])["3.79"] == str(real)
    real.write_text("#!/bin/sh\nexit 1\n")  # a probe now would fail: the inherited answer is used
    interpreters.find_python.cache_clear()
    assert interpreters.find_python("3.79") == str(real)
