"""History: a run compared with the previous night's results.json (harness/report/history.py), on real results."""
import dataclasses
import datetime
import json
import shutil
from pathlib import Path

import pytest

from harness import report, run
from harness import ROOT
from harness.config import spec
from harness.config.matrix_yaml import DEFAULT_MATRIX
from harness.execute import golden
from harness.execute.plan import Selection, discover_fixtures
from harness.report import history, results_file
from harness.report.markdown import _history

DATA = Path(__file__).resolve().parent.parent / "data"
# Two real nightly runs (tests/data/history/README.md): tf2.13 is tensorflow-cpu 2.13.1 (Keras 2.13.1) on both
# nights; tf-latest is tensorflow-cpu 2.15.1 (Keras 2.15.0) on night 1, tensorflow-cpu 2.16.2 with keras 3.3.3
# on night 2. Python 3.11.7, numpy 1.26.4, h5py 3.16.0 throughout; fixture dense_bn; every format.
NIGHT1 = json.loads((DATA / "history" / "night1.json").read_text())
NIGHT2 = json.loads((DATA / "history" / "night2.json").read_text())
RUN_DATE = datetime.date(2026, 12, 7)
SHIPPED = spec.load(DEFAULT_MATRIX)

# What broke when tf-latest moved from TF 2.15.1 (Keras 2.15.0) to TF 2.16.2 with Keras 3.3.3, as observed.
REAL_REGRESSIONS = {
    # Keras 3.3.3 loads the .h5 (outputs pass) but not its compile state: TypeError "Could not locate
    # function 'mse'" (the loss of an HDF5 file's training config), from Keras 2.13 and from itself.
    ("tf2.13>tf-latest/dense_bn/h5/load_model", "compile"): ("pass", "load-error"),
    ("tf-latest>tf-latest/dense_bn/h5/load_model", "compile"): ("pass", "load-error"),
    # ... so neither can train on: on night 1 training was not checked (unsupported), now it says why it fails.
    ("tf2.13>tf-latest/dense_bn/h5/load_model", "training"): ("unsupported", "load-error"),
    ("tf-latest>tf-latest/dense_bn/h5/load_model", "training"): ("unsupported", "load-error"),
    # Keras 3 writes no Keras SavedModel and no legacy HDF5 weights, and its load_model reads no SavedModel.
    ("tf2.13>tf-latest/dense_bn/savedmodel/load_model", "outputs"): ("pass", "unsupported"),
    ("tf-latest>tf2.13/dense_bn/savedmodel/load_model", "outputs"): ("pass", "unsupported"),
    ("tf-latest>tf2.13/dense_bn/savedmodel/tf.saved_model.load", "outputs"): ("pass", "unsupported"),
    ("tf-latest>tf-latest/dense_bn/savedmodel/load_model", "outputs"): ("pass", "unsupported"),
    ("tf-latest>tf-latest/dense_bn/savedmodel/tf.saved_model.load", "outputs"): ("pass", "unsupported"),
    ("tf-latest>tf2.13/dense_bn/h5_weights/load_weights", "outputs"): ("pass", "unsupported"),
    ("tf-latest>tf-latest/dense_bn/h5_weights/load_weights", "outputs"): ("pass", "unsupported"),
    # Failures that matrix.yaml's entries already explain (so both nights pass on their own): still new.
    ("tf-latest>tf2.13/dense_bn/h5/load_model", "outputs"): ("pass", "xfail"),  # InputLayer batch_shape
    ("tf2.13>tf-latest/dense_bn/checkpoint/Checkpoint.read", "outputs"): ("pass", "xfail"),
    ("tf-latest>tf2.13/dense_bn/checkpoint/Checkpoint.read", "outputs"): ("pass", "xfail"),
}


def _cell(id_, verdict, **fields):
    producer, rest = id_.split(">")
    consumer, fixture, fmt, loader = rest.split("/")
    own = {"xfail": "load-error", "xpass": "pass"}.get(verdict)  # the run's verdict that an entry converted
    fields = dict({"original_verdict": own, "expected_failure": 0} if own else {}, **fields)
    return dict(id=id_, producer=producer, consumer=consumer, fixture=fixture, format=fmt, loader=loader,
                verdict=verdict, **fields)


def _results(*cells, facts=None):
    return {"run": {"started": 1795944861.98}, "environments": {"a": {"facts": facts or {}, "packages": []}},
            "cells": list(cells)}


