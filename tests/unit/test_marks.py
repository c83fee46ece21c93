"""What the reports say at a glance, on the recorded default run (tests/data/run-default): a cell's mark (all,
some, none pass; known apart from new failures), the routes table first, and the run's own wall time."""

import datetime
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from harness import report
from harness import ROOT
from harness.config import spec
from harness.config.matrix_yaml import DEFAULT_MATRIX
from harness.execute.plan import Selection, discover_fixtures
from harness.report.marks import routes, summarize, tone

RUN = Path(__file__).resolve().parent.parent / "data" / "run-default"
RUN_DATE = datetime.date(2026, 11, 29)
SHIPPED = spec.load(DEFAULT_MATRIX)


@pytest.fixture()
def workdir(tmp_path):
    shutil.copytree(RUN, tmp_path / "run")
    return tmp_path / "run"


def _data(workdir, level="outputs"):
    recorded = json.loads((workdir / "run.json").read_text())
    fixtures = {k: v for k, v in discover_fixtures(ROOT / "fixtures").items() if k in recorded["fixtures"]}
    selection = Selection("default", tuple(recorded["envs"]), fixtures, tuple(recorded["formats"]), SHIPPED)
    return report.build(SHIPPED, selection, workdir, RUN_DATE, level)


def test_a_combination_that_fails_under_an_entry_reads_as_not_working_and_known(workdir, tmp_path):
    data = _data(workdir)
    broken = data.cells_at("h5", "load_model", "tf2.21-keras3.15", "tf2.15")  # InputLayer batch_shape, xfail
    works = data.cells_at("h5", "load_model", "tf2.15", "tf2.21-keras3.15")
    assert (summarize(broken), tone(broken)) == ("✗ 0/3 (3 known)", "none-known")
    assert (summarize(works), tone(works)) == ("✓ 3/3", "all")
    report.write_all(data, tmp_path / "reports")
    html = (tmp_path / "reports" / "matrix.html").read_text()
    assert '<td class="none-known"' in html and '<span class="label">does not work; known</span>' in html
    assert '<span class="label">works</span>' in html


def test_routes_come_first_and_list_the_columns_that_carry_every_fixture(workdir, tmp_path):
    data = _data(workdir)
    table = {row[0]: dict(zip(data.selection.envs, row[1:], strict=False)) for row in routes(data)}
    # TF 2.15 -> Keras 3.15: .h5 loads and matches; Keras 3.15 -> TF 2.15: no Keras file format does.
    assert "h5/load_model" in table["tf2.15"]["tf2.21-keras3.15"].split(", ")
    back = table["tf2.21-keras3.15"]["tf2.15"].split(", ")
    assert not {"h5/load_model", "keras/load_model", "json/model_from_json"} & set(back)
    for route in back:  # every route listed carries every fixture
        fmt, loader = route.split("/", 1)
        assert all(c.verdict == "pass" for c in data.cells_at(fmt, loader, "tf2.21-keras3.15", "tf2.15"))
    # At a deeper level fewer columns carry them: Keras 2 .h5 files lose their compile state in Keras 3.
    rows = routes(_data(workdir, "compile"))
    deeper = {row[0]: dict(zip(data.selection.envs, row[1:], strict=False)) for row in rows}
    assert "h5/load_model" not in deeper["tf2.15"]["tf2.21-keras3.15"].split(", ")
    report.write_all(data, tmp_path / "reports")
    md = (tmp_path / "reports" / "matrix.md").read_text()
    assert md.index("## Routes") < md.index("## Saving") < md.index("## `h5` loaded with `load_model`")
    html = (tmp_path / "reports" / "matrix.html").read_text()
    assert html.index("<h2>Routes</h2>") < html.index("<table>") < html.index("<h2>Saving</h2>")


def test_the_wall_time_is_the_runs_own_not_now_minus_its_start(workdir):
    started = json.loads((workdir / "run.json").read_text())["started"]
    for path in (workdir / "results").iterdir():  # as a fresh checkout or copy: every file is new
        os.utime(path, (time.time(), time.time()))
    assert _data(workdir).wall_s is None  # the recorded run kept no phase ends: no time rather than a wrong one
    for name, ended in (
        ("produce-tf2.15", started + 95.0),
        ("consume-tf2.15", started + 612.5),
        ("consume-tf2.10", started - 3600.0),
    ):  # the last: a phase of an earlier run
        (workdir / "results" / f"{name}.stats.json").write_text(json.dumps({"seconds": 90, "ended": ended}))
    data = _data(workdir)
    assert data.wall_s == 612.5
    assert report.summary_line(data).startswith("wall time 612 s, ")
