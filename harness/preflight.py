"""What the noxfile checks as nox loads it, before nox plans any session: a session's ``--help``, and the
selection its options make.

nox runs the sessions a command names after the ones they require (``matrix`` after every ``consume``,
each ``consume`` after the ``produce`` sessions, those after ``plan``). A mistyped ``--profile`` found
by the first of them would leave a page of "Prerequisite session plan was not successful" under the
message. So the noxfile asks :func:`check` first: ``--help`` prints that session's own help (with the
profiles, environments, fixtures and formats of matrix.yaml) and exits 0; a bad option or selection
prints one line, ``nox -s SESSION: what was wrong``, and exits 2, before any session runs. ``check`` and
``scan`` have their options checked alike.
"""
from __future__ import annotations

import os
import sys

from harness import cli, run
from harness.errors import HarnessError
from harness.execute.plan import Selection

# The sessions whose options select a part of matrix.yaml, checked here (golden, merge, trend, lock and
# scan_proof parse their own options as they run, a bad one in one line; their --help works there). nox's tags
# of these sessions.
CHECKED = tuple(cli.PARSERS)
# check and scan: their options are checked here too, and scan's --profile; the files they read, and the
# environments and releases they name, are checked as they run (a release may need the package index).
OWN_OPTIONS = ("check", "scan")
TAGGED = {"produce": "produce", "consume": "consume", "phase": "consume"}
# nox options after which nothing runs (or which nox answers itself); -l's listing and its phases.
NOTHING_RUNS = ("-l", "--list", "--list-sessions", "--usage", "--json", "-h", "--help", "--version")
SESSION_OPTIONS = ("-s", "-e", "--session", "--sessions")
LISTING = ("-l", "--list", "--list-sessions")
PHASES_SHOWN_BY = ("-t", "--tags", "-k", "--keywords", "--json", *SESSION_OPTIONS)
SHOW_PHASES = "KCM_LIST_PHASES"


def hides_phases(argv: list[str], environ=os.environ) -> bool:
    """Whether the noxfile leaves the per-environment phase sessions (``produce``, ``consume``, ``check_in``)
    undeclared: under a plain ``nox -l`` only, so that the list fits a screen. ``nox -l -t phase`` (any
    ``-t``, ``-k`` or ``-s``), ``nox -l --json`` and ``$KCM_LIST_PHASES=1`` list them; every other command
    has them all."""
    own = argv[1:argv.index("--")] if "--" in argv else argv[1:]
    if not any(arg in LISTING for arg in own) or environ.get(SHOW_PHASES):
        return False
    return not any(arg.partition("=")[0] in PHASES_SHOWN_BY for arg in own)


def requested_sessions(argv: list[str], environ=os.environ) -> list[str] | None:
    """The sessions a nox command line names, by name without parameters (``consume(env='tf2.15')`` is
    ``consume``): its ``-s``/``-e``/``--session(s)``, ``$NOXSESSION``, sessions its ``-t`` tags stand
    for, else the noxfile's default (``matrix``). None where nothing runs (``-l``, ``--usage``,
    ``--help``), where ``-k`` picks them, and in a child process of ``nox -j`` (its parent checked)."""
    own = argv[1:argv.index("--")] if "--" in argv else argv[1:]
    if "--parallel-worker" in own or any(arg in NOTHING_RUNS or arg.startswith("--usage=") for arg in own):
        return None
    names, tags, reading = [], [], None
    for arg in own:
        if arg.startswith("-"):
            option, _, value = arg.partition("=")
            reading = "s" if option in SESSION_OPTIONS else "t" if option in ("-t", "--tags") else None
            if option in ("-k", "--keywords"):
                return None
            if value and reading:
                (names if reading == "s" else tags).append(value)
                reading = None
        elif reading:
            (names if reading == "s" else tags).append(arg)
    if not names and environ.get("NOXSESSION"):
        names = environ["NOXSESSION"].split(",")
    names += [TAGGED[tag] for tag in tags if tag in TAGGED]
    if not names and not tags:
        names = ["matrix"]
    return [name.split("(")[0].strip() for name in names]


def check(argv: list[str], spec, spec_error: str | None, environ=os.environ, out=None, err=None) -> Selection | None:
    """Check the command line nox was given, as the noxfile loads (see the module docstring).

    Returns the selection of the first session named that takes the matrix's options (``report``: the
    last run's, as it will report), or None where none does, nothing runs, or it is ``check`` or ``scan``
    (whose options are checked alone).

    Raises:
        SystemExit: 0 after printing a session's ``--help`` to ``out``; 2 after printing one line to ``err``
            (an unknown option, a bad selection, or an invalid matrix.yaml; for check and scan, an unknown
            option or a missing value or path, or scan's unknown --profile).
    """
    out, err = out or sys.stdout, err or sys.stderr
    sessions = [name for name in requested_sessions(argv, environ) or () if name in CHECKED + OWN_OPTIONS]
    if not sessions:
        return None
    session = "matrix" if "matrix" in sessions else sessions[0]
    posargs = argv[argv.index("--") + 1:] if "--" in argv else []
    if session in OWN_OPTIONS:
        _check_options(session, posargs, spec, out, err)
        return None
    parser = cli.PARSERS[session]
    if "-h" in posargs or "--help" in posargs:
        out.write(parser(spec).format_help())
        raise SystemExit(0)
    if spec_error:
        _stop(err, session, spec_error)
    try:
        ctx = run.Context.from_args(cli.last_selection(posargs) if session == "report" else posargs, parser=parser)
    except HarnessError as exc:
        _stop(err, session, str(exc))
    return ctx.selection


def _check_options(session: str, posargs: list[str], spec, out, err) -> None:
    """``check``'s or ``scan``'s options: ``--help`` prints the session's help (exit 0), a bad option or
    scan's unknown ``--profile`` one line (exit 2)."""
    from harness.check import steps
    from harness.check.security import scan
    parser = {"check": steps.options_parser, "scan": scan.options_parser}[session]()
    if "-h" in posargs or "--help" in posargs:
        out.write(parser.format_help())
        raise SystemExit(0)
    try:
        options = parser.parse_args(posargs)
        if session == "scan" and not options.to and spec is not None:
            scan.profile_envs(spec, options.profile)
    except HarnessError as exc:
        _stop(err, session, str(exc))


def _stop(err, session: str, message: str) -> None:
    err.write(f"nox -s {session}: {message}\n")
    err.flush()
    raise SystemExit(2)
