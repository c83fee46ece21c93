"""The worker's protocol, declared once: the keys of a task file, the fields of a record, the verdicts.

A task file (JSON) goes from the host (``harness.execute.supervisor``, ``harness.check.steps``) to the
worker; the worker answers with one JSON record a cell, appended to the task's results file. Both
sides import this module: the worker by path (standard library only, Python 3.7 syntax), the host as
``harness.worker.protocol`` (``harness.report.results`` checks every record it reads against it).
"""

# ------------------------------------------------------------------ the task
# Keys every task has, whatever its phase: the supervisor adds the last four to the phase's own.
TASK_KEYS = ("phase", "env", "seed", "cells", "results_path", "progress_path", "facts_path", "stop_path")
# Keys of a phase's own. ``device``: "gpu" makes a worker whose TensorFlow sees none exit EXIT_NO_GPU.
# ``call``: the keyword arguments of the user's own load_model call (check's --call), or None.
# ``build``: check's --build, ``{"text", "path", "module", "root", "function"}`` (harness.check.user_build), or None.
PHASE_TASK_KEYS = {
    "produce": ("device", "fixtures", "artifacts_dir"),
    "consume": ("device", "fixtures", "artifacts_dir"),
    "check": ("path", "container", "architecture", "inputs", "expected", "custom_objects", "safe_mode", "call",
              "reference_dir", "build"),
}


def task_problem(task):
    """What is wrong with a task's keys (missing or unknown for its phase), or None."""
    phase = task.get("phase")
    if phase not in PHASE_TASK_KEYS:
        return "phase {!r} is none of {}".format(phase, ", ".join(PHASE_TASK_KEYS))
    wanted = set(TASK_KEYS) | set(PHASE_TASK_KEYS[phase])
    missing, unknown = sorted(wanted - set(task)), sorted(set(task) - wanted)
    problems = (["lacks " + ", ".join(missing)] if missing else []) + \
        (["has unknown keys " + ", ".join(unknown)] if unknown else [])
    return "a {} task {}".format(phase, "; ".join(problems)) if problems else None

# --------------------------------------------------------------- the verdicts
PASS, WORKS_WITH, MISMATCH, LOAD_ERROR = "pass", "works-with", "mismatch", "load-error"
# A consume or check cell's verdict, as the worker writes it. ``works-with``: the call as written
# failed (its error is the record's), and a change to it (``works_with``) loaded and matched in a
# real load here; ``workarounds`` lists every change tried, in order, and what each did.
CELL_VERDICTS = (PASS, WORKS_WITH, MISMATCH, LOAD_ERROR, "unsupported")
# A produce cell's.
SAVE_VERDICTS = ("saved", "save-error", "unsupported")
# A check cell's own: the source's recorded reference, and inputs that do not fit the model;
# ``build-error``: the user's ``--build`` code raised in this environment (importing or calling it), so
# the weights were not loaded (apart from a ``load-error`` of the weights themselves);
# ``drawn-inputs-failed``: the source loaded the file but could not predict on the inputs the check drew
# for it (no verdict on the file: the check is inconclusive; its record's ``inputs`` names them).
BUILD_ERROR, DRAWN_INPUTS_FAILED = "build-error", "drawn-inputs-failed"
CHECK_VERDICTS = ("reference", "bad-input", "skipped", BUILD_ERROR, DRAWN_INPUTS_FAILED)
# A deeper check level's verdict (levels.py).
LEVEL_VERDICTS = (PASS, MISMATCH, LOAD_ERROR, "unsupported")
# A check's negative control (the source's object with perturbed variables): it must mismatch.
CONTROL_VERDICTS = (MISMATCH, PASS, "not-run")
# What the supervisor writes for a cell or an environment its worker could not finish.
SUPERVISOR_VERDICTS = ("crash", "timeout", "env-error")
# Verdicts only the report gives (an expected_failures entry's, a cell that never ran).
REPORT_VERDICTS = ("skipped", "xfail", "xpass")

# ------------------------------------------------------------ a record's fields
TEXT_FIELDS = ("id", "producer", "consumer", "fixture", "format", "loader", "artifact", "reason", "error_type",
               "error_message", "error_text", "device", "container", "note", "works_with")
NUMBER_FIELDS = ("max_abs", "max_rel", "margin", "atol", "rtol", "seconds", "variables_assigned", "variables_total")
# A load that makes a model and reads weights into it (catalog.WEIGHTS_LOADERS) records how many of the
# model's float variables the read assigned (``variables_assigned``) of those it holds (``variables_total``,
# formats.assignment): one that assigned fewer fails, a ``load-error`` at stage ``assign``
# (``IncompleteLoad``) where its outputs matched, else a ``mismatch`` saying so. Records before 2026-12-07
# have neither field (nothing was counted).
# One entry of a record's ``workarounds`` list: the change tried and what the load with it did.
WORKAROUND_FIELDS = ("change", "verdict", "max_abs", "error_type", "error_message")
# What a saved model holds (holds.py): ``{"layers": [class names], "traits": [names of holds.TRAITS]}``, in a
# produce record and, copied from the artifact's manifest, in a consume record; absent or None where unknown.
HOLDS_FIELD = "holds"
HOLDS_KEYS = ("layers", "traits")


def holds_problem(value):
    """What is wrong with a record's ``holds`` (None is fine: unknown), or None."""
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != set(HOLDS_KEYS) or not all(
            isinstance(value[key], list) and all(isinstance(name, str) for name in value[key]) for key in HOLDS_KEYS):
        return "holds is not {\"layers\": [names], \"traits\": [names]}"
    return None


def assignment_problem(record, verdict):
    """What makes a record's count of assigned variables contradict its verdict, or None: a count that is
    not two whole numbers with assigned at most held, or a pass whose load left variables unassigned."""
    assigned, total = record.get("variables_assigned"), record.get("variables_total")
    if assigned is None and total is None:
        return None
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in (assigned, total)) \
            or assigned > total:
        return "variables_assigned {!r} of variables_total {!r} is no count of a load".format(assigned, total)
    if verdict == PASS and assigned < total:
        return ("a pass whose load assigned {} of {} variables: the rest kept the values they were built "
                "with, so it is no pass".format(assigned, total))
    return None
