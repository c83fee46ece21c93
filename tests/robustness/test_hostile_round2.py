"""Hostile input, round 2 (issue 23): each case as it was reproduced, then what the harness does now.

The shared paths each case goes through: names joined through ``harness.guard.within`` (golden), one
reader for files the host opens (``harness.guard.read_bytes``), one escaping rule per report format
(``harness.report.escape``), and records that cannot contradict each other (``harness.report.results``)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.config.spec import SpecError
from harness.execute import golden
from harness.guard import OutsideWorkdir


def _produced(work: Path, env: str, records: list[dict]) -> None:
    (work / "results").mkdir(parents=True, exist_ok=True)
    (work / "results" / f"produce-{env}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (work / "results" / f"produce-{env}.facts.json").write_text(json.dumps({"keras": "2.9.0"}))


@pytest.mark.parametrize("field, value", [("fixture", "../../../../../victim"), ("format", "../../../victim"),
                                          ("fixture", "/etc"), ("format", "..")])
def test_golden_refuses_a_produce_record_that_names_a_folder_outside(tmp_path, field, value):
    # The reproduction: artifacts/envA/../../../../../victim/h5 is a/victim/h5, a folder that exists.
    victim = tmp_path / "a" / "victim" / "h5"
    victim.mkdir(parents=True)
    (victim / "secret").write_text("x")
    work = tmp_path / "a" / "b" / "c" / "work"
    record = {"producer": "envA", "fixture": "f", "format": "h5", "verdict": "saved", field: value}
    _produced(work, "envA", [record])
    (work / "artifacts" / "envA" / "f").mkdir(parents=True)
    goldens = tmp_path / "a" / "b" / "golden"
    with pytest.raises((SpecError, OutsideWorkdir), match="refused"):
        golden.freeze("envA", work, goldens)
    assert not goldens.exists() or not any(goldens.rglob("secret"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b", "victim"]


def test_golden_refuses_an_environment_name_that_leaves_fixtures_golden(tmp_path):
    with pytest.raises((SpecError, OutsideWorkdir), match="refused"):
        golden.freeze("../escape", tmp_path / "work", tmp_path / "golden")


# --- scan: a polyglot (HDF5 with a .keras zip appended) -------------------------------------------------

def _polyglot(path: Path) -> Path:
    """A harmless HDF5 model file with a .keras zip appended whose config names ``os.system``: Keras 3 and
    Keras 2.13+ decide by the name and ``zipfile.is_zipfile``, so they load the zip."""
    import h5py

    from tests.unit.test_security_scan import os_keras

    with h5py.File(path, "w") as handle:
        handle.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {"layers": []}})
        handle.attrs["keras_version"] = "2.9.0"
    zipped = os_keras(path.with_name("inner.keras"))
    path.write_bytes(path.read_bytes() + zipped.read_bytes())
    zipped.unlink()
    return path


def test_scan_looks_at_every_container_a_polyglot_is_and_judges_it_as_keras_loads_it(tmp_path):
    from harness.check.security.scan import main

    status, text = main([str(_polyglot(tmp_path / "model.keras")), "--to", "keras==3.8.0", "--format", "json"])
    found = json.loads(text)["files"][0]
    assert status == 1, text
    assert found["container"] == "zip" and found["format"] == "keras"
    kinds = {f["kind"] for f in found["findings"]}
    assert {"polyglot", "function_reference"} <= kinds
    assert found["targets"][0]["verdict"] == "runs code"


def test_a_polyglot_named_h5_is_loaded_as_hdf5_but_its_zip_is_still_named(tmp_path):
    from harness.check.security.scan import main

    status, text = main([str(_polyglot(tmp_path / "model.h5")), "--to", "keras==3.8.0", "--format", "json"])
    found = json.loads(text)["files"][0]
    assert found["container"] == "hdf5"
    assert "polyglot" in {f["kind"] for f in found["findings"]}
    assert found["targets"][0]["verdict"] == "nothing found" and status == 0


def test_check_says_a_polyglot_is_both(tmp_path):
    from harness.check.modelfile import read_model_file

    found = read_model_file(_polyglot(tmp_path / "model.keras"))
    assert found.container == "zip" and any("also an HDF5 file" in note for note in found.notes)
    found = read_model_file(_polyglot(tmp_path / "model.h5"))
    assert found.container == "hdf5" and any("also a zip archive" in note for note in found.notes)


# --- one escaping rule per report format ------------------------------------------------------------------

INJECTION = ("bad ` <img src=x onerror=alert(1)> `\n\n# Injected heading\n| a | b |\n![i](http://x/y.png) "
             "\x1b[31mred\x1b[0m \x07\x00")


def markdown_tokens(text: str):
    """matrix.md as CommonMark with GitHub's tables, flattened to its tokens and their children."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    return tokens + [child for t in tokens for child in (t.children or [])]


