"""A run you can watch: cells done, failures so far and time left, per environment and phase, as read
from files (so any process can show it, and ``nox -j`` sessions need not share a terminal): a phase's
``status`` file (its total, when it started and ended; see ``harness.workdir.PhaseFiles.status``,
written by :func:`phase_running`) and its records files, its shards' too, read as they grow. How it is
shown while the phase runs is :mod:`harness.report.display`'s.

A failure here is a verdict that is not a pass (``saved`` when producing), ``unsupported`` or
``skipped``, or a negative control that passed. Where the display is given matrix.yaml's
``expected_failures`` (``explained``: :func:`explainer`), the failures they explain are
counted as expected and only the others are named; the report has the last word.
"""
from __future__ import annotations

import contextlib
import datetime
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.execute.plan import CONTROL_LOADER, Selection
from harness.report.expectations import apply as apply_expectations
from harness.report.results import SAVE_LOADER, Cell
from harness.workdir import PhaseFiles, WorkDir, write_json

NAMED_FAILURES = 3  # failures named on a line; the rest are counted
LAST_RUN_PAIRS = 5  # cells run with a last run's seconds before the time left goes by those (an assumed figure)
ESTIMATE_AFTER = 3  # cells run before a time left is shown (and a tenth of those to run; an assumed figure)
NOT_FAILURES = frozenset({"pass", "saved", "unsupported", "skipped"})


def failure_name(record: dict) -> str | None:
    """How a failing record is named on a progress line, or None when it is no failure."""
    if record.get("scope") == "env":
        if record.get("verdict") in NOT_FAILURES:
            return None
        return f"{record.get('verdict')} {record.get('producer') or record.get('consumer')}: {record.get('reason')}"
    verdict = record.get("verdict")
    control = record.get("loader") == CONTROL_LOADER
    if verdict is None or (verdict != "pass" if control else verdict in NOT_FAILURES):
        return None  # a negative control must not pass; nothing else it does fails the run
    if record.get("phase") == "produce":
        return f"{verdict} {record.get('producer')} {record.get('fixture')} {record.get('format')}"
    what = "negative control passed" if control else verdict
    return (f"{what} {record.get('producer')}>{record.get('consumer')} {record.get('fixture')} "
            f"{record.get('format')}/{record.get('loader')}")


def explainer(selection: Selection, today: datetime.date | None = None):
    """A function of a result record: True where a live ``expected_failures`` entry of the selection's spec
    explains its failing verdict on ``today`` (default: today), as the report will
    (``harness.report.expectations.apply``, with the selection's golden producers and fixture tags): a
    consume record by the consume entries, a produce record (a failed save) by the ``phase: produce``
    ones; False for any other record."""
    today = today or datetime.date.today()
    spec, goldens, tags = selection.spec, selection.goldens, selection.fixture_tags

    def explained(record: dict) -> bool:
        try:
            if record.get("phase") == "produce":
                cell = Cell.from_record(dict(record, consumer="", loader=SAVE_LOADER))
                apply_expectations([], spec, today, goldens, [cell], tags=tags)
            else:
                cell = Cell.from_record(record)
                apply_expectations([cell], spec, today, goldens, tags=tags)
        except (TypeError, KeyError):  # no cell's record, or of a producer not in this run
            return False
        return cell.verdict == "xfail"
    return explained


def cell_kind(cell: dict) -> str:
    """What a cell's cost depends on most that a phase sees more than once, as one string: a consume
    cell's ``fixture|format|loader`` (once per producer); a produce cell's ``format`` (a producer saves
    each fixture once; the first format of each trains it). A cell of the plan and its record give the
    same kind."""
    if cell.get("loader"):
        return "|".join(str(cell.get(key)) for key in ("fixture", "format", "loader"))
    return str(cell.get("format"))


