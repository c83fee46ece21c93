"""Expected failures, applied to the records of a real default-profile run (tests/data/run-default)."""
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
from harness.execute import golden
from harness.execute.plan import Selection, discover_fixtures
from harness.report.markdown import summarize

RUN = Path(__file__).resolve().parent.parent / "data" / "run-default"
RUN_DATE = datetime.date(2026, 12, 7)  # the day the run was recorded
SHIPPED = spec.load(DEFAULT_MATRIX)
EXPLAINABLE = {"works-with", "mismatch", "load-error", "crash", "timeout"}


@pytest.fixture()
def workdir(tmp_path):
    shutil.copytree(RUN, tmp_path / "run")
    return tmp_path / "run"


def _entry(index=0, **fields):
    base = dict(index=index, producer="keras>=0", consumer="keras>=0", reason="because",
                expires=datetime.date(2027, 11, 29))
    return spec.ExpectedFailure(**dict(base, **fields))


def _context(workdir, entries=None):
    loaded = SHIPPED if entries is None else dataclasses.replace(SHIPPED, expected_failures=tuple(entries))
    recorded = json.loads((workdir / "run.json").read_text())
    fixtures = {k: v for k, v in discover_fixtures(ROOT / "fixtures").items() if k in recorded["fixtures"]}
    selection = Selection("default", tuple(recorded["envs"]), fixtures, tuple(recorded["formats"]), loaded)
    return run.Context(loaded, selection, workdir, workdir.parent / "reports")


def _data(workdir, entries=None, today=RUN_DATE):
    ctx = _context(workdir, entries)
    return report.build(ctx.spec, ctx.selection, workdir, today)


@pytest.mark.parametrize("requirement, envs", [
    ("keras>=3", {"tf2.16-keras3.3", "tf2.21-keras3.15", "keras3.15-jax", "keras3.15-torch"}),
    ("keras<3", {"tf2.10", "tf2.13", "tf2.15", "tf2.16-tfkeras"}),
    ("keras==2.13.*", {"tf2.13"}),
    ("keras>=2.14,<3", {"tf2.15", "tf2.16-tfkeras"}),
    ("tensorflow<2.13", {"tf2.10"}),
    ("tensorflow-cpu==2.16.*", {"tf2.16-tfkeras", "tf2.16-keras3.3"}),
    ("tf-keras>=2", {"tf2.16-tfkeras"}),
    ("keras>=3.13", {"tf2.21-keras3.15", "keras3.15-jax", "keras3.15-torch"}),
])
def test_requirements_match_the_environments_pinned_versions(requirement, envs):
    matched = {name for name in SHIPPED.profiles["default"].envs
               if spec.satisfies(SHIPPED.envs[name].versions(), requirement)}
    assert matched == envs


def test_the_shipped_entries_explain_every_failure_of_the_real_run_and_hide_no_pass(workdir):
    data = _data(workdir)
    assert data.unexpected_failures == [] and data.xpasses == [] and data.problems() == []
    assert data.counts() == {"pass": 662, "unsupported": 435, "xfail": 415}
    # Every entry that could match a cell of this run (its fixtures, formats and environments are in the
    # run) explains some failure; the others are about fixtures or environments the snapshot lacks.
    recorded = json.loads((workdir / "run.json").read_text())
    envs = [SHIPPED.envs[name].versions() for name in recorded["envs"]]
    held = [c.holds for c in data.cells if c.holds]

    tags = [data.selection.fixture_tags[name] for name in recorded["fixtures"]]

    def could_match(e):
        return e.phase == "consume" and (not e.keyed_by_holds or any(e.covers_holds(h) for h in held)) \
            and (not e.fixtures or set(e.fixtures) & set(recorded["fixtures"])) \
            and (not e.formats or set(e.formats) & set(recorded["formats"])) \
            and (not e.tags or any(set(e.tags) <= set(held) for held in tags)) \
            and (not e.loaders or set(e.loaders) & set(data.selection.loaders or e.loaders)) \
            and any(spec.satisfies(v, e.producer) for v in envs) and any(spec.satisfies(v, e.consumer) for v in envs)

    assert {o.status for o in data.expectations if could_match(o.entry)} == {"live"}
    assert {o.status for o in data.expectations} <= {"live", "unused"}
    assert all(c.original_verdict in EXPLAINABLE for c in data.matrix_cells if c.verdict == "xfail")
    # The negative controls are never converted: they must stay mismatches.
    assert {c.verdict for c in data.controls} == {"mismatch"}


def test_the_shipped_run_exits_zero_and_fails_without_its_entries(workdir):
    assert run.report(_context(workdir), log=lambda _: None, today=RUN_DATE) == []
    problems = run.report(_context(workdir, entries=()), log=lambda _: None, today=RUN_DATE)
    assert problems == ["415 failing cells that no live expected_failures entry explains "
                        "(see 'Failures by error signature' in matrix.md)"]


