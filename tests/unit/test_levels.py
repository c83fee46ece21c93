"""Deeper check levels cannot hide an error, and --level decides what fails the run: replayed on the recorded
default run (tests/data/run-default), whose Keras 3 consumers load compiled .h5 files only with compile=False, and
whose Keras 2 SavedModels load without their optimizer's step count."""

import dataclasses
import datetime
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness import report, run
from harness import ROOT
from harness.config import spec
from harness.config.matrix_yaml import DEFAULT_MATRIX
from harness.execute.plan import Selection, discover_fixtures
from harness.report.marks import summarize
from harness.report.results import LEVELS

RUN = Path(__file__).resolve().parent.parent / "data" / "run-default"
RUN_DATE = datetime.date(2026, 12, 7)
SHIPPED = spec.load(DEFAULT_MATRIX)
# The shipped entries of the outputs level: the level entries come last, so every index stays the same.
LEVEL_ENTRIES = [e for e in SHIPPED.expected_failures if e.level != "outputs"]
OUTPUTS_ONLY = dataclasses.replace(SHIPPED, expected_failures=SHIPPED.expected_failures[:-len(LEVEL_ENTRIES)])
assert LEVEL_ENTRIES == list(SHIPPED.expected_failures[-len(LEVEL_ENTRIES):])
PASS = "tf2.21-keras3.15>tf2.21-keras3.15/dense_bn/keras/load_model"  # recorded: passes outputs and weights


@pytest.fixture()
def workdir(tmp_path):
    shutil.copytree(RUN, tmp_path / "run")
    return tmp_path / "run"


def _context(workdir, level="outputs", entries=(), shipped=OUTPUTS_ONLY):
    loaded = dataclasses.replace(shipped, expected_failures=shipped.expected_failures + tuple(entries))
    recorded = json.loads((workdir / "run.json").read_text())
    fixtures = {k: v for k, v in discover_fixtures(ROOT / "fixtures").items() if k in recorded["fixtures"]}
    selection = Selection("default", tuple(recorded["envs"]), fixtures, tuple(recorded["formats"]), loaded)
    return run.Context(loaded, selection, workdir, workdir.parent / "reports", level)


def _data(workdir, level="outputs", entries=(), shipped=OUTPUTS_ONLY):
    ctx = _context(workdir, level, entries, shipped)
    return report.build(ctx.spec, ctx.selection, workdir, RUN_DATE, level)


def test_a_failed_compile_load_says_why_training_is_missing(workdir):
    data = _data(workdir)
    failed = [c for c in data.matrix_cells if ((c.levels or {}).get("compile") or {}).get("verdict") == "load-error"]
    assert len(failed) == 51 and all("training" not in c.levels for c in failed)
    # Each is a works-with (compile=False loaded and matched), whose training level says why it was not checked.
    assert {(c.original_verdict, c.works_with) for c in failed} == {("works-with", "compile=False")}
    assert {c.level_verdict("training") for c in failed} == {"load-error"}
    reasons = {c.level_reason("training") for c in failed}
    assert (
        "not checked: load_model(path) failed to compile (TypeError: Could not locate function 'mse'. Make sure "
        "custom classes are decorated with `@keras.saving.register_keras_serializable()`. Full object config: "
        "{'module': 'keras.metrics', 'class_name': 'function', 'config': 'mse', 'registered_name': 'mse'})" in reasons
    )


def test_a_levels_error_shows_as_an_error_at_the_deeper_levels(workdir, tmp_path):
    path = workdir / "results" / "consume-tf2.21-keras3.15.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    for record in records:
        if record["id"] == PASS:
            record.pop("levels")
            record["levels_error"] = "KeyError: 'w0 is not a file in the archive'"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    data = _data(workdir, "weights")
    (cell,) = [c for c in data.cells if c.id == PASS]
    assert [cell.at_level(level) for level in LEVELS] == ["pass", "load-error", "load-error", "load-error"]
    assert summarize(data.cells_at("keras", "load_model", "tf2.21-keras3.15", "tf2.21-keras3.15")) == "◐ 2/3 (1 new)"
    report.write_all(data, tmp_path / "reports")
    md = (tmp_path / "reports" / "matrix.md").read_text()
    assert (
        "- `weights` load-error: the deeper checks raised: KeyError: 'w0 is not a file in the archive' (1 cell)" in md
    )
    assert "### weights load-error: `weights: the deeper checks raised: KeyError" in md
    assert _data(workdir).problems() == []  # at the outputs level the cell passes


