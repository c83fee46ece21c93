"""A negative control must mismatch: one that errored, crashed or did not run fails the run with its cause,
and one that matched makes its fixture's passes read unproven. On the recorded default run (tests/data/run-default)."""

import datetime
import re
import json
import shutil
from pathlib import Path

import pytest

from harness import report, run
from harness import ROOT
from harness.config import spec
from harness.config.matrix_yaml import DEFAULT_MATRIX
from harness.execute.plan import Selection, discover_fixtures
from harness.report import upgrade
from harness.report.marks import summarize

RUN = Path(__file__).resolve().parent.parent / "data" / "run-default"
RUN_DATE = datetime.date(2026, 11, 29)
SHIPPED = spec.load(DEFAULT_MATRIX)
CONTROL = "tf2.15>tf2.21-keras3.15/dense_bn/negative-control/rebuild"


@pytest.fixture()
def workdir(tmp_path):
    shutil.copytree(RUN, tmp_path / "run")
    return tmp_path / "run"


def _context(workdir):
    recorded = json.loads((workdir / "run.json").read_text())
    fixtures = {k: v for k, v in discover_fixtures(ROOT / "fixtures").items() if k in recorded["fixtures"]}
    selection = Selection("default", tuple(recorded["envs"]), fixtures, tuple(recorded["formats"]), SHIPPED)
    return run.Context(SHIPPED, selection, workdir, workdir.parent / "reports")


def _edit(workdir, cell_id, drop=False, **fields):
    path = workdir / "results" / "consume-tf2.21-keras3.15.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    records = [
        dict(r, **fields) if r.get("id") == cell_id else r for r in records if not (drop and r.get("id") == cell_id)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


@pytest.mark.parametrize(
    "fields, drop, cause",
    [
        (
            dict(verdict="load-error", error_type="ValueError", error_message="Input 0 is incompatible with the layer"),
            False,
            "load-error `ValueError: Input 0 is incompatible with the layer`",
        ),
        (dict(verdict="crash", reason="worker died with SIGSEGV"), False, "crash `worker died with SIGSEGV`"),
        ({}, True, "skipped `no consume result (phase not run or interrupted)`"),
    ],
)
def test_a_control_that_did_not_mismatch_fails_the_run_with_its_cause(workdir, tmp_path, fields, drop, cause):
    _edit(workdir, CONTROL, drop=drop, **fields)
    problems = run.report(_context(workdir), log=lambda _: None, today=RUN_DATE)
    (problem,) = [p for p in problems if "negative controls" in p]
    assert problem.startswith(
        "1 negative controls errored or did not run, so those fixtures' comparisons are "
        f"unproven: tf2.15 → tf2.21-keras3.15: negative-control/rebuild (dense_bn): {cause}"
    )
    md = (tmp_path / "reports" / "matrix.md").read_text()
    assert "**Controls that errored or did not run (their fixtures' comparisons are unproven):**" in md


def test_the_recorded_controls_all_mismatch_and_prove_the_run(workdir):
    data = report.build(SHIPPED, _context(workdir).selection, workdir, RUN_DATE)
    assert data.broken_controls == [] and data.vacuous_controls == [] and data.problems() == []


def test_a_control_that_matched_makes_its_fixtures_passes_unproven(workdir, tmp_path):
    _edit(workdir, CONTROL, verdict="pass", max_abs=0.0, max_rel=0.0, margin=0.0)  # a pass is within tolerance
    data = report.build(SHIPPED, _context(workdir).selection, workdir, RUN_DATE)
    signature = ("tf_saved_model", "tf.saved_model.load")
    assert summarize(data.cells_at(*signature, "tf2.15", "tf2.21-keras3.15")) == "◐ 2/3 (1 unproven)"
    assert summarize(data.cells_at(*signature, "tf2.15", "tf2.16-keras3.3")) == "✓ 3/3"  # its own control
    # A change seen to work is no proof either where the control matched: h5 needs compile=False in Keras 3.15.
    assert summarize(data.cells_at("h5", "load_model", "tf2.15", "tf2.21-keras3.15")) == \
        "◐ 0/3 (2 with compile=False, 2 known, 1 unproven)"
    routes = {a.consumer: a for a in upgrade.answers(data) if a.producer == "tf2.15"}
    carried = [r.name for r in [routes["tf2.21-keras3.15"].best] + routes["tf2.21-keras3.15"].others]
    assert "tf_saved_model/tf.saved_model.load" not in carried and carried  # others still carry every fixture
    assert "tf_saved_model/tf.saved_model.load" in [r.name for r in routes["tf2.16-keras3.3"].others]
    report.write_all(data, tmp_path / "reports")
    assert "UNPROVEN: its negative control passed" in (tmp_path / "reports" / "matrix.html").read_text()
    assert "◐ 2/3 (1 unproven)" in (tmp_path / "reports" / "matrix.md").read_text()


def _control_labels(html: str) -> list[str]:
    """The labels of matrix.html's negative-control table, in order."""
    table = html.split("<h2><code>negative-control</code>", 1)[1].split("</table>", 1)[0]
    return re.findall(r'<span class="label">([^<]*)</span>', table)


@pytest.mark.parametrize("fields, label", [
    ({}, None),
    (dict(verdict="pass", max_abs=0.0, max_rel=0.0, margin=0.0), "FAILS: fresh weights matched; passes unproven"),
    (dict(verdict="load-error", error_type="ValueError", error_message="Input 0 is incompatible with the layer"),
     "FAILS: a control errored or did not run"),
])
def test_matrix_html_labels_a_control_that_mismatched_as_holding_and_any_other_as_failing(workdir, tmp_path, fields,
                                                                                           label):
    _edit(workdir, CONTROL, **fields)
    data = report.build(SHIPPED, _context(workdir).selection, workdir, RUN_DATE)
    report.write_all(data, tmp_path / "reports")
    labels = _control_labels((tmp_path / "reports" / "matrix.html").read_text())
    held = "differed from the reference, as it must"  # not "works": the control did what it must
    if label is None:  # the recorded run: every control that ran mismatched
        assert set(labels) == {held} and len(labels) == len(data.selection.producers) * len(data.selection.consumers)
    else:  # the one planted in tf2.15 → tf2.21-keras3.15 fails, the others still hold
        assert labels.count(label) == 1 and set(labels) == {held, label}
