"""Everything a report shows, computed once from the resolved cells."""
from __future__ import annotations

import datetime
import math
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness.config.spec import MatrixSpec
from harness.execute.plan import CONTROL_FORMAT, Selection
from harness.report.expectations import Outcome, apply as apply_expectations, observed
from harness.report.hints import hint_for, normalize, shorten
from harness.report.history import Change, Comparison
from harness.report.prerelease import involves, notes, prerelease_envs
from harness.report.results import FAILURES, LEVELS, NOT_RUN, Cell, counts, planned_loaders, resolve, resolve_saves
from harness.report.upgrade import carries
from harness.worker.protocol import WORKS_WITH
from harness.workdir import PhaseFiles, WorkDir, read_json, read_records


@dataclass
class FailureGroup:
    """Failing cells that share one normalized error signature, and the hint for it."""

    signature: str
    verdict: str
    hint: str | None
    cells: list[Cell] = field(default_factory=list)


def silent_changes(cells: list[Cell]) -> str | None:
    """A warning for cells whose call failed and a change to it loaded but mismatched (a silent wrong load
    a user would get by trying it), naming the changes and the largest difference; None where none did."""
    seen = [(t["change"], t.get("max_abs")) for c in cells for t in (c.workarounds or [])
            if t.get("verdict") == "mismatch"]
    if not seen:
        return None
    worst = max((d for _, d in seen if d is not None), default=None)
    names = ", ".join(sorted({change for change, _ in seen}))
    return (f"Do not load it with {names}: that loads but predicts other outputs"
            + (f" (max |Δ| {worst:.3g})" if worst is not None else "") + ", seen in a real load.")


