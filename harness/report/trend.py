"""The trend page: verdict counts per night over stored ``results.json`` files (``nox -s trend``).

    nox -s trend -- DIR_OR_FILE... [--out reports/trend.html]

writes ``trend.html`` (a table and an inline SVG bar chart: no script, works offline) and ``trend.md``
(the table) next to it. Nights are ordered by their run's start (``run.started``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
from tabulate import tabulate

from harness.errors import HarnessError
from harness.execute.plan import CONTROL_FORMAT
from harness.guard import loads, read_text, write_set
from harness.report.results_file import results_problem, run_started, when
from harness.report.results import VERDICTS
from harness.report.escape import md_cell
from harness.cli import SessionParser

# One colour per verdict, as matrix.html's tones: green passes, amber known failures, reds failures, greys n/a.
COLOURS = {"pass": "#4caf50", "xpass": "#ff7043", "xfail": "#ffb300", "mismatch": "#e53935",
           "load-error": "#b71c1c", "crash": "#6a1b9a", "timeout": "#8e24aa", "env-error": "#212121",
           "unsupported": "#bdbdbd", "skipped": "#e0e0e0"}
BAR_WIDTH, BAR_GAP, CHART_HEIGHT = 28, 10, 200  # SVG user units (pixels)

_ENV = jinja2.Environment(loader=jinja2.PackageLoader("harness.report", "templates"),
                          autoescape=jinja2.select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)


class TrendError(HarnessError):
    """Nothing to draw: no results.json among the paths given (the message names them)."""


@dataclass
class Night:
    """One stored run: its ``results.json`` path, start (seconds since the epoch), profile, verdict counts
    of its matrix cells (negative controls left out), number of problems, and ``new_failures``: the
    regressions its ``history`` found against the night before (None when it was not compared)."""

    path: str
    started: float
    profile: str
    counts: dict[str, int]
    problems: int
    new_failures: int | None = None
    bars: list[dict] = field(default_factory=list)  # the chart's rectangles (``_layout``)
    x: float = 0  # the middle of its bar

    @property
    def cells(self) -> int:
        return sum(self.counts.values())

    @property
    def when(self) -> str:
        return when(self.started)


def read_night(path: Path) -> Night:
    """One ``results.json`` as a night.

    Raises:
        TrendError: unreadable, not JSON, or no results.json (no ``run.started`` time, no ``cells`` list, or
            a field of the wrong type: ``harness.report.results_file.results_problem``).
    """
    try:
        data = loads(read_text(Path(path), "trend input"))
    except (OSError, ValueError) as exc:  # ValueError: not UTF-8, not JSON, nested too deeply; a FIFO
        raise TrendError(f"{path}: not a readable JSON file ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise TrendError(f"{path}: not a results.json of keras-compat-matrix (no cells)")
    problem = results_problem(data)
    started = None if problem else run_started(data)
    if started is None:
        raise TrendError(f"{path}: not a results.json of keras-compat-matrix ({problem or 'no run.started time'})")
    counts = {v: 0 for v in VERDICTS}
    for cell in data["cells"]:
        if cell["format"] != CONTROL_FORMAT:
            counts[cell["verdict"]] = counts.get(cell["verdict"], 0) + 1
    compared = data.get("history") if isinstance(data.get("history"), dict) else {}
    new_failures = (compared.get("counts") if isinstance(compared.get("counts"), dict) else {}).get("new-failure")
    problems = data.get("problems")
    return Night(str(path), started, str(data["run"].get("profile", "?")), {k: n for k, n in counts.items() if n},
                 len(problems) if isinstance(problems, list) else 0,
                 new_failures if isinstance(new_failures, int) else None)


def collect(paths: list[Path]) -> tuple[list[Night], list[str]]:
    """The nights in ``paths`` (files, and every ``*.json`` below folders), oldest first, and one line per
    file left out (not a results.json, or the same run as another file).

    Raises:
        TrendError: a path does not exist, or no night was found.
    """
    files = []
    for path in map(Path, paths):
        if not path.exists():
            raise TrendError(f"{path}: no such file or folder")
        files += sorted(path.rglob("*.json")) if path.is_dir() else [path]
    nights, skipped, seen = [], [], {}
    for file in dict.fromkeys(files):  # a file named twice (itself, and in its folder) is read once
        try:
            night = read_night(file)
        except TrendError as exc:
            skipped.append(str(exc))
            continue
        if night.started in seen:
            skipped.append(f"{file}: the same run as {seen[night.started]}")
            continue
        seen[night.started] = file
        nights.append(night)
    if not nights:
        why = f": {'; '.join(skipped[:3])}{'; …' if len(skipped) > 3 else ''}" if skipped else " (no *.json files)"
        raise TrendError(f"no results.json among {', '.join(map(str, paths))}{why}")
    return sorted(nights, key=lambda n: n.started), skipped


def verdicts(nights: list[Night]) -> list[str]:
    """The verdicts any night has, in the canonical order."""
    return [v for v in VERDICTS if any(n.counts.get(v) for n in nights)]


def _layout(nights: list[Night]) -> dict:
    """Stacked bars, one per night, scaled to the largest night; sets each night's ``bars``."""
    tallest = max(n.cells for n in nights) or 1
    for i, night in enumerate(nights):
        x, top = BAR_GAP + i * (BAR_WIDTH + BAR_GAP), CHART_HEIGHT
        night.bars, night.x = [], x + BAR_WIDTH / 2
        for verdict in verdicts(nights):
            height = night.counts.get(verdict, 0) * CHART_HEIGHT / tallest
            if height:
                top -= height
                night.bars.append({"x": x, "y": round(top, 2), "height": round(height, 2), "verdict": verdict,
                                   "n": night.counts[verdict], "colour": COLOURS.get(verdict, "#999")})
    return {"width": BAR_GAP + len(nights) * (BAR_WIDTH + BAR_GAP), "height": CHART_HEIGHT, "bar": BAR_WIDTH}


