"""The last step: a run's records resolved into cells (``results``), its expected failures applied
(``expectations``), each failure's hint (``hints``) and what changed since the last run (``history``),
computed once (``model``) and written as matrix.md, matrix.html, results.json and junit.xml
(``markdown``, ``html``, ``junit``; ``marks``: a table cell's mark). ``progress`` shows a run while
it runs, ``trend`` the nights side by side. This module writes the four reports and the summary line."""
from __future__ import annotations

import json
from pathlib import Path

from harness.guard import write_set
from harness.report import html, junit, markdown
from harness.report.escape import strict_json
from harness.report.model import ReportData, build
from harness.report.results import counts

__all__ = ["ReportData", "build", "write_all", "summary_line", "results_json"]


def results_json(data: ReportData) -> dict:
    """The content of results.json: the run, its counts and problems, environments, expected-failure
    outcomes, every cell, every save (produce cell, ``harness.report.results.resolve_saves``), and (with
    ``--compare``) ``history``, the comparison with the previous run."""
    out = {"run": data.run, "wall_s": data.wall_s, "counts": data.counts(), "problems": data.problems(),
           "environments": data.environments, "expected_failures": [o.to_json() for o in data.expectations],
           "cells": [c.to_json() for c in data.cells], "saves": [c.to_json() for c in data.saves]}
    if data.history is not None:
        out["history"] = data.history.to_json()
    return out


def write_all(data: ReportData, out_dir: Path) -> list[Path]:
    """Write matrix.md, matrix.html, results.json and junit.xml into ``out_dir`` as a set
    (:func:`harness.guard.write_set`: all four new, or, on a full disk, all four old); returns their paths.

    Raises:
        OSError: ``filename`` naming the report that could not be written.
    """
    contents = {
        out_dir / "matrix.md": markdown.render(data),
        out_dir / "matrix.html": html.render(data),
        out_dir / "results.json": json.dumps(strict_json(results_json(data)), indent=1, default=str, allow_nan=False),
        out_dir / "junit.xml": junit.render(data),
    }
    write_set(contents)
    return list(contents)


def summary_line(data: ReportData) -> str:
    """``wall time 312 s, 210 cells: pass 120, ...; 120 run, 84 reused, 6 not loaded; 63 saves: ...; 40 run,
    23 reused (5 worker processes)`` for the end of a run. Cells and saves are counted apart (a save is
    no cell); a cell's ``run`` count is the one its consume phase's progress lines showed as its total,
    negative controls left out of both."""
    workers = sum(p["workers_started"] for env in data.environments.values() for p in env.get("phases", {}).values())
    wall = f"wall time {data.wall_s:.0f} s, " if data.wall_s is not None else ""
    saves = _tally(data.saves, "saves", "not saved", frozen=set(data.selection.goldens))
    return f"{wall}{_tally(data.matrix_cells, 'cells', 'not loaded')}; {saves} ({workers} worker processes)"


def _tally(cells: list, unit: str, without: str, frozen: set[str] = frozenset()) -> str:
    """``210 cells: pass 120, ...; 120 run, 84 reused, 6 not loaded`` (a record written by this run, one
    reused from an earlier run, none of its own); of saves, ``18 golden``: those of the golden producers
    (``frozen``), frozen in the repository, neither run nor reused."""
    verdicts = ", ".join(f"{v} {n}" for v, n in counts(cells).items())
    golden = sum(c.producer in frozen for c in cells)
    ran = sum(c.reused is False and c.producer not in frozen for c in cells)
    reused = sum(c.reused is True and c.producer not in frozen for c in cells)
    how = [f"{ran} run", f"{reused} reused"] + ([f"{golden} golden"] if golden else []) + \
        ([f"{len(cells) - ran - reused - golden} {without}"] if len(cells) > ran + reused + golden else [])
    return f"{len(cells)} {unit}: {verdicts or 'none'}; {', '.join(how)}"
