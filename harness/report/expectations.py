"""Expected failures: known failures become ``xfail``, and passes under an entry ``xpass``.

matrix.yaml's ``expected_failures`` entries (:class:`harness.config.spec.ExpectedFailure`)
match cells by the producer's and consumer's versions, fixture (its name, and its ``TAGS``
for an entry with ``tags:``), format and loader.
An entry also says what it expects (``harness.config.expectation_keys``): a ``verdict``, an
``error`` (a regular expression searched in the cell's ``Type: message``) and, for a
mismatch, a ``max_abs`` band. For each cell of the matrix (never a negative control)
whose level-``outputs`` verdict is a failure (``works-with``, ``mismatch``, ``load-error``, ``crash``,
``timeout``) or a pass, among the *live* entries that cover it:

- the first in file order that expects exactly that failure turns it into ``xfail``:
  known, not counted as a failure, and not failing the run;
- a failure that covering entries do not expect (another verdict, another error, a
  drift outside the band) stays a failure, and ``Cell.expectation_note`` says so:
  ``expected_failures[0] expects load-error `batch_shape`, got mismatch max |Δ| 0.37``;
- a ``pass`` becomes ``xpass`` under the first covering entry: the entry is stale (or
  too broad) and hides a working combination, so the report lists it and the run fails
  until the entry is narrowed or removed.

The run's own verdict stays in ``Cell.original_verdict`` and the entry's position
in ``Cell.expected_failure``. An entry with a deeper ``level:`` (``weights``, ``compile``,
``training``) explains that level's failure of a cell that passed at ``outputs`` alike, its index
in ``Cell.levels_expected`` (``Cell.at_level`` then reads ``xfail``). Produce cells (saving;
``harness.report.results.resolve_saves``) are converted alike, by ``phase: produce`` entries only: a
``save-error``, ``crash`` or ``timeout`` into ``xfail``, a ``saved`` into ``xpass``. An entry
past its ``expires`` date converts nothing: the failures it matches count as failures again, and
the report lists it as expired. ``env-error``, ``unsupported`` and ``skipped`` cells are never converted.
"""
from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field

from harness.config.spec import ExpectedFailure, MatrixSpec
from harness.execute.plan import CONTROL_FORMAT
from harness.report.results import LEVELS, Cell
from harness.worker.protocol import WORKS_WITH

EXPLAINABLE = frozenset({WORKS_WITH, "mismatch", "load-error", "crash", "timeout"})
SAVE_EXPLAINABLE = frozenset({"save-error", "crash", "timeout"})


@dataclass
class Outcome:
    """What one ``expected_failures`` entry did in a run.

    ``xfail``/``xpass``: the cells it converted (none when expired).
    ``unexplained``: for an expired entry, the failing cells it matches, which
    now count as failures. ``unmatched``: failing cells it covers but does not expect
    (another verdict or error, a drift outside its band), which count as failures. ``unknown``: for an
    entry keyed by ``layers``/``traits``, the failing cells it would cover but whose records do not say what
    the producer's model holds (saved before producers recorded it): never converted, they count as failures.
    """

    entry: ExpectedFailure
    expired: bool
    xfail: list[Cell] = field(default_factory=list)
    xpass: list[Cell] = field(default_factory=list)
    unexplained: list[Cell] = field(default_factory=list)
    unmatched: list[Cell] = field(default_factory=list)
    unknown: list[Cell] = field(default_factory=list)

    @property
    def status(self) -> str:
        """``expired``, ``stale`` (it claimed a pass), ``unused`` (it matched no cell) or ``live``."""
        if self.expired:
            return "expired"
        if self.xpass:
            return "stale"
        return "live" if self.xfail else "unused"

    def to_json(self) -> dict:
        """The entry, its status and the ids of its cells, for results.json."""
        e = self.entry
        return {"entry": e.key_path, "producer": e.producer, "consumer": e.consumer,
                "fixture": list(e.fixtures) if e.fixtures else None, "tags": list(e.tags) if e.tags else None,
                "format": list(e.formats) if e.formats else None,
                "loader": list(e.loaders) if e.loaders else None, "python": e.python, "reason": e.reason,
                "link": e.link, "expires": e.expires.isoformat(), "status": self.status, "phase": e.phase,
                "verdict": e.verdict, "error": e.error, "max_abs": list(e.max_abs) if e.max_abs else None,
                "level": e.level, "xfail": [c.id for c in self.xfail], "xpass": [c.id for c in self.xpass],
                "unexplained": [c.id for c in self.unexplained], "unmatched": [c.id for c in self.unmatched],
                "layers": list(e.layers) if e.layers else None, "traits": list(e.traits) if e.traits else None,
                "unknown": [c.id for c in self.unknown]}


