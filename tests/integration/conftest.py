"""Integration tests run the real harness through nox, with real TensorFlow environments."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_matrix(tmp: Path, *args: str, matrix: Path | None = None, succeeds: bool | None = True) -> dict:
    """Run ``nox -s matrix -- ARGS`` into ``tmp``; return results.json (cells keyed by id) and the log.

    ``succeeds``: whether nox must exit 0 (every failure expected) or non-zero (the run has
    failures no expected_failures entry explains); None: either.
    """
    env = dict(os.environ)
    if matrix is not None:
        env["KCM_MATRIX"] = str(matrix)
    argv = [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-s", "matrix", "-j", "2", "--",
            "--workdir", str(tmp / "work"), "--reports", str(tmp / "reports"), *args]
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    log = proc.stdout + proc.stderr
    assert succeeds is None or (proc.returncode == 0) == succeeds, log[-6000:]
    results = json.loads((tmp / "reports" / "results.json").read_text())
    return {"cells": {c["id"]: c for c in results["cells"]}, "results": results, "log": log,
            "reports": tmp / "reports", "work": tmp / "work"}


@pytest.fixture(scope="session")
def docker_client():
    """A client of the Docker engine. Without one the test is skipped, unless $KCM_REQUIRE_DOCKER
    is set (CI sets it: .ci/run starts an engine, and a test that needs it must not pass unseen)."""
    from harness.execute import images
    try:
        return images.engine()
    except images.Unavailable as exc:
        if os.environ.get("KCM_REQUIRE_DOCKER"):
            raise
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def base_image(docker_client):
    """The debootstrap base image (made once, about 1.5 minutes, then kept in the engine)."""
    from harness.execute import images
    images.ensure_base(docker_client, print, lambda line: None)
    return images.BASE_IMAGE


def pytest_collection_modifyitems(items):
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
