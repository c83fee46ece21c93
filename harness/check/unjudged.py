"""Why a check's source made no reference outputs for a reason that is no verdict on the user's file.

Read by :mod:`harness.check.report` (the headline). Two such reasons, from the worker's verdicts
(``harness/worker/protocol.py``): the source loaded the file but could not predict on the inputs the
check drew for it (``drawn-inputs-failed``: the check is INCONCLUSIVE, naming those inputs), and the
user's ``--build`` code raised there (``build-error``).
"""
from __future__ import annotations

from harness.worker.protocol import BUILD_ERROR, DRAWN_INPUTS_FAILED


def inputs_text(inputs: dict | None) -> str:
    """``{name: [shape, dtype, [least, greatest] or None]}`` (a check record's ``inputs``) as one phrase:
    ``input_1 float32 [4, 21] in [-2.61, 2.32]; ...``."""
    parts = []
    for name, (shape, dtype, *rest) in (inputs or {}).items():
        bounds = rest[0] if rest and rest[0] else None
        parts.append(f"{name} {dtype} {shape}" + (f" in [{bounds[0]:.3g}, {bounds[1]:.3g}]" if bounds else ""))
    return "; ".join(parts) or "none recorded"


def source_failed(plan, source_rows: list) -> tuple[str, str] | None:
    """``(headline verdict, message)`` where the source (``plan``, a CheckPlan) made no reference for
    a reason that is no verdict on the file, from its report rows; else None."""
    drawn = next((r for r in source_rows if r.cell.verdict == DRAWN_INPUTS_FAILED), None)
    if drawn is not None:
        return "inconclusive", (
            f"INCONCLUSIVE: the source environment {plan.source} loaded the file, but predicting on the inputs the "
            f"check drew for it failed ({inputs_text(drawn.inputs)}: {drawn.cell.error_type}: "
            f"{drawn.cell.error_message}); nothing was compared, so nothing is known against the file: give "
            "--inputs with inputs your model takes")
    unbuilt = next((r for r in source_rows if r.cell.verdict == BUILD_ERROR), None)
    if unbuilt is not None:
        return BUILD_ERROR, (f"FAIL: --build {(plan.build or {}).get('text')} raised in the source environment "
                             f"{plan.source} ({unbuilt.cell.error_type}: {unbuilt.cell.error_message}), so nothing "
                             "could be compared")
    return None