def rows(nights: list[Night]) -> tuple[list[str], list[list]]:
    """Headers and one row per night: start, profile, cells, each verdict's count, new failures, problems."""
    shown = verdicts(nights)
    headers = ["night (run started)", "profile", "cells", *shown, "new failures", "problems"]
    return headers, [[n.when, n.profile, n.cells, *(n.counts.get(v, 0) for v in shown),
                      "—" if n.new_failures is None else n.new_failures, n.problems] for n in nights]


def render_markdown(nights: list[Night]) -> str:
    """``trend.md``: the table of verdict counts per night."""
    headers, table = rows(nights)
    return "\n".join([f"# Verdicts per night ({len(nights)} nights)", "",
                      "Verdict counts of each run's matrix cells (negative controls left out); new failures are "
                      "those its history section found against the night before (`—`: not compared).", "",
                      tabulate([list(map(md_cell, row)) for row in table], headers=headers, tablefmt="github"),
                      ""])


def render_html(nights: list[Night]) -> str:
    """``trend.html``: the same table and a stacked bar chart (inline SVG, no script)."""
    chart = _layout(nights)
    headers, table = rows(nights)
    return _ENV.get_template("trend.html.j2").render(nights=nights, chart=chart, headers=headers, rows=table,
                                                     legend=[(v, COLOURS.get(v, "#999")) for v in verdicts(nights)])


def main(args: list[str], log=print) -> list[Path]:
    """``nox -s trend -- DIR_OR_FILE... [--out PATH.html]``: write the trend page and its Markdown.

    Returns the paths written. Raises TrendError (nothing to draw, or --out cannot be written);
    OptionError for bad arguments (one line, exit status 2).
    """
    parser = SessionParser(prog="nox -s trend --", description="Verdict counts per night.")
    parser.add_argument("paths", nargs="+", type=Path, metavar="DIR_OR_FILE",
                        help="results.json files, or folders searched for *.json")
    parser.add_argument("--out", default=str(Path("reports") / "trend.html"),
                        help="the HTML page to write (a folder: trend.html in it); the Markdown goes next to it "
                             "as .md (default: reports/trend.html)")
    options = parser.parse_args(args)
    nights, skipped = collect(options.paths)
    for line in skipped:
        log(f"left out {line}")
    # A folder: one that exists, or a path given with a trailing slash (it is made).
    given = Path(options.out)
    folder = given.is_dir() or options.out.endswith(("/", os.sep))
    out = given / "trend.html" if folder else given.with_suffix(".html")
    contents = {out: render_html(nights), out.with_suffix(".md"): render_markdown(nights)}
    try:
        write_set(contents)
    except OSError as exc:
        raise TrendError(f"--out {options.out}: cannot write ({exc.strerror}: {exc.filename})") from None
    log(f"{len(nights)} nights, {nights[0].when} to {nights[-1].when}: wrote {', '.join(map(str, contents))}")
    return list(contents)
