"""``matrix.html``: one self-contained page, colour-coded, the failure text on every cell."""
from __future__ import annotations

import jinja2

from harness.execute.plan import CONTROL_FORMAT, CONTROL_LOADER
from harness.report.expectations import expected
from harness.report.history import FACT_ORDER
from harness.report.markdown import (DEPTH_TEXT, DEVICE_PAIR_HEADERS, DIFFERENCE_HEADERS, HISTORY_KINDS, HISTORY_RULES,
                                     WORKER_HEADERS, depth_tables, device_pair_rows, difference_rows, health,
                                     history_summary, none_unexplained, plural, runner, summarize, summarize_controls,
                                     unused_line, worker_rows)
from harness.report.marks import LABELS, control_tone, saving_rows, tone
from harness.report.results import LEVELS
from harness.report.upgrade import AS_WRITTEN, FAILS, WITH_CHANGE, answers, glance, headline
from harness.report.model import ReportData, change_groups, signatures, unexpected_notes, where
from harness.worker.catalog import SAVED_WITH

_ENV = jinja2.Environment(loader=jinja2.PackageLoader("harness.report", "templates"),
                          autoescape=jinja2.select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
_ENV.filters["cells"] = lambda n: plural(n, "cell")  # {{ x|length|cells }}: "1 cell", "3 cells"


def _detail(cell) -> str:
    parts = [f"{cell.fixture}: {cell.verdict}"]
    if cell.original_verdict:
        parts[0] += f" (was {cell.original_verdict}; expected_failures[{cell.expected_failure}])"
    if cell.works_with:
        parts.append(f"works with {cell.works_with}" + (" (unsafe: code stored in the file runs)"
                                                         if cell.unsafe_change else "") + ", seen in a real load")
    if cell.max_abs is not None:  # each figure as far as the record holds it
        figures = [f"{name} {value:.3g}" for name, value in (("max |Δ|", cell.max_abs), ("max rel", cell.max_rel),
                                                                ("atol", cell.atol), ("rtol", cell.rtol),
                                                                ("margin", cell.margin)) if value is not None]
        parts.append(", ".join(figures))
    if cell.error_type:
        parts.append(f"{cell.error_type}: {cell.error_message}")
    if cell.reason:
        parts.append(cell.reason)
    if cell.expectation_note:
        parts.append(cell.expectation_note)
    return " — ".join(parts)


# The colour of an upgrade answer (matrix.html's classes, as the format tables use them).
ANSWER_TONES = {AS_WRITTEN: "all", WITH_CHANGE: "change-known", FAILS: "none-known"}


def _upgrade(data: ReportData) -> dict:
    """What the template's "Can I upgrade?" and Routes sections show: the headline, and per producer the
    answers in the consumers' order, each with its tone and every route that carries all fixtures."""
    found = answers(data)
    by_producer = {}
    for a in found:
        routes = [r.describe() for r in ([a.best] if a.best else []) + a.others]
        by_producer.setdefault(a.producer, []).append({
            "answer": a, "tone": ANSWER_TONES.get(a.answer, "na"), "routes": routes,
            "text": glance(a)})
    return {"headline": headline(found), "rows": list(by_producer.items()), "pairs": found}


def render(data: ReportData) -> str:
    """The HTML page as a string."""
    envs, consumers = data.selection.envs, data.selection.consumers
    tables = []
    for fmt, loader, summary in [(f, ld, summarize) for f, ld in data.columns] + \
            [(CONTROL_FORMAT, CONTROL_LOADER, summarize_controls)]:
        rows = []
        for p in data.selection.producers:
            row = []
            for c in consumers:
                cells = data.cells_at(fmt, loader, p, c)
                text = summary(cells)
                shade = tone(cells) if summary is summarize else control_tone(text)
                row.append({"text": text, "tone": shade, "label": LABELS.get(shade, ""),
                            "details": [_detail(x) for x in cells]})
            rows.append((p, row))
        tables.append({"format": fmt, "loader": loader, "rows": rows})
    return _ENV.get_template("matrix.html.j2").render(
        data=data, envs=envs, consumers=consumers, tables=tables, counts=data.counts(), groups=data.failure_groups(),
        vacuous=where(data.vacuous_controls), where=where, notes=unexpected_notes, fact_columns=FACT_ORDER,
        problems=data.problems(), signatures=signatures, closest=data.closest_passes(), runner=runner,
        device_pairs=device_pair_rows(data), device_pair_headers=DEVICE_PAIR_HEADERS, history=_history(data),
        worker_rows=worker_rows(data), worker_headers=WORKER_HEADERS, upgrade=_upgrade(data), labels=LABELS,
        saving=saving_rows(data), failed_saves=[c for c in data.saves if c.failed or c.verdict == "xfail"],
        detail=_detail, expected=expected, health=health(data).replace("**", ""), depth=depth_tables(data),
        depth_text=DEPTH_TEXT, levels=LEVELS,
        reason_groups={v: data.reason_groups(v) for v in ("unsupported", "skipped")},
        unused=[o for o in data.expectations if o.status == "unused"], unused_line=unused_line, plural=plural,
        none_unexplained=none_unexplained(data), saved_with=[(fmt, SAVED_WITH[fmt]) for fmt in data.selection.formats])


def _history(data: ReportData) -> dict | None:
    """What the template's history section shows, or None without ``--compare``."""
    h = data.history
    if h is None:
        return None
    return {"summary": history_summary(h, quote=""), "note": h.note, "broken": h.broken, "rules": HISTORY_RULES,
            "environments": [e.describe() for e in h.environments],
            "kinds": [(title, len(h.of(kind)), kind == "new-failure", change_groups(h, kind))
                      for kind, title in HISTORY_KINDS[:3]],
            "cells": [(title, len(h.of(kind)), False, change_groups(h, kind)) for kind, title in HISTORY_KINDS[3:]],
            "differences": difference_rows(h), "difference_headers": DIFFERENCE_HEADERS}
