"""matrix.yaml is validated before anything is installed, with one message naming the key path."""
import textwrap

import pytest

from harness import spec
from harness.run import DEFAULT_MATRIX

GOOD = """
envs:
  tf2.15: {python: "3.11", packages: ["tensorflow-cpu==2.15.1"]}
  k3: {python: "3.12", packages: ["tensorflow-cpu==2.21.0", "keras==3.15.1"]}
profiles:
  default: {envs: [tf2.15, k3]}
extra_pins:
  - {when: "tensorflow<2.12", pins: ["numpy<2"], reason: "numpy 2 breaks TF 2.10"}
"""


def _load(tmp_path, text):
    path = tmp_path / "matrix.yaml"
    path.write_text(textwrap.dedent(text))
    return spec.load(path)


def _error(tmp_path, text):
    with pytest.raises(spec.SpecError) as info:
        _load(tmp_path, text)
    return str(info.value)


def test_the_shipped_matrix_is_valid_and_its_default_profile_spans_six_envs():
    loaded = spec.load(DEFAULT_MATRIX)
    assert len(loaded.profiles["default"].envs) >= 6
    assert {"quick", "default", "nightly"} <= set(loaded.profiles)


def test_python_must_be_a_string(tmp_path):
    message = _error(tmp_path, GOOD.replace('python: "3.11"', "python: 3.11"))
    assert message.endswith('envs.tf2.15.python: expected a string like "3.11", got 3.11')


def test_unknown_key_is_named_with_the_allowed_ones(tmp_path):
    message = _error(tmp_path, GOOD.replace('python: "3.11",', 'python: "3.11", pyhton: "3.11",'))
    assert "envs.tf2.15: unknown key 'pyhton'" in message
    assert "allowed: backend, description, device, env, packages, python, runner" in message


def test_profile_naming_a_missing_env(tmp_path):
    message = _error(tmp_path, GOOD.replace("envs: [tf2.15, k3]", "envs: [tf2.15, tf9]"))
    assert "profiles.default.envs[1]: no environment named 'tf9' (defined: k3, tf2.15)" in message


def test_malformed_pin(tmp_path):
    message = _error(tmp_path, GOOD.replace("tensorflow-cpu==2.15.1", "tensorflow-cpu=2.15.1"))
    assert "envs.tf2.15.packages[0]: 'tensorflow-cpu=2.15.1' is not a valid requirement" in message


def test_decisive_packages_must_be_pinned_exactly(tmp_path):
    message = _error(tmp_path, GOOD.replace("keras==3.15.1", "keras>=3"))
    assert "envs.k3.packages[1]: 'keras>=3' must pin an exact version with '=='" in message


def test_tf_216_without_a_keras_pin_is_refused(tmp_path):
    message = _error(tmp_path, GOOD.replace(', "keras==3.15.1"', ""))
    assert "envs.k3.packages: tensorflow-cpu==2.21.0 installs the newest Keras 3 unless Keras is pinned" in message


def test_tf_keras_needs_the_legacy_switch(tmp_path):
    message = _error(tmp_path, GOOD.replace('"keras==3.15.1"', '"tf-keras==2.21.0"'))
    assert "envs.k3.env: tf-keras is pinned but TF_USE_LEGACY_KERAS is not \"1\"" in message


def test_wrong_type_of_env_variable_value(tmp_path):
    message = _error(tmp_path, GOOD.replace('"3.11", packages', '"3.11", env: {TF_USE_LEGACY_KERAS: 1}, packages'))
    assert "envs.tf2.15.env.TF_USE_LEGACY_KERAS: expected a string (quote numbers: \"1\"), got 1" in message


def test_not_yaml_and_missing_file(tmp_path):
    assert "not valid YAML" in _error(tmp_path, "envs: [unclosed")
    with pytest.raises(spec.SpecError, match="file not found"):
        spec.load(tmp_path / "nope.yaml")


def test_extra_pins_apply_by_version_range(tmp_path):
    loaded = _load(tmp_path, GOOD.replace("tensorflow-cpu==2.15.1", "tensorflow-cpu==2.10.1"))
    assert loaded.envs["tf2.15"].requirements(loaded.extra_pins) == ["tensorflow-cpu==2.10.1", "numpy<2"]
    assert "numpy<2" not in loaded.envs["k3"].requirements(loaded.extra_pins)


def test_fingerprint_changes_with_the_spec(tmp_path):
    a = _load(tmp_path, GOOD)
    b = _load(tmp_path, GOOD.replace("keras==3.15.1", "keras==3.15.0"))
    assert a.envs["tf2.15"].fingerprint(()) == b.envs["tf2.15"].fingerprint(())
    assert a.envs["k3"].fingerprint(()) != b.envs["k3"].fingerprint(())


def test_schema_file_is_a_valid_json_schema():
    import json

    import jsonschema
    jsonschema.Draft202012Validator.check_schema(json.loads(spec.SCHEMA_PATH.read_text()))
