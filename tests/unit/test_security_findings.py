"""Findings of small hand-built files (h5py, zipfile, raw protobuf): one test per kind, and clean files.

Nothing here imports TensorFlow or Keras; Lambda bytecode comes from real CPythons
(tests/data/security/lambdas.json).
"""

import json
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from harness.check.modelfile import UserInputError
from harness.check.security.bytecode import decode_code, python_of
from harness.check.security.findings import scan_file

LAMBDAS = json.loads((Path(__file__).parent.parent / "data" / "security" / "lambdas.json").read_text())
PYTHONS = {
    "2.7": "Python 2.7",
    "3.6": "Python 3.6 or 3.7",
    "3.7": "Python 3.6 or 3.7",
    "3.8": "Python 3.8 to 3.10",
    "3.9": "Python 3.8 to 3.10",
    "3.10": "Python 3.8 to 3.10",
    "3.11": "Python 3.11 or 3.12",
    "3.12": "Python 3.11 or 3.12",
    "3.13": "Python 3.13 or later",
}
INPUT = {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [None, 2], "name": "in"}}


def dense(**config):
    return {"module": "keras.layers", "class_name": "Dense", "config": dict(name="dense", units=1, **config)}


def keras_zip(path, *layers, members=(), weights=None):
    config = {"module": "keras", "class_name": "Sequential", "config": {"name": "seq", "layers": [INPUT, *layers]}}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.8.0"}))
        archive.writestr("config.json", json.dumps(config))
        if weights is not None:
            archive.write(weights, "model.weights.h5")
        for name, data in members:
            archive.writestr(name, data)
    return path


def legacy_h5(path, *layers):
    config = {"class_name": "Sequential", "config": {"name": "seq", "layers": list(layers)}}
    with h5py.File(path, "w") as handle:
        handle.attrs["model_config"] = json.dumps(config)
        handle.attrs["keras_version"] = "2.15.0"
        handle.create_group("model_weights")
    return path


def kinds(path):
    return [f.kind for f in scan_file(path).findings]


@pytest.mark.parametrize("version", [v for v in LAMBDAS if v != "how"])
@pytest.mark.parametrize("shape", ["plain", "closure"])
def test_lambda_bytecode_says_which_python_wrote_it(version, shape):
    assert python_of(decode_code(LAMBDAS[version][shape])) == PYTHONS[version]


def test_garbage_is_no_code_object():
    assert python_of(b"\x00\x01") == "not a marshalled code object"
    assert python_of(b"\xe3" + b"\x00" * 3).startswith("unknown Python")


def test_lambda_in_a_keras_zip(tmp_path):
    code = {"class_name": "__lambda__", "config": {"code": LAMBDAS["3.10"]["plain"], "defaults": None, "closure": None}}
    path = keras_zip(
        tmp_path / "m.keras",
        {"module": "keras.layers", "class_name": "Lambda", "config": {"name": "lam", "function": code}},
    )
    (finding,) = scan_file(path).findings
    assert (finding.kind, finding.effect) == ("lambda", "code")
    assert "Python 3.8 to 3.10" in finding.detail and "'lam'" in finding.where


def test_lambda_in_a_legacy_h5(tmp_path):
    path = legacy_h5(
        tmp_path / "m.h5",
        {
            "class_name": "Lambda",
            "config": {"name": "lam", "function": [LAMBDAS["3.11"]["closure"], None, None], "function_type": "lambda"},
        },
    )
    scanned = scan_file(path)
    assert (scanned.format, scanned.container) == ("h5", "hdf5")
    assert [f.detail for f in scanned.findings] == [
        "Lambda function: marshalled bytecode written by Python 3.11 or 3.12"
    ]


def test_a_function_from_os_in_an_activation(tmp_path):
    path = keras_zip(
        tmp_path / "m.keras",
        dense(activation={"module": "os", "class_name": "function", "config": "system", "registered_name": "function"}),
    )
    (finding,) = scan_file(path).findings
    assert finding.kind == "function_reference" and "os.system" in finding.detail


@pytest.mark.parametrize("key", ["activation", "recurrent_activation", "kernel_initializer", "bias_regularizer",
                                 "kernel_constraint"])
