"""The command lines of the run's sessions: ``nox -s matrix --`` (whose options ``plan``, ``produce``,
``consume`` and ``report`` read too), ``golden``, ``merge`` and ``jobs``; and what the noxfile reads of
nox's own command line before any session runs (the selected environments, ``-j``). The steps that
act on them are :mod:`harness.run`'s.
"""
from __future__ import annotations

import argparse
import functools
import os
import textwrap
from pathlib import Path

from harness import ROOT
from harness.ci.jobs import GITHUB_MAX_JOBS
from harness.config.spec import MatrixSpec
from harness.errors import HarnessError
from harness.guard import loads, read_text, safe_name
from harness.report.results import LEVELS
from harness.workdir import DEFAULT_WORKDIR, WorkDir


class OptionError(HarnessError):
    """A session's command line is wrong (an unknown option, a missing value): one line, exit status 2."""

    exit_status = 2


class SessionParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (:class:`OptionError`), never argparse's usage block
    and exit: the noxfile shows it as the last line on the screen.

    Abbreviations are refused (``allow_abbrev=False``): ``--fixture dense_bn`` is an error, not
    ``--fixtures``, so a run the user did not mean (the default profile, about an hour) never starts."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        raise OptionError(f"{message} ({self.prog} --help lists the options)")


def _parser(session: str, description: str, spec: MatrixSpec | None) -> SessionParser:
    return SessionParser(prog=f"nox -s {session} --", description=textwrap.fill(description, 100),
                         epilog=choices_text(spec) if spec else None,
                         formatter_class=argparse.RawDescriptionHelpFormatter)


def add_selection_options(parser: argparse.ArgumentParser) -> None:
    """The options that select a part of matrix.yaml: ``--profile``, ``--envs``, ``--fixtures``, ``--formats``,
    ``--from``, ``--to``, ``--no-goldens`` (validated by :func:`harness.execute.plan.select`)."""
    group = parser.add_argument_group("selection (the names: below, and docs/glossary.md)")
    group.add_argument("--profile", default="default", help="profile of matrix.yaml (default: default)")
    group.add_argument("--envs", nargs="+", metavar="ENV", help="only these environments (as producers and "
                       "consumers)")
    group.add_argument("--fixtures", nargs="+", metavar="FIXTURE", help="only these fixtures")
    group.add_argument("--formats", nargs="+", metavar="FORMAT", help="only these formats")
    group.add_argument("--from", nargs="+", metavar="PRODUCER", dest="from_envs",
                       help="only these producers (environments, or golden producers like golden-tf2.4)")
    group.add_argument("--to", nargs="+", metavar="CONSUMER", dest="to_envs", help="only these consumers")
    group.add_argument("--no-goldens", action="store_true",
                       help="do not load the golden artifacts in fixtures/golden/")


def add_workdir_option(parser: argparse.ArgumentParser) -> None:
    """``--workdir``: where a run's artifacts, records and logs are."""
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR,
                        help="where artifacts/, results/ and logs/ go (default: work/)")


def matrix_parser(spec: MatrixSpec | None = None, session: str = "matrix") -> SessionParser:
    """The options of ``nox -s matrix --``, which its phases (``plan``, ``produce``, ``consume``) read too;
    with ``spec``, the help ends with its profiles, environments, fixtures and formats."""
    description = {"matrix": "Run the compatibility matrix: plan, produce and consume in every selected "
                             "environment, then write the reports."}.get(
        session, f"One step of nox -s matrix ({session}); it reads the matrix's options.")
    parser = _parser(session, description, spec)
    add_selection_options(parser)
    add_workdir_option(parser)
    add_report_options(parser)
    run = parser.add_argument_group("running")
    run.add_argument("--fresh", action="store_true",
                     help="run every cell again instead of reusing the records of unchanged cells")
    run.add_argument("--worker-threads", type=int, metavar="N",
                     help="CPU threads each worker may use (default: the machine's cores over the workers "
                          "running at once)")
    run.add_argument("--workers-per-env", type=int, metavar="N",
                     help="worker processes that share one environment's phase, each with its share of the "
                          "cells (default: the machine's cores over the environments running at once: nox's "
                          "-j, at most the selected environments; at least 1; and more as cores come free). "
                          "Given, the count is fixed")
    run.add_argument("--budget", type=float, metavar="SECONDS",
                     help="stop starting work when this many seconds of the run are nearly spent (a minute "
                          "left); every record made is kept, and the next run carries on where it stopped")
    run.add_argument("--quiet", action="store_true",
                     help="no progress display (cells done, failures so far, time left) while phases run")
    return parser