def _kinds(before, after):
    return [(c.kind, c.level, c.before, c.after) for c in history.compare(_results(*before), _results(*after)).changes]


def test_the_real_regression_between_two_nights_is_found():
    compared = history.compare(NIGHT1, NIGHT2, "night1.json")
    got = {(c.id, c.level): (c.before, c.after) for c in compared.regressions}
    assert got == REAL_REGRESSIONS
    assert [e.describe() for e in compared.environments] == [
        "tf-latest: tensorflow 2.15.1 → 2.16.2, keras 2.15.0 → 3.3.3, keras_flavor keras2 → keras3, "
        "requirements tensorflow-cpu==2.15.1 numpy → tensorflow-cpu==2.16.2 keras==3.3.3 numpy"]
    # TFSMLayer exists only in Keras 3: five cells that were unsupported now load and match.
    assert {c.id for c in compared.of("new-pass")} == {
        f"{p}>tf-latest/dense_bn/{f}/TFSMLayer" for p, f in
        [("tf2.13", "savedmodel"), ("tf2.13", "tf_saved_model"), ("tf2.13", "export"),
         ("tf-latest", "tf_saved_model"), ("tf-latest", "export")]}
    # Known failures whose error changed (Keras 2.13's variable layout error, now Keras 3's class names).
    keras = next(c for c in compared.of("changed-failure") if c.id == "tf2.13>tf-latest/dense_bn/keras/load_model")
    assert (keras.before, keras.was, keras.after, keras.now) == ("xfail", "load-error", "xfail", "load-error")
    assert "expected N variables" in keras.before_detail and "keras.src.engine.functional" in keras.after_detail
    assert compared.counts() == {"new-failure": 14, "new-pass": 5, "changed-failure": 8, "changed-difference": 0,
                                 "appeared": 0, "disappeared": 0}
    # Both nights pass on their own: the regression is what only the comparison shows.
    assert NIGHT1["problems"] == [] and NIGHT2["problems"] == []


def test_the_history_section_shows_the_real_regression():
    text = "\n".join(_history(history.compare(NIGHT1, NIGHT2, "night1.json")))
    assert text.startswith("## Since the previous run\n\nCompared with `night1.json` (run started 2026-11-29")
    assert "14 new failures, 5 new passes, 8 changed failures, 0 changed differences" in text
    assert "- tf-latest: tensorflow 2.15.1 → 2.16.2, keras 2.15.0 → 3.3.3" in text
    assert "- `compile` pass → load-error: `` TypeError: Could not locate function 'mse'. Make sure custom " \
           "classes are decorated with `@keras.saving.register_keras_serializable()`." in text
    assert "  - tf2.13 → tf-latest: h5/load_model \\[compile\\] (dense_bn)" in text  # escaped: names come from a file
    assert ("- pass → xfail (load-error): `TypeError: Error when deserializing class 'InputLayer' using config=…` "
            "(1 cell)\n  - tf-latest → tf2.13: h5/load_model (dense_bn)") in text
    assert "Keras 3 cannot save a Keras SavedModel" in text  # reasons keep their version numbers


def test_a_night_compared_with_itself_has_no_change_and_fails_nothing():
    compared = history.compare(NIGHT1, NIGHT1, "night1.json")
    assert compared.changes == [] and compared.environments == [] and compared.regressions == []
    assert report.model.regression_problems(compared) == []


def test_two_real_runs_of_other_profiles_agree_on_their_shared_cells_and_nothing_else_is_a_regression(tmp_path):
    """run-quick-all (3 environments, 20 fixtures, goldens) then run-default (6 environments, 3 fixtures), both
    of 2026-12-07 on one machine: the cells they share agree at every level (the works-with cells and their
    changes included), and what one has and the other lacks appeared or disappeared, no regression."""
    default, quick = (report.results_json(_real_data(tmp_path, name)) for name in ("run-default", "run-quick-all"))
    compared = history.compare(default, quick)
    assert compared.counts() == {"new-failure": 0, "new-pass": 0, "changed-failure": 0, "changed-difference": 0,
                                 "appeared": 2394, "disappeared": 1134}
    assert [e.describe() for e in compared.environments] == [
        "tf2.10: removed", "tf2.13: removed", "tf2.16-keras3.3: removed", "golden-tf2.4: added", "golden-tf2.7: added"]
    assert compared.regressions == []


