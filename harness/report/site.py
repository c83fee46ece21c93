"""``nox -s site -- --workdir W --out DIR``: a static site of a work dir's results (plain HTML and CSS).

- ``index.html``: the producer × consumer grid, each square coloured by the pair's answer (the best
  route that carries every fixture, :mod:`harness.report.upgrade`) and linking to the pair's page; the
  fixtures; how much of the selection is filled and how old each part is (:mod:`harness.report.freshness`);
- ``pairs/PRODUCER--CONSUMER.html``: the pair's routes (every format/loader column: fixtures carried as
  written, with a change, of how many), the fixtures its best route breaks, and each failing cell with its
  error and hint;
- ``fixtures/FIXTURE.html``: the grid again for one fixture (does any column carry it);
- ``trend.html``: the verdict counts per night of the ``--history`` results.json files
  (:mod:`harness.report.trend`), or where none is given, what to give.

Names of environments and fixtures are matrix.yaml's (letters, digits, ``._+-``), so they are file names
as they are. Everything is written at once (``harness.guard.write_set``) under ``--out``.
"""
from __future__ import annotations

import time
from pathlib import Path

import jinja2

from harness.errors import HarnessError
from harness.report import freshness, trend as trend_mod
from harness.report.hints import hint_for
from harness.report.model import ReportData
from harness.report.results import FAILURES
from harness.report.upgrade import (AS_WRITTEN, FAILS, NOT_RUN, WITH_CHANGE, Route, answers, carries, glance,
                                    headline)

