"""The report of ``nox -s check``: one row per (environment, loader), failures with hints, exit status.

Built from the plan (``harness.check_plan.CheckPlan``) and the records its ``check_in``
sessions wrote; rendered as Markdown for people or JSON for machines (the same data).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tabulate import tabulate

from harness.check_plan import CheckPlan
from harness.hints import blocked_by_safe_mode, hint_for, normalize
from harness.report import security as security_report
from harness.report.model import read_json
from harness.results import Cell, read_records

PASS, FAIL, BAD_INPUT = 0, 1, 2
SAFE_MODE_LEGEND = {
    "on": "safe_mode refuses code stored in the file",
    "off": "safe_mode off (--unsafe): code stored in the file runs",
    "none": "this Keras has no safe_mode for this file: code stored in it (a Lambda layer) runs",
    "n/a": "the loader restores TF graphs and runs no Python from the file",
}


@dataclass
class Row:
    """One loader in one environment: its cell (verdict, differences, error) and what the check adds.

    ``reference`` is the source loader whose outputs a target was compared with;
    ``inputs`` and ``control`` (the fresh-weights negative control) are the source's.
    """

    cell: Cell
    role: str
    safe_mode: str | None = None
    reference: str | None = None
    inputs: dict | None = None
    control: dict | None = None

    @property
    def hint(self) -> str | None:
        return hint_for(self.cell.signature) if self.cell.failed else None

    @property
    def blocked_by_safe_mode(self) -> bool:
        return self.cell.failed and blocked_by_safe_mode(self.cell.signature)

    @property
    def bad(self) -> bool:
        """Failed, or could not run (a target with nothing to compare is not a pass)."""
        return self.cell.failed or self.cell.verdict in ("skipped", "bad-input")

    def to_json(self) -> dict:
        return dict(self.cell.to_json(), role=self.role, safe_mode=self.safe_mode, reference=self.reference,
                    inputs=self.inputs, control=self.control, hint=self.hint,
                    blocked_by_safe_mode=self.blocked_by_safe_mode,
                    signature=self.cell.signature if self.cell.failed else None)


@dataclass
class CheckResult:
    """Everything the report shows, and the exit status (0 pass, 1 a target fails, 2 bad input)."""

    plan: CheckPlan
    rows: list[Row]
    environments: dict[str, dict]
    verdicts: dict[str, str]
    status: int
    message: str
    security: dict | None = None  # harness.report.security.attach


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
            rows.append(Row(Cell(verdict="skipped", reason=f"no result: the session check_in(env='{env}') "
                                 "did not run, or was interrupted", **base), cell["role"]))
        else:
            rows.append(Row(Cell.from_record(record, **base, consumer_device=record.get("device")), cell["role"],
                            record.get("safe_mode"), record.get("reference"), record.get("inputs"),
                            record.get("control")))
    return rows


def build(plan: CheckPlan) -> CheckResult:
    """Resolve the check's records into rows, per-environment verdicts and the exit status."""
    rows = [row for env in plan.envs for row in _rows(plan, env)]
    environments = {env: read_json(plan.files(env).facts) for env in plan.envs}
    references = [r for r in rows if r.cell.verdict == "reference"]
    bad_inputs = [r for r in rows if r.cell.verdict == "bad-input"]
    verdicts = {plan.source: "reference" if references else "fail"}
    for env in plan.targets:
        mine = [r for r in rows if r.cell.consumer == env]
        ok = any(r.cell.verdict == "pass" for r in mine) and not any(r.bad for r in mine)
        verdicts[env] = "pass" if ok else "fail"
    failing = [env for env in plan.targets if verdicts[env] == "fail"]
    if bad_inputs and not references:
        return CheckResult(plan, rows, environments, verdicts, BAD_INPUT, f"bad input: {bad_inputs[0].cell.reason}")
    if not references:
        message = (f"FAIL: the source environment {plan.source} could not load the file and predict, "
                   "so nothing could be compared")
        return CheckResult(plan, rows, environments, verdicts, FAIL, message)
    if failing:
        message = f"FAIL: {len(failing)} of {len(plan.targets)} targets fail ({', '.join(failing)})"
        return CheckResult(plan, rows, environments, verdicts, FAIL, message)
    if any((r.control or {}).get("verdict") == "pass" for r in references):
        message = ("INCONCLUSIVE: the targets match, but so does the same architecture with fresh weights (the "
                   "negative control), so a match cannot tell restored weights from random ones; give --inputs "
                   "on which the model's outputs depend on its weights")
        return CheckResult(plan, rows, environments, verdicts, FAIL, message)
    return CheckResult(plan, rows, environments, verdicts, PASS,
                       f"PASS: every target loads the file and matches the source within tolerance "
                       f"({', '.join(plan.targets)})")


def _inputs_line(result: CheckResult) -> str:
    reference = next((r for r in result.rows if r.cell.verdict == "reference"), None)
    if reference is None:
        return result.plan.inputs or "none made (the source did not load the file)"
    shapes = ", ".join(f"{name} {dtype} {shape}" for name, (shape, dtype) in (reference.inputs or {}).items())
    return f"{reference.cell.reason}: {shapes}"