@pytest.mark.parametrize("before, after, expected", [
    # an expected failure is still a failure: pass → xfail is new, and so is losing a format
    ("pass", "xfail", "new-failure"), ("pass", "load-error", "new-failure"), ("xpass", "mismatch", "new-failure"),
    ("pass", "unsupported", "new-failure"), ("pass", "skipped", "new-failure"),
    ("unsupported", "crash", "new-failure"), ("skipped", "env-error", "new-failure"),
    ("load-error", "pass", "new-pass"), ("xfail", "xpass", "new-pass"), ("unsupported", "pass", "new-pass"),
    ("load-error", "unsupported", "changed-failure"), ("unsupported", "skipped", "changed-failure"),
    ("load-error", "timeout", "changed-failure"),
    ("pass", "xpass", None), ("unsupported", "unsupported", None),
])
def test_classification_rules(before, after, expected):
    got = _kinds([_cell("a>b/f/h5/load_model", before)], [_cell("a>b/f/h5/load_model", after)])
    assert got == ([(expected, "outputs", before, after)] if expected else [])


def test_a_failure_is_compared_on_the_runs_own_verdict_and_error_not_on_the_entry_that_converts_it():
    old = _cell("a>b/f/h5/load_model", "xfail", original_verdict="load-error", error_type="ValueError",
                error_message="Layer 'dense_3' expected 2 variables")
    same = dict(old, verdict="load-error", original_verdict=None, error_message="Layer 'dense_7' expected 4 variables")
    assert _kinds([old], [same]) == []  # an entry removed, counters in the message: the same failure
    other = dict(same, error_type="TypeError", error_message="Could not locate class 'Functional'")
    assert _kinds([old], [other]) == [("changed-failure", "outputs", "xfail", "load-error")]
    # an n/a reason names the versions, so it changes with every upgrade: only the verdict counts
    assert _kinds([_cell("a>b/f/h5/load_model", "unsupported", reason="this is keras2 2.13.1")],
                  [_cell("a>b/f/h5/load_model", "unsupported", reason="this is keras2 2.15.0")]) == []


@pytest.mark.parametrize("before, after, changed", [
    (0.0, 0.02, True), (0.0, 1e-4, False), (0.3, 0.45, True), (0.3, 0.35, False),
    (0.001, 0.009, False), (0.002, 0.03, True), (0.9, 0.2, True), (None, 0.5, False),
])
def test_a_changed_difference_moves_a_tenth_of_the_tolerance_or_tenfold_above_a_hundredth(before, after, changed):
    cell = _cell("a>b/f/h5/load_model", "pass", max_abs=1e-6)
    got = _kinds([dict(cell, margin=before)], [dict(cell, margin=after)])
    assert got == ([("changed-difference", "outputs", "pass", "pass")] if changed else [])


def test_deeper_levels_are_compared_where_the_cell_loaded_both_times():
    levels = {"weights": {"verdict": "pass"}, "compile": {"verdict": "pass"}}
    broken = {"weights": {"verdict": "pass"}, "compile": {"verdict": "mismatch", "reason": "optimizer None"}}
    old = _cell("a>b/f/h5/load_model", "pass", levels=levels)
    assert _kinds([old], [dict(old, levels=broken)]) == [("new-failure", "compile", "pass", "mismatch")]
    # A cell that stopped loading fails at every level for one reason: one change, at outputs.
    assert _kinds([old], [dict(old, verdict="load-error", levels=None)]) == [
        ("new-failure", "outputs", "pass", "load-error")]
    # A level that no longer applies (weights of a loader that gives no Keras model) is lost too.
    assert _kinds([old], [dict(old, levels={"compile": {"verdict": "pass"}})]) == [
        ("new-failure", "weights", "pass", "unsupported")]


def test_cells_that_appear_or_disappear_are_listed_and_negative_controls_are_left_out():
    kept = _cell("a>b/f/h5/load_model", "pass")
    control = _cell("a>b/f/negative-control/rebuild", "mismatch")
    compared = history.compare(_results(kept, _cell("a>gone/f/h5/load_model", "pass"), control),
                               _results(kept, _cell("a>new/f/h5/load_model", "load-error"),
                                        dict(control, verdict="pass")))
    assert [(c.kind, c.id) for c in compared.changes] == [("appeared", "a>new/f/h5/load_model"),
                                                          ("disappeared", "a>gone/f/h5/load_model")]
    assert compared.regressions == []


