"""Result records: the JSON-lines files the phases write, and the resolved cell table.

Each phase of each environment appends one JSON object per line to
``results/<phase>-<env>.jsonl`` (and, split over several workers, to each shard's
``results/<phase>-<env>.shard<N>.jsonl``: ``harness.workdir.PhaseFiles.records``).
:func:`resolve` joins the produce and consume records of a run into one :class:`Cell`
per planned cell, so every cell has exactly one verdict, including cells that never ran (and why).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from harness.execute.plan import CONTROL_FORMAT, CONTROL_LOADER, Selection, cell_id
from harness.worker.catalog import CHANGE_NAMES, current_names, format_problem
from harness.guard import quote
from harness.worker import protocol
from harness.workdir import PhaseFiles, read_record_lines

NOT_RUN = "(phase not run or interrupted)"  # ends the reason of a cell whose phase left no record
LEVELS = ("outputs", "weights", "compile", "training")
# A matrix cell's verdicts: the worker's (harness/worker/protocol.py), the supervisor's, the report's.
VERDICTS = tuple(dict.fromkeys(protocol.CELL_VERDICTS + protocol.SUPERVISOR_VERDICTS + protocol.REPORT_VERDICTS))
# Verdicts that fail a run unless an expected_failures entry turns them into xfail
# (env-error never is: it says nothing about compatibility); see harness.report.expectations.
# works-with: the call as users write it failed (a change to it worked). save-error is a produce cell's.
FAILURES = frozenset({protocol.WORKS_WITH, "mismatch", "load-error", "crash", "timeout", "env-error", "save-error"})
SAVE_LOADER = "save"  # the loader of a produce cell (resolve_saves): saving has none
SAVE_VERDICTS = tuple(dict.fromkeys(protocol.SAVE_VERDICTS + protocol.SUPERVISOR_VERDICTS + protocol.REPORT_VERDICTS))
# What a record may say: xfail and xpass are what the report makes of a verdict an expected_failures entry
# explains or claims (harness.report.expectations); no worker records them.
RECORD_VERDICTS = tuple(v for v in dict.fromkeys(VERDICTS + SAVE_VERDICTS) if v not in ("xfail", "xpass"))
TEXT_FIELDS, NUMBER_FIELDS = protocol.TEXT_FIELDS, protocol.NUMBER_FIELDS


def record_problem(record: dict) -> str | None:
    """What makes a matrix record (produce or consume) unusable, or None: a verdict the harness does
    not know, a field of the wrong type (``margin: "0.5"``, ``levels: "deep"``), or a pass whose
    ``max_abs``, ``max_rel`` or ``margin`` is not finite (NaN compares false, so it would pass unseen) or
    whose margin is over 1 (outside its tolerance); a deeper level that is not one of :data:`LEVELS` or
    whose verdict is not one of :data:`LEVEL_VERDICTS`; text with a lone surrogate; a format the harness
    does not know (an old name, ``weights_h5``, is known: :func:`harness.worker.catalog.current_names`)."""
    verdict = record.get("verdict", "env-error" if record.get("scope") == "env" else None)
    if not isinstance(verdict, str) or verdict not in RECORD_VERDICTS:
        return f"verdict {quote(verdict)} is none of {', '.join(RECORD_VERDICTS)}"
    if record.get("scope") != "env" and format_problem(record.get("format")):
        return format_problem(record.get("format"))
    for key in TEXT_FIELDS:
        if record.get(key) is not None and not isinstance(record[key], str):
            return f"{key} {quote(record[key])} is not text"
    for key in NUMBER_FIELDS:
        value = record.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return f"{key} {quote(value)} is not a number"
        if verdict == "pass" and key in ("max_abs", "max_rel", "margin") and value is not None \
                and not math.isfinite(value):
            return f"a pass with {key} {value}: a comparison with NaN or infinity passes nothing"
    problem = (_workarounds_problem(record, verdict) or protocol.holds_problem(record.get(protocol.HOLDS_FIELD))
               or protocol.assignment_problem(record, verdict))
    if problem:
        return problem
    if verdict == "pass" and isinstance(record.get("margin"), (int, float)) and record["margin"] > 1:
        return (f"a pass with margin {record['margin']:g}: past 1 its difference is outside its tolerance, "
                "so it is no pass")
    levels = record.get("levels")
    if levels is not None and not (isinstance(levels, dict) and all(
            isinstance(found, dict) and isinstance(found.get("verdict"), str) for found in levels.values())):
        return f"levels {quote(levels)} is not a mapping of check levels to their verdicts"
    for level, found in (levels or {}).items():
        if level not in LEVELS[1:]:
            return f"levels.{quote(level, 40)} is none of the deeper check levels {', '.join(LEVELS[1:])}"
        if found["verdict"] not in LEVEL_VERDICTS:
            return f"levels.{level}.verdict {quote(found['verdict'])} is none of {', '.join(LEVEL_VERDICTS)}"
        if found.get("reason") is not None and not isinstance(found["reason"], str):
            return f"levels.{level}.reason {quote(found['reason'])} is not text"
    try:
        json.dumps(record, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:  # "\ud800" in the JSON: no text can hold it
        return f"holds a lone surrogate ({exc.object[exc.start]!a}), which is not text"
    return None


def _workarounds_problem(record: dict, verdict: str) -> str | None:
    """What makes a record's changes (``workarounds``, ``works_with``) contradict its verdict, or None:
    a ``works-with`` must name the change that worked, and its last try must be that change's pass; a
    ``works_with`` on any other verdict, or a try that is not a mapping of a known change, is refused."""
    tries = record.get("workarounds")
    if tries is not None and not (isinstance(tries, list) and all(
            isinstance(t, dict) and t.get("change") in CHANGE_NAMES and isinstance(t.get("verdict"), str)
            for t in tries)):
        return f"workarounds {quote(tries)} is not a list of the changes tried ({', '.join(CHANGE_NAMES)})"
    works_with = record.get("works_with")
    if verdict != protocol.WORKS_WITH:
        return f"works_with {quote(works_with)} on a {verdict}: only a works-with names a change" \
            if works_with is not None else None
    if not tries or tries[-1].get("change") != works_with or tries[-1].get("verdict") not in ("pass", "reference"):
        last = f"{tries[-1].get('change')} gave {tries[-1].get('verdict')}" if tries else "no change was tried"
        return f"a works-with {quote(works_with)} whose change was not seen to work ({last})"
    return None


LEVEL_VERDICTS = protocol.LEVEL_VERDICTS
# Fields that differ between two runs of one cell without changing what it found: the seconds it took and
# where they went, and which worker process, how large, and how fast its import (harness/worker/main.py).
RUN_FIELDS = ("seconds", "reused", "started", "finished", "timings", "worker_pid", "worker_peak_rss_bytes",
              "worker_import_s")


def conflicts(records: list[dict]) -> tuple[list[dict], dict[str, str]]:
    """The records with each cell id once, and the ids recorded more than once with different content
    (:data:`RUN_FIELDS` aside) with the verdicts they gave: a contradiction the report names, which fails
    the run (the same record twice, as a retried append writes it, is one)."""
    first: dict[str, dict] = {}
    clashing: dict[str, list[str]] = {}
    kept = []
    for record in records:
        key = record.get("id")
        if not isinstance(key, str):
            kept.append(record)
            continue
        if key not in first:
            first[key] = record
            kept.append(record)
            continue
        same = {k: v for k, v in record.items() if k not in RUN_FIELDS} == \
            {k: v for k, v in first[key].items() if k not in RUN_FIELDS}
        if not same:
            clashing.setdefault(key, [str(first[key].get("verdict"))]).append(str(record.get("verdict")))
    kept = [r for r in kept if r.get("id") not in clashing]
    return kept, {key: f"recorded {len(verdicts)} times with different content ({', '.join(verdicts)})"
                  for key, verdicts in clashing.items()}


def read_checked(files: PhaseFiles) -> tuple[list[dict], dict[str, str]]:
    """The usable records of a matrix phase (its own JSON-lines file and every shard's), and one line
    per record left out (:func:`record_problem`), by the record's id (or its file and line number
    where it has no usable id), and one per line that is not UTF-8 (its file, line and byte offset) or
    gives a key twice."""
    usable, left_out, where = [], {}, {}
    for path in files.record_files():
        numbered, undecodable = read_record_lines(path)
        for line in undecodable:  # not UTF-8, or a key given twice: named, never silently skipped
            left_out[line] = line
        for number, record in numbered:
            problem = record_problem(record)
            if problem is None:
                usable.append(record)
                where.setdefault(record.get("id"), []).append(path)
            else:
                key = record["id"] if isinstance(record.get("id"), str) else f"{path.name} line {number}"
                left_out[key] = f"{path}: record {quote(key, 120)} left out: {problem}"
    usable, clashing = conflicts(usable)
    for key, problem in clashing.items():
        paths = ", ".join(str(p) for p in dict.fromkeys(where[key]))
        left_out[key] = f"{paths}: record {quote(key, 120)} left out: {problem}"
    return usable, left_out


def damaged(selection: Selection, workdir: Path) -> list[str]:
    """One line per record of the selection's result files that :func:`resolve` leaves out."""
    return [line for env in selection.envs for phase in ("produce", "consume") if selection.runs(phase, env)
            for line in read_checked(PhaseFiles(workdir, phase, env))[1].values()]