def assert_no_markup_from(text: str, injected: str = "Injected") -> None:
    """No raw HTML, image or link anywhere, and the injected heading is no heading."""
    tokens = markdown_tokens(text)
    kinds = {t.type for t in tokens}
    assert not kinds & {"html_inline", "html_block", "image", "link_open"}, kinds
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert not any(injected in h and not h.startswith(("failure", "load-error", "###")) and "`" not in h
                   for h in headings), headings


def _injected_run(tmp_path, **fields):
    from tests.robustness.test_hostile_records import ENV, _report, _workdir

    workdir = _workdir(tmp_path, **fields)
    facts = {"keras": "3.0 | <b>bold</b>\n| x | y |", "tensorflow": "2.15`<script>alert(1)</script>`"}
    (workdir / "results" / f"consume-{ENV}.facts.json").write_text(json.dumps(facts))
    (workdir / "results" / f"produce-{ENV}.facts.json").write_text(json.dumps(facts))
    problems, lines, results = _report(tmp_path, workdir)
    return tmp_path / "reports", results


def test_an_error_message_cannot_end_its_code_span_or_leave_raw_html_in_matrix_md(tmp_path):
    reports, _ = _injected_run(tmp_path, verdict="load-error", error_type="ValueError", error_message=INJECTION,
                               margin=None, max_abs=None, max_rel=None)
    text = (reports / "matrix.md").read_text()
    assert_no_markup_from(text)
    assert "\x1b" not in text and "\x00" not in text


def test_a_facts_value_stays_in_its_cell_of_the_environments_table(tmp_path):
    reports, _ = _injected_run(tmp_path)
    tokens = markdown_tokens((reports / "matrix.md").read_text())
    assert_no_markup_from((reports / "matrix.md").read_text())
    cells = ["".join(child.content for child in t.children) for t in tokens if t.type == "inline"]
    assert any("<b>bold</b>" in c and "| x | y |" in c for c in cells)


def test_junit_xml_parses_with_ansi_and_control_characters_in_an_error(tmp_path):
    import xml.etree.ElementTree as ET

    reports, _ = _injected_run(tmp_path, verdict="load-error", error_type="ValueError", error_message=INJECTION,
                               error_text="Traceback\n\x1b[1mValueError\x1b[0m: \x0b\x0c\ufffe bad",
                               margin=None, max_abs=None, max_rel=None)
    root = ET.fromstring((reports / "junit.xml").read_bytes())
    failure = next(root.iter("failure"))
    assert "red" in failure.get("message") and "\x1b" not in failure.get("message")


def _strict(text: str):
    def refuse(name):
        raise ValueError(f"{name} in strict JSON")

    return json.loads(text, parse_constant=refuse)


def test_results_json_is_strict_json_and_names_what_was_not_a_number(tmp_path):
    reports, _ = _injected_run(tmp_path, verdict="mismatch", max_abs=float("nan"), max_rel=float("inf"),
                               margin=float("-inf"))
    results = _strict((reports / "results.json").read_text())
    cell = next(c for c in results["cells"] if c["verdict"] == "mismatch")
    assert (cell["max_abs"], cell["max_rel"], cell["margin"]) == ("NaN", "Infinity", "-Infinity")


