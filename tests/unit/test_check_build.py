"""check --build: the option vetted on the host before any environment is made, the plan and task it
gives, the worker's side that needs no TensorFlow, and the report of a build that raises.

The messages are those of real runs on 2026-12-07 (deepcut 0.7.0.0's weights, Keras 2.0.2; its
``get_convo_nn2`` as the build code): see docs/check.md, "Real files shipped in packages".
"""
import dataclasses
import sys
from pathlib import Path

import h5py
import pytest

from harness.check import check_plan, report, steps, unjudged, user_build
from harness.check.modelfile import UserInputError
from harness.config import spec
from harness.config.matrix_yaml import DEFAULT_MATRIX
from harness.workdir import append_record

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "harness" / "worker"))
import user_code  # noqa: E402  (harness/worker/user_code.py, run inside environments)

SPEC = spec.load(DEFAULT_MATRIX)
BUILD = "def get_convo_nn2(no_word=200, n_gram=21, no_char=178):\n    return None\n"


@pytest.fixture
def weights(tmp_path):
    """A legacy save_weights HDF5 as the host reads it (attributes only; never loaded)."""
    path = tmp_path / "cnn.h5"
    with h5py.File(path, "w") as handle:
        handle.attrs.update(keras_version="2.15.0", backend="tensorflow", layer_names=[b"dense"])
    (tmp_path / "model.py").write_text(BUILD)
    return path


@pytest.mark.parametrize("text, message", [
    ("model.py", "not module:function"),
    ("model.py:", "not module:function"),
    ("model.py:3d", "not module:function"),
    ("my-models:build", "is neither a module name nor a .py file"),
    ("missing.py:build", r"missing.py: no such file"),
    ("nowhere.models:build", r"no module nowhere.models under .* \(looked for nowhere/models.py and "
                             r"nowhere/models/__init__.py\)"),
    ("model.py:build", r"model.py defines no build at its top level \(its functions: get_convo_nn2\)"),
    ("broken.py:build", r"broken.py:1: not valid Python"),
    ("needs.py:build", r"build\(\) needs n_gram, but is called with no arguments"),
])
def test_a_bad_build_option_is_one_line_before_any_environment(weights, tmp_path, monkeypatch, text, message):
    (tmp_path / "broken.py").write_text("def build(:\n")
    (tmp_path / "needs.py").write_text("def build(n_gram, *, width=3):\n    pass\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserInputError, match=message) as exc:
        steps.plan([str(weights), "--build", text, "--workdir", str(tmp_path / "w")], SPEC)
    assert exc.value.exit_status == 2 and "\n" not in str(exc.value)


def test_the_build_file_is_vetted_before_the_model_file(tmp_path):
    """No environment, no release and not even the model file is looked at before --build is vetted."""
    with pytest.raises(UserInputError, match="--build 'x.py:f'.*no such file"):
        steps.plan([str(tmp_path / "absent.h5"), "--build", "x.py:f", "--to", "tf9.9-nowhere"], SPEC)


@pytest.mark.parametrize("source, found", [
    ("def build():\n    pass\n", True), ("class build:\n    pass\n", True), ("build = make\n", True),
    ("from elsewhere import build\n", True), ("import build\n", True),
    ("if True:\n    def build():\n        pass\n", False),  # not at the top level: not known without running it
])
def test_a_function_is_found_by_the_names_the_file_binds(tmp_path, source, found):
    (tmp_path / "m.py").write_text(source)
    if found:
        assert user_build.parse_build("m.py:build", tmp_path)["function"] == "build"
    else:
        with pytest.raises(UserInputError, match="defines no build"):
            user_build.parse_build("m.py:build", tmp_path)


def test_a_module_is_found_from_the_current_folder_and_imported_by_name(tmp_path):
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "sub" / "__init__.py").write_text("def build():\n    pass\n")
    found = user_build.parse_build("pkg.sub:build", tmp_path)
    assert found == {"text": "pkg.sub:build", "path": str(tmp_path / "pkg" / "sub" / "__init__.py"),
                     "module": "pkg.sub", "root": str(tmp_path), "function": "build"}


def test_the_plan_carries_the_build_to_every_environments_task(weights, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    planned = steps.plan([str(weights), "--build", "model.py:get_convo_nn2", "--to", "tf2.21-keras3.15",
                          "--workdir", str(tmp_path / "w")], SPEC)
    assert planned.loaders == ("load_weights",) and planned.architecture is None
    assert planned.task("tf2.21-keras3.15")["build"] == {
        "text": "model.py:get_convo_nn2", "path": str(tmp_path / "model.py"), "module": None,
        "root": str(tmp_path), "function": "get_convo_nn2"}
    assert tmp_path / "model.py" in planned.reads  # mounted where a Docker environment runs it
    assert check_plan.CheckPlan.read(planned.write()) == planned


@pytest.mark.parametrize("args, message", [
    (["--build", "model.py:get_convo_nn2", "--architecture", "m.json"], "give one, the code that builds"),
    ([], "or the code that builds it with --build module:function"),
])
def test_a_weights_file_needs_one_way_to_its_architecture(weights, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserInputError, match=message):
        steps.plan([str(weights), *args], SPEC)


def test_a_full_model_takes_no_build(model, tmp_path, monkeypatch):
    (tmp_path / "model.py").write_text(BUILD)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserInputError, match="is a full model .* --build is only for weights-only files"):
        steps.plan([str(model), "--build", "model.py:get_convo_nn2"], SPEC)


