"""Output comparison (the worker's, pure numpy) and the hint table."""
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.report.hints import hint_for, normalize

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "harness" / "worker"))
import compare  # noqa: E402  (the worker module, run inside environments; numpy only)


def test_within_tolerance_records_max_differences():
    ref = [np.array([[1.0, -2.0]])]
    got = [np.array([[1.0 + 1e-6, -2.0]])]
    result = compare.compare_outputs(ref, got, atol=1e-5, rtol=0.0)
    assert result["within"] and abs(result["max_abs"] - 1e-6) < 1e-12


def test_outside_tolerance_is_not_within():
    result = compare.compare_outputs([np.ones((2, 2))], [np.ones((2, 2)) * 1.1], atol=1e-5, rtol=1e-4)
    assert not result["within"] and abs(result["max_rel"] - 0.1) < 1e-9


def test_nan_and_shape_mismatch_never_match():
    assert not compare.compare_outputs([np.ones(3)], [np.array([1, np.nan, 1])], 1, 1)["within"]
    result = compare.compare_outputs([np.ones(3)], [np.ones(4)], 1, 1)
    assert not result["within"] and "shape" in result["reason"]


def test_margin_is_the_largest_share_of_the_allowance_used():
    ref = [np.array([[1.0, -2.0, 100.0]])]
    got = [np.array([[1.0 + 5e-6, -2.0, 100.0 + 5.5e-3]])]
    # allowances: 1e-5 + 1e-4 * |ref| = 1.1e-4, 2.1e-4, 1.001e-2; the third element uses 5.5e-3 of 1.001e-2.
    result = compare.compare_outputs(ref, got, atol=1e-5, rtol=1e-4)
    assert result["within"] and abs(result["margin"] - 5.5e-3 / 1.001e-2) < 1e-6
    failing = compare.compare_outputs(ref, [np.array([[1.0 + 2.2e-4, -2.0, 100.0]])], atol=1e-5, rtol=1e-4)
    assert not failing["within"] and abs(failing["margin"] - 2.0) < 1e-6


def test_margin_with_no_allowance_is_zero_when_exact_and_inf_otherwise():
    exact = compare.compare_outputs([np.zeros(3)], [np.zeros(3)], atol=0.0, rtol=0.0)
    assert exact["within"] and exact["margin"] == 0.0
    assert compare.compare_outputs([np.zeros(3)], [np.array([0.0, 1e-9, 0.0])], 0.0, 0.0)["margin"] == float("inf")
    assert compare.compare_outputs([np.ones(3)], [np.array([1, np.nan, 1])], 1, 1)["margin"] == float("inf")
    assert compare.compare_outputs([np.ones(3)], [np.ones(4)], 1, 1)["margin"] is None


def test_dict_outputs_are_ordered_by_key():
    out = compare.as_output_list({"b": [2.0], "a": [1.0]})
    assert [float(x[0]) for x in out] == [1.0, 2.0]


def test_normalize_strips_paths_and_layer_counters():
    sig = "ValueError: File not found: filepath=/tmp/w/artifacts/tf2.10/dense_bn/keras/model.keras. Layer 'dense_38'"
    assert normalize(sig) == "ValueError: File not found: filepath=<path> Layer 'dense_N'"


def test_hints_match_real_signatures():
    assert "batch_input_shape" in hint_for(
        "ValueError: Unrecognized keyword arguments: ['batch_shape', 'optional']")
    assert "rename the file to .h5".lower() in hint_for(
        "ValueError: File not found: filepath=/x/model.keras. Please ensure the file is an accessible").lower()
    assert hint_for("SomethingNew: never seen") is None


@pytest.mark.parametrize("signature, expected", [
    # A tf_keras .keras file in Keras 3: the config names tf_keras classes; not a JSON or custom-class problem.
    ("TypeError: Could not locate class 'Functional'. Make sure custom classes and functions are decorated with "
     "`@keras.saving.register_keras_serializable()`. Full object config: {'module': 'tf_keras.src.engine.functional', "
     "'class_name': 'Functional'", "Written by tf_keras"),
    # A Keras 2 architecture JSON in Keras 3: no module in the config.
    ("TypeError: Could not locate class 'Functional'. Make sure custom classes are decorated with "
     "`@keras.saving.register_keras_serializable()`. Full object config: {'class_name': 'Functional', 'config': {",
     "architecture JSON"),
    ("ValueError: Unknown layer: 'NotEqual'. Please ensure you are using a `keras.utils.custom_object_scope`",
     "mask_zero"),
    ("TypeError: Error when deserializing class 'Dense' using config={'name': 'dense', 'trainable': True, "
     "'dtype': 'float32', 'units': 6, 'activation': {'module': 'builtins', 'class_name': 'function', "
     "'config': 'kcm>scaled_tanh'",
     "activation function"),
    ("TypeError: Error when deserializing class 'DepthwiseConv2D' using config={'name': 'depthwise_conv2d'",
     "'groups'"),
    ("AttributeError: 'str' object has no attribute 'quantization_mode'", "mixed-precision"),
    ("ValueError: Layer 'layer_normalization_1' expected 0 variables, but received 2 variables during loading.",
     "not built"),
    ("TypeError: '>' not supported between instances of 'NoneType' and 'int'", "steps_per_execution"),
    ("InvalidArgumentError: Exception encountered when calling TFSMLayer.call(). Graph execution error:",
     "model.export"),
    ("ValueError: Invalid Functional model configuration. The graph of the Functional model either has loops or "
     "disconnected nodes.", "nests a Model"),
    ("ValueError: Layer count mismatch when loading weights from file. Model expected 0 layers, found 3 saved layers.",
     "subclassed"),
    ("ValueError: Layer count mismatch when loading weights from file. Model expected 3 layers, found 0 saved layers.",
     "weights.h5 layout"),
])
def test_hints_of_the_fixture_zoo_signatures(signature, expected):
    assert expected in hint_for(signature)
