"""A verdict is of the call users write: ``load_model(path)``, which compiles. Replayed on the recorded quick
run of 2026-12-07 (tests/data/run-quick-all), where a compiled Keras 2 .h5 failed that call in Keras 3.15 and
``compile=False`` was seen to work, with faults planted in its records: a change that did not work, a
works-with whose change failed, a pass that names a change."""
import dataclasses
import json

from harness import report, run
from harness.execute.plan import Selection
from harness.report import upgrade
from harness.report.marks import summarize, tone
from harness.report.results import record_problem

from test_saving import KERAS315, RUN_DATE, _context, _data, _workdir

CELL = f"tf2.15>{KERAS315}/dense_bn/h5/load_model"
MSE = "ValueError: Could not deserialize 'keras.metrics.mse' because it is not a KerasSaveable subclass"


def _edit(workdir, cell_id, **fields):
    """Change the recorded consume record of ``cell_id`` (a planted fault); returns the record as it was."""
    for path in sorted((workdir / "results").glob(f"consume-{KERAS315}*.jsonl")):
        records = [json.loads(line) for line in path.read_text().splitlines()]
        for record in records:
            if record.get("id") == cell_id:
                before = json.loads(json.dumps(record))
                record.update(fields)
                path.write_text("".join(json.dumps(r) + "\n" for r in records))
                return before
    raise AssertionError(f"no record {cell_id}")


def _cell(data, cell_id):
    return next(c for c in data.cells if c.id == cell_id)


def test_a_compiled_keras2_h5_works_in_keras3_only_with_compile_false(tmp_path):
    data = _data(_workdir(tmp_path))
    cell = _cell(data, CELL)
    assert (cell.original_verdict, cell.verdict, cell.works_with, cell.signature) == ("works-with", "xfail",
                                                                                      "compile=False", MSE)
    assert [(t["change"], t["verdict"]) for t in cell.workarounds] == [("compile=False", "pass")]
    assert cell.levels["compile"]["verdict"] == "load-error" and MSE in cell.levels["compile"]["reason"]
    golden = data.cells_at("h5", "load_model", "golden-tf2.4", KERAS315)
    assert (summarize(golden), tone(golden)) == ("✓* 0/3 (3 with compile=False, 3 known)", "change-known")
    assert data.problems() == []


def test_a_compiled_keras_file_written_and_read_by_keras315_passes_as_written(tmp_path):
    data = _data(_workdir(tmp_path))
    for fixture in ("dense_bn", "compiled_adam"):
        cell = _cell(data, f"{KERAS315}>{KERAS315}/{fixture}/keras/load_model")
        assert (cell.verdict, cell.works_with, cell.levels["compile"]["verdict"]) == ("pass", None, "pass")


def test_a_change_that_stopped_working_fails_the_run(tmp_path):
    workdir = _workdir(tmp_path)
    record = _edit(workdir, CELL, verdict="load-error", works_with=None, unsafe_change=None, max_abs=None,
                   max_rel=None, margin=None, levels=None)
    record["workarounds"][0].update(verdict="mismatch", max_abs=3.2)  # compile=False now loads silently wrong
    _edit(workdir, CELL, workarounds=record["workarounds"])
    data = _data(workdir)
    cell = _cell(data, CELL)
    assert cell.verdict == "load-error" and "expects works-with" in cell.expectation_note
    assert any("1 failing cells that no live expected_failures entry explains" in p for p in data.problems())
    (group,) = [g for g in data.failure_groups() if CELL in {c.id for c in g.cells}]
    assert group.hint.startswith("Do not load it with compile=False: that loads but predicts other outputs "
                                 "(max |Δ| 3.2), seen in a real load.")


def test_a_works_with_whose_change_did_not_work_is_refused(tmp_path):
    workdir = _workdir(tmp_path)
    record = _edit(workdir, CELL)
    record["workarounds"][0]["verdict"] = "mismatch"
    _edit(workdir, CELL, workarounds=record["workarounds"])
    assert record_problem(record) == ("a works-with 'compile=False' whose change was not seen to work "
                                      "(compile=False gave mismatch)")
    data = _data(workdir)
    assert _cell(data, CELL).verdict == "skipped" and "whose change was not seen to work" in _cell(data, CELL).reason
    problems = run.report(_context(workdir), log=lambda _: None, today=RUN_DATE)
    assert any("whose change was not seen to work" in p for p in problems)


