"""keras-compat-matrix: save Keras models in one TensorFlow/Keras version, load them in others (README.md).

    nox -s matrix [-j auto] [-- --profile quick --fixtures dense_bn]   the matrix, then reports/matrix.md
    nox -s SESSION -- --help          a session's options (matrix: the profiles, fixtures and formats)
    nox -l -t phase                   this list with the phases: produce, consume, check_in per environment
    nox -s "consume(env='tf2.15')"    one phase of one environment (after its producers; docs/running.md)

The words the reports use: docs/glossary.md.
"""
from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from harness import cli, preflight, run  # noqa: E402
from harness.check import releases  # noqa: E402
from harness.config import lock as lock_mod  # noqa: E402
from harness.config.matrix_yaml import matrix_path  # noqa: E402
from harness.config.spec import SpecError, load  # noqa: E402
from harness.errors import HarnessError  # noqa: E402
from harness.execute import interpreters  # noqa: E402
from harness.report import display as display_mod, progress, trend as trend_mod  # noqa: E402
from harness.workdir import DEFAULT_CHECK_WORKDIR, WorkDir  # noqa: E402

nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["matrix"]

try:
    # With the environments that `check --to RELEASE` resolved before (work/releases.json).
    SPEC, SPEC_ERROR = releases.with_cached(load(matrix_path())), None
except SpecError as exc:
    SPEC, SPEC_ERROR = None, str(exc)

# A session's --help, and a bad option or selection (one line, exit 2), before nox plans any session.
SELECTION = preflight.check(sys.argv, SPEC, SPEC_ERROR)
if SPEC_ERROR:
    # Without a spec there are no produce/consume/check_in sessions: say why (nox -l lists the rest).
    print(f"noxfile: {SPEC_ERROR}", file=sys.stderr)
# Under a plain `nox -l` the per-environment phases are left out, so the list fits a screen.
HIDE_PHASES = preflight.hides_phases(sys.argv)

ENV_PARAMS = [
    # python=False (no venv): a docker environment runs in a container, a runner: python one its own
    # interpreter; a venv environment whose interpreter is not found records env-error.
    nox.param(False if env.runner != "venv" else (interpreters.find_python(env.python) or False), name,
              id=f"env='{name}'")
    for name, env in (SPEC.envs.items() if SPEC and not HIDE_PHASES else [])
]


def phase_session(**kwargs):
    """``nox.session(**kwargs)`` over ``nox.parametrize`` by environment (``ENV_PARAMS``), tagged ``phase``;
    under a plain ``nox -l`` (``HIDE_PHASES``) the function is left undeclared."""
    def declare(func):
        if HIDE_PHASES:
            return func
        kwargs["tags"] = [*kwargs.get("tags", []), "phase"]
        return nox.session(**kwargs)(nox.parametrize(["python", "env"], ENV_PARAMS)(func))
    return declare


# nox -j N runs each session in its own subprocess: the count travels in the environment, and
# each worker gets the machine's cores divided by it (run.thread_variables).
os.environ.setdefault("KCM_PARALLEL", str(cli.parallel_sessions(sys.argv, os.environ)))
# Whether the nox command itself writes to a terminal: its -j children see only a pipe
# (harness/report/display.py chooses each session's display from it).
os.environ.setdefault("KCM_NOX_TTY", "1" if sys.stdout.isatty() else "0")
if WATCHED := run.watched_run(sys.argv):  # nox -j without a terminal: this process prints the progress
    display_mod.watch_in_background(WATCHED.workdir, explained=progress.explainer(WATCHED.selection))


def one_line(func):
    """Run a session body so that a :class:`HarnessError` ends it with its one line, never a traceback:
    ``session.error`` (status 1), or status 2 with the line on stderr where the error is bad input
    (``check`` and ``scan`` document 2; nox itself knows only 1 for a failed session)."""
    @functools.wraps(func)
    def run_session(session: nox.Session, *args, **kwargs):
        try:
            return func(session, *args, **kwargs)
        except HarnessError as exc:
            if exc.exit_status == 2:
                _exit_bad_input(session, str(exc))
            session.error(str(exc))
    return run_session


