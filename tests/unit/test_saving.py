"""Saves are cells of their own: a save that fails fails the run unless a phase: produce entry explains it.
Replayed on the recorded quick run of every fixture (tests/data/run-quick-all), with faults planted in its records."""
import dataclasses
import datetime
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

from harness import report, run
from harness import ROOT
from harness.config import spec
from harness.config.matrix_yaml import DEFAULT_MATRIX
from harness.execute import golden
from harness.execute.plan import Selection, discover_fixtures

QUICK_ALL = Path(__file__).resolve().parent.parent / "data" / "run-quick-all"
RUN_DATE = datetime.date(2026, 11, 29)
SHIPPED = spec.load(DEFAULT_MATRIX)
KERAS315 = "tf2.21-keras3.15"


def _workdir(tmp_path):
    shutil.copytree(QUICK_ALL, tmp_path / "run")
    return tmp_path / "run"


def _context(workdir, entries=None):
    loaded = SHIPPED if entries is None else dataclasses.replace(SHIPPED, expected_failures=tuple(entries))
    recorded = json.loads((workdir / "run.json").read_text())
    fixtures = {k: v for k, v in discover_fixtures(ROOT / "fixtures").items() if k in recorded["fixtures"]}
    goldens = {k: v for k, v in golden.discover(ROOT / "fixtures" / "golden").items() if k in recorded["goldens"]}
    selection = Selection("quick", tuple(recorded["envs"]), fixtures, tuple(recorded["formats"]), loaded, goldens)
    return run.Context(loaded, selection, workdir, workdir.parent / "reports")


def _data(workdir, entries=None):
    ctx = _context(workdir, entries)
    return report.build(ctx.spec, ctx.selection, workdir, RUN_DATE)


def _crash_keras315_h5_saves(workdir):
    """As if Keras 3.15's worker had died in every HDF5 save: crash records, no artifacts, so no consume
    record of them in any consumer."""
    path = workdir / "results" / f"produce-{KERAS315}.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    for record in records:
        if record.get("format") == "h5" and record.get("verdict") == "saved":
            for key in ("bytes", "container", "note", "training_note"):
                record.pop(key, None)
            record.update(verdict="crash", reason="worker died with SIGSEGV while saving")
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    _drop_loads(workdir, "format", "h5")


def test_the_recorded_save_errors_are_explained_by_a_produce_entry(tmp_path):
    data = _data(_workdir(tmp_path))
    failed = [c for c in data.saves if c.original_verdict == "save-error"]
    assert {(c.producer, c.fixture, c.format, c.verdict) for c in failed} == {
        ("tf2.15", "subclassed", "h5", "xfail"), ("tf2.16-tfkeras", "subclassed", "h5", "xfail")}
    assert data.problems() == []
    # Without that entry the run fails, naming the saves.
    entries = [e for e in SHIPPED.expected_failures if e.phase == "consume"]
    (problem,) = _data(_workdir(tmp_path / "bare"), entries).problems()
    assert problem.startswith("2 saves failed that no live expected_failures entry with phase: produce explains: "
                              "tf2.15: h5/save (subclassed); tf2.16-tfkeras: h5/save (subclassed)")


def test_keras315_h5_saves_that_crashed_fail_the_run(tmp_path):
    workdir = _workdir(tmp_path)
    before = _data(_workdir(tmp_path / "before"))
    _crash_keras315_h5_saves(workdir)
    data = _data(workdir)
    crashed = [c for c in data.saves if c.verdict == "crash"]
    assert len(crashed) == 20 and {c.producer for c in crashed} == {KERAS315}
    skipped = [c for c in data.matrix_cells if c.verdict == "skipped" and c.producer == KERAS315]
    assert len(skipped) == 60 and all("crash while saving" in c.reason for c in skipped)
    former = {c.id for c in before.matrix_cells if c.verdict == "pass" or c.works_with}
    assert len(former & {c.id for c in skipped}) == 18  # loads (with compile=False) that a skip would have hidden
    problems = data.problems()
    assert any(p.startswith(f"20 saves failed that no live expected_failures entry with phase: produce explains: "
                            f"{KERAS315}: h5/save") for p in problems), problems
    assert run.report(_context(workdir), log=lambda _: None, today=RUN_DATE) == problems
    md = (tmp_path / "reports" / "matrix.md").read_text()
    assert "## Saving" in md and "| tf2.21-keras3.15 | ✓ 20/20" not in md
    assert "- crash: `crash: worker died with SIGSEGV while saving` (20 saves): tf2.21-keras3.15: h5/save" in md
    html = (tmp_path / "reports" / "matrix.html").read_text()
    assert "<h2>Saving</h2>" in html and "does not work; NEW" in html
    results = json.loads((tmp_path / "reports" / "results.json").read_text())
    assert sum(s["verdict"] == "crash" for s in results["saves"]) == 20
    cases = list(ET.parse(tmp_path / "reports" / "junit.xml").getroot().iter("testcase"))
    assert sum(c.get("classname") == "h5.save" and c.find("error") is not None for c in cases) == 20


def test_a_fixture_that_cannot_be_built_there_stays_unsupported_and_passes(tmp_path):
    workdir = _workdir(tmp_path)
    path = workdir / "results" / f"produce-{KERAS315}.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    for record in records:  # as a fixture whose BACKENDS leave out the backend is recorded
        if record.get("fixture") == "string_lookup":
            record.update(verdict="unsupported", reason="fixture string_lookup declares BACKENDS tensorflow")
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    _drop_loads(workdir, "fixture", "string_lookup")
    data = _data(workdir)
    assert sum(c.verdict == "unsupported" and c.fixture == "string_lookup" for c in data.saves) == 9
    assert not data.failed_saves and data.problems() == []


def test_a_produce_entry_that_claims_a_save_that_worked_is_stale(tmp_path):
    stale = spec.ExpectedFailure(0, "keras>=3", None, "r", datetime.date(2027, 1, 1), fixtures=("dense_bn",),
                                 formats=("keras",), phase="produce", verdict="save-error", error="x")
    data = _data(_workdir(tmp_path), [stale])
    (claimed,) = data.xpasses
    assert claimed.id == f"{KERAS315}/dense_bn/keras" and claimed.original_verdict == "saved"
    assert any("passing cells claimed by expected_failures[0]" in p for p in data.problems())


def _drop_loads(workdir, key, value):
    """Remove the consume records of Keras 3.15's artifacts whose ``key`` is ``value``: a producer
    that did not save them leaves nothing to load."""
    for consume in (workdir / "results").glob("consume-*.jsonl"):
        kept = [line for line in consume.read_text().splitlines()
                if not json.loads(line).get("id", "").startswith(f"{KERAS315}>") or json.loads(line).get(key) != value]
        consume.write_text("".join(line + "\n" for line in kept))
