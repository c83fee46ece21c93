"""Run the worker for one phase of one environment, and survive whatever it does.

One worker process runs all the cells of a phase (TensorFlow is imported once),
started by a launcher (``harness.processes``: a venv's interpreter, or a
container of ``harness.containers``). The supervisor watches it: a cell that kills the process (segfault, abort,
``os._exit``) becomes a ``crash`` record, a cell that runs past the per-cell
timeout is killed and becomes a ``timeout`` record, and a new worker carries on
with the cells left. A worker that dies before its first cell (TensorFlow does
not import, say) makes every remaining cell ``env-error``. Records already in
the results file are never rewritten.
"""
from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from pathlib import Path

from harness.guard import loads, within
from harness.plan import write_json
from harness.processes import Launcher, LaunchError, describe_exit
from harness.results import append_record, read_records

WORKER = Path(__file__).resolve().parent / "worker" / "main.py"
POLL_S = 0.2
LOG_TAIL_LINES = 12


@dataclass(frozen=True)
class PhaseFiles:
    """Where one phase of one environment keeps its files (under the run's work dir).

    Every path is made by :func:`harness.guard.within`: an environment name that would lead
    outside the work dir (``x/../../victim``) raises :class:`harness.guard.OutsideWorkdir`."""

    workdir: Path
    phase: str
    env: str

    @property
    def results(self) -> Path:
        return within(self.workdir, "results", f"{self.phase}-{self.env}.jsonl")

    @property
    def facts(self) -> Path:
        return within(self.workdir, "results", f"{self.phase}-{self.env}.facts.json")

    @property
    def log(self) -> Path:
        return within(self.workdir, "logs", f"{self.phase}-{self.env}.log")

    @property
    def progress(self) -> Path:
        return within(self.workdir, "tasks", f"{self.phase}-{self.env}.progress")

    @property
    def stats(self) -> Path:
        """``{"workers_started", "seconds", "cells"}`` of the phase's last supervised run."""
        return within(self.workdir, "results", f"{self.phase}-{self.env}.stats.json")

    @property
    def task(self) -> Path:
        return within(self.workdir, "tasks", f"{self.phase}-{self.env}.json")

    def reset(self) -> None:
        """Remove this phase's earlier results, facts and log (a new run starts)."""
        for path in (self.results, self.facts, self.log, self.progress, self.stats):
            path.unlink(missing_ok=True)
        for path in (self.results, self.log, self.task):
            path.parent.mkdir(parents=True, exist_ok=True)


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
        with open(path, "rb") as handle:
            handle.seek(offset)
            text = handle.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""
    lines = [line for line in text.splitlines() if line.strip()]
    return "\n".join(lines[-LOG_TAIL_LINES:])


def _read_progress(path: Path) -> dict | None:
    try:
        return loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


def run_phase(files: PhaseFiles, launcher: Launcher, variables: dict[str, str], task: dict, cells: list[dict],
              cell_timeout_s: float, startup_timeout_s: float, worker: Path = WORKER) -> None:
    """Run ``cells`` in worker processes until every cell has exactly one record.

    Args:
        files: where the results, log and task files go (see :class:`PhaseFiles`).
        launcher: starts the worker in the environment (a venv's interpreter, a container).
        variables: extra environment variables for the worker.
        task: the task fields shared by all cells (phase, env, seed, fixtures, dirs).
        cells: the cells, in order; each a dict with at least ``id``.
        cell_timeout_s: seconds one cell may run before it is killed (``timeout``).
        startup_timeout_s: seconds a worker may take before its first cell.
        worker: the worker script (the real one unless a test supplies another).

    Raises:
        KeyboardInterrupt, SystemExit (on SIGTERM): after killing the worker; records
            written so far stay valid.
    """
    previous = signal.signal(signal.SIGTERM, _terminated)  # so the worker is killed with us
    started, counter = time.monotonic(), _CountingLauncher(launcher)
    try:
        _run_cells(files, counter, variables, task, cells, cell_timeout_s, startup_timeout_s, worker)
    finally:
        signal.signal(signal.SIGTERM, previous)
        write_json(files.stats, {"workers_started": counter.started, "cells": len(cells),
                                 "seconds": round(time.monotonic() - started, 3)})


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
               cell_timeout_s: float, startup_timeout_s: float, worker: Path) -> None:
    done = {r.get("id") for r in read_records(files.results)}
    remaining = [c for c in cells if c["id"] not in done]
    variables = dict(variables, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2")
    while remaining:
        files.progress.unlink(missing_ok=True)
        write_json(files.task, dict(task, cells=remaining, results_path=str(files.results),
                                    progress_path=str(files.progress), facts_path=str(files.facts)))
        log_offset = files.log.stat().st_size if files.log.exists() else 0
        outcome = _watch(files, launcher, [str(worker), str(files.task)], variables, cell_timeout_s,
                         startup_timeout_s)
        done_now = {r.get("id") for r in read_records(files.results)}
        by_id = {c["id"]: c for c in remaining}
        left = [c for c in remaining if c["id"] not in done_now]
        current = outcome.get("cell")
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
            return
        remaining = left


def _watch(files: PhaseFiles, launcher: Launcher, args: list[str], variables: dict[str, str],
           cell_timeout_s: float, startup_timeout_s: float) -> dict:
    """Start one worker and wait for it; kill it on a timeout. Returns what happened."""
    started = time.monotonic()
    with open(files.log, "ab") as log:
        try:
            worker = launcher.start(args, variables, log)
        except LaunchError as exc:
            return {"verdict": "env-error", "cell": None, "reason": f"worker not started ({exc})"}
        try:
            while True:
                code = worker.wait(POLL_S)
                progress = _read_progress(files.progress)
                if code is not None:
                    return {"verdict": "crash", "cell": progress and progress["cell"],
                            "seconds": progress and round(time.time() - progress["started"], 3),
                            "reason": f"worker {describe_exit(code)}"}
                if progress is None and time.monotonic() - started > startup_timeout_s:
                    worker.kill()
                    return {"verdict": "env-error", "cell": None,
                            "reason": f"worker still starting after {startup_timeout_s:g} s, killed,"}
                if progress is not None and time.time() - progress["started"] > cell_timeout_s:
                    worker.kill()
                    return {"verdict": "timeout", "cell": progress["cell"],
                            "seconds": round(time.time() - progress["started"], 3),
                            "reason": f"cell ran past its {cell_timeout_s:g} s timeout; worker killed"}
        except BaseException:
            worker.kill()
            raise
