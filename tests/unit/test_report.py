"""Reports rendered from the records of a real default-profile run (tests/data/run-default)."""
import dataclasses
import datetime
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness import report
from harness import ROOT
from harness.config import spec
from harness.config.matrix_yaml import DEFAULT_MATRIX
from harness.execute.plan import Selection, discover_fixtures
from harness.report.markdown import summarize
from harness.workdir import append_record, read_json

RUN = Path(__file__).resolve().parent.parent / "data" / "run-default"


@pytest.fixture()
def workdir(tmp_path):
    shutil.copytree(RUN, tmp_path / "run")
    return tmp_path / "run"


RUN_DATE = datetime.date(2026, 12, 7)  # the day tests/data/run-default was recorded


def _data(workdir, expected_failures=False, today=RUN_DATE):
    """Report data of the run in ``workdir`` under the shipped matrix.yaml; its expected_failures
    entries apply only when asked, so the other tests see the run's own verdicts."""
    loaded = spec.load(DEFAULT_MATRIX)
    if not expected_failures:
        loaded = dataclasses.replace(loaded, expected_failures=())
    run = json.loads((workdir / "run.json").read_text())
    fixtures = {k: v for k, v in discover_fixtures(ROOT / "fixtures").items() if k in run["fixtures"]}
    selection = Selection("default", tuple(run["envs"]), fixtures, tuple(run["formats"]), loaded)
    return report.build(loaded, selection, workdir, today)


def test_every_planned_cell_has_one_verdict(workdir):
    data = _data(workdir)
    assert len(data.matrix_cells) == 6 * 6 * 3 * 14  # 14 (format, loader) columns
    assert data.counts() == {"pass": 662, "works-with": 51, "load-error": 364, "unsupported": 435}
    assert len(data.controls) == 6 * 6 * 3 and {c.verdict for c in data.controls} == {"mismatch"}


def test_table_cells_match_the_hand_measured_outcomes(workdir):
    data = _data(workdir)
    # Keras 3.15 -> TF 2.15: h5 fails (InputLayer batch_shape); TF 2.15 -> Keras 3.15: load_model(path) fails to
    # compile the h5's mse, and compile=False loads and matches (seen 2026-12-07).
    assert summarize(data.cells_at("h5", "load_model", "tf2.21-keras3.15", "tf2.15")) == "✗ 0/3 (3 new)"
    assert summarize(data.cells_at("h5", "load_model", "tf2.15", "tf2.21-keras3.15")) == \
        "✓* 0/3 (3 with compile=False, 3 new)"
    assert summarize(data.cells_at("h5", "load_model", "tf2.15", "tf2.16-tfkeras")) == "✓ 3/3"
    # TF 2.13's .keras zip cannot be read by TF 2.10 at all: n/a, not a failure.
    assert summarize(data.cells_at("keras", "load_model", "tf2.13", "tf2.10")) == "n/a"
    # Keras 3 cannot write a Keras SavedModel.
    assert summarize(data.cells_at("savedmodel", "load_model", "tf2.16-keras3.3", "tf2.15")) == "n/a"


def test_failures_are_grouped_by_signature_and_each_known_one_has_a_hint(workdir):
    groups = _data(workdir).failure_groups()
    assert sum(len(g.cells) for g in groups) == 364 + 51
    assert all(g.hint for g in groups), [g.signature for g in groups if not g.hint]
    (mse,) = [g for g in groups if g.verdict == "works-with" and "keras.metrics.mse" in g.signature]
    assert mse.hint.startswith("load_model(path, compile=False) loaded and matched in each of these cells")
    batch_shape = [g for g in groups if "batch_shape" in g.signature]
    assert batch_shape and all("Keras 3" in g.hint for g in batch_shape)


def test_writes_four_reports(workdir, tmp_path):
    data = _data(workdir)
    paths = report.write_all(data, tmp_path / "reports")
    assert sorted(p.name for p in paths) == ["junit.xml", "matrix.html", "matrix.md", "results.json"]
    md = (tmp_path / "reports" / "matrix.md").read_text()
    assert "## `h5` loaded with `load_model`" in md and "## Environments" in md
    assert "| tf2.21-keras3.15" in md and "3.15.1" in md
    cases = ET.parse(tmp_path / "reports" / "junit.xml").getroot().iter("testcase")
    cases = list(cases)
    assert len(cases) == 1512 + 108 + 6 * 3 * 9  # and a case per save
    assert sum(c.find("failure") is not None for c in cases) == 364 + 51
    results = json.loads((tmp_path / "reports" / "results.json").read_text())
    assert len(results["cells"]) == 1620 and results["counts"]["pass"] == 662
    html = (tmp_path / "reports" / "matrix.html").read_text()
    assert html.count('class="none-new"') > 0 and "NEGATIVE CONTROL PASSED" not in html