def report_parser(spec: MatrixSpec | None = None) -> SessionParser:
    """The options of ``nox -s report --``: a re-render of the last run's records (its selection, unless
    the selection options narrow or change it)."""
    parser = _parser("report", "Write matrix.md, matrix.html, results.json and junit.xml again from the work "
                               "dir's records, for the last run's selection; a selection option given here "
                               "replaces that one of the last run (--formats h5 narrows it to h5).", spec)
    add_selection_options(parser)
    add_workdir_option(parser)
    add_report_options(parser)
    return parser


def images_parser(spec: MatrixSpec | None = None) -> SessionParser:
    """The options of ``nox -s images --``: which environments' images to pull or build."""
    parser = _parser("images", "Pull or build the Docker image of every docker environment of the selection.",
                     spec)
    add_selection_options(parser)
    return parser


def add_report_options(parser: argparse.ArgumentParser) -> None:
    """The options of what a report shows and when it fails (nox -s matrix, report and merge)."""
    parser = parser.add_argument_group("reports")
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


def choices_text(spec: MatrixSpec) -> str:
    """The names the selection options take, from ``spec`` (its matrix.yaml and fixtures folder), for the
    end of a session's ``--help``."""
    from harness.execute.plan import discover_fixtures  # the fixtures folder is read only for --help
    try:
        fixtures = list(discover_fixtures(spec.path.parent / spec.fixtures_dir))
    except HarnessError as exc:
        fixtures = [f"(cannot list them: {exc})"]
    width = max(len(name) for name in spec.profiles)
    profiles = [f"  {name:<{width}}  {len(p.envs)} environments: {p.description or ''}".rstrip(": ")
                for name, p in spec.profiles.items()]
    wrap = functools.partial(textwrap.fill, width=100, initial_indent="  ", subsequent_indent="  ")
    return "\n".join([f"profiles ({spec.path.name}; --profile):", *profiles, "",
                       "environments (--envs, --from, --to):", wrap(", ".join(spec.envs)), "",
                       f"fixtures ({spec.fixtures_dir}/; --fixtures):", wrap(", ".join(fixtures)), "",
                       "formats (--formats; what each is: docs/glossary.md):", wrap(", ".join(spec.formats))])


FAIL_ON = ("problems", "regression", "never")


def selected_envs(argv: list[str], spec: MatrixSpec) -> tuple[list[str], list[str]]:
    """The producers and the consumers (environments) a nox command line selects (``--profile``, ``--envs``,
    ``--from``, ``--to`` after ``--``), for the sessions' dependencies.

    nox declares session dependencies when it loads the noxfile, before any session sees its positional
    arguments, so the noxfile reads them here. Unparsable or unknown arguments select the default
    profile; the noxfile's check of the selection (:mod:`harness.preflight`) reports them.
    """
    posargs = argv[argv.index("--") + 1:] if "--" in argv else []
    posargs = [arg for arg in posargs if arg not in ("-h", "--help")]  # the session prints its own help
    try:
        options, _ = matrix_parser().parse_known_args(posargs)
    except OptionError:
        options = matrix_parser().parse_args([])
    profile = spec.profiles.get(options.profile) or spec.profiles["default"]
    envs = list(profile.envs)
    if options.envs and set(options.envs) <= set(spec.envs):
        envs = list(dict.fromkeys(options.envs))  # each once, as harness.execute.plan.select plans them
    producers = [e for e in dict.fromkeys(options.from_envs or envs) if e in spec.envs]
    consumers = [e for e in dict.fromkeys(options.to_envs or envs) if e in spec.envs]
    return producers, consumers or envs


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
    parser = SessionParser(prog="nox -s golden --", description="Freeze one environment's artifacts.")
    parser.add_argument("env", help="the environment whose artifacts to freeze")
    parser.add_argument("--fixtures", nargs="+", metavar="FIXTURE", help="only these fixtures")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="where it was produced (default: work/)")
    return parser