@dataclass
class Cell:
    """One (producer, consumer, fixture, format, loader) and its verdict.

    ``max_abs``/``max_rel`` are the largest absolute and relative output
    differences (same unit as the model's outputs; None when nothing was
    compared). ``margin`` is the largest ``|Δ| / (atol + rtol * |expected|)``
    over the outputs' elements (dimensionless; a pass has ``margin <= 1``; see
    ``harness/worker/compare.py``). ``seconds`` is the cell's wall time in the worker.
    ``levels`` holds the deeper check levels (``weights``, ``compile``, ``training``:
    each a dict with its own ``verdict``; see ``harness/worker/levels.py``).
    ``original_verdict`` and ``expected_failure`` are set when an entry of
    ``expected_failures`` turned the verdict into ``xfail``/``xpass``: the run's
    own verdict and the entry's index (``harness.report.expectations``); ``expectation_note`` says why
    the live entries that cover a failing cell did not explain it (they expect another failure);
    ``levels_expected`` maps a deeper level to the index of the ``level:`` entry that claims it.
    ``works_with`` is the change to the call (``compile=False``) that loaded and matched where the call
    as users write it failed (verdict ``works-with``; the error fields are the call's), ``unsafe_change``
    whether that change lets code stored in the file run; ``workarounds`` lists every change tried, in
    order, each ``{"change", "unsafe", "verdict", "max_abs", "error_type", "error_message"}``
    (harness/worker/changes.py).
    ``reused``: its record was reused from an earlier run (True), or written by this one (False); None
    where it has no record of its own (a cell that could not be loaded, an environment's error).
    ``holds``: what the producer's model holds, ``{"layers": [...], "traits": [...]}`` (harness/worker/holds.py),
    from the record or the producer's produce records of the fixture; None where none recorded it.
    ``variables_assigned`` of ``variables_total``: how many of the model's float variables a load that read
    weights into a model made first assigned (harness/worker/formats.py ``assignment``; a ``load-error``
    ``IncompleteLoad`` where fewer and the outputs matched); None where nothing was counted (other loaders,
    records from before the count).
    """

    id: str
    producer: str
    consumer: str
    fixture: str
    format: str
    loader: str
    verdict: str
    reason: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    error_text: str | None = None
    max_abs: float | None = None
    max_rel: float | None = None
    margin: float | None = None
    atol: float | None = None
    rtol: float | None = None
    seconds: float | None = None
    producer_device: str | None = None
    consumer_device: str | None = None
    container: str | None = None
    note: str | None = None
    original_verdict: str | None = None
    expected_failure: int | None = None
    levels: dict | None = None
    levels_error: str | None = None
    expectation_note: str | None = None
    levels_expected: dict | None = None
    works_with: str | None = None
    unsafe_change: bool | None = None
    workarounds: list | None = None
    reused: bool | None = None
    holds: dict | None = None
    variables_assigned: int | None = None
    variables_total: int | None = None

    @classmethod
    def from_record(cls, record: dict, **extra) -> Cell:
        """The cell of a record (a matrix phase's JSON line, a results.json cell) and ``extra`` fields, with
        the name its format has now (:func:`harness.worker.catalog.current_names`: ``weights_h5`` is
        ``h5_weights``, in its ``id`` too); the record's keys that are no field are left out."""
        names = {f.name for f in fields(cls)}
        data = {k: v for k, v in current_names(record).items() if k in names}
        data.update(extra)
        return cls(**data)

    def to_json(self) -> dict:
        return asdict(self)

    def at_level(self, level: str) -> str:
        """The verdict at a check level (``outputs``, ``weights``, ``compile``, ``training``).

        A cell that did not load keeps its verdict at every level. A deeper level reads as the worker
        recorded it under ``levels``; where it recorded none: ``load-error`` when the deeper checks
        raised (``levels_error``), and at ``training`` when ``load_model(compile=True)`` failed (the
        ``compile`` level's ``load-error``: a file that cannot be loaded compiled cannot train on);
        else ``unsupported`` (the level does not apply to the loader, e.g. weights of a TFSMLayer).
        A deeper level's failure that a ``level:`` entry explains (``levels_expected``) is ``xfail``,
        and its pass ``xpass``.
        """
        if level == "outputs" or self.verdict not in ("pass", "mismatch", "xpass", "xfail") \
                or (self.original_verdict or self.verdict) not in ("pass", "mismatch"):
            return self.verdict
        verdict = self.level_verdict(level)
        if (self.levels_expected or {}).get(level) is not None and verdict in ("pass", "mismatch", "load-error"):
            return "xpass" if verdict == "pass" else "xfail"
        return verdict

    def level_verdict(self, level: str) -> str:
        """The run's own verdict at a deeper level (no entry applied; see :meth:`at_level`)."""
        found = (self.levels or {}).get(level)
        if found:
            return found["verdict"]
        if self.levels_error or self.level_reason(level):
            return "load-error"
        return "unsupported"

    def level_reason(self, level: str) -> str | None:
        """Why a deeper level did not pass: its own recorded reason; the deeper checks' error
        (``levels_error``); for ``training`` after ``load_model(path)`` failed to compile, that failure."""
        found = (self.levels or {}).get(level)
        if found:
            return found.get("reason")
        if self.levels_error:
            return f"the deeper checks raised: {self.levels_error}"
        compiled = (self.levels or {}).get("compile") or {}
        if level == "training" and compiled.get("verdict") == "load-error":
            return f"not checked: load_model(path) failed to compile ({compiled.get('reason')})"
        return None

    def through(self, level: str) -> str:
        """The verdict checked through ``level``: the first of the levels from ``outputs`` to it that did
        not pass (``at_level``), else ``pass`` (``xpass`` where an entry claims one of them)."""
        verdicts = [self.at_level(name) for name in LEVELS[:LEVELS.index(level) + 1]]
        failing = next((v for v in verdicts if v not in ("pass", "xpass")), None)
        return failing or ("xpass" if "xpass" in verdicts else "pass")

    @property
    def failed(self) -> bool:
        return self.verdict in FAILURES

    @property
    def signature(self) -> str:
        """What groups failures in the report: error class and first line, or the (original) verdict."""
        if self.error_type:
            return f"{self.error_type}: {self.error_message}"
        return f"{self.original_verdict or self.verdict}: {self.reason or ''}".strip()


