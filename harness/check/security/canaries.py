"""The canary corpus of the security proof: one harmless file per finding, built without Keras.

Each canary is made with zipfile, h5py and numpy into a folder of its own, and its effect is
observable there: a payload (Lambda bytecode, a module a config names, a pickle) creates the file
``markers/<canary>`` in the canary's folder and nothing else; a followed path (an HDF5 ExternalLink,
external storage, a virtual dataset) loads weights equal to :data:`SENTINEL` from a target file in the
same folder. Keras 3 reads a small ``model.weights.h5`` from memory (h5py's file-object driver, which
opens the parent file object again for any ExternalLink or virtual-dataset source, so nothing outside is
reached) and extracts it to disk only when the model's variables exceed half the available memory
(``saving_lib.is_memory_sufficient``: 1 GB assumed without psutil, as in the proof's venvs); the link
and virtual-dataset canaries in a ``.keras`` therefore declare :data:`BIG_UNITS` units (about 570 MB of
variables) and point at datasets that hold only a fill value. A canary is scanned by
:func:`harness.check.security.findings.scan_file` like any file, and loaded for real by
``harness/worker/canary.py``. Lambda bytecode is marshalled by the Python that builds the corpus, so the
loading environments use the same minor Python.
"""
from __future__ import annotations

import base64
import io
import json
import marshal
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.check.modelfile import h5py

SENTINEL = 7.25
MODULE = "kcm_canary_mod"
INPUT = {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
         "config": {"batch_shape": [None, 2], "dtype": "float32", "name": "in"}}
DENSE = {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
         "config": {"name": "d", "units": 1}}
# (2 + 1) * BIG_UNITS float32 > 512 MiB: keras v3.8.0 keras/src/saving/saving_lib.py line 1159
# is_memory_sufficient (weights < available * 0.5, available 1 GB without psutil) is False, so line 466
# extracts model.weights.h5 to a temporary folder and h5py opens it from disk (the same code to v3.15.1).
BIG_UNITS = 45 * 2**20


@dataclass(frozen=True)
class Canary:
    """One canary: its file (relative to its folder), the loaders it is loaded with, the findings it
    stands for, and the sentinel value a followed path loads (None for payloads)."""

    name: str
    file: str
    loaders: tuple[str, ...]
    finding: str
    sentinel: float | None = None
    retry_custom_objects: bool = False


def _marker_code(name: str) -> str:
    source = f"lambda x: x if open('markers/{name}', 'w').close() is None else x"
    return base64.b64encode(marshal.dumps(compile(source, "<canary>", "eval").co_consts[0])).decode()


def _keras_zip(path: Path, layers: list, members: dict[str, bytes] | None = None, weights: bool = True,
               layer_path: str = "dense") -> None:
    config = {"module": "keras", "class_name": "Sequential", "registered_name": None,
              "config": {"name": "seq", "layers": [INPUT, *layers]}}
    members = dict(members or {})
    if weights and "model.weights.h5" not in members and "model.weights.npz" not in members:
        members["model.weights.h5"] = _keras_weights(lambda vars_: (
            vars_.create_dataset("0", data=np.zeros((2, 1), "float32")),
            vars_.create_dataset("1", data=np.zeros((1,), "float32"))), layer_path)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.8.0", "date_saved": "canary"}))
        archive.writestr("config.json", json.dumps(config))
        for name, data in members.items():
            archive.writestr(name, data)


