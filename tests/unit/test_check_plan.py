"""Planning a check on the host: the source environment, the targets, the options' errors."""
import json

import pytest

from harness.check import check_plan, steps
from harness.check.modelfile import UserInputError, ModelFile
from harness.cli import OptionError
from harness.config import spec
from harness.config.matrix_yaml import DEFAULT_MATRIX

SPEC = spec.load(DEFAULT_MATRIX)


def _found(keras=None, tf=None, backend=None):
    return ModelFile(path=DEFAULT_MATRIX, format="h5", container="hdf5", keras_version=keras,
                     tensorflow_version=tf, backend=backend, evidence="test")


def test_each_environment_knows_its_keras_from_its_pins():
    described = {name: check_plan.env_versions(env).describe() for name, env in SPEC.envs.items()}
    assert described["tf2.15"] == "Keras 2.15 inside TF 2.15.1"
    assert described["tf2.16-tfkeras"] == "tf_keras 2.16.0 on TF 2.16.2"
    assert described["tf2.21-keras3.15"] == "Keras 3.15.1 on TF 2.21.0"


@pytest.mark.parametrize("keras, tf, expected", [
    ("2.15.0", None, "tf2.15"),
    ("2.14.0", None, "tf2.14"),          # the atlas's templates lock every TF minor (matrix.lock.json)
    ("2.16.0", None, "tf2.16-tfkeras"),  # tf_keras writes its own version
    ("3.3.3", None, "tf2.16-keras3.3"),
    ("3.6.0", None, "keras3.6-jax"),     # and every Keras 3 minor, on JAX
    ("3.15.1", None, "tf2.21-keras3.15"),
    ("2.15.0", "2.15.1", "tf2.15"),
    (None, "2.21.0", "tf2.21-keras3.15"),  # a TF SavedModel (Keras 3 model.export) records only TF
    ("2.9.0", None, "tf2.9"),
    ("2.3.0", None, "tf2.4"),            # older than any: the closest
])
def test_the_closest_environment_by_keras_then_tf(keras, tf, expected):
    name, why = check_plan.closest_env(SPEC, _found(keras, tf))
    assert name == expected, why


def test_the_reason_says_what_the_file_records_and_how_close_the_match_is():
    _, why = check_plan.closest_env(SPEC, _found("2.15.0", backend="tensorflow"))
    assert why == ("the file records Keras 2.15.0, backend tensorflow (test); tf2.15 runs Keras 2.15 inside "
                   "TF 2.15.1, the same minor version")
    assert check_plan.closest_env(SPEC, _found("2.3.0"))[1].endswith("the closest in matrix.yaml")


def test_a_file_without_versions_needs_from():
    with pytest.raises(UserInputError, match="records no Keras or TensorFlow version.*--from ENV"):
        check_plan.closest_env(SPEC, _found())


def test_default_targets_are_the_newer_environments_of_the_default_profile():
    assert check_plan.default_targets(SPEC, "tf2.15") == ["tf2.16-tfkeras", "tf2.16-keras3.3", "tf2.21-keras3.15",
                                                     "keras3.15-jax", "keras3.15-torch"]
    assert check_plan.default_targets(SPEC, "tf2.16-tfkeras") == ["tf2.16-keras3.3", "tf2.21-keras3.15",
                                                             "keras3.15-jax", "keras3.15-torch"]
    assert check_plan.default_targets(SPEC, "tf2.21-keras3.15") == []


def test_a_plan_round_trips_through_its_file(model, tmp_path):
    planned = steps.plan([str(model), "--workdir", str(tmp_path / "w"), "--format", "json"], SPEC)
    assert (planned.source, planned.targets, planned.output, planned.safe_mode) == \
        ("tf2.15", ["tf2.16-tfkeras", "tf2.16-keras3.3", "tf2.21-keras3.15", "keras3.15-jax", "keras3.15-torch"],
         "json", True)
    path = planned.write()
    assert check_plan.CheckPlan.read(path) == planned
    assert json.loads(path.read_text())["file"]["keras_version"] == "2.15.0"
    cells = planned.cells("tf2.15") + planned.cells("tf2.21-keras3.15")
    assert [(c["id"], c["role"], c["producer"]) for c in cells] == [
        ("tf2.15/load_model", "reference", "tf2.15"), ("tf2.21-keras3.15/load_model", "target", "tf2.15")]


def test_from_and_to_override_and_the_source_is_not_its_own_target(model):
    planned = steps.plan([str(model), "--from", "tf2.13", "--to", "tf2.13", "tf2.15", "--unsafe"], SPEC)
    assert (planned.source, planned.targets, planned.safe_mode) == ("tf2.13", ["tf2.15"], False)
    assert planned.source_why.startswith("named with --from") and "tf2.13 is the source" in planned.notes[0]


def test_a_saved_model_is_checked_with_three_loaders():
    planned = check_plan.CheckPlan(file={"format": "savedmodel", "path": "/x/sm"}, architecture=None, source="a",
                              source_why="", targets=["b"], targets_why="", inputs=None,
                              custom_objects=None, safe_mode=True, output="md", workdir="/w", matrix="m",
                              atol=0.0, rtol=0.0, seed=1)
    assert planned.loaders == ("load_model", "TFSMLayer", "tf.saved_model.load")