def resolve_saves(selection: Selection, workdir: Path) -> list[Cell]:
    """One produce cell per (producer, fixture, format) of ``selection``, from the produce records.

    A produce cell is a :class:`Cell` whose ``consumer`` is ``""`` and ``loader`` is ``SAVE_LOADER``;
    its ``id`` is ``producer/fixture/format``. Verdicts (``SAVE_VERDICTS``): ``saved``; ``save-error``
    (the save raised: ``error_*``); ``crash`` or ``timeout`` (the worker died or hung while saving:
    ``reason``); ``unsupported`` (the producer cannot write the format, or the fixture declares
    ``BACKENDS``/``MIN_KERAS`` that exclude it); ``env-error`` (the producer could not be made);
    ``skipped`` (no record: the phase did not run or was interrupted). A golden producer has cells
    only for the fixtures it froze.
    """
    cells = []
    for producer in selection.producers:
        golden = selection.goldens.get(producer)
        records = list(golden.records) if golden else read_checked(PhaseFiles(workdir, "produce", producer))[0]
        env_error = next((r for r in records if r.get("scope") == "env"), None)
        saves = _by([r for r in records if "scope" not in r], "fixture", "format")
        frozen = {r.get("fixture") for r in records} if golden else None
        for fixture in selection.fixtures:
            if frozen is not None and fixture not in frozen:
                continue
            for fmt in selection.formats:
                base = dict(id=cell_id(producer, None, fixture, fmt, None), producer=producer, consumer="",
                            fixture=fixture, format=fmt, loader=SAVE_LOADER)
                record = saves.get((fixture, fmt))
                if env_error:
                    cells.append(Cell(verdict="env-error", reason=f"producer {producer}: {env_error.get('reason')}",
                                      **base))
                elif record is None:
                    cells.append(Cell(verdict="skipped", reason=f"no produce result {NOT_RUN}", **base))
                else:
                    verdict = record.get("verdict") if record.get("verdict") in SAVE_VERDICTS else "save-error"
                    cells.append(Cell.from_record(record, **base, verdict=verdict,
                                                  holds=holds_of_fixture(records, fixture),
                                                  producer_device=record.get("device"),
                                                  container=record.get("container"),
                                                  reused=record.get("reused") is True))
    return cells


