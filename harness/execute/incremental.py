"""Incremental runs: the key of each cell, and the records of earlier runs a key lets a run reuse.

A cell's *key* is a SHA-256 (hex) over everything that decides its record:

- a produce cell: the worker's source (every ``harness/worker/*.py``), the environment
  (:func:`env_digest`: its Python, packages after ``extra_pins``, variables, backend, runner,
  image, device), the fixture's source (its file and the ``_*.py`` helpers beside it),
  the run's seed, and the format;
- a consume cell: the worker's source, the consumer environment, the fixture's source, the seed,
  the cell's format, loader and tolerance, and the artifact it loads (the SHA-256 of the
  artifact's ``manifest.json``, which lists the SHA-256 of every file the producer saved; so
  a producer that saved again, or a golden frozen anew, re-runs every consumer of it).

Each worker record carries its cell's key. Before a phase's results are reset (a new run
starts, or the phase runs again), :func:`archive` keeps every keyed record whose verdict is
a property of the versions (``REUSABLE``) in ``<workdir>/cache/<phase>-<env>.json``, one per
cell (the latest; ``--fresh`` forgets the selected environments' records: :func:`forget`). A phase
then runs only the cells whose key has no archived record (:func:`reuse`); with nothing left
to run it starts no worker and installs nothing. Crashes, timeouts and environment errors
are never reused: they run again; so does a cell whose artifact is no longer all there.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path

from harness.config.spec import MatrixSpec
from harness.execute.supervisor import WORKER
from harness.guard import loads, read_bytes, read_text, write_atomic
from harness.worker import protocol
from harness.worker.catalog import current_names
from harness.workdir import PhaseFiles, append_record, write_json

# Verdicts a rerun with the same key would give again. save-error and load-error are
# deterministic in a given environment; crash and timeout may be flaky, env-error is the machine's.
# Every verdict a worker writes for a cell (harness/worker/protocol.py), works-with included: a crash,
# timeout or env-error (the supervisor's) is never reused.
REUSABLE = frozenset(protocol.CELL_VERDICTS + protocol.SAVE_VERDICTS)


def _digest(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _files_digest(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0" + read_bytes(path, "source file") + b"\0")
    return digest.hexdigest()


def worker_digest() -> str:
    """SHA-256 of the worker's source files (``harness/worker/*.py``, by name)."""
    return _files_digest(sorted(WORKER.parent.glob("*.py")))


def fixture_digest(path: Path) -> str:
    """SHA-256 of a fixture file and the shared helpers (``_*.py``) in its folder."""
    return _files_digest([path] + sorted(p for p in path.parent.glob("_*.py") if p != path))


def env_digest(spec: MatrixSpec, env: str) -> str:
    """SHA-256 of everything in matrix.yaml that decides what ``env`` runs (with its extra pins)."""
    spec_env = spec.envs[env]
    return _digest(dataclasses.asdict(spec_env), spec_env.requirements(spec.extra_pins))