@pytest.mark.parametrize("args, message", [
    (["--to", "tf9.9-nowhere"], "--to: no environment named tf9.9-nowhere"),
    (["--from", "nope"], "--from: no environment named nope"),
    (["--to", "tf2.15"], "no target environment: --to names only the source"),
    (["--from", "tf2.21-keras3.15"], "none of the default profile is newer than tf2.21-keras3.15"),
    (["--inputs", "{tmp}/missing.npz"], "--inputs .*missing.npz: no such file"),
    (["--inputs", "{model}"], "--inputs .*model.h5: not an .npz file"),
    (["--custom-objects", "{tmp}/layers.py"], r"--custom-objects .*layers.py:1: not valid Python"),
    (["--inputs", "{tmp}/objects.npz"], r"--inputs .*objects.npz: features holds Python objects \(dtype object\)"),
    (["--workdir", "{tmp}/layers.py"], r"--workdir .*layers.py: is a file, not a folder"),
])
def test_bad_options_are_bad_input_naming_the_option(model, tmp_path, args, message):
    import numpy as np
    (tmp_path / "layers.py").write_text("def broken(:\n")
    np.savez(tmp_path / "objects.npz", features=np.array([{"a": 1}], dtype=object))
    args = [a.format(tmp=tmp_path, model=model) for a in args]
    with pytest.raises(UserInputError, match=message):
        steps.plan([str(model), *args], SPEC)


def test_an_inputs_npz_is_accepted_by_its_resolved_path(model, tmp_path):
    import numpy as np
    np.savez(tmp_path / "x.npz", features=np.zeros((2, 6), "float32"))
    planned = steps.plan([str(model), "--inputs", str(tmp_path / "x.npz")], SPEC)
    assert planned.inputs == str(tmp_path / "x.npz")


def test_unparsable_options_exit_with_status_2_in_one_line(model):
    with pytest.raises(OptionError, match=r"^argument --format: invalid choice: 'xml' .*\(nox -s check -- --help "
                                          r"lists the options\)$") as exc:
        steps.plan([str(model), "--format", "xml"], SPEC)
    assert exc.value.exit_status == 2


def test_tolerance_overrides_apply_per_environment_as_in_the_matrix(model):
    from dataclasses import replace

    from harness.config.tolerance import ToleranceOverride, ToleranceRules
    rules = ToleranceRules(SPEC.tolerance.default, (
        ToleranceOverride(atol=1e-3, rtol=1e-3, device_pairs=("cpu>gpu",)),
        ToleranceOverride(atol=5e-2, formats=("h5",), backends=("jax",))))
    envs = dict(SPEC.envs, **{"tf2.21-keras3.15": replace(SPEC.envs["tf2.21-keras3.15"], device="gpu")})
    planned = steps.plan([str(model), "--to", "tf2.21-keras3.15", "keras3.15-jax"],
                         replace(SPEC, tolerance=rules, envs=envs))
    assert planned.tolerances == {"tf2.15": [1e-5, 1e-4], "tf2.21-keras3.15": [1e-3, 1e-3],
                                  "keras3.15-jax": [5e-2, 1e-4]}
    assert planned.cells("keras3.15-jax")[0]["atol"] == 5e-2


def test_command_line_tolerances_take_precedence(model):
    planned = steps.plan([str(model), "--to", "tf2.21-keras3.15", "--atol", "1e-3", "--strict"], SPEC)
    assert planned.tolerances == {"tf2.15": [1e-3, 1e-4], "tf2.21-keras3.15": [1e-3, 1e-4]} and planned.strict
    with pytest.raises(OptionError, match="^argument --rtol: must be a finite number >= 0, got -1"):
        steps.plan([str(model), "--rtol", "-1"], SPEC)


def test_expected_outputs_need_the_inputs_they_came_from(model, tmp_path):
    import numpy as np
    np.savez(tmp_path / "y.npz", y=np.zeros((2, 1), "float32"))
    with pytest.raises(UserInputError, match="--expected .*y.npz: needs --inputs"):
        steps.plan([str(model), "--expected", str(tmp_path / "y.npz")], SPEC)
    np.savez(tmp_path / "x.npz", features=np.zeros((2, 6), "float32"))
    planned = steps.plan([str(model), "--inputs", str(tmp_path / "x.npz"), "--expected", str(tmp_path / "y.npz")],
                         SPEC)
    assert planned.expected == str(tmp_path / "y.npz") and planned.task("tf2.15")["expected"] == planned.expected
    with pytest.raises(UserInputError, match="--expected .*model.h5: not an .npz file"):
        steps.plan([str(model), "--inputs", str(tmp_path / "x.npz"), "--expected", str(model)], SPEC)


def test_a_docker_target_mounts_the_checked_file_and_writes_only_its_results_and_references(model, tmp_path):
    from harness.execute import containers
    import numpy as np
    np.savez(tmp_path / "x.npz", features=np.zeros((2, 6), "float32"))
    planned = steps.plan([str(model), "--inputs", str(tmp_path / "x.npz"), "--workdir", str(tmp_path / "w")], SPEC)
    assert planned.reads == [model, tmp_path / "x.npz"]
    found = {(m["Source"], m["ReadOnly"]) for m in containers.mounts(planned.files("tf2.15"), planned.reads)}
    work = (tmp_path / "w").resolve()
    assert {(str(work / d), False) for d in ("results", "tasks", "reference")} < found
    assert (str(tmp_path.resolve()), True) in found and (str(containers.ROOT), True) in found
    assert {ro for source, ro in found if source.startswith(str(work))} == {False}
