"""A run's loaders: run.json records them, and a run recorded before a loader joined the catalog has no
cells of it (not run, not failed); its verdicts read as before."""

import json

from test_expectation_keys import _context, _copy, _data

from harness.report.results import planned_loaders
from harness.worker.catalog import LOADERS

NEW = ("load_weights_by_name", "load_weights_skip_mismatch")


def test_a_run_recorded_before_the_weights_transfer_loaders_has_no_cells_of_them(tmp_path):
    workdir = _copy(tmp_path, "run-default")
    assert "loaders" not in json.loads((workdir / "run.json").read_text())
    data = _data(workdir)
    assert set(NEW) <= set(LOADERS["h5_weights"])  # the catalog has them; this run did not
    assert not [c for c in data.cells if c.loader in NEW]
    assert not [col for col in data.columns if col[1] in NEW]
    assert ("h5_weights", "load_weights") in data.columns
    assert data.problems() == [] and data.unexpected_failures == []


def test_run_json_loaders_decide_the_columns_and_a_loader_it_names_without_records_did_not_run(tmp_path):
    workdir = _copy(tmp_path, "run-default")
    recorded = json.loads((workdir / "run.json").read_text())
    (workdir / "run.json").write_text(json.dumps(dict(recorded, loaders=["load_model", "load_weights_by_name"])))
    data = _data(workdir)
    assert {loader for _, loader in data.columns} == {"load_model", "load_weights_by_name"}
    missing = [c for c in data.cells if c.loader == "load_weights_by_name"]
    assert missing and {c.verdict for c in missing} <= {"skipped", "unsupported"}
    assert any("cells have no result" in p for p in data.problems())  # planned and not run: the run fails


def test_a_new_run_records_every_loader_of_the_catalog(tmp_path):
    ctx = _context(_copy(tmp_path, "run-default"))
    assert set(ctx.selection.to_json()["loaders"]) == {name for names in LOADERS.values() for name in names}
    assert planned_loaders(ctx.selection.to_json(), ctx.selection, ctx.workdir) == tuple(
        sorted({name for names in LOADERS.values() for name in names}))
