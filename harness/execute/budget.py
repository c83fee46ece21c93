"""``--budget SECONDS``: a run stops starting work when its time is nearly spent, and the next carries on.

The budget counts from the run's start (``started`` in ``<workdir>/run.json``, written by the plan
session). Past its *deadline* (the start plus the budget less :data:`MARGIN_S`) no phase starts (no
install, no worker) and a running worker is asked to stop before its next cell (the ``files.stop`` file
the worker reads between cells, as when a phase widens), so the cell it is on still ends with its
record. Every record made stays in the results and is archived with its key
(``harness.execute.incremental``): the next run reuses it, and runs only the cells without one.
"""
from __future__ import annotations

import time
from pathlib import Path

from harness.workdir import WorkDir, read_json

# No phase or cell starts with less than this left (seconds): a worker imports TensorFlow or JAX first
# (13 to 29 s here, measured), and the cell it is on then still has to end. An assumed figure.
MARGIN_S = 60.0


def deadline(workdir: Path, budget_s: float | None) -> float | None:
    """When (epoch seconds) the run of ``workdir`` stops starting work, or None without a budget or
    without a recorded start (a phase run alone before any plan)."""
    if budget_s is None:
        return None
    started = read_json(WorkDir(workdir).run).get("started")
    if not isinstance(started, (int, float)) or isinstance(started, bool):
        return None
    return float(started) + budget_s - MARGIN_S


def spent(when: float | None, now: float | None = None) -> bool:
    """Whether the deadline ``when`` (from :func:`deadline`) has passed."""
    return when is not None and (time.time() if now is None else now) >= when
