"""The check's report and exit status, from records shaped as the check_in sessions write them.

The messages are those of real runs on 2026-11-29 (TF 2.15.1 source; tf_keras 2.16.0 and
Keras 3.15.1 on TF 2.21.0 targets).
"""
import dataclasses
import json
import shutil
from pathlib import Path

from harness.check import check_plan, report
from harness.workdir import append_record

KERAS_ENGINE = ("Could not deserialize class 'Functional' because its parent module keras.src.engine.functional "
                "cannot be imported. Full object config: {'module': 'keras.src.engine.functional'}")
LAMBDA = ("Requested the deserialization of a `Lambda` layer whose `function` is a Python lambda. This carries a "
          "potential risk of arbitrary code execution and thus it is disallowed by default. If you trust the source "
          "of the artifact, you can override this error by passing `safe_mode=False` to the loading function, or "
          "calling `keras.config.enable_unsafe_deserialization().")
SOURCE, TFK, K3 = "tf2.15", "tf2.16-tfkeras", "tf2.21-keras3.15"


def _plan(tmp_path, fmt="keras", targets=(TFK, K3)):
    return check_plan.CheckPlan(
        file={"path": str(tmp_path / "model.keras"), "format": fmt, "container": "zip", "keras_version": "2.15.0",
              "tensorflow_version": None, "backend": None, "evidence": "metadata.json in the archive", "notes": []},
        architecture=None, source=SOURCE, source_why="the file records Keras 2.15.0", targets=list(targets),
        targets_why="named with --to", inputs=None, custom_objects=None, safe_mode=True,
        output="md", workdir=str(tmp_path / "work"), matrix="matrix.yaml", atol=1e-5, rtol=1e-4, seed=1234)


def _write(planned, env, loader="load_model", **fields):
    files = planned.files(env)
    files.results.parent.mkdir(parents=True, exist_ok=True)
    cell = next(c for c in planned.cells(env) if c["loader"] == loader)
    append_record(files.results, dict(cell, consumer=env, safe_mode="on", seconds=0.3, **fields))


def _reference(planned, control="mismatch", loader="load_model", scale=2.0):
    figures = {"verdict": control, "max_abs": 1.48, "max_rel": 41.5, "variables": 6}
    if control == "not-run":
        figures = {"verdict": control, "reason": "perturbing the variables or predicting failed: ValueError: x"}
    _write(planned, SOURCE, loader=loader, verdict="reference", reason="seeded inputs from the input signature",
           inputs={"features": [[4, 6], "float32"]}, control=figures, scale=scale)


def test_every_target_passing_is_status_0(tmp_path):
    planned = _plan(tmp_path)
    _reference(planned)
    for env in (TFK, K3):
        _write(planned, env, verdict="pass", max_abs=0.0, max_rel=0.0, reference="load_model")
    result = report.build(planned)
    assert (result.status, result.verdicts) == (0, {SOURCE: "reference", TFK: "pass", K3: "pass"})
    text = report.render_markdown(result)
    assert text.splitlines()[2].startswith("**PASS: every target loads the file")  # the verdict comes first
    assert "seeded noise on its 6 variables moves the outputs by up to 1.48" in text


def test_a_failing_target_is_status_1_with_its_signature_and_hint(tmp_path):
    planned = _plan(tmp_path)
    _reference(planned)
    _write(planned, TFK, verdict="pass", max_abs=0.0, max_rel=0.0, reference="load_model")
    _write(planned, K3, verdict="load-error", error_type="TypeError", error_message=KERAS_ENGINE)
    result = report.build(planned)
    assert result.status == 1 and result.message == f"FAIL: 1 of 2 targets fail ({K3})"
    text = report.render_markdown(result)
    assert f"### load-error in {K3} (load_model)" in text
    assert "keras.src.engine.functional cannot be imported" in text and "load it with tf_keras" in text
    data = json.loads(report.render_json(result))
    assert data["verdicts"][K3] == "fail" and data["status"] == 1
    failing = [r for r in data["rows"] if r["verdict"] == "load-error"]
    assert failing[0]["hint"].startswith("Written by Keras 2.13 to 2.15") and not failing[0]["blocked_by_safe_mode"]


