"""Run the worker for one phase of one environment, and survive whatever it does.

One worker process runs all the cells of a phase (TensorFlow is imported once), or of
one shard of it where the phase is split over several workers (:func:`run_sharded`),
started by a launcher (``harness.execute.processes``: a venv's interpreter, or a
container of ``harness.execute.containers``). The supervisor watches it: a cell that kills the process (segfault, abort,
``os._exit``) becomes a ``crash`` record, a cell that runs past the per-cell
timeout is killed and becomes a ``timeout`` record, and a new worker carries on
with the cells left. A worker that dies before its first cell (TensorFlow does
not import, say) makes every remaining cell ``env-error``. Records already in
the results file are never rewritten.
"""
from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

from harness.execute.budget import spent
from harness.execute.processes import Launcher, LaunchError, describe_exit
from harness.guard import loads, read_bytes, read_text
from harness.workdir import PhaseFiles, append_record, read_json, read_records, write_json

WORKER = Path(__file__).resolve().parents[1] / "worker" / "main.py"
POLL_S = 0.2
WIDEN_POLL_S = 5.0  # how often a phase run by one worker asks whether it may take more
LOG_TAIL_LINES = 12


# What a record written by the supervisor (crash, timeout) copies from its cell.
CELL_FIELDS = ("fixture", "format", "producer", "loader", "atol", "rtol", "role")


def _base_record(files: PhaseFiles, cell: dict) -> dict:
    """The identifying fields of a cell's record; the phase's environment is its producer
    when producing, else its consumer (a consume or check phase)."""
    record = {"phase": files.phase, "id": cell["id"]}
    record.update((key, cell[key]) for key in CELL_FIELDS if key in cell)
    record["producer" if files.phase == "produce" else "consumer"] = files.env
    return record


def env_error_record(files: PhaseFiles, reason: str, detail: str = "", verdict: str = "env-error") -> dict:
    """A record giving every cell of the environment in this phase one verdict (scope ``env``):
    ``env-error`` (it could not be made), or ``skipped`` (this machine cannot run it, e.g. no GPU)."""
    role = "producer" if files.phase == "produce" else "consumer"
    return {"phase": files.phase, "scope": "env", role: files.env, "verdict": verdict,
            "reason": reason, "error_text": detail}


def _log_tail(path: Path, offset: int) -> str:
    try:
        text = read_bytes(path, "worker log", offset=offset).decode("utf-8", "replace")
    except FileNotFoundError:
        return ""
    lines = [line for line in text.splitlines() if line.strip()]
    return "\n".join(lines[-LOG_TAIL_LINES:])


def _read_progress(path: Path) -> dict | None:
    try:
        return loads(read_text(path, "progress file"))
    except (FileNotFoundError, ValueError):
        return None


def run_phase(files: PhaseFiles, launcher: Launcher, variables: dict[str, str], task: dict, cells: list[dict],
              cell_timeout_s: float, startup_timeout_s: float, worker: Path = WORKER,
              widen: Callable[[], int] | None = None, deadline: float | None = None) -> list[dict]:
    """Run ``cells`` in worker processes until every cell has exactly one record, or until ``widen``
    asks for more workers. Returns the cells left then (none when every cell has its record).

    Args:
        files: where the results, log and task files go (see :class:`PhaseFiles`).
        launcher: starts the worker in the environment (a venv's interpreter, a container).
        variables: extra environment variables for the worker.
        task: the task fields shared by all cells (phase, env, seed, fixtures, dirs).
        cells: the cells, in order; each a dict with at least ``id``.
        cell_timeout_s: seconds one cell may run before it is killed (``timeout``).
        startup_timeout_s: seconds a worker may take before its first cell.
        worker: the worker script (the real one unless a test supplies another).
        widen: polled every ``WIDEN_POLL_S`` seconds while a worker runs: how many workers the cells
            left should be split over now (below 2: not now). Once it says 2 or more, the worker is
            asked to stop before its next cell (``files.stop``), and the cells it left are returned.
        deadline: when (epoch seconds) the run's ``--budget`` is nearly spent (``harness.execute.budget``):
            from then on the worker is asked to stop before its next cell, no worker starts, and the
            cells left are returned without records.

    Raises:
        KeyboardInterrupt, SystemExit (on SIGTERM): after killing the worker; records
            written so far stay valid.
    """
    previous = signal.signal(signal.SIGTERM, _terminated)  # so the worker is killed with us
    started, counter = time.monotonic(), _CountingLauncher(launcher)
    try:
        return _run_cells(files, counter, variables, task, cells, cell_timeout_s, startup_timeout_s, worker,
                          widen=widen, deadline=deadline)
    finally:
        signal.signal(signal.SIGTERM, previous)
        write_json(files.stats, {"workers_started": counter.started, "cells": len(cells),
                                 "seconds": round(time.monotonic() - started, 3), "ended": round(time.time(), 3)})