def _exit_bad_input(session: nox.Session, message: str) -> None:
    name = session.name.split("(")[0]
    print(f"nox -s {'check' if name.startswith('check') else name}: {message}", file=sys.stderr)
    raise SystemExit(2)


def _context(session: nox.Session, args: list[str] | None = None, parser=None) -> run.Context:
    """The run's context from the session's options (``parser``: the session's own, default the matrix's)."""
    if SPEC_ERROR:
        session.error(SPEC_ERROR)
    display = display_mod.choose_display(False, sys.stdout.isatty(), session.parallel,
                                         os.environ["KCM_NOX_TTY"] == "1")
    return run.Context.from_args(session.posargs if args is None else args,
                                 parallel=int(os.environ["KCM_PARALLEL"]), display=display, parser=parser)


def _venv(session: nox.Session) -> Path | None:
    return Path(session.virtualenv.location) if session.python else None


# The producers and consumers a command line selects (its --profile, --envs, --from, --to after "--"):
# each consumer loads every selected producer's artifacts, so the dependencies below are declared for
# exactly them (none under a plain `nox -l`, which declares no phase).
if SELECTION is not None:
    PRODUCERS, CONSUMERS = list(SELECTION.producer_envs), list(SELECTION.consumers)
else:
    PRODUCERS, CONSUMERS = cli.selected_envs(sys.argv, SPEC) if SPEC and not HIDE_PHASES else ([], [])


@phase_session(venv_backend="uv", download_python="never", tags=["produce"], requires=["plan"],
               allow_parallel=True)
@one_line
def produce(session: nox.Session, env: str) -> None:
    """Save every fixture in every format in one environment (the producer)."""
    run.produce(_context(session), env, _venv(session), log=session.log)


@phase_session(venv_backend="uv", download_python="never", tags=["consume"], allow_parallel=True,
               requires=[f"produce(env='{name}')" for name in PRODUCERS] or ["plan"])
@one_line
def consume(session: nox.Session, env: str) -> None:
    """Load every producer's artifacts in one environment (the consumer)."""
    run.consume(_context(session), env, _venv(session), log=session.log)


@nox.session(python=False, requires=[f"consume(env='{name}')" for name in CONSUMERS])
@one_line
def matrix(session: nox.Session) -> None:
    """Run the matrix: plan, produce and consume in every selected environment, then write the reports."""
    _report(session)


@nox.session(python=False)
@one_line
def plan(session: nox.Session) -> None:
    """The matrix's first step: check matrix.yaml and the selection, forget the selection's old results."""
    ctx = _context(session)
    run.start(ctx)
    session.log(f"profile {ctx.selection.profile}: {', '.join(ctx.selection.envs)}; "
                f"{len(ctx.selection.fixtures)} fixtures; formats {', '.join(ctx.selection.formats)}; "
                f"goldens {', '.join(ctx.selection.goldens) or 'none'}")


@nox.session(python=False)
@one_line
def images(session: nox.Session) -> None:
    """Pull or build the Docker images of the selection's docker environments, up front."""
    from harness.execute import images as images_mod  # the docker SDK and h5py load only in the sessions using them
    ctx = _context(session, parser=cli.images_parser)
    problems = images_mod.prepare_all(ctx.spec, ctx.selection.envs)
    if problems:
        session.error("; ".join(problems))


@nox.session(python=False)
@one_line
def report(session: nox.Session) -> None:
    """Write the reports again from the work dir's records (the last run's selection, or a narrower one).

    reports/matrix.md, matrix.html, results.json and junit.xml, for the last run's selection; a selection
    option given (--profile, --envs, --fixtures, --formats, --from, --to, --no-goldens) replaces that one.
    """
    _report(session, cli.last_selection(session.posargs), parser=cli.report_parser)


