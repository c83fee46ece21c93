"""check --inputs of the wrong shape or dtype is bad input (exit status 2) naming the array and the model's input:
on the host where a .keras config declares the inputs, else in the worker against the loaded model."""

import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from harness.check import steps
from harness.check.modelfile import UserInputError
from harness.config import spec as spec_mod
from harness.config.matrix_yaml import matrix_path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "harness" / "worker"))
import check as worker  # noqa: E402  (harness/worker/check.py, run inside environments)

SPEC = spec_mod.load(matrix_path())


def _keras(path: Path, inputs: list) -> Path:
    """A Keras 3 Functional .keras archive whose config declares ``inputs`` [(name, batch_shape, dtype)]."""
    layers = [
        {"class_name": "InputLayer", "config": {"name": name, "batch_shape": shape, "dtype": dtype}}
        for name, shape, dtype in inputs
    ]
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.3.3"}))
        archive.writestr("config.json", json.dumps({"class_name": "Functional", "config": {"layers": layers}}))
    return path


def _start(tmp_path: Path, model: Path, **arrays) -> None:
    np.savez(tmp_path / "in.npz", **arrays)
    steps.start(
        [
            str(model),
            "--from",
            "tf2.16-keras3.3",
            "--to",
            "tf2.21-keras3.15",
            "--inputs",
            str(tmp_path / "in.npz"),
            "--workdir",
            str(tmp_path / "work"),
        ],
        SPEC,
    )


@pytest.mark.parametrize(
    "arrays, message",
    [
        (
            {"x": np.zeros((2, 5), "float32")},
            r"array x is \(2, 5\) <f4, but the model's input features takes \(None, 3\) float32",
        ),
        ({"x": np.zeros((2, 3, 1))}, r"array x is \(2, 3, 1\) <f8, but the model's input features takes"),
        ({"x": np.array([["a", "b", "c"]])}, r"array x is \(1, 3\) <U1, but the model's input features takes"),
    ],
)
def test_wrong_shape_or_kind_is_refused_on_the_host(tmp_path, arrays, message):
    model = _keras(tmp_path / "m.keras", [("features", [None, 3], "float32")])
    with pytest.raises(UserInputError, match=f"--inputs .*in.npz: {message}"):
        _start(tmp_path, model, **arrays)


def test_arrays_that_fit_pass_the_host(tmp_path):
    model = _keras(tmp_path / "m.keras", [("features", [None, 3], "float32"), ("ids", [None, 2], "int64")])
    _start(tmp_path, model, features=np.zeros((4, 3)), ids=np.zeros((4, 2), "int32"))
    with pytest.raises(UserInputError, match="has arrays features, the model's inputs are features, ids"):
        _start(tmp_path, model, features=np.zeros((4, 3)))


def test_the_worker_names_the_array_and_the_input_where_the_host_cannot():
    specs = [("features", [None, 3], "float32")]
    with pytest.raises(
        worker.BadInput,
        match=r"in.npz: array x is \(2, 5\) float64, but the model's input "
        r"features takes \(None, 3\) float32",
    ):
        worker.match_inputs({"x": np.zeros((2, 5))}, specs, "in.npz")
    with pytest.raises(worker.BadInput, match=r"array word is \(2, 1\) float64, but the model's input word takes"):
        worker.match_inputs({"word": np.zeros((2, 1))}, [("word", [None, 1], "string")], "in.npz")
    fits = worker.match_inputs({"x": np.zeros((2, 3))}, specs, "in.npz")
    assert list(fits) == ["features"] and fits["features"].shape == (2, 3)
