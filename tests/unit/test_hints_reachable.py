"""Every row of the hint table can give its hint: for each, a signature it matches that no earlier row
matches (hints are matched in order, the first wins). A row an earlier row always beats is dead.

The witnesses are signatures recorded in tests/data (cut short where the rest does not change the
row), except where marked: a message of Python itself or of this harness.
"""
import re

import pytest

from harness.report.hints import HINTS, hint_for

WITNESSES = {
    r"`safe_mode=False`":
        "ValueError: Requested the deserialization of a Lambda layer with a Python `lambda` inside it. This carries a "
        "potential risk of arbitrary code execution and thus it is disallowed by default. If you trust the source of "
        "the saved model, you can pass `safe_mode=False` to the loading function in order to allow Lambda layer "
        "loading.",
    r"Full object config: \{'module': 'keras\.src\.models\.":
        "TypeError: Could not deserialize class 'Functional' because its parent module keras.src.models.functional "
        "cannot be imported. Full object config: {'module': 'keras.src.models.functional'",
    r"Full object config: \{'module': 'keras\.src\.engine\.":
        "TypeError: Could not deserialize class 'Functional' because its parent module keras.src.engine.functional "
        "cannot be imported. Full object config: {'module': 'keras.src.engine.functional'",
    r"Full object config: \{'module': 'tf_keras\.":
        "TypeError: Could not deserialize class 'Functional' because its parent module tf_keras.src.engine.functional "
        "cannot be imported. Full object config: {'module': 'tf_keras.src.engine.functional'",
    r"Unknown layer: 'NotEqual'": "ValueError: Unknown layer: 'NotEqual'. Please ensure you are using a "
                                  "`keras.utils.custom_object_scope`",
    r"Error when deserializing class '\w+' using config=\{.*'activation': \{'module': 'builtins', 'class_name': "
    r"'function'":
        "TypeError: Error when deserializing class 'Dense' using config={'name': 'dense', 'trainable': True, "
        "'dtype': 'float32', 'units': 6, 'activation': {'module': 'builtins', 'class_name': 'function', "
        "'config': 'kcm>scaled_tanh'",
    r"Error when deserializing class '(DepthwiseConv2D|MultiHeadAttention)' using config=":
        "TypeError: Error when deserializing class 'DepthwiseConv2D' using config={'name': 'depthwise_conv2d'",
    r"'str' object has no attribute 'quantization_mode'":
        "AttributeError: 'str' object has no attribute 'quantization_mode'",
    r"Invalid Functional model configuration\. The graph of the Functional model either has loops or disconnected":
        "ValueError: Invalid Functional model configuration. The graph of the Functional model either has loops or "
        "disconnected nodes.",
    r"expected 0 variables, but received \d+ variables|loading weights into a model that has not yet been built":
        "ValueError: You are loading weights into a model that has not yet been built.",
    r"'>' not supported between instances of 'NoneType' and 'int'":
        "TypeError: '>' not supported between instances of 'NoneType' and 'int'",
    r"^InvalidArgumentError: (Exception encountered when calling TFSMLayer\.call\(\)\. )?Graph execution error":
        "InvalidArgumentError: Graph execution error:",
    r"Layer count mismatch when loading weights from file\. Model expected 0 layers":
        "ValueError: Layer count mismatch when loading weights from file. Model expected 0 layers, found 3 saved "
        "layers.",
    r"Could not locate class '(Functional|Sequential|Model)'":
        "TypeError: Could not locate class 'Functional'. Make sure custom classes and functions are decorated with "
        "`@keras.saving.register_keras_serializable()`",
    r"'_UserObject' object has no attribute 'predict'|has no predict\(\)":
        "AttributeError: loaded object of type _UserObject has no predict()",
    # Keras's message for a custom layer that is not registered (written here, not recorded).
    r"Unknown layer: '|Cannot deserialize object of type `|Could not locate class '":
        "ValueError: Unknown layer: 'ScaledDense'. Please ensure you are using a `keras.utils.custom_object_scope`",
    r"Binding inputs to tf\.function failed due to `too many positional arguments`":
        "TypeError: Exception encountered when calling TFSMLayer.call(). Binding inputs to tf.function failed due "
        "to `too many positional arguments`.",
    r"Unrecognized keyword arguments: \['batch_shape'|class 'InputLayer' using config=\{'batch_shape'":
        "ValueError: Unrecognized keyword arguments: ['batch_shape']",
    r"File not found: filepath=.*\.keras":
        "ValueError: File not found: filepath=/tmp/snap/artifacts/tf2.10/dense_bn/keras/model.keras. Please ensure "
        "the file is an accessible `.keras` zip file.",
    r"Layer count mismatch when loading weights|object 'vars' doesn't exist|objects could not be loaded":
        "ValueError: A total of 3 objects could not be loaded.",
    r"expected \d+ variables, but received 0 variables":
        "ValueError: Layer 'value' expected 2 variables, but received 0 variables during loading.",
    r"could not be deserialized properly|Error when deserializing class '\w+' using config=\{.*'dtype': \{'module'":
        "TypeError: <class 'keras.src.models.functional.Functional'> could not be deserialized properly.",
    # Python's own message for bytecode of another Python version (written here, not recorded).
    r"bad marshal data": "ValueError: bad marshal data (unknown type code)",
    r"Unrecognized keyword arguments passed to \w+: \{'(time_major|groups|query_shape)'":
        "ValueError: Unrecognized keyword arguments passed to GRU: {'time_major': False}",
    r"lacks the (TF-)?Keras metadata file":
        "ValueError: Unable to create a Keras model from SavedModel at /tmp/sm. This SavedModel was exported with "
        "`tf.saved_model.save`, and lacks the Keras metadata file.",
    r"object has no attribute 'add_slot'": "AttributeError: '_UserObject' object has no attribute 'add_slot'",
    r"not bound to checkpointed values":
        "AssertionError: Found 18 Python objects that were not bound to checkpointed values, likely due to changes "
        "in the Python program.",
    # The harness's own signatures: the worker's CorruptArtifact, the supervisor's crash and timeout reasons.
    r"^CorruptArtifact": "CorruptArtifact: model.h5 does not match the SHA-256 in its manifest",
    r"^mismatch": "mismatch:",
    r"^crash": "crash: worker killed by signal SIGSEGV",
    r"^timeout": "timeout: cell ran past its 180 s timeout; worker killed",
}