def test_the_worker_imports_the_users_file_where_it_lies_and_calls_it(tmp_path):
    (tmp_path / "helpers.py").write_text("class Model:\n    def load_weights(self, path):\n        pass\n")
    (tmp_path / "arch.py").write_text("import helpers\n\ndef build():\n    return helpers.Model()\n"
                                      "\ndef nothing():\n    return 3\n")
    found = user_build.parse_build("arch.py:build", tmp_path)
    model = user_code.build_model(user_code.build_function(found), found["text"])
    assert type(model).__name__ == "Model"
    with pytest.raises(user_code.BuildError, match="returned int, not a Keras model"):
        user_code.build_model(user_code.build_function(dict(found, function="nothing")), "arch.py:nothing")
    with pytest.raises(user_code.BuildError, match="arch.py has no function absent"):
        user_code.build_function(dict(found, function="absent"))


# ------------------------------------------------------------------ the report
SOURCE, OLD, K3 = "tf2.4", "tf2.10", "keras3.15-jax"
TF_MISSING = "No module named 'tensorflow'"
INDICES = "indices[0,2] = -1 is not in [0, 178)"


def _plan(tmp_path):
    return check_plan.CheckPlan(
        file={"path": str(tmp_path / "cnn.h5"), "format": "weights_h5", "container": "hdf5",
              "keras_version": "2.0.2", "tensorflow_version": None, "backend": "tensorflow",
              "evidence": "HDF5 root attributes keras_version, backend", "notes": []},
        architecture=None, source=SOURCE, source_why="closest", targets=[OLD, K3], targets_why="default",
        inputs=None, custom_objects=None, safe_mode=True, output="md", workdir=str(tmp_path / "work"),
        matrix="matrix.yaml", atol=1e-5, rtol=1e-4, seed=1234,
        build={"text": "deepcut_model.py:get_convo_nn2", "path": "/x/deepcut_model.py", "module": None,
               "root": "/x", "function": "get_convo_nn2"})


def _write(planned, env, **fields):
    files = planned.files(env)
    files.results.parent.mkdir(parents=True, exist_ok=True)
    append_record(files.results, dict(planned.cells(env)[0], consumer=env, seconds=0.3, **fields))


def _reference(planned):
    _write(planned, SOURCE, verdict="reference", reason="seeded inputs", scale=0.88,
           inputs={"input_1": [[4, 21], "float32", [2.0, 177.0]], "input_2": [[4, 21], "float32", [0.0, 11.0]]},
           control={"verdict": "mismatch", "max_abs": 0.88, "max_rel": 1.0, "variables": 62})


def test_a_target_where_the_build_code_raises_is_a_build_error_not_a_load_error(tmp_path):
    planned = _plan(tmp_path)
    _reference(planned)
    _write(planned, OLD, verdict="pass", max_abs=0.0, max_rel=0.0, reference="load_weights")
    _write(planned, K3, verdict="build-error", stage="build", error_type="ModuleNotFoundError",
           error_message=TF_MISSING, reason="--build deepcut_model.py:get_convo_nn2: importing it raised here")
    result = report.build(planned)
    assert result.status == 1 and result.verdicts[K3] == "build-error" and result.verdicts[OLD] == "pass"
    assert result.message == (f"FAIL: 1 of 2 targets fail ({K3}); in {K3} --build deepcut_model.py:get_convo_nn2 "
                              "raised (build-error: your code does not run in that Keras, so its weights were not "
                              "loaded there)")
    assert f"### build-error in {K3} (load_weights)" in report.render_markdown(result)


def test_a_load_error_after_the_build_stays_a_load_error(tmp_path):
    """The planted fault: a weights load that fails in a target is not blamed on the user's code."""
    planned = _plan(tmp_path)
    _reference(planned)
    _write(planned, OLD, verdict="load-error", error_type="ValueError", error_message="Layer count mismatch")
    _write(planned, K3, verdict="pass", max_abs=0.0, max_rel=0.0, reference="load_weights")
    result = report.build(planned)
    assert result.verdicts[OLD] == "fail" and result.message == f"FAIL: 1 of 2 targets fail ({OLD})"


