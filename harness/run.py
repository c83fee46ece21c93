"""The steps of a run, as the nox sessions call them: start, produce, consume, report (and
freeze_golden, job_matrix, merge), from matrix.yaml (``harness.config``) through the phases
(``harness.execute``) to the reports (``harness.report``).

Each step reads the same options (the session's positional arguments, :mod:`harness.cli`) and the
same validated ``matrix.yaml``, so a phase run alone (``nox -s "consume(env='tf2.15')"``)
behaves exactly as it does inside ``nox -s matrix``.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness import cli, report as report_mod
from harness.ci import jobs, merge as merge_mod
from harness.config import spec as spec_mod
from harness.config.matrix_yaml import matrix_path, matrix_sha256
from harness.errors import HarnessError
from harness.execute import budget, golden, incremental, launch
from harness.execute.plan import Selection, consume_cells, produce_cells, select
from harness.execute.processes import Launcher
from harness.execute.supervisor import run_sharded, split
from harness.report import display, freshness, history, progress, results as results_mod
from harness.guard import loads, read_text, resolved
from harness.workdir import PhaseFiles, WorkDir, read_json, write_json

# A phase on one worker takes more only with this much time left (seconds): each new worker imports
# TensorFlow first (13 to 29 s here), so a shorter rest would gain little. An assumed figure.
WIDEN_MIN_LEFT_S = 90.0

def watched_run(argv: list[str]) -> Context | None:
    """The run whose phases the ``nox`` command's own process shows (``harness.report.display``), or
    None where it shows none: without ``-j`` (each session shows its own), in a session's child
    process of ``nox -j``, where ``nox`` writes to a terminal (its board shows each session's line),
    with ``--quiet``, and for arguments that are not a run's (the session reports them)."""
    if "--parallel-worker" in argv or cli.parallel_sessions(argv, os.environ) < 2 or sys.stdout.isatty():
        return None
    posargs = argv[argv.index("--") + 1:] if "--" in argv else []
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # the session itself says what is wrong with them
            ctx = Context.from_args([arg for arg in posargs if arg not in ("-h", "--help")], display="lines")
    except (SystemExit, HarnessError):
        return None
    return None if ctx.display == "off" else ctx


@dataclass(frozen=True)
class Context:
    """Options plus the validated spec and the selection they imply."""

    spec: spec_mod.MatrixSpec
    selection: Selection
    workdir: Path
    reports: Path
    level: str = "outputs"
    fresh: bool = False
    worker_threads: int = 1
    workers_per_env: int = 1
    widen_to: int = 0  # the most workers a phase may grow to as cores come free; 0: never
    compare: Path | None = None
    fail_on: str = "problems"
    display: str = "off"
    budget_s: float | None = None  # --budget: seconds from the run's start (harness.execute.budget)

    @classmethod
    def from_args(cls, args: list[str], parallel: int = 1, display: str = "off", parser=None) -> Context:
        """Parse the session's positional arguments (by ``parser()``, default ``harness.cli.matrix_parser``;
        the options it does not have take their defaults) and load ``matrix.yaml``.

        ``parallel`` is how many sessions nox runs at once (its ``-j``); at most that many environments
        run at once (fewer where fewer are selected), and each gets ``cores // environments at once``
        workers (at least 1) unless ``--workers-per-env`` says otherwise, and takes more as cores come
        free (up to one per core: :func:`widening`) unless it says so; each worker gets the cores
        over all the workers running at once as threads (at least 1) unless ``--worker-threads`` does.
        ``display`` is how a phase shows its progress (``harness.report.display.choose_display``);
        ``--quiet`` turns it off.

        Raises:
            cli.OptionError: bad arguments (one line).
            spec.SpecError: invalid ``matrix.yaml`` or selection.
        """
        options = vars(cli.matrix_parser().parse_args([]))
        options.update(vars((parser or cli.matrix_parser)().parse_args(args)))
        options = argparse.Namespace(**options)
        for option, path in (("--workdir", options.workdir), ("--reports", options.reports)):
            if path.exists() and not path.is_dir():
                raise spec_mod.SpecError(f"{option} {path}: is a file, not a folder; name a folder")
        if options.fail_on == "regression" and options.compare is None:
            raise spec_mod.SpecError("--fail-on regression needs --compare PREV_RESULTS_JSON (the previous "
                                     "run's results.json) to tell what is new")
        spec = spec_mod.load(matrix_path())
        fixtures_dir = (spec.path.parent / spec.fixtures_dir).resolve()
        goldens = {} if options.no_goldens else golden.discover(fixtures_dir / "golden")
        selection = select(spec, fixtures_dir, options.profile, options.envs, options.fixtures, goldens,
                           formats=options.formats, producers=options.from_envs, consumers=options.to_envs)
        if options.worker_threads is not None and options.worker_threads < 1:
            raise spec_mod.SpecError(f"--worker-threads {options.worker_threads}: give 1 or more")
        for option, value in (("--workers-per-env", options.workers_per_env),):
            if value is not None and value < 1:
                raise spec_mod.SpecError(f"{option} {value}: give 1 or more")
        if options.budget is not None and not options.budget > budget.MARGIN_S:  # NaN too
            raise spec_mod.SpecError(f"--budget {options.budget:g}: give more than {budget.MARGIN_S:g} seconds "
                                     "(no work starts in the last minute of a budget)")
        cores, at_once = os.cpu_count() or 1, max(1, min(parallel, len(selection.envs)))
        workers = options.workers_per_env or max(1, cores // at_once)
        threads = options.worker_threads or max(1, cores // (at_once * workers))
        widen_to = 0 if options.workers_per_env else cores
        return cls(spec, selection, resolved(options.workdir, "--workdir"), resolved(options.reports, "--reports"),
                   options.level,
                   fresh=options.fresh, worker_threads=threads, workers_per_env=workers, widen_to=widen_to,
                   compare=resolved(options.compare, "--compare") if options.compare else None,
                   fail_on=options.fail_on,
                   display="off" if options.quiet else display, budget_s=options.budget)

    def task(self, phase: str, env: str) -> dict:
        return {"phase": phase, "env": env, "seed": self.spec.seed, "device": self.spec.envs[env].device,
                "fixtures": {name: str(f.path) for name, f in self.selection.fixtures.items()},
                "artifacts_dir": str(self.work.artifacts)}

    @property
    def work(self) -> WorkDir:
        """The work dir's layout."""
        return WorkDir(self.workdir)


def start(ctx: Context) -> None:
    """Begin a run: archive the selected environments' reusable records (``harness.execute.incremental``;
    with ``--fresh`` forget them), reset their results, record the plan (``run.json``: the selection,
    when it started, and which matrix.yaml, by path and SHA-256).

    Raises:
        spec.SpecError: the work dir cannot be made or written (under a file, in ``/proc``, a full
            disk), naming the file; ``run.json`` is written atomically, so the old one is kept.
    """
    try:
        for env in ctx.selection.envs:
            for phase in ("produce", "consume"):
                if ctx.selection.runs(phase, env):  # a phase --from/--to leave out keeps its records
                    _reset(ctx, ctx.work.phase(phase, env))
        write_json(ctx.work.run, dict(ctx.selection.to_json(), started=time.time(), matrix=str(ctx.spec.path),
                                      matrix_sha256=matrix_sha256(ctx.spec.path), budget_s=ctx.budget_s))
    except OSError as exc:
        raise spec_mod.SpecError(f"--workdir {ctx.workdir}: cannot write {exc.filename or ctx.workdir} "
                                 f"({exc.strerror or exc})") from None


def _prepare(ctx: Context, files: PhaseFiles, venv: Path | None, log) -> Launcher | None:
    """Ready the environment of a matrix phase (:func:`harness.execute.launch.prepare`), its fixtures readable."""
    return launch.prepare(ctx.spec, files, venv, log, [f.path for f in ctx.selection.fixtures.values()])


def _reset(ctx: Context, files: PhaseFiles) -> dict[str, float]:
    """Keep (or with ``--fresh`` forget) the phase's reusable records and clear its files for a new run.
    Returns the seconds each cell took when the phase last ran here, by id (how shards are dealt)."""
    seconds = {r["id"]: r["seconds"] for r in files.records()
               if isinstance(r.get("id"), str) and isinstance(r.get("seconds"), (int, float))}
    if seconds:
        files.last_seconds.parent.mkdir(parents=True, exist_ok=True)
        write_json(files.last_seconds, seconds)
    else:  # reset already (nox -s plan resets every selected phase before its session runs)
        seconds = {key: value for key, value in read_json(files.last_seconds).items()
                   if isinstance(value, (int, float)) and not isinstance(value, bool)}
    if ctx.fresh:
        incremental.forget(files)
    else:
        incremental.archive(files)
    files.reset()
    return seconds


def _keys(ctx: Context) -> incremental.Keys:
    return incremental.Keys(ctx.spec, {name: f.path for name, f in ctx.selection.fixtures.items()})


def produce(ctx: Context, env: str, venv: Path | None, log=print) -> None:
    """Save every fixture in every format in ``env`` (one worker process; none when every
    cell's record can be reused)."""
    if not ctx.selection.runs("produce", env):
        log(f"{env}: not a producer of this selection (--from {' '.join(ctx.selection.producers)}); nothing to save")
        return
    files = ctx.work.phase("produce", env)
    seconds = _reset(ctx, files)
    cells = _keys(ctx).assign("produce", env, produce_cells(ctx.selection, env))
    for cell in cells:
        cell["directory"] = str(ctx.work.artifact(env, cell["fixture"], cell["format"]))
    _run_left(ctx, files, venv, cells, log, seconds)


def _run_left(ctx: Context, files: PhaseFiles, venv: Path | None, cells: list[dict], log,
              seconds: dict[str, float] | None = None) -> None:
    """Reuse what can be reused; run the rest in a worker, or in shards dealt by ``seconds`` (each cell's
    when the phase last ran, by id), preparing its environment first."""
    left = incremental.reuse(files, cells)
    if len(left) < len(cells):
        unit = "saves" if files.phase == "produce" else "consume cells (negative controls included)"
        log(f"{files.env}: {len(cells) - len(left)} of {len(cells)} {unit} unchanged "
            "since they last ran, records reused (--fresh runs them again)")
    if not left:
        return
    deadline = budget.deadline(ctx.workdir, ctx.budget_s)
    if budget.spent(deadline):
        log(f"{files.env}: --budget {ctx.budget_s:g} s nearly spent: {len(left)} {files.phase} cells not started; "
            "the next run carries on with them")
        return
    launcher = _prepare(ctx, files, venv, log)
    if launcher:
        shards = len(split(left, ctx.workers_per_env, seconds))
        explained = progress.explainer(ctx.selection)
        with display.Display(files, ctx.display, explained=explained), \
                progress.phase_running(files, len(cells), len(cells) - len(left), shards, left, seconds) as widened:
            _run(ctx, files, launcher, left, widening(ctx, files, widened) if shards == 1 else None, seconds,
                 deadline)
        incremental.archive(files)  # kept at once, so a CI job can cache work/cache/ as it ends


def consume(ctx: Context, env: str, venv: Path | None, log=print) -> None:
    """Load every producer's artifacts in ``env`` (one worker process; none when every
    cell's record can be reused)."""
    if not ctx.selection.runs("consume", env):
        log(f"{env}: not a consumer of this selection (--to {' '.join(ctx.selection.consumers)}); nothing to load")
        return
    files = ctx.work.phase("consume", env)
    seconds = _reset(ctx, files)
    by_producer = {p: ctx.work.phase("produce", p).records() for p in ctx.selection.producer_envs}
    missing = [p for p, records in by_producer.items() if not records]
    if missing:  # their cells will be reported as without a result; say so now, not only in the report
        log(f"WARNING: {env}: no produce records of {', '.join(missing)} in {ctx.work.results}; "
            "their artifacts are not loaded (run their produce sessions first, or download their artifacts)")
    produced = [r for records in by_producer.values() for r in records]
    produced += [r for golden in ctx.selection.goldens.values() for r in golden.records]
    cells = consume_cells(ctx.selection, env, produced, ctx.work.artifacts)
    if not cells:
        log(f"{env}: no artifacts to consume (did the produce sessions run?)")
        return
    _run_left(ctx, files, venv, _keys(ctx).assign("consume", env, cells), log, seconds)


def _run(ctx: Context, files: PhaseFiles, launcher: Launcher, cells: list[dict], widen=None,
         seconds: dict[str, float] | None = None, deadline: float | None = None) -> None:
    variables = dict(thread_variables(ctx.worker_threads), **ctx.spec.envs[files.env].worker_variables())
    run_sharded(files, launcher, variables, ctx.task(files.phase, files.env), cells, ctx.workers_per_env,
                ctx.spec.cell_timeout_s, ctx.spec.startup_timeout_s, widen=widen, seconds=seconds, deadline=deadline)


def widening(ctx: Context, files: PhaseFiles, widened, cores: int | None = None):
    """For a phase that runs on one worker: a function that says how many workers it should run on now
    (``harness.execute.supervisor.run_phase`` polls it), or None where it may not grow (``--workers-per-env``
    given, or one core).

    It grows when cores are free (the machine's cores less the workers of every phase of this run
    that is running now, from their status files) and its time left (the progress display's estimate)
    is at least ``WIDEN_MIN_LEFT_S``: each new worker first imports TensorFlow again (13 to 29 s each
    here, measured). Then ``widened(n)`` updates the phase's status. Under ``nox -j 2`` with three
    environments, the third one's phases ran alone on one of two cores for up to two minutes of the
    quick profile (2026-12-01).
    """
    cores = cores or os.cpu_count() or 1
    if ctx.widen_to < 2 or cores < 2:
        return None
    watch = progress.PhaseWatch(files)
    since = float(read_json(ctx.work.run).get("started") or 0)

    def workers() -> int:
        free = cores - progress.busy_workers(ctx.workdir, since)
        if free < 1:
            return 0
        phase = watch.read()
        left = phase.left_s(time.time()) if phase else None
        if left is None or left < WIDEN_MIN_LEFT_S:
            return 0
        wanted = min(ctx.widen_to, 1 + free)
        widened(wanted)
        return wanted
    return workers


def thread_variables(threads: int) -> dict[str, str]:
    """Environment variables that bound a worker's CPU threads, so ``nox -j N`` workers do not fight
    over the cores: TensorFlow's own (read at startup by tensorflow/core/common_runtime/process_util.cc),
    and OpenMP/MKL's, which PyTorch and NumPy's BLAS follow. An environment's own ``env`` wins.
    Inter-op threads stay at least 2: a single inter-op thread can deadlock ops that wait on each other."""
    n = str(threads)
    return {"TF_NUM_INTRAOP_THREADS": n, "TF_NUM_INTEROP_THREADS": str(max(2, threads)),
            "OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n}


def report(ctx: Context, log=print, today: datetime.date | None = None) -> list[str]:
    """Write the reports; returns why the run fails, one line each (empty: it succeeds).

    A run fails when a negative control passed, when a failure is not explained by
    a live ``expected_failures`` entry of matrix.yaml, or when an entry claims a
    pass (``ReportData.problems``). ``today`` dates the entries' expiry (default: today).
    With ``ctx.compare`` the run is compared with that earlier results.json (read before
    this run's reports are written, so it may be the results.json they replace); with
    ``ctx.fail_on == "regression"`` its new failures fail the run too (``harness.report.history``),
    and with ``"never"`` the run's verdicts fail nothing (a bad --workdir or --reports still does).
    """
    if not any(ctx.work.phase(phase, env).results.is_file()
               for env in ctx.selection.envs for phase in ("produce", "consume") if ctx.selection.runs(phase, env)):
        # Nothing ran here (a mistyped --workdir, or another profile's run): every cell would be
        # `skipped`, which fails nothing, so the run would look green; and the reports of the
        # last real run would be overwritten. Refuse instead.
        return [f"--workdir {ctx.workdir}: no results of {', '.join(ctx.selection.envs)} in {ctx.work.results}; "
                "nothing to report (run nox -s matrix first, or give the --workdir and --profile it used)"]
    _warn_other_matrix(ctx, log)
    data = report_mod.build(ctx.spec, ctx.selection, ctx.workdir, today, ctx.level)
    data.fail_on = ctx.fail_on
    data.budgeted = read_json(ctx.work.run).get("budget_s") is not None
    if ctx.compare:
        data.history = history.against(ctx.compare, report_mod.results_json(data))
        if data.history.previous != str(ctx.compare):
            log(f"--compare {ctx.compare}: this run's own results.json; keeping the comparison it holds "
                f"(with {data.history.previous})")
        if data.history.note:
            log(f"WARNING: {data.history.note}")
    try:
        written = report_mod.write_all(data, ctx.reports)
    except OSError as exc:  # --reports names a file, or a folder that cannot be written
        return [f"--reports {ctx.reports}: cannot write the reports ({exc.strerror}: {exc.filename})"]
    for path in written:
        log(f"wrote {path}")
    log(report_mod.summary_line(data))
    if data.history and not data.history.note:
        log(f"since {data.history.previous}: " + ", ".join(f"{n} {kind}" for kind, n in data.history.counts().items()))
    problems = results_mod.damaged(ctx.selection, ctx.workdir) + data.problems()
    filled = len(data.matrix_cells) - len(data.missing)
    for note in data.apart_notes() + freshness.summary(filled, len(data.matrix_cells),
                                                       freshness.parts(ctx.selection, ctx.workdir)):
        log(note)
    if ctx.fail_on == "never":
        for problem in problems:
            log(f"not failing (--fail-on never): {problem}")
        return []
    for problem in problems:
        log(f"FAILED: {problem}")
    return problems


def _warn_other_matrix(ctx: Context, log) -> None:
    """Say so when the work dir's run was planned from another matrix.yaml than the one reported with
    (its run.json records the SHA-256): the report applies this file's expected_failures and tolerances."""
    try:
        planned = loads(read_text(ctx.work.run, "run.json", 16 * 2**20)).get("matrix_sha256")
    except FileNotFoundError:
        return
    except (OSError, ValueError, AttributeError, RecursionError) as exc:  # the selection given is reported
        why = str(exc) if isinstance(exc, HarnessError) else f"{ctx.work.run}: not the run.json of nox -s plan"
        log(f"WARNING: {why}; which run this was, and from which matrix.yaml, is not known")
        return
    current = matrix_sha256(ctx.spec.path)
    if isinstance(planned, str) and planned != current:
        log(f"WARNING: {ctx.work.run}: the run was planned from another matrix.yaml (SHA-256 "
            f"{planned[:12]}…) than {ctx.spec.path} ({current[:12]}…); its expected_failures and tolerances "
            "are applied to that run's records")


def freeze_golden(args: list[str], log=print) -> None:
    """``nox -s golden -- ENV [--fixtures ...] [--workdir DIR]``: freeze ENV's artifacts.

    Raises:
        spec.SpecError: unknown environment, or nothing produced for it in the work dir.
    """
    options = cli.golden_parser().parse_args(args)
    spec = spec_mod.load(matrix_path())
    if options.env not in spec.envs:
        raise spec_mod.SpecError(f"golden: no environment named {options.env!r} "
                                 f"(defined: {', '.join(sorted(spec.envs))})")
    frozen = golden.freeze(options.env, resolved(options.workdir, "--workdir"),
                           spec.path.parent / spec.fixtures_dir / "golden", options.fixtures)
    size = sum(p.stat().st_size for p in frozen.path.rglob("*") if p.is_file())
    log(f"froze {len(frozen.records)} artifacts of {options.env} into {frozen.path} ({size / 1e6:.1f} MB)")


def job_matrix(args: list[str]) -> dict:
    """``nox -s jobs -- [selection options] [--max-jobs N]``: the CI job matrix of the selection
    (``harness.ci.jobs``).

    Raises:
        spec.SpecError: invalid ``matrix.yaml`` or selection.
        jobs.TooManyJobs: the selection does not fit, even split.
    """
    ctx = Context.from_args(args, parser=cli.jobs_parser)
    return jobs.job_matrix(ctx.spec, ctx.selection.envs, cli.jobs_parser().parse_args(args).max_jobs)


def merge(args: list[str], log=print) -> list[str]:
    """``nox -s merge -- DIR [DIR ...] [--workdir W] [--reports R] [--level L] [--compare PREV]
    [--fail-on F]``: gather the CI jobs'
    work dirs into ``W`` (``harness.ci.merge``); returns the arguments that report the merged run.

    Raises:
        merge.MergeError: the folders cannot be merged (the message says why).
        SystemExit: bad arguments (argparse prints the message).
    """
    options = cli.merge_parser().parse_args(args)
    try:
        spec = spec_mod.load(matrix_path())
    except spec_mod.SpecError as exc:
        raise merge_mod.MergeError(str(exc)) from None
    merge_mod.gather(options.dirs, options.workdir, matrix_sha256(spec.path), log=log, spec_envs=set(spec.envs))
    history = ["--compare", str(options.compare)] if options.compare else []
    return cli.last_selection(["--workdir", str(options.workdir), "--reports", str(options.reports),
                           "--level", options.level, "--fail-on", options.fail_on, *history])
