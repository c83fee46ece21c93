"""Expected failures: known failures become ``xfail``, and passes under an entry ``xpass``.

matrix.yaml's ``expected_failures`` entries (:class:`harness.spec.ExpectedFailure`)
match cells by the producer's and consumer's versions, fixture, format and loader.
For each cell of the matrix (never a negative control), the first *live* entry in
file order that matches it claims it:

- a failure it can explain (``mismatch``, ``load-error``, ``crash``, ``timeout``)
  becomes ``xfail``: known, not counted as a failure, and not failing the run;
- a ``pass`` becomes ``xpass``: the entry is stale (or too broad) and hides a
  working combination, so the report lists it and the run fails until the entry
  is narrowed or removed.

The run's own verdict stays in ``Cell.original_verdict`` and the entry's position
in ``Cell.expected_failure``. An entry past its ``expires`` date converts nothing:
the failures it matches count as failures again, and the report lists it as
expired. ``env-error``, ``unsupported`` and ``skipped`` cells are never converted.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from harness.plan import CONTROL_FORMAT
from harness.results import Cell
from harness.spec import ExpectedFailure, MatrixSpec

EXPLAINABLE = frozenset({"mismatch", "load-error", "crash", "timeout"})


@dataclass
class Outcome:
    """What one ``expected_failures`` entry did in a run.

    ``xfail``/``xpass``: the cells it converted (none when expired).
    ``unexplained``: for an expired entry, the failing cells it matches, which
    now count as failures.
    """

    entry: ExpectedFailure
    expired: bool
    xfail: list[Cell] = field(default_factory=list)
    xpass: list[Cell] = field(default_factory=list)
    unexplained: list[Cell] = field(default_factory=list)

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
                "fixture": list(e.fixtures) if e.fixtures else None, "format": list(e.formats) if e.formats else None,
                "loader": list(e.loaders) if e.loaders else None, "python": e.python, "reason": e.reason,
                "link": e.link, "expires": e.expires.isoformat(), "status": self.status,
                "xfail": [c.id for c in self.xfail], "xpass": [c.id for c in self.xpass],
                "unexplained": [c.id for c in self.unexplained]}


def apply(cells: list[Cell], spec: MatrixSpec, today: datetime.date, goldens: dict | None = None) -> list[Outcome]:
    """Convert the matched cells in place (see the module docstring); one :class:`Outcome` per entry.

    Args:
        today: the date entries' ``expires`` is compared with (an entry is live through that day).
        goldens: the golden producers (label -> ``harness.golden.Golden``), matched by the
            versions their environment recorded.
    """
    versions = {name: env.versions() for name, env in spec.envs.items()}
    versions.update({name: golden.versions() for name, golden in (goldens or {}).items()})
    outcomes = [Outcome(entry, not entry.live(today)) for entry in spec.expected_failures]
    for cell in cells:
        if cell.format == CONTROL_FORMAT or cell.verdict not in EXPLAINABLE | {"pass"}:
            continue
        matching = [o for o in outcomes if o.entry.matches(versions[cell.producer], versions[cell.consumer],
                                                            cell.fixture, cell.format, cell.loader)]
        claimant = next((o for o in matching if not o.expired), None)
        if claimant is None:
            for outcome in matching:
                if cell.verdict != "pass":
                    outcome.unexplained.append(cell)
            continue
        cell.original_verdict, cell.expected_failure = cell.verdict, claimant.entry.index
        cell.verdict = "xpass" if cell.verdict == "pass" else "xfail"
        (claimant.xpass if cell.verdict == "xpass" else claimant.xfail).append(cell)
    return outcomes
