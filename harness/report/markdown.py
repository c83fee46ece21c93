"""``matrix.md``: per format and loader, producers as rows and consumers as columns."""
from __future__ import annotations

from tabulate import tabulate

from harness.report.model import ReportData, where
from harness.results import Cell

FACT_COLUMNS = ("python", "tensorflow", "keras", "keras_flavor", "backend", "numpy", "h5py", "device")


def summarize(cells: list[Cell]) -> str:
    """One table cell: ``✓ 3/3`` all passed, ``✗ 1/3`` some failed, else the shared verdict."""
    if not cells:
        return ""
    ran = [c for c in cells if c.verdict not in ("unsupported", "skipped")]
    if not ran:
        return "n/a" if all(c.verdict == "unsupported" for c in cells) else "skipped"
    if all(c.verdict == "env-error" for c in ran):
        return "env-error"
    passed = sum(c.verdict == "pass" for c in ran)
    mark = "✓" if passed == len(ran) else "✗"
    return f"{mark} {passed}/{len(ran)}"


def summarize_controls(cells: list[Cell]) -> str:
    """A negative-control cell: ``✓ 3/3`` when every control that ran was a mismatch, as it must be;
    ``‼ N passed`` when any passed (the comparison could not tell fresh weights from restored ones)."""
    passed = sum(c.verdict == "pass" for c in cells)
    if passed:
        return f"‼ {passed} passed"
    ran = [c for c in cells if c.verdict not in ("unsupported", "skipped", "env-error")]
    if not ran:
        return summarize(cells)
    mismatched = sum(c.verdict == "mismatch" for c in ran)
    return f"{'✓' if mismatched == len(ran) else '✗'} {mismatched}/{len(ran)}"


def _table(data: ReportData, fmt: str, loader: str, summary=summarize) -> str:
    envs = data.selection.envs
    rows = [[p] + [summary(data.cells_at(fmt, loader, p, c)) for c in envs] for p in envs]
    return tabulate(rows, headers=["producer ↓ / consumer →"] + list(envs), tablefmt="github")


def render(data: ReportData) -> str:
    """The whole Markdown report as a string."""
    counts = data.counts()
    out = ["# Keras compatibility matrix", ""]
    out.append(f"Profile `{data.selection.profile}`: {len(data.selection.envs)} environments, "
               f"{len(data.selection.fixtures)} fixtures, {len(data.matrix_cells)} cells"
               + (f", wall time {data.wall_s:.0f} s" if data.wall_s is not None else "") + ".")
    out.append("")
    out.append("Verdicts: " + ", ".join(f"{v} {n}" for v, n in counts.items()) + ".")
    out.append("")
    out.append("Each cell counts the fixtures that loaded and matched within tolerance over those that ran "
               "(`✓` all, `✗` not all); `n/a` means the producer cannot write or the consumer cannot read "
               "that format. Details per cell are in matrix.html and results.json.")
    out.append("")
    vacuous = data.vacuous_controls
    if vacuous:
        out += ["## ‼ NEGATIVE CONTROL PASSED: COMPARISONS ARE VACUOUS", "",
                "A model with the same architecture and fresh weights matched the reference, so a `pass` "
                "here cannot tell restored weights from random ones. Do not trust this report.", ""]
        out += [f"- {line}" for line in where(vacuous)] + [""]
    for fmt, loader in data.columns:
        out += [f"## `{fmt}` loaded with `{loader}`", "", _table(data, fmt, loader), ""]
    out += ["## Negative control (fresh weights must mismatch)", "", _table(data, "negative-control", "rebuild",
                                                                         summarize_controls), ""]
    groups = data.failure_groups()
    out += ["## Failures by error signature", ""]
    if not groups:
        out += ["None.", ""]
    for group in groups:
        out += [f"### {group.verdict}: `{group.signature}` ({len(group.cells)} cells)", ""]
        if group.hint:
            out += [f"What to do: {group.hint}", ""]
        out += [f"- {line}" for line in where(group.cells)] + [""]
    for verdict in ("unsupported", "skipped"):
        groups = data.reason_groups(verdict)
        if groups:
            out += [f"## {verdict.capitalize()} ({sum(map(len, groups.values()))} cells)", ""]
            out += [f"- {reason} ({len(cells)} cells)" for reason, cells in groups.items()] + [""]
    out += ["## Environments", ""]
    rows = [[name] + [env["facts"].get(k, "?") for k in FACT_COLUMNS] + [" ".join(env["packages"])]
            for name, env in data.environments.items()]
    out += [tabulate(rows, headers=["env", *FACT_COLUMNS, "requirements"], tablefmt="github"), ""]
    return "\n".join(out)