def test_an_xfail_keeps_the_runs_verdict_and_error(workdir):
    data = _data(workdir)
    (got,) = [c for c in data.cells if c.id == "tf2.21-keras3.15>tf2.15/dense_bn/h5/load_model"]
    assert (got.verdict, got.original_verdict, got.expected_failure) == ("xfail", "load-error", 0)
    assert got.error_type == "TypeError" and "batch_shape" in got.error_message
    assert summarize(data.cells_at("h5", "load_model", "tf2.21-keras3.15", "tf2.15")) == "✗ 0/3 (3 known)"
    assert summarize(data.cells_at("h5", "load_model", "tf2.15", "tf2.21-keras3.15")) == \
        "✓* 0/3 (3 with compile=False, 3 known)"
    (changed,) = [c for c in data.cells if c.id == "tf2.15>tf2.21-keras3.15/dense_bn/h5/load_model"]
    assert (changed.verdict, changed.original_verdict, changed.works_with) == ("xfail", "works-with", "compile=False")
    assert "keras.metrics.mse" in changed.error_message


def test_a_narrow_entry_leaves_the_other_failures_unexpected(workdir):
    narrow = _entry(producer="keras>=3.13", consumer="keras==2.15.*", fixtures=("dense_bn",))
    data = _data(workdir, [narrow])
    assert summarize(data.cells_at("h5", "load_model", "tf2.21-keras3.15", "tf2.15")) == "✗ 0/3 (1 known, 2 new)"
    (outcome,) = data.expectations
    # dense_bn from Keras 3.15 fails in TF 2.15 in five columns, one cell each
    assert len(outcome.xfail) == 5 and {c.format for c in outcome.xfail} == {
        "h5", "keras", "json", "checkpoint", "tf_saved_model"}
    assert len(data.unexpected_failures) == 415 - 5


def test_an_entry_that_claims_passes_is_stale_and_fails_the_run(workdir, tmp_path):
    # TF 2.15 h5 files load and match in Keras 2.15 and tf_keras: an entry saying they fail hides 6 passes.
    stale = _entry(index=0, producer="keras==2.15.*", consumer="keras>=2.14,<3", formats=("h5",),
                   link="https://x.y/1")
    data = _data(workdir, [stale])
    assert len(data.xpasses) == 6 and {c.original_verdict for c in data.xpasses} == {"pass"}
    assert data.expectations[0].status == "stale"
    assert summarize(data.cells_at("h5", "load_model", "tf2.15", "tf2.16-tfkeras")) == "✓ 3/3 (3 xpass)"
    assert "6 passing cells claimed by expected_failures[0]: narrow or remove the stale entries" in data.problems()
    report.write_all(data, tmp_path / "reports")
    cases = {(c.get("classname"), c.get("name")): c
             for c in ET.parse(tmp_path / "reports" / "junit.xml").getroot().iter("testcase")}
    failure = cases[("h5.load_model", "tf2.15 -> tf2.16-tfkeras [dense_bn]")].find("failure")
    assert failure is not None and failure.get("type") == "xpass" and "stale" in failure.get("message")
    md = (tmp_path / "reports" / "matrix.md").read_text()
    assert "**Stale: it claims 6 cells that passed; narrow or remove it:**" in md
    assert "- tf2.15 → tf2.16-tfkeras: h5/load_model (dense_bn, small_cnn, twin_dense)" in md


def test_an_expired_entry_converts_nothing_and_is_listed(workdir, tmp_path):
    ctx = _context(workdir)
    first, last = min(e.expires for e in SHIPPED.expected_failures), max(e.expires for e in SHIPPED.expected_failures)
    day_after = last + datetime.timedelta(days=1)
    on_the_day = report.build(ctx.spec, ctx.selection, workdir, first)
    assert on_the_day.problems() == []  # an entry is live through its expires date
    data = report.build(ctx.spec, ctx.selection, workdir, day_after)
    assert {o.status for o in data.expectations} == {"expired"}
    assert data.counts() == {"pass": 662, "works-with": 51, "load-error": 364, "unsupported": 435}
    assert len({c.id for o in data.expectations for c in o.unexplained}) == 415
    report.write_all(data, tmp_path / "reports")
    md = (tmp_path / "reports" / "matrix.md").read_text()
    assert "## Expected failures" in md and md.count(": expired, 0 xfail") == len(SHIPPED.expected_failures)
    assert "**Run health: fails** (exit status 1): 415 failing cells" in md


def test_the_first_live_entry_claims_a_cell(workdir):
    expired = _entry(index=0, producer="keras>=3", consumer="keras<3", expires=datetime.date(2026, 1, 1))
    first = _entry(index=1, producer="keras>=3", consumer="keras<3", formats=("h5",))
    second = _entry(index=2, producer="keras>=3", consumer="keras<3")
    data = _data(workdir, [expired, first, second])
    outcomes = {o.entry.index: o for o in data.expectations}
    assert len(outcomes[1].xfail) == 24 and {c.format for c in outcomes[2].xfail} == {
        "keras", "keras_weights", "json", "checkpoint", "tf_saved_model"}
    assert outcomes[0].status == "expired" and outcomes[0].unexplained == []  # live entries explained them