def test_a_strict_results_json_with_named_numbers_still_compares(tmp_path):
    from harness.report.results_file import read_results

    reports, _ = _injected_run(tmp_path, verdict="mismatch", max_abs=float("nan"))
    data = read_results(reports / "results.json")
    cell = next(c for c in data["cells"] if c["verdict"] == "mismatch")
    assert cell["max_abs"] != cell["max_abs"]  # NaN again


def test_check_report_md_holds_a_layer_name_keras_echoes_and_versions_from_the_file_as_text(tmp_path):
    from harness.check import report
    from tests.unit.test_check_report import K3, SOURCE, TFK, _plan, _reference, _write

    planned = _plan(tmp_path)
    planned = type(planned)(**{**planned.__dict__, "file": dict(planned.file, keras_version="2.15`<img src=x>`",
                                                                  tensorflow_version="2.15\n\n# Injected heading<b>",
                                                                  path=str(tmp_path / "a`<b>x</b>|.keras"))})
    _reference(planned)
    _write(planned, TFK, verdict="pass", max_abs=0.0, max_rel=0.0, reference="load_model")
    _write(planned, K3, verdict="load-error", error_type="TypeError",
           error_message="Unknown layer: '`<img src=x onerror=alert(1)>`'\n\n# Injected heading")
    text = report.render_markdown(report.build(planned))
    assert_no_markup_from(text)
    assert SOURCE in text


def test_trend_md_holds_a_profile_from_a_results_json_as_text(tmp_path):
    from harness.report import trend

    night = Path(__file__).resolve().parents[1] / "data" / "history" / "night1.json"
    data = json.loads(night.read_text())
    data["run"]["profile"] = "x | <img src=x onerror=alert(1)>\n# Injected heading"
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "results.json").write_text(json.dumps(data))
    trend.main([str(tmp_path / "store"), "--out", str(tmp_path / "out" / "trend.html")], log=lambda _: None)
    text = (tmp_path / "out" / "trend.md").read_text()
    assert_no_markup_from(text)
    assert "<img" not in (tmp_path / "out" / "trend.html").read_text()


def test_scan_md_holds_a_file_name_and_a_config_as_text(tmp_path):
    from harness.check.security.scan import main
    from tests.unit.test_security_scan import os_keras

    path = os_keras(tmp_path / "`<img src=x onerror=alert(1)>`|.keras")
    _, text = main([str(path), "--to", "keras==3.8.0"])
    assert_no_markup_from(text)


def test_a_compare_results_json_adds_no_heading_or_script_to_matrix_md(tmp_path):
    from tests.robustness.test_hostile_records import ENV, _workdir
    from harness import run

    workdir = _workdir(tmp_path)
    previous = {"run": {"started": 0.5}, "environments": {}, "cells": [
        {"id": "x`\n\n# Injected heading\n<script>alert(1)</script>", "producer": "<script>p</script>",
         "consumer": ENV, "fixture": "f", "format": "h5", "loader": "load_model", "verdict": "pass"}]}
    (tmp_path / "previous.json").write_text(json.dumps(previous))
    ctx = run.Context.from_args(["--workdir", str(workdir), "--reports", str(tmp_path / "reports"), "--envs", ENV,
                                 "--fixtures", "dense_bn", "--no-goldens", "--compare",
                                 str(tmp_path / "previous.json`<img src=x>`")])
    run.report(ctx, log=lambda _: None)
    assert_no_markup_from((tmp_path / "reports" / "matrix.md").read_text())
    (tmp_path / "previous.json`<img src=x>`").write_text(json.dumps(previous))
    run.report(ctx, log=lambda _: None)
    text = (tmp_path / "reports" / "matrix.md").read_text()
    assert "disappeared" in text
    assert_no_markup_from(text)


# --- one reader: a FIFO in a file's place is refused, never waited on ----------------------------------------

def _returns_within(func, seconds: float = 10.0):
    """``func()``'s result or exception, failing the test if it has not returned within ``seconds`` (a
    hang on today's code leaves a daemon thread blocked on the FIFO, which ends with the test process)."""
    import threading

    box = {}

    def call():
        try:
            box["value"] = func()
        except BaseException as exc:  # noqa: B036 — handed to the test
            box["error"] = exc

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{func} still blocked after {seconds} s"
    return box