@pytest.mark.parametrize("level", LEVELS)
def test_the_level_decides_what_fails_the_run_and_the_tables_agree(workdir, level):
    data = _data(workdir, level)
    in_tables = sum(
        c.failed
        for fmt, loader in data.columns
        for p in data.selection.producers
        for q in data.selection.envs
        for c in data.cells_at(fmt, loader, p, q)
    )
    assert in_tables == len(data.unexpected_failures)
    # The compile level of a Keras 2 SavedModel: Adam at iteration 0, expected 3 (39 cells); training fails there too.
    expected = {"outputs": 0, "weights": 0, "compile": 39, "training": 39}[level]
    assert len(data.unexpected_failures) == expected
    problems = run.report(_context(workdir, level), log=lambda _: None, today=RUN_DATE)
    assert (problems == []) == (expected == 0)
    if expected:
        assert problems[0].startswith(f"{expected} failing cells that no live expected_failures entry explains")


def test_an_entry_may_explain_a_deeper_level(workdir):
    steps = spec.ExpectedFailure(
        len(OUTPUTS_ONLY.expected_failures),
        "keras<3",
        "keras>=2.13,<3",
        "r",
        datetime.date(2027, 1, 1),
        formats=("savedmodel",),
        level="compile",
        verdict="mismatch",
    )
    data = _data(workdir, "compile", [steps])
    explained = [c for c in data.matrix_cells if (c.levels_expected or {}).get("compile") == steps.index]
    assert len(explained) == 36 and {c.at_level("compile") for c in explained} == {"xfail"}
    assert len(data.unexpected_failures) == 39 - 36  # tf2.10's own SavedModels, read back by tf2.10
    assert summarize(data.cells_at("savedmodel", "load_model", "tf2.15", "tf2.15")) == "✗ 0/3 (3 known)"


def test_a_deeper_level_entry_must_expect_a_mismatch_or_a_load_error(tmp_path):
    path = tmp_path / "matrix.yaml"
    path.write_text("""
envs:
  tf2.15: {python: "3.11", packages: ["tensorflow-cpu==2.15.1"]}
profiles:
  default: {envs: [tf2.15]}
expected_failures:
  - {producer: "keras<3", consumer: "keras>=3", level: compile, verdict: timeout, reason: r, expires: 2027-11-29}
""")
    with pytest.raises(
        spec.SpecError,
        match=r"expected_failures\[0\]\.level: a deeper level fails as a mismatch "
        "or a load-error, not timeout",
    ):
        spec.load(path)


def test_junit_agrees_with_the_level(workdir, tmp_path):
    for level, failures in (("outputs", 0), ("compile", 39)):
        data = _data(workdir, level)
        report.write_all(data, tmp_path / level)
        cases = list(ET.parse(tmp_path / level / "junit.xml").getroot().iter("testcase"))
        got = [c.find("failure") for c in cases if c.find("failure") is not None]
        assert len(got) == failures == len(data.unexpected_failures)
        assert all(f.get("type").startswith("compile ") for f in got)


@pytest.mark.parametrize("level", ["compile", "training"])
def test_the_shipped_level_entries_explain_the_savedmodels_lost_step_count_and_nothing_else(workdir, level):
    # `report --level training` of the README's quick run failed on these (seen 2026-12-07); now they are known.
    data = _data(workdir, level, shipped=SHIPPED)
    assert data.unexpected_failures == [] and data.problems() == []
    claimed = [c for c in data.matrix_cells if level in (c.levels_expected or {})]
    # 13 producer/consumer pairs of Keras 2: three fixtures at compile, two of them trained at training
    assert len(claimed) == {"compile": 39, "training": 26}[level]
    assert {(c.format, c.loader) for c in claimed} == {("savedmodel", "load_model")}
    assert run.report(_context(workdir, level, shipped=SHIPPED), log=lambda _: None, today=RUN_DATE) == []


def test_another_compile_mismatch_of_a_savedmodel_is_not_the_lost_step_count(workdir):
    # Planted: the optimizer came back as another class; the entry expects only the step count at 0.
    cell = "tf2.15>tf2.15/dense_bn/savedmodel/load_model"
    path = workdir / "results" / "consume-tf2.15.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    (record,) = [r for r in records if r.get("id") == cell]
    record["levels"]["compile"]["reason"] = "optimizer SGD at iteration 3, expected Adam at 3"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    data = _data(workdir, "compile", shipped=SHIPPED)
    assert [c.id for c in data.unexpected_failures] == [cell]


def test_a_compile_level_mismatch_entry_names_the_reason_it_expects(tmp_path):
    path = tmp_path / "matrix.yaml"
    for keys, message in (("", "a compile-level mismatch has no drift to band; give error"),
                          (", error: x, max_abs: 1", r"error: a mismatch entry gives max_abs .* not both")):
        path.write_text(f"""
envs:
  tf2.15: {{python: "3.11", packages: ["tensorflow-cpu==2.15.1"]}}
profiles:
  default: {{envs: [tf2.15]}}
expected_failures:
  - {{producer: "keras<3", consumer: "keras<3", level: compile, verdict: mismatch{keys}, reason: r,
      expires: 2027-11-29}}
""")
        with pytest.raises(spec.SpecError, match=r"expected_failures\[0\]\.?:? ?" + message):
            spec.load(path)
