"""The command lines of the run's sessions: ``nox -s matrix --`` (whose options ``plan``, ``produce``,
``consume`` and ``report`` read too), ``golden``, ``merge`` and ``jobs``; and what the noxfile reads of
nox's own command line before any session runs (the selected environments, ``-j``). The steps that
act on them are :mod:`harness.run`'s.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from harness import ROOT
from harness.ci.jobs import GITHUB_MAX_JOBS
from harness.config.spec import MatrixSpec
from harness.guard import loads, read_text, safe_name
from harness.report.results import LEVELS
from harness.workdir import DEFAULT_WORKDIR, WorkDir


def matrix_parser() -> argparse.ArgumentParser:
    """The options of ``nox -s matrix --``, which ``plan``, ``produce``, ``consume`` and ``report`` read too."""
    parser = argparse.ArgumentParser(prog="nox -s matrix --", description="Run the compatibility matrix.")
    parser.add_argument("--profile", default="default", help="profile of matrix.yaml (default: default)")
    parser.add_argument("--envs", nargs="+", metavar="ENV", help="only these environments")
    parser.add_argument("--fixtures", nargs="+", metavar="FIXTURE", help="only these fixtures")
    parser.add_argument("--no-goldens", action="store_true",
                        help="do not load the golden artifacts in fixtures/golden/")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR,
                        help="where artifacts/, results/ and logs/ go (default: work/)")
    add_report_options(parser)
    parser.add_argument("--fresh", action="store_true",
                        help="run every cell again instead of reusing the records of unchanged cells")
    parser.add_argument("--worker-threads", type=int, metavar="N",
                        help="CPU threads each worker may use (default: the machine's cores over the workers "
                             "running at once)")
    parser.add_argument("--workers-per-env", type=int, metavar="N",
                        help="worker processes that share one environment's phase, each with its share of the "
                             "cells (default: the machine's cores over the environments running at once: nox's "
                             "-j, at most the selected environments; at least 1; and more as cores come free). "
                             "Given, the count is fixed")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress display (cells done, failures so far, time left) while phases run")
    return parser


def add_report_options(parser: argparse.ArgumentParser) -> None:
    """The options of what a report shows and when it fails (nox -s matrix, report and merge)."""
    parser.add_argument("--level", choices=LEVELS, default="outputs",
                        help="check level the report's tables show (default: outputs)")
    parser.add_argument("--reports", type=Path, default=ROOT / "reports",
                        help="where matrix.md, matrix.html, results.json, junit.xml go (default: reports/)")
    parser.add_argument("--compare", type=Path, metavar="PREV_RESULTS_JSON",
                        help="the results.json of an earlier run (last night's): the reports begin with what "
                             "changed since (new failures, new passes, changed differences, environments); "
                             "a missing file is a warning (the first night: leave --compare out), and fails "
                             "--fail-on regression")
    parser.add_argument("--fail-on", choices=FAIL_ON, default="problems",
                        help="what makes the session exit non-zero: problems (default: a failure no "
                             "expected_failures entry explains, a stale entry, a passing negative control, "
                             "cells without a result), regression (those, and any new failure since --compare's "
                             "run, an xfail included), never (report only)")


FAIL_ON = ("problems", "regression", "never")


def selected_envs(argv: list[str], spec: MatrixSpec) -> list[str]:
    """The environments a nox command line selects (``--profile``/``--envs`` after ``--``).

    nox declares session dependencies when it loads the noxfile, before any
    session sees its positional arguments, so the noxfile reads them here.
    Unparsable or unknown arguments select the default profile; the session
    itself then reports them.
    """
    posargs = argv[argv.index("--") + 1:] if "--" in argv else []
    posargs = [arg for arg in posargs if arg not in ("-h", "--help")]  # the session prints its own help
    options, _ = matrix_parser().parse_known_args(posargs)
    if options.envs and set(options.envs) <= set(spec.envs):
        return list(dict.fromkeys(options.envs))  # each once, as harness.execute.plan.select plans them
    profile = spec.profiles.get(options.profile) or spec.profiles["default"]
    return list(profile.envs)


def parallel_sessions(argv: list[str], environ: dict[str, str]) -> int:
    """How many sessions nox runs at once: its ``-j N``/``--parallel N`` (``auto``: one per CPU)
    before ``--``, else ``$NOX_PARALLEL``, else 1. Unparsable values count as 1."""
    argv = argv[:argv.index("--")] if "--" in argv else argv
    value = environ.get("NOX_PARALLEL", "1")
    for i, arg in enumerate(argv):
        if arg in ("-j", "--parallel") and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("--parallel="):
            value = arg.split("=", 1)[1]
        elif arg.startswith("-j") and len(arg) > 2:
            value = arg[2:]
    if value == "auto":
        return os.cpu_count() or 1
    return int(value) if value.isdigit() and int(value) > 0 else 1


def golden_parser() -> argparse.ArgumentParser:
    """The options of ``nox -s golden --``."""
    parser = argparse.ArgumentParser(prog="nox -s golden --", description="Freeze one environment's artifacts.")
    parser.add_argument("env", help="the environment whose artifacts to freeze")
    parser.add_argument("--fixtures", nargs="+", metavar="FIXTURE", help="only these fixtures")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="where it was produced (default: work/)")
    return parser


def merge_parser() -> argparse.ArgumentParser:
    """The options of ``nox -s merge --``."""
    parser = argparse.ArgumentParser(prog="nox -s merge --",
                                     description="Merge the work dirs of separately run jobs, then report.")
    parser.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="a job's work dir (with run.json)")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR,
                        help="where the merged run goes (default: work/)")
    add_report_options(parser)
    return parser


def jobs_parser() -> argparse.ArgumentParser:
    """The option ``nox -s jobs --`` reads besides the matrix's selection options (left to :func:`matrix_parser`)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--max-jobs", type=int, default=GITHUB_MAX_JOBS)
    return parser


SELECTION_OPTIONS = ("--profile", "--envs", "--fixtures", "--no-goldens")


def last_selection(args: list[str]) -> list[str]:
    """``args`` with the last run's selection (``<workdir>/run.json``) put in front, where
    ``args`` select nothing themselves: re-rendering a report then covers what ran."""
    if any(arg in SELECTION_OPTIONS for arg in args):
        return args
    options, _ = matrix_parser().parse_known_args(args)
    try:
        last = loads(read_text(WorkDir(options.workdir).run, "run.json", 16 * 2**20))
        selection = ["--profile", last["profile"], "--envs", *last["envs"], "--fixtures", *last["fixtures"]]
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return args
    names = [last["profile"], *last["envs"], *last["fixtures"]]
    if not (isinstance(last["envs"], list) and isinstance(last["fixtures"], list) and last["envs"]
            and last["fixtures"] and all(safe_name(name) and not name.startswith("-") for name in names)):
        return args  # not the run.json of nox -s plan (a name like "--workdir" would be an option): ignored
    return selection + ([] if last.get("goldens") else ["--no-goldens"]) + args
