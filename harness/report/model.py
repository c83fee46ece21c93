"""Everything a report shows, computed once from the resolved cells."""
from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from harness.hints import hint_for, normalize
from harness.plan import CONTROL_FORMAT, LOADERS, Selection
from harness.results import Cell, counts, resolve
from harness.spec import MatrixSpec


@dataclass
class FailureGroup:
    """Failing cells that share one normalized error signature, and the hint for it."""

    signature: str
    verdict: str
    hint: str | None
    cells: list[Cell] = field(default_factory=list)


@dataclass
class ReportData:
    """The resolved matrix of one run, ready to render.

    ``wall_s`` is seconds since the run started (``run.json``), or None.
    """

    selection: Selection
    cells: list[Cell]
    environments: dict[str, dict]
    run: dict
    wall_s: float | None

    @property
    def columns(self) -> list[tuple[str, str]]:
        """(format, loader) pairs in report order, the negative control last."""
        return [(f, loader) for f in self.selection.formats for loader in LOADERS[f]]

    def cells_at(self, fmt: str, loader: str, producer: str, consumer: str) -> list[Cell]:
        return [c for c in self.cells if c.format == fmt and c.loader == loader
                and c.producer == producer and c.consumer == consumer]

    @property
    def controls(self) -> list[Cell]:
        return [c for c in self.cells if c.format == CONTROL_FORMAT]

    @property
    def vacuous_controls(self) -> list[Cell]:
        """Negative controls that passed: the comparison could not tell weights apart."""
        return [c for c in self.controls if c.verdict == "pass"]

    @property
    def matrix_cells(self) -> list[Cell]:
        return [c for c in self.cells if c.format != CONTROL_FORMAT]

    def counts(self) -> dict[str, int]:
        return counts(self.matrix_cells)

    def failure_groups(self) -> list[FailureGroup]:
        """Failing cells grouped by normalized signature, the largest group first."""
        groups: dict[str, FailureGroup] = {}
        for cell in self.matrix_cells:
            if not cell.failed:
                continue
            key = normalize(cell.signature)
            if key not in groups:
                groups[key] = FailureGroup(key, cell.verdict, hint_for(cell.signature))
            groups[key].cells.append(cell)
        return sorted(groups.values(), key=lambda g: (-len(g.cells), g.signature))

    def reason_groups(self, verdict: str) -> dict[str, list[Cell]]:
        """Cells of one verdict (``unsupported``, ``skipped``) grouped by reason."""
        out: dict[str, list[Cell]] = defaultdict(list)
        for cell in self.matrix_cells:
            if cell.verdict == verdict:
                out[normalize(cell.reason or "")].append(cell)
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
        for fixtures, names in by_fixtures.items():
            lines.append(f"{producer} → {consumer}: {', '.join(names)} ({', '.join(fixtures)})")
    return lines


def read_json(path: Path) -> dict:
    """The JSON object in ``path``, or {} when it is missing or half-written."""
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def build(spec: MatrixSpec, selection: Selection, workdir: Path) -> ReportData:
    """Resolve the run in ``workdir`` into report data."""
    run = read_json(workdir / "run.json")
    environments = {}
    for env in selection.envs:
        facts = read_json(workdir / "results" / f"consume-{env}.facts.json") or \
            read_json(workdir / "results" / f"produce-{env}.facts.json")
        e = spec.envs[env]
        environments[env] = {"python_requested": e.python, "packages": list(e.requirements(spec.extra_pins)),
                             "variables": e.worker_variables(), "description": e.description, "facts": facts}
    started = run.get("started")
    wall = round(time.time() - started, 1) if isinstance(started, (int, float)) else None
    return ReportData(selection, resolve(selection, workdir), environments, run, wall)