def _source(cell: dict) -> tuple:
    """A cell's artifact source: its producer and fixture (a producer's own cells: its fixture)."""
    return cell.get("producer"), cell.get("fixture")


def run_order(cells: list[dict], salt: str) -> list[dict]:
    """``cells`` in the order a phase runs them: its groups of one artifact source (:func:`_source`) in a
    shuffled order, the same in every run for the same ``salt`` (``<phase>-<env>``), each group's cells in
    the plan's order and together (a producer trains each fixture once, for all its formats).

    Why: the plan lists cells producer by producer, and a cell's cost depends on its producer and
    fixture (from 0.002 s for a load that fails at once to 177 s), so the pace of a phase's first cells
    said little about the rest. Replayed by ``benchmarks/eta.py``, the consume phases of the default
    profile run of 2026-12-01 had a time left (:mod:`harness.report.progress`) off by a median of 18% to
    180% per consumer in the plan's order at one pace, and 9% to 37% in this order with each kind of
    cell at its own pace (measured).
    """
    groups: dict[tuple, list[dict]] = {}
    for cell in cells:
        groups.setdefault(_source(cell), []).append(cell)
    order = list(groups.values())
    random.Random(salt).shuffle(order)
    return [cell for group in order for cell in group]


def split(cells: list[dict], shards: int, seconds: dict[str, float] | None = None) -> list[list[dict]]:
    """``cells`` dealt to at most ``shards`` workers: near-equal work, each keeping its cells' order.

    Cells of one artifact source (same ``producer`` and ``fixture``; a producer's cells: same fixture) stay
    together, so a worker that caches per fixture or artifact builds or loads it once; the largest groups
    are dealt first, each to the shard with the least work so far. A cell's work is its ``seconds`` (by
    id: what it took when it last ran) where known, else the mean of those known, else 1 (cell counts).
    Fewer groups than ``shards`` give fewer (non-empty) shards. Returns the shards' cell lists, in order
    of their first cell.
    """
    seconds = seconds or {}
    known = [seconds[c["id"]] for c in cells if c["id"] in seconds]
    default = sum(known) / len(known) if known else 1.0
    groups: dict[tuple, list[int]] = {}
    for index, cell in enumerate(cells):
        groups.setdefault(_source(cell), []).append(index)
    work = {key: sum(seconds.get(cells[i]["id"], default) for i in indices) for key, indices in groups.items()}
    dealt: list[list[int]] = [[] for _ in range(max(1, min(shards, len(groups))))]
    load = [0.0] * len(dealt)
    for key in sorted(groups, key=lambda k: (work[k], len(groups[k])), reverse=True):
        least = min(range(len(dealt)), key=lambda n: (load[n], len(dealt[n])))
        dealt[least].extend(groups[key])
        load[least] += work[key]
    return sorted(([cells[i] for i in sorted(part)] for part in dealt if part), key=lambda part: cells.index(part[0]))