def test_report_refuses_a_fifo_in_place_of_a_results_file(tmp_path):
    import os

    from tests.robustness.test_hostile_records import ENV, _report, _workdir

    workdir = _workdir(tmp_path)
    records = workdir / "results" / f"consume-{ENV}.jsonl"
    records.unlink()
    os.mkfifo(records)
    box = _returns_within(lambda: _report(tmp_path, workdir))
    assert "named pipe" in str(box.get("error")) and str(records) in str(box.get("error"))


def test_report_refuses_a_fifo_in_place_of_run_json(tmp_path):
    import os

    from harness import cli
    from tests.robustness.test_hostile_records import _report, _workdir

    workdir = _workdir(tmp_path)
    (workdir / "run.json").unlink()
    os.mkfifo(workdir / "run.json")
    box = _returns_within(lambda: cli.last_selection(["--workdir", str(workdir)]))
    assert box.get("value") == ["--workdir", str(workdir)]
    box = _returns_within(lambda: _report(tmp_path, workdir))
    assert "value" in box or "named pipe" in str(box.get("error"))


def test_merge_refuses_a_fifo_in_place_of_a_jobs_run_json(tmp_path):
    import os

    from harness.ci.merge import MergeError, read_job

    (tmp_path / "job").mkdir()
    os.mkfifo(tmp_path / "job" / "run.json")
    box = _returns_within(lambda: read_job(tmp_path / "job"))
    assert isinstance(box.get("error"), MergeError) and "named pipe" in str(box["error"])


def test_scan_refuses_a_fifo(tmp_path):
    import os

    from harness.check.modelfile import UserInputError
    from harness.check.security.scan import main

    os.mkfifo(tmp_path / "m.keras")
    box = _returns_within(lambda: main([str(tmp_path / "m.keras"), "--to", "keras==3.8.0"]))
    assert isinstance(box.get("error"), UserInputError) and "named pipe" in str(box["error"])


def test_lock_refuses_a_fifo_as_an_index_answer(tmp_path):
    import os

    from harness.config.lock import LockError, fetch

    (tmp_path / "index" / "keras").mkdir(parents=True)
    os.mkfifo(tmp_path / "index" / "keras" / "json")
    box = _returns_within(lambda: fetch("keras", f"file://{tmp_path / 'index'}", timeout_s=2))
    assert isinstance(box.get("error"), LockError) and "named pipe" in str(box["error"])


def test_a_results_file_that_is_not_utf8_is_named_with_its_byte(tmp_path):
    from harness.guard import NotText, read_text

    (tmp_path / "run.json").write_bytes(b'{"a": "\xff"}')
    with pytest.raises(NotText, match=r"run.json: not UTF-8 text \(byte 7"):
        read_text(tmp_path / "run.json", "run.json")


# --- protobuf walker and archive expansion -------------------------------------------------------------------

def test_a_sparse_saved_model_pb_is_refused_at_its_first_byte(tmp_path):
    import time

    from harness.check.modelfile import UserInputError, read_model_file
    from harness.check.security.findings import scan_file

    folder = tmp_path / "sm"
    folder.mkdir()
    with open(folder / "saved_model.pb", "wb") as handle:  # 64 MiB of zeros, sparse (the was 1.5 GB)
        handle.truncate(64 * 2**20)
    for read in (read_model_file, scan_file):
        started = time.monotonic()
        with pytest.raises(UserInputError, match="field number 0 at byte 0"):
            read(folder)
        assert time.monotonic() - started < 5


def test_a_protobuf_length_past_the_file_is_refused():
    from harness.check.modelfile import UserInputError, protobuf_fields

    with pytest.raises(UserInputError, match="runs past the end"):
        list(protobuf_fields(b"\x12\xff\xff\xff\xff\x0f" + b"x" * 10, Path("saved_model.pb")))


