"""Sessions of keras-compat-matrix.

    nox -s matrix [-- --profile quick] [-- --envs A B]   the whole matrix, then the reports
    nox -l                                                one produce and one consume session per environment
    nox -s "consume(env='tf2.15')"                        one phase of one environment (its producers first)
    nox -s images [-- --profile docker]                   pull or build the docker environments' images
    nox -s tests                                          the test suite

Environments come from matrix.yaml (or $KCM_MATRIX); nox creates each venv environment with uv,
and a docker environment's sessions run its worker in a container instead (harness/containers.py).
"""
from __future__ import annotations

import sys
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from harness import images as images_mod  # noqa: E402
from harness import interpreters, run  # noqa: E402
from harness.spec import SpecError, load  # noqa: E402

nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["matrix"]

try:
    SPEC, SPEC_ERROR = load(run.matrix_path()), None
except SpecError as exc:
    SPEC, SPEC_ERROR = None, str(exc)

ENV_PARAMS = [
    # python=False (no venv): a docker environment runs in a container; a venv environment
    # whose interpreter is not found records env-error.
    nox.param(False if env.runner == "docker" else (interpreters.find_python(env.python) or False), name,
              id=f"env='{name}'")
    for name, env in (SPEC.envs.items() if SPEC else [])
]


def _context(session: nox.Session) -> run.Context:
    if SPEC_ERROR:
        session.error(SPEC_ERROR)
    try:
        return run.Context.from_args(session.posargs)
    except SpecError as exc:
        session.error(str(exc))


def _venv(session: nox.Session) -> Path | None:
    return Path(session.virtualenv.location) if session.python else None


@nox.session(python=False)
def matrix(session: nox.Session) -> None:
    """Validate matrix.yaml, then produce and consume in every environment and write the reports."""
    ctx = _context(session)
    run.start(ctx)
    session.log(f"profile {ctx.selection.profile}: {', '.join(ctx.selection.envs)}; "
                f"fixtures {', '.join(ctx.selection.fixtures)}; formats {', '.join(ctx.selection.formats)}")
    for phase in ("produce", "consume"):
        for env in ctx.selection.envs:
            session.notify(f"{phase}(env='{env}')", session.posargs)
    session.notify("report", session.posargs)


@nox.session(venv_backend="uv", download_python="never", tags=["produce"])
@nox.parametrize(["python", "env"], ENV_PARAMS)
def produce(session: nox.Session, env: str) -> None:
    """Save every fixture in every format in one environment (the producer)."""
    run.produce(_context(session), env, _venv(session), log=session.log)


# A consumer loads every selected producer's artifacts: it requires their produce sessions.
SELECTED = run.selected_envs(sys.argv, SPEC) if SPEC else []


@nox.session(venv_backend="uv", download_python="never", tags=["consume"],
             requires=[f"produce(env='{name}')" for name in SELECTED])
@nox.parametrize(["python", "env"], ENV_PARAMS)
def consume(session: nox.Session, env: str) -> None:
    """Load every producer's artifacts in one environment (the consumer)."""
    run.consume(_context(session), env, _venv(session), log=session.log)


@nox.session(python=False)
def images(session: nox.Session) -> None:
    """Pull or build the Docker image of every docker environment of the selection, up front."""
    ctx = _context(session)
    try:
        problems = images_mod.prepare_all(ctx.spec, ctx.selection.envs)
    except images_mod.Unavailable as exc:
        session.error(str(exc))
    if problems:
        session.error("; ".join(problems))


@nox.session(python=False)
def report(session: nox.Session) -> None:
    """Write reports/matrix.md, matrix.html, results.json and junit.xml from the results so far.

    Fails when a negative control passed, a failure is not in matrix.yaml's expected_failures,
    or an expected failure passed (a stale entry)."""
    problems = run.report(_context(session), log=session.log)
    if problems:
        session.error("; ".join(problems))


@nox.session(python=None)
def tests(session: nox.Session) -> None:
    """Run the test suite (unit tests, then the integration tests with real TensorFlow)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)
