"""Where one phase of one environment keeps its files under a run's work dir (results, facts, logs,
task, progress, status, stats), its shards' too, and how its JSON-lines record files are written and
read. It imports only ``harness.guard``, so every step (supervisor, results, incremental, merge,
report) can find a phase's files here.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

from harness.guard import loads, within


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
        return within(self.workdir, "results", f"{self.stem}.jsonl")

    @property
    def facts(self) -> Path:
        return within(self.workdir, "results", f"{self.phase}-{self.env}.facts.json")

    @property
    def log(self) -> Path:
        return within(self.workdir, "logs", f"{self.stem}.log")

    @property
    def progress(self) -> Path:
        """The worker's current cell, ``{"cell": id, "started": epoch seconds}`` (``harness/worker/main.py``)."""
        return within(self.workdir, "tasks", f"{self.stem}.progress")

    @property
    def status(self) -> Path:
        """``{"phase", "env", "total", "reused", "shards", "started", "finished"}`` of a running or ended
        phase (cells; epoch seconds, ``finished`` null while it runs): what ``harness.progress`` shows."""
        return within(self.workdir, "tasks", f"{self.stem}.status.json")

    @property
    def stats(self) -> Path:
        """``{"workers_started", "seconds", "cells", "ended"}`` of the phase's (or shard's) last supervised
        run (``ended``: seconds since the epoch, what a report's wall time ends with; a sharded phase's
        own file adds ``shards``, their count)."""
        return within(self.workdir, "results", f"{self.stem}.stats.json")

    @property
    def task(self) -> Path:
        return within(self.workdir, "tasks", f"{self.stem}.json")

    def sharded(self, shard: int) -> PhaseFiles:
        """The files of one shard (1, 2, ...) of this phase."""
        return replace(self, shard=shard)

    def shards(self) -> list[PhaseFiles]:
        """The shards whose records file exists, by number."""
        pattern = re.compile(re.escape(f"{self.phase}-{self.env}.shard") + r"([1-9][0-9]*)\.jsonl")
        found = [pattern.fullmatch(p.name) for p in (self.workdir / "results").glob("*.shard*.jsonl")]
        return [self.sharded(n) for n in sorted(int(m.group(1)) for m in found if m)]

    def record_files(self) -> list[Path]:
        """The phase's records file and every shard's, in that order."""
        return [self.results] + [shard.results for shard in self.shards()]

    def records(self) -> list[dict]:
        """Every record of the phase: its own file's, then each shard's (``harness.results.read_records``)."""
        return [record for path in self.record_files() for record in read_records(path)]

    def reset(self) -> None:
        """Remove this phase's (and its shards') earlier results, facts, logs and progress (a new run starts)."""
        for files in [self, *self.shards()]:
            for path in (files.results, files.facts, files.log, files.progress, files.stats, files.status):
                path.unlink(missing_ok=True)
        for path in (self.results, self.log, self.task):
            path.parent.mkdir(parents=True, exist_ok=True)


def append_record(path: Path, record: dict) -> None:
    """Append one JSON line and fsync it, so it survives a crash or Ctrl-C."""
    with open(path, "a") as handle:
        handle.write(json.dumps(record, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_records(path: Path) -> list[dict]:
    """All complete records of a JSON-lines file.

    A torn last line, and any line that is not a JSON object (garbage, undecodable
    bytes, a bare number or list), is ignored rather than crashing the reader.
    """
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return []
    records = []
    for line in lines:
        try:
            record = loads(line)
        except ValueError:  # not JSON, or nested too deeply
            continue
        if isinstance(record, dict):
            records.append(record)
    return records
