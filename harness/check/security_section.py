"""The Security section of ``nox -s check``'s report, and ``--fail-on unsafe``.

Per target environment: would loading the checked file there run code from it or follow its paths
(:mod:`harness.check.security.advisories`), from the versions the environment measured (its facts) or,
where it recorded none, its pins in matrix.yaml; a target whose real load safe_mode refused is
``blocked by safe_mode`` as measured, and with ``--unsafe`` (safe_mode off) code in the file runs.

Every function takes the check's ``harness.check.report.CheckResult`` (not imported here: that module
imports this one to render its sections).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from packaging.version import InvalidVersion, Version

from harness.check import releases
from harness.check.check_plan import env_versions
from harness.check.modelfile import UserInputError
from harness.check.security.advisories import BLOCKED, RUNS, Target, Verdict, load_advisories, verdict
from harness.check.security.findings import scan_file
from harness.check.security.scan import advisory_lines, security_table
from harness.config import spec as spec_mod
from harness.report.escape import md_code, md_text


def _version(text) -> Version | None:
    try:
        return Version(str(text)) if text else None
    except InvalidVersion:
        return None


def _target(result, env: str) -> Target:
    facts = result.environments.get(env) or {}
    if facts.get("keras_flavor") and _version(facts.get("keras")):
        return Target(env, facts["keras_flavor"], _version(facts["keras"]), _version(facts.get("tensorflow")))
    pins = env_versions(releases.with_cached(spec_mod.load(result.plan.matrix)).envs[env])
    return Target(env, pins.flavor, pins.keras, pins.tensorflow)


def attach(result) -> None:
    """Set ``result.security`` ({"findings": [...], "verdicts": [Verdict]} or {"error": text}) and,
    with ``--fail-on unsafe``, fail the check when a target would run code from the file."""
    try:
        scanned = scan_file(Path(result.plan.file["path"]))
        advisories = load_advisories()
    except UserInputError as exc:
        result.security = {"error": str(exc), "findings": [], "verdicts": []}
        return
    verdicts = []
    for env in result.plan.targets:
        found = verdict(scanned, _target(result, env), advisories)
        code = any(f.effect == "code" for f in scanned.findings)
        if code and not result.plan.safe_mode:
            found = replace(found, verdict=RUNS, reasons=found.reasons + ("--unsafe: safe_mode was off",))
        elif found.verdict == RUNS and any(r.blocked_by_safe_mode for r in result.rows if r.cell.consumer == env):
            measured = "measured: safe_mode refused the load in this environment"
            found = replace(found, verdict=BLOCKED, reasons=found.reasons + (measured,))
        verdicts.append(found)
    result.security = {"findings": scanned.findings, "verdicts": verdicts}
    unsafe = [v.target.name for v in verdicts if v.verdict == RUNS]
    if "unsafe" in getattr(result.plan, "fail_on", []) and unsafe:
        result.status = max(result.status, 1)
        result.message = (f"UNSAFE: loading the file runs code from it in {', '.join(unsafe)} "
                          f"(--fail-on unsafe); " + result.message)


def markdown(result) -> list[str]:
    """The Security section's lines (empty when none was computed)."""
    security = getattr(result, "security", None)
    if not security:
        return []
    if "error" in security:
        return ["## Security", "", f"not scanned: {md_text(security['error'])}", ""]
    verdicts: list[Verdict] = security["verdicts"]
    out = ["## Security", ""]
    out += [f"- {f.kind} ({f.effect}) at {md_code(f.where)}: {md_text(f.detail)}" for f in security["findings"]] or \
        ["Nothing in the file that a loader would run or follow."]
    out += ["", security_table(verdicts), ""]
    lines = advisory_lines(verdicts)
    return out + (["Advisories:", ""] + lines + [""] if lines else [])


def to_json(result) -> dict | None:
    security = getattr(result, "security", None)
    if not security:
        return None
    return {"error": security.get("error"), "findings": [f.to_json() for f in security["findings"]],
            "targets": [v.to_json() for v in security["verdicts"]]}