def planned_loaders(run: dict, selection: Selection, workdir: Path) -> tuple[str, ...] | None:
    """The loaders a run planned: its run.json's ``loaders``; for a run.json from before runs recorded
    them (2026-12-07), those its consume records name, so a loader added to the catalog since reads as
    not in that run, not as cells that did not run; None (every loader) where no record names one."""
    recorded = run.get("loaders")
    if isinstance(recorded, list) and all(isinstance(name, str) for name in recorded):
        return tuple(recorded)
    named = {r.get("loader") for env in selection.consumers
             for r in read_checked(PhaseFiles(workdir, "consume", env))[0]} - {None, CONTROL_LOADER}
    return tuple(sorted(named)) if named else None


def _by(records: list[dict], *keys: str) -> dict:
    return {tuple(r.get(k) for k in keys): r for r in records}


def resolve(selection: Selection, workdir: Path) -> list[Cell]:
    """One :class:`Cell` per planned cell of ``selection``, from the run's records. A damaged record
    (:func:`record_problem`) is left out: its cell is ``skipped``, its reason naming the file and why."""
    produced = {env: read_checked(PhaseFiles(workdir, "produce", env))[0] for env in selection.producer_envs}
    produced.update({name: list(golden.records) for name, golden in selection.goldens.items()})
    checked = {env: read_checked(PhaseFiles(workdir, "consume", env)) for env in selection.consumers}
    consumed = {env: records for env, (records, _) in checked.items()}
    cells = []
    for producer in selection.producers:
        prod_env_error = next((r for r in produced[producer] if r.get("scope") == "env"), None)
        saves = _by([r for r in produced[producer] if "scope" not in r], "fixture", "format")
        for consumer in selection.consumers:
            cons_env_error = next((r for r in consumed[consumer] if r.get("scope") == "env"), None)
            loaded = {r["id"]: r for r in consumed[consumer] if "id" in r}
            # A golden producer holds only the fixtures it froze: the others are no cells of its row.
            frozen = {r["fixture"] for r in produced[producer]} if producer in selection.goldens else None
            for fixture in selection.fixtures:
                if frozen is not None and fixture not in frozen:
                    continue
                fixture_saves = [saves.get((fixture, f)) for f in selection.formats]
                held = holds_of_fixture(produced[producer], fixture)
                planned = selection.columns
                planned.append((CONTROL_FORMAT, CONTROL_LOADER))
                for fmt, loader in planned:
                    key = cell_id(producer, consumer, fixture, fmt, loader)
                    base = dict(id=key, producer=producer, consumer=consumer, fixture=fixture,
                                format=fmt, loader=loader)
                    if prod_env_error:
                        cells.append(Cell(verdict=prod_env_error.get("verdict", "env-error"),
                                          reason=f"producer {producer}: {prod_env_error.get('reason')}",
                                          error_text=prod_env_error.get("error_text"), **base))
                    elif cons_env_error:
                        cells.append(Cell(verdict=cons_env_error.get("verdict", "env-error"),
                                          reason=f"consumer {consumer}: {cons_env_error.get('reason')}",
                                          error_text=cons_env_error.get("error_text"), **base))
                    elif key in checked[consumer][1]:
                        cells.append(Cell(verdict="skipped", reason=checked[consumer][1][key], **base))
                    elif key in loaded:
                        save = saves.get((fixture, loaded[key].get("artifact", fmt)), {})
                        cells.append(Cell.from_record(loaded[key], **base, producer_device=save.get("device"),
                                                      consumer_device=loaded[key].get("device"),
                                                      container=save.get("container"), note=save.get("note"),
                                                      reused=loaded[key].get("reused") is True,
                                                      holds=loaded[key].get("holds") or held))
                    else:
                        save = saves.get((fixture, fmt)) if fmt != CONTROL_FORMAT else _control_source(fixture_saves)
                        cells.append(Cell(**base, **_not_run(producer, fmt, save), holds=held))
    return cells