def _report(session: nox.Session, args: list[str] | None = None, parser=None) -> None:
    """Write the reports; fail when a negative control passed, a failure is not in matrix.yaml's
    expected_failures, an expected failure passed (a stale entry), or cells have no result."""
    problems = run.report(_context(session, args, parser), log=session.log)
    if problems:
        session.error("; ".join(problems))


@nox.session(python=False)
@one_line
def trend(session: nox.Session) -> None:
    """Verdict counts per night over stored results.json files: trend.html (table and bar chart) and trend.md.

    nox -s trend -- DIR_OR_FILE... [--out reports/trend.html]
    """
    trend_mod.main(session.posargs, log=session.log)


@nox.session(python=False)
@one_line
def site(session: nox.Session) -> None:
    """Write a static site of the work dir's results: the producer × consumer grid, a page per pair and per fixture.

    nox -s site -- [--workdir W] [--out site/] [--history DIR_OR_FILE ...] (harness/report/site.py)
    """
    from harness.report import site as site_mod
    site_mod.main(session.posargs, log=session.log)


@nox.session(python=False)
@one_line
def route(session: nox.Session) -> None:
    """One producer → consumer pair's answer from the work dir's last results: routes, what fails, or how to run it.

    nox -s route -- --from PRODUCER --to CONSUMER [--workdir W] (harness/report/route.py)
    """
    from harness.report import route as route_mod
    route_mod.main(session.posargs, log=print)


@nox.session(python=False)
@one_line
def jobs(session: nox.Session) -> None:
    """Print the CI job matrix of the selection as one line of JSON (harness/ci/jobs.py).

    nox -s jobs -- [--profile P] [--envs ...] [--max-jobs 256]
    """
    matrix = run.job_matrix(session.posargs)
    print(json.dumps(matrix, separators=(",", ":")))


@nox.session(python=False)
@one_line
def merge(session: nox.Session) -> None:
    """Merge the work dirs of separately run CI jobs into one, then write its reports (harness/ci/merge.py).

    nox -s merge -- DIR [DIR ...] [--workdir W] [--reports R] [--level L] [--compare PREV] [--fail-on F]
    Fails as nox -s report does, and when the folders cannot be merged (which, and why).
    """
    _report(session, run.merge(session.posargs, log=session.log), parser=cli.report_parser)


@nox.session(python=False)
@one_line
def golden(session: nox.Session) -> None:
    """Freeze one environment's artifacts into fixtures/golden/ENV/ (after its produce session)."""
    run.freeze_golden(session.posargs, log=session.log)


def _plan_path(session: nox.Session) -> Path:
    return Path(session.posargs[0]) if session.posargs else WorkDir(DEFAULT_CHECK_WORKDIR).plan


@nox.session(python=False)
@one_line
def check(session: nox.Session) -> None:
    """Check one model file: load it in its source environment and in newer ones, and compare outputs.

    nox -s check -- PATH [--to ENV_OR_RELEASE ...] [--from ENV_OR_RELEASE] [--architecture JSON] [--inputs NPZ]
                         [--build module:function | --build path/to/file.py:function]
                         [--custom-objects PY] [--call 'load_model(path, compile=False)'] [--dry-run]
                         [--format md|json] [--unsafe] [--fail-on unsafe] [--workdir DIR]
    Exit status 0: every target passes; 1: a target fails, or works only with a change to the call; 2: bad input.
    """
    from harness.check import steps as check_mod
    if SPEC_ERROR:
        session.error(SPEC_ERROR)
    checked = check_mod.start(session.posargs, SPEC, Path(session.invoked_from))
    session.log(f"source {checked.source} ({checked.source_why}); targets {', '.join(checked.targets)}")
    print(check_mod.installs(checked), file=sys.stderr)  # stdout is the report's (--format json)
    print(check_mod.predictions.before_text(check_mod.predictions.read(checked)), file=sys.stderr)
    if checked.dry_run:
        return
    plan_path = checked.work.plan
    new = [env for env in checked.envs if env not in SPEC.envs]
    if new:
        # Environments resolved from releases just now: this nox process has no sessions for them, so a
        # fresh one (whose noxfile reads work/releases.json) runs the check's sessions.
        session.log(f"resolved {', '.join(new)}; running the check's sessions in a fresh nox")
        import subprocess
        status = subprocess.call([sys.executable, "-m", "nox", "-f", __file__, "-s",
                                  *[f"check_in(env='{env}')" for env in checked.envs], "check_report",
                                  "--", str(plan_path)])
        if status:
            raise SystemExit(status)  # the check's own status: 1 a target fails, 2 bad input
        return
    for env in checked.envs:
        session.notify(f"check_in(env='{env}')", [str(plan_path)])
    session.notify("check_report", [str(plan_path)])


