"""``nox -s check`` on real files saved by TF 2.15, checked in the quick profile's environments.

TF 2.15 saves the fixtures of tests/data/check (a plain model, an unregistered custom layer, a
Lambda layer) as .h5, .keras, a Keras SavedModel and a TF SavedModel with ``nox -s
"produce(env='tf2.15')"``; each test then checks one file. Every expected outcome below was first
seen in a real run on 2026-11-29 or 2026-12-01 (TF 2.15.1; tf_keras 2.16.0 on TF 2.16.2; Keras
3.15.1 on TF 2.21.0).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.check.modelfile import read_model_file

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "check"
SOURCE, TFK, K3 = "tf2.15", "tf2.16-tfkeras", "tf2.21-keras3.15"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """The artifacts folder of a real TF 2.15 produce run of tests/data/check's fixtures."""
    work = tmp_path_factory.mktemp("produced")
    argv = [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-s", f"produce(env='{SOURCE}')", "--",
            "--workdir", str(work)]
    proc = subprocess.run(argv, cwd=ROOT, env=dict(os.environ, KCM_MATRIX=str(DATA / "matrix.yaml")),
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return work / "artifacts" / SOURCE


def run_check(tmp_path, *args):
    """``nox -s check -- ARGS --format json``: (exit status, the JSON report or None, stderr)."""
    argv = [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-s", "check", "--", *map(str, args),
            "--format", "json", "--workdir", str(tmp_path / "check")]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    report = json.loads(proc.stdout) if proc.stdout.strip() else None
    return proc.returncode, report, proc.stderr


def rows(report, env):
    return {r["loader"]: r for r in report["rows"] if r["consumer"] == env}


def test_real_files_record_the_versions_that_wrote_them(saved):
    assert read_model_file(saved / "plain_bn" / "h5" / "model.h5").keras_version == "2.15.0"
    assert read_model_file(saved / "plain_bn" / "keras" / "model.keras").keras_version == "2.15.0"
    found = read_model_file(saved / "plain_bn" / "savedmodel" / "savedmodel")
    assert (found.tensorflow_version, found.keras_version) == ("2.15.1", "2.15.0")
    weights = read_model_file(saved / "plain_bn" / "h5_weights" / "weights.h5", DATA / "plain_bn.tf2.15.json")
    assert (weights.format, weights.keras_version) == ("h5_weights", "2.15.0")


def test_a_compiled_h5_from_tf215_works_in_keras315_only_with_compile_false(saved, tmp_path):
    status, report, _ = run_check(tmp_path, saved / "plain_bn" / "h5" / "model.h5", "--to", TFK, K3)
    assert status == 1 and report["verdicts"] == {SOURCE: "reference", TFK: "pass", K3: "works-with"}
    assert report["message"].startswith("WORKS WITH A CHANGE: in tf2.21-keras3.15 load_model(path) raises ")
    assert "load_model(path, compile=False) loads and matches" in report["message"]
    assert rows(report, K3)["load_model"]["works_with"] == "compile=False"
    # Told that the code loads with compile=False, the check passes.
    status, report, _ = run_check(tmp_path, saved / "plain_bn" / "h5" / "model.h5", "--to", TFK, K3,
                                  "--call", "load_model(path, compile=False)")
    assert status == 0 and report["verdicts"] == {SOURCE: "reference", TFK: "pass", K3: "pass"}
    assert report["source"]["env"] == SOURCE and "the same minor version" in report["source"]["why"]
    source = rows(report, SOURCE)["load_model"]
    # the inputs drawn: shape, dtype and the range of the values drawn (seen 2026-12-07: about -2.2 to 1.4)
    (shape, dtype, (low, high)), = source["inputs"].values()
    assert list(source["inputs"]) == ["features"] and (shape, dtype) == ([4, 6], "float32") and low < 0 < high
    assert source["control"]["verdict"] == "mismatch"
    assert rows(report, K3)["load_model"]["control"] == source["control"]  # the target's pass is backed by it
    assert rows(report, K3)["load_model"]["max_abs"] <= 1e-5


def test_a_keras_file_from_tf215_fails_in_keras315_with_signature_and_hint(saved, tmp_path):
    status, report, _ = run_check(tmp_path, saved / "plain_bn" / "keras" / "model.keras", "--to", K3)
    assert status == 1 and report["verdicts"][K3] == "fail"
    failed = rows(report, K3)["load_model"]
    assert failed["error_type"] == "TypeError"
    assert "parent module keras.src.engine.functional cannot be imported" in failed["error_message"]
    assert "tf_keras (TF_USE_LEGACY_KERAS=1)" in failed["hint"]


def test_a_saved_model_loads_in_keras315_through_the_graph_loaders(saved, tmp_path):
    status, report, _ = run_check(tmp_path, saved / "plain_bn" / "savedmodel" / "savedmodel", "--to", K3)
    assert status == 0
    target = rows(report, K3)
    assert target["load_model"]["verdict"] == "unsupported" and "TFSMLayer" in target["load_model"]["reason"]
    assert target["tf.saved_model.load"]["verdict"] == target["TFSMLayer"]["verdict"] == "pass"
    assert target["TFSMLayer"]["reference"] == "tf.saved_model.load"  # Keras 2.15 has no TFSMLayer


def test_a_tf_saved_model_from_keras2_has_a_negative_control_for_its_graph_loader(saved, tmp_path):
    """tf.saved_model.save of a Keras 2 model: load_model cannot rebuild it, so before the controls perturbed
    the loaded object's own variables no control ran and the check said PASS on unproven matches."""
    status, report, _ = run_check(tmp_path, saved / "plain_bn" / "tf_saved_model" / "tf_saved_model", "--to", K3)
    assert status == 0 and report["verdict"] == "pass"
    control = rows(report, SOURCE)["tf.saved_model.load"]["control"]
    assert control["verdict"] == "mismatch" and control["variables"] >= 4 and control["max_abs"] > 0.1
    target = rows(report, K3)
    assert target["TFSMLayer"]["verdict"] == target["tf.saved_model.load"]["verdict"] == "pass"
    assert target["TFSMLayer"]["control"] == control


def test_a_source_refusing_a_lambda_under_safe_mode_says_unsafe_is_needed(saved, tmp_path):
    status, report, _ = run_check(tmp_path, saved / "lambda_affine" / "keras" / "model.keras", "--to", TFK)
    assert status == 1 and report["message"].startswith(
        "FAIL: nothing could be compared: safe_mode blocked the source environment tf2.15")
    assert "--unsafe" in report["message"]
    status, report, _ = run_check(tmp_path, saved / "lambda_affine" / "keras" / "model.keras", "--to", TFK, "--unsafe")
    assert status == 0 and rows(report, SOURCE)["load_model"]["control"]["verdict"] == "mismatch"


def test_a_custom_layer_loads_only_with_custom_objects(saved, tmp_path):
    model = saved / "custom_dense" / "h5" / "model.h5"
    status, report, _ = run_check(tmp_path, model, "--to", K3)
    assert status == 1 and report["verdicts"][K3] == "fail"
    assert "Unknown layer: 'GainDense'" in rows(report, SOURCE)["load_model"]["error_message"]
    assert "--custom-objects" in rows(report, SOURCE)["load_model"]["hint"]
    layers = DATA / "fixtures" / "custom_dense.py"  # its custom_objects(keras) is what --custom-objects calls
    status, report, _ = run_check(tmp_path, model, "--to", K3, "--custom-objects", layers)
    assert status == 1 and report["verdicts"][K3] == "works-with"  # and compiling its mse needs compile=False


def test_a_lambda_h5_is_refused_by_keras3_safe_mode_and_loads_with_unsafe(saved, tmp_path):
    model = saved / "lambda_affine" / "h5" / "model.h5"
    status, report, _ = run_check(tmp_path, model, "--to", K3)
    assert status == 1
    assert rows(report, SOURCE)["load_model"]["safe_mode"] == "none"  # Keras 2 has no safe_mode for HDF5
    refused = rows(report, K3)["load_model"]
    assert refused["safe_mode"] == "on" and refused["blocked_by_safe_mode"]
    status, report, _ = run_check(tmp_path, model, "--to", K3, "--unsafe")
    assert rows(report, K3)["load_model"]["safe_mode"] == "off"
    assert status == 1 and report["verdicts"][K3] == "works-with"  # load_model(path, safe_mode=False) compiles
    assert "load_model(path, safe_mode=False, compile=False) loads and matches" in report["message"]


def test_weights_with_an_architecture_load_in_tf_keras_not_keras3(saved, tmp_path):
    status, report, _ = run_check(tmp_path, saved / "plain_bn" / "h5_weights" / "weights.h5",
                                  "--architecture", DATA / "plain_bn.tf2.15.json", "--to", TFK, K3)
    assert status == 1 and report["verdicts"] == {SOURCE: "reference", TFK: "pass", K3: "fail"}
    assert "Could not locate class 'Functional'" in rows(report, K3)["load_weights"]["error_message"]


def test_a_truncated_file_is_exit_2_with_one_message(saved, tmp_path):
    data = (saved / "plain_bn" / "keras" / "model.keras").read_bytes()
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(data[: len(data) // 3])
    status, report, stderr = run_check(tmp_path, truncated)
    assert status == 2 and report is None
    assert f"nox -s check: {truncated}: not a readable zip archive" in stderr
    assert "check_in" not in stderr  # nothing ran in an environment


def test_weights_shipped_in_a_package_load_into_the_model_its_code_builds(tmp_path):
    """chars2vec 0.1.7's eng_50 weights (Keras 2.2.0, tests/data/shipped), built by the package's own code
    with --build in TF 2.15 and in Keras 3.15 (first seen in a real run on 2026-12-07)."""
    shipped = ROOT / "tests" / "data" / "shipped" / "chars2vec-0.1.7"
    status, report, _ = run_check(tmp_path, shipped / "weights.h5", "--build", f"{shipped / 'c2v_build.py'}:build",
                                  "--from", SOURCE, "--to", K3)
    assert status == 0 and report["verdicts"] == {SOURCE: "reference", K3: "pass"}
    assert rows(report, K3)["load_weights"]["control"]["verdict"] == "mismatch"