class RecordTally:
    """Counts the records of JSON-lines files as they grow, reading each byte once.

    A line not yet ended (a record being written) is read on a later :meth:`update`.
    """

    def __init__(self, explained=None):
        self.offsets: dict[Path, int] = {}
        self.explained = explained  # record -> True where an expected_failures entry explains it
        self.done = 0      # records of one cell each
        self.reused = 0    # of those, reused from an earlier run
        self.controls = 0  # of those run (not reused), negative controls
        self.reused_controls = 0  # of those reused, negative controls
        self.cell_s = 0.0  # the workers' own seconds of the cells run (their records' ``seconds``)
        self.env_level = False  # a record for the whole environment (env-error, skipped): nothing else runs
        self.failures: list[str] = []  # the unexplained ones, named
        self.expected = 0  # failures an expected_failures entry explains
        self.by_kind: dict[str, list] = {}  # cell_kind -> [cells run, cells timed, their seconds]
        self.ran: dict[str, float | None] = {}  # the cells run (not reused): id -> seconds (None: not said)

    def update(self, paths: list[Path]) -> None:
        for path in paths:
            try:
                with open(path, "rb") as handle:
                    handle.seek(self.offsets.get(path, 0))
                    data = handle.read()
            except FileNotFoundError:
                continue
            end = data.rfind(b"\n") + 1
            self.offsets[path] = self.offsets.get(path, 0) + end
            for line in data[:end].splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict):
                    self._count(record)

    def _count(self, record: dict) -> None:
        if record.get("scope") == "env":
            self.env_level = True
        elif "id" in record:
            self.done += 1
            self.reused += bool(record.get("reused"))
            control = record.get("loader") == CONTROL_LOADER
            self.reused_controls += control and bool(record.get("reused"))
            self.controls += control and not record.get("reused")
            if not record.get("reused"):
                kind = self.by_kind.setdefault(cell_kind(record), [0, 0, 0.0])
                kind[0] += 1
                timed = isinstance(record.get("seconds"), (int, float))
                self.ran[str(record["id"])] = record["seconds"] if timed else None
                if timed:
                    self.cell_s += record["seconds"]
                    kind[1] += 1
                    kind[2] += record["seconds"]
        name = failure_name(record)
        if name and self.explained and record.get("loader") != CONTROL_LOADER and self.explained(record):
            self.expected += 1
        elif name:
            self.failures.append(name)


