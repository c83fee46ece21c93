"""The layout of a work dir, declared once, and how its JSON and JSON-lines files are written and read.

A run's work dir (``--workdir``, default ``work/``)::

    run.json                                    the plan: selection, start, matrix.yaml (``nox -s plan``)
    artifacts/<env>/<fixture>/<format>/         what a producer saved
    results/<phase>-<env>[.shard<N>].jsonl      a phase's records (and ``.stats.json``; ``.facts.json``)
    logs/<phase>-<env>[.shard<N>].log           its worker's output
    tasks/<phase>-<env>[.shard<N>].json         its worker's task (and ``.progress``, ``.status.json``, ``.stop``)
    cache/<phase>-<env>.json                    records kept for reuse (``harness.execute.incremental``)
    cache/<phase>-<env>.seconds.json            each cell's seconds when it last ran (how shards are dealt)

A check's work dir (``nox -s check``, default ``work/check/``) has ``results/``, ``logs/`` and
``tasks/`` of its ``check`` phase too, and ``plan.json``, ``reference/`` and ``report.md``/``.json``.
The default work dir also keeps ``releases.json``, the environments ``check --to RELEASE`` resolved.

It imports only ``harness`` (its ``ROOT``), ``harness.guard`` and the catalog of formats, so every step
(supervisor, results, incremental, merge, report, check) finds its files here, and reads every record with
the names its format has now (:func:`read_records`).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

from harness import ROOT
from harness.guard import NotRegular, loads, read_bytes, read_text, within, write_atomic
from harness.worker.catalog import current_names

RUN = "run.json"
ARTIFACTS = "artifacts"
RESULTS = "results"
LOGS = "logs"
TASKS = "tasks"
CACHE = "cache"
PLAN = "plan.json"
REFERENCE = "reference"

DEFAULT_WORKDIR = ROOT / "work"
DEFAULT_CHECK_WORKDIR = DEFAULT_WORKDIR / "check"
RELEASES_CACHE = DEFAULT_WORKDIR / "releases.json"

# What a CI job's work dir hands on to the merged one (``harness.ci.merge``): the matrix phases' files in
# these folders, named as PHASE_FILE says (its groups: phase, environment, shard, kind).
JOB_FOLDERS = (RESULTS, LOGS)
PHASE_FILE = re.compile(r"^(produce|consume)-(.+?)(\.shard[1-9][0-9]*)?\.(jsonl|facts\.json|stats\.json|log)$")


@dataclass(frozen=True)
class WorkDir:
    """Where a run (or a check) keeps its files: see the module docstring. Fixed names are joined;
    names that come from a record or an option (:meth:`artifact`, :class:`PhaseFiles`) go through
    :func:`harness.guard.within`."""

    path: Path

    @property
    def run(self) -> Path:
        return self.path / RUN

    @property
    def artifacts(self) -> Path:
        return self.path / ARTIFACTS

    def artifact(self, env: str, fixture: str, fmt: str) -> Path:
        """The folder of one producer's artifact of ``fixture`` in format ``fmt``.

        Raises:
            harness.guard.OutsideWorkdir: a name that is not a plain file name (``..``, ``/``), so the
                folder would be outside ``artifacts/``.
        """
        return within(self.path, ARTIFACTS, env, fixture, fmt)

    @property
    def results(self) -> Path:
        return self.path / RESULTS

    @property
    def tasks(self) -> Path:
        return self.path / TASKS

    @property
    def plan(self) -> Path:
        """A check's plan (``harness.check.check_plan.CheckPlan``)."""
        return self.path / PLAN

    @property
    def reference(self) -> Path:
        """A check's reference inputs and outputs, written by its source environment's worker."""
        return self.path / REFERENCE

    def report(self, kind: str) -> Path:
        """A check's report, ``md`` or ``json``."""
        return self.path / f"report.{kind}"

    def phase(self, phase: str, env: str) -> PhaseFiles:
        return PhaseFiles(self.path, phase, env)