_ENV = jinja2.Environment(loader=jinja2.PackageLoader("harness.report", "templates"),
                          autoescape=jinja2.select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
TONES = {AS_WRITTEN: "written", WITH_CHANGE: "changed", FAILS: "fails", NOT_RUN: "notrun"}


def pair_page(producer: str, consumer: str) -> str:
    """The path of a pair's page, relative to the site's root."""
    return f"pairs/{producer}--{consumer}.html"


def fixture_page(fixture: str) -> str:
    """The path of a fixture's page, relative to the site's root."""
    return f"fixtures/{fixture}.html"


def failures(data: ReportData, producer: str, consumer: str) -> list[dict]:
    """The pair's cells that did not carry their fixture (failures, xfails and works-with), each with its
    column, verdict, error and hint."""
    out = []
    for fmt, loader in data.columns:
        for cell in data.cells_at(fmt, loader, producer, consumer):
            verdict = cell.original_verdict or cell.verdict
            if verdict in FAILURES or cell.verdict == "xfail" or cell.works_with:
                signature = cell.signature or cell.reason or ""
                hint = (f"load_model(path, {cell.works_with}) loaded and matched, seen in a real load"
                        if cell.works_with else hint_for(signature))
                out.append({"fixture": cell.fixture, "column": f"{fmt}/{loader}", "verdict": cell.verdict,
                            "was": cell.original_verdict, "error": signature[:400], "hint": hint})
    return out


def broken(data: ReportData, a) -> list[str]:
    """The fixtures the pair's best route does not carry (every applicable one where nothing carries)."""
    if a.best is None:
        return sorted({c.fixture for column in data.columns for c in data.cells_at(*column, a.producer, a.consumer)
                       if c.verdict != "unsupported"})
    cells = data.cells_at(a.best.fmt, a.best.loader, a.producer, a.consumer)
    return sorted({c.fixture for c in cells if c.verdict != "unsupported" and not carries(c)})


def _fixture_grid(data: ReportData, fixture: str) -> list[list[dict]]:
    """Per producer, per consumer: whether some column carries ``fixture`` as written, with a change, or not."""
    rows = []
    for producer in data.selection.producers:
        row = []
        for consumer in data.selection.consumers:
            ways = {carries(c) for column in data.columns for c in data.cells_at(*column, producer, consumer)
                    if c.fixture == fixture}
            ran = any(c.verdict not in ("skipped", "unsupported", "env-error") for column in data.columns
                      for c in data.cells_at(*column, producer, consumer) if c.fixture == fixture)
            kind = AS_WRITTEN if "as written" in ways else WITH_CHANGE if "with a change" in ways else \
                FAILS if ran else NOT_RUN
            row.append({"tone": TONES[kind], "text": {AS_WRITTEN: "✓", WITH_CHANGE: "✓*", FAILS: "✗",
                                                      NOT_RUN: "n/a"}[kind],
                        "href": "../" + pair_page(producer, consumer)})
        rows.append(row)
    return rows


def render(data: ReportData, workdir: Path, history: list[Path] | None = None,
           now: float | None = None) -> dict[str, str]:
    """Every page of the site, by path relative to its root (see the module's docstring).

    Raises:
        harness.report.trend.TrendError: a ``history`` path does not exist, or holds no results.json.
    """
    now = time.time() if now is None else now
    found = answers(data)
    by_pair = {(a.producer, a.consumer): a for a in found}
    parts = freshness.parts(data.selection, workdir)
    filled = len(data.matrix_cells) - len(data.missing)
    common = {"generated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(now)), "profile": data.selection.profile}
    grid = [{"producer": p, "cells": [{"consumer": c, "tone": TONES[by_pair[(p, c)].answer],
                                       "text": glance(by_pair[(p, c)]), "href": pair_page(p, c),
                                       "title": f"{p} → {c}: {by_pair[(p, c)].answer}"}
                                      for c in data.selection.consumers]} for p in data.selection.producers]
    pages = {"index.html": _ENV.get_template("site_index.html.j2").render(
        common, root="", headline=headline(found), consumers=data.selection.consumers, grid=grid,
        fixtures=[(f, fixture_page(f)) for f in sorted(data.selection.fixtures)],
        fill=freshness.summary(filled, len(data.matrix_cells), parts, now),
        parts=[{"phase": p.phase, "env": p.env, "records": p.records, "age": freshness.human(p.age_s(now))}
               for p in parts])}
    for a in found:
        pages[pair_page(a.producer, a.consumer)] = _ENV.get_template("site_pair.html.j2").render(
            common, root="../", a=a, tone=TONES[a.answer], best=a.best.describe() if a.best else "none",
            routes=routes(data, a), broken=[(f, "../" + fixture_page(f)) for f in broken(data, a)],
            failures=failures(data, a.producer, a.consumer))
    for fixture in sorted(data.selection.fixtures):
        pages[fixture_page(fixture)] = _ENV.get_template("site_fixture.html.j2").render(
            common, root="../", fixture=fixture, consumers=data.selection.consumers,
            rows=list(zip(data.selection.producers, _fixture_grid(data, fixture), strict=True)))
    if history:
        nights, _ = trend_mod.collect(history)
        pages["trend.html"] = trend_mod.render_html(nights).replace(
            "<body>", '<body>\n<p><a href="index.html">← the atlas</a></p>', 1)
    else:
        pages["trend.html"] = _ENV.get_template("site_trend.html.j2").render(common, root="")
    return pages


def routes(data: ReportData, a) -> list[dict]:
    """Every column of the pair as a route row (the answer's computation, :func:`harness.report.upgrade.answer`,
    keeps only the best and the equally whole ones)."""
    out = []
    for fmt, loader in data.columns:
        cells = [c for c in data.cells_at(fmt, loader, a.producer, a.consumer) if c.verdict != "unsupported"]
        if not cells:
            continue
        ways = [carries(c) for c in cells]
        route = Route(fmt, loader, ways.count("as written"), ways.count("with a change"), len(cells),
                      {c.works_with for c in cells if carries(c) == "with a change"})
        out.append({"name": route.name, "written": route.written, "changed": route.changed, "total": route.total,
                    "changes": ", ".join(sorted(route.changes)),
                    "best": a.best is not None and route.name == a.best.name})
    return out


def parser():
    """The options of ``nox -s site --``: the report's (the last run's selection unless narrowed), ``--out``
    and ``--history``."""
    from harness import cli
    out = cli.report_parser()
    out.prog = "nox -s site --"
    out.description = "Write the static site of the work dir's results (index grid, a page per pair and fixture)."
    out.add_argument("--out", type=Path, default=Path("site"), help="the folder to write it in (default: site/)")
    out.add_argument("--history", nargs="+", type=Path, metavar="DIR_OR_FILE",
                     help="earlier results.json files, or folders of them, for the trend page")
    return out


def main(args: list[str], log=print) -> list[Path]:
    """``nox -s site -- [--workdir W] [--out DIR] [--history DIR...]``: write the site; returns its pages' paths.

    Raises:
        harness.errors.HarnessError (one line): bad options, an invalid matrix.yaml or selection, a work dir
            with no results, a --history without results.json, or --out not writable.
    """
    from harness import cli, report as report_mod, run
    from harness.guard import write_set
    ctx = run.Context.from_args(cli.last_selection(args), parser=parser)
    options = parser().parse_args(cli.last_selection(args))
    if not any(ctx.work.phase("consume", env).results.is_file() for env in ctx.selection.envs):
        raise SiteError(f"--workdir {ctx.workdir}: no results of {', '.join(ctx.selection.envs)}; run nox -s matrix "
                        "first, or give the --workdir it used")
    data = report_mod.build(ctx.spec, ctx.selection, ctx.workdir, level=ctx.level)
    out = options.out.resolve()
    pages = {out / rel: text for rel, text in render(data, ctx.workdir, options.history).items()}
    try:
        write_set(pages)
    except OSError as exc:
        raise SiteError(f"--out {options.out}: cannot write ({exc.strerror}: {exc.filename})") from None
    log(f"wrote {len(pages)} pages under {out} (open {out / 'index.html'})")
    return list(pages)


class SiteError(HarnessError):
    """The site cannot be written: the message says why and what to do."""
