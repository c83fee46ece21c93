"""matrix.yaml is validated before anything is installed, with one message naming the key path."""
import dataclasses
import datetime
import textwrap

import pytest

from harness.config import spec
from harness.config.matrix_yaml import DEFAULT_MATRIX
from harness.config.validation import SCHEMA_PATH

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
    assert "allowed: backend, description, device, env, image, interpreter, packages, python, runner" in message


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
    jsonschema.Draft202012Validator.check_schema(json.loads(SCHEMA_PATH.read_text()))


EXPECT = GOOD + """
expected_failures:
  - producer: "keras>=3"
    consumer: "keras<3"
    format: [h5, keras]
    error: batch_shape
    reason: Keras 3 writes batch_shape
    link: https://github.com/tensorflow/tensorflow/issues/66381
    expires: 2027-11-29
"""


def test_expected_failures_are_read_with_their_date(tmp_path):
    (entry,) = _load(tmp_path, EXPECT).expected_failures
    assert (entry.producer, entry.consumer, entry.formats, entry.fixtures, entry.tags) == \
        ("keras>=3", "keras<3", ("h5", "keras"), None, None)
    assert entry.expires == datetime.date(2027, 11, 29) and entry.key_path == "expected_failures[0]"
    (tagged,) = _load(tmp_path, EXPECT.replace("format: [h5, keras]", "tags: [functional, core]")).expected_failures
    assert tagged.tags == ("functional", "core") and tagged.scope == [("tags", "[functional, core]")]


def test_an_entry_with_tags_matches_the_fixtures_that_carry_every_one(tmp_path):
    """``tags:`` narrows an entry to the fixtures whose TAGS hold all of them; with ``fixture:`` both must hold."""
    from packaging.version import Version
    k3, k2 = {"keras": Version("3.15")}, {"keras": Version("2.15")}
    (entry,) = _load(tmp_path, EXPECT.replace("format: [h5, keras]", "tags: [functional, core]")).expected_failures
    assert entry.matches(k3, k2, "dense_bn", "h5", "load_model", ("core", "functional"))
    assert entry.matches(k3, k2, "x", "json", "load_model", ("functional", "extra", "core"))
    assert not entry.matches(k3, k2, "dense_bn", "h5", "load_model", ("functional",))  # core missing
    assert not entry.matches(k3, k2, "subclassed", "h5", "load_model", ("custom", "subclassed"))
    assert not entry.matches(k3, k2, "dense_bn", "h5", "load_model", ())
    both = dataclasses.replace(entry, fixtures=("dense_bn",))
    assert both.matches(k3, k2, "dense_bn", "h5", "load_model", ("core", "functional"))
    assert not both.matches(k3, k2, "twin_dense", "h5", "load_model", ("core", "functional"))
    assert not both.matches(k3, k2, "dense_bn", "h5", "load_model", ("core",))
    untagged = dataclasses.replace(entry, tags=None)
    assert untagged.matches(k3, k2, "subclassed", "h5", "load_model", ())  # no tags: any fixture, as before


