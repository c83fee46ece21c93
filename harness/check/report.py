"""The report of ``nox -s check``: one row per (environment, loader), failures with hints, exit status.

Built from the plan (``harness.check.check_plan.CheckPlan``) and the records its ``check_in``
sessions wrote; rendered as Markdown for people or JSON for machines (the same data).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from tabulate import tabulate

from harness.check import predictions, security_section, unjudged
from harness.check.check_plan import CheckPlan
from harness.report.escape import md_cell, md_code, md_text
from harness.report.hints import blocked_by_safe_mode, hint_for, normalize
from harness.report.model import silent_changes
from harness.report.results import Cell
from harness.worker.protocol import BUILD_ERROR, DRAWN_INPUTS_FAILED, WORKS_WITH
from harness.workdir import read_json, read_records

PASS, FAIL, BAD_INPUT = 0, 1, 2
NO_RESULT = "no result:"  # the reason of a planned cell that has no record
# Float-level drift: a target that loads and differs from the reference by at most this share of
# what the negative control's perturbed weights change, and of the outputs' scale (their largest
# |value|). Chosen, not measured: a TF 2.4.1 SavedModel (basic-pitch 0.4.0) in TF 2.10 differs by
# 4.8e-5 on outputs of order 1, where lost weights move outputs by a share of order 1.
DRIFT_SHARE_OF_CONTROL = 1e-2
DRIFT_SHARE_OF_SCALE = 1e-3
LEGEND = ("`of scale`: the largest difference over the largest |output| of the reference; `of control`: over the "
          "largest difference the negative control (the source's object with perturbed variables) made; "
          "`unproven`: a match no negative control backs; `drift`: loaded, differs beyond tolerance by float noise "
          "only.")
SAFE_MODE_LEGEND = {
    "on": "safe_mode refuses code stored in the file",
    "off": "safe_mode off (--unsafe): code stored in the file runs",
    "none": "this Keras has no safe_mode for this file: code stored in it (a Lambda layer) runs",
    "n/a": "the loader restores TF graphs and runs no Python from the file",
}


@dataclass
class Row:
    """One loader in one environment: its cell (verdict, differences, error) and what the check adds.

    ``reference`` is the source loader whose outputs a target was compared with; ``inputs`` are
    the source's; ``control`` (the negative control: the loaded object with perturbed variables,
    its ``verdict``, ``max_abs``...) and ``scale`` (the largest |output| of the reference, in the
    outputs' unit) are the source's for its own loader, and for a target those of its reference
    loader. ``strict`` is ``--strict`` (drift fails).
    """

    cell: Cell
    role: str
    safe_mode: str | None = None
    reference: str | None = None
    inputs: dict | None = None
    control: dict | None = None
    scale: float | None = None
    strict: bool = False

    @property
    def proven(self) -> bool:
        """The negative control mismatched, so a match here tells restored weights from lost ones."""
        return (self.control or {}).get("verdict") == "mismatch"

    @property
    def drift(self) -> bool:
        """A target that loads and differs beyond tolerance, but far below what lost weights give
        (see DRIFT_SHARE_OF_CONTROL and DRIFT_SHARE_OF_SCALE): float noise across versions."""
        diff, control = self.cell.max_abs, (self.control or {}).get("max_abs")
        return (self.role == "target" and self.cell.verdict == "mismatch" and self.proven and diff is not None
                and control is not None and self.scale is not None and math.isfinite(diff)
                and diff <= DRIFT_SHARE_OF_CONTROL * control and diff <= DRIFT_SHARE_OF_SCALE * self.scale)

    @property
    def verdict(self) -> str:
        """The cell's verdict, but ``drift`` for float-level drift and ``unproven`` for a target's
        pass whose negative control did not mismatch (it matched, or did not run)."""
        if self.drift:
            return "drift"
        if self.role == "target" and self.cell.verdict == "pass" and not self.proven:
            return "unproven"
        return self.cell.verdict

    def share(self, of: float | None) -> float | None:
        """The largest difference as a share of ``of`` (the outputs' scale, the control's difference)."""
        diff = self.cell.max_abs
        return None if diff is None or not of else diff / of

    @property
    def hint(self) -> str | None:
        if self.cell.works_with:  # what to do is the change that was seen to work (Works with a change)
            return None
        hint = hint_for(self.cell.signature) if self.cell.failed and not self.drift else None
        wrong = silent_changes([self.cell]) if self.cell.failed else None
        return " ".join(filter(None, (wrong, hint))) or None

    @property
    def blocked_by_safe_mode(self) -> bool:
        return self.cell.failed and blocked_by_safe_mode(self.cell.signature)

    @property
    def bad(self) -> bool:
        """Failed (drift only with --strict), or could not run (a target with nothing to compare is not a pass)."""
        if self.drift:
            return self.strict
        return self.cell.failed or self.cell.verdict in ("skipped", "bad-input", BUILD_ERROR, DRAWN_INPUTS_FAILED)

    def to_json(self) -> dict:
        return dict(self.cell.to_json(), verdict=self.verdict, cell_verdict=self.cell.verdict, role=self.role,
                    safe_mode=self.safe_mode, reference=self.reference, inputs=self.inputs, control=self.control,
                    scale=self.scale, share_of_scale=self.share(self.scale),
                    share_of_control=self.share((self.control or {}).get("max_abs")), hint=self.hint,
                    blocked_by_safe_mode=self.blocked_by_safe_mode,
                    signature=self.cell.signature if self.cell.failed else None)


@dataclass
class CheckResult:
    """Everything the report shows, and the exit status (0 pass or drift, 1 a target fails, works only
    with a change to the user's call, or the check is inconclusive, 2 bad input); ``verdict`` is the
    headline's word (``pass``, ``drift``, ``works-with``, ``inconclusive``, ``fail``, ``bad-input``,
    ``build-error``: the user's ``--build`` code raised in the source)."""

    plan: CheckPlan
    rows: list[Row]
    environments: dict[str, dict]
    verdicts: dict[str, str]
    status: int
    message: str
    verdict: str = "pass"
    security: dict | None = None  # harness.check.security_section.attach


def _rows(plan: CheckPlan, env: str) -> list[Row]:
    records = read_records(plan.files(env).results)
    env_error = next((r for r in records if r.get("scope") == "env"), None)
    by_id = {r["id"]: r for r in records if "id" in r}
    rows = []
    for cell in plan.cells(env):
        base = {k: cell[k] for k in ("id", "producer", "fixture", "format", "loader", "atol", "rtol")}
        base["consumer"] = env
        record = by_id.get(cell["id"])
        if env_error:
            rows.append(Row(Cell(verdict="env-error", reason=f"{env}: {env_error['reason']}",
                                 error_text=env_error.get("error_text"), **base), cell["role"]))
        elif record is None:
            rows.append(Row(Cell(verdict="skipped", reason=f"{NO_RESULT} the session check_in(env='{env}') "
                                 "did not run, or was interrupted", **base), cell["role"]))
        else:
            rows.append(Row(Cell.from_record(record, **base, consumer_device=record.get("device")), cell["role"],
                            record.get("safe_mode"), record.get("reference"), record.get("inputs"),
                            record.get("control"), record.get("scale")))
    return rows


def _link(rows: list[Row], plan: CheckPlan) -> None:
    """Give each target row the negative control and scale of the source loader it was compared with."""
    source = {r.cell.loader: r for r in rows if r.role == "reference"}
    for row in rows:
        row.strict = plan.strict
        if row.role == "target" and row.reference in source:
            row.control, row.scale = source[row.reference].control, source[row.reference].scale


def _env_verdict(rows: list[Row]) -> str:
    """A target's verdict over its loaders: ``works-with`` (every loader that failed as the user calls it
    loaded and matched with a change, seen in a real load), ``build-error`` (every loader that failed did
    so because the user's ``--build`` code raised there: the weights were not tried), ``fail`` (a loader
    failed, or none loaded and compared), ``inconclusive`` (a pass no negative control backs), ``drift``
    (failing the check under --strict), or ``pass``."""
    verdicts = {r.verdict for r in rows}
    bad = [r for r in rows if r.bad and not r.drift]
    if bad and all(r.verdict == WORKS_WITH for r in bad):
        return WORKS_WITH
    if bad and all(r.verdict == BUILD_ERROR for r in bad):
        return BUILD_ERROR
    if bad or not verdicts & {"pass", "drift", "unproven"}:
        return "fail"
    return "inconclusive" if "unproven" in verdicts else "drift" if "drift" in verdicts else "pass"


def _why_unproven(rows: list[Row]) -> str:
    reasons = []
    for row in rows:
        control = row.control or {}
        why = ("its negative control matched (the outputs do not depend on the weights on these inputs)"
               if control.get("verdict") == "pass" else f"its negative control did not run ({control['reason']})"
               if control.get("reason") else "no negative control ran")
        reasons.append(f"{row.cell.consumer} ({row.cell.loader}): {why}")
    return "; ".join(dict.fromkeys(reasons))


def build(plan: CheckPlan) -> CheckResult:
    """Resolve the check's records into rows, per-environment verdicts and the exit status."""
    rows = [row for env in plan.envs for row in _rows(plan, env)]
    _link(rows, plan)
    environments = {env: read_json(plan.files(env).facts) for env in plan.envs}
    source_rows = [r for r in rows if r.role == "reference"]
    references = [r for r in source_rows if r.cell.verdict == "reference"]
    bad_inputs = [r for r in rows if r.cell.verdict == "bad-input"]
    wrong_source = [r for r in source_rows if r.cell.verdict == "mismatch"]  # differs from --expected
    verdicts = {plan.source: "reference" if references and not wrong_source else "fail"}
    verdicts.update({env: _env_verdict([r for r in rows if r.cell.consumer == env]) for env in plan.targets})

    def result(status: int, verdict: str, message: str) -> CheckResult:
        return CheckResult(plan, rows, environments, verdicts, status, message, verdict)

    if bad_inputs and not references:
        return result(BAD_INPUT, "bad-input", f"bad input: {bad_inputs[0].cell.reason}")
    never_ran = [r for r in source_rows if r.cell.verdict == "skipped" and (r.cell.reason or "").startswith(NO_RESULT)]
    if source_rows and len(never_ran) == len(source_rows):  # nothing ran: no verdict on the file, not a FAIL of it
        why = ("the check was a --dry-run, which installs and runs nothing" if plan.dry_run
               else f"the session check_in(env='{plan.source}') did not run, or was interrupted")
        return result(FAIL, "inconclusive", f"NOT RUN: the source environment {plan.source} has no result ({why}), "
                      "so nothing was compared; run nox -s check on the file again"
                      + (" without --dry-run" if plan.dry_run else ""))
    blocked = [r for r in source_rows if r.blocked_by_safe_mode]
    if not references and not wrong_source and blocked:
        return result(FAIL, "fail", (
            f"FAIL: nothing could be compared: safe_mode blocked the source environment {plan.source} from loading "
            f"the file ({', '.join(r.cell.loader for r in blocked)}: it stores Python code, such as a Lambda layer). "
            "To check it, rerun with --unsafe, only if you trust the file"))
    source_failed = unjudged.source_failed(plan, source_rows) if not references and not wrong_source else None
    if source_failed:
        return result(FAIL, *source_failed)
    if not references and not wrong_source:
        return result(FAIL, "fail", f"FAIL: the source environment {plan.source} could not load the file and "
                      "predict, so nothing could be compared")
    unbuilt = [env for env in plan.targets if verdicts[env] == BUILD_ERROR]
    failing = [env for env in plan.targets if verdicts[env] in ("fail", BUILD_ERROR)]
    if wrong_source:
        worst = max(wrong_source, key=lambda r: r.cell.max_abs or 0)
        return result(FAIL, "fail", (
            f"FAIL: the source environment {plan.source} loads the file wrongly: its outputs differ from --expected "
            f"(max |Δ| {_number(worst.cell.max_abs)} with {worst.cell.loader}); the targets were compared with "
            f"--expected" + (f", and {len(failing)} of {len(plan.targets)} fail ({', '.join(failing)})" if failing
                             else "")))
    if failing:
        return result(FAIL, "fail", f"FAIL: {len(failing)} of {len(plan.targets)} targets fail ({', '.join(failing)})"
                      + (f"; {_changed_line(rows, plan)}" if any(verdicts[e] == WORKS_WITH for e in plan.targets)
                         else "") + (f"; in {', '.join(unbuilt)} --build {plan.build['text']} raised (build-error: "
                                     "your code does not run in that Keras, so its weights were not loaded there)"
                                     if unbuilt else ""))
    if any(verdicts[env] == WORKS_WITH for env in plan.targets):
        return result(FAIL, WORKS_WITH, f"WORKS WITH A CHANGE: {_changed_line(rows, plan)}")
    unproven = [r for r in rows if r.verdict == "unproven"]
    if unproven:
        envs = [env for env in plan.targets if verdicts[env] == "inconclusive"]
        matched = any((r.control or {}).get("verdict") == "pass" for r in unproven)
        return result(FAIL, "inconclusive", (
            f"INCONCLUSIVE: in {', '.join(envs)} the outputs match the source's, but no negative control backs "
            f"the match, so it cannot tell restored weights from lost ones: {_why_unproven(unproven)}"
            + ("; give --inputs on which the model's outputs depend on its weights" if matched else "")))
    drifting = [r for r in rows if r.verdict == "drift"]
    if drifting:
        worst = max(drifting, key=lambda r: r.cell.max_abs)
        figures = (f"max |Δ| {_number(worst.cell.max_abs)}, {_number(worst.share(worst.scale))} of the outputs' "
                   f"scale and {_number(worst.share(worst.control['max_abs']))} of what the negative control's "
                   "perturbed weights change")
        envs = ", ".join(env for env in plan.targets if verdicts[env] == "drift")
        if plan.strict:
            return result(FAIL, "fail", f"FAIL (--strict): in {envs} the outputs differ from the source's by "
                          f"float-level drift ({figures})")
        return result(PASS, "drift", (
            f"DRIFT: every target loads the file; in {envs} the outputs differ from the source's beyond "
            "tolerance, but only by "
            f"float-level drift ({figures}), far below what lost weights give. --strict fails on drift; "
            "--atol/--rtol set the tolerance"))
    return result(PASS, "pass", f"PASS: every target loads the file as your code calls it ({plan.call_text}) and "
                  "matches the source within tolerance, and each match is backed by a negative control "
                  f"({', '.join(plan.targets)})")


def call_with(plan: CheckPlan, change: str) -> str:
    """The user's call with a change applied: ``load_model(path)`` + ``compile=False`` ->
    ``load_model(path, compile=False)``."""
    call = plan.effective_call
    for part in change.split(", "):
        name, _, value = part.partition("=")
        call[name] = value == "True"
    return "load_model(path" + "".join(f", {name}={value}" for name, value in call.items()) + ")"


def _changed_line(rows: list[Row], plan: CheckPlan) -> str:
    """Where the user's call fails as written and which change was seen to work, one clause per target."""
    parts = []
    for row in rows:
        if row.role == "target" and row.verdict == WORKS_WITH:
            unsafe = " (unsafe: it lets code stored in the file run)" if row.cell.unsafe_change else ""
            parts.append(f"in {row.cell.consumer} {plan.call_text} raises {row.cell.error_type}: "
                         f"{row.cell.error_message}; {call_with(plan, row.cell.works_with)} loads and matches{unsafe}")
    return "; ".join(parts)


def _inputs_line(result: CheckResult) -> str:
    reference = next((r for r in result.rows if r.cell.verdict == "reference"), None)
    if reference is None:
        return result.plan.inputs or "none made (the source did not load the file)"
    shapes = ", ".join(f"{name} {dtype} {shape}" for name, (shape, dtype, *_) in (reference.inputs or {}).items())
    return f"{reference.cell.reason}: {shapes}"


def _control_line(result: CheckResult) -> str:
    parts = []
    for row in result.rows:
        if row.role != "reference":
            continue
        control = row.control or {}
        if control.get("verdict") == "mismatch":
            parts.append(f"{row.cell.loader}: seeded noise on its {control.get('variables', '?')} variables moves the "
                         f"outputs by up to {_number(control['max_abs'])} (as it must)")
        elif control.get("verdict") == "pass":
            parts.append(f"{row.cell.loader}: ‼ noise on its {control.get('variables', '?')} variables leaves the "
                         "outputs within tolerance: a match proves nothing")
        elif control:
            parts.append(f"{row.cell.loader}: not run ({control['reason']})")
    return "; ".join(parts) or "not run (the source did not load the file)"


def _tolerance_line(plan: CheckPlan) -> str:
    tolerances = {env: tuple(plan.tolerances.get(env, (plan.atol, plan.rtol))) for env in plan.envs}
    if len(set(tolerances.values())) == 1:
        atol, rtol = next(iter(tolerances.values()))
        return f"atol {atol:g}, rtol {rtol:g}"
    return "; ".join(f"{env}: atol {atol:g}, rtol {rtol:g}" for env, (atol, rtol) in tolerances.items())


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.3g}"


def render_markdown(result: CheckResult) -> str:
    """The report for people (GitHub Markdown)."""
    plan, found = result.plan, result.plan.file
    written = ", ".join(f"{k} {md_text(found[v])}" for k, v in (
        ("Keras", "keras_version"), ("TF", "tensorflow_version"), ("backend", "backend")) if found[v])
    facts = [
        ("file", f"{md_code(found['path'])} (format {md_code(found['format'])}, container "
                 f"{md_text(found['container'])})"),
        ("written by", f"{written or 'not recorded'}" + (f" ({md_text(found['evidence'])})" if found["evidence"]
                                                          else "")),
        ("source", f"{md_text(plan.source)}: {md_text(plan.source_why)}"),
        ("targets", f"{md_text(', '.join(plan.targets))} ({md_text(plan.targets_why)})"),
        ("inputs", md_text(_inputs_line(result))),
        ("negative control", md_text(_control_line(result))),
        ("call", f"{md_code(plan.call_text)}" + (" (Keras's defaults: it compiles where the file holds a compile "
                                                   "config, with safe_mode on; --call says how your code loads)"
                                                   if not plan.call else " (--call)")),
        ("custom objects", md_code(plan.custom_objects) if plan.custom_objects else "none"),
    ] + ([("build", f"{md_code(plan.build['text'])}: called with no arguments in every environment, then "
                    "`model.load_weights(path)` (--build)")] if plan.build else []) + [
        ("safe_mode", "on (Keras 3 `load_model(..., safe_mode=True)`; Keras 2 has it only for .keras files: "
                      "see the safe_mode column)" if plan.safe_mode else "off (--unsafe)"),
        ("expected outputs", f"{md_code(plan.expected)} (the source must reproduce them; targets are compared "
                             "with them)"
         if plan.expected else "none (targets are compared with the source's outputs)"),
        ("tolerance", _tolerance_line(plan) + " (drift: beyond tolerance but at most "
                      f"{DRIFT_SHARE_OF_SCALE:g} of the outputs' scale and {DRIFT_SHARE_OF_CONTROL:g} of the "
                      "control's difference" + ("; fails under --strict)" if plan.strict else ")")),
    ] + [("note", md_text(note)) for note in plan.notes]  # the file's own notes are among them (see check.plan)
    out = [f"# Check of {md_code(Path(found['path']).name)}", "", f"**{md_text(result.message)}**", ""]
    out += [f"- **{key}**: {value}" for key, value in facts] + [""]
    table = [[r.cell.consumer, r.role, r.cell.loader,
              r.verdict + (" (blocked by safe_mode)" if r.blocked_by_safe_mode else "")
              + ((f": {r.cell.works_with}" if r.verdict == WORKS_WITH else f" (with {r.cell.works_with})")
                 if r.cell.works_with else ""),
              _number(r.cell.max_abs), _number(r.cell.max_rel), _number(r.share(r.scale)),
              _number(r.share((r.control or {}).get("max_abs"))) if r.role == "target" else "", r.safe_mode or "",
              "" if r.cell.seconds is None else f"{r.cell.seconds:.1f}"] for r in result.rows]
    table = [[md_cell(value) for value in row] for row in table]
    out += [tabulate(table, headers=["environment", "role", "loader", "verdict", "max abs diff", "max rel diff",
                                     "of scale", "of control", "safe_mode", "seconds"], tablefmt="github"), ""]
    out += [LEGEND, ""]
    used = sorted({r.safe_mode for r in result.rows if r.safe_mode})
    if used:
        out += ["safe_mode: " + "; ".join(f"`{key}` {SAFE_MODE_LEGEND[key]}" for key in used) + ".", ""]
    changed = [r for r in result.rows if r.cell.works_with]
    if changed:
        out += ["## Works with a change", "", f"Your call as written, `{plan.call_text}`, failed here; each change "
                "below was tried in a real load of the file and loaded it with matching outputs.", ""]
        for row in changed:
            unsafe = " **Unsafe:** it lets code stored in the file run; only for files you trust." \
                if row.cell.unsafe_change else ""
            out += [f"- {row.cell.consumer} ({row.role}): `{plan.call_text}` raises "
                    f"{md_code(normalize(row.cell.signature))}; `{call_with(plan, row.cell.works_with)}` "
                    f"works.{unsafe}"]
        out += [""]
    groups: dict[tuple, list[Row]] = {}
    for row in result.rows:
        if row.bad and row.verdict != WORKS_WITH:
            detail = normalize(row.cell.signature) if row.cell.error_type else row.cell.reason or ""
            groups.setdefault((row.verdict, detail), []).append(row)
    if groups:
        out += ["## Failures", ""]
    for (verdict, detail), rows in groups.items():
        first = rows[0]
        out += [f"### {md_text(verdict)} in {md_text(', '.join(f'{r.cell.consumer} ({r.cell.loader})' for r in rows))}",
                "", md_code(detail) if first.cell.error_type else md_text(detail), ""]
        if first.blocked_by_safe_mode:
            out += [("safe_mode refused code stored in the file; no incompatibility was found before it. With "
                     "--unsafe the load goes on (and may still fail further on)."), ""]
        if first.hint:
            out += [f"What to do: {first.hint}", ""]
    unsupported = [r for r in result.rows if r.cell.verdict == "unsupported"]
    if unsupported:
        out += ["## Loaders that do not apply", ""]
        out += [f"- {md_text(f'{r.cell.consumer} / {r.cell.loader}: {r.cell.reason}')}" for r in unsupported] + [""]
    out += predictions.markdown(result)
    out += security_section.markdown(result)
    out += ["## Environments", ""]
    keys = ("python", "tensorflow", "keras", "keras_flavor", "backend", "device")
    out += [tabulate([[md_cell(v) for v in [env] + [facts.get(k, "?") for k in keys]]
                      for env, facts in result.environments.items()],
                     headers=["env", *keys], tablefmt="github"), ""]
    return "\n".join(out)


def render_json(result: CheckResult) -> str:
    """The same report for machines."""
    plan = result.plan
    return json.dumps({
        "status": result.status, "verdict": result.verdict, "message": result.message, "file": plan.file,
        "architecture": plan.architecture, "source": {"env": plan.source, "why": plan.source_why},
        "targets": {"envs": plan.targets, "why": plan.targets_why}, "verdicts": result.verdicts,
        "inputs": plan.inputs, "custom_objects": plan.custom_objects, "build": plan.build, "safe_mode": plan.safe_mode,
        "tolerance": {"atol": plan.atol, "rtol": plan.rtol, "environments": plan.tolerances},
        "expected": plan.expected, "strict": plan.strict, "notes": plan.notes,
        "rows": [row.to_json() for row in result.rows], "environments": result.environments,
        "security": security_section.to_json(result), "known_failures": predictions.to_json(result),
    }, indent=1, default=str)