def test_a_passing_negative_control_is_reported_loudly(workdir, tmp_path):
    path = workdir / "results" / "consume-tf2.15.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    for record in records:
        if record["format"] == "negative-control" and record["producer"] == "tf2.13":
            record.update(verdict="pass", max_abs=0.0, max_rel=0.0, margin=0.0)  # a pass is within its tolerance
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    data = _data(workdir)
    assert len(data.vacuous_controls) == 3
    report.write_all(data, tmp_path / "reports")
    md = (tmp_path / "reports" / "matrix.md").read_text()
    assert md.index("NEGATIVE CONTROL PASSED") < md.index("## `h5`")
    assert "NEGATIVE CONTROL PASSED" in (tmp_path / "reports" / "matrix.html").read_text()


def test_an_env_error_costs_that_environment_its_cells_only(workdir):
    (workdir / "results" / "consume-tf2.10.jsonl").write_text("")
    append_record(workdir / "results" / "consume-tf2.10.jsonl",
                  {"phase": "consume", "scope": "env", "consumer": "tf2.10", "verdict": "env-error",
                   "reason": "no working python3.10"})
    data = _data(workdir)
    errors = [c for c in data.matrix_cells if c.verdict == "env-error"]
    assert len(errors) == 6 * 3 * 14 and {c.consumer for c in errors} == {"tf2.10"}
    assert all(c.reason == "consumer tf2.10: no working python3.10" for c in errors)
    assert summarize(data.cells_at("h5", "load_model", "tf2.15", "tf2.10")) == "env-error"


def test_a_torn_last_line_and_missing_phases_are_not_fatal(workdir):
    with open(workdir / "results" / "consume-tf2.15.jsonl", "a") as handle:
        handle.write('{"id": "half a line')
    (workdir / "results" / "consume-tf2.13.jsonl").unlink()
    data = _data(workdir)
    missing = [c for c in data.matrix_cells if c.consumer == "tf2.13" and c.verdict == "skipped"]
    assert missing and all("no consume result" in c.reason for c in missing)


def test_garbage_lines_and_non_object_json_files_are_skipped_not_fatal(workdir):
    before = _data(workdir).counts()
    with open(workdir / "results" / "consume-tf2.15.jsonl", "ab") as handle:
        handle.write(b'garbage\n123\n[1, 2]\n"text"\nnull\n\xff\xfe\x00 not utf-8\n')
    with open(workdir / "results" / "produce-tf2.15.jsonl", "a") as handle:
        handle.write('42\n')
    (workdir / "results" / "consume-tf2.15.facts.json").write_text("[1]")
    (workdir / "run.json").write_text(json.dumps({"envs": ["tf2.10", "tf2.13", "tf2.15", "tf2.16-tfkeras",
                                                           "tf2.16-keras3.3", "tf2.21-keras3.15"],
                                                  "fixtures": ["dense_bn", "small_cnn", "twin_dense"],
                                                  "formats": json.loads((RUN / "run.json").read_text())["formats"]}))
    assert _data(workdir).counts() == before
    assert read_json(workdir / "nothing.json") == {}
    (workdir / "list.json").write_text("[1]")
    assert read_json(workdir / "list.json") == {}


def test_a_work_dir_without_results_is_refused_and_leaves_the_last_reports_alone(tmp_path):
    from harness import run
    loaded = spec.load(DEFAULT_MATRIX)
    fixtures = {k: v for k, v in discover_fixtures(ROOT / "fixtures").items() if k == "dense_bn"}
    selection = Selection("quick", ("tf2.15",), fixtures, ("h5",), loaded)
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "matrix.md").write_text("the last real run")
    ctx = run.Context(loaded, selection, tmp_path / "typo", reports)
    (problem,) = run.report(ctx, log=lambda _: None)
    assert f"--workdir {tmp_path / 'typo'}: no results of tf2.15" in problem
    assert (reports / "matrix.md").read_text() == "the last real run"


def test_reports_that_cannot_be_written_are_one_problem_not_a_traceback(workdir, tmp_path):
    from harness import run
    loaded = spec.load(DEFAULT_MATRIX)
    fixtures = {k: v for k, v in discover_fixtures(ROOT / "fixtures").items() if k == "dense_bn"}
    selection = Selection("quick", ("tf2.15",), fixtures, ("h5",), loaded)
    (tmp_path / "a-file").write_text("not a folder")
    (problem,) = run.report(run.Context(loaded, selection, workdir, tmp_path / "a-file"), log=lambda _: None)
    assert problem.startswith(f"--reports {tmp_path / 'a-file'}: cannot write the reports (")


def test_an_environment_record_missing_its_fields_still_costs_only_that_environment(workdir):
    with open(workdir / "results" / "consume-tf2.15.jsonl", "a") as handle:
        handle.write('{"scope": "env"}\n')
    cells = [c for c in _data(workdir).matrix_cells if c.consumer == "tf2.15"]
    assert {c.verdict for c in cells} == {"env-error"} and cells[0].reason == "consumer tf2.15: None"
