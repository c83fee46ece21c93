"""How a run's progress (:mod:`harness.report.progress`) is shown while a phase runs.

The display (:func:`choose_display`):

- ``live``: a rich live display, where the session's stdout is a terminal;
- ``lines``: one plain line per running phase every 30 s (CI logs), and one as it ends;
- ``board``: a session under ``nox -j`` whose nox draws a terminal board: a line ending in ``\\r``
  every 2 s, which nox's board shows as that session's own line;
- ``off``: ``--quiet``; or a session under ``nox -j`` without a terminal, whose nox prints each
  session's output only as it ends: there the parent nox process prints the lines instead
  (:func:`watch_in_background`, started by the noxfile).
"""
from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from harness.report.progress import NAMED_FAILURES, PhaseProgress, PhaseWatch, running_phases
from harness.workdir import PhaseFiles

DISPLAYS = ("live", "lines", "board", "off")
LINES_EVERY_S = 30.0
BOARD_EVERY_S = 2.0
LIVE_EVERY_S = 0.5


def choose_display(quiet: bool, stdout_tty: bool, under_parallel_nox: bool, nox_tty: bool) -> str:
    """Which display a session shows (one of :data:`DISPLAYS`; see the module docstring).

    Args:
        quiet: ``--quiet`` was given.
        stdout_tty: the session's stdout is a terminal.
        under_parallel_nox: the session runs as a child of ``nox -j`` (its stdout is nox's pipe).
        nox_tty: the ``nox`` command's own stdout is a terminal (the noxfile learns it in that process).
    """
    if quiet:
        return "off"
    if under_parallel_nox:
        return "board" if nox_tty else "off"
    return "live" if stdout_tty else "lines"


def stamped(line: str) -> str:
    """``progress HH:MM:SS <line>`` (local time): a progress line as a log shows it."""
    return f"progress {time.strftime('%H:%M:%S')} {line}"


def _live_table(progresses: list[PhaseProgress], now: float):
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    table = Table.grid(padding=(0, 1))
    for p in progresses:
        done, to_do, _ = p.counts()
        colour = "red" if p.failures else "green"
        table.add_row(f"[bold]{p.phase}[/] {p.env}" + (f" ({p.shards} workers)" if p.shards > 1 else ""),
                      ProgressBar(total=max(to_do, 1), completed=done, width=30), p.tally_text(), p.time_left(now))
        table.add_row("", f"[{colour}]{p.failures_text(named=False)}[/]")
        for name in p.failures[:NAMED_FAILURES]:
            table.add_row("", f"[red]{name}[/]")
    return table


class Display:
    """Shows one phase while it runs, as :func:`choose_display` chose (a context manager, entered
    before :func:`phase_running` and left after it, so its last line says the phase ended).

    ``stream`` is where lines go (stdout unless a test gives another); ``every_s`` overrides the
    display's interval between lines (seconds); ``explained`` tells a record that an
    ``expected_failures`` entry explains (:func:`explainer`).
    """

    def __init__(self, files: PhaseFiles, display: str, stream=None, every_s: float | None = None, explained=None):
        self.watch, self.display = PhaseWatch(files, explained), display
        self.stream = stream or sys.stdout
        self.every_s = every_s or {"live": LIVE_EVERY_S, "board": BOARD_EVERY_S}.get(display, LINES_EVERY_S)
        self.stop, self.thread, self.live = threading.Event(), None, None

    def __enter__(self) -> Display:
        if self.display == "off":
            return self
        if self.display == "live":
            from rich.console import Console
            from rich.live import Live
            self.live = Live(console=Console(file=self.stream), auto_refresh=False, transient=False)
            self.live.start()
        self.thread = threading.Thread(target=self._loop, daemon=True, name="progress")
        self.thread.start()
        return self

    def _loop(self) -> None:
        while not self.stop.wait(self.every_s):
            self._show(final=False)

    def _show(self, final: bool) -> None:
        progress = self.watch.read()
        if progress is None:
            return
        now = time.time()
        if self.live:
            self.live.update(_live_table([progress], now), refresh=True)
        elif self.display == "board" and not final:
            self.stream.write(progress.short(now) + "\r")
        else:
            self.stream.write(stamped(progress.line(now)) + "\n")
        self.stream.flush()

    def __exit__(self, *exc) -> None:
        if self.thread is None:
            return
        self.stop.set()
        self.thread.join()
        self._show(final=True)
        if self.live:
            self.live.stop()


def watch_in_background(workdir: Path, stream=None, every_s: float = LINES_EVERY_S, explained=None,
                        tick_s: float = 1.0) -> threading.Thread:
    """Print a line per running phase of the run in ``workdir`` every ``every_s`` seconds, and one as
    each ends (seen within ``tick_s``), from a daemon thread (in the ``nox -j`` process whose sessions
    cannot print as they go). Phases whose status predates this call are not shown; ``explained`` as
    :class:`Display`'s. Returns the thread (it stops with the process)."""
    stream, since = stream or sys.stdout, time.time()
    watches: dict[Path, PhaseWatch] = {}
    printed: dict[Path, float] = {}  # when each phase's last line was printed
    ended: set[Path] = set()

    def loop():
        while True:
            time.sleep(tick_s)
            now = time.time()
            for files in running_phases(workdir, since):
                if files.status in ended:
                    continue
                progress = watches.setdefault(files.status, PhaseWatch(files, explained)).read()
                if progress is None:
                    continue
                if progress.finished is not None:
                    ended.add(files.status)
                elif now - printed.setdefault(files.status, now) < every_s:
                    continue
                printed[files.status] = now
                stream.write(stamped(progress.line(now)) + "\n")
            stream.flush()

    thread = threading.Thread(target=loop, daemon=True, name="progress")
    thread.start()
    return thread