def test_environment_changes_name_installed_versions():
    old = _results(facts={"tensorflow": "2.15.1", "keras": "2.15.0", "python": "3.11.7"})
    new = _results(facts={"tensorflow": "2.16.2", "keras": "3.3.3", "python": "3.11.7"})
    new["environments"]["b"] = {"facts": {}}
    assert [e.describe() for e in history.compare(old, new).environments] == [
        "a: tensorflow 2.15.1 → 2.16.2, keras 2.15.0 → 3.3.3", "b: added"]


def test_a_missing_previous_file_is_the_first_night_and_a_broken_one_says_what_is_wrong(tmp_path):
    first = history.against(tmp_path / "none.json", NIGHT1)
    assert not first.broken and first.changes == []
    assert first.note == f"--compare {tmp_path / 'none.json'}: no such file; nothing to compare with " \
                         "(the first night of a history?)"
    # Under --fail-on regression a missing file fails: a mistyped path must not turn the check off.
    assert report.model.regression_problems(first) == [
        f"{first.note} (--fail-on regression cannot tell what broke; on a history's first night, "
        "leave --compare out)"]
    for content, why in [("not json", "not JSON (Expecting value: line 1 column 1 (char 0))"),
                         ("[1, 2]", "not a results.json of keras-compat-matrix (no 'cells' list)"),
                         ('{"cells": [{"id": "x"}]}', "cells[0] lacks producer, consumer, fixture, format, loader, "
                                                      "verdict; not a results.json of this harness")]:
        (tmp_path / "prev.json").write_text(content)
        broken = history.against(tmp_path / "prev.json", NIGHT1)
        assert broken.broken and broken.note.startswith(f"--compare {tmp_path / 'prev.json'}: {why}")
        (problem,) = report.model.regression_problems(broken)
        assert problem.endswith("(--fail-on regression cannot tell what broke)")
    (tmp_path / "folder.json").mkdir()
    assert history.against(tmp_path / "folder.json", NIGHT1).note == \
        f"--compare {tmp_path / 'folder.json'}: cannot read it (Is a directory)"


def _night1_with(**fields):
    """Night 1 with its first cell's and first environment's fields replaced where ``fields`` name them."""
    data = json.loads(json.dumps(NIGHT1))
    for key, value in fields.items():
        target = data["cells"][0] if key in data["cells"][0] or key == "levels" else \
            data["environments"]["tf2.13"] if key in ("facts", "packages") else data
        target[key] = value
    return data


@pytest.mark.parametrize("fields, why", [
    ({"run": "last night"}, "run: expected an object, got 'last night'"),
    ({"environments": ["tf2.13"]}, "environments: expected an object, got ['tf2.13']"),
    ({"facts": [1]}, "environments.tf2.13.facts: expected an object, got [1]"),
    ({"packages": [1]}, "environments.tf2.13.packages: expected strings, got 1"),
    ({"margin": "0.1"}, "cells[0].margin: expected a number, got '0.1'"),
    ({"reason": 5}, "cells[0].reason: expected a string, got 5"),
    ({"levels": [1]}, "cells[0].levels: expected an object, got [1]"),
    ({"levels": {"weights": "pass"}}, "cells[0].levels.weights: expected an object, got 'pass'"),
    ({"levels": {"weights": {"verdict": "pass", "max_abs": "0"}}},
     "cells[0].levels.weights.max_abs: expected a number, got '0'"),
])
def test_a_previous_file_with_a_field_of_the_wrong_type_is_named_not_a_traceback(tmp_path, fields, why):
    (tmp_path / "prev.json").write_text(json.dumps(_night1_with(**fields)))
    broken = history.against(tmp_path / "prev.json", NIGHT2)
    assert broken.broken and broken.note == f"--compare {tmp_path / 'prev.json'}: {why}; not a results.json " \
                                            "of this harness (or of an incompatible version)"


@pytest.mark.parametrize("started", [float("nan"), 1e300, -1e13, "yesterday"])
def test_a_start_time_that_is_no_time_is_unknown(tmp_path, started):
    (tmp_path / "prev.json").write_text(json.dumps(_night1_with(run=dict(NIGHT1["run"], started=started))))
    compared = history.against(tmp_path / "prev.json", NIGHT2)
    assert compared.previous_started is None and len(compared.regressions) == 14
    assert results_file.when(started if isinstance(started, float) else None) == "?"


# --- the report session (run.report): the section at the top, results.json's history key, the exit status