@dataclass
class ReportData:
    """The resolved matrix of one run, ready to render.

    ``wall_s`` is the run's own wall time in seconds (:func:`wall_time`), or None.
    ``expectations`` has one outcome per ``expected_failures`` entry. ``level`` is the check
    level (``harness.report.results.LEVELS``, ``--level``): the format tables show each cell checked
    through it, and failures at it or the levels above it fail the run (problems, exit status);
    ``counts`` are those of the ``outputs`` level.
    ``history`` is the comparison with the previous run (``--compare``), or None;
    ``fail_on`` is ``--fail-on``: with ``regression`` its new failures are problems too.
    ``saves`` are the produce cells (``harness.report.results.resolve_saves``), with ``phase: produce``
    entries applied.
    """

    selection: Selection
    cells: list[Cell]
    environments: dict[str, dict]
    run: dict
    wall_s: float | None
    expectations: list[Outcome] = field(default_factory=list)
    level: str = "outputs"
    history: Comparison | None = None
    fail_on: str = "problems"
    saves: list[Cell] = field(default_factory=list)
    apart: frozenset[str] = frozenset()  # pre-release environments (harness.report.prerelease): never a problem
    budgeted: bool = False  # run with --budget: cells not run yet are filled by the next run, not a problem

    @property
    def columns(self) -> list[tuple[str, str]]:
        """(format, loader) pairs in report order, the negative control last."""
        return self.selection.columns

    def cells_at(self, fmt: str, loader: str, producer: str, consumer: str) -> list[Cell]:
        """The cells of one table cell, with their verdicts checked through ``self.level`` (``Cell.through``:
        the first level up to it that did not pass); a pass (or a works-with) of a fixture whose
        negative control also passed there reads ``unproven`` (the comparison could not tell)."""
        unproven = {(c.producer, c.consumer, c.fixture) for c in self.vacuous_controls}
        out = []
        for c in self.cells:
            if c.format == fmt and c.loader == loader and c.producer == producer and c.consumer == consumer:
                seen = replace(c, verdict=c.through(self.level))
                if carries(seen) and c.format != CONTROL_FORMAT and (c.producer, c.consumer, c.fixture) in unproven:
                    seen = replace(seen, verdict="unproven", works_with=None)  # a change's match is no proof either
                out.append(seen)
        return out

    def depth(self) -> list[tuple[str, str, dict[str, list[Cell]]]]:
        """Per (format, loader): for each check level, the loaded cells whose check ran there."""
        rows = []
        for fmt, loader in self.columns:
            loaded = [c for c in self.matrix_cells if c.format == fmt and c.loader == loader
                      and (c.original_verdict or c.verdict) in ("pass", "mismatch")]
            rows.append((fmt, loader, {level: [replace(c, verdict=c.at_level(level)) for c in loaded
                                               if c.at_level(level) != "unsupported"] for level in LEVELS}))
        return rows

    @property
    def controls(self) -> list[Cell]:
        return [c for c in self.cells if c.format == CONTROL_FORMAT]

    @property
    def vacuous_controls(self) -> list[Cell]:
        """Negative controls that passed: the comparison could not tell weights apart."""
        return [c for c in self.controls if c.verdict == "pass"]

    @property
    def broken_controls(self) -> list[Cell]:
        """Negative controls that errored, crashed or timed out, or were skipped where a comparison of their
        fixture loaded: that fixture's comparisons there are unproven (nothing showed that fresh weights
        mismatch). A budgeted run's controls not run yet are not among them: its next run runs them."""
        loaded = {(c.producer, c.consumer, c.fixture) for c in self.matrix_cells
                  if (c.original_verdict or c.verdict) in ("pass", "mismatch")}
        return [c for c in self.controls if c.verdict in ("load-error", "crash", "timeout")
                or (c.verdict == "skipped" and (c.producer, c.consumer, c.fixture) in loaded
                    and not (self.budgeted and NOT_RUN in (c.reason or "")))]

    @property
    def matrix_cells(self) -> list[Cell]:
        return [c for c in self.cells if c.format != CONTROL_FORMAT]

    def counts(self) -> dict[str, int]:
        return counts(self.matrix_cells)

    @property
    def unexpected_failures(self) -> list[Cell]:
        """Cells failing at ``self.level`` or a level above it (``Cell.through``) that no live
        ``expected_failures`` entry explains."""
        return [c for c in self.matrix_cells if c.through(self.level) in FAILURES and not involves(c, self.apart)]

    @property
    def xpasses(self) -> list[Cell]:
        """Passing cells (at ``self.level`` and above) and saves that an ``expected_failures`` entry claims:
        the entry is stale or too broad."""
        return [c for c in self.matrix_cells if c.through(self.level) == "xpass" and not involves(c, self.apart)] + \
            [c for c in self.saves if c.verdict == "xpass" and not involves(c, self.apart)]

    @property
    def failed_saves(self) -> list[Cell]:
        """Saves that failed (``save-error``, ``crash``, ``timeout``) and no live ``phase: produce`` entry
        explains (an ``env-error`` producer already fails the run through its cells)."""
        return [c for c in self.saves if c.failed and c.verdict != "env-error" and not involves(c, self.apart)]

    def closest_passes(self, limit: int = 10) -> list[Cell]:
        """The passes (``pass``, ``xpass``) with the highest margin, nearest the tolerance's edge first.

        A margin is ``max |Δ| / (atol + rtol * |expected|)`` over the outputs; 1 is the edge.
        Cells without a recorded margin are left out.
        """
        passes = [c for c in self.matrix_cells if c.verdict in ("pass", "xpass") and c.margin is not None]
        return sorted(passes, key=lambda c: -c.margin)[:limit]

    def problems(self) -> list[str]:
        """Why this run fails, one line each; empty when it succeeds.

        A run fails when a negative control passed, errored or did not run, when a failure (a save's included) is not
        explained by a live ``expected_failures`` entry, or when an entry claimed a pass (xpass).
        """
        out = []
        if self.vacuous_controls:
            out.append(f"the negative control passed in {len(self.vacuous_controls)} cells: "
                       "this run's comparisons are vacuous")
        if self.broken_controls:
            causes = [f"{line}: {observed(c)}" for c in self.broken_controls[:3] for line in where([c])]
            more = f"; and {len(self.broken_controls) - 3} more" if len(self.broken_controls) > 3 else ""
            out.append(f"{len(self.broken_controls)} negative controls errored or did not run, so those fixtures' "
                       f"comparisons are unproven: {'; '.join(causes)}{more} (see 'Negative control' in matrix.md)")
        if self.unexpected_failures:
            out.append(f"{len(self.unexpected_failures)} failing cells that no live expected_failures entry "
                       "explains (see 'Failures by error signature' in matrix.md)")
        if self.failed_saves:
            out.append(f"{len(self.failed_saves)} saves failed that no live expected_failures entry with "
                       f"phase: produce explains: {'; '.join(where(self.failed_saves)[:3])} "
                       "(see 'Saving' in matrix.md)")
        if self.xpasses:
            stale = sorted({f"expected_failures[{c.expected_failure}]" for c in self.xpasses})
            out.append(f"{len(self.xpasses)} passing cells claimed by {', '.join(stale)}: "
                       "narrow or remove the stale entries")
        if self.missing and not self.budgeted:
            out.append(f"{len(self.missing)} cells have no result (a phase did not run or was interrupted; "
                       "see 'Skipped' in matrix.md): rerun them, or select only what ran")
        if self.fail_on == "regression" and self.history is not None:
            out += regression_problems(self.history)
        return out

    @property
    def missing(self) -> list[Cell]:
        """Cells skipped because a phase left no record for them (not run, or interrupted)."""
        return [c for c in self.matrix_cells if c.verdict == "skipped" and NOT_RUN in (c.reason or "")
                and not involves(c, self.apart)]

    def apart_notes(self) -> list[str]:
        """What the pre-release environments (``apart``) showed that would fail the run elsewhere, one line
        per kind (``harness.report.prerelease.notes``); logged, never failing."""
        seen = replace(self, apart=frozenset())
        return notes({"failing cells no entry explains": seen.unexpected_failures, "saves failed": seen.failed_saves,
                      "passing cells an entry claims": seen.xpasses}, self.apart)

    def failure_groups(self) -> list[FailureGroup]:
        """The unexpected failures grouped by verdict and normalized signature (a deeper level's failure by
        that level and its reason), the largest group first. A ``works-with`` group's hint is the change seen
        to work in each of its cells (``load_model(path, compile=False)``), not a guess from the hints table."""
        groups: dict[tuple[str, str], FailureGroup] = {}
        for cell in self.unexpected_failures:
            verdict, signature = cell.verdict, cell.signature
            if not cell.failed:  # it fails at a deeper level: the first that did not pass, and why
                level = next(name for name in LEVELS[1:] if cell.at_level(name) in FAILURES)
                verdict, signature = f"{level} {cell.at_level(level)}", f"{level}: {cell.level_reason(level)}"
            key = (verdict, normalize(signature))
            if key not in groups:
                groups[key] = FailureGroup(key[1], verdict, hint_for(signature))
            groups[key].cells.append(cell)
        for group in groups.values():
            wrong = silent_changes(group.cells)
            if wrong:  # a change loads the file but predicts other outputs: the hint must not suggest it
                group.hint = f"{wrong} " + (group.hint or "")
            changes = sorted({c.works_with for c in group.cells if c.works_with})
            if group.verdict == WORKS_WITH and changes:
                unsafe = " (unsafe: it lets code stored in the file run)" if any(c.unsafe_change for c in group.cells) \
                    else ""
                group.hint = (f"{' or '.join(f'load_model(path, {change})' for change in changes)} loaded and matched "
                              f"in each of these cells, seen in a real load{unsafe}; compile again where you train.")
        return sorted(groups.values(), key=lambda g: (-len(g.cells), g.signature))

    def device_pairs(self) -> dict[str, list[Cell]]:
        """The matrix's cells by device pair, ``"<producer device>><consumer device>"`` as the
        environments declare them (``device`` of matrix.yaml, as tolerance overrides match them;
        each ran cell also records the device TensorFlow really used), in sorted order."""
        device = self.selection.device_of
        out: dict[str, list[Cell]] = defaultdict(list)
        for cell in self.matrix_cells:
            out[f"{device(cell.producer)}>{device(cell.consumer)}"].append(cell)
        return dict(sorted(out.items()))

    def reason_groups(self, verdict: str) -> dict[str, list[Cell]]:
        """Cells of one verdict (``unsupported``, ``skipped``) grouped by reason."""
        out: dict[str, list[Cell]] = defaultdict(list)
        for cell in self.matrix_cells:
            if cell.verdict == verdict:
                out[normalize(cell.reason or "", counts=False)].append(cell)
        return dict(sorted(out.items(), key=lambda kv: -len(kv[1])))