def test_reports_show_xfail_in_junit_results_json_and_html(workdir, tmp_path):
    data = _data(workdir)
    report.write_all(data, tmp_path / "reports")
    cases = list(ET.parse(tmp_path / "reports" / "junit.xml").getroot().iter("testcase"))
    skipped = [c.find("skipped") for c in cases if c.find("skipped") is not None]
    xfails = [s for s in skipped if s.get("type") == "xfail"]
    assert len(xfails) == 415 and not [c for c in cases if c.find("failure") is not None]
    assert any("expected_failures[0]: Keras 3 model configs" in s.get("message") for s in xfails)
    results = json.loads((tmp_path / "reports" / "results.json").read_text())
    assert results["problems"] == [] and results["counts"]["xfail"] == 415
    entries = [f"expected_failures[{i}]" for i in range(len(SHIPPED.expected_failures))]
    assert [e["entry"] for e in results["expected_failures"]] == entries
    assert results["expected_failures"][0]["expires"] == "2027-11-29" and results["expected_failures"][0]["xfail"]
    html = (tmp_path / "reports" / "matrix.html").read_text()
    assert 'class="none-known"' in html and "does not work; known" in html and "Run health: passes" in html
    assert "https://github.com/keras-team/keras/issues/18830" in html


def test_closest_passes_are_the_highest_margins(workdir, tmp_path):
    path = workdir / "results" / "consume-tf2.15.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    for i, record in enumerate(records):
        if record["verdict"] == "pass":
            record["margin"] = i / 1000
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    data = _data(workdir)
    closest = data.closest_passes(limit=3)
    assert [c.margin for c in closest] == sorted((c.margin for c in closest), reverse=True)
    assert closest[0].margin == max(c.margin for c in data.matrix_cells if c.margin is not None)
    report.write_all(data, tmp_path / "reports")
    md = (tmp_path / "reports" / "matrix.md").read_text()
    section = md[md.index("## Closest passes"):]
    assert f"{closest[0].margin:.3f}" in section and "No pass recorded a margin" not in section
    assert f"{closest[0].margin:.3f}" in (tmp_path / "reports" / "matrix.html").read_text()


QUICK_ALL = Path(__file__).resolve().parent.parent / "data" / "run-quick-all"


def _quick_all_data(tmp_path, entries=None):
    shutil.copytree(QUICK_ALL, tmp_path / "run")
    workdir = tmp_path / "run"
    loaded = SHIPPED if entries is None else dataclasses.replace(SHIPPED, expected_failures=tuple(entries))
    recorded = json.loads((workdir / "run.json").read_text())
    fixtures = {k: v for k, v in discover_fixtures(ROOT / "fixtures").items() if k in recorded["fixtures"]}
    goldens = {k: v for k, v in golden.discover(ROOT / "fixtures" / "golden").items() if k in recorded["goldens"]}
    selection = Selection("quick", tuple(recorded["envs"]), fixtures, tuple(recorded["formats"]), loaded, goldens)
    return report.build(loaded, selection, workdir, RUN_DATE)


def test_the_shipped_entries_explain_the_quick_run_of_every_fixture_and_the_goldens(tmp_path):
    data = _quick_all_data(tmp_path)
    assert data.unexpected_failures == [] and data.xpasses == [] and data.problems() == []
    xfails = [c for c in data.matrix_cells if c.verdict == "xfail"]
    assert len(xfails) == 607 and {c.producer for c in xfails} >= {"golden-tf2.4", "golden-tf2.7"}
    # The goldens are matched by their recorded versions: TF 2.4's SavedModel keeps its Keras metadata
    # and loads, TF 2.7's does not.
    (old,) = {c.verdict for c in data.cells_at("tf_saved_model", "load_model", "golden-tf2.4", "tf2.15")
              if c.fixture in ("dense_bn", "small_cnn", "twin_dense")}
    (newer,) = {c.verdict for c in data.cells_at("tf_saved_model", "load_model", "golden-tf2.7", "tf2.15")
                if c.fixture in ("dense_bn", "small_cnn", "twin_dense")}
    assert (old, newer) == ("pass", "xfail")
    # Without its entries the run fails on every one of those cells.
    assert len(_quick_all_data(tmp_path / "bare", entries=()).unexpected_failures) == 607


def test_reports_say_when_an_entry_matches_only_where_the_pythons_differ(workdir, tmp_path):
    """Two entries that differ only by python: the reports must tell them apart."""
    entries = [_entry(0, formats=("h5",), python="differs"), _entry(1, formats=("h5",), python="same")]
    data = _data(workdir, entries)
    report.write_all(data, tmp_path / "reports")
    md = (tmp_path / "reports" / "matrix.md").read_text()
    assert "### `expected_failures[0]`: `keras>=0` → `keras>=0`, format h5, python differs:" in md
    assert "### `expected_failures[1]`: `keras>=0` → `keras>=0`, format h5, python same:" in md
    assert "format h5, python differs:" in (tmp_path / "reports" / "matrix.html").read_text()
    results = json.loads((tmp_path / "reports" / "results.json").read_text())
    assert [e["python"] for e in results["expected_failures"]] == ["differs", "same"]