def _control_line(result: CheckResult) -> str:
    parts = []
    for row in result.rows:
        control = row.control or {}
        if control.get("verdict") == "mismatch":
            parts.append(f"{row.cell.loader}: fresh weights differ from the reference by up to "
                         f"{_number(control['max_abs'])} (as they must)")
        elif control.get("verdict") == "pass":
            parts.append(f"{row.cell.loader}: ‼ fresh weights MATCH the reference: a pass proves nothing")
        elif control:
            parts.append(f"{row.cell.loader}: not run ({control['reason']})")
    return "; ".join(parts) or "not run (the source did not load the file)"


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.3g}"


def render_markdown(result: CheckResult) -> str:
    """The report for people (GitHub Markdown)."""
    plan, found = result.plan, result.plan.file
    written = ", ".join(f"{k} {found[v]}" for k, v in (("Keras", "keras_version"), ("TF", "tensorflow_version"),
                                                        ("backend", "backend")) if found[v])
    facts = [
        ("file", f"`{found['path']}` (format `{found['format']}`, container {found['container']})"),
        ("written by", f"{written or 'not recorded'}" + (f" ({found['evidence']})" if found["evidence"] else "")),
        ("source", f"{plan.source}: {plan.source_why}"),
        ("targets", f"{', '.join(plan.targets)} ({plan.targets_why})"),
        ("inputs", _inputs_line(result)),
        ("negative control", _control_line(result)),
        ("custom objects", plan.custom_objects or "none"),
        ("safe_mode", "on (Keras 3 `load_model(..., safe_mode=True)`; Keras 2 has it only for .keras files: "
                      "see the safe_mode column)" if plan.safe_mode else "off (--unsafe)"),
        ("tolerance", f"atol {plan.atol:g}, rtol {plan.rtol:g}"),
    ] + [("note", note) for note in plan.notes + list(found["notes"])]
    out = [f"# Check of `{Path(found['path']).name}`", ""] + [f"- **{key}**: {value}" for key, value in facts]
    out += ["", f"**{result.message}**", ""]
    table = [[r.cell.consumer, r.role, r.cell.loader,
              r.cell.verdict + (" (blocked by safe_mode)" if r.blocked_by_safe_mode else ""),
              _number(r.cell.max_abs), _number(r.cell.max_rel), r.safe_mode or "",
              "" if r.cell.seconds is None else f"{r.cell.seconds:.1f}"] for r in result.rows]
    out += [tabulate(table, headers=["environment", "role", "loader", "verdict", "max abs diff", "max rel diff",
                                     "safe_mode", "seconds"], tablefmt="github"), ""]
    used = sorted({r.safe_mode for r in result.rows if r.safe_mode})
    if used:
        out += ["safe_mode: " + "; ".join(f"`{key}` {SAFE_MODE_LEGEND[key]}" for key in used) + ".", ""]
    groups: dict[tuple, list[Row]] = {}
    for row in result.rows:
        if row.bad:
            detail = normalize(row.cell.signature) if row.cell.error_type else row.cell.reason or ""
            groups.setdefault((row.cell.verdict, detail), []).append(row)
    if groups:
        out += ["## Failures", ""]
    for (verdict, detail), rows in groups.items():
        first = rows[0]
        out += [f"### {verdict} in {', '.join(f'{r.cell.consumer} ({r.cell.loader})' for r in rows)}", "",
                f"`{detail}`" if first.cell.error_type else detail, ""]
        if first.blocked_by_safe_mode:
            out += ["safe_mode refused code stored in the file; no incompatibility was found before it. With "
                    "--unsafe the load goes on (and may still fail further on).", ""]
        if first.hint:
            out += [f"What to do: {first.hint}", ""]
    unsupported = [r for r in result.rows if r.cell.verdict == "unsupported"]
    if unsupported:
        out += ["## Loaders that do not apply", ""]
        out += [f"- {r.cell.consumer} / {r.cell.loader}: {r.cell.reason}" for r in unsupported] + [""]
    out += security_report.markdown(result)
    out += ["## Environments", ""]
    keys = ("python", "tensorflow", "keras", "keras_flavor", "backend", "device")
    out += [tabulate([[env] + [facts.get(k, "?") for k in keys] for env, facts in result.environments.items()],
                     headers=["env", *keys], tablefmt="github"), ""]
    return "\n".join(out)


def render_json(result: CheckResult) -> str:
    """The same report for machines."""
    plan = result.plan
    verdict = {PASS: "pass", FAIL: "fail", BAD_INPUT: "bad-input"}[result.status]
    return json.dumps({
        "status": result.status, "verdict": verdict, "message": result.message, "file": plan.file,
        "architecture": plan.architecture, "source": {"env": plan.source, "why": plan.source_why},
        "targets": {"envs": plan.targets, "why": plan.targets_why}, "verdicts": result.verdicts,
        "inputs": plan.inputs, "custom_objects": plan.custom_objects, "safe_mode": plan.safe_mode,
        "tolerance": {"atol": plan.atol, "rtol": plan.rtol}, "notes": plan.notes,
        "rows": [row.to_json() for row in result.rows], "environments": result.environments,
        "security": security_report.to_json(result),
    }, indent=1, default=str)