def artifact_digest(directory: Path) -> str | None:
    """SHA-256 of an artifact folder's ``manifest.json``; None when the artifact is not all there: no
    manifest (not saved), or a file it lists (or ``reference.npz``) missing or of another size (deleted or
    truncated since), so that its producer saves it again and its consumers load it again."""
    directory = Path(directory)
    try:
        text = read_bytes(directory / "manifest.json", "artifact manifest", 16 * 2**20)
        files = loads(text)["files"]
        intact = (directory / "reference.npz").is_file() and all(
            (directory / rel).stat().st_size == entry["bytes"] for rel, entry in files.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return hashlib.sha256(text).hexdigest() if intact else None


class Keys:
    """Computes the cell keys of one phase; digests are computed once per worker, env, fixture and
    artifact folder (a phase runs after its producers saved, so an artifact does not change meanwhile)."""

    def __init__(self, spec: MatrixSpec, fixtures: dict[str, Path]):
        self.spec = spec
        self.worker = worker_digest()
        self.fixtures = {name: fixture_digest(path) for name, path in fixtures.items()}
        self.envs: dict[str, str] = {}
        self.artifacts: dict[str, str | None] = {}  # an artifact serves several loaders and the control

    def _env(self, env: str) -> str:
        if env not in self.envs:
            self.envs[env] = env_digest(self.spec, env)
        return self.envs[env]

    def produce(self, env: str, cell: dict) -> str:
        return _digest("produce", self.worker, self._env(env), self.fixtures[cell["fixture"]],
                       self.spec.seed, cell["format"])

    def consume(self, env: str, cell: dict) -> str | None:
        """The key of a consume cell; None when its artifact is not all there (it then always runs)."""
        if cell["directory"] not in self.artifacts:
            self.artifacts[cell["directory"]] = artifact_digest(Path(cell["directory"]))
        artifact = self.artifacts[cell["directory"]]
        if artifact is None:
            return None
        return _digest("consume", self.worker, self._env(env), self.fixtures[cell["fixture"]], self.spec.seed,
                       artifact, {k: cell[k] for k in ("format", "loader", "atol", "rtol", "artifact")})

    def assign(self, phase: str, env: str, cells: list[dict]) -> list[dict]:
        """``cells`` with a ``key`` each (the worker copies it into the cell's record)."""
        key = self.produce if phase == "produce" else self.consume
        return [dict(cell, key=key(env, cell)) for cell in cells]


def _load_cache(files: PhaseFiles) -> dict[str, dict]:
    """The phase's archived records by key, with the names their formats have now (an archive of before
    a format was renamed: ``harness.worker.catalog.current_names``); what is not such a record (a damaged
    cache) is left out."""
    try:
        data = loads(read_text(files.cache, "incremental cache"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {key: current_names(record) for key, record in data.items()
            if isinstance(record, dict) and record.get("key") == key and record.get("verdict") in REUSABLE}


def archive(files: PhaseFiles) -> int:
    """Keep the reusable keyed records of the phase's results file (and its facts) in the cache, in
    place of the records of the same cells under older keys (so the cache holds one record per cell).

    Call it before ``files.reset()``. Returns how many records were added or replaced. A record gets
    ``recorded_at`` (epoch seconds) the first time it is archived (this run's, for one a worker just
    wrote; a reused record keeps its own), so a report can say how old each part of a run is.
    """
    now = round(time.time(), 3)
    fresh = {r["key"]: dict(r, recorded_at=r.get("recorded_at", now)) for r in files.records()
             if isinstance(r.get("key"), str) and r.get("verdict") in REUSABLE}
    if fresh:
        ids = {r.get("id") for r in fresh.values()}
        cache = {key: r for key, r in _load_cache(files).items() if r.get("id") not in ids}
        cache.update(fresh)
        write_json(files.cache, cache)
    if files.facts.is_file():
        files.cached_facts.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(files.cached_facts, read_bytes(files.facts, "facts file"))
    return len(fresh)


def forget(files: PhaseFiles) -> None:
    """Drop the phase's archived records and facts (``--fresh``): it runs every cell again. Other
    environments' records are kept."""
    files.cache.unlink(missing_ok=True)
    files.cached_facts.unlink(missing_ok=True)


def reuse(files: PhaseFiles, cells: list[dict]) -> list[dict]:
    """Write the archived record of every cell whose key has one into the (reset) results file,
    marked ``"reused": true``; returns the cells left to run, in order.

    Only a record of a ``REUSABLE`` verdict stored under the cell's key and id is reused (a damaged
    cache runs cells again, never gives them a verdict). A produce record is reused only while its
    artifact is all there (:func:`artifact_digest`: a deleted or truncated file makes its cells run
    again). The environment's facts
    (versions, device) of the last run that ran a worker are restored beside the results.
    """
    cache = _load_cache(files)
    left = []
    for cell in cells:
        record = cache.get(cell.get("key") or "")
        usable = record is not None and record.get("id") == cell["id"] and (
            files.phase != "produce" or record.get("verdict") != "saved"
            or artifact_digest(Path(cell["directory"])) is not None)
        if usable:
            append_record(files.results, dict(record, reused=True))
        else:
            left.append(cell)
    if len(left) < len(cells) and files.cached_facts.is_file() and not files.facts.exists():
        write_atomic(files.facts, read_bytes(files.cached_facts, "cached facts file"))
    return left
