"""Version detection on each kind of model file, from tiny files built here without TensorFlow.

The attribute names and layouts are those of real files (TF 2.15 and Keras 3.15 saves, 2026-11-29):
an .h5 model has root attributes keras_version, backend, model_config; legacy save_weights has
layer_names; Keras 3's .weights.h5 has only the groups layers and vars; a .keras zip holds
metadata.json, config.json and model.weights.h5.
"""
import json
import re
import zipfile

import h5py
import pytest

from harness.check.modelfile import UserInputError, read_model_file, saved_model_tf_version


def _h5(path, groups=(), **attrs):
    with h5py.File(path, "w") as handle:
        for key, value in attrs.items():
            handle.attrs[key] = value
        for group in groups:
            handle.create_group(group)
    return path


def _keras_zip(path, metadata):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps(metadata))
        archive.writestr("config.json", json.dumps({"class_name": "Functional", "config": {}}))
        archive.writestr("model.weights.h5", b"")
    return path


def _field(number, payload: bytes) -> bytes:
    """One length-delimited protobuf field (lengths under 128 bytes)."""
    return bytes([number << 3 | 2, len(payload)]) + payload


def _saved_model(folder, tf_version, keras_version=None):
    """saved_model.pb as TF writes it: schema version (field 1), then meta_graphs (2) ->
    meta_info_def (1) -> tags (4), tensorflow_version (5), tensorflow_git_version (6)."""
    folder.mkdir()
    info = _field(4, b"serve") + _field(5, tf_version.encode()) + _field(6, b"v" + tf_version.encode() + b"-1-g0")
    (folder / "saved_model.pb").write_bytes(b"\x08\x01" + _field(2, _field(1, info) + _field(2, b"\x00" * 10)))
    if keras_version:
        (folder / "keras_metadata.pb").write_bytes(
            b"\n\x9a\x01\x12\x05" + json.dumps({"class_name": "Functional", "keras_version": keras_version}).encode())
    return folder


def test_h5_model_records_keras_version_and_backend(tmp_path):
    found = read_model_file(_h5(tmp_path / "m.h5", keras_version="2.15.0", backend="tensorflow", model_config="{}"))
    assert (found.format, found.container, found.keras_version, found.backend) == ("h5", "hdf5", "2.15.0", "tensorflow")
    assert found.evidence == "HDF5 root attributes keras_version, backend"


def test_hdf5_under_a_keras_name_is_noted(tmp_path):
    found = read_model_file(_h5(tmp_path / "old.keras", keras_version="2.10.0", model_config="{}"))
    assert (found.format, found.container) == ("keras", "hdf5")
    assert "Keras 2 before 2.13 writes HDF5 for a .keras path" in found.notes[0]


def test_keras_zip_reads_metadata_json(tmp_path):
    found = read_model_file(_keras_zip(tmp_path / "m.keras", {"keras_version": "3.15.1", "date_saved": "x"}))
    assert (found.format, found.container, found.keras_version) == ("keras", "zip", "3.15.1")
    assert found.evidence == "metadata.json in the archive"


def test_saved_model_tf_version_from_the_protobuf_and_keras_version_from_metadata(tmp_path):
    found = read_model_file(_saved_model(tmp_path / "sm", "2.15.1", "2.15.0"))
    assert (found.format, found.container, found.tensorflow_version, found.keras_version) == \
        ("savedmodel", "directory", "2.15.1", "2.15.0")
    assert not found.notes


def test_saved_model_without_keras_metadata_is_a_tf_saved_model(tmp_path):
    found = read_model_file(_saved_model(tmp_path / "exported", "2.21.0"))
    assert (found.tensorflow_version, found.keras_version) == ("2.21.0", None)
    assert "model.export" in found.notes[0]


def test_a_saved_model_without_the_version_field_gives_none(tmp_path):
    assert saved_model_tf_version(b"\x08\x01" + _field(2, _field(1, _field(4, b"serve"))), tmp_path) is None