def test_a_pass_that_names_a_change_is_refused(tmp_path):
    record = _edit(_workdir(tmp_path), f"{KERAS315}>{KERAS315}/dense_bn/keras/load_model")
    assert record_problem(dict(record, works_with="compile=False")) == \
        "works_with 'compile=False' on a pass: only a works-with names a change"
    assert "is not a list of the changes tried" in record_problem(dict(record, workarounds=[{"change": "rm -rf"}]))


def test_the_upgrade_answer_per_pair(tmp_path):
    workdir = _workdir(tmp_path)
    data = _data(workdir)
    found = {(a.producer, a.consumer): a for a in upgrade.answers(data)}
    forward = found[("tf2.15", KERAS315)]  # a SavedModel's signature carries every fixture as written
    assert (forward.answer, forward.best.name) == (upgrade.AS_WRITTEN, "savedmodel/tf.saved_model.load")
    ctx = _context(workdir)
    only_h5 = Selection("quick", ctx.selection.envs, ctx.selection.fixtures, ("h5",), ctx.spec, ctx.selection.goldens)
    h5 = {(a.producer, a.consumer): a for a in upgrade.answers(report.build(ctx.spec, only_h5, workdir,
                                                                             RUN_DATE))}
    golden = h5[("golden-tf2.4", KERAS315)]
    assert (golden.answer, golden.best.describe()) == (upgrade.WITH_CHANGE, "h5/load_model with compile=False")
    backward = h5[(KERAS315, "tf2.15")]  # Keras 3 .h5 configs do not load in Keras 2 (InputLayer batch_shape)
    assert (backward.answer, backward.best, upgrade.glance(backward)) == (upgrade.FAILS, None, "✗ 0/20")
    # the glance names the loader where it is not load_model: a bare "✓ savedmodel" read as load_model working
    assert upgrade.glance(golden) == "✓* h5" and upgrade.glance(forward) == "✓ savedmodel/tf.saved_model.load"


def test_the_reports_open_with_the_upgrade_answer_then_the_runs_health(tmp_path):
    data = _data(_workdir(tmp_path))
    report.write_all(data, tmp_path / "reports")
    md = (tmp_path / "reports" / "matrix.md").read_text()
    assert md.index("## Can I upgrade?") < md.index("**Run health: passes**") < md.index("## Routes")
    assert "Of 15 producer → consumer pairs, for every fixture: 15 work as written" in md
    first = md[:md.index("## Saving")]  # the upgrade answer and the Routes: rows a terminal can show
    assert all(len(line) <= 160 for line in first.splitlines()), max(first.splitlines(), key=len)
    html = (tmp_path / "reports" / "matrix.html").read_text()
    assert html.index("<h2>Can I upgrade?</h2>") < html.index("<h2>Routes</h2>")
    for section in ("<h2>Check depth</h2>", "<h2>Unsupported", "<h2>Skipped"):
        assert section in html, section
    assert "works with compile=False, seen in a real load" in html


def test_entries_that_matched_nothing_are_one_line(tmp_path):
    data = _data(_workdir(tmp_path))
    unused = [o for o in data.expectations if o.status == "unused"]
    report.write_all(data, tmp_path / "reports")
    md = (tmp_path / "reports" / "matrix.md").read_text()
    assert unused and md.count("Unused (no cell of this run matched them") == 1
    assert all(f"`{o.entry.key_path}`:" not in md for o in unused)


def test_a_consume_entry_may_expect_works_with_and_a_load_error_one_covers_it(tmp_path):
    workdir = _workdir(tmp_path)
    shipped = _context(workdir).spec.expected_failures
    (entry,) = [e for e in shipped if e.verdict == "works-with" and e.consumer == "keras>=3" and e.formats == ("h5",)]
    as_load_error = dataclasses.replace(entry, verdict="load-error")
    data = _data(workdir, [e if e is not entry else as_load_error for e in shipped])
    assert _cell(data, CELL).verdict == "xfail" and data.problems() == []