@dataclass
class PhaseProgress:
    """One phase of one environment as it runs: ``total`` records to write, ``done`` of them (``reused``
    from an earlier run among them, ``reused_controls`` of those negative controls), failures so far
    (``failures``: the unexplained ones, named; ``expected``: how many ``expected_failures`` explains),
    ``started``/``finished`` in epoch seconds. ``controls`` of the records to run are negative controls,
    ``controls_done`` of them done.

    What it shows counts as the report's summary does: a consume phase's cells and a produce phase's
    saves, run in this run (reused ones apart, negative controls left out), so the totals of a run's
    consume phases add up to the cells its summary line says were run (:meth:`counts`)."""

    phase: str
    env: str
    total: int
    started: float
    shards: int = 1
    finished: float | None = None
    done: int = 0
    reused: int = 0
    failures: list[str] = field(default_factory=list)
    expected: int = 0
    cell_s: float = 0.0
    kinds: dict[str, int] = field(default_factory=dict)  # cell_kind -> cells of that kind to run
    by_kind: dict[str, list] = field(default_factory=dict)  # RecordTally.by_kind
    last: dict[str, float] = field(default_factory=dict)  # cells to run: id -> seconds when it last ran
    ran: dict[str, float | None] = field(default_factory=dict)  # RecordTally.ran
    controls: int = 0
    controls_done: int = 0
    reused_controls: int = 0

    @property
    def unit(self) -> str:
        """What the phase counts: ``saves`` (produce) or ``cells`` (consume)."""
        return "saves" if self.phase == "produce" else "cells"

    def counts(self) -> tuple[int, int, int]:
        """(done, to do, reused) as shown: the cells (or saves) run in this run, done and in all, and those
        reused from an earlier run; negative controls left out of all three."""
        reused = self.reused - self.reused_controls
        to_do = max(0, self.total - self.reused - self.controls)
        done = self.done - self.reused - self.controls_done
        return min(max(0, done), to_do), to_do, reused

    def worth_estimating(self) -> bool:
        """Whether a time left is worth showing: ``ESTIMATE_AFTER`` cells run in this run, and a tenth of
        those to run (before, the first cells, which include importing TensorFlow, mislead it)."""
        ran = self.done - self.reused
        return ran >= ESTIMATE_AFTER and ran * 10 >= self.total - self.reused


    def left_s(self, now: float) -> float | None:
        """Seconds left, at the pace of the cells run so far in this run (reused ones cost nothing),
        over the ``shards`` working at once. Where the status has the seconds the cells took when the phase
        last ran here (``last``), the cells left go at those, times this run's pace against that one's;
        else, where it lists the ``kinds`` of cells to run, each
        kind left goes at the mean seconds of its kind so far (a kind not yet run: of every cell so far);
        else every cell left at the mean ``cell_s`` (the workers' own seconds, which leave out importing
        TensorFlow); where no record says its seconds, at the phase's wall time so far per cell. None
        before the first cell has run; 0 once every cell is done. How near it comes:
        ``benchmarks/eta.py`` replays a run's records through it."""
        if self.finished is not None or self.done >= self.total:
            return 0.0
        ran = self.done - self.reused
        if ran <= 0 or now <= self.started:
            return None
        if self.cell_s <= 0:
            return (self.total - self.done) * (now - self.started) / ran
        mean = self.cell_s / ran
        by_last = self._by_last_run(mean)
        if by_last is not None:
            return by_last / max(1, self.shards)
        if not self.kinds:
            return (self.total - self.done) * mean / max(1, self.shards)
        left = 0.0
        for kind, planned in self.kinds.items():
            run, timed, seconds = self.by_kind.get(kind, (0, 0, 0.0))
            left += max(0, planned - run) * (seconds / timed if timed else mean)
        return left / max(1, self.shards)

    def _by_last_run(self, mean: float) -> float | None:
        """Seconds left of one worker by the seconds the cells took when they last ran (``last``), at this
        run's pace against that one's over the cells run so far that have both; the cells left without a
        last time at ``mean``. None until ``LAST_RUN_PAIRS`` cells have both."""
        pairs = [(self.last[i], s) for i, s in self.ran.items() if s is not None and i in self.last]
        then = sum(last for last, _ in pairs)
        if len(pairs) < LAST_RUN_PAIRS or then <= 0:
            return None
        pace = sum(now for _, now in pairs) / then
        known = [seconds for i, seconds in self.last.items() if i not in self.ran]
        return pace * sum(known) + max(0, self.total - self.done - len(known)) * mean

    def line(self, now: float) -> str:
        """One plain line: ``consume tf2.15 (2 workers): 120/420 cells (28%), 30 reused, 12 failing so far:
        5 unexplained (...), 7 expected; about 6 min 30 s left``."""
        workers = f" ({self.shards} workers)" if self.shards > 1 else ""
        return f"{self.phase} {self.env}{workers}: {self.tally_text()}, {self.failures_text()}; {self.time_left(now)}"

    def short(self, now: float) -> str:
        """The line for nox's board, which names the session and cuts lines to the terminal's width:
        ``120/420 cells (28%), about 6 min 30 s left, 12 failing so far: 5 unexplained, 7 expected``."""
        return f"{self.tally_text()}, {self.time_left(now)}, {self.failures_text(named=False)}"

    def tally_text(self) -> str:
        """``120/420 cells (28%), 30 reused``: the cells (saves) run in this run, done and in all."""
        done, to_do, reused = self.counts()
        percent = f" ({100 * done // to_do}%)" if to_do else ""
        return f"{done}/{to_do} {self.unit}{percent}" + (f", {reused} reused" if reused else "")

    def failures_text(self, named: bool = True) -> str:
        """The failures so far, in the words of every display: ``none failing so far``; ``7 failing so far,
        all as expected``; ``12 failing so far: 5 unexplained (the first ``NAMED_FAILURES`` named where
        ``named``), 7 expected``."""
        failing = len(self.failures) + self.expected
        if not failing:
            return "none failing so far"
        if not self.failures:
            return f"{failing} failing so far, all as expected"
        text = f"{failing} failing so far: {len(self.failures)} unexplained"
        if named:
            more = f"; and {len(self.failures) - NAMED_FAILURES} more" if len(self.failures) > NAMED_FAILURES else ""
            text += f" ({'; '.join(self.failures[:NAMED_FAILURES])}{more})"
        return text + (f", {self.expected} expected" if self.expected else "")

    def time_left(self, now: float) -> str:
        """``done in 1 min 10 s``; ``finishing`` (every cell done, the workers stopping); ``about 6 min 30 s
        left``; or, until an estimate is worth showing (:meth:`worth_estimating`), the time so far and the
        pace: ``40 s elapsed, 0.5 cells/s``."""
        if self.finished is not None:
            return f"done in {duration(self.finished - self.started)}"
        if self.done >= self.total:
            return "finishing"
        left = self.left_s(now) if self.worth_estimating() else None
        if left is not None:
            return f"about {duration(left)} left"
        elapsed = max(0.0, now - self.started)
        ran = self.done - self.reused
        pace = f", {ran / elapsed:.2g} {self.unit}/s" if ran > 0 and elapsed > 0 else ""
        return f"{duration(elapsed)} elapsed{pace}"