def shadowed(table, witnesses) -> list[str]:
    """The patterns of ``table`` (rows ``(pattern, hint)``, matched in order) whose witness is
    missing or is matched first by another row: rows that cannot be shown to give their hint."""
    out = []
    for pattern, _ in table:
        witness = witnesses.get(pattern)
        first = witness and next((p for p, _ in table if re.search(p, witness)), None)
        if first != pattern:
            out.append(pattern)
    return out


def test_every_hint_row_is_reachable():
    assert set(WITNESSES) == {pattern for pattern, _ in HINTS}  # no witness for a row that is gone
    assert shadowed(HINTS, WITNESSES) == []
    hints = [hint for _, hint in HINTS]
    assert len(set(hints)) == len(hints)
    for pattern, hint in HINTS:
        assert hint_for(WITNESSES[pattern]) == hint, pattern


@pytest.mark.parametrize("later", [
    (r"has no predict\(\)", "AttributeError: loaded object of type _UserObject has no predict()"),
    (r"Could not locate class 'Functional'", "TypeError: Could not locate class 'Functional'."),
])
def test_a_row_an_earlier_row_always_beats_is_caught(later):
    pattern, witness = later
    assert shadowed(HINTS + ((pattern, "never given"),), {**WITNESSES, pattern: witness}) == [pattern]


def test_a_row_without_a_witness_is_caught():
    assert shadowed(HINTS, {p: w for p, w in WITNESSES.items() if p != "bad marshal data"}) == ["bad marshal data"]