@pytest.mark.parametrize("change, message", [
    (('"keras>=3"', '"keras>>3"'), "expected_failures[0].producer: 'keras>>3' is not a valid requirement"),
    (('"keras<3"', '"kears<3"'), "expected_failures[0].consumer: 'kears<3': environments are matched by the "
                                 "versions of jax, jaxlib, keras, tensorflow"),
    (('"keras<3"', '"keras<3; python_version<\'3.9\'"'), "expected_failures[0].consumer: "
                                                          "\"keras<3; python_version<'3.9'\" may hold only"),
    (("2027-11-29", "2027-02-30"), "expected_failures[0].expires: '2027-02-30' is not a date (YYYY-MM-DD)"),
    (("2027-11-29", "next year"), "expected_failures[0].expires: expected a date YYYY-MM-DD"),
    (("    link: https", "    link: ftp"), "expected_failures[0].link: expected a URL"),
    (("format: [h5, keras]", "format: [h5, hdf5]"), "expected_failures[0].format"),
    (("format: [h5, keras]", "loader: load"), "expected_failures[0].loader: expected one of load_model, load_weights"),
    (("    reason: Keras 3 writes batch_shape\n", ""), "expected_failures[0]: 'reason' is missing"),
    (("format: [h5, keras]", "tags: functional"), "expected_failures[0].tags: expected a non-empty list of distinct "
                                                  "fixture tags, like [functional]"),
    (("format: [h5, keras]", "tags: [core, core]"), "expected_failures[0].tags: expected a non-empty list"),
    (("format: [h5, keras]", "tags: [2]"), "expected_failures[0].tags[0]: expected a fixture tag"),
    (("format: [h5, keras]", "formats: [h5]"), "expected_failures[0]: unknown key 'formats' (allowed: consumer, "
                                               "error, expires, fixture, format, layers, level, link, loader, max_abs, "
                                               "phase, producer, python, reason, tags, traits, verdict)"),
    (("format: [h5, keras]", "layers: GRU"), "expected_failures[0].layers: expected a non-empty list of distinct "
                                             "layer class names, like [GRU, LSTM]"),
    (("format: [h5, keras]", "layers: [keras.layers.GRU]"), "expected_failures[0].layers[0]: expected a Keras layer "
                                                            "class name, like GRU"),
    (("format: [h5, keras]", "traits: [time_majr]"), "expected_failures[0].traits: 'time_majr' is not a trait "
                                                     "(one of subclassed, nested_model,"),
    (("format: [h5, keras]", "layers: [GRU]\n    fixture: dense_bn"),
     "expected_failures[0].fixture: an entry keyed by what a model holds (layers/traits) names no fixture"),
])
def test_expected_failure_errors_name_the_key_path(tmp_path, change, message):
    assert message in _error(tmp_path, EXPECT.replace(*change))


OVERRIDES = GOOD + """
tolerance:
  atol: 1.0e-5
  overrides:
    - {fixture: dense_bn, atol: 1.0e-3}
    - {device_pair: "gpu>cpu", backend: [jax, torch], rtol: 1.0e-3}
"""


def test_tolerance_overrides_are_read(tmp_path):
    rules = _load(tmp_path, OVERRIDES).tolerance
    assert rules.default.atol == 1e-5 and rules.default.rtol == 1e-4
    assert [(o.fixtures, o.device_pairs, o.backends, o.atol, o.rtol) for o in rules.overrides] == \
        [(("dense_bn",), None, None, 1e-3, None), (None, ("gpu>cpu",), ("jax", "torch"), None, 1e-3)]


@pytest.mark.parametrize("change, message", [
    (("{fixture: dense_bn, atol: 1.0e-3}", "{fixture: dense_bn}"),
     "tolerance.overrides[0]: sets neither atol nor rtol"),
    (("{fixture: dense_bn, atol: 1.0e-3}", "{atol: 1.0e-3}"),
     "tolerance.overrides[0]: names none of fixture, format, backend, device_pair"),
    (('"gpu>cpu"', '"gpu->cpu"'), "tolerance.overrides[1].device_pair"),
    (("atol: 1.0e-3}", "atol: -1}"),
     "tolerance.overrides[0].atol: expected an absolute tolerance (a number >= 0), got -1"),
    (("{fixture: dense_bn,", "{fixtures: dense_bn,"), "tolerance.overrides[0]: unknown key 'fixtures'"),
])
def test_tolerance_override_errors_name_the_key_path(tmp_path, change, message):
    assert message in _error(tmp_path, OVERRIDES.replace(*change))


def test_versions_give_tensorflow_and_keras_under_their_own_names(tmp_path):
    from packaging.version import Version
    loaded = _load(tmp_path, GOOD.replace("profiles:", """  legacy:
    python: "3.11"
    packages: ["tensorflow-cpu==2.16.2", "tf-keras==2.16.0"]
    env: {TF_USE_LEGACY_KERAS: "1"}
profiles:"""))
    tf215, k3, legacy = (loaded.envs[n].versions() for n in ("tf2.15", "k3", "legacy"))
    # Keras 2 inside TF: the TF version's major.minor.
    assert tf215 == {"tensorflow-cpu": Version("2.15.1"), "tensorflow": Version("2.15.1"), "keras": Version("2.15"),
                     "python": Version("3.11")}
    assert k3["keras"] == Version("3.15.1") and k3["tensorflow"] == Version("2.21.0")
    # tf_keras (TF_USE_LEGACY_KERAS=1): tf.keras is tf_keras, so keras is its version.
    assert legacy["keras"] == Version("2.16.0") and legacy["tf-keras"] == Version("2.16.0")
    assert spec.satisfies(tf215, "tensorflow<2.16") and spec.satisfies(tf215, "tensorflow-cpu==2.15.*")
    assert spec.satisfies(tf215, "keras==2.15.*") and not spec.satisfies(tf215, "keras>=3")
    assert not spec.satisfies(tf215, "tf-keras>=2") and not spec.satisfies(tf215, "tensorflow-gpu>=2")