def where(cells: list[Cell]) -> list[str]:
    """Compact lines naming cells: ``producer → consumer: format/loader, ... (fixtures)``."""
    per_pair: dict[tuple, dict[tuple, list[str]]] = defaultdict(lambda: defaultdict(list))
    for c in cells:
        per_pair[(c.producer, c.consumer)][(c.format, c.loader)].append(c.fixture)
    lines = []
    for (producer, consumer), columns in per_pair.items():
        by_fixtures: dict[tuple, list[str]] = defaultdict(list)
        for (fmt, loader), fixtures in columns.items():
            by_fixtures[tuple(sorted(fixtures))].append(f"{fmt}/{loader}")
        for fixtures, names in by_fixtures.items():  # a save (consumer "") names its producer alone
            head = f"{producer} → {consumer}" if consumer else producer
            lines.append(f"{head}: {', '.join(names)} ({', '.join(fixtures)})")
    return lines


def unexpected_notes(cells: list[Cell]) -> list[str]:
    """One line per failing cell that covering entries expected to fail another way: the cell, then
    ``expected_failures[N] expects load-error `…`, got mismatch max |Δ| 0.37`` (``harness.report.expectations``)."""
    return [f"{line}: {c.expectation_note}" for c in cells if c.expectation_note for line in where([c])]