def merge_parser() -> argparse.ArgumentParser:
    """The options of ``nox -s merge --``."""
    parser = SessionParser(prog="nox -s merge --",
                           description="Merge the work dirs of separately run jobs, then report.")
    parser.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="a job's work dir (with run.json)")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR,
                        help="where the merged run goes (default: work/)")
    add_report_options(parser)
    return parser


def jobs_parser(spec: MatrixSpec | None = None) -> SessionParser:
    """The options of ``nox -s jobs --``: the selection, and ``--max-jobs``."""
    parser = _parser("jobs", "Print the CI job matrix of the selection as one line of JSON.", spec)
    add_selection_options(parser)
    parser.add_argument("--max-jobs", type=int, default=GITHUB_MAX_JOBS,
                        help=f"the most jobs in one CI matrix (default: {GITHUB_MAX_JOBS}, GitHub's limit)")
    return parser


# Each session's parser, by session name: what ``nox -s NAME -- --help`` prints and checks.
PARSERS = {"matrix": matrix_parser, "plan": functools.partial(matrix_parser, session="plan"),
           "produce": functools.partial(matrix_parser, session="produce"),
           "consume": functools.partial(matrix_parser, session="consume"),
           "report": report_parser, "images": images_parser, "jobs": jobs_parser}
SELECTION_OPTIONS = ("--profile", "--envs", "--fixtures", "--formats", "--from", "--to", "--no-goldens")


def given(args: list[str], option: str) -> bool:
    """Whether ``args`` give ``option`` (``--option`` or ``--option=value``)."""
    return any(arg == option or arg.startswith(option + "=") for arg in args)


def last_selection(args: list[str]) -> list[str]:
    """``args`` with the last run's selection (``<workdir>/run.json``) put in front, option by option:
    what ``args`` select themselves stays theirs (``--formats h5`` narrows the last run to h5; ``--profile``
    or ``--envs`` choose the environments anew), the rest is the last run's. Re-rendering a report then
    covers what ran."""
    if given(args, "--profile") and given(args, "--envs") and given(args, "--fixtures"):
        return args
    try:
        options, _ = report_parser().parse_known_args([a for a in args if a not in ("-h", "--help")])
        last = loads(read_text(WorkDir(options.workdir).run, "run.json", 16 * 2**20))
        profile, envs, fixtures = last["profile"], last["envs"], last["fixtures"]
    except (OptionError, OSError, ValueError, KeyError, TypeError, RecursionError):
        return args  # the session itself says what is wrong with its options
    lists = {"--envs": envs, "--fixtures": fixtures, "--formats": last.get("formats") or [],
             "--from": last.get("from") or [], "--to": last.get("to") or []}
    names = [profile, *(name for names in lists.values() if isinstance(names, list) for name in names)]
    if not (all(isinstance(names, list) for names in lists.values()) and envs and fixtures
            and all(safe_name(name) and not name.startswith("-") for name in names)):
        return args  # not the run.json of nox -s plan (a name like "--workdir" would be an option): ignored
    chosen = given(args, "--profile") or given(args, "--envs")
    front = [] if chosen else ["--profile", profile, "--envs", *envs]
    for option in ("--fixtures", "--formats"):
        if lists[option] and not given(args, option):
            front += [option, *lists[option]]
    if not (chosen or given(args, "--from") or given(args, "--to")):
        front += [arg for option in ("--from", "--to") if lists[option] for arg in (option, *lists[option])]
    if not last.get("goldens") and not given(args, "--no-goldens"):
        front.append("--no-goldens")
    return front + args