def expected(entry: ExpectedFailure) -> str:
    """What an entry expects, for messages: ``load-error `batch_shape` ``, ``mismatch max |Δ| in [10, 100]``."""
    text = entry.verdict + (f" `{entry.error}`" if entry.error else "")
    if entry.max_abs:
        text += f" max |Δ| in [{entry.max_abs[0]:g}, {entry.max_abs[1]:g}]"
    return text


def observed(cell: Cell) -> str:
    """What a cell did, in the words of :func:`expected`: ``mismatch max |Δ| 0.37``, ``load-error `Type: msg` ``."""
    verdict = cell.original_verdict or cell.verdict
    if verdict == "mismatch" and cell.max_abs is not None:
        return f"mismatch max |Δ| {cell.max_abs:.4g}"
    text = cell.signature if cell.error_type else (cell.reason or "")
    text = text if len(text) <= 120 else text[:120] + "…"
    return f"{verdict} `{text}`" if text else verdict


def explains(entry: ExpectedFailure, cell: Cell) -> bool:
    """Whether ``entry`` expects the failure ``cell`` shows: its verdict (a ``load-error`` entry's
    covers a ``works-with``: the call fails either way), error (searched in ``Type: message``) and,
    for a mismatch with a band, its ``max_abs`` inside the band."""
    verdict = cell.original_verdict or cell.verdict
    if verdict != entry.verdict and not (verdict == WORKS_WITH and entry.verdict == "load-error"):
        return False
    if entry.error and not re.search(entry.error, cell.signature):
        return False
    if entry.max_abs:
        return cell.max_abs is not None and entry.max_abs[0] <= cell.max_abs <= entry.max_abs[1]
    return True


def explains_level(entry: ExpectedFailure, cell: Cell, level: str) -> bool:
    """Whether a ``level:`` entry expects the failure ``cell`` shows at that deeper level: its verdict
    there, its error in the level's reason (``Type: message`` for an error), its difference in the band."""
    if cell.level_verdict(level) != entry.verdict:
        return False
    if entry.error and not re.search(entry.error, cell.level_reason(level) or ""):
        return False
    if entry.max_abs:
        found = ((cell.levels or {}).get(level) or {}).get("max_abs")
        return found is not None and entry.max_abs[0] <= found <= entry.max_abs[1]
    return True


def _claim_levels(cell: Cell, entries: list[Outcome], versions: dict, tags: tuple[str, ...]) -> None:
    """Deeper levels of a cell that passed at ``outputs``: the first live ``level:`` entry that expects a
    level's failure claims it (``Cell.levels_expected``), as does the first that covers a level that passed
    (an xpass: the entry is stale); a failure the covering entries do not expect gets a note."""
    for level in LEVELS[1:]:
        raw = cell.level_verdict(level)
        live = [o for o in entries if o.entry.level == level and not o.expired
                and o.entry.matches(versions[cell.producer], versions[cell.consumer], cell.fixture, cell.format,
                                    cell.loader, tags, cell.holds)]
        if raw == "pass":
            claimant = live[0] if live else None
        elif raw in ("mismatch", "load-error"):
            claimant = next((o for o in live if explains_level(o.entry, cell, level)), None)
        else:
            continue
        if claimant is None:
            if live and raw != "pass":
                got = f"{raw} `{cell.level_reason(level)}`"
                note = "; ".join(f"{o.entry.key_path} expects {expected(o.entry)} at {level}, got {got}" for o in live)
                cell.expectation_note = "; ".join(filter(None, (cell.expectation_note, note)))
                for o in live:
                    o.unmatched.append(cell)
            continue
        cell.levels_expected = dict(cell.levels_expected or {}, **{level: claimant.entry.index})
        (claimant.xpass if raw == "pass" else claimant.xfail).append(cell)