def regression_problems(history: Comparison, shown: int = 3) -> list[str]:
    """Why ``--fail-on regression`` fails the run: its new failures and failures of another class (how
    many, which classes moved, and where: the first
    ``shown`` lines of :func:`where`), or a previous file that cannot be compared with: a broken one,
    or none at all (a mistyped path must not turn the check off every night; on a history's first
    night, leave ``--compare`` out)."""
    if history.note:
        first = "" if history.broken else "; on a history's first night, leave --compare out"
        return [f"{history.note} (--fail-on regression cannot tell what broke{first})"]
    regressions = history.regressions
    if not regressions:
        return []
    lines = where([_as_cell(c) for c in regressions])
    more = f"; and {len(lines) - shown} more" if len(lines) > shown else ""
    moved = sorted({f"{c.was} → {c.now}" for c in regressions if c.class_changed})
    moved_text = f", {sum(c.class_changed for c in regressions)} of them failing another way ({', '.join(moved)})" \
        if moved else ""
    return [f"{len(regressions)} new failures since the previous run ({history.previous}){moved_text}: "
            f"{'; '.join(lines[:shown])}{more} (see 'Since the previous run' in matrix.md)"]


def _as_cell(change: Change) -> Change:
    """A change whose loader names its check level when it is not ``outputs``, for :func:`where`."""
    return change if change.level == "outputs" else replace(change, loader=f"{change.loader} [{change.level}]")


def shown_verdict(verdict: str | None, own: str | None) -> str:
    """``xfail (load-error)``: a verdict with the run's own verdict behind it; ``absent`` for None."""
    if verdict is None:
        return "absent"
    return f"{verdict} ({own})" if own and own != verdict else verdict


@dataclass
class ChangeGroup:
    """Changes of one kind with the same verdicts, level and detail (the new error of a new failure, the
    old one of a new pass, both for a changed failure), for the history section of the reports."""

    kind: str
    level: str
    before: str
    after: str
    detail: str | None
    changes: list[Change] = field(default_factory=list)

    @property
    def where(self) -> list[str]:
        return where([_as_cell(c) for c in self.changes])


def change_groups(history: Comparison, kind: str) -> list[ChangeGroup]:
    """The changes of one kind (``harness.report.history.KINDS``) grouped, the largest group first."""
    groups: dict[tuple, ChangeGroup] = {}
    for c in history.of(kind):
        detail = {"new-failure": c.after_detail, "new-pass": c.before_detail,
                  "changed-failure": f"{c.before_detail} → {c.after_detail}"}.get(kind)
        key = (c.level, shown_verdict(c.before, c.was), shown_verdict(c.after, c.now), detail)
        if key not in groups:
            groups[key] = ChangeGroup(kind, *key)
        groups[key].changes.append(c)
    return sorted(groups.values(), key=lambda g: (-len(g.changes), g.level, g.before, g.after, g.detail or ""))


SIGNATURE_CHARS = 120  # an expected failure's signatures are shown to this many characters


def signatures(cells: list[Cell]) -> list[tuple[str, str, int]]:
    """(verdict, signature, number of cells), the most frequent first: what an expected failure explains.

    Signatures are normalized and cut to ``SIGNATURE_CHARS`` (those alike up to there count
    as one); the verdict is the run's own (``original_verdict``) for converted cells.
    """
    seen: dict[tuple[str, str], int] = defaultdict(int)
    for c in cells:
        text = normalize(c.signature)
        text = shorten(text, SIGNATURE_CHARS)
        seen[(c.original_verdict or c.verdict, text)] += 1
    return [(v, sig, n) for (v, sig), n in sorted(seen.items(), key=lambda kv: (-kv[1], kv[0]))]