DOCKER = GOOD.replace("profiles:", """\
  cpu: {runner: docker, packages: ["tensorflow-cpu==2.15.1"]}
  gpu: {runner: docker, device: gpu, image: "registry.example.com/tf:2.15", packages: ["keras==2.15.0"]}
profiles:""")


def test_docker_environments_are_read_without_a_python(tmp_path):
    envs = _load(tmp_path, DOCKER).envs
    assert (envs["cpu"].runner, envs["cpu"].python, envs["cpu"].image, envs["cpu"].device) == \
        ("docker", None, None, "cpu")
    assert (envs["gpu"].image, envs["gpu"].device) == ("registry.example.com/tf:2.15", "gpu")
    assert (envs["tf2.15"].runner, envs["tf2.15"].image) == ("venv", None)


@pytest.mark.parametrize("change, message", [
    (('cpu: {runner: docker,', 'cpu: {runner: docker, python: "3.11",'),
     "envs.cpu.python: a docker environment runs its image's Python"),
    (('"tensorflow-cpu==2.15.1"]}\n  gpu', '"keras==2.15.0"]}\n  gpu'),
     "envs.cpu.packages: a docker environment without image needs a TensorFlow pin"),
    (('tf2.15: {python: "3.11",', 'tf2.15: {python: "3.11", device: gpu,'),
     "envs.tf2.15.device: a GPU environment runs in a container (runner: docker)"),
    (('tf2.15: {python: "3.11",', 'tf2.15: {python: "3.11", image: "tf:2.15",'),
     "envs.tf2.15.image: only a docker environment (runner: docker) runs in an image"),
    (('tf2.15: {python: "3.11",', 'tf2.15: {'), "envs.tf2.15: 'python' is missing"),
    (("device: gpu", "device: tpu"), "envs.gpu.device: expected \"cpu\" (the default) or \"gpu\""),
    (("cpu: {runner: docker", "cpu: {runner: podman"), "envs.cpu.runner: expected \"venv\""),
])
def test_docker_environment_errors_name_the_key_path(tmp_path, change, message):
    assert change[0] in DOCKER
    assert message in _error(tmp_path, DOCKER.replace(*change))


def test_an_arbitrary_equality_pin_that_is_no_version_is_refused_not_a_crash(tmp_path):
    message = _error(tmp_path, GOOD.replace("tensorflow-cpu==2.15.1", "tensorflow-cpu===2.15.1foo"))
    assert "envs.tf2.15.packages[0]: 'tensorflow-cpu===2.15.1foo' must pin an exact version with '=='" in message
    loaded = _load(tmp_path, GOOD.replace('"keras==3.15.1"', '"keras==3.15.1", "somelib===weird"'))
    assert "somelib" not in loaded.envs["k3"].versions()


@pytest.mark.parametrize("change, message", [
    (("tensorflow-cpu==2.15.1", "tensorflow-cpu=2.15"),
     "envs.tf2.15.packages[0]: 'tensorflow-cpu=2.15' is not a valid requirement (Expected semicolon "
     "(after name with no version specifier) or end); pin with '==' (name==X.Y.Z)"),
    (('"numpy<2"', '"numpy<<2"'), "extra_pins[0].pins[0]: 'numpy<<2' is not a valid requirement ("),
    (('  tf2.15: {python', '\ttf2.15: {python'),
     "not valid YAML: line 3, column 1: found character '\\t' that cannot start any token "
     "(while scanning for the next token); indent with spaces, not tabs"),
    (("envs: [tf2.15, k3]}", "envs: [tf2.15, k3"),
     "not valid YAML: line 7, column 11: expected ',' or ']', but got ':' (while parsing a flow sequence)"),
])
def test_yaml_and_requirement_errors_are_one_line(tmp_path, change, message):
    text = _error(tmp_path, GOOD.replace(*change))
    assert message in text and "\n" not in text



