"""The ``results.json`` of an earlier run, read and checked enough to use: what ``--compare`` (the history,
``harness.report.history``) and the trend page (``harness.report.trend``) read; and a run's start time
as they show it."""
from __future__ import annotations

import datetime
import math
from pathlib import Path

from harness.errors import HarnessError
from harness.guard import loads, read_text
from harness.worker.catalog import format_problem

# The fields every cell has, as strings.
CELL_KEYS = ("id", "producer", "consumer", "fixture", "format", "loader", "verdict")
# The other fields a comparison reads, each with the type it must have where it is not null.
NUMBER = (int, float)
TYPES = {str: "a string", NUMBER: "a number", dict: "an object", list: "a list"}
TOP_FIELDS = {"run": dict, "environments": dict}
ENV_FIELDS = {"facts": dict, "packages": list}
CELL_FIELDS = {"reason": str, "error_type": str, "error_message": str, "original_verdict": str,
               "margin": NUMBER, "max_abs": NUMBER, "levels": dict}
LEVEL_FIELDS = {"verdict": str, "reason": str, "max_abs": NUMBER}


class HistoryError(HarnessError):
    """The previous results cannot be compared with: the message names the path and what is wrong."""


class NoPrevious(HistoryError):
    """The previous results file does not exist (the first night of a history)."""


def read_results(path: Path) -> dict:
    """The ``results.json`` of an earlier run, checked enough to compare with.

    Raises:
        NoPrevious: no file at ``path``.
        HistoryError: unreadable, not JSON, or not a results.json of this harness (no ``cells`` list whose
            entries have ``id``, ``producer``, ``consumer``, ``fixture``, ``format``, ``loader``, ``verdict``).
    """
    path = Path(path)
    where = f"--compare {path}"
    if not path.exists():
        raise NoPrevious(f"{where}: no such file; nothing to compare with (the first night of a history?)")
    try:
        data = loads(read_text(path, "--compare"))  # a FIFO is refused; nesting too deep is a ValueError too
    except OSError as exc:
        raise HistoryError(f"{where}: cannot read it ({exc.strerror})") from None
    except ValueError as exc:
        raise HistoryError(f"{where}: not JSON ({exc}); give the results.json of an earlier run") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise HistoryError(f"{where}: not a results.json of keras-compat-matrix (no 'cells' list)")
    _numbers_back(data)
    problem = results_problem(data)
    if problem:
        raise HistoryError(f"{where}: {problem}; not a results.json of this harness (or of an incompatible version)")
    return data


NAMED_NUMBERS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _numbers_back(data: dict) -> None:
    """The numbers results.json names (``harness.report.escape.strict_json`` writes NaN as ``"NaN"``) made
    floats again, in the fields a comparison reads as numbers."""
    for cell in data["cells"]:
        for mapping in [cell] + list((cell.get("levels") or {}).values() if isinstance(cell, dict) and
                                     isinstance(cell.get("levels"), dict) else []):
            if not isinstance(mapping, dict):
                continue
            for key in ("margin", "max_abs", "max_rel", "atol", "rtol", "seconds"):
                value = mapping.get(key)
                if isinstance(value, str) and value in NAMED_NUMBERS:
                    mapping[key] = NAMED_NUMBERS[value]


def _wrong_type(mapping: dict, types: dict, where: str) -> str | None:
    """``where.KEY: expected …, got …`` for the first key of ``types`` whose value in ``mapping`` is
    neither null nor of its type (``TYPES``); None when every one is."""
    for key, kind in types.items():
        value = mapping.get(key)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            return f"{where}{key}: expected {TYPES[kind]}, got {value!r:.60}"
    return None


def results_problem(data: dict) -> str | None:
    """What in a results.json object (with a ``cells`` list) a comparison or the trend page cannot read,
    with its key path (``cells[3] lacks verdict``, ``cells[3].margin: expected a number, got '0.1'``,
    ``cells[3]: format 'x' is none of h5, ...``);
    None when every field it reads is there with its type."""
    problem = _wrong_type(data, TOP_FIELDS, "")
    for name, env in (data.get("environments") or {}).items() if not problem else ():
        where = f"environments.{name}"
        problem = problem or _wrong_type({name: env}, {name: dict}, "environments.") \
            or _wrong_type(env or {}, ENV_FIELDS, f"{where}.") \
            or next((f"{where}.packages: expected strings, got {p!r:.60}"
                     for p in (env or {}).get("packages") or [] if not isinstance(p, str)), None)
    for index, cell in enumerate(data["cells"]):
        if problem:
            return problem
        missing = [k for k in CELL_KEYS if not isinstance(cell, dict) or not isinstance(cell.get(k), str)]
        if missing:
            return f"cells[{index}] lacks {', '.join(missing)}"
        if format_problem(cell["format"]):  # an old name (weights_h5) is known: it reads as its format now
            return f"cells[{index}]: {format_problem(cell['format'])}"
        problem = _wrong_type(cell, CELL_FIELDS, f"cells[{index}].")
        for level, found in (cell.get("levels") or {}).items() if not problem else ():
            problem = problem or _wrong_type({level: found}, {level: dict}, f"cells[{index}].levels.") \
                or _wrong_type(found, LEVEL_FIELDS, f"cells[{index}].levels.{level}.")
    return problem


def run_started(results: dict) -> float | None:
    """``run.started`` of a results.json, where it is a time ``when`` can show; else None."""
    started = (results.get("run") or {}).get("started")
    return started if isinstance(started, (int, float)) and when(started) != "?" else None


def when(started: float | None) -> str:
    """A run's start as ``2026-11-29 09:35 UTC`` (``?`` when unknown)."""
    if started is None or not math.isfinite(started):
        return "?"
    try:
        return datetime.datetime.fromtimestamp(started, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    except (OverflowError, OSError, ValueError):  # a time beyond the years 1 to 9999
        return "?"