def _real_data(tmp_path, name):
    workdir = tmp_path / name
    if not workdir.exists():
        shutil.copytree(DATA / name, workdir)
    recorded = json.loads((workdir / "run.json").read_text())
    fixtures = {k: v for k, v in discover_fixtures(ROOT / "fixtures").items() if k in recorded["fixtures"]}
    goldens = {k: v for k, v in golden.discover(ROOT / "fixtures" / "golden").items() if k in recorded["goldens"]}
    selection = Selection(recorded["profile"], tuple(recorded["envs"]), fixtures, tuple(recorded["formats"]),
                          SHIPPED, goldens)
    return report.build(SHIPPED, selection, workdir, RUN_DATE)


def _context(tmp_path, previous, fail_on="regression"):
    data = _real_data(tmp_path, "run-default")
    return run.Context(SHIPPED, data.selection, tmp_path / "run-default", tmp_path / "reports",
                       compare=previous, fail_on=fail_on)


def _previous(tmp_path, edit=None):
    """results.json of the real default run, as the report writes it, as a run started a day earlier;
    ``edit`` changes its cells."""
    results = report.results_json(_real_data(tmp_path / "previous", "run-default"))
    results["run"]["started"] -= 86400
    for cell in results["cells"]:
        (edit or (lambda c: None))(cell)
    path = tmp_path / "previous.json"
    path.write_text(json.dumps(results, default=str))
    return path


def test_the_same_run_again_exits_zero_with_fail_on_regression(tmp_path):
    ctx = _context(tmp_path, _previous(tmp_path))
    assert run.report(ctx, log=lambda _: None, today=RUN_DATE) == []
    written = json.loads((tmp_path / "reports" / "results.json").read_text())
    assert written["history"]["counts"]["new-failure"] == 0 and written["problems"] == []


def test_new_failures_fail_the_run_with_fail_on_regression_and_name_where(tmp_path):
    def was_passing(cell):  # last night these two Keras 3.15 -> Keras 2.15 h5 cells loaded and matched
        if cell["id"] in ("tf2.21-keras3.15>tf2.15/dense_bn/h5/load_model",
                          "tf2.21-keras3.15>tf2.15/small_cnn/h5/load_model"):
            cell.update(verdict="pass", original_verdict=None, expected_failure=None, margin=0.0, max_abs=0.0)
    previous = _previous(tmp_path, was_passing)
    log = []
    (problem,) = run.report(_context(tmp_path, previous), log=log.append, today=RUN_DATE)
    assert problem == (f"2 new failures since the previous run ({previous}): tf2.21-keras3.15 → tf2.15: "
                       "h5/load_model (dense_bn, small_cnn) (see 'Since the previous run' in matrix.md)")
    assert f"FAILED: {problem}" in log
    md = (tmp_path / "reports" / "matrix.md").read_text()
    assert md.index("## Since the previous run") < md.index("## `h5` loaded with `load_model`")
    assert "**Run health: fails** (exit status 1): 2 new failures since the previous run" in md
    assert "- pass → xfail (load-error): `TypeError: Error when deserializing class 'InputLayer'" in md
    html = (tmp_path / "reports" / "matrix.html").read_text()
    assert html.index("Since the previous run") < html.index("loaded with")
    written = json.loads((tmp_path / "reports" / "results.json").read_text())
    assert [c["id"] for c in written["history"]["changes"]] == [
        "tf2.21-keras3.15>tf2.15/dense_bn/h5/load_model", "tf2.21-keras3.15>tf2.15/small_cnn/h5/load_model"]
    # Without --fail-on regression the same comparison is shown and the run exits as before.
    assert run.report(_context(tmp_path, previous, "problems"), log=lambda _: None, today=RUN_DATE) == []
    assert "## Since the previous run" in (tmp_path / "reports" / "matrix.md").read_text()


def _next_night(workdir):
    """The same results, as a run started a day later."""
    recorded = json.loads((workdir / "run.json").read_text())
    (workdir / "run.json").write_text(json.dumps(dict(recorded, started=recorded["started"] + 86400)))


def test_the_previous_file_may_be_the_results_json_this_run_replaces(tmp_path):
    ctx = _context(tmp_path, tmp_path / "reports" / "results.json", fail_on="problems")
    assert run.report(ctx, log=lambda _: None, today=RUN_DATE) == []  # the first night: nothing there yet
    assert "No previous results: --compare" in (tmp_path / "reports" / "matrix.md").read_text()
    ctx = _context(tmp_path, tmp_path / "reports" / "results.json")  # from the second night on: regression
    _next_night(ctx.workdir)
    assert run.report(ctx, log=lambda _: None, today=RUN_DATE) == []  # the second: last night's file, read first
    written = json.loads(ctx.compare.read_text())["history"]
    assert written["previous"] == str(ctx.compare) and written["note"] is None
    assert written["previous_started"] + 86400 == written["current_started"]


