"""Merge the work dirs of separately run CI jobs into one work dir, so one report covers them all.

A nightly run on a CI engine runs each phase of each environment as its own job
(``.github/workflows/nightly.yml``), each with its own work dir: ``run.json`` (the
plan, written by ``nox -s plan``), ``results/<phase>-<env>.jsonl`` and ``.facts.json``,
and ``logs/<phase>-<env>.log`` (and each shard's ``<phase>-<env>.shard<N>.*``). :func:`gather`
copies them into one work dir, where ``nox -s report`` then sees exactly what one local
``nox -s matrix`` run leaves.

It refuses, with :class:`MergeError`, whatever would make that report wrong: a folder
without ``run.json``, jobs planned with different selections or from different
``matrix.yaml`` files, a result file of an environment the selection does not have,
and one phase of one environment from two jobs with different content. The same file
from two jobs with the same content (a consumer job that also kept the producers'
records it downloaded) is taken once.
"""
from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.guard import (MAX_FILE_BYTES, NotRegular, OutsideWorkdir, loads, quote, read_bytes, read_text, regular,
                           resolved, safe_name, within)
from harness.workdir import JOB_FOLDERS, PHASE_FILE, RESULTS, PhaseFiles, WorkDir, read_records, write_json

PHASES = ("produce", "consume")
# What must be the same in every job's run.json: the selection, and the matrix.yaml it came from.
SELECTION_KEYS = ("profile", "envs", "fixtures", "formats", "goldens")


class MergeError(HarnessError):
    """The job folders cannot be merged into one run; the message says which folder and what to do."""


@dataclass(frozen=True)
class Job:
    """One job's work dir and its ``run.json``."""

    path: Path
    run: dict

    @property
    def run_file(self) -> Path:
        return WorkDir(self.path).run


def read_job(path: Path) -> Job:
    """The job in work dir ``path``.

    Raises:
        MergeError: ``path`` is no folder, or has no readable ``run.json`` with a selection.
    """
    path = Path(path)
    if not path.is_dir():
        raise MergeError(f"{path}: no such folder (give the work dir of each job)")
    run_file = WorkDir(path).run
    try:
        run = loads(read_text(run_file, "run.json", 16 * 2**20))
    except FileNotFoundError:
        raise MergeError(f"{path}: no run.json; every job runs `nox -s plan` first, which writes it "
                         "(is this a job's work dir?)") from None
    except (OSError, ValueError) as exc:
        raise MergeError(f"{run_file}: not readable JSON ({exc})") from None
    missing = [key for key in SELECTION_KEYS if not isinstance(run, dict) or key not in run]
    if missing:
        raise MergeError(f"{run_file}: no {', '.join(missing)}; not the run.json of nox -s plan")
    for key in ("envs", "goldens"):
        names = run[key]
        bad = next((n for n in names if not safe_name(n)), None) if isinstance(names, list) else names
        if not isinstance(names, list) or bad is not None:
            raise MergeError(f"{run_file}: {key} holds {quote(bad)}, not a list of environment names; "
                             "refused (not the run.json of nox -s plan)")
    return Job(path, run)


def check_names(jobs: list[Job], spec_envs: set[str]) -> None:
    """Every environment a job's run.json selects is one of this checkout's matrix.yaml (checked before
    any file is touched: the names become file names in the work dir).

    Raises:
        MergeError: naming the job's run.json and the unknown environment.
    """
    for job in jobs:
        unknown = [name for name in job.run["envs"] if name not in spec_envs]
        if unknown:
            raise MergeError(f"{job.run_file}: environment {quote(unknown[0])} is not in this checkout's "
                             f"matrix.yaml ({', '.join(sorted(spec_envs))}); merge with the checkout the jobs ran")


def check_same_plan(jobs: list[Job], matrix_sha256: str | None = None) -> None:
    """Every job planned the same selection from the same matrix.yaml (by its SHA-256; also the
    same as ``matrix_sha256``, the file the report will apply, where given).

    Raises:
        MergeError: naming the first key that differs and two jobs that differ in it.
    """
    first = jobs[0]
    for job in jobs[1:]:
        for key in SELECTION_KEYS + ("matrix_sha256",):
            if first.run.get(key) != job.run.get(key):
                raise MergeError(f"{first.path} and {job.path} were planned differently ({key}: "
                                 f"{first.run.get(key)!r} vs {job.run.get(key)!r}); merge only the jobs of one "
                                 "run, all planned with the same selection options and matrix.yaml")
    planned = first.run.get("matrix_sha256")
    if matrix_sha256 and not isinstance(planned, str):
        raise MergeError(f"{first.run_file}: no matrix_sha256, so which matrix.yaml the jobs were planned "
                         "from is unknown; plan the jobs again with this checkout (nox -s plan records it)")
    if matrix_sha256 and planned != matrix_sha256:
        raise MergeError(f"the jobs were planned from another matrix.yaml than this checkout's (SHA-256 "
                         f"{planned[:12]}… vs {matrix_sha256[:12]}…); merge with the checkout the jobs ran")


