"""The steps of a run, as the nox sessions call them: start, produce, consume, report.

Each step reads the same options (the session's positional arguments) and the
same validated ``matrix.yaml``, so a phase run alone (``nox -s "consume(env='tf2.15')"``)
behaves exactly as it does inside ``nox -s matrix``.
"""
from __future__ import annotations

import argparse
import datetime
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from harness import containers, environments, images, interpreters
from harness import report as report_mod
from harness import spec as spec_mod
from harness.plan import Selection, consume_cells, produce_cells, select, write_json
from harness.processes import Interpreter, Launcher
from harness.results import LEVELS, append_record, read_records
from harness.supervisor import PhaseFiles, env_error_record, run_phase

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MATRIX = ROOT / "matrix.yaml"


def matrix_path() -> Path:
    """``$KCM_MATRIX`` if set, else the repository's ``matrix.yaml``."""
    return Path(os.environ.get("KCM_MATRIX") or DEFAULT_MATRIX).resolve()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nox -s matrix --", description="Run the compatibility matrix.")
    parser.add_argument("--profile", default="default", help="profile of matrix.yaml (default: default)")
    parser.add_argument("--envs", nargs="+", metavar="ENV", help="only these environments")
    parser.add_argument("--fixtures", nargs="+", metavar="FIXTURE", help="only these fixtures")
    parser.add_argument("--level", choices=LEVELS, default="outputs",
                        help="check level the report's tables show (default: outputs)")
    parser.add_argument("--workdir", type=Path, default=ROOT / "work",
                        help="where artifacts/, results/ and logs/ go (default: work/)")
    parser.add_argument("--reports", type=Path, default=ROOT / "reports",
                        help="where matrix.md, matrix.html, results.json, junit.xml go (default: reports/)")
    return parser


def selected_envs(argv: list[str], spec: spec_mod.MatrixSpec) -> list[str]:
    """The environments a nox command line selects (``--profile``/``--envs`` after ``--``).

    nox declares session dependencies when it loads the noxfile, before any
    session sees its positional arguments, so the noxfile reads them here.
    Unparsable or unknown arguments select the default profile; the session
    itself then reports them.
    """
    posargs = argv[argv.index("--") + 1:] if "--" in argv else []
    options, _ = _parser().parse_known_args(posargs)
    if options.envs and set(options.envs) <= set(spec.envs):
        return list(options.envs)
    profile = spec.profiles.get(options.profile) or spec.profiles["default"]
    return list(profile.envs)


@dataclass(frozen=True)
class Context:
    """Options plus the validated spec and the selection they imply."""

    spec: spec_mod.MatrixSpec
    selection: Selection
    workdir: Path
    reports: Path
    level: str = "outputs"

    @classmethod
    def from_args(cls, args: list[str]) -> Context:
        """Parse the session's positional arguments and load ``matrix.yaml``.

        Raises:
            SystemExit: bad arguments (argparse prints the message).
            spec.SpecError: invalid ``matrix.yaml`` or selection.
        """
        options = _parser().parse_args(args)
        spec = spec_mod.load(matrix_path())
        fixtures_dir = (spec.path.parent / spec.fixtures_dir).resolve()
        selection = select(spec, fixtures_dir, options.profile, options.envs, options.fixtures)
        return cls(spec, selection, options.workdir.resolve(), options.reports.resolve(), options.level)

    def task(self, phase: str, env: str) -> dict:
        return {"phase": phase, "env": env, "seed": self.spec.seed, "device": self.spec.envs[env].device,
                "fixtures": {name: str(f.path) for name, f in self.selection.fixtures.items()},
                "artifacts_dir": str(self.workdir / "artifacts")}


def start(ctx: Context) -> None:
    """Begin a run: forget the selected environments' old results, record the plan."""
    for env in ctx.selection.envs:
        for phase in ("produce", "consume"):
            PhaseFiles(ctx.workdir, phase, env).reset()
    write_json(ctx.workdir / "run.json", dict(ctx.selection.to_json(), started=time.time(),
                                              matrix=str(ctx.spec.path)))


def _prepare(ctx: Context, files: PhaseFiles, venv: Path | None, log) -> Launcher | None:
    """Install the environment (a docker one: get its image); where it cannot run, write its env-error
    (or skipped) record and return None."""
    env = ctx.spec.envs[files.env]
    if env.runner == "docker":
        return _prepare_container(ctx, files, log)
    if venv is None:
        append_record(files.results, env_error_record(files, interpreters.where_looked(env.python)))
        return None
    try:
        if environments.ensure_installed(venv, env, ctx.spec):
            log(f"{files.env}: installed {' '.join(env.requirements(ctx.spec.extra_pins))}")
        else:
            log(f"{files.env}: reusing {venv} (spec unchanged)")
    except environments.EnvError as exc:
        append_record(files.results, env_error_record(files, str(exc), exc.detail))
        return None
    return Interpreter(str(environments.venv_python(venv)))


def _prepare_container(ctx: Context, files: PhaseFiles, log) -> Launcher | None:
    """Get a docker environment's image; where it cannot run here write its skipped or env-error record."""
    try:
        return containers.launcher_for(ctx.spec.envs[files.env], ctx.spec, files,
                                       [f.path for f in ctx.selection.fixtures.values()], log)
    except images.Unavailable as exc:
        append_record(files.results, env_error_record(files, str(exc), verdict="skipped"))
    except environments.EnvError as exc:
        append_record(files.results, env_error_record(files, str(exc), exc.detail))
    return None


def produce(ctx: Context, env: str, venv: Path | None, log=print) -> None:
    """Save every fixture in every format in ``env`` (one worker process)."""
    files = PhaseFiles(ctx.workdir, "produce", env)
    files.reset()
    shutil.rmtree(ctx.workdir / "artifacts" / env, ignore_errors=True)
    launcher = _prepare(ctx, files, venv, log)
    if launcher:
        _run(ctx, files, launcher, produce_cells(ctx.selection, env))


def consume(ctx: Context, env: str, venv: Path | None, log=print) -> None:
    """Load every producer's artifacts in ``env`` (one worker process)."""
    files = PhaseFiles(ctx.workdir, "consume", env)
    files.reset()
    produced = [r for p in ctx.selection.envs
                for r in read_records(PhaseFiles(ctx.workdir, "produce", p).results)]
    cells = consume_cells(ctx.selection, env, produced)
    if not cells:
        log(f"{env}: no artifacts to consume (did the produce sessions run?)")
        return
    launcher = _prepare(ctx, files, venv, log)
    if launcher:
        _run(ctx, files, launcher, cells)


def _run(ctx: Context, files: PhaseFiles, launcher: Launcher, cells: list[dict]) -> None:
    run_phase(files, launcher, ctx.spec.envs[files.env].worker_variables(), ctx.task(files.phase, files.env),
              cells, ctx.spec.cell_timeout_s, ctx.spec.startup_timeout_s)


def report(ctx: Context, log=print, today: datetime.date | None = None) -> list[str]:
    """Write the reports; returns why the run fails, one line each (empty: it succeeds).

    A run fails when a negative control passed, when a failure is not explained by
    a live ``expected_failures`` entry of matrix.yaml, or when an entry claims a
    pass (``ReportData.problems``). ``today`` dates the entries' expiry (default: today).
    """
    data = report_mod.build(ctx.spec, ctx.selection, ctx.workdir, today, ctx.level)
    for path in report_mod.write_all(data, ctx.reports):
        log(f"wrote {path}")
    log(report_mod.summary_line(data))
    problems = data.problems()
    for problem in problems:
        log(f"FAILED: {problem}")
    return problems
