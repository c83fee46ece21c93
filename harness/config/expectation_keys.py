"""What an ``expected_failures`` entry expects: its ``verdict``, ``error``, ``max_abs``, ``level`` and ``phase``.

Checked here, after the schema (``harness/config/matrix.schema.json``) and before a run, so a
wrong entry is one line naming its key path instead of a run that converts the wrong cells:

- ``phase``: ``consume`` (default; loading a producer's file) or ``produce`` (saving it).
  A produce entry names no ``consumer``, ``loader``, ``level`` or ``python`` (saving has none).
- ``verdict``: what the cells' own verdict is. Consume entries: ``load-error`` (default),
  ``works-with`` (the call as users write it fails, a change to it works: the entry's error is the
  call's), ``mismatch``, ``crash``, ``timeout``; produce entries: ``save-error`` (default), ``crash``,
  ``timeout``. A ``load-error`` entry also explains a ``works-with`` cell with its error (the call
  fails either way); a ``works-with`` entry explains no ``load-error``: a change that stopped working
  is news.
- ``error``: a regular expression (Python ``re``) searched in the cell's error signature,
  ``Type: message`` (``harness.report.results.Cell.signature``). Required for ``load-error`` and
  ``save-error`` entries (which error they explain is the point of the entry); a mismatch
  has no error to match, so a mismatch entry gives ``max_abs`` instead; or ``error``, searched in the reason
  of a mismatch whose size says nothing: outputs of another shape, or a weights load that assigned fewer
  variables than the model holds (``mismatch: the load assigned 0 of 313 variables; ...``).
  A mismatch at ``level: compile`` (the optimizer, its step count, the loss: no number to band) gives
  ``error`` instead, searched in the level's reason, e.g. ``optimizer Adam at iteration 0, expected Adam at 3``.
- ``max_abs``: for ``verdict: mismatch`` only, the band of the largest absolute output
  difference it explains (the outputs' unit): a number ``N`` means ``[0, N]``, a list
  ``[LOW, HIGH]`` the closed interval. A drift outside it is news, not the known failure.
- ``level``: the check level whose failures the entry explains (``outputs``, the default,
  ``weights``, ``compile`` or ``training``, the schema's enum; consume entries only).
- ``layers`` / ``traits``: what the producer's model holds, read from its config
  (``harness/worker/holds.py``): layer class names (``[GRU, LSTM]``) and traits (``[time_major]``, one of
  ``holds.TRAITS``). The entry covers a model that holds any listed layer or shows any listed trait (either
  is the cause it names); it names no ``fixture`` or ``tags`` beside them (the cause is what the model holds,
  not which fixture holds it).
"""
from __future__ import annotations

import math
import re

from harness.worker.holds import TRAITS

PHASES = ("consume", "produce")
VERDICTS = {"consume": ("load-error", "works-with", "mismatch", "crash", "timeout"),
            "produce": ("save-error", "crash", "timeout")}
NEEDS_ERROR = frozenset({"load-error", "works-with", "save-error"})


def verdict_of(entry: dict) -> str:
    """The entry's ``verdict``, or its phase's default (``load-error``; ``save-error`` when saving)."""
    return entry.get("verdict") or VERDICTS[entry.get("phase", "consume")][0]


def band(value) -> tuple[float, float] | None:
    """``max_abs`` as a closed interval ``(low, high)``: a number N is ``(0, N)``; None stays None."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return 0.0, float(value)
    return float(value[0]), float(value[1])


def problem(where: str, entry: dict) -> str | None:
    """The first thing wrong with these keys of one entry (``where``: ``expected_failures[3]``), or None.

    The schema has already checked the keys' types and enums; this checks how they fit together.
    """
    phase = entry.get("phase", "consume")
    verdict = verdict_of(entry)
    if verdict not in VERDICTS[phase]:
        return (f"{where}.verdict: {verdict!r} is not a verdict of the {phase} phase "
                f"(one of {', '.join(VERDICTS[phase])})")
    if phase == "produce":
        extra = [key for key in ("consumer", "loader", "level", "python") if key in entry]
        if extra:
            return f"{where}.{extra[0]}: an entry with phase: produce explains saving, which has no {extra[0]}"
    elif "consumer" not in entry:
        return f"{where}: consumer is missing (a requirement like \"keras<3\" the loading environment satisfies)"
    unknown = [trait for trait in entry.get("traits") or () if trait not in TRAITS]
    if unknown:
        return f"{where}.traits: {unknown[0]!r} is not a trait (one of {', '.join(TRAITS)})"
    if ("layers" in entry or "traits" in entry) and ("fixture" in entry or "tags" in entry):
        named = "fixture" if "fixture" in entry else "tags"
        return (f"{where}.{named}: an entry keyed by what a model holds (layers/traits) names no {named}: "
                "its cause is the layer or trait, whichever fixture or user's model holds it")
    error = entry.get("error")
    if error is not None:
        try:
            re.compile(error)
        except re.error as exc:
            return f"{where}.error: {error!r} is not a regular expression ({exc})"
    level = entry.get("level", "outputs")
    if verdict == "mismatch" and error is not None and "max_abs" in entry:
        return (f"{where}.error: a mismatch entry gives max_abs (the band of its drift) or error (searched in the "
                "reason of outputs that could not be compared, such as another shape), not both")
    if verdict == "mismatch" and level == "compile" and error is None:
        return (f"{where}: a compile-level mismatch has no drift to band; give error, a regular expression "
                "searched in the level's reason (like \"at iteration 0\")")
    if verdict in NEEDS_ERROR and error is None:
        return (f"{where}: error is missing: a {verdict} entry names the error its cells raise (a regular "
                "expression searched in 'Type: message', like \"batch_shape\")")
    if level != "outputs" and verdict not in ("mismatch", "load-error"):
        return f"{where}.level: a deeper level fails as a mismatch or a load-error, not {verdict}"
    if "max_abs" in entry:
        if verdict != "mismatch":
            return f"{where}.max_abs: only a verdict: mismatch entry has a max_abs band (this one expects {verdict})"
        low, high = band(entry["max_abs"])
        if not (math.isfinite(low) and math.isfinite(high)) or low > high:
            return (f"{where}.max_abs: expected a number or [LOW, HIGH] with 0 <= LOW <= HIGH, finite, "
                    f"got {entry['max_abs']!r}")
    return None
