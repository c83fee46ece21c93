"""Find a Python interpreter of a given minor version ("3.10") for an environment.

Looks, in order, on PATH (``python3.10``), among pyenv's installed versions
(``$PYENV_ROOT/versions/3.10.*``, highest patch first) and among uv-managed
interpreters (``uv python find --no-python-downloads``). Each candidate is run
once to confirm its version: a pyenv shim for a version that is not active is
on PATH but fails to run, and must not count.

What was found is kept in ``$KCM_INTERPRETERS`` (JSON, version -> path or null), so the
session subprocesses of ``nox -j N``, which inherit it, do not probe again.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from packaging.version import InvalidVersion, Version

from harness.errors import HarnessError

PROBE = "import sys; print('%d.%d' % sys.version_info[:2])"


def _runs_as(candidate: str, version: str) -> bool:
    try:
        out = subprocess.run([candidate, "-c", PROBE], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and out.stdout.strip() == version


def pyenv_root() -> Path:
    """``$PYENV_ROOT``, else ``~/.pyenv``."""
    return Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")


def _patch_key(path: Path) -> Version:
    try:
        return Version(path.name)
    except InvalidVersion:
        return Version("0")


def _pyenv_candidates(version: str) -> list[str]:
    versions = pyenv_root() / "versions"
    if not versions.is_dir():
        return []
    found = [p for p in versions.iterdir() if p.name == version or p.name.startswith(version + ".")]
    found.sort(key=_patch_key, reverse=True)
    return [str(p / "bin" / f"python{version}") for p in found]


def _uv_candidate(version: str) -> list[str]:
    uv = shutil.which("uv")
    if uv is None:
        return []
    try:
        out = subprocess.run([uv, "python", "find", "--no-python-downloads", version],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [out.stdout.strip()] if out.returncode == 0 and out.stdout.strip() else []


CACHE_VARIABLE = "KCM_INTERPRETERS"


@lru_cache(maxsize=None)
def find_python(version: str) -> str | None:
    """Absolute path of a working ``python<version>``, or None if none is installed.

    Args:
        version: a minor version such as ``"3.10"``.
    """
    try:
        known = json.loads(os.environ.get(CACHE_VARIABLE) or "{}")
    except ValueError:
        known = {}
    if version in known and (known[version] is None or os.path.exists(known[version])):
        return known[version]
    found = _probe(version)
    os.environ[CACHE_VARIABLE] = json.dumps(dict(known, **{version: found}))
    return found


def _probe(version: str) -> str | None:
    on_path = shutil.which(f"python{version}")
    for candidates in (lambda: [on_path] if on_path else [], lambda: _pyenv_candidates(version),
                       lambda: _uv_candidate(version)):  # uv is asked only when the others have none
        for candidate in candidates():
            if os.path.exists(candidate) and _runs_as(candidate, version):
                return os.path.abspath(candidate)
    return None


def where_looked(version: str) -> str:
    """A sentence for error messages: where ``find_python`` looked for ``version``."""
    return (f"no working python{version} on PATH, in {pyenv_root() / 'versions'}, "
            f"or among uv-managed interpreters; install one (e.g. `pyenv install {version}`)")


# Run in the user's interpreter (Python 3.7+; importlib.metadata from 3.8, pkg_resources before): the
# versions of the packages that decide verdicts, read from their installed metadata, nothing imported.
INSTALLED = """
import json, sys
names = sys.argv[1:]
try:
    from importlib.metadata import version
except ImportError:
    from pkg_resources import get_distribution
    def version(name):
        return get_distribution(name).version
out = {}
for name in names:
    try:
        out[name] = version(name)
    except Exception:
        pass
print(json.dumps({"python": "%d.%d" % sys.version_info[:2], "packages": out}))
"""


class InterpreterError(HarnessError, RuntimeError):
    """An existing interpreter (``runner: python``) that cannot be run or read; the message says which and why."""


@lru_cache(maxsize=None)
def installed(path: str, names: tuple[str, ...]) -> tuple[str, dict[str, str]]:
    """(Python minor version "3.11", {distribution name: version}) of the interpreter at ``path``,
    for those of ``names`` installed there (read from their metadata; installs and imports nothing).

    Raises:
        InterpreterError: not an absolute path, not there, not runnable, not named python*, or an
            answer that is not the JSON the probe prints (within 30 seconds).
    """
    if not os.path.isabs(path):
        raise InterpreterError(f"{path}: not an absolute path to a Python interpreter")
    if not os.access(path, os.X_OK) or os.path.isdir(path):
        raise InterpreterError(f"{path}: no executable Python interpreter there")
    if not os.path.basename(path).startswith("python"):  # run nothing else with the probe's text
        raise InterpreterError(f"{path}: not a Python interpreter (name one like .../bin/python or python3.11)")
    done = None
    try:
        done = subprocess.run([path, "-c", INSTALLED, *names], capture_output=True, text=True, timeout=30)
        answer = json.loads(done.stdout.strip().splitlines()[-1])
        return str(answer["python"]), {str(k): str(v) for k, v in dict(answer["packages"]).items()}
    except subprocess.TimeoutExpired:
        raise InterpreterError(f"{path}: did not answer within 30 s") from None
    except (OSError, ValueError, IndexError, KeyError, TypeError):
        tail = (done and (done.stderr or done.stdout).strip().splitlines()[-1:]) or ["no answer"]
        raise InterpreterError(f"{path}: is not a Python that runs here ({tail[0][:200]})") from None
