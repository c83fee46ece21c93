"""``junit.xml``: one test case per cell, so CI systems list every cell."""
from __future__ import annotations

import xml.etree.ElementTree as ET

from harness.execute.plan import CONTROL_FORMAT
from harness.report.escape import xml_text
from harness.report.model import ReportData
from harness.report.results import FAILURES, LEVELS
from harness.worker.protocol import WORKS_WITH


def deeper_failure(cell, level: str) -> bool:
    """Whether a cell that did not fail at ``outputs`` fails at a deeper level up to ``level``."""
    return cell.consumer != "" and cell.format != "negative-control" and cell.verdict not in FAILURES \
        and cell.through(level) in FAILURES


def render(data: ReportData) -> bytes:
    """JUnit XML: a suite per (format, loader); failures, errors and skips by verdict.

    A ``works-with`` is a failure (the call users write failed) naming the change that worked.
    An ``xfail`` is a skip whose message names the expected_failures entry, its reason and
    the run's own verdict; an ``xpass`` is a failure saying the entry is stale. Saves (produce cells)
    are suites ``FORMAT.save``, one case per producer and fixture. A cell that fails only at a deeper
    level that ``--level`` checks (``Cell.through``) is a failure naming that level.
    """
    root = ET.Element("testsuites", name="keras-compat-matrix")
    suites: dict[tuple[str, str], ET.Element] = {}
    entries = {o.entry.index: o.entry for o in data.expectations}
    for cell in data.cells + data.saves:
        key = (cell.format, cell.loader)
        if key not in suites:
            suites[key] = ET.SubElement(root, "testsuite", name=f"{cell.format}.{cell.loader}")
        pair = f"{cell.producer} -> {cell.consumer}" if cell.consumer else cell.producer  # a save: its producer
        case = ET.SubElement(suites[key], "testcase", classname=f"{cell.format}.{cell.loader}",
                             name=f"{pair} [{cell.fixture}]", time=str(cell.seconds or 0))
        control = cell.format == CONTROL_FORMAT
        failed = cell.verdict == "pass" if control else \
            cell.verdict in (WORKS_WITH, "mismatch", "load-error", "save-error")
        entry = entries.get(cell.expected_failure)
        if failed:
            what = "negative control passed: comparison is vacuous" if control else cell.signature
            if cell.works_with:  # the call as written failed with that error; the change was seen to work
                what = f"the call as written failed ({what}); it works with {cell.works_with}"
            what = f"{cell.expectation_note}: {what}" if cell.expectation_note else what
            ET.SubElement(case, "failure", type=cell.verdict, message=what[:500]).text = cell.error_text or what
        elif deeper_failure(cell, data.level):  # passed at outputs, fails at a level --level checks
            level = next(name for name in LEVELS[1:] if cell.at_level(name) in FAILURES)
            what = f"{level} {cell.at_level(level)}: {cell.level_reason(level)}"
            ET.SubElement(case, "failure", type=f"{level} {cell.at_level(level)}", message=what[:500]).text = what
        elif cell.verdict == "xpass":
            claim = f"{entry.key_path} expects it to fail ({entry.reason})" if entry else "an entry expects it to fail"
            what = f"passed, but {claim}: the entry is stale; narrow or remove it"
            ET.SubElement(case, "failure", type="xpass", message=what[:500]).text = what
        elif cell.verdict in ("crash", "timeout", "env-error"):
            ET.SubElement(case, "error", type=cell.verdict, message=cell.signature[:500]).text = cell.error_text or ""
        elif cell.verdict == "xfail":
            by = f"{entry.key_path}: {entry.reason}" + (f" ({entry.link})" if entry.link else "") if entry else \
                "an expected_failures entry"
            message = f"xfail by {by}; {cell.original_verdict}: {cell.signature}"
            ET.SubElement(case, "skipped", type="xfail", message=message[:500])
        elif cell.verdict in ("unsupported", "skipped"):
            ET.SubElement(case, "skipped", message=f"{cell.verdict}: {cell.reason or ''}"[:500])
    for suite in suites.values():
        cases = list(suite)
        suite.set("tests", str(len(cases)))
        for tag, attr in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
            suite.set(attr, str(sum(case.find(tag) is not None for case in cases)))
    for element in root.iter():  # what came from a record, an error or matrix.yaml, made XML 1.0 can hold it
        element.attrib.update({key: xml_text(value) for key, value in element.attrib.items()})
        if element.text:
            element.text = xml_text(element.text)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
