"""The quick profile (Keras 2.15 in TF 2.15, tf_keras 2.16, Keras 3.15 on TF 2.21), run for real,
with the golden artifacts of TF 2.4 and TF 2.7 (fixtures/golden) as extra producers.

Every expected verdict below was first seen in a real run on 2026-11-29 (the default profile,
whose records are in tests/data/run-default, and this very profile).
"""
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import run_matrix
from harness.workdir import read_records

K2, TFK, K3 = "tf2.15", "tf2.16-tfkeras", "tf2.21-keras3.15"
ENVS = (K2, TFK, K3)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return run_matrix(tmp_path_factory.mktemp("quick"), "--profile", "quick", "--fixtures", "dense_bn", "small_cnn")


def cell(run, producer, consumer, fixture, fmt, loader):
    return run["cells"][f"{producer}>{consumer}/{fixture}/{fmt}/{loader}"]


def test_every_env_reports_what_it_really_is(run):
    facts = {name: env["facts"] for name, env in run["results"]["environments"].items()}
    assert facts[K2]["tensorflow"] == "2.15.1" and facts[K2]["keras_flavor"] == "keras2"
    assert facts[TFK]["keras"] == "2.16.0" and facts[TFK]["keras_flavor"] == "tf_keras"
    assert facts[K3]["keras"] == "3.15.1" and facts[K3]["keras_flavor"] == "keras3"
    assert all(f["device"] == "cpu" and f["numpy"] and f["h5py"] for f in facts.values())


def test_keras3_dot_keras_fails_in_tf215_with_the_module_path_signature(run):
    got = cell(run, K3, K2, "dense_bn", "keras", "load_model")
    assert got["verdict"] == "xfail" and got["original_verdict"] == "load-error" and got["error_type"] == "TypeError"
    assert "keras.src.models.functional cannot be imported" in got["error_message"]


def test_keras3_h5_fails_in_keras2_on_batch_shape(run):
    for consumer in (K2, TFK):
        got = cell(run, K3, consumer, "dense_bn", "h5", "load_model")
        assert got["verdict"] == "xfail" and got["original_verdict"] == "load-error"
        assert "batch_shape" in got["error_message"]


def test_every_failure_is_expected_and_no_pass_is_hidden(run):
    verdicts = {c["verdict"] for c in run["cells"].values() if c["format"] != "negative-control"}
    assert not verdicts & {"mismatch", "load-error", "crash", "timeout", "env-error", "xpass"}, verdicts
    assert run["results"]["problems"] == []


def test_tf215_compiled_h5_loads_in_keras3_only_with_compile_false(run):
    # load_model(path) compiles, and Keras 3.15 cannot compile the stored "mse"; compile=False was seen to work.
    got = cell(run, K2, K3, "dense_bn", "h5", "load_model")
    assert (got["verdict"], got["original_verdict"], got["works_with"]) == ("xfail", "works-with", "compile=False")
    assert "keras.metrics.mse" in got["error_message"] and got["max_abs"] <= got["atol"]
    assert [(t["change"], t["verdict"]) for t in got["workarounds"]] == [("compile=False", "pass")]


def test_same_environment_round_trips_pass(run):
    for env in ENVS:
        for fixture in ("dense_bn", "small_cnn"):
            for fmt, loader in (("h5", "load_model"), ("keras", "load_model"), ("keras_weights", "load_weights")):
                got = cell(run, env, env, fixture, fmt, loader)
                if env == K3 and fmt == "h5":  # Keras 3.15 cannot compile its own .h5's mse either
                    assert (verdict(got), got["works_with"]) == ("works-with", "compile=False"), got
                else:
                    assert got["verdict"] == "pass", (env, fixture, fmt)
    # A compiled .keras written and read by Keras 3.15 passes as written, its optimizer restored.
    assert cell(run, K3, K3, "dense_bn", "keras", "load_model")["levels"]["compile"]["verdict"] == "pass"


def test_keras3_cannot_write_or_load_a_keras_savedmodel(run):
    assert cell(run, K3, K2, "dense_bn", "savedmodel", "load_model")["verdict"] == "unsupported"
    got = cell(run, K2, K3, "dense_bn", "savedmodel", "load_model")
    assert got["verdict"] == "unsupported" and "TFSMLayer" in got["reason"]


def test_negative_control_is_a_mismatch_everywhere(run):
    controls = [c for c in run["cells"].values() if c["format"] == "negative-control"]
    assert len(controls) == 3 * (3 + 2) * 2  # consumers x (producers + goldens) x fixtures
    assert {c["verdict"] for c in controls} == {"mismatch"}