def test_rendering_a_run_again_with_the_results_json_it_wrote_keeps_its_comparison(tmp_path):
    """nox -s report -- --compare reports/results.json after the night's run: the file is this run's own;
    comparing the run with itself would find nothing new and overwrite the night's history."""
    def was_passing(cell):
        if cell["id"] == "tf2.21-keras3.15>tf2.15/dense_bn/h5/load_model":
            cell.update(verdict="pass", original_verdict=None, expected_failure=None, margin=0.0, max_abs=0.0)
    ctx = _context(tmp_path, _previous(tmp_path, was_passing))
    (first,) = run.report(ctx, log=lambda _: None, today=RUN_DATE)
    written = tmp_path / "reports" / "results.json"
    again = dataclasses.replace(ctx, compare=written, level="training")
    log = []
    problems = run.report(again, log=log.append, today=RUN_DATE)
    # at --level training too only the new failure: a Keras 2 SavedModel's lost step count is a known one there
    assert problems == [first]
    assert f"--compare {written}: this run's own results.json; keeping the comparison it holds " \
           f"(with {ctx.compare})" in log
    assert json.loads(written.read_text())["history"]["previous"] == str(ctx.compare)
    assert "1 new failures" in (tmp_path / "reports" / "matrix.md").read_text()
    # This run's results.json written without --compare holds no comparison: it cannot tell what broke.
    assert run.report(dataclasses.replace(ctx, compare=None, fail_on="problems"), log=lambda _: None,
                      today=RUN_DATE) == []
    problem = run.report(again, log=lambda _: None, today=RUN_DATE)[-1]
    assert problem.startswith(f"--compare {written}: the results.json of this same run (started 2026-12-07 ")
    assert problem.endswith("not of an earlier one, and it holds no comparison; give the previous run's "
                            "(--fail-on regression cannot tell what broke)")


def test_fail_on_never_reports_problems_but_exits_zero(tmp_path):
    loaded = dataclasses.replace(SHIPPED, expected_failures=())  # 415 unexplained failures
    ctx = dataclasses.replace(_context(tmp_path, None, "never"), spec=loaded)
    log = []
    assert run.report(ctx, log=log.append, today=RUN_DATE) == []
    assert any(line.startswith("not failing (--fail-on never): 415 failing cells") for line in log)


def test_fail_on_regression_needs_compare():
    with pytest.raises(spec.SpecError, match="--fail-on regression needs --compare PREV_RESULTS_JSON"):
        run.Context.from_args(["--fail-on", "regression"])
    ctx = run.Context.from_args(["--compare", "last.json", "--fail-on", "regression", "--profile", "quick"])
    assert ctx.compare == Path("last.json").resolve() and ctx.fail_on == "regression"


@pytest.mark.parametrize("before, after, regression", [
    ("load-error", "mismatch", True), ("xfail", "mismatch", True), ("mismatch", "crash", True),
    ("load-error", "timeout", True), ("load-error", "unsupported", False), ("unsupported", "skipped", False),
])
def test_a_failure_of_another_class_is_a_regression(before, after, regression):
    compared = history.compare(_results(_cell("a>b/f/h5/load_model", before)),
                               _results(_cell("a>b/f/h5/load_model", after, max_abs=0.37)))
    (change,) = compared.changes
    assert change.kind == "changed-failure" and (compared.regressions == [change]) == regression


def test_a_refused_file_that_now_loads_wrongly_is_a_regression_though_both_nights_fail(tmp_path):
    cell_id = "tf2.21-keras3.15>tf2.15/dense_bn/h5/load_model"  # recorded: load-error under expected_failures[0]
    previous = _previous(tmp_path)
    ctx = _context(tmp_path, previous)
    path = ctx.workdir / "results" / "consume-tf2.15.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    for record in records:
        if record.get("id") == cell_id:
            record.update(verdict="mismatch", max_abs=0.37, margin=3.0, error_type=None, error_message=None)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    problems = run.report(ctx, log=lambda _: None, today=RUN_DATE)
    assert f"1 new failures since the previous run ({previous}), 1 of them failing another way " \
           f"(load-error → mismatch): tf2.21-keras3.15 → tf2.15: h5/load_model (dense_bn)" in "; ".join(problems)