def job_files(job: Job) -> dict[str, Path]:
    """A job's result, facts and log files, by their path relative to the work dir.

    Raises:
        MergeError: a file of an environment that is not in the job's selection.
    """
    envs = set(job.run["envs"])
    found = {}
    for folder in JOB_FOLDERS:
        for path in sorted((job.path / folder).glob("*")):
            match = PHASE_FILE.match(path.name)
            if not match:
                continue  # a half-written .tmp, or something that is no phase's file
            if path.is_symlink():
                raise MergeError(f"{path}: a symbolic link (to {quote(os.readlink(path), 120)}); refused: a job's "
                                 "files are its own (copy them in, do not link them)")
            try:
                size = regular(path, "a job's file").st_size
            except (NotRegular, OSError) as exc:
                raise MergeError(str(exc) if isinstance(exc, NotRegular) else
                                 f"{path}: not a file a job writes ({exc.strerror}); refused") from None
            if size > MAX_FILE_BYTES:
                raise MergeError(f"{path}: {size} bytes, over the {MAX_FILE_BYTES} a report reads; refused")
            if match.group(2) not in envs:
                raise MergeError(f"{path}: environment {match.group(2)!r} is not in the run's selection "
                                 f"({', '.join(job.run['envs'])}); is it left over from another run?")
            found[f"{folder}/{path.name}"] = path
    return found


def gather(dirs: list[Path], workdir: Path, matrix_sha256: str | None = None, log=print,
           spec_envs: set[str] | None = None) -> dict:
    """Copy every job's files into ``workdir`` and write its ``run.json``; returns that run.json.

    The selected environments' earlier files in ``workdir`` are forgotten first (as ``nox -s plan``
    does); files keep their times, so the report's wall time still ends with the last result line.
    The merged run started when the earliest job did, and names the folders in ``merged_from``.

    ``matrix_sha256`` and ``spec_envs`` (the checkout's matrix.yaml: its SHA-256 and environment
    names) are checked against every job's run.json before any file is touched; every path in
    ``workdir`` is made by :func:`harness.guard.within`, which refuses to leave it.

    Raises:
        MergeError: see the module's docstring; also when ``workdir`` is one of ``dirs``.
    """
    if not dirs:
        raise MergeError("no job folders given: nox -s merge -- DIR [DIR ...] [--workdir W] [--reports R]")
    workdir = resolved(workdir, "--workdir")
    jobs = [read_job(d) for d in dirs]
    for job in jobs:
        if resolved(job.path, "a job folder") == workdir:
            raise MergeError(f"--workdir {workdir} is one of the job folders; merge into another folder")
    check_same_plan(jobs, matrix_sha256)
    if spec_envs is not None:
        check_names(jobs, spec_envs)
    try:
        return _copy(jobs, workdir, log)
    except OutsideWorkdir as exc:
        raise MergeError(f"refused: {exc}") from None
    except OSError as exc:  # an unwritable or full work dir: one line naming the file
        raise MergeError(f"--workdir {workdir}: cannot write {exc.filename or workdir} "
                         f"({exc.strerror or exc}); give a work dir you can write") from None


def _check_no_conflicts(chosen: dict[str, Path]) -> None:
    """Refuse jobs whose record files (a phase's own and its shards', from different jobs) record one cell
    with different content: the merged run could not say which is true.

    Raises:
        MergeError: naming the cell, its verdicts and the files.
    """
    from harness.report.results import conflicts

    by_phase: dict[tuple[str, str], list[Path]] = {}
    for name, path in chosen.items():
        match = PHASE_FILE.match(name.split("/", 1)[1]) if name.startswith(f"{RESULTS}/") else None
        if match and match.group(4) == "jsonl":
            by_phase.setdefault((match.group(1), match.group(2)), []).append(path)
    for paths in by_phase.values():
        if len(paths) < 2:
            continue
        _, clashing = conflicts([r for path in paths for r in read_records(path)])
        for key, problem in clashing.items():
            raise MergeError(f"cell {quote(key, 120)} is {problem} in {', '.join(map(str, paths))}: two jobs ran "
                             "it; merge the folders of one run, each cell from one job")


def _bytes(path: Path) -> bytes:
    """A job's result file, through the guarded reader (a file swapped for a FIFO since it was listed is
    refused, never waited on).

    Raises:
        MergeError: it cannot be read, naming it.
    """
    try:
        return read_bytes(path, "result file")
    except (OSError, ValueError) as exc:
        raise MergeError(f"{path}: cannot be read ({exc})") from None


def _copy(jobs: list[Job], workdir: Path, log) -> dict:
    chosen: dict[str, Path] = {}
    for job in jobs:
        for name, path in job_files(job).items():
            if name not in chosen:
                chosen[name] = path
            elif name.startswith(f"{RESULTS}/") and _bytes(chosen[name]) != _bytes(path):
                raise MergeError(f"{chosen[name]} and {path} differ: two jobs ran the same phase of one "
                                 "environment; merge the folders of one run, each phase from one job")
    _check_no_conflicts(chosen)
    first = jobs[0].run
    for env in first["envs"]:
        for phase in PHASES:
            PhaseFiles(workdir, phase, env).reset()
    for name, path in chosen.items():
        target = within(workdir, *name.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    starts = [job.run["started"] for job in jobs if isinstance(job.run.get("started"), (int, float))
              and math.isfinite(job.run["started"])]  # 1e400 reads as infinity: no start time, not a bare word
    run = dict(first, started=min(starts) if starts else None, merged_from=[str(job.path) for job in jobs])
    write_json(WorkDir(workdir).run, run)
    missing = [f"{phase}(env='{env}')" for env in first["envs"] for phase in PHASES
               if f"{RESULTS}/{PhaseFiles(workdir, phase, env).results.name}" not in chosen]
    log(f"merged {len(jobs)} job folders into {workdir}: {len(chosen)} files")
    if missing:
        log(f"no results of {', '.join(missing)} (their jobs failed, or their folders were not given)")
    return run
