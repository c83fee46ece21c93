"""The weights formats' names: ``h5_weights`` and ``keras_weights``, once ``weights_h5`` and ``weights.h5``.

The recorded runs in tests/data (written on 2026-12-07 under the old names) replay under the new names with
the verdict counts they gave before the renaming (measured on that tree with the matrix.yaml of then); a
matrix.yaml, ``--formats`` or a golden that uses an old name reads as the format it stands for; a record
whose format is no format at all is refused with one line.
"""
import json
import re
import shutil
from collections import Counter

import pytest
from test_expectation_keys import _context, _copy, _data

from harness.config import spec
from harness.config.matrix_yaml import DEFAULT_MATRIX
from harness.execute import golden, incremental
from harness.execute.plan import select
from harness.report import html, markdown
from harness.report.results import damaged
from harness.report.results_file import HistoryError, read_results
from harness.worker.catalog import FORMAT_ALIASES, current_names, format_name
from harness.workdir import PhaseFiles
from harness import ROOT

# The counts each recorded run gave under the old names (the report of the tree before the renaming):
# every cell's verdict, every save's, and the two weights formats' cells.
BEFORE = {
    "run-default": ({"pass": 662, "unsupported": 435, "xfail": 415}, {"saved": 147, "unsupported": 15},
                    {"h5_weights": {"pass": 72, "unsupported": 36}, "keras_weights": {"pass": 56, "xfail": 52}}),
    "run-quick-all": ({"pass": 1427, "unsupported": 732, "skipped": 6, "xfail": 607},
                      {"saved": 546, "xfail": 2, "unsupported": 46},
                      {"h5_weights": {"pass": 138, "unsupported": 60}, "keras_weights": {"pass": 176, "xfail": 22}}),
}
OLD_NAMES = re.compile(r"weights_h5|weights\.h5(?=/)")  # an old name as a cell id's part


def test_the_catalog_maps_each_old_name_to_its_format():
    assert FORMAT_ALIASES == {"weights_h5": "h5_weights", "weights.h5": "keras_weights"}
    assert [format_name(n) for n in ("weights_h5", "weights.h5", "h5", "h6", None)] == \
        ["h5_weights", "keras_weights", "h5", "h6", None]
    record = {"id": "tf2.15>tf2.13/dense_bn/weights.h5/load_weights", "format": "weights.h5",
              "artifact": "weights.h5", "producer": "tf2.15"}
    assert current_names(record) == dict(record, id="tf2.15>tf2.13/dense_bn/keras_weights/load_weights",
                                         format="keras_weights", artifact="keras_weights")
    assert record["format"] == "weights.h5"  # the record read is left as it was
    produced = {"id": "tf2.4/dense_bn/weights_h5", "format": "weights_h5"}
    assert current_names(produced)["id"] == "tf2.4/dense_bn/h5_weights"


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_an_old_recorded_run_replays_with_the_same_verdicts(tmp_path, name):
    workdir = _copy(tmp_path, name)
    assert any("weights_h5" in p.read_text() for p in (workdir / "results").glob("*.jsonl"))
    data = _data(workdir)
    cells, saves, weights = BEFORE[name]
    assert data.counts() == cells
    assert dict(Counter(c.verdict for c in data.saves)) == saves
    assert {fmt: dict(Counter(c.verdict for c in data.matrix_cells if c.format == fmt)) for fmt in weights} == weights
    assert data.unexpected_failures == [] and data.problems() == []
    assert not [c.id for c in data.cells + data.saves if OLD_NAMES.search(c.id) or c.format in FORMAT_ALIASES]
    # The reports name each format with the call that saved it, the two weights formats apart.
    assert '`h5_weights` `model.save_weights("weights.h5")`; `keras_weights` `model.save_weights("model.weights.h5")`' \
        in markdown.render(data)
    assert "<code>h5_weights</code> <code>model.save_weights(&#34;weights.h5&#34;)</code>" in html.render(data)


def test_a_golden_frozen_under_an_old_name_is_found(tmp_path):
    tf24 = golden.discover(ROOT / "fixtures" / "golden")["golden-tf2.4"]
    assert {r["format"] for r in tf24.records} >= {"h5_weights", "keras_weights"}
    assert tf24.artifact_dir("dense_bn", "h5_weights") == ROOT / "fixtures/golden/tf2.4/dense_bn/weights_h5"
    assert tf24.artifact_dir("dense_bn", "keras_weights") == ROOT / "fixtures/golden/tf2.4/dense_bn/weights.h5"
    assert tf24.artifact_dir("dense_bn", "h5") == ROOT / "fixtures/golden/tf2.4/dense_bn/h5"
    # A golden frozen under the new name is found under it (the old folder, absent, is not looked for).
    (tmp_path / "tf9" / "dense_bn" / "h5_weights").mkdir(parents=True)
    (tmp_path / "tf9" / "GOLDEN.json").write_text("{}")
    assert golden.discover(tmp_path)["golden-tf9"].artifact_dir("dense_bn", "h5_weights") == \
        tmp_path / "tf9" / "dense_bn" / "h5_weights"