def test_a_safe_mode_refusal_is_said_to_be_one(tmp_path):
    planned = _plan(tmp_path, targets=(K3,))
    _reference(planned)
    _write(planned, K3, verdict="load-error", error_type="ValueError", error_message=LAMBDA)
    result = report.build(planned)
    text = report.render_markdown(result)
    assert result.status == 1 and "load-error (blocked by safe_mode)" in text
    assert "safe_mode refused code stored in the file" in text and "rerun with --unsafe" in text


def test_bad_inputs_in_the_source_are_status_2(tmp_path):
    planned = _plan(tmp_path, targets=(K3,))
    _write(planned, SOURCE, verdict="bad-input", reason="--inputs x.npz: has arrays a, b, the model's inputs are feat")
    _write(planned, K3, verdict="skipped", reason="no reference outputs")
    result = report.build(planned)
    assert result.status == 2
    assert result.message == "bad input: --inputs x.npz: has arrays a, b, the model's inputs are feat"


def test_a_source_that_cannot_load_is_status_1(tmp_path):
    planned = _plan(tmp_path, targets=(K3,))
    _write(planned, SOURCE, verdict="load-error", error_type="ValueError", error_message="Unknown layer: 'GainDense'.")
    _write(planned, K3, verdict="skipped", reason="no reference outputs")
    result = report.build(planned)
    assert result.status == 1 and "source environment tf2.15 could not load the file" in result.message
    assert "--custom-objects" in report.render_markdown(result)


def test_a_target_whose_session_did_not_run_fails_and_says_so(tmp_path):
    planned = _plan(tmp_path, targets=(K3,))
    _reference(planned)
    result = report.build(planned)
    assert result.status == 1 and "check_in(env='tf2.21-keras3.15') did not run" in report.render_markdown(result)


def test_an_environment_error_fails_its_target(tmp_path):
    planned = _plan(tmp_path, targets=(K3,))
    _reference(planned)
    planned.files(K3).results.parent.mkdir(parents=True, exist_ok=True)
    append_record(planned.files(K3).results, {"phase": "check", "scope": "env", "consumer": K3,
                                               "verdict": "env-error", "reason": "uv could not install keras==9"})
    result = report.build(planned)
    assert result.status == 1 and result.rows[-1].cell.verdict == "env-error"


def test_a_target_whose_only_loaders_do_not_apply_fails(tmp_path):
    planned = _plan(tmp_path, fmt="savedmodel", targets=(K3,))
    _reference(planned)
    for loader in planned.loaders:
        _write(planned, K3, loader=loader, verdict="unsupported", reason="not here")
    assert report.build(planned).verdicts[K3] == "fail"


def test_a_negative_control_that_matches_makes_the_check_inconclusive(tmp_path):
    planned = _plan(tmp_path, targets=(K3,))
    _reference(planned, control="pass")
    _write(planned, K3, verdict="pass", max_abs=0.0, max_rel=0.0, reference="load_model")
    result = report.build(planned)
    assert (result.status, result.verdict, result.verdicts[K3]) == (1, "inconclusive", "inconclusive")
    assert "its negative control matched" in result.message
    text = report.render_markdown(result)
    assert "leaves the outputs within tolerance: a match proves nothing" in text and "| unproven " in text


def test_a_check_whose_control_did_not_run_is_inconclusive_never_pass(tmp_path):
    """Before, a control that could not run (a clone_model failure, any TF SavedModel) left a PASS."""
    planned = _plan(tmp_path, targets=(K3,))
    _reference(planned, control="not-run")
    _write(planned, K3, verdict="pass", max_abs=0.0, max_rel=0.0, reference="load_model")
    result = report.build(planned)
    assert (result.status, result.verdict) == (1, "inconclusive")
    assert "its negative control did not run (perturbing the variables or predicting failed" in result.message
    assert [r["verdict"] for r in json.loads(report.render_json(result))["rows"]] == ["reference", "unproven"]