def duration(seconds: float) -> str:
    """``45 s``, ``6 min 30 s``, ``1 h 04 min``: seconds rounded to what a reader needs."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


@contextlib.contextmanager
def phase_running(files: PhaseFiles, total: int, reused: int, shards: int, cells: list[dict] | None = None,
                  seconds: dict[str, float] | None = None):
    """Context manager around a phase's workers: writes its ``status`` file as it starts and as it
    ends (``finished``), so a display in any process follows it. ``cells``: those the workers will run,
    whose kinds (:func:`cell_kind`, counted) and ``seconds`` when they last ran (by id) pace the time
    left."""
    kinds: dict[str, int] = {}
    for cell in cells or []:
        kinds[cell_kind(cell)] = kinds.get(cell_kind(cell), 0) + 1
    last = {c["id"]: (seconds or {})[c["id"]] for c in cells or [] if c["id"] in (seconds or {})}
    controls = sum(cell.get("loader") == CONTROL_LOADER for cell in cells or [])
    status = {"phase": files.phase, "env": files.env, "total": total, "reused": reused, "shards": shards,
              "started": time.time(), "finished": None, "kinds": kinds, "last": last, "controls": controls}
    write_json(files.status, status)

    def widened(workers: int) -> None:
        """The phase now runs on ``workers`` workers (it took more as cores came free)."""
        status["shards"] = workers
        write_json(files.status, status)
    try:
        yield widened
    finally:
        write_json(files.status, dict(status, finished=time.time()))


def busy_workers(workdir: Path, since: float) -> int:
    """The workers of the phases running now whose status was written since ``since`` (epoch seconds):
    each running phase's ``shards``. A status left unfinished by a run that was killed counts too,
    if it is that recent."""
    busy = 0
    for files in running_phases(workdir, since):
        try:
            status = json.loads(files.status.read_text())
            busy += 0 if status.get("finished") is not None else max(1, int(status.get("shards") or 1))
        except (OSError, ValueError, TypeError):
            continue
    return busy


class PhaseWatch:
    """Follows one phase from its files: ``status`` and every records file (shards too)."""

    def __init__(self, files: PhaseFiles, explained=None):
        self.files, self.tally = files, RecordTally(explained)

    def read(self) -> PhaseProgress | None:
        """The phase now, or None without a readable status file."""
        try:
            status = json.loads(self.files.status.read_text())
            progress = PhaseProgress(status["phase"], status["env"], int(status["total"]), float(status["started"]),
                                     int(status.get("shards") or 1), status.get("finished"))
            kinds, last = status.get("kinds") or {}, status.get("last") or {}
            progress.kinds = {str(k): int(n) for k, n in kinds.items()} if isinstance(kinds, dict) else {}
            progress.controls = int(status.get("controls") or 0)
            progress.last = {str(k): float(v) for k, v in last.items()} if isinstance(last, dict) else {}
        except (OSError, ValueError, KeyError, TypeError):
            return None
        self.tally.update(self.files.record_files())
        progress.done = progress.total if self.tally.env_level else min(self.tally.done, progress.total)
        progress.reused, progress.failures = self.tally.reused, self.tally.failures
        progress.expected, progress.cell_s = self.tally.expected, self.tally.cell_s
        progress.by_kind, progress.ran = self.tally.by_kind, self.tally.ran
        progress.controls_done, progress.reused_controls = self.tally.controls, self.tally.reused_controls
        return progress


def running_phases(workdir: Path, since: float) -> list[PhaseFiles]:
    """The phases (not shards) whose status file was written since ``since`` (epoch seconds)."""
    out = []
    for path in sorted(WorkDir(workdir).tasks.glob("*.status.json")):
        try:
            status = json.loads(path.read_text())
            files = PhaseFiles(workdir, status["phase"], status["env"])
            if float(status["started"]) >= since and files.status == path:
                out.append(files)
        except (OSError, ValueError, KeyError, TypeError):  # ValueError: also a name that leads outside
            continue
    return out