def phase_stats(workdir: Path, phase: str, env: str) -> dict:
    """How one phase of one environment ran: ``cells_run`` and ``cells_reused`` (records reused from
    an earlier run, ``harness.execute.incremental``), ``workers_started`` (processes: one, plus one per crash or
    timeout; 0 when every record was reused), ``seconds`` (the supervised run's wall time, 0 when no
    worker ran), and ``peak_rss_bytes`` (the largest peak resident memory any of its workers reported,
    bytes; None when none ran or the platform has no ``getrusage``). A phase split over several workers
    (``--workers-per-env``) has ``shards``: one such dict per shard, by number (``cells_run``,
    ``workers_started``, ``seconds``, ``peak_rss_bytes``; reused cells are the phase's own)."""
    files = PhaseFiles(workdir, phase, env)
    records = read_records(files.results)
    ran = [r for r in records if not r.get("reused") and r.get("scope") != "env"]
    stats = _numbers(read_json(files.stats))
    env_level = sum(r.get("scope") == "env" for r in records)
    out = {"cells_run": len(ran), "cells_reused": len(records) - len(ran) - env_level,
           "workers_started": stats.get("workers_started", 0), "seconds": stats.get("seconds", 0),
           "peak_rss_bytes": _peak(ran), "shards": {}}
    for shard in files.shards():
        shard_ran = [r for r in read_records(shard.results) if r.get("scope") != "env"]
        shard_stats = _numbers(read_json(shard.stats))
        out["shards"][shard.shard] = {"cells_run": len(shard_ran), "seconds": shard_stats.get("seconds", 0),
                                      "workers_started": shard_stats.get("workers_started", 0),
                                      "peak_rss_bytes": _peak(shard_ran)}
        out["cells_run"] += len(shard_ran)
    peaks = [s["peak_rss_bytes"] for s in out["shards"].values() if s["peak_rss_bytes"]] + [out["peak_rss_bytes"] or 0]
    out["peak_rss_bytes"] = max(peaks) or None
    return out


def _numbers(stats: dict) -> dict:
    """The finite numbers of a stats file (a damaged one counts as none)."""
    return {key: value for key, value in stats.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)}


def _peak(records: list[dict]) -> int | None:
    """The largest ``worker_peak_rss_bytes`` of ``records`` (bytes), or None where none has one."""
    peaks = [r["worker_peak_rss_bytes"] for r in records if isinstance(r.get("worker_peak_rss_bytes"), int)]
    return max(peaks) if peaks else None


def wall_time(workdir: Path, started) -> float | None:
    """Seconds from the run's start (``run.json``'s ``started``) to the end of its last phase (the
    ``ended`` that ``harness.execute.supervisor`` records in ``results/*.stats.json``), or None when either is
    unknown. File times are not used: a work dir copied, checked out or re-rendered later has new ones,
    and the report would show now minus the start. Ends before the start (a phase of an earlier run,
    every cell reused) do not count."""
    if not isinstance(started, (int, float)) or isinstance(started, bool):
        return None
    ends = [read_json(path).get("ended") for path in WorkDir(workdir).results.glob("*.stats.json")]
    ends = [e for e in ends if isinstance(e, (int, float)) and not isinstance(e, bool) and e >= started]
    return round(max(ends) - started, 1) if ends else None


def build(spec: MatrixSpec, selection: Selection, workdir: Path,
          today: datetime.date | None = None, level: str = "outputs") -> ReportData:
    """Resolve the run in ``workdir`` into report data, with ``expected_failures`` applied.

    Args:
        today: the date entries' ``expires`` is compared with (default: today's date).
        level: the check level the format tables show.
    """
    run = read_json(WorkDir(workdir).run)
    selection = replace(selection, loaders=planned_loaders(run, selection, workdir))
    environments = {}
    for env in selection.envs:
        facts = read_json(PhaseFiles(workdir, "consume", env).facts) or \
            read_json(PhaseFiles(workdir, "produce", env).facts)
        e = spec.envs[env]
        environments[env] = {"python_requested": e.python, "runner": e.runner, "image": e.image,
                             "device_requested": e.device, "packages": list(e.requirements(spec.extra_pins)),
                             "variables": e.worker_variables(), "description": e.description, "facts": facts,
                             "phases": {phase: phase_stats(workdir, phase, env) for phase in ("produce", "consume")
                                        if selection.runs(phase, env)}}
    for name, gold in selection.goldens.items():
        environments[name] = {"runner": "golden", "image": None, "device_requested": gold.device,
                              "packages": [f"golden artifacts frozen {gold.frozen} in {gold.path.name}/"],
                              "variables": {}, "description": "golden", "facts": gold.facts}
    wall = wall_time(workdir, run.get("started"))
    cells, saves = resolve(selection, workdir), resolve_saves(selection, workdir)
    outcomes = apply_expectations(cells, spec, today or datetime.date.today(), selection.goldens, saves,
                                  tags=selection.fixture_tags)
    return ReportData(selection, cells, environments, run, wall, outcomes, level, saves=saves,
                      apart=prerelease_envs(spec, selection.envs))