def test_a_pass_with_no_source_record_of_its_loader_is_unproven(tmp_path):
    planned = _plan(tmp_path, targets=(K3,))
    _reference(planned)
    _write(planned, K3, verdict="pass", max_abs=0.0, max_rel=0.0)  # a record that names no reference loader
    assert report.build(planned).verdict == "inconclusive"


def test_each_graph_loader_is_backed_by_its_own_control(tmp_path):
    planned = _plan(tmp_path, fmt="savedmodel", targets=(K3,))
    _reference(planned, loader="load_model")
    _reference(planned, loader="tf.saved_model.load", control="not-run")
    _write(planned, SOURCE, loader="TFSMLayer", verdict="unsupported", reason="no TFSMLayer in Keras 2.15")
    _write(planned, K3, loader="load_model", verdict="unsupported", reason="Keras 3 load_model reads no SavedModel")
    for loader in ("TFSMLayer", "tf.saved_model.load"):
        _write(planned, K3, loader=loader, verdict="pass", max_abs=0.0, max_rel=0.0, reference="tf.saved_model.load")
    result = report.build(planned)
    assert result.verdict == "inconclusive" and "tf2.21-keras3.15 (TFSMLayer): its negative control did not run" \
        in result.message
    _reference(planned, loader="tf.saved_model.load")  # a later record of the same cell wins, as in a rerun
    assert report.build(planned).verdict == "pass"


def test_float_drift_far_below_the_control_is_its_own_verdict(tmp_path):
    """Figures of a real shipped model (basic-pitch 0.4.0, TF 2.4.1 -> TF 2.10): max |Δ| 4.8e-5 on outputs ~1."""
    planned = _plan(tmp_path, targets=(K3,))
    _reference(planned, scale=1.0)
    _write(planned, K3, verdict="mismatch", max_abs=4.8e-5, max_rel=2.7e-4, reference="load_model")
    result = report.build(planned)
    assert (result.status, result.verdict, result.verdicts[K3]) == (0, "drift", "drift")
    assert "max |Δ| 4.8e-05, 4.8e-05 of the outputs' scale and 3.24e-05 of what the negative control" in result.message
    row = json.loads(report.render_json(result))["rows"][-1]
    assert (row["verdict"], row["cell_verdict"], row["hint"]) == ("drift", "mismatch", None)
    strict = report.build(dataclasses.replace(planned, strict=True))
    assert (strict.status, strict.verdict) == (1, "fail") and strict.message.startswith("FAIL (--strict)")


def test_a_difference_of_lost_weights_is_no_drift(tmp_path):
    planned = _plan(tmp_path, targets=(K3,))
    _reference(planned, scale=1.0)
    _write(planned, K3, verdict="mismatch", max_abs=0.05, max_rel=0.3, reference="load_model")
    assert (report.build(planned).status, report.build(planned).verdicts[K3]) == (1, "fail")
    unbacked = _plan(tmp_path / "unbacked", targets=(K3,))
    _reference(unbacked, control="not-run", scale=1.0)  # with no control, a tiny difference is still a mismatch
    _write(unbacked, K3, verdict="mismatch", max_abs=4.8e-5, max_rel=2.7e-4, reference="load_model")
    assert report.build(unbacked).verdicts[K3] == "fail"


def test_a_source_blocked_by_safe_mode_says_so_first(tmp_path):
    planned = _plan(tmp_path, targets=(K3,))
    _write(planned, SOURCE, verdict="load-error", error_type="ValueError", error_message=LAMBDA)
    _write(planned, K3, verdict="skipped", reason="no reference outputs")
    result = report.build(planned)
    assert result.status == 1
    assert result.message.startswith("FAIL: nothing could be compared: safe_mode blocked the source environment "
                                     "tf2.15") and "rerun with --unsafe" in result.message
    assert report.render_markdown(result).splitlines()[2] == f"**{result.message}**"


