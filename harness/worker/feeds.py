"""Which inputs of a Keras model config feed a table lookup: the inputs whose values are indices.

Read by the worker (``check.py``, on the loaded model's ``get_config()``, so that drawn inputs fit it)
and by the host (``harness.check.modelfile``, on a file's config read without deserializing it, for
the report's notes). Standard library only, Python 3.7 syntax.

An ``Embedding`` (and a ``CategoryEncoding``) fails on an index outside ``[0, input_dim)``
(``InvalidArgumentError: indices[0,3] = -1 is not in [0, 178)``), whatever the dtype of the
``Input`` that feeds it: Keras casts float inputs to int there. An input reaches such a layer
directly or through layers that only move or cast its values (:data:`PASS_THROUGH`).

Configs of every Keras: a functional model (``Model``/``Functional``: ``layers`` with
``inbound_nodes``, ``input_layers``) in Keras 2's layout (a node is a list of
``[layer_name, node_index, tensor_index, kwargs]``) or Keras 3's (``{"args": [...], "kwargs": {...}}``
holding ``{"class_name": "__keras_tensor__", "config": {"keras_history": [layer_name, ...]}}``), and a
``Sequential`` (its ``layers``, or Keras 2.0's bare list of layers).
"""

# Layer classes that take indices, and the config key holding how many rows their table has.
TABLES = {"Embedding": "input_dim", "CategoryEncoding": "num_tokens"}
# Layers that only reshape, reorder, mask or cast values: an index stays an index through them.
PASS_THROUGH = ("Reshape", "Flatten", "Permute", "RepeatVector", "Masking", "Cropping1D", "InputLayer")
# Keras 2's wrapped TF ops (TFOpLambda) that do the same, by their config's ``function``.
PASS_THROUGH_OPS = ("cast", "reshape", "squeeze", "expand_dims", "compat.v1.squeeze", "identity")
FUNCTIONAL = ("Model", "Functional")


def index_inputs(config):
    """The inputs of a model config that feed a table lookup, in the model's input order.

    Args:
        config: ``{"class_name": ..., "config": ...}`` as ``model.to_json()``, ``get_config()`` wrapped
            so, an HDF5 file's ``model_config`` or a ``.keras`` archive's ``config.json`` hold it; a
            model's bare ``get_config()`` (``layers``, and ``input_layers`` where functional) is taken too.

    Returns:
        ``[(position, input_name, high, layer_name)]``: the input at ``position`` of the model's
        inputs (``input_name`` as the config names it, None in a Sequential) feeds ``layer_name``,
        whose table has ``high`` rows, so its values must be integers in ``[0, high)`` (the smallest
        table, where it feeds several). Empty for configs of another shape (a subclassed model).
    """
    if not isinstance(config, dict):
        return []
    if "class_name" not in config and "layers" in config:  # get_config(): a Sequential's has no input_layers
        config = {"class_name": "Functional" if "input_layers" in config else "Sequential", "config": config}
    inner = config.get("config")
    if config.get("class_name") == "Sequential":
        layers = inner if isinstance(inner, list) else (inner or {}).get("layers") if isinstance(inner, dict) else None
        return _sequential(layers if isinstance(layers, list) else [])
    if config.get("class_name") in FUNCTIONAL and isinstance(inner, dict) and isinstance(inner.get("layers"), list):
        return _functional(inner)
    return []


def _class_config(layer):
    if not isinstance(layer, dict):
        return None, {}
    inner = layer.get("config")
    return layer.get("class_name"), inner if isinstance(inner, dict) else {}


def _table(layer):
    """``high`` where the layer is a table lookup with a known size, else None."""
    kind, inner = _class_config(layer)
    high = inner.get(TABLES[kind]) if kind in TABLES else None
    return high if isinstance(high, int) and not isinstance(high, bool) and high > 0 else None


def _passes(layer):
    kind, inner = _class_config(layer)
    return kind in PASS_THROUGH or (kind in ("TFOpLambda", "Cast") and inner.get("function", "cast")
                                    in PASS_THROUGH_OPS)


def _sequential(layers):
    for layer in layers:
        high = _table(layer)
        if high is not None:
            return [(0, None, high, _class_config(layer)[1].get("name"))]
        if not _passes(layer):
            return []
    return []


def _sources(node, found):
    """Names of the layers a node (Keras 2 or Keras 3 layout) takes tensors from, added to ``found``."""
    if isinstance(node, dict):
        history = node.get("config", {}).get("keras_history") if isinstance(node.get("config"), dict) else None
        if isinstance(history, (list, tuple)) and history and isinstance(history[0], str):
            found.append(history[0])
            return found
        for value in node.values():
            _sources(value, found)
    elif isinstance(node, (list, tuple)):  # get_config() keeps tuples where to_json() writes lists
        if len(node) >= 3 and isinstance(node[0], str) and isinstance(node[1], int) and isinstance(node[2], int):
            found.append(node[0])
            node = node[3:]
        for value in node:
            _sources(value, found)
    return found


def _input_names(inner):
    entries = inner.get("input_layers")
    if isinstance(entries, (list, tuple)) and entries and isinstance(entries[0], str):
        entries = [entries]  # Keras 3 writes a single input as one entry
    return [e[0] for e in entries or [] if isinstance(e, (list, tuple)) and e and isinstance(e[0], str)]


def _functional(inner):
    by_name = dict((layer.get("name") or _class_config(layer)[1].get("name"), layer)
                   for layer in inner["layers"] if isinstance(layer, dict))
    inputs = _input_names(inner)
    highs = {}
    for name, layer in by_name.items():
        high = _table(layer)
        if high is None:
            continue
        source, seen = name, set()
        while source not in seen:
            seen.add(source)
            upstream = list(dict.fromkeys(_sources(by_name.get(source, {}).get("inbound_nodes") or [], [])))
            if len(upstream) != 1 or upstream[0] not in by_name:
                break
            source = upstream[0]
            if source in inputs:
                position = inputs.index(source)
                if position not in highs or high < highs[position][2]:
                    highs[position] = (position, source, high, name)
                break
            if not _passes(by_name[source]):
                break
    return [highs[position] for position in sorted(highs)]
