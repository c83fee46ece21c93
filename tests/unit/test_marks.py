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
from harness.report import upgrade
from harness.report.marks import routes, summarize, tone

RUN = Path(__file__).resolve().parent.parent / "data" / "run-default"
RUN_DATE = datetime.date(2026, 12, 7)
SHIPPED = spec.load(DEFAULT_MATRIX)


@pytest.fixture()
def workdir(tmp_path):
    shutil.copytree(RUN, tmp_path / "run")
    return tmp_path / "run"


def _data(workdir, level="outputs", formats=None):
    recorded = json.loads((workdir / "run.json").read_text())
    fixtures = {k: v for k, v in discover_fixtures(ROOT / "fixtures").items() if k in recorded["fixtures"]}
    selection = Selection("default", tuple(recorded["envs"]), fixtures, tuple(formats or recorded["formats"]), SHIPPED)
    return report.build(SHIPPED, selection, workdir, RUN_DATE, level)


def test_a_combination_that_fails_under_an_entry_reads_as_not_working_and_known(workdir, tmp_path):
    data = _data(workdir)
    broken = data.cells_at("h5", "load_model", "tf2.21-keras3.15", "tf2.15")  # InputLayer batch_shape, xfail
    works = data.cells_at("h5", "load_model", "tf2.15", "tf2.16-tfkeras")
    changed = data.cells_at("h5", "load_model", "tf2.15", "tf2.21-keras3.15")  # load_model(path) cannot compile mse
    assert (summarize(broken), tone(broken)) == ("✗ 0/3 (3 known)", "none-known")
    assert (summarize(works), tone(works)) == ("✓ 3/3", "all")
    assert (summarize(changed), tone(changed)) == ("✓* 0/3 (3 with compile=False, 3 known)", "change-known")
    report.write_all(data, tmp_path / "reports")
    html = (tmp_path / "reports" / "matrix.html").read_text()
    assert '<td class="none-known"' in html and '<span class="label">does not work; known</span>' in html
    assert '<span class="label">works</span>' in html
    assert '<td class="change-known"' in html and '<span class="label">works with a change; known</span>' in html


def test_routes_come_first_and_give_each_pair_its_best_route(workdir, tmp_path):
    data = _data(workdir)
    found = {(a.producer, a.consumer): a for a in upgrade.answers(data)}
    # Keras 2.15 -> 2.10: every compiled file fails load_model(path) (weight_decay), so the best route is a
    # SavedModel's signature, as written; with .h5 alone, compile=False is seen to work: works with a change.
    back = found[("tf2.15", "tf2.10")]
    assert (back.answer, back.best.describe()) == (upgrade.AS_WRITTEN, "savedmodel/tf.saved_model.load")
    h5 = {(a.producer, a.consumer): a for a in upgrade.answers(_data(workdir, formats=["h5"]))}
    assert (h5[("tf2.15", "tf2.10")].answer, h5[("tf2.15", "tf2.10")].best.describe()) == (
        upgrade.WITH_CHANGE, "h5/load_model with compile=False")
    assert h5[("tf2.15", "tf2.13")].answer == upgrade.AS_WRITTEN
    # Keras 3.15 -> 2.15: no Keras file format loads; TF SavedModel signatures carry every fixture as written.
    down = found[("tf2.21-keras3.15", "tf2.15")]
    assert down.answer == upgrade.AS_WRITTEN and down.best.loader in ("tf.saved_model.load", "load_weights")
    for route in [down.best] + down.others:  # every route listed carries every fixture
        assert all(c.verdict == "pass" for c in data.cells_at(route.fmt, route.loader, "tf2.21-keras3.15", "tf2.15"))
    assert ["tf2.15 → tf2.10", upgrade.AS_WRITTEN, "savedmodel/tf.saved_model.load", "4"] in routes(data)
    report.write_all(data, tmp_path / "reports")
    md = (tmp_path / "reports" / "matrix.md").read_text()
    assert md.index("## Can I upgrade?") < md.index("## Routes") < md.index("## Saving") < \
        md.index("## `h5` loaded with `load_model`")
    html = (tmp_path / "reports" / "matrix.html").read_text()
    assert html.index("<h2>Can I upgrade?</h2>") < html.index("<h2>Routes</h2>") < html.index("<h2>Saving</h2>")


def test_the_wall_time_is_the_runs_own_not_now_minus_its_start(workdir):
    started = json.loads((workdir / "run.json").read_text())["started"]
    for path in (workdir / "results").iterdir():  # as a fresh checkout or copy: every file is new
        os.utime(path, (time.time(), time.time()))
        if path.name.endswith(".stats.json"):  # as a run that kept no phase ends
            path.unlink()
    assert _data(workdir).wall_s is None  # no phase ends: no time rather than a wrong one
    for name, ended in (
        ("produce-tf2.15", started + 95.0),
        ("consume-tf2.15", started + 612.5),
        ("consume-tf2.10", started - 3600.0),
    ):  # the last: a phase of an earlier run
        (workdir / "results" / f"{name}.stats.json").write_text(json.dumps({"seconds": 90, "ended": ended}))
    data = _data(workdir)
    assert data.wall_s == 612.5
    assert report.summary_line(data).startswith("wall time 612 s, ")
