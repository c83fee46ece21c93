"""``nox -s route -- --from PRODUCER --to CONSUMER [--workdir W]``: one pair's answer from the last results.

It prints the pair's answer (:mod:`harness.report.upgrade`), every route (format/loader column: fixtures
carried as written and with a change), the fixtures the best route breaks, and what fails with its error
and hint, from the records in the work dir, for the fixtures and formats its last run selected
(``run.json``). Where the pair never ran there, it says so and gives the command that runs it, and the
``check`` command for a file of one's own.
"""
from __future__ import annotations

from pathlib import Path

from harness.cli import SessionParser
from harness.guard import loads, read_text
from harness.workdir import DEFAULT_WORKDIR, PhaseFiles, WorkDir


def parser() -> SessionParser:
    """The options of ``nox -s route --``."""
    out = SessionParser(prog="nox -s route --", description="One producer → consumer pair's answer from the "
                                                              "work dir's last results.")
    out.add_argument("--from", dest="producer", required=True, metavar="PRODUCER", help="the environment that saves")
    out.add_argument("--to", dest="consumer", required=True, metavar="CONSUMER", help="the environment that loads")
    out.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR,
                     help="the work dir whose results to read (default: work/)")
    return out


def never_run(producer: str, consumer: str, workdir: Path) -> list[str]:
    """What to say where ``consumer`` has no record of loading ``producer``'s artifacts in ``workdir``."""
    return [f"{producer} → {consumer}: never run in {workdir} (no record of {consumer} loading {producer}'s "
            "artifacts)",
            f"run it: nox -s matrix -- --envs {producer} {consumer} --from {producer} --to {consumer} "
            f"--workdir {workdir}",
            f"or check a file of yours saved in {producer}: nox -s check -- PATH --from {producer} --to {consumer}"]


def lines(data, producer: str, consumer: str) -> list[str]:
    """The pair's answer as printed lines, from ``data`` (a ``ReportData`` of the pair)."""
    from harness.report.site import broken as broken_fixtures, failures as failing, routes as pair_routes
    from harness.report.upgrade import answer
    a = answer(data, producer, consumer)
    out = [f"{producer} → {consumer}: {a.answer}; best route {a.best.describe() if a.best else 'none'} "
           f"({a.fixtures} fixtures apply)", "routes:"]
    for r in pair_routes(data, a):
        changes = f" (with {r['changes']})" if r["changes"] else ""
        out.append(f"  {r['name']}: {r['written']} as written, {r['changed']} with a change{changes}, of {r['total']}"
                   + ("  <- best" if r["best"] else ""))
    broken = broken_fixtures(data, a)
    out.append(f"fixtures that break on the best route: {', '.join(broken) if broken else 'none'}")
    failures = failing(data, producer, consumer)
    if failures:
        out.append("what fails:")
    for f in failures:
        last = f["error"].splitlines()[0][:200] if f["error"] else ""
        out.append(f"  {f['fixture']} {f['column']}: {f['verdict']}: {last}"
                   + (f"\n    what to do: {f['hint']}" if f["hint"] else ""))
    return out


def main(args: list[str], log=print) -> list[str]:
    """Print (``log``) and return the pair's lines.

    Raises:
        harness.cli.OptionError: bad options; spec.SpecError: an environment matrix.yaml does not define
            (one line each).
    """
    from harness import run
    options = parser().parse_args(args)
    workdir = options.workdir.resolve()
    try:
        last = loads(read_text(WorkDir(workdir).run, "run.json", 16 * 2**20))
        selection = ["--fixtures", *last["fixtures"], "--formats", *last["formats"]]
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        selection = None
    records = [] if selection is None else PhaseFiles(workdir, "consume", options.consumer).records()
    envs = list(dict.fromkeys([options.producer, options.consumer]))
    ctx = run.Context.from_args(["--envs", *envs, "--from", options.producer, "--to", options.consumer,
                                 "--workdir", str(workdir), "--no-goldens", *(selection or [])])
    if not any(r.get("producer") == options.producer for r in records):
        out = never_run(options.producer, options.consumer, workdir)
    else:
        from harness import report as report_mod
        out = lines(report_mod.build(ctx.spec, ctx.selection, workdir), options.producer, options.consumer)
    for line in out:
        log(line)
    return out