def test_a_function_as_keras_serializes_it_at_a_key_keras_looks_up_by_name(tmp_path, key):
    # registered_name None or the function's own name: Keras 3 resolves it in its table, no import
    for registered in (None, "system"):
        path = keras_zip(tmp_path / "m.keras", dense(**{key: {"module": "os", "class_name": "function",
                                                              "config": "system", "registered_name": registered}}))
        (finding,) = scan_file(path).findings
        assert finding.kind == "function_by_table" and "os.system" in finding.detail


def test_a_function_named_in_a_lambda_or_under_another_registered_name_is_imported(tmp_path):
    function = {"module": "os", "class_name": "function", "config": "system", "registered_name": "system"}
    lam = {"module": "keras.layers", "class_name": "Lambda", "config": {"name": "lam", "function": function}}
    assert kinds(keras_zip(tmp_path / "lam.keras", lam)) == ["function_reference"]
    other = dense(activation={**function, "registered_name": "my_activation"})  # may be a custom_objects key
    assert kinds(keras_zip(tmp_path / "other.keras", other)) == ["function_reference"]


def test_a_legacy_lambda_naming_a_function_outside_keras(tmp_path):
    path = legacy_h5(
        tmp_path / "m.h5",
        {
            "class_name": "Lambda",
            "config": {"name": "lam", "function": "getoutput", "function_type": "function", "module": "subprocess"},
        },
    )
    assert kinds(path) == ["function_reference"]


def test_a_class_from_a_module_outside_keras_and_registered_custom_objects(tmp_path):
    path = keras_zip(
        tmp_path / "m.keras",
        {"module": "my_pkg.layers", "class_name": "Scale", "config": {"name": "s"}, "registered_name": "MyPkg>Scale"},
    )
    assert kinds(path) == ["custom_class"]
    h5 = legacy_h5(tmp_path / "m.h5", {"class_name": "MyPkg>Scale", "config": {"name": "s"}})
    (finding,) = scan_file(h5).findings
    assert (finding.kind, finding.effect) == ("custom_object", "info") and "MyPkg>Scale" in finding.detail
    with h5py.File(h5, "a") as handle:  # Keras 2.15's own optimizer, as its training_config names it
        del handle.attrs["model_config"]
        handle.attrs["training_config"] = json.dumps({"optimizer_config": {"class_name": "Custom>Adam", "config": {}}})
    assert kinds(h5) == []


def test_keras_functions_called_by_a_lambda_and_safe_mode_toggles(tmp_path):
    get_file = {"module": "keras.utils", "class_name": "function", "config": "get_file", "registered_name": "function"}
    toggle = {
        "module": "keras.config",
        "class_name": "function",
        "config": "enable_unsafe_deserialization",
        "registered_name": "function",
    }
    path = keras_zip(
        tmp_path / "m.keras",
        {"module": "keras.layers", "class_name": "Lambda", "config": {"name": "a", "function": get_file}},
        {"module": "keras.layers", "class_name": "Lambda", "config": {"name": "b", "function": toggle}},
    )
    assert sorted(kinds(path)) == ["lambda_keras_function", "safe_mode_toggle"]


def test_tfsm_layer_torch_module_wrapper_and_a_vocabulary_path(tmp_path):
    path = keras_zip(
        tmp_path / "m.keras",
        {"module": "keras.layers", "class_name": "TFSMLayer", "config": {"name": "t", "filepath": "/srv/x"}},
        {"module": "keras.layers", "class_name": "TorchModuleWrapper", "config": {"name": "w"}},
        {"module": "keras.layers", "class_name": "StringLookup", "config": {"name": "v", "vocabulary": "/etc/passwd"}},
        {
            "module": "keras.layers",
            "class_name": "StringLookup",
            "config": {"name": "inline", "vocabulary": ["a", "b"]},
        },
    )
    found = {f.kind: f for f in scan_file(path).findings}
    assert set(found) == {"tfsm_layer", "torch_module_wrapper", "lookup_vocabulary_path"}
    assert "'/srv/x'" in found["tfsm_layer"].detail and "'/etc/passwd'" in found["lookup_vocabulary_path"].detail