def _blind(cell: Cell, covering: list[Outcome]) -> None:
    """A failing ``cell`` whose record does not say what its producer's model holds: the live entries keyed by
    ``layers``/``traits`` that would otherwise cover it (``covering``, matched with ``ignore_holds``) cannot
    judge it. It is never converted by them; it gets a note and counts in their ``unknown``."""
    blind = [o for o in covering if not o.expired and o.entry.keyed_by_holds]
    if cell.holds is not None or not blind or cell.verdict in ("pass", "saved"):
        return
    for outcome in blind:
        outcome.unknown.append(cell)
    note = "; ".join(f"{o.entry.key_path} is keyed by what a model holds, and the records of {cell.producer}'s "
                     f"{cell.fixture} do not say (saved before producers recorded it: produce it again)"
                     for o in blind)
    cell.expectation_note = "; ".join(filter(None, (cell.expectation_note, note)))


def _claim(cell: Cell, matching: list[Outcome]) -> None:
    """Convert ``cell`` under the first of the ``matching`` live entries that expects its failure (a
    pass or a save: the first live one, as an xpass), or note why none did."""
    live = [o for o in matching if not o.expired]
    if cell.verdict in ("pass", "saved"):
        claimant = live[0] if live else None
    else:
        claimant = next((o for o in live if explains(o.entry, cell)), None)
    if claimant is None:
        if cell.verdict not in ("pass", "saved"):
            for outcome in matching:
                (outcome.unexplained if outcome.expired else outcome.unmatched).append(cell)
            if live:
                cell.expectation_note = "; ".join(
                    f"{o.entry.key_path} expects {expected(o.entry)}, got {observed(cell)}" for o in live)
        return
    cell.original_verdict, cell.expected_failure = cell.verdict, claimant.entry.index
    cell.verdict = "xpass" if cell.verdict in ("pass", "saved") else "xfail"
    (claimant.xpass if cell.verdict == "xpass" else claimant.xfail).append(cell)


def apply(cells: list[Cell], spec: MatrixSpec, today: datetime.date, goldens: dict | None = None,
          saves: list[Cell] = (), *, tags: dict[str, tuple[str, ...]]) -> list[Outcome]:
    """Convert the matched cells in place (see the module docstring); one :class:`Outcome` per entry.

    Args:
        tags: each fixture's ``TAGS`` by name (``harness.execute.plan.Selection.fixture_tags``), which entries with
            ``tags:`` match (a fixture not in it carries none).
        saves: the produce cells (``harness.report.results.resolve_saves``), which only ``phase: produce``
            entries convert (a ``save-error``, ``crash`` or ``timeout`` into xfail, a ``saved`` into xpass).
        today: the date entries' ``expires`` is compared with (an entry is live through that day).
        goldens: the golden producers (label -> ``harness.execute.golden.Golden``), matched by the
            versions their environment recorded.
    """
    versions = {name: env.versions() for name, env in spec.envs.items()}
    versions.update({name: golden.versions() for name, golden in (goldens or {}).items()})
    outcomes = [Outcome(entry, not entry.live(today)) for entry in spec.expected_failures]
    consuming = [o for o in outcomes if o.entry.phase == "consume" and o.entry.level == "outputs"]
    producing = [o for o in outcomes if o.entry.phase == "produce"]
    for cell in cells:
        if cell.format == CONTROL_FORMAT or cell.verdict not in EXPLAINABLE | {"pass"}:
            continue

        def covering(ignore_holds: bool, cell: Cell = cell) -> list[Outcome]:
            return [o for o in consuming if o.entry.matches(
                versions[cell.producer], versions[cell.consumer], cell.fixture, cell.format, cell.loader,
                tags.get(cell.fixture, ()), cell.holds, ignore_holds=ignore_holds)]
        _claim(cell, covering(False))
        if cell.verdict != "xfail":
            _blind(cell, covering(True))
    deeper = [o for o in outcomes if o.entry.phase == "consume" and o.entry.level != "outputs"]
    for cell in cells:
        if deeper and cell.format != CONTROL_FORMAT and (cell.original_verdict or cell.verdict) == "pass":
            _claim_levels(cell, deeper, versions, tags.get(cell.fixture, ()))
    for cell in saves:
        if cell.verdict in SAVE_EXPLAINABLE | {"saved"}:
            matching = [o for o in producing if o.entry.matches(versions[cell.producer], {}, cell.fixture, cell.format,
                                                                 cell.loader, tags.get(cell.fixture, ()), cell.holds,
                                                                 ignore_holds=True)]
            _claim(cell, [o for o in matching if o.entry.covers_holds(cell.holds) is True])
            if cell.verdict != "xfail":
                _blind(cell, matching)
    return outcomes
