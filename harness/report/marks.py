"""What a table cell of the reports says at a glance, and the two tables built from it: routes and saving.

A table cell gathers the fixtures of one (producer, consumer, format, loader), or of one (producer,
format) when saving. Its mark says whether the combination works, its label whether the failures are
known (an ``expected_failures`` entry explains them: xfail) or new (no entry does: they fail the run):

- ``✓ 3/3`` every fixture passed (``pass``, ``xpass``; ``saved`` when saving);
- ``✓* 1/3 (2 with compile=False, 2 known)``: the call as users write it failed for some fixtures,
  and a change to it (named) was seen to load and match each of them (``works-with``);
- ``◐ 2/3 (1 known)`` some passed, ``(1 new)`` when a failure is unexplained;
- ``✗ 0/3 (3 known)`` none passed; ``✗ 0/3 (2 known, 1 new)``;
- ``(1 xpass)``: an entry claims a cell that passed (the entry is stale, which fails the run);
- ``(3 unproven)``: passes of a fixture whose negative control passed too (the comparison could
  not tell restored weights from fresh ones), not counted as passes;
- ``n/a`` nothing could run there (the producer cannot write, or the consumer cannot read, the format),
  ``skipped``, ``env-error``.

:func:`tone` gives matrix.html's colour class and a text label for the same cell; :func:`control_tone` those
of a negative-control cell, where a mismatch is what must happen.
"""

from __future__ import annotations

from harness.report.results import Cell
from harness.report.upgrade import answers, carries, route_rows

PASSING = frozenset({"pass", "xpass", "saved"})
NOT_RAN = frozenset({"unsupported", "skipped"})
# matrix.html's label per tone (the colour alone must not carry the meaning).
LABELS = {
    "unproven": "UNPROVEN: its negative control passed",
    "all": "works",
    "stale": "works; stale entry",
    "change-known": "works with a change; known",
    "change-new": "works with a change; NEW",
    "some-known": "partly; known failures",
    "some-new": "partly; NEW failure",
    "none-known": "does not work; known",
    "none-new": "does not work; NEW",
    "na": "",
    "env": "environment error",
    # the negative-control table: there a mismatch is what must happen
    "control-held": "differed from the reference, as it must",
    "control-matched": "FAILS: fresh weights matched; passes unproven",
    "control-broken": "FAILS: a control errored or did not run",
}


def _ran(cells: list[Cell]) -> list[Cell]:
    return [c for c in cells if c.verdict not in NOT_RAN]


def summarize(cells: list[Cell]) -> str:
    """One table cell: its mark, passes over the cells that ran, and the known, new and xpass counts
    (see the module docstring)."""
    if not cells:
        return ""
    ran = _ran(cells)
    if not ran:
        return "n/a" if all(c.verdict == "unsupported" for c in cells) else "skipped"
    if all(c.verdict == "env-error" for c in ran):
        return "env-error"
    passed = sum(c.verdict in PASSING for c in ran)
    changed = [c for c in ran if carries(c) == "with a change"]
    mark = "✓" if passed == len(ran) else "✓*" if passed + len(changed) == len(ran) else \
        ("✗" if passed + len(changed) == 0 else "◐")
    names = sorted({c.works_with for c in changed})
    notes = [
        (len(changed), "with " + (names[0] if len(names) == 1 else "a change")),
        (sum(c.verdict == "xfail" for c in ran), "known"),
        (sum(c.failed for c in ran), "new"),
        (sum(c.verdict == "xpass" for c in ran), "xpass"),
        (sum(c.verdict == "unproven" for c in ran), "unproven"),
    ]
    shown = ", ".join(f"{n} {word}" for n, word in notes if n)
    return f"{mark} {passed}/{len(ran)}" + (f" ({shown})" if shown else "")


def tone(cells: list[Cell]) -> str:
    """matrix.html's class for a table cell (a key of ``LABELS``): ``unproven``, ``all``, ``stale``,
    ``change-known``, ``change-new``, ``some-known``, ``some-new``, ``none-known``, ``none-new``, ``na`` or ``env``."""
    ran = _ran(cells)
    if not ran:
        return "na"
    if all(c.verdict == "env-error" for c in ran):
        return "env"
    passed = sum(c.verdict in PASSING for c in ran)
    if any(c.verdict == "unproven" for c in ran):
        return "unproven"
    if passed == len(ran):
        return "stale" if any(c.verdict == "xpass" for c in ran) else "all"
    if passed + sum(carries(c) == "with a change" for c in ran) == len(ran):
        return "change-new" if any(c.failed for c in ran) else "change-known"
    worked = passed + sum(carries(c) == "with a change" for c in ran)
    return ("some-" if worked else "none-") + ("new" if any(c.failed for c in ran) else "known")


def control_tone(text: str) -> str:
    """matrix.html's class for a negative-control cell, from its summary (``summarize_controls`` in
    ``harness.report.markdown``): ``control-held`` when every control that ran mismatched (``✓ 3/3``),
    ``control-matched`` when one passed (``‼ 1 passed``), ``control-broken`` when one errored or did not run
    (``✗ 2/3``), ``env`` for ``env-error``, else ``na``."""
    if text.startswith("✓"):
        return "control-held"
    if text.startswith("‼"):
        return "control-matched"
    return "control-broken" if text.startswith("✗") else "env" if text == "env-error" else "na"


def routes(data) -> list[list[str]]:
    """Rows of the Routes table: per producer → consumer pair, its answer, the best route (the call users
    make that carries every fixture at ``data.level``) and how many other columns carry them all
    (``harness.report.upgrade``)."""
    return route_rows(answers(data))


def saving_rows(data) -> list[tuple[str, list[tuple[str, str]]]]:
    """Rows of the saving table: per producer, per format, (summary, tone) over the fixtures' saves."""
    rows = []
    for producer in data.selection.producers:
        cells = [
            [c for c in data.saves if c.producer == producer and c.format == fmt] for fmt in data.selection.formats
        ]
        rows.append((producer, [(summarize(group), tone(group)) for group in cells]))
    return rows
