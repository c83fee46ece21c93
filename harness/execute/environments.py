"""Install an environment's pinned packages into the venv nox created for it.

nox (with uv as its virtualenv backend) creates one venv per session; this
module fills it with the environment's requirements using ``uv pip install
--exact``, skipping the install when the venv already holds the same spec
(its fingerprint is stored in the venv as ``kcm-env.json``).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from harness.config.spec import EnvSpec, MatrixSpec
from harness.errors import HarnessError
from harness.guard import loads, read_text, write_atomic

MARKER = "kcm-env.json"
INSTALL_TIMEOUT_S = 1800


class EnvError(HarnessError, RuntimeError):
    """The environment could not be made; the message says why, ``detail`` has the tool output."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail


def venv_python(venv: Path) -> Path:
    """The interpreter inside a venv (POSIX layout)."""
    return venv / "bin" / "python"


def ensure_installed(venv: Path, env: EnvSpec, spec: MatrixSpec) -> bool:
    """Make ``venv`` hold exactly ``env``'s requirements (plus extra pins).

    Returns:
        True if packages were installed, False if the venv was already up to date.

    Raises:
        EnvError: uv is missing, or the install failed (the message names the
            requirements and the last line of uv's error).
    """
    requirements = env.requirements(spec.extra_pins)
    fingerprint = env.fingerprint(spec.extra_pins)
    marker = venv / MARKER
    try:
        if loads(read_text(marker, "venv marker")).get("fingerprint") == fingerprint:
            return False
    except (FileNotFoundError, ValueError, AttributeError):  # none yet, damaged, or not an object
        pass
    uv = shutil.which("uv")
    if uv is None:
        raise EnvError("uv is not on PATH; install the harness with `python3 -m pip install -e .`")
    marker.unlink(missing_ok=True)
    argv = [uv, "pip", "install", "--exact", "--python", str(venv_python(venv)), *requirements]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S,
                             env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"})
    except subprocess.TimeoutExpired:
        raise EnvError(f"installing {' '.join(requirements)} took over {INSTALL_TIMEOUT_S} s") from None
    if out.returncode != 0:
        lines = [line for line in out.stderr.splitlines() if line.strip()]
        last = next((line.strip() for line in reversed(lines) if "error" in line.lower()), lines[-1] if lines else "")
        raise EnvError(f"uv could not install {' '.join(requirements)}: {last}", detail=out.stderr[-4000:])
    freeze = subprocess.run([uv, "pip", "freeze", "--python", str(venv_python(venv))],
                            capture_output=True, text=True)
    write_atomic(marker, json.dumps({"fingerprint": fingerprint, "requirements": requirements,
                                     "freeze": freeze.stdout.splitlines()}, indent=1))
    return True


def installed(venv: Path) -> list[str]:
    """The ``uv pip freeze`` lines recorded when the venv was last installed."""
    try:
        return loads(read_text(venv / MARKER, "venv marker")).get("freeze", [])
    except (FileNotFoundError, ValueError, AttributeError):
        return []
