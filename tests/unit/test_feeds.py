"""Which inputs feed a table lookup, read from model configs of real Keras versions, and the draws that fit.

The configs in tests/data/check/configs were written by ``model.to_json()`` in TF 2.15.1 (Keras 2.15) and
Keras 3.15.1 on TF 2.21 (``make_configs.py`` there, 2026-12-07): deepcut 0.7.0.0's ``get_convo_nn2``
(MIT; two float ``Input``s, each feeding an ``Embedding``), an ``Input`` reshaped before its Embedding
beside a float input feeding a Dense, and a Sequential opening with an Embedding.
"""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.check.inputs import index_note
from harness.worker.feeds import index_inputs

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "harness" / "worker"))
import draws  # noqa: E402  (harness/worker/draws.py, run inside environments)

CONFIGS = Path(__file__).resolve().parents[1] / "data" / "check" / "configs"


def _config(name):
    return json.loads((CONFIGS / f"{name}.json").read_text())


@pytest.mark.parametrize("keras", ["keras2.15", "keras3.15"])
def test_float_inputs_that_feed_embeddings_are_indices(keras):
    found = index_inputs(_config(f"{keras}-deepcut"))
    assert [(position, high, layer) for position, _, high, layer in found] == [
        (0, 178, "embedding"), (1, 12, "embedding_1")]


@pytest.mark.parametrize("keras", ["keras2.15", "keras3.15"])
def test_through_a_reshape_but_not_through_a_dense(keras):
    assert index_inputs(_config(f"{keras}-reshape")) == [(1, "ids", 50, "embedding_2")]


@pytest.mark.parametrize("keras", ["keras2.15", "keras3.15"])
def test_a_sequential_opening_with_an_embedding(keras):
    config = _config(f"{keras}-sequential")
    assert index_inputs(config) == [(0, None, 30, "embedding_4")]
    assert index_inputs(config["config"]) == [(0, None, 30, "embedding_4")]  # get_config()'s bare form


def test_a_bare_functional_config_and_configs_of_other_shapes():
    assert [h for _, _, h, _ in index_inputs(_config("keras3.15-deepcut")["config"])] == [178, 12]
    assert index_inputs({"class_name": "MyModel", "config": {}}) == []  # subclassed: nothing to read
    assert index_inputs({}) == [] and index_inputs(None) == [] and index_inputs({"class_name": "Sequential"}) == []


def test_keras_2_0s_sequential_is_a_bare_list_of_layers():
    layers = [{"class_name": "Reshape", "config": {"name": "r", "target_shape": [4]}},
              {"class_name": "Embedding", "config": {"name": "emb", "input_dim": 9, "output_dim": 2}}]
    assert index_inputs({"class_name": "Sequential", "config": layers}) == [(0, None, 9, "emb")]
    dense_first = [{"class_name": "Dense", "config": {"name": "d"}}] + layers
    assert index_inputs({"class_name": "Sequential", "config": dense_first}) == []


def test_the_smallest_table_bounds_an_input_that_feeds_two():
    config = _config("keras2.15-deepcut")
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "Embedding" and layer["config"]["name"] == "embedding_1":
            layer["inbound_nodes"] = [[["input_1", 0, 0, {}]]]
    assert index_inputs(config) == [(0, "input_1", 12, "embedding_1")]


def test_the_host_names_them_before_anything_loads():
    assert index_note(_config("keras2.15-deepcut")) == (
        "input_1 feeds embedding (a table of 178 rows); input_2 feeds embedding_1 (a table of 12 rows): the check "
        "draws them as integers within the table, whatever the input's dtype",)
    assert index_note({"class_name": "Functional", "config": {"layers": []}}) == ()


def test_drawn_indices_fit_the_table_whatever_the_dtype():
    specs = [("input_1", [None, 21], "float32"), ("input_2", [None, 21], "float32"), ("x", [None, 3], "float32")]
    domain = dict(draws.input_domain(object()), index={0: (178, "embedding"), 1: (12, "embedding_1")})
    x = draws.seeded_inputs(specs, seed=1234, domain=domain)
    assert x["input_1"].dtype == np.float32 and np.all(np.mod(x["input_1"], 1) == 0)
    assert 0 <= x["input_1"].min() and x["input_1"].max() < 178 and x["input_1"].max() > 12
    assert 0 <= x["input_2"].min() and x["input_2"].max() < 12
    assert x["x"].min() < 0  # an input feeding no table keeps its standard normal draw
    assert draws.drawn(x)[:2] == ["input_1 float32 (4, 21), integers in [2, 177]",
                                  "input_2 float32 (4, 21), integers in [0, 11]"]
    before = draws.seeded_inputs(specs, seed=1234)  # the draw the check made before it read the tables
    assert before["input_1"].min() < 0 and draws.drawn(before)[0].startswith("input_1 float32 (4, 21), values in [")


def _tuples(value):
    if isinstance(value, dict):
        return dict((key, _tuples(item)) for key, item in value.items())
    return tuple(_tuples(item) for item in value) if isinstance(value, list) else value


@pytest.mark.parametrize("keras", ["keras2.15", "keras3.15"])
def test_get_config_keeps_tuples_where_to_json_writes_lists(keras):
    """Seen in Keras 3.15 (2026-12-07): a built model's get_config() holds keras_history and input_layers
    as tuples; read as lists only, deepcut's inputs were found in its to_json() and not in its get_config()."""
    config = _tuples(_config(f"{keras}-deepcut")["config"])
    config = dict(config, layers=list(config["layers"]))  # the list of layers stays a list
    assert [h for _, _, h, _ in index_inputs(config)] == [178, 12]