@pytest.mark.parametrize("change, message", [
    (("profiles:", '  tf2.15: {python: "3.10", packages: ["tensorflow-cpu==2.10.1"]}\nprofiles:'),
     "not valid YAML: line 5, column 3: duplicate key 'tf2.15' (first given on line 3)"),
    (('"3.11", packages', '"3.11", python: "3.10", packages'), "duplicate key 'python' (first given on line 3)"),
])
def test_a_key_given_twice_is_refused_not_silently_replaced(tmp_path, change, message):
    assert message in _error(tmp_path, GOOD.replace(*change))


def test_exponent_floats_without_a_dot_are_numbers_as_in_yaml_1_2(tmp_path):
    loaded = _load(tmp_path, GOOD + "tolerance: {atol: 1e-3, overrides: [{fixture: f, rtol: 2E-2}]}\n")
    assert loaded.tolerance.default.atol == 1e-3 and loaded.tolerance.overrides[0].rtol == 2e-2
    message = _error(tmp_path, GOOD + "tolerance: {overrides: [{fixture: f, atol: -1e-3}]}\n")
    assert message.endswith("tolerance.overrides[0].atol: expected an absolute tolerance (a number >= 0), got -0.001")


@pytest.mark.parametrize("extra, message", [
    ("tolerance: {atol: .nan}\n", "tolerance.atol: expected a finite number, got nan"),
    ("tolerance: {overrides: [{fixture: f, rtol: .inf}]}\n",
     "tolerance.overrides[0].rtol: expected a finite number, got inf"),
    ("timeouts: {cell_s: .inf}\n", "timeouts.cell_s: expected a finite number, got inf"),
])
def test_tolerances_and_timeouts_must_be_finite(tmp_path, extra, message):
    assert _error(tmp_path, GOOD + extra).endswith(message)


@pytest.mark.parametrize("text, message", [
    ("", "matrix.yaml: the file is empty; it needs at least envs and profiles"),
    ("# only a comment\n", "matrix.yaml: the file is empty; it needs at least envs and profiles"),
    ("- tf2.15\n- k3\n", "(top level): expected a mapping with at least envs and profiles, got ['tf2.15', 'k3']"),
])
def test_an_empty_file_or_a_list_says_what_the_file_needs(tmp_path, text, message):
    assert message in _error(tmp_path, text)


@pytest.mark.parametrize("packages, message", [
    ('"tensorflow-cpu==2.15.1", "tensorflow_cpu==2.10.1"',
     "envs.tf2.15.packages[1]: 'tensorflow_cpu==2.10.1' pins tensorflow_cpu again "
     "(packages[0] is 'tensorflow-cpu==2.15.1'); keep one"),
    ('"tensorflow-cpu==2.15.1", "tensorflow==2.10.1"',
     "envs.tf2.15.packages[1]: 'tensorflow==2.10.1' is a second TensorFlow distribution "
     "(packages[0] is 'tensorflow-cpu==2.15.1'); keep one"),
])
def test_a_package_pinned_twice_or_two_tensorflows_are_refused(tmp_path, packages, message):
    assert _error(tmp_path, GOOD.replace('"tensorflow-cpu==2.15.1"', packages, 1)).endswith(message)


@pytest.mark.parametrize("seed", ["-1", "99999999999999999999"])
def test_a_seed_numpy_cannot_take_is_refused(tmp_path, seed):
    assert "seed: expected an integer seed from 0 to 2147483647" in _error(tmp_path, GOOD + f"seed: {seed}\n")


def test_a_decisive_pin_with_an_environment_marker_is_refused(tmp_path):
    text = GOOD.replace('"tensorflow-cpu==2.15.1"', '"tensorflow-cpu==2.15.1; python_version < \'3\'"')
    assert "envs.tf2.15.packages[0]: \"tensorflow-cpu==2.15.1; python_version < '3'\": tensorflow-cpu decides the " \
        "verdicts, so it may not depend on an environment marker" in _error(tmp_path, text)


@pytest.mark.parametrize("env, message", [
    ('{python: "3.12", packages: ["keras==3.15.1"]}',
     "envs.k3.backend: no TensorFlow is pinned, so Keras has no backend to run on"),
    ('{python: "3.12", packages: ["keras==3.15.1"], backend: torch}',
     "envs.k3.packages: backend: torch but torch is not pinned; add torch==X.Y.Z"),
])
def test_a_venv_without_tensorflow_needs_a_pinned_jax_or_torch_backend(tmp_path, env, message):
    text = GOOD.replace('{python: "3.12", packages: ["tensorflow-cpu==2.21.0", "keras==3.15.1"]}', env)
    assert message in _error(tmp_path, text)
    ok = GOOD.replace('{python: "3.12", packages: ["tensorflow-cpu==2.21.0", "keras==3.15.1"]}',
                      '{python: "3.12", packages: ["keras==3.15.1", "jax[cpu]==0.10.2"], backend: jax}')
    assert _load(tmp_path, ok).envs["k3"].backend == "jax"


