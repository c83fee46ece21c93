"""What a model holds, read from its stored config by the one traversal both sides use (harness/worker/holds.py).

tests/data/holds/configs.json keeps, for ten artifacts of the real produce runs of 2026-12-07, the config the
host reads from the saved file (``harness.check.predictions.stored_config``) and the ``holds`` the worker
recorded from the same model's ``to_json()``: the host must read what the producer recorded.
"""
import json

import pytest
from test_expectation_keys import DATA

from harness.worker.holds import MAX_LAYERS, TRAITS, holds_of

CONFIGS = json.loads((DATA / "holds" / "configs.json").read_text())
# A subclassed model's registered name is not in every serialization: Keras 2's to_json() writes the bare
# class_name "Tower", its .keras config.json adds registered_name "kcm>Tower"; Keras 3's .h5 model_config drops
# the registered_name its to_json() writes (seen in the runs of 2026-12-07).
SERIALIZATION_DIFFERS = {"tf2.15/subclassed/keras": "registered_class",
                         "tf2.21-keras3.15/subclassed/h5": "registered_class"}


@pytest.mark.parametrize("artifact", sorted(CONFIGS))
def test_the_host_reads_from_the_saved_file_what_the_producer_recorded(artifact):
    found, recorded = holds_of(CONFIGS[artifact]["config"]), CONFIGS[artifact]["recorded"]
    assert found["layers"] == recorded["layers"]
    assert set(found["traits"]) ^ set(recorded["traits"]) == set(filter(None, [SERIALIZATION_DIFFERS.get(artifact)]))


def test_nested_layers_wrappers_and_traits_are_found():
    assert holds_of(CONFIGS["tf2.15/bidirectional/h5"]["config"]) == {
        "layers": ["Bidirectional", "Dense", "Functional", "GRU", "InputLayer", "LSTM"],
        "traits": ["orthogonal", "time_major"]}  # the LSTM inside Bidirectional, Keras 2's RNN arguments
    assert "NotEqual" in holds_of(CONFIGS["tf2.21-keras3.15/masked_embedding/keras"]["config"])["layers"]
    assert holds_of(CONFIGS["tf2.15/nested_model/h5"]["config"])["traits"] == ["nested_model"]
    assert holds_of(CONFIGS["tf2.15/conv_family/h5"]["config"])["traits"] == ["groups"]
    assert holds_of(CONFIGS["tf2.15/multi_io/h5"]["config"])["traits"] == ["multi_input"]
    assert holds_of(CONFIGS["tf2.21-keras3.15/mixed_precision/keras"]["config"])["traits"] == ["mixed_precision"]
    assert holds_of(CONFIGS["tf2.15/custom_activation/h5"]["config"])["traits"] == ["registered_function"]
    assert holds_of(CONFIGS["tf2.15/custom_layer/keras"]["config"]) == {
        "layers": ["Dense", "Functional", "InputLayer", "ScaledDense"], "traits": ["registered_class"]}
    assert set(TRAITS) >= {t for c in CONFIGS.values() for t in holds_of(c["config"])["traits"]}


def test_what_is_no_model_config_is_refused_and_a_huge_one_is_walked_no_further():
    for bad in ([], {"config": {}}, {"class_name": 3}):
        with pytest.raises(ValueError, match="not a Keras model config"):
            holds_of(bad)
    many = {"class_name": "Sequential", "config": {"layers": [{"class_name": f"L{i}"} for i in range(2 * MAX_LAYERS)]}}
    assert len(holds_of(many)["layers"]) < MAX_LAYERS + 1


def test_a_hostile_config_is_read_as_data_without_failing():
    odd = {"class_name": "Functional", "config": {"layers": [1, "x", None, {"class_name": ["list"]},
                                                             {"class_name": "GRU", "config": "not a dict"},
                                                             {"class_name": "Dense", "config": {"dtype": 7,
                                                                                                "activation": [1]}}],
                                                  "layer": "not a layer"}}
    assert holds_of(odd) == {"layers": ["Dense", "Functional", "GRU"], "traits": []}