def run_sharded(files: PhaseFiles, launcher: Launcher, variables: dict[str, str], task: dict, cells: list[dict],
                shards: int, cell_timeout_s: float, startup_timeout_s: float, worker: Path = WORKER,
                widen: Callable[[], int] | None = None, seconds: dict[str, float] | None = None,
                deadline: float | None = None) -> int:
    """Run ``cells``, in :func:`run_order`, split over ``shards`` workers at once (:func:`split`), each supervised as
    :func:`run_phase` supervises one: its own records (``files.sharded(n)``), log and restarts, so a
    crash or timeout costs one cell of one shard. With one shard (or one group of cells) it is
    :func:`run_phase` itself. Arguments as :func:`run_phase`'s; ``seconds``: each cell's seconds when it
    last ran, by id, which :func:`split` deals by where known. Returns the number of shards run.

    A phase run by one worker takes more where ``widen`` says so (cores came free: see :func:`run_phase`):
    the worker stops before its next cell and the cells it left are split over that many workers, as
    ``shards`` would have split them; the phase's stats then count every worker and every cell, and
    say after how many cells it was split (``widened_after``).

    Writes ``files.stats`` for the whole phase (``workers_started`` summed, ``seconds`` of wall time,
    ``shards``) and each shard's own. The phase's own results file is created (empty) so that every
    reader finds the phase; the shards' records are read with ``PhaseFiles.records``.

    Raises:
        KeyboardInterrupt, SystemExit (on SIGTERM): after killing every shard's worker.
        Whatever a shard's supervision raised (after stopping the others).
    """
    cells = run_order(cells, f"{files.phase}-{files.env}")
    parts = split(cells, shards, seconds)
    if len(parts) <= 1:
        asked: list[int] = []

        def asking() -> int:
            asked.append(widen())
            return asked[-1]

        left = run_phase(files, launcher, variables, task, cells, cell_timeout_s, startup_timeout_s, worker,
                         widen=asking if widen else None, deadline=deadline)
        if not left or spent(deadline):
            return 1
        first = read_json(files.stats)
        used = run_sharded(files, launcher, variables, task, left, asked[-1], cell_timeout_s, startup_timeout_s,
                           worker, seconds=seconds, deadline=deadline)
        rest = read_json(files.stats)
        write_json(files.stats, dict(rest, cells=len(cells), widened_after=len(cells) - len(left),
                                     workers_started=first.get("workers_started", 0) + rest.get("workers_started", 0),
                                     seconds=round(first.get("seconds", 0) + rest.get("seconds", 0), 3)))
        return used
    files.results.touch()
    stop, errors = threading.Event(), []
    counters = [_CountingLauncher(launcher) for _ in parts]
    # Each shard says it is done with its own event: waiting with Thread.join, a SIGTERM left a shard's
    # worker running in 1 run of 8 here (CPython 3.11; a join interrupted by a signal can take a running
    # thread for ended), so we do not rely on join.
    ended = [threading.Event() for _ in parts]

    def supervise(number: int, part: list[dict], counter: _CountingLauncher, done: threading.Event) -> None:
        shard, started = files.sharded(number), time.monotonic()
        try:
            _run_cells(shard, counter, variables, task, part, cell_timeout_s, startup_timeout_s, worker, stop,
                       deadline=deadline)
        except _Stopped:
            pass
        except BaseException as exc:  # noqa: BLE001  (re-raised in the calling thread)
            errors.append(exc)
            stop.set()
        finally:
            write_json(shard.stats, {"workers_started": counter.started, "cells": len(part),
                                     "seconds": round(time.monotonic() - started, 3), "ended": round(time.time(), 3)})
            done.set()

    threads = [threading.Thread(target=supervise, args=(n, part, counter, done), name=f"shard{n}", daemon=True)
               for n, (part, counter, done) in enumerate(zip(parts, counters, ended, strict=True), start=1)]
    previous = signal.signal(signal.SIGTERM, _terminated)
    started = time.monotonic()
    try:
        for thread in threads:
            thread.start()
        for done in ended:
            while not done.wait(POLL_S):  # short waits: Ctrl-C and SIGTERM reach this thread meanwhile
                pass
    except BaseException:
        stop.set()  # every shard kills its worker and returns
        for thread, done in zip(threads, ended, strict=True):
            while thread.ident is not None and not done.wait(POLL_S):
                pass
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
        write_json(files.stats, {"workers_started": sum(c.started for c in counters), "cells": len(cells),
                                 "seconds": round(time.monotonic() - started, 3), "shards": len(parts),
                                 "ended": round(time.time(), 3)})
    if errors:
        raise errors[0]
    return len(parts)


class _Stopped(Exception):
    """Another shard, or the calling thread, stopped the phase; this shard's worker was killed."""


class _CountingLauncher:
    """A launcher that counts the workers it starts (one per phase, plus one per crash or timeout)."""

    def __init__(self, launcher: Launcher):
        self.launcher, self.started = launcher, 0

    def start(self, *args, **kwargs):
        handle = self.launcher.start(*args, **kwargs)
        self.started += 1
        return handle


def _terminated(signum, frame):
    raise SystemExit(f"terminated by signal {signal.Signals(signum).name}")