def test_a_source_that_differs_from_expected_outputs_fails(tmp_path):
    planned = dataclasses.replace(_plan(tmp_path, targets=(K3,)), expected=str(tmp_path / "outputs.npz"))
    _write(planned, SOURCE, verdict="mismatch", max_abs=0.37, reason="the source's outputs differ from --expected",
           control={"verdict": "mismatch", "max_abs": 1.5, "variables": 6}, scale=1.0)
    _write(planned, K3, verdict="pass", max_abs=0.0, reference="load_model")
    result = report.build(planned)
    assert (result.status, result.verdicts[SOURCE], result.verdicts[K3]) == (1, "fail", "pass")
    assert result.message.startswith("FAIL: the source environment tf2.15 loads the file wrongly: its outputs "
                                     "differ from --expected (max |Δ| 0.37")


def test_tolerances_per_environment_are_shown(tmp_path):
    planned = dataclasses.replace(_plan(tmp_path, targets=(K3,)), tolerances={SOURCE: [1e-5, 1e-4], K3: [1e-2, 1e-2]})
    assert planned.cells(K3)[0]["atol"] == 1e-2 and planned.cells(SOURCE)[0]["atol"] == 1e-5
    _reference(planned)
    text = report.render_markdown(report.build(planned))
    assert "tf2.15: atol 1e-05, rtol 0.0001; tf2.21-keras3.15: atol 0.01, rtol 0.01" in text


WORKS_WITH_RUN = Path(__file__).resolve().parent.parent / "data" / "check" / "works-with"


def _recorded_check(tmp_path):
    """The real check of 2026-12-07 (a Dense + BatchNormalization model compiled with loss "mse", saved as .h5
    by TF 2.15.1, checked in Keras 3.15.1 on TF 2.21.0), its plan pointed at a copy of its records."""
    shutil.copytree(WORKS_WITH_RUN, tmp_path / "check")
    plan = json.loads((tmp_path / "check" / "plan.json").read_text())
    plan.update(workdir=str(tmp_path / "check"), matrix="matrix.yaml")
    return check_plan.CheckPlan(**plan)


def test_a_compiled_keras2_h5_works_in_keras3_only_with_compile_false(tmp_path):
    result = report.build(_recorded_check(tmp_path))
    assert (result.status, result.verdict) == (1, "works-with")
    assert result.verdicts == {SOURCE: "reference", K3: "works-with"}
    assert result.message == (
        "WORKS WITH A CHANGE: in tf2.21-keras3.15 load_model(path) raises ValueError: Could not deserialize "
        "'keras.metrics.mse' because it is not a KerasSaveable subclass; load_model(path, compile=False) loads and "
        "matches")
    text = report.render_markdown(result)
    assert "| works-with: compile=False " in text and "## Works with a change" in text
    assert "`load_model(path, compile=False)` works." in text and "## Failures" not in text
    assert json.loads(report.render_json(result))["verdict"] == "works-with"


def test_a_change_that_did_not_work_is_a_failure_not_a_workaround(tmp_path):
    planned = _recorded_check(tmp_path)
    path = planned.files(K3).results
    record = json.loads(path.read_text())
    record.update(verdict="load-error", works_with=None, unsafe_change=None, max_abs=None, max_rel=None, margin=None)
    record["workarounds"][0].update(verdict="load-error", error_type="ValueError", error_message="planted")
    path.write_text(json.dumps(record) + "\n")
    result = report.build(planned)
    assert (result.status, result.verdict, result.verdicts[K3]) == (1, "fail", "fail")
    assert "Works with a change" not in report.render_markdown(result)


def test_the_users_own_call_is_the_one_reported(tmp_path):
    planned = dataclasses.replace(_recorded_check(tmp_path), call={"compile": False})
    assert planned.call_text == "load_model(path, compile=False)"
    assert report.call_with(planned, "safe_mode=False") == "load_model(path, compile=False, safe_mode=False)"
