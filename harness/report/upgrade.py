"""The upgrade answer: per producer → consumer pair, can a model saved in one be used in the other?

For each pair and each format/loader column, a column *carries* a fixture when the call users make
(``harness/worker/catalog.py``'s ``call``: ``load_model(path)`` with its defaults) loaded it and matched
at the report's level (``pass``, or ``xpass``), or *carries it with a change* when that call failed and a
change to it (``compile=False``) was seen to load and match (``works-with``, or an ``xfail`` of one). A pair:

- **works as written** when one column carries every fixture as written;
- **works with a change** when no column does, but one carries every fixture, some with a change;
- **does not work** when no column carries them all; its best route is the column carrying the most.

Fixtures that no column of the pair can apply to (a fixture the consumer's backend cannot build:
every cell ``unsupported``) are left out of the pair. Columns are preferred in :data:`PREFERENCE`:
the full-model ``load_model`` a user calls first, then the catalog's order.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from harness.worker.catalog import FULL_MODEL_FORMATS
from harness.worker.protocol import WORKS_WITH

AS_WRITTEN, WITH_CHANGE, FAILS, NOT_RUN = "works as written", "works with a change", "does not work", "not run"
MARKS = {AS_WRITTEN: "✓", WITH_CHANGE: "✓*", FAILS: "✗", NOT_RUN: "n/a"}


def carries(cell) -> str | None:
    """How one cell (its verdict checked through the report's level) carries its fixture: ``as written``,
    ``with a change`` (the change's name in ``cell.works_with``), or None."""
    if cell.verdict in ("pass", "xpass"):
        return "as written"
    if cell.works_with and (cell.original_verdict or cell.verdict) == WORKS_WITH and cell.verdict in (WORKS_WITH,
                                                                                                      "xfail"):
        return "with a change"
    return None


def preference(column: tuple[str, str]) -> int:
    """0 for a full-model format read with ``load_model`` (the call users make first), else 1."""
    fmt, loader = column
    return 0 if fmt in FULL_MODEL_FORMATS and loader == "load_model" else 1


@dataclass
class Route:
    """One format/loader column of a pair: the fixtures it carries as written and with a change
    (``changes``: the changes that worked, e.g. ``{"compile=False"}``), over ``total`` fixtures."""

    fmt: str
    loader: str
    written: int
    changed: int
    total: int
    changes: set[str] = field(default_factory=set)

    @property
    def name(self) -> str:
        return f"{self.fmt}/{self.loader}"

    @property
    def carried(self) -> int:
        return self.written + self.changed

    def describe(self) -> str:
        """``h5/load_model``, ``h5/load_model with compile=False``, ``h5/load_model: 18/20``."""
        if self.carried < self.total:
            return f"{self.name}: {self.carried}/{self.total}"
        return self.name + (f" with {', '.join(sorted(self.changes))}" if self.changed else "")


@dataclass
class Answer:
    """A pair's answer (:data:`AS_WRITTEN`, :data:`WITH_CHANGE`, :data:`FAILS`, :data:`NOT_RUN`), its best
    route (None when nothing ran) and the other columns that carry every fixture as well (``others``)."""

    producer: str
    consumer: str
    answer: str
    best: Route | None
    others: list[Route]
    fixtures: int

    @property
    def mark(self) -> str:
        return MARKS[self.answer]


def answer(data, producer: str, consumer: str) -> Answer:
    """The upgrade answer of one pair, from ``data`` (a ``ReportData``) at its level."""
    columns = sorted(data.columns, key=preference)
    by_column = {column: data.cells_at(*column, producer, consumer) for column in columns}
    applicable = {c.fixture for cells in by_column.values() for c in cells if c.verdict != "unsupported"}
    routes = []
    for (fmt, loader), cells in by_column.items():
        ways = {c.fixture: carries(c) for c in cells if c.fixture in applicable}
        written = sum(way == "as written" for way in ways.values())
        changed = sum(way == "with a change" for way in ways.values())
        routes.append(Route(fmt, loader, written, changed, len(applicable),
                            {c.works_with for c in cells if c.fixture in applicable and carries(c) == "with a change"}))
    if all(c.verdict in ("env-error", "skipped", "unsupported") for cells in by_column.values() for c in cells
           if c.fixture in applicable):  # nothing ran (no fixture applies, or the pair could not run)
        return Answer(producer, consumer, NOT_RUN, None, [], len(applicable))
    whole = [r for r in routes if r.carried == r.total]
    written = [r for r in whole if r.changed == 0]
    if written:
        return Answer(producer, consumer, AS_WRITTEN, written[0], written[1:], len(applicable))
    if whole:
        return Answer(producer, consumer, WITH_CHANGE, whole[0], whole[1:], len(applicable))
    best = max(routes, key=lambda r: (r.carried, r.written, -preference((r.fmt, r.loader))))
    return Answer(producer, consumer, FAILS, best if best.carried else None, [], len(applicable))


def answers(data) -> list[Answer]:
    """Every pair's answer, producers (goldens included) by consumers, in the selection's order."""
    return [answer(data, producer, consumer) for producer in data.selection.producers
            for consumer in data.selection.consumers]


def headline(found: list[Answer]) -> str:
    """One sentence: how many pairs work as written, with a change, or not at all."""
    ran = [a for a in found if a.answer != NOT_RUN]
    plural = {AS_WRITTEN: "work as written", WITH_CHANGE: "work with a change", FAILS: "do not work"}
    parts = [f"{sum(a.answer == kind for a in ran)} {plural[kind]}" for kind in (AS_WRITTEN, WITH_CHANGE, FAILS)]
    skipped = len(found) - len(ran)
    return (f"Of {len(found)} producer → consumer pairs, for every fixture: {', '.join(parts)}"
            + (f"; {skipped} not run" if skipped else "") + ".")


def glance(a: Answer) -> str:
    """A pair at a glance: its mark and the best route, by its format where that is read with ``load_model``
    (``✓ keras``, ``✓* h5``) and with its loader otherwise (``✓ savedmodel/TFSMLayer``: a ✓ beside a bare
    ``savedmodel`` would say ``load_model`` works), or for a pair that does not work the share of fixtures its
    best route carries (``✗ 18/20``)."""
    if a.answer == FAILS:
        return f"{a.mark} {a.best.carried if a.best else 0}/{a.fixtures}"
    if a.best is None:
        return a.mark
    return f"{a.mark} {a.best.fmt if preference((a.best.fmt, a.best.loader)) == 0 else a.best.name}"


def grid(data, found: list[Answer]) -> list[list[str]]:
    """Rows of the at-a-glance table: per producer, per consumer, :func:`glance`."""
    by_pair = {(a.producer, a.consumer): a for a in found}
    return [[producer] + [glance(by_pair[(producer, consumer)]) for consumer in data.selection.consumers]
            for producer in data.selection.producers]


def route_rows(found: list[Answer]) -> list[list[str]]:
    """Rows of the Routes table: pair, answer, best route, and how many other columns carry every fixture."""
    return [[f"{a.producer} → {a.consumer}", a.answer, a.best.describe() if a.best else "—",
             str(len(a.others)) if a.others else ""] for a in found]