def test_hdf5_external_link_external_and_virtual_datasets(tmp_path):
    path = legacy_h5(tmp_path / "m.h5", {"class_name": "Dense", "config": {"name": "d"}})
    (tmp_path / "raw.bin").write_bytes(bytes(16))
    with h5py.File(tmp_path / "source.h5", "w") as handle:
        handle["data"] = np.zeros(4)
    with h5py.File(path, "a") as handle:
        handle["model_weights/linked"] = h5py.ExternalLink("/nowhere/secret.h5", "/data")  # never opened
        handle.create_dataset(
            "model_weights/ext", shape=(16,), dtype="u1", external=[(str(tmp_path / "raw.bin"), 0, 16)]
        )
        layout = h5py.VirtualLayout(shape=(4,), dtype="f8")
        layout[:] = h5py.VirtualSource(str(tmp_path / "source.h5"), "data", shape=(4,))
        handle.create_virtual_dataset("model_weights/virtual", layout)
    found = {f.kind: f for f in scan_file(path).findings}
    assert set(found) == {"hdf5_external_link", "hdf5_external_dataset", "hdf5_virtual_dataset"}
    assert "/nowhere/secret.h5" in found["hdf5_external_link"].detail
    assert "raw.bin" in found["hdf5_external_dataset"].detail and "source.h5" in found["hdf5_virtual_dataset"].detail


def test_an_oversized_dataset_in_the_weights_of_a_keras_zip(tmp_path):
    weights = tmp_path / "w.h5"
    with h5py.File(weights, "w") as handle:  # 16 GiB declared, chunked: nothing is written
        handle.create_dataset("vars/0", shape=(65536, 65536), dtype="f4", chunks=(64, 64))
    (finding,) = scan_file(keras_zip(tmp_path / "m.keras", dense(), weights=weights)).findings
    assert finding.kind == "oversized_dataset" and finding.where == "model.weights.h5:/vars/0"
    assert "16.0 GiB" in finding.detail


def test_zip_members_with_absolute_paths_dot_dot_and_huge_expansion(tmp_path):
    path = keras_zip(
        tmp_path / "m.keras",
        dense(),
        members=[
            ("/etc/cron.d/x", b"x"),
            ("assets/../../evil.py", b"x"),
            ("C:/Windows/x", b"x"),
            ("assets/ok.txt", b"x"),
            ("assets/zeros.bin", bytes(70 << 20)),
        ],
    )
    found = scan_file(path).findings
    assert [f.where for f in found if f.kind == "zip_path_traversal"] == [
        "/etc/cron.d/x",
        "assets/../../evil.py",
        "C:/Windows/x",
    ]
    assert [f.where for f in found if f.kind == "zip_bomb"] == ["assets/zeros.bin"]


def _field(number, payload):
    """One length-delimited protobuf field (wire type 2), the way TensorFlow writes it."""
    key, size, out = (number << 3) | 2, len(payload), bytearray()
    for value in (key, size):
        while True:
            out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
            value >>= 7
            if not value:
                break
    return bytes(out) + payload


def _node(name, op):
    return _field(1, _field(1, name.encode()) + _field(2, op.encode()))  # GraphDef.node / FunctionDef.node_def


def _function(name, *nodes):
    return _field(1, _field(1, _field(1, name.encode())) + b"".join(_field(3, n[2:]) for n in nodes))


def saved_model(folder, graph_nodes, functions):
    folder.mkdir()
    graph = b"".join(graph_nodes) + _field(2, b"".join(functions))
    (folder / "saved_model.pb").write_bytes(_field(1, b"\x01") + _field(2, _field(2, graph)))
    return folder


def test_savedmodel_file_and_print_ops_outside_the_save_function(tmp_path):
    folder = saved_model(
        tmp_path / "sm",
        [_node("read", "ReadFile"), _node("save/SaveV2", "SaveV2")],
        [
            _function(
                "__inference__traced_restore_12", _node("w", "WriteFile"), _node("s", "SaveV2"), _node("p", "PrintV2")
            ),
            _function("__inference__traced_save_3", _node("s", "SaveV2")),
        ],
    )
    found = [(f.kind, f.where) for f in scan_file(folder).findings]
    assert found == [
        ("savedmodel_file_op", "saved_model.pb:graph/read"),
        ("savedmodel_file_op", "saved_model.pb:__inference__traced_restore_12/w"),
        ("savedmodel_file_op", "saved_model.pb:__inference__traced_restore_12/s"),
        ("savedmodel_print", "saved_model.pb:__inference__traced_restore_12/p"),
    ]