def _run_cells(files: PhaseFiles, launcher: Launcher, variables: dict[str, str], task: dict, cells: list[dict],
               cell_timeout_s: float, startup_timeout_s: float, worker: Path,
               stop: threading.Event | None = None, widen: Callable[[], int] | None = None,
               deadline: float | None = None) -> list[dict]:
    """Run ``cells`` until each has its record; returns the cells left where ``widen`` or ``deadline``
    stopped the worker (or where the deadline passed before a worker started)."""
    done = {r.get("id") for r in read_records(files.results)}
    remaining = [c for c in cells if c["id"] not in done]
    variables = dict(variables, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2")
    while remaining:
        if spent(deadline):
            return remaining
        files.progress.unlink(missing_ok=True)
        files.stop.unlink(missing_ok=True)
        write_json(files.task, dict(task, cells=remaining, results_path=str(files.results),
                                    progress_path=str(files.progress), facts_path=str(files.facts),
                                    stop_path=str(files.stop)))
        log_offset = files.log.stat().st_size if files.log.exists() else 0
        limits = {c["id"]: c["timeout_s"] for c in remaining if c.get("timeout_s")}
        outcome = _watch(files, launcher, [str(worker), str(files.task)], variables, cell_timeout_s,
                         startup_timeout_s, stop, widen, deadline, limits)
        done_now = {r.get("id") for r in read_records(files.results)}
        by_id = {c["id"]: c for c in remaining}
        left = [c for c in remaining if c["id"] not in done_now]
        current = outcome.get("cell")
        if outcome.get("widened") and outcome.get("code") == 0:  # it stopped between cells, as asked
            files.stop.unlink(missing_ok=True)
            return left
        if current in by_id and current not in done_now:
            record = _base_record(files, by_id[current])
            record.update(verdict=outcome["verdict"], reason=outcome["reason"], seconds=outcome.get("seconds"),
                          error_text=_log_tail(files.log, log_offset))
            append_record(files.results, record)
            left = [c for c in left if c["id"] != current]
        elif left and len(left) == len(remaining):
            # No cell started or finished: the environment itself is broken.
            tail = _log_tail(files.log, log_offset)
            last = tail.splitlines()[-1].strip() if tail else ""
            append_record(files.results, env_error_record(
                files, f"{outcome['reason']} before running a cell" + (f": {last}" if last else ""), tail))
            return []
        remaining = left
    return []


def _watch(files: PhaseFiles, launcher: Launcher, args: list[str], variables: dict[str, str],
           cell_timeout_s: float, startup_timeout_s: float, stop: threading.Event | None = None,
           widen: Callable[[], int] | None = None, deadline: float | None = None,
           limits: dict[str, float] | None = None) -> dict:
    """Start one worker and wait for it; kill it on a timeout (``cell_timeout_s``, or a cell's own seconds in
    ``limits`` by cell id: a fixture's ``CELL_TIMEOUT_S``); ask it to stop between cells (``files.stop``)
    once ``widen`` (polled every ``WIDEN_POLL_S`` after its first cell started) says 2 or more, or once
    ``deadline`` (epoch seconds) has passed. Returns
    what happened (``widened``: it was asked to stop; ``code``: its exit status where it exited).

    Raises:
        _Stopped: ``stop`` was set (the worker is killed first).
    """
    started = asked_at = time.monotonic()
    widened = False
    with open(files.log, "ab") as log:
        try:
            worker = launcher.start(args, variables, log)
        except LaunchError as exc:
            return {"verdict": "env-error", "cell": None, "reason": f"worker not started ({exc})"}
        try:
            while True:
                code = worker.wait(POLL_S)
                if stop is not None and stop.is_set():
                    raise _Stopped()
                progress = _read_progress(files.progress)
                if code is not None:
                    return {"verdict": "crash", "cell": progress and progress["cell"], "code": code,
                            "seconds": progress and round(time.time() - progress["started"], 3),
                            "reason": f"worker {describe_exit(code)}", "widened": widened}
                if not widened and spent(deadline):
                    files.stop.touch()
                    widened = True
                if widen and not widened and progress and time.monotonic() - asked_at >= WIDEN_POLL_S:
                    asked_at = time.monotonic()
                    if widen() >= 2:
                        files.stop.touch()
                        widened = True
                if progress is None and time.monotonic() - started > startup_timeout_s:
                    worker.kill()
                    return {"verdict": "env-error", "cell": None,
                            "reason": f"worker still starting after {startup_timeout_s:g} s, killed,"}
                limit = progress and (limits or {}).get(progress["cell"], cell_timeout_s)
                if progress is not None and time.time() - progress["started"] > limit:
                    worker.kill()
                    return {"verdict": "timeout", "cell": progress["cell"],
                            "seconds": round(time.time() - progress["started"], 3),
                            "reason": f"cell ran past its {limit:g} s timeout; worker killed"}
        except BaseException:
            worker.kill()
            raise