def test_scan_reads_at_most_64_mib_of_an_archive_member(tmp_path):
    import zipfile

    from harness.check.security.findings import scan_file

    path = tmp_path / "bomb.keras"  # an archive of about 80 KB whose config.json expands to 80 MiB
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", "{}")
        archive.writestr("config.json", b" " * (80 * 2**20))
    found = scan_file(path).findings
    assert any(f.kind == "not_scanned" and "64 MiB" in f.detail for f in found), found
    assert any(f.kind == "zip_bomb" for f in found)


# --- records that cannot contradict each other ---------------------------------------------------------------

@pytest.mark.parametrize("fields, why", [
    ({"margin": 57.0}, "a pass with margin 57: past 1"),
    ({"levels": {"weights": {"verdict": "banana"}}}, "levels.weights.verdict 'banana' is none of pass"),
    ({"levels": {"deepest": {"verdict": "pass"}}}, "levels.'deepest' is none of the deeper check levels"),
    ({"error_message": "\ud800"}, "holds a lone surrogate ('\\ud800')"),
    ({"verdict": "xfail"}, "verdict 'xfail' is none of"),
    ({"verdict": "xpass"}, "verdict 'xpass' is none of"),
])
def test_a_record_that_contradicts_itself_is_named_left_out_and_fails_the_run(tmp_path, fields, why):
    from tests.robustness.test_hostile_records import CELL, ENV, _report, _workdir

    workdir = _workdir(tmp_path, **fields)
    problems, _, results = _report(tmp_path, workdir)
    path = workdir / "results" / f"consume-{ENV}.jsonl"
    assert problems[0].startswith(f"{path}: record {CELL!r} left out: {why}"), problems[0]
    assert next(c for c in results["cells"] if c["id"] == CELL)["verdict"] == "skipped"
    ET = pytest.importorskip("xml.etree.ElementTree")
    ET.fromstring((tmp_path / "reports" / "junit.xml").read_bytes())


def test_a_cell_recorded_twice_with_different_content_is_a_conflict_that_fails_the_run(tmp_path):
    from tests.robustness.test_hostile_records import CELL, ENV, _report, _workdir

    workdir = _workdir(tmp_path, verdict="load-error", error_type="OSError", error_message="x", margin=None)
    path = workdir / "results" / f"consume-{ENV}.jsonl"
    failed = json.loads(path.read_text())
    passed = dict(failed, verdict="pass", error_type=None, error_message=None, margin=0.0)
    path.write_text(json.dumps(failed) + "\n" + json.dumps(passed) + "\n")
    problems, _, results = _report(tmp_path, workdir)
    assert any(f"record {CELL!r} left out: recorded 2 times with different content (load-error, pass)" in p
               for p in problems), problems
    assert next(c for c in results["cells"] if c["id"] == CELL)["verdict"] == "skipped"
    assert "recorded 2 times" in (tmp_path / "reports" / "matrix.md").read_text()


def test_the_same_record_twice_is_one_record(tmp_path):
    from tests.robustness.test_hostile_records import CELL, ENV, _report, _workdir

    workdir = _workdir(tmp_path)
    path = workdir / "results" / f"consume-{ENV}.jsonl"
    record = json.loads(path.read_text())
    path.write_text(json.dumps(record) + "\n" + json.dumps(dict(record, seconds=2.5)) + "\n")
    problems, _, results = _report(tmp_path, workdir)
    assert not any("left out" in p for p in problems)
    assert next(c for c in results["cells"] if c["id"] == CELL)["verdict"] == "pass"


def test_two_merged_jobs_that_record_one_cell_differently_are_refused(tmp_path):
    from harness import run
    from harness.ci import merge
    from tests.robustness.test_hostile_merge import _job
    from tests.robustness.test_hostile_records import ENV, _workdir

    source = _workdir(tmp_path / "src")
    record = json.loads((source / "results" / f"consume-{ENV}.jsonl").read_text())
    jobs = []
    for number, verdict in ((1, "pass"), (2, "load-error")):
        job = _job(tmp_path / f"j{number}", [ENV])
        name = f"consume-{ENV}.jsonl" if number == 1 else f"consume-{ENV}.shard1.jsonl"
        (job / "results" / name).write_text(json.dumps(dict(record, verdict=verdict)) + "\n")
        jobs.append(str(job))
    with pytest.raises(merge.MergeError, match="recorded 2 times with different content .pass, load-error."):
        run.merge([*jobs, "--workdir", str(tmp_path / "work")], log=lambda line: None)
    assert not (tmp_path / "work").exists()