def test_a_build_that_raises_in_the_source_compares_nothing(tmp_path):
    planned = _plan(tmp_path)
    _write(planned, SOURCE, verdict="build-error", stage="build", error_type="TypeError",
           error_message="__init__() got an unexpected keyword argument 'input_length'")
    for env in (OLD, K3):
        _write(planned, env, verdict="skipped", reason="no reference outputs")
    result = report.build(planned)
    assert (result.status, result.verdict) == (1, "build-error")
    assert result.message.startswith(f"FAIL: --build deepcut_model.py:get_convo_nn2 raised in the source "
                                      f"environment {SOURCE} (TypeError: __init__() got an unexpected keyword")


def test_a_source_that_cannot_predict_on_drawn_inputs_is_inconclusive_naming_them(tmp_path):
    planned = _plan(tmp_path)
    _write(planned, SOURCE, verdict="drawn-inputs-failed", stage="predict", error_type="InvalidArgumentError",
           error_message=INDICES, inputs={"input_1": [[4, 21], "float32", [-2.61, 2.32]],
                                          "input_2": [[4, 21], "float32", [-1.9, 2.1]]})
    for env in (OLD, K3):
        _write(planned, env, verdict="skipped", reason="no reference outputs")
    result = report.build(planned)
    assert (result.status, result.verdict) == (1, "inconclusive")
    assert result.message == (
        f"INCONCLUSIVE: the source environment {SOURCE} loaded the file, but predicting on the inputs the check "
        "drew for it failed (input_1 float32 [4, 21] in [-2.61, 2.32]; input_2 float32 [4, 21] in [-1.9, 2.1]: "
        f"InvalidArgumentError: {INDICES}); nothing was compared, so nothing is known against the file: give "
        "--inputs with inputs your model takes")


def test_a_source_that_cannot_predict_on_the_users_inputs_still_fails(tmp_path):
    """The planted fault: only inputs the check drew make a failed predict inconclusive (the worker writes
    ``load-error`` for the user's own --inputs), so a FAIL is never softened into INCONCLUSIVE."""
    planned = _plan(tmp_path)
    _write(planned, SOURCE, verdict="load-error", stage="predict", error_type="InvalidArgumentError",
           error_message=INDICES)
    result = report.build(planned)
    assert result.verdict == "fail" and "could not load the file and predict" in result.message
    assert unjudged.inputs_text(None) == "none recorded"


@pytest.mark.parametrize("dry_run, why", [
    (True, "the check was a --dry-run, which installs and runs nothing"),
    (False, f"the session check_in(env='{SOURCE}') did not run, or was interrupted"),
])
def test_a_check_whose_source_never_ran_is_not_run_not_a_fail_of_the_file(tmp_path, dry_run, why):
    """Seen 2026-12-07: ``nox -s check -- FILE --dry-run`` writes the plan, and ``nox -s check_report`` read
    it and said "FAIL: the source environment tf2.4 could not load the file", about a file nothing had loaded."""
    planned = dataclasses.replace(_plan(tmp_path), dry_run=dry_run)
    result = report.build(planned)
    assert (result.status, result.verdict) == (1, "inconclusive")  # never a pass: nothing was compared
    again = "run nox -s check on the file again" + (" without --dry-run" if dry_run else "")
    assert result.message == (f"NOT RUN: the source environment {SOURCE} has no result ({why}), so nothing was "
                              f"compared; {again}")
    _write(planned, SOURCE, verdict="load-error", error_type="OSError", error_message="Unable to open file")
    assert report.build(planned).verdict == "fail"  # once the source ran and failed, it is the file's FAIL


def test_a_model_rebuilt_in_keras3_takes_the_sources_inputs_by_position(tmp_path):
    """Real run, 2026-12-07: deepcut's get_convo_nn2 names its Inputs input_1, input_2 in TF 2.4 and
    input_layer, input_layer_1 in Keras 3.3 and 3.15, whose predict refused the source's dict ("Missing
    data for input \"input_layer\""); the check feeds such a model a list, in the source's input order."""
    import numpy as np
    import check as worker  # harness/worker/check.py

    class Keras3Names:  # what compat.KerasRuntime.input_specs reads off the rebuilt model
        @staticmethod
        def input_specs(model):
            return [("input_layer", [None, 21], "float32"), ("input_layer_1", [None, 21], "float32")]

    first, second = np.zeros((4, 21), "float32"), np.ones((4, 21), "float32")
    np.savez(tmp_path / "inputs.npz", input_2=second, input_1=first)  # the source's order, as its model took them
    x = {"input_1": first, "input_2": second}  # as load_reference gives them: by sorted name
    fed = worker.target_feed({"reference_dir": str(tmp_path)}, Keras3Names(), object(), x)
    assert isinstance(fed, list) and fed[0] is second and fed[1] is first
    same = {"input_layer": first, "input_layer_1": second}
    assert worker.target_feed({"reference_dir": str(tmp_path)}, Keras3Names(), object(), same) is same