def _old_named(text: str) -> str:
    """matrix.yaml's text with the formats' old names in every ``format:``/``formats:`` line."""
    def back(match):
        return match.group(0).replace("h5_weights", "weights_h5").replace("keras_weights", "weights.h5")
    return re.sub(r"^\s*formats?:.*$", back, text, flags=re.M)


def test_an_old_name_in_matrix_yaml_validates_and_explains_the_same_cells(tmp_path):
    old = tmp_path / "matrix.yaml"
    old.write_text(_old_named(DEFAULT_MATRIX.read_text()))
    shutil.copy(DEFAULT_MATRIX.parent / "matrix.lock.json", tmp_path)  # its templates' lock, beside it
    assert "format: weights.h5\n" in old.read_text() and "weights_h5, weights.h5," in old.read_text()
    loaded = spec.load(old)  # the schema takes the old names
    assert loaded.formats == spec.load(DEFAULT_MATRIX).formats
    renamed = [e for e in loaded.expected_failures if e.formats and "keras_weights" in e.formats]
    assert len(renamed) >= 5
    workdir = _copy(tmp_path, "run-default")
    now, then = _data(workdir), _data(workdir, loaded.expected_failures)
    explained = {o.entry.index: sorted(c.id for c in o.xfail) for o in then.expectations}
    assert explained == {o.entry.index: sorted(c.id for c in o.xfail) for o in now.expectations}
    assert sum(len(explained[e.index]) for e in renamed) >= 52  # every xfail of keras_weights, and more
    assert then.counts() == now.counts() == BEFORE["run-default"][0]


def test_an_old_name_on_the_command_line_selects_its_format():
    loaded = spec.load(DEFAULT_MATRIX)
    chosen = select(loaded, ROOT / "fixtures", "quick", formats=["weights_h5", "weights.h5", "h5_weights"])
    assert chosen.formats == ("h5_weights", "keras_weights")
    with pytest.raises(spec.SpecError, match=r"^--formats: no format named weights\.hdf5 \(defined: h5, keras, "):
        select(loaded, ROOT / "fixtures", "quick", formats=["weights.hdf5"])


def test_a_record_of_an_unknown_format_is_refused_with_one_line(tmp_path):
    workdir = _copy(tmp_path, "run-default")
    path = workdir / "results" / "consume-tf2.13.jsonl"
    lines = path.read_text().splitlines()
    target = next(i for i, line in enumerate(lines) if '"tf2.15>tf2.13/dense_bn/weights_h5/load_weights"' in line)
    lines[target] = lines[target].replace('"format": "weights_h5"', '"format": "weights.hdf5"').replace(
        "/weights_h5/", "/h5_weights/")  # a record of the cell, whose format is none
    path.write_text("\n".join(lines) + "\n")
    data = _data(workdir)
    (cell,) = [c for c in data.cells if c.id == "tf2.15>tf2.13/dense_bn/h5_weights/load_weights"]
    why = ("left out: format 'weights.hdf5' is none of h5, keras, savedmodel, tf_saved_model, export, h5_weights, "
           "keras_weights, checkpoint, json (nor their old names weights_h5, weights.h5)")
    assert cell.verdict == "skipped" and cell.reason.endswith(why)
    context = _context(workdir)
    (line,) = damaged(context.selection, workdir)  # the run's problems: it fails, with this one line
    assert line == f"{path}: record 'tf2.15>tf2.13/dense_bn/h5_weights/load_weights' {why}"


def test_a_results_json_of_an_unknown_format_is_refused_and_an_old_one_reads(tmp_path):
    night = json.loads((ROOT / "tests/data/history/night1.json").read_text())
    assert any(c["format"] == "weights_h5" for c in night["cells"])
    (tmp_path / "old.json").write_text(json.dumps(night))
    assert read_results(tmp_path / "old.json")["cells"]  # an old name is no problem
    index = next(i for i, c in enumerate(night["cells"]) if c["format"] == "weights_h5")
    night["cells"][index]["format"] = "weights"
    (tmp_path / "bad.json").write_text(json.dumps(night))
    with pytest.raises(HistoryError, match=rf"cells\[{index}\]: format 'weights' is none of h5, keras, .* \(nor their"):
        read_results(tmp_path / "bad.json")


def test_an_archived_record_of_an_old_name_reads_under_the_new_one(tmp_path):
    files = PhaseFiles(tmp_path, "consume", "tf2.13")
    record = {"id": "tf2.15>tf2.13/dense_bn/weights.h5/load_weights", "format": "weights.h5", "artifact": "weights.h5",
              "key": "k1", "verdict": "pass"}
    files.cache.parent.mkdir(parents=True)
    files.results.parent.mkdir(parents=True)
    files.cache.write_text(json.dumps({"k1": record}))
    cell = {"id": "tf2.15>tf2.13/dense_bn/keras_weights/load_weights", "key": "k1", "directory": str(tmp_path)}
    assert incremental.reuse(files, [cell]) == []  # reused: same key, and the same cell under its new name
    (reused,) = [json.loads(line) for line in files.results.read_text().splitlines()]
    assert (reused["id"], reused["format"], reused["reused"]) == (cell["id"], "keras_weights", True)