# --- matrix.yaml, advisories.yaml, scan --to -------------------------------------------------------------------

@pytest.mark.parametrize("requirement", ["keras==3.*,<3", "keras===banana", "keras==2.*,>=3", "keras==3.8.*,>3.9"])
def test_an_expected_failure_range_that_can_never_match_is_a_matrix_yaml_error(tmp_path, requirement):
    from tests.robustness.test_hostile_matrix import GOOD, _error

    text = GOOD + ("expected_failures:\n  - {producer: '%s', consumer: 'keras>=3', error: x, reason: r, "
                   "expires: 2099-01-01}\n" % requirement)
    assert f"expected_failures[0].producer: {requirement!r} matches no version" in _error(tmp_path, text)


@pytest.mark.parametrize("requirement", ["keras==3.*,>=3.8", "keras===3.8.0", "keras==3.8.*"])
def test_wildcard_and_text_ranges_that_can_match_are_kept(tmp_path, requirement):
    from harness.config import spec
    from tests.robustness.test_hostile_matrix import GOOD

    path = tmp_path / "matrix.yaml"
    path.write_text(GOOD + ("expected_failures:\n  - {producer: '%s', consumer: 'keras>=3', error: x, reason: r, "
                            "expires: 2099-01-01}\n" % requirement))
    assert spec.load(path).expected_failures[0].producer == requirement


def test_a_second_advisories_key_is_refused_not_an_empty_table(tmp_path):
    from harness.check.modelfile import UserInputError
    from harness.check.security.advisories import ADVISORIES, load_advisories

    path = tmp_path / "advisories.yaml"
    path.write_text(ADVISORIES.read_text() + "\nadvisories: []\n")
    with pytest.raises(UserInputError, match=r"duplicate key 'advisories' \(first given on line \d+\)"):
        load_advisories(path)


def test_scan_to_with_one_package_pinned_twice_is_refused(tmp_path):
    from harness.check.modelfile import UserInputError
    from harness.check.security.scan import main
    from tests.unit.test_security_scan import os_keras

    with pytest.raises(UserInputError, match="pins keras twice"):
        main([str(os_keras(tmp_path / "m.keras")), "--to", "keras==3.8.0 keras==2.15.0"])


# --- property tests: arbitrary text through every escaping rule and through the report writers ------------------

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=80) | st.sampled_from(
    ["`", "``", "<script>x</script>", "| a |", "\n\n# h", "![i](u)", "[l](u)", "&amp;", "\x1b[31m", "1. x", "---"])


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_escaped_text_renders_as_written_in_commonmark_and_xml(text):
    import xml.etree.ElementTree as ET

    from markdown_it import MarkdownIt

    from harness.report.escape import md_cell, md_code, md_text, plain, xml_text

    md = MarkdownIt("commonmark").enable("table")
    line = f"- {md_text(text)} and {md_code(text)}"
    tokens = md.parse(line)
    children = [c for t in tokens for c in (t.children or [])]
    assert [t.type for t in tokens] == ["bullet_list_open", "list_item_open", "paragraph_open", "inline",
                                        "paragraph_close", "list_item_close", "bullet_list_close"], line
    assert not {c.type for c in children} & {"html_inline", "image", "link_open", "em_open", "strong_open"}
    code = [c.content for c in children if c.type == "code_inline"]
    assert len(code) == 1
    # A code span shows the text as written, one line (spaces at its ends aside).
    assert code[0].strip() == plain(text).strip() or not plain(text).strip()
    table = f"| a | b |\n|---|---|\n| {md_cell(text)} | x |"
    rows = [t for t in md.parse(table) if t.type == "td_open"]
    assert len(rows) == 2, table
    ET.fromstring(f"<a b='{xml_text(text).replace('&', '&amp;').replace('<', '&lt;').replace(chr(39), '&apos;')}'/>")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(message=TEXT, facts=TEXT, number=st.floats(allow_nan=True, allow_infinity=True))