def test_weights_only_files_need_the_architecture(tmp_path):
    legacy = _h5(tmp_path / "w.h5", keras_version="2.15.0", backend="tensorflow", layer_names=["dense"])
    with pytest.raises(UserInputError,
                       match=r"w.h5: holds weights only \(h5_weights layout.*--architecture model.json"):
        read_model_file(legacy)
    architecture = tmp_path / "model.json"
    architecture.write_text(json.dumps({"class_name": "Functional", "config": {}, "keras_version": "3.15.1"}))
    found = read_model_file(legacy, architecture)
    assert (found.format, found.keras_version) == ("h5_weights", "2.15.0")  # the weights file's own record wins
    keras3 = read_model_file(_h5(tmp_path / "m.weights.h5", groups=("layers", "vars")), architecture)
    assert (keras3.format, keras3.keras_version, keras3.evidence) == \
        ("keras_weights", "3.15.1", "keras_version in model.json")


def test_architecture_must_be_keras_json_and_only_for_weights(tmp_path):
    weights = _h5(tmp_path / "m.weights.h5", groups=("layers", "vars"))
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(UserInputError, match="--architecture .*bad.json: not a Keras architecture"):
        read_model_file(weights, tmp_path / "bad.json")
    with pytest.raises(UserInputError, match="--architecture .*missing.json: no such file"):
        read_model_file(weights, tmp_path / "missing.json")
    model = _h5(tmp_path / "m.h5", keras_version="2.15.0", model_config="{}")
    with pytest.raises(UserInputError, match="is a full model .* only for weights-only files"):
        read_model_file(model, tmp_path / "bad.json")


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing.h5", "no such file or folder"),
    (lambda d: (d / "text.h5").write_text("hello") and d / "text.h5", "not a Keras model: neither HDF5 nor"),
    (lambda d: _h5(d / "other.h5", groups=("data",)), "an HDF5 file but not a Keras model"),
    (lambda d: d.joinpath("empty").mkdir() or d / "empty", "a folder without saved_model.pb"),
])
def test_what_is_not_a_model_is_bad_input_naming_the_file(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(UserInputError, match=f"{path.name}: .*{message}"):
        read_model_file(path)


def test_truncated_files_are_bad_input(tmp_path):
    model = _h5(tmp_path / "m.h5", keras_version="2.15.0", model_config="{" + " " * 4000 + "}")
    data = model.read_bytes()
    model.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserInputError, match="m.h5: not a readable HDF5 file .*truncated"):
        read_model_file(model)
    archive = _keras_zip(tmp_path / "m.keras", {"keras_version": "2.15.0"})
    archive.write_bytes(archive.read_bytes()[:40])
    with pytest.raises(UserInputError, match="m.keras: not a readable zip archive"):
        read_model_file(archive)
    folder = _saved_model(tmp_path / "sm", "2.15.1")
    pb = folder / "saved_model.pb"
    pb.write_bytes(pb.read_bytes()[:12])
    with pytest.raises(UserInputError, match="saved_model.pb: not a valid SavedModel protobuf .*truncated"):
        read_model_file(folder)


def test_a_zip_that_is_not_a_keras_archive(tmp_path):
    with zipfile.ZipFile(tmp_path / "m.keras", "w") as archive:
        archive.writestr("readme.txt", "hi")
    with pytest.raises(UserInputError, match="a zip archive but not a .keras model .*readme.txt"):
        read_model_file(tmp_path / "m.keras")


def test_a_dangling_link_names_the_link_and_where_it_points(tmp_path):
    (tmp_path / "model.keras").symlink_to(tmp_path / "gone.keras")
    with pytest.raises(UserInputError, match=r"model.keras: no such file or folder \(a link to .*gone.keras, which "
                                             r"does not exist\)"):
        read_model_file(tmp_path / "model.keras")


@pytest.mark.parametrize("config, message", [
    ("{}", "config.json inside the archive is not a Keras model config (no class_name)"),
    ("[1]", "config.json inside the archive is not a Keras model config (no class_name)"),
    ("{{{", "config.json inside the archive is not JSON"),
])
def test_a_keras_zip_whose_config_is_not_a_model_is_bad_input(tmp_path, config, message):
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.3.3"}))
        archive.writestr("config.json", config)
    with pytest.raises(UserInputError, match=re.escape(message)):
        read_model_file(path)