def test_reports_are_written_and_consistent(run):
    md = (run["reports"] / "matrix.md").read_text()
    assert "## `keras` loaded with `load_model`" in md and "NEGATIVE CONTROL PASSED" not in md
    cases = list(ET.parse(run["reports"] / "junit.xml").getroot().iter("testcase"))
    assert len(cases) == len(run["cells"]) + len(run["results"]["saves"])  # a test case per load and per save
    assert "cells: pass" in run["log"] and "wall time" in run["log"]


def verdict(got):
    """The run's own verdict, before an expected_failures entry turned it into xfail."""
    return got["original_verdict"] or got["verdict"]


def test_golden_tf24_artifacts_load_without_installing_tf24(run):
    # An HDF5 model saved by Keras 2.4 on Python 3.8 still loads and matches in Keras 3.15, with compile=False.
    got = cell(run, "golden-tf2.4", K3, "dense_bn", "h5", "load_model")
    assert (verdict(got), got["works_with"]) == ("works-with", "compile=False") and got["max_abs"] <= got["atol"]
    # Keras 2.4 wrote HDF5 under the .keras name; Keras 3 expects a zip there.
    got = cell(run, "golden-tf2.4", K3, "dense_bn", "keras", "load_model")
    assert verdict(got) == "load-error" and "File not found" in got["error_message"]
    # Its Keras SavedModel carries optimizer slots that TF 2.21 cannot restore.
    got = cell(run, "golden-tf2.4", K3, "dense_bn", "savedmodel", "TFSMLayer")
    assert verdict(got) == "load-error" and "add_slot" in got["error_message"]
    assert cell(run, "golden-tf2.4", K2, "dense_bn", "savedmodel", "load_model")["verdict"] == "pass"


def test_check_levels_beyond_outputs(run):
    levels = cell(run, K2, K2, "small_cnn", "h5", "load_model")["levels"]
    assert {k: v["verdict"] for k, v in levels.items()} == {"weights": "pass", "compile": "pass", "training": "pass"}
    # A Keras SavedModel reloads its outputs and weights, but not its optimizer's step count.
    levels = cell(run, K2, K2, "small_cnn", "savedmodel", "load_model")["levels"]
    assert levels["weights"]["verdict"] == "pass" and levels["compile"]["verdict"] == "mismatch"
    assert "iteration 0, expected Adam at 3" in levels["compile"]["reason"]
    # Keras 3.15 reads a TF 2.15 HDF5 model (with compile=False), but not its compiled loss and metrics.
    levels = cell(run, K2, K3, "small_cnn", "h5", "load_model")["levels"]
    assert levels["compile"]["verdict"] == "load-error" and "keras.metrics.mse" in levels["compile"]["reason"]
    # dense_bn has Dropout: its training step draws fresh random numbers, so it cannot be compared.
    levels = cell(run, K2, K2, "dense_bn", "h5", "load_model")["levels"]
    assert levels["training"]["verdict"] == "unsupported" and "Dropout" in levels["training"]["reason"]


SAME = ("verdict", "original_verdict", "reason", "error_type", "error_message", "max_abs", "levels")


def test_a_rerun_reuses_unchanged_cells_and_runs_what_an_edit_touched(run, tmp_path):
    """Incremental runs, for real: with nothing changed no worker starts and the report is the same;
    after an edit to one fixture's file only that fixture's cells run again (harness/execute/incremental.py)."""
    args = ("--profile", "quick", "--fixtures", "dense_bn", "small_cnn", "--workdir", str(run["work"]))
    again = run_matrix(tmp_path / "again", *args)
    phases = [p for env in again["results"]["environments"].values() for p in env.get("phases", {}).values()]
    assert phases and all(p["workers_started"] == 0 and p["cells_run"] == 0 for p in phases)
    assert {i: [c[k] for k in SAME] for i, c in again["cells"].items()} == \
        {i: [c[k] for k in SAME] for i, c in run["cells"].items()}
    # Edit small_cnn (a comment: the key is the file's bytes) in a copy of matrix.yaml's folder.
    root = Path(__file__).resolve().parents[2]
    copy = tmp_path / "matrix"
    shutil.copytree(root / "fixtures", copy / "fixtures")
    for name in ("matrix.yaml", "matrix.lock.json"):
        shutil.copyfile(root / name, copy / name)
    edited = copy / "fixtures" / "small_cnn.py"
    edited.write_text(edited.read_text() + "\n# edited: the cells of this fixture run again\n")
    edit = run_matrix(tmp_path / "edit", *args, matrix=copy / "matrix.yaml")
    records = [r for phase in ("produce", "consume") for env in ENVS
               for r in read_records(run["work"] / "results" / f"{phase}-{env}.jsonl")]
    ran = {r["fixture"] for r in records if not r.get("reused")}
    reused = {r["fixture"] for r in records if r.get("reused")}
    assert ran == {"small_cnn"} and reused == {"dense_bn"}, (ran, reused)
    assert {i: c["verdict"] for i, c in edit["cells"].items()} == {i: c["verdict"] for i, c in run["cells"].items()}