def test_every_report_parses_whatever_a_record_and_its_facts_say(tmp_path_factory, message, facts, number):
    import xml.etree.ElementTree as ET

    from tests.robustness.test_hostile_records import ENV, _report, _workdir

    tmp_path = tmp_path_factory.mktemp("prop")
    workdir = _workdir(tmp_path, verdict="load-error", error_type="ValueError", error_message=message,
                       error_text=message, reason=message, max_abs=number, margin=None)
    (workdir / "results" / f"consume-{ENV}.facts.json").write_text(json.dumps({"keras": facts, "python": facts}))
    _report(tmp_path, workdir)
    reports = tmp_path / "reports"
    assert_no_markup_from((reports / "matrix.md").read_text(), injected="\0never")
    ET.fromstring((reports / "junit.xml").read_bytes())
    _strict((reports / "results.json").read_text())


# --- tracebacks that were left ----------------------------------------------------------------------------------

def test_a_damaged_releases_cache_costs_its_entries_named_not_every_command(tmp_path, capsys):
    from harness.check import releases
    from harness.config import spec as spec_mod
    from harness.config.matrix_yaml import matrix_path

    path = tmp_path / "releases.json"
    path.write_text(json.dumps({"a": {"python": "3.11", "packages": "tensorflow"}, "../b": {"python": "3.11",
                                "packages": []}, "c": {"python": "3.11", "packages": ["not a req !!"]},
                                "ok": {"python": "3.11", "packages": ["keras==3.8.0"]}}))
    found = releases.with_cached(spec_mod.load(matrix_path()), path)
    assert "ok" in found.envs and not {"a", "../b", "c"} & set(found.envs)
    assert capsys.readouterr().err.count(f"WARNING: {path}: entry") == 3


def test_merge_into_an_unwritable_work_dir_is_one_line(tmp_path):
    import os

    from harness import run
    from harness.ci import merge
    from tests.robustness.test_hostile_merge import _job

    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    job = _job(tmp_path / "j", ["tf2.15"])
    (tmp_path / "work").mkdir()
    (tmp_path / "work").chmod(0o500)
    try:
        with pytest.raises(merge.MergeError, match="cannot write"):
            run.merge([str(job), "--workdir", str(tmp_path / "work")], log=lambda line: None)
    finally:
        (tmp_path / "work").chmod(0o700)


def test_merge_where_a_work_dir_file_is_a_folder_is_one_line(tmp_path):
    from harness import run
    from harness.ci import merge
    from tests.robustness.test_hostile_merge import _job

    job = _job(tmp_path / "j", ["tf2.15"])
    (tmp_path / "work" / "run.json").mkdir(parents=True)  # write_json cannot rename over a folder
    with pytest.raises(merge.MergeError, match="cannot write"):
        run.merge([str(job), "--workdir", str(tmp_path / "work")], log=lambda line: None)


def test_compare_with_a_symlink_loop_is_one_line(tmp_path):
    from harness import run
    from harness.errors import HarnessError
    from harness.report.results_file import HistoryError, read_results

    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(HistoryError, match="--compare"):
        read_results(tmp_path / "loop")
    # The session resolves --compare first: pathlib's RuntimeError ("Symlink loop from ...") was a traceback.
    with pytest.raises(HarnessError, match=r"^--compare .*loop: cannot be read \(a loop of symbolic links\)"):
        run.Context.from_args(["--compare", str(tmp_path / "loop"), "--workdir", str(tmp_path / "w")])


def test_a_model_file_name_with_byte_0xff_is_reported_not_a_traceback(tmp_path):
    import os

    from harness.check.security.scan import main
    from tests.unit.test_security_scan import os_keras

    name = os.fsdecode(b"m\xff`<b>.keras")
    path = os_keras(tmp_path / name)
    status, text = main([str(path), "--to", "keras==3.8.0"])
    text.encode("utf-8")
    assert_no_markup_from(text)
    status, text = main([str(path), "--to", "keras==3.8.0", "--format", "json"])
    json.loads(text)
