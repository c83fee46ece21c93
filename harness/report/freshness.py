"""How much of a run's selection is filled, and how old each part is (``--budget`` runs fill it over nights).

A *part* is one phase of one environment: ``produce`` of a producer (its row of saves) or ``consume``
of a consumer (its column of loads). Its age is that of its records: ``recorded_at`` where the cache
stamped it (``harness.execute.incremental.archive``: when it first ran), else the end of the phase's
last run (``stats.json``'s ``ended``), both epoch seconds.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from harness.execute.plan import Selection
from harness.workdir import PhaseFiles, read_json


@dataclass(frozen=True)
class Part:
    """One phase of one environment: ``records`` it holds, and the oldest and newest of their times
    (epoch seconds; None where it holds none)."""

    phase: str
    env: str
    records: int
    oldest: float | None
    newest: float | None

    def age_s(self, now: float) -> float | None:
        """Seconds since its oldest record was made (None where it has none)."""
        return None if self.oldest is None else max(0.0, now - self.oldest)


def parts(selection: Selection, workdir: Path) -> list[Part]:
    """Every selected phase's :class:`Part`, producers' first, in the selection's order."""
    out = []
    for phase in ("produce", "consume"):
        for env in selection.envs:
            if not selection.runs(phase, env):
                continue
            files = PhaseFiles(workdir, phase, env)
            ended = read_json(files.stats).get("ended")
            times = [t for r in files.records() for t in [r.get("recorded_at", ended)]
                     if isinstance(t, (int, float)) and not isinstance(t, bool)]
            out.append(Part(phase, env, len(files.records()), min(times, default=None), max(times, default=None)))
    return out


def human(seconds: float | None) -> str:
    """``seconds`` as a reader says it: "40 s", "12 min", "5.0 h", "3.2 days"; "never" for None."""
    if seconds is None:
        return "never"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def summary(filled: int, total: int, found: list[Part], now: float | None = None) -> list[str]:
    """Lines for the run's log: how many of the ``total`` cells are ``filled`` (have a result), the parts
    that have no record yet, and the oldest part."""
    now = time.time() if now is None else now
    lines = [f"filled: {filled} of {total} cells ({100 * filled / total if total else 100:.0f}%)"]
    empty = [f"{p.phase} {p.env}" for p in found if not p.records]
    if empty:
        lines.append(f"not run yet: {', '.join(empty)}")
    aged = [p for p in found if p.oldest is not None]
    if aged:
        oldest = min(aged, key=lambda p: p.oldest)
        newest = max(aged, key=lambda p: p.newest)
        lines.append(f"oldest records: {oldest.phase} {oldest.env}, {human(oldest.age_s(now))} old; newest: "
                     f"{newest.phase} {newest.env}, {human(max(0.0, now - newest.newest))} old")
    return lines