def test_keras_metadata_configs_of_a_keras2_savedmodel(tmp_path):
    folder = saved_model(tmp_path / "sm", [], [])
    layer = {
        "class_name": "Lambda",
        "config": {"name": "lam", "function": [LAMBDAS["3.9"]["plain"], None, None], "function_type": "lambda"},
    }
    (folder / "keras_metadata.pb").write_bytes(_field(1, _field(5, json.dumps(layer).encode())))
    assert kinds(folder) == ["lambda"]


def test_clean_files_have_no_findings(tmp_path):
    assert kinds(keras_zip(tmp_path / "m.keras", dense(activation="relu"))) == []
    assert (
        kinds(legacy_h5(tmp_path / "m.h5", {"class_name": "Dense", "config": {"name": "d", "activation": "relu"}}))
        == []
    )
    assert kinds(saved_model(tmp_path / "sm", [_node("x", "MatMul")], [_function("f", _node("y", "Relu"))])) == []


@pytest.mark.parametrize(
    "content, message", [(b"not a model", "not a Keras model"), (b"PK\x03\x04broken", "not a readable zip archive")]
)
def test_bad_files_are_one_bad_input(tmp_path, content, message):
    path = tmp_path / "bad.keras"
    path.write_bytes(content)
    with pytest.raises(UserInputError, match=message):
        scan_file(path)


def test_a_truncated_saved_model_is_bad_input(tmp_path):
    folder = saved_model(tmp_path / "sm", [_node("read", "ReadFile")], [])
    (folder / "saved_model.pb").write_bytes((folder / "saved_model.pb").read_bytes()[:-3])
    with pytest.raises(UserInputError, match="truncated"):
        scan_file(folder)


def test_hard_link_cycles_are_walked_once(tmp_path):
    path = legacy_h5(tmp_path / "m.h5", {"class_name": "Dense", "config": {"name": "d"}})
    with h5py.File(path, "a") as handle:
        handle["model_weights/back"] = handle["model_weights"]  # a group that contains itself
        handle["model_weights/linked"] = h5py.ExternalLink("/nowhere/x.h5", "/d")
    assert kinds(path) == ["hdf5_external_link"]


def test_a_real_tf_2_4_savedmodel_saves_only_in_its_save_function():
    """Golden artifact written by TF 2.4: SaveV2 sits in __inference__traced_save_*, so nothing is reported."""
    from harness.check.security.savedmodel import graph_ops

    folder = Path(__file__).parent.parent.parent / "fixtures/golden/tf2.4/dense_bn/savedmodel/savedmodel"
    ops = graph_ops((folder / "saved_model.pb").read_bytes(), folder)
    assert {f for f, _, op in ops if op == "SaveV2"} == {f for f, _, _ in ops if "_traced_save" in f}
    assert any(op == "RestoreV2" for _, _, op in ops) and kinds(folder) == []


class _Opens:
    """Pickled by the test to make the bytes a loader would run; the scan never unpickles them."""

    def __reduce__(self):
        return (open, ("never-written", "w"))


def test_an_object_array_in_the_npz_weights_and_what_its_pickle_imports(tmp_path):
    import io
    import pickle

    data = io.BytesIO()
    np.savez(data, **{"layers/dense": np.array([_Opens()], dtype=object), "fine": np.zeros(2)})
    path = keras_zip(tmp_path / "m.keras", dense(), members=[("model.weights.npz", data.getvalue())])
    found = scan_file(path).findings
    assert [f.kind for f in found] == ["npz_object_array", "pickle_import"]
    assert found[0].where == "model.weights.npz:layers/dense.npy" and "io.open" in found[1].detail
    assert not (tmp_path / "never-written").exists() and not Path("never-written").exists()
    module = {"class_name": "__bytes__", "config": {"value": pickle.dumps(_Opens(), protocol=0).decode()}}
    path = keras_zip(tmp_path / "t.keras", {"module": "keras.layers", "class_name": "TorchModuleWrapper",
                                            "config": {"name": "w", "module": module}})
    found = {f.kind: f for f in scan_file(path).findings}
    assert "pickle imports io.open" in found["pickle_import"].detail


def test_dot_dot_in_a_layer_name_counts_only_in_a_keras_with_assets(tmp_path):
    layer = dense() | {"config": {"name": "../../escape", "units": 1}}
    assert "layer_name_traversal" not in kinds(keras_zip(tmp_path / "a.keras", layer))
    found = kinds(keras_zip(tmp_path / "b.keras", layer, members=[("assets/x/vocabulary.txt", "a\n")]))
    assert found == ["layer_name_traversal"]
