"""The check's report and exit status, from records shaped as the check_in sessions write them.

The messages are those of real runs on 2026-11-29 (TF 2.15.1 source; tf_keras 2.16.0 and
Keras 3.15.1 on TF 2.21.0 targets).
"""
import json

from harness import check
from harness.report import check as report
from harness.results import append_record

KERAS_ENGINE = ("Could not deserialize class 'Functional' because its parent module keras.src.engine.functional "
                "cannot be imported. Full object config: {'module': 'keras.src.engine.functional'}")
LAMBDA = ("Requested the deserialization of a `Lambda` layer whose `function` is a Python lambda. This carries a "
          "potential risk of arbitrary code execution and thus it is disallowed by default. If you trust the source "
          "of the artifact, you can override this error by passing `safe_mode=False` to the loading function, or "
          "calling `keras.config.enable_unsafe_deserialization().")
SOURCE, TFK, K3 = "tf2.15", "tf2.16-tfkeras", "tf2.21-keras3.15"


def _plan(tmp_path, fmt="keras", targets=(TFK, K3)):
    return check.CheckPlan(
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


def _reference(planned, control="mismatch"):
    _write(planned, SOURCE, verdict="reference", reason="seeded inputs from the input signature",
           inputs={"features": [[4, 6], "float32"]}, control={"verdict": control, "max_abs": 1.48, "max_rel": 41.5})


def test_every_target_passing_is_status_0(tmp_path):
    planned = _plan(tmp_path)
    _reference(planned)
    for env in (TFK, K3):
        _write(planned, env, verdict="pass", max_abs=0.0, max_rel=0.0, reference="load_model")
    result = report.build(planned)
    assert (result.status, result.verdicts) == (0, {SOURCE: "reference", TFK: "pass", K3: "pass"})
    text = report.render_markdown(result)
    assert "**PASS: every target loads the file" in text
    assert "fresh weights differ from the reference by up to 1.48" in text


def test_a_failing_target_is_status_1_with_its_signature_and_hint(tmp_path):
    planned = _plan(tmp_path)
    _reference(planned)
    _write(planned, TFK, verdict="pass", max_abs=0.0, max_rel=0.0)
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
    _write(planned, K3, verdict="pass", max_abs=0.0, max_rel=0.0)
    result = report.build(planned)
    assert result.status == 1 and result.message.startswith("INCONCLUSIVE")
    assert "fresh weights MATCH the reference" in report.render_markdown(result)