def holds_of_fixture(records: list[dict], fixture: str) -> dict | None:
    """What one producer's model of ``fixture`` holds, from its produce ``records`` (each saved format's
    record carries the same, read from the model's config); None where none of them recorded it."""
    return next((r["holds"] for r in records if r.get("fixture") == fixture and r.get("holds")), None)


def _control_source(saves: list[dict | None]) -> dict | None:
    present = [s for s in saves if s]
    return next((s for s in present if s.get("verdict") == "saved"), present[0] if present else None)


def _not_run(producer: str, fmt: str, save: dict | None) -> dict:
    """Verdict and reason for a planned cell that has no consume record."""
    if save is None:
        return {"verdict": "skipped", "reason": f"no produce result from {producer} {NOT_RUN}"}
    verdict = save.get("verdict")
    if verdict == "unsupported":
        return {"verdict": "unsupported", "reason": f"{producer} cannot write {fmt}: {save.get('reason')}"}
    if verdict == "save-error":
        return {"verdict": "skipped", "reason": f"{producer} failed to save {fmt}",
                "error_type": save.get("error_type"), "error_message": save.get("error_message")}
    if verdict in ("crash", "timeout"):
        return {"verdict": "skipped", "reason": f"{producer}'s worker {verdict} while saving: {save.get('reason')}"}
    return {"verdict": "skipped", "reason": f"no consume result {NOT_RUN}"}


def counts(cells: list[Cell]) -> dict[str, int]:
    """Number of cells per verdict, in the canonical verdict order (zeros left out)."""
    out = {v: 0 for v in VERDICTS}
    for cell in cells:
        out[cell.verdict] = out.get(cell.verdict, 0) + 1
    return {k: v for k, v in out.items() if v}
