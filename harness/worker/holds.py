"""What a saved model holds, read from its config as data (never deserialized): layer classes and traits.

One traversal for both sides. The producer (``main.py``) reads the config of every model it saves
(``model.to_json()``) and records the result in its produce record and the artifact's manifest; the host
imports this module as ``harness.worker.holds`` and reads the same from a user's file (the HDF5
``model_config`` attribute, a ``.keras`` archive's ``config.json``, an ``--architecture`` JSON:
``harness.check.predictions``). ``expected_failures`` entries with ``layers:``/``traits:`` match by it
(``harness.config.spec.ExpectedFailure.matches``). Standard library only, Python 3.7 syntax.

A config is ``{"class_name": ..., "config": {...}}`` in every Keras (2.x and 3.x): a layer of a model is an item
of its ``config["layers"]`` (Functional, Sequential, a nested model), the ``layer``/``forward_layer``/
``backward_layer`` of a wrapper (``Bidirectional``, ``TimeDistributed``), the ``cell``/``cells`` of an RNN.
Layer classes are recorded by ``class_name`` without a registered package (``"kcm>Tower"`` is ``Tower``).

Traits (:data:`TRAITS`), each something a shipped entry's failure hinges on:

- ``subclassed``: the model's own class is none of ``Functional``, ``Sequential``, ``Model`` (a subclassed
  model, whose config shows only what its ``get_config`` returns);
- ``nested_model``: a model (``Functional``/``Sequential``/``Model``, or any layer with ``layers``) used as a layer;
- ``multi_input``: the model has more than one ``InputLayer``;
- ``mixed_precision``: a layer whose dtype policy is ``mixed_float16``/``mixed_bfloat16``;
- ``mask_zero``: an ``Embedding`` with ``mask_zero: true``;
- ``time_major``: an RNN layer config with a ``time_major`` key (Keras 2 writes it; Keras 3 removed it);
- ``orthogonal``: an ``Orthogonal`` initializer in a layer config (Keras 2's RNN ``recurrent_initializer``);
- ``groups``: a ``DepthwiseConv2D`` config with a ``groups`` key (Keras 2 writes it; Keras 3 removed it);
- ``registered_class``: a layer whose class is registered under a package (``"kcm>ScaledDense"``), i.e. custom;
- ``registered_function``: a layer argument that is a function outside Keras (a registered custom activation:
  ``{"class_name": "function", "module": "builtins", ...}`` in Keras 2.13+, a ``"kcm>name"`` string, or
  ``{"registered_name": "kcm>name"}`` in Keras 3), where Keras looks it up by name.
"""
import json

MODEL_CLASSES = ("Functional", "Sequential", "Model")
LAYER_KEYS = ("layer", "forward_layer", "backward_layer", "cell")
LAYER_LIST_KEYS = ("layers", "cells")
TRAITS = ("subclassed", "nested_model", "multi_input", "mixed_precision", "mask_zero", "time_major", "orthogonal",
          "groups", "registered_class", "registered_function")
KERAS_MODULES = ("keras", "tf_keras", "keras_core", "tensorflow")
MAX_LAYERS = 100000  # a config with more layer objects is not walked further (the host reads untrusted files)


def _class(node):
    name = node.get("class_name")
    return name.split(">")[-1] if isinstance(name, str) else None


def _registered(node):
    """Whether a layer object names a class registered under a package (``"kcm>Name"``); Keras 2.11 to 2.15
    register their own optimizers as ``Custom>`` (never layers), so any package counts."""
    names = (node.get("class_name"), node.get("registered_name"))
    return any(isinstance(name, str) and ">" in name for name in names)


def _function_outside_keras(value):
    if isinstance(value, str):
        return ">" in value
    if not isinstance(value, dict):
        return False
    registered = value.get("registered_name")
    if isinstance(registered, str) and ">" in registered:
        return True
    module = value.get("module")
    return value.get("class_name") == "function" and isinstance(module, str) \
        and module.split(".")[0] not in KERAS_MODULES


def _dtype_name(value):
    if isinstance(value, dict):
        inner = value.get("config")
        return inner.get("name") if isinstance(inner, dict) else None
    return value if isinstance(value, str) else None


def _children(config):
    """The layer objects directly inside one layer's ``config`` (see the module docstring)."""
    out = [config[key] for key in LAYER_KEYS if isinstance(config.get(key), dict)]
    for key in LAYER_LIST_KEYS:
        if isinstance(config.get(key), list):
            out += [item for item in config[key] if isinstance(item, dict)]
    return out


def _walk_values(value, found):
    """Traits of the values of a layer's own arguments (initializers, dtype, activations), not its sublayers."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("class_name") == "Orthogonal":
                found.add("orthogonal")
            stack += [v for k, v in node.items() if k not in LAYER_KEYS + LAYER_LIST_KEYS]
        elif isinstance(node, list):
            stack += node


def _layer_traits(cls, config, found):
    if "time_major" in config:
        found.add("time_major")
    if cls == "DepthwiseConv2D" and "groups" in config:
        found.add("groups")
    if config.get("mask_zero") is True:
        found.add("mask_zero")
    if str(_dtype_name(config.get("dtype")) or "").startswith("mixed_"):
        found.add("mixed_precision")
    if any(_function_outside_keras(config.get(key)) for key in ("activation", "recurrent_activation")):
        found.add("registered_function")
    _walk_values({k: v for k, v in config.items() if k not in LAYER_KEYS + LAYER_LIST_KEYS}, found)


def holds_of(config):
    """What the model whose config is ``config`` holds.

    Args:
        config: a parsed model config (``json.loads(model.to_json())``, an HDF5 ``model_config``, a ``.keras``
            ``config.json``): a dict with ``class_name`` and ``config``.
    Returns:
        ``{"layers": [class names, sorted, unique], "traits": [names of TRAITS, sorted]}``.
    Raises:
        ValueError: ``config`` is not a Keras object config (no ``class_name``).
    """
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ValueError("not a Keras model config (no class_name)")
    layers, traits = set(), set()
    top = _class(config)
    if top not in MODEL_CLASSES:
        traits.add("subclassed")
    inputs = 0
    stack, seen = [(config, 0)], 0
    while stack and seen < MAX_LAYERS:
        node, depth = stack.pop()
        seen += 1
        cls, inner = _class(node), node.get("config")
        if cls is None:
            continue
        layers.add(cls)
        inner = inner if isinstance(inner, dict) else {}
        if depth == 1 and cls == "InputLayer":
            inputs += 1
        if depth > 0 and (cls in MODEL_CLASSES or isinstance(inner.get("layers"), list)):
            traits.add("nested_model")
        if _registered(node):
            traits.add("registered_class")
        _layer_traits(cls, inner, traits)
        stack += [(child, depth + 1) for child in _children(inner)]
    if inputs > 1:
        traits.add("multi_input")
    return {"layers": sorted(layers), "traits": sorted(traits)}


def holds_of_model(model):
    """:func:`holds_of` the config ``model.to_json()`` writes; None where the model writes none (a subclassed
    model without ``get_config`` raises NotImplementedError in Keras 2)."""
    try:
        return holds_of(json.loads(model.to_json()))
    except (NotImplementedError, TypeError, ValueError):
        return None