@phase_session(venv_backend="uv", download_python="never", tags=["check"])
@one_line
def check_in(session: nox.Session, env: str) -> None:
    """Load the checked file in one environment (source: record the reference; target: compare)."""
    from harness.check import steps as check_mod
    check_mod.check_in(_plan_path(session), env, _venv(session), log=session.log)


@nox.session(python=False)
@one_line
def check_report(session: nox.Session) -> None:
    """Print the check's report (stdout) and exit 0, 1 (a target fails) or 2 (bad input)."""
    from harness.check import steps as check_mod
    status, text, message = check_mod.finish(_plan_path(session), log=session.log)
    print(text)
    if status == check_mod.report.BAD_INPUT:
        _exit_bad_input(session, message)
    if status:  # a verdict, not a crashed session: the verdict's line last, then the check's exit status
        print(message, file=sys.stderr)
        raise SystemExit(status)
    session.log(message)


@nox.session(python=False)
@one_line
def scan(session: nox.Session) -> None:
    """What model files would make a loader run or follow, and per target Keras the verdict and advisories.

    nox -s scan -- PATH... [--profile P | --to ENV_OR_RELEASE ...] [--format md|json|sarif]
    Host only (no environment). Exit status 0: nothing would run code; 1: a target would; 2: bad input;
    3: nothing scanned (no model file under the PATHs).
    """
    from harness.check.security import scan as scan_mod
    status, text = scan_mod.main(session.posargs)
    print(text)
    if status == scan_mod.NOTHING_SCANNED:
        print("nox -s scan: nothing scanned: no .keras, .h5, .hdf5 file or SavedModel folder under the PATHs",
              file=sys.stderr)
        raise SystemExit(status)
    if status:
        session.error("a target would run code from the file (see the Security table)")


@nox.session(python=False)
@one_line
def lock(session: nox.Session) -> None:
    """Resolve matrix.yaml's version ranges against the package index into matrix.lock.json.

    Runs use the lock (-- --dry-run: print the resolution, write nothing; --index-url URL)."""
    lock_mod.main(session.posargs, matrix_path(), log=session.log)


@nox.session(python=None)
def lint(session: nox.Session) -> None:
    """Check the code with ruff (its rules: pyproject.toml's [tool.ruff]).

    Installs only pyproject's `lint` extra."""
    session.install(*nox.project.load_toml(ROOT / "pyproject.toml")["project"]["optional-dependencies"]["lint"])
    session.run("ruff", "check", str(ROOT))


@nox.session(python=None, requires=["lint"])
def tests(session: nox.Session) -> None:
    """Run the lint session, then the tests (unit, then integration with real TensorFlow)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session(python=False)
@one_line
def scan_proof(session: nox.Session) -> None:
    """Load a canary per finding at boundary Keras releases and fail where scan's verdict disagrees."""
    from harness.check.security import proof  # h5py and the corpus load only here
    if proof.main(session.posargs, log=session.log):
        session.error("a real load disagrees with scan's verdict (the table above)")