def _keras_weights(fill, layer_path: str = "dense") -> bytes:
    """A Keras 3 weights file (``layers/<layer_path>/vars``, top ``vars``) whose layer vars ``fill`` makes.
    Keras 3 names the path by the layer's class in snake case (Dense: ``dense``, CanaryLayer:
    ``canary_layer``), not by the layer's name."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as handle:
        handle.create_group("vars")
        fill(handle.create_group(f"layers/{layer_path}/vars"))
    return buffer.getvalue()


def _target_h5(path: Path, units: int = 1) -> None:
    """The file a link points to: Keras 3 vars for a Dense of ``units`` and legacy model_weights, all equal
    to the sentinel (the vars are never written: a read returns their fill value, so the file stays small)."""
    with h5py.File(path, "w") as handle:
        group = handle.create_group("vars")
        group.create_dataset("0", shape=(2, units), dtype="float32", fillvalue=SENTINEL)
        group.create_dataset("1", shape=(units,), dtype="float32", fillvalue=SENTINEL)
        _legacy_weights(handle.create_group("model_weights"), SENTINEL)


def _legacy_weights(group, value: float) -> None:
    group.attrs["layer_names"] = np.array([b"d"])
    group.attrs["backend"], group.attrs["keras_version"] = "tensorflow", "2.15.0"
    layer = group.create_group("d")
    layer.attrs["weight_names"] = np.array([b"d/kernel:0", b"d/bias:0"])
    layer.create_dataset("d/kernel:0", data=np.full((2, 1), value, "float32"))
    layer.create_dataset("d/bias:0", data=np.full((1,), value, "float32"))


def _legacy_h5(path: Path, layers: list, weights=None) -> None:
    config = {"class_name": "Sequential", "config": {"name": "seq", "layers": layers}}
    with h5py.File(path, "w") as handle:
        handle.attrs["model_config"] = json.dumps(config)
        handle.attrs["keras_version"], handle.attrs["backend"] = "2.15.0", "tensorflow"
        if weights is None:
            group = handle.create_group("model_weights")
            group.attrs["layer_names"] = np.array([], dtype="S1")
            group.attrs["backend"], group.attrs["keras_version"] = "tensorflow", "2.15.0"
        else:
            weights(handle)


class _Opens:
    """Pickled here to make a payload; nothing in the harness ever unpickles it."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def build(folder: Path) -> list[Canary]:
    """Write the corpus under ``folder`` (one subfolder per canary) and return its canaries."""
    made = []

    def canary(name, file, loaders, finding, **kw):
        (folder / name / "markers").mkdir(parents=True, exist_ok=True)
        made.append(Canary(name, file, tuple(loaders), finding, **kw))
        return folder / name

    home = canary("lambda_keras", "m.keras", ["load_model"], "lambda")
    lam = {"module": "keras.layers", "class_name": "Lambda", "registered_name": None, "config": {
        "name": "lam", "function": {"class_name": "__lambda__", "config": {
            "code": _marker_code("lambda_keras"), "defaults": None, "closure": None}}, "arguments": {}}}
    _keras_zip(home / "m.keras", [lam], weights=False)

    home = canary("lambda_h5", "m.h5", ["load_model"], "lambda")
    _legacy_h5(home / "m.h5", [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 2], "dtype": "float32", "name": "in"}},
        {"class_name": "Lambda", "config": {"name": "lam", "function": [_marker_code("lambda_h5"), None, None],
                                            "function_type": "lambda", "module": "__main__", "output_shape": None,
                                            "output_shape_type": "raw", "arguments": {}}}])

    # The user's function as Keras 3.8 serializes it (registered_name: its own name), named as a Lambda's
    # function (deserialize_keras_object without module_objects: imported) and as an activation (looked up
    # in Keras's table: not imported; see configs.TABLE_KEYS).
    function = {"module": MODULE, "class_name": "function", "config": "canary_activation",
                "registered_name": "canary_activation"}
    for name, layer in (
            ("custom_class", {"module": MODULE, "class_name": "CanaryLayer",
                              "registered_name": "kcm_canary>CanaryLayer", "config": {"name": "d", "units": 1}}),
            ("function_reference", {"module": "keras.layers", "class_name": "Lambda", "registered_name": None,
                                    "config": {"name": "lam", "function": function, "arguments": {}}}),
            ("function_by_table", {**DENSE, "config": {"name": "d", "units": 1, "activation": function}})):
        home = canary(name, "m.keras", ["load_model"], name, retry_custom_objects=name == "custom_class")
        _keras_zip(home / "m.keras", [layer], weights=name != "function_reference",
                   layer_path="canary_layer" if name == "custom_class" else "dense")
        (home / "modules").mkdir(exist_ok=True)
        (home / "modules" / f"{MODULE}.py").write_text(
            "# The user's own module: importing it writes the marker.\n"
            f"open('markers/{name}', 'w').close()\n"
            "import keras\n\n\n"
            "@keras.saving.register_keras_serializable('kcm_canary')\n"
            "class CanaryLayer(keras.layers.Dense):\n    pass\n\n\n"
            "def canary_activation(x):\n    return x\n")

    home = canary("npz_object_array", "m.keras", ["load_model"], "npz_object_array")
    npz = io.BytesIO()
    payload = np.empty((), dtype=object)
    payload[()] = _Opens("markers/npz_object_array")
    np.savez(npz, **{"__root__": payload, "layers/dense": payload})
    _keras_zip(home / "m.keras", [DENSE], {"model.weights.npz": npz.getvalue()})

    for name, link in (("h5_external_link", "link"), ("h5_external_dataset", "external"),
                       ("h5_virtual_dataset", "virtual")):
        home = canary(name, "m.keras", ["load_model"], f"hdf5_{name[3:]}", sentinel=SENTINEL)
        units = 1 if link == "external" else BIG_UNITS  # external storage is read by path even from memory
        target = home / "target.h5"
        _target_h5(target, units)
        raw = home / "sentinel.raw"
        raw.write_bytes(np.full(3, SENTINEL, "<f4").tobytes())

        def fill(vars_, link=link, target=target, raw=raw):
            if link == "external":
                vars_.create_dataset("0", shape=(2, 1), dtype="<f4", external=[(str(raw), 0, 8)])
                vars_.create_dataset("1", shape=(1,), dtype="<f4", external=[(str(raw), 8, 4)])
            elif link == "virtual":
                for key, shape in (("0", (2, BIG_UNITS)), ("1", (BIG_UNITS,))):
                    layout = h5py.VirtualLayout(shape=shape, dtype="<f4")
                    layout[...] = h5py.VirtualSource(str(target), f"vars/{key}", shape=shape)
                    vars_.create_virtual_dataset(key, layout, fillvalue=0)
        if link == "link":
            members = {"model.weights.h5": _link_weights(str(target))}
        else:
            members = {"model.weights.h5": _keras_weights(fill)}
        _keras_zip(home / "m.keras", [{**DENSE, "config": {"name": "d", "units": units}}], members)

    home = canary("legacy_h5_link", "m.h5", ["load_model", "load_weights"], "hdf5_external_link", sentinel=SENTINEL)
    target = home / "target.h5"
    _target_h5(target)
    _legacy_h5(home / "m.h5", [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 2], "dtype": "float32", "name": "in"}},
        {"class_name": "Dense", "config": {"name": "d", "units": 1}}],
        weights=lambda handle: handle.__setitem__("model_weights", h5py.ExternalLink(str(target), "model_weights")))
    return made


def _link_weights(target: str) -> bytes:
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as handle:
        handle.create_group("vars")
        handle.create_group("layers/dense")
        handle["layers/dense/vars"] = h5py.ExternalLink(target, "vars")
    return buffer.getvalue()