@pytest.mark.parametrize("text, message", [
    (GOOD.replace("  default: {envs: [tf2.15, k3]}", "  default: {envs: [tf2.15, k3]}\n  2: {envs: [k3]}"),
     "profiles: expected a name of letters, digits, '.', '_', '+' or '-', got 2"),
    (GOOD.replace("  k3:", "  3:").replace("tf2.15, k3]", "tf2.15, 3]"),
     "envs: expected a name of letters, digits, '.', '_', '+' or '-', got 3"),
])
def test_env_and_profile_names_that_are_not_strings_are_refused_not_a_crash(tmp_path, text, message):
    assert _error(tmp_path, text).endswith(message)


def test_a_folder_or_a_non_utf8_file_is_one_line_not_a_traceback(tmp_path):
    with pytest.raises(spec.SpecError, match=r"^.*: cannot be read \(Is a directory\)$"):
        spec.load(tmp_path)
    (tmp_path / "latin.yaml").write_bytes(b"envs: caf\xe9\n")
    with pytest.raises(spec.SpecError, match=r"latin.yaml: not UTF-8 text \(byte 9: b.\\xe9\\n.\)"):
        spec.load(tmp_path / "latin.yaml")


def test_the_noxfile_says_why_an_invalid_matrix_leaves_no_environment_sessions(tmp_path, monkeypatch, capsys):
    import importlib.util
    from harness import ROOT
    (tmp_path / "matrix.yaml").write_text("")
    monkeypatch.setenv("KCM_MATRIX", str(tmp_path / "matrix.yaml"))
    monkeypatch.setattr("sys.argv", ["nox", "-s", "lint"])
    loader = importlib.util.spec_from_file_location("noxfile_under_test", ROOT / "noxfile.py")
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    assert module.ENV_PARAMS == []
    why = f"{tmp_path / 'matrix.yaml'}: the file is empty; it needs at least envs and profiles " \
        "(see docs/matrix-yaml.md)"
    assert capsys.readouterr().err == f"noxfile: {why}\n"
    # a session that needs the matrix stops as nox loads the noxfile, the reason its last line
    monkeypatch.setattr("sys.argv", ["nox", "-s", "matrix"])
    with pytest.raises(SystemExit) as stopped:
        loader.loader.exec_module(importlib.util.module_from_spec(loader))
    assert stopped.value.code == 2
    assert capsys.readouterr().err == f"nox -s matrix: {why}\n"


def test_an_entry_can_ask_for_a_different_python(tmp_path):
    """A Lambda's HDF5 bytecode fails across Python versions (seen: TF 2.10 on 3.10 to TF 2.13 on 3.11,
    "bad marshal data"), so an entry may match only cells whose two Pythons differ."""
    from packaging.version import Version
    entry = spec.ExpectedFailure(0, "keras<3", "keras<3", "marshal", datetime.date(2027, 1, 1),
                                 fixtures=("lambda_layer",), python="differs")
    py310 = {"keras": Version("2.10"), "python": Version("3.10")}
    py311 = {"keras": Version("2.13"), "python": Version("3.11")}
    assert entry.matches(py310, py311, "lambda_layer", "h5", "load_model", ())
    assert not entry.matches(py311, dict(py311, keras=Version("2.15")), "lambda_layer", "h5", "load_model", ())
    # a docker environment: its Python is unknown
    assert not entry.matches({"keras": Version("2.15")}, py311, "lambda_layer", "h5", "load_model", ())
    same = spec.ExpectedFailure(0, "keras<3", "keras<3", "x", datetime.date(2027, 1, 1), python="same")
    assert same.matches(py311, py311, "f", "h5", "load_model", ())
    assert not same.matches(py310, py311, "f", "h5", "l", ())
    message = _error(tmp_path, GOOD + """expected_failures:
  - {producer: "keras<3", consumer: "keras<3", python: sometimes, reason: r, expires: 2027-01-01}
""")
    assert "expected_failures[0].python" in message and "differs or same" in message, message