@dataclass(frozen=True)
class PhaseFiles:
    """Where one phase of one environment keeps its files (under the run's work dir).

    A phase split over several workers (``--workers-per-env``) gives each worker a shard
    (``shard`` 1, 2, ...): its own records, log, task, progress and stats files, named
    ``<phase>-<env>.shard<N>.*``; the facts file is the phase's own (every shard's worker
    writes the same facts). The phase's own results file keeps the records no worker wrote
    (reused ones, an environment's env-error); :meth:`records` reads them all.

    Every path is made by :func:`harness.guard.within`: an environment name that would lead
    outside the work dir (``x/../../victim``) raises :class:`harness.guard.OutsideWorkdir`.
    """

    workdir: Path
    phase: str
    env: str
    shard: int | None = None

    @property
    def stem(self) -> str:
        return f"{self.phase}-{self.env}" + (f".shard{self.shard}" if self.shard else "")

    @property
    def results(self) -> Path:
        return within(self.workdir, RESULTS, f"{self.stem}.jsonl")

    @property
    def facts(self) -> Path:
        return within(self.workdir, RESULTS, f"{self.phase}-{self.env}.facts.json")

    @property
    def log(self) -> Path:
        return within(self.workdir, LOGS, f"{self.stem}.log")

    @property
    def progress(self) -> Path:
        """The worker's current cell, ``{"cell": id, "started": epoch seconds}`` (``harness/worker/main.py``)."""
        return within(self.workdir, TASKS, f"{self.stem}.progress")

    @property
    def stop(self) -> Path:
        """Present while the supervisor asks the worker to stop before its next cell (the phase is being
        split over more workers: ``harness.execute.supervisor.run_sharded``)."""
        return within(self.workdir, TASKS, f"{self.stem}.stop")

    @property
    def status(self) -> Path:
        """``{"phase", "env", "total", "reused", "shards", "started", "finished"}`` of a running or ended
        phase (cells; epoch seconds, ``finished`` null while it runs): what ``harness.report.progress`` shows."""
        return within(self.workdir, TASKS, f"{self.stem}.status.json")

    @property
    def stats(self) -> Path:
        """``{"workers_started", "seconds", "cells", "ended"}`` of the phase's (or shard's) last supervised
        run (``ended``: seconds since the epoch, what a report's wall time ends with; a sharded phase's
        own file adds ``shards``, their count)."""
        return within(self.workdir, RESULTS, f"{self.stem}.stats.json")

    @property
    def task(self) -> Path:
        return within(self.workdir, TASKS, f"{self.stem}.json")

    @property
    def cache(self) -> Path:
        """The phase's records kept for reuse, by key (``harness.execute.incremental``)."""
        return within(self.workdir, CACHE, f"{self.phase}-{self.env}.json")

    @property
    def last_seconds(self) -> Path:
        """``{cell id: seconds}`` of the phase's cells when they last ran here: how its shards are dealt."""
        return within(self.workdir, CACHE, f"{self.phase}-{self.env}.seconds.json")

    @property
    def cached_facts(self) -> Path:
        """The facts of the run that wrote :attr:`cache`."""
        return within(self.workdir, CACHE, f"{self.phase}-{self.env}.facts.json")

    def sharded(self, shard: int) -> PhaseFiles:
        """The files of one shard (1, 2, ...) of this phase."""
        return replace(self, shard=shard)

    def shards(self) -> list[PhaseFiles]:
        """The shards whose records file exists, by number."""
        pattern = re.compile(re.escape(f"{self.phase}-{self.env}.shard") + r"([1-9][0-9]*)\.jsonl")
        found = [pattern.fullmatch(p.name) for p in (self.workdir / RESULTS).glob("*.shard*.jsonl")]
        return [self.sharded(n) for n in sorted(int(m.group(1)) for m in found if m)]

    def record_files(self) -> list[Path]:
        """The phase's records file and every shard's, in that order."""
        return [self.results] + [shard.results for shard in self.shards()]

    def records(self) -> list[dict]:
        """Every record of the phase: its own file's, then each shard's (:func:`read_records`)."""
        return [record for path in self.record_files() for record in read_records(path)]

    def reset(self) -> None:
        """Remove this phase's (and its shards') earlier results, facts, logs and progress (a new run starts)."""
        for files in [self, *self.shards()]:
            for path in (files.results, files.facts, files.log, files.progress, files.stats, files.status, files.stop):
                path.unlink(missing_ok=True)
        for path in (self.results, self.log, self.task):
            path.parent.mkdir(parents=True, exist_ok=True)


def write_json(path: Path, data) -> None:
    """Write JSON atomically (temp file + rename: :func:`harness.guard.write_atomic`), so readers never
    see half a file. Raises OSError naming ``path`` (a full disk); the old file is kept."""
    write_atomic(path, json.dumps(data, indent=1, sort_keys=True, default=str))


def read_json(path: Path) -> dict:
    """The JSON object in ``path``, or {} when it is missing, half-written or not an object.

    Raises:
        harness.guard.NotRegular: a named pipe, device or socket in its place (:func:`harness.guard.read_bytes`).
    """
    try:
        data = loads(read_text(path, "JSON file"))
    except NotRegular:  # a FIFO in its place: refused, never waited on
        raise
    except (OSError, ValueError):  # missing, half-written, not UTF-8, too large, nested too deeply
        return {}
    return data if isinstance(data, dict) else {}


def append_record(path: Path, record: dict) -> None:
    """Append one JSON line and fsync it, so it survives a crash or Ctrl-C."""
    with open(path, "a") as handle:
        handle.write(json.dumps(record, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_records(path: Path) -> list[dict]:
    """All complete records of a JSON-lines file, each with the name its format has now (a record written
    before a format was renamed, ``weights_h5``, reads as ``h5_weights``, its ``id`` too:
    ``harness.worker.catalog.current_names``).

    A torn last line, and any line that is not a JSON object (garbage, undecodable
    bytes, a bare number or list), is ignored rather than crashing the reader.

    Raises:
        harness.guard.NotRegular, harness.guard.TooLarge: a FIFO, device or socket in the file's place, or
            a file past the reader's cap (:func:`harness.guard.read_bytes`): refused, never waited on.
    """
    try:
        lines = read_bytes(path, "records file").decode("utf-8", "replace").splitlines()
    except FileNotFoundError:
        return []
    records = []
    for line in lines:
        try:
            record = loads(line)
        except ValueError:  # not JSON, or nested too deeply
            continue
        if isinstance(record, dict):
            records.append(current_names(record))
    return records
