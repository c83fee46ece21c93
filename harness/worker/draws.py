"""Inputs drawn for a model in a check: what they are drawn from, the draw, and how to name them.

Runs inside the environment under test (Python 3.7 syntax; standard library, numpy and what the
loaded model tells). Used by ``check.py`` where the user gives no ``--inputs``: the arrays are
drawn once, in the source environment, from the loaded model's input signature and the tables its
layers hold, so that they fit the model (indices within an Embedding's table) and exercise it.
"""
import numpy as np

import feeds

BATCH = 4  # rows, where the batch dimension is None
LENGTH = 5  # size of any other None dimension (a sequence length, say)
WORDS = np.array(["red", "green", "blue", "the", "a", "model", "unknown", ""])
INT_HIGH = 10  # integer inputs are drawn from [0, INT_HIGH): valid ids for any embedding of 10 rows or more
OOV_WORD = "kcm-out-of-vocabulary"  # a word no vocabulary holds: it must map to the OOV id everywhere
SPECIAL_TOKENS = ("", "[UNK]")  # the mask and OOV tokens Keras puts first in get_vocabulary()


class BadInput(Exception):
    """The user's inputs do not fit the model (verdict ``bad-input``: the check exits with status 2)."""


def described(x):
    """``{name: [shape, dtype, [least, greatest]]}`` of the check's inputs (range None for strings)."""
    return dict((name, [list(v.shape), str(v.dtype), _range(v)]) for name, v in sorted(x.items()))


def _range(array):
    if array.dtype.kind not in "biuf" or not array.size:
        return None
    return [float(np.min(array)), float(np.max(array))]


def drawn(x):
    """One phrase an input: ``input_1 float32 (4, 21), values in [-2.61, 2.32]`` (``integers in`` where
    every value is whole)."""
    parts = []
    for name, (shape, dtype, bounds) in described(x).items():
        whole = bounds is not None and bool(np.all(np.mod(x[name], 1) == 0))
        span = ", {} in [{:.3g}, {:.3g}]".format("integers" if whole else "values", *bounds) if bounds else ""
        parts.append("{} {} {}{}".format(name, dtype, tuple(shape), span))
    return parts


def _layers(model):
    """Every layer of a Keras model, nested models' layers included (none for other objects)."""
    for layer in getattr(model, "layers", None) or []:
        yield layer
        for inner in _layers(layer):
            yield inner


def _text(word):
    return word.decode("utf-8", "replace") if isinstance(word, bytes) else str(word)


def input_domain(loaded):
    """What seeded inputs are drawn from, read from the loaded model's layers, so that they
    exercise its tables: integers over the whole ``input_dim`` of its Embeddings (the smallest,
    where there are several), and words from its StringLookup/TextVectorization vocabularies
    plus :data:`OOV_WORD` (sentences of such words where a TextVectorization splits them).
    A lost vocabulary or a shifted table then changes the outputs instead of mapping every
    input to the out-of-vocabulary id. The inputs that feed a table (an Embedding), directly or
    through reshapes and casts, are read from the model's ``get_config()`` (``feeds.index_inputs``).
    Objects without layers (SavedModel signatures) get the defaults: integers in [0, INT_HIGH) and :data:`WORDS`.

    Returns:
        {"int_high": int, "words": array of str, "sentences": bool,
        "why": {"int" and/or "string": a sentence saying where such inputs come from},
        "index": {position in the model's inputs: (high, layer name)} for the inputs that feed a table}.
    """
    dims, vocabulary, sentences = [], [], False
    for layer in _layers(loaded):
        kind = type(layer).__name__
        if kind == "Embedding" and getattr(layer, "input_dim", None):
            dims.append(int(layer.input_dim))
        elif kind in ("StringLookup", "TextVectorization") and hasattr(layer, "get_vocabulary"):
            sentences = sentences or kind == "TextVectorization"
            vocabulary += [_text(w) for w in layer.get_vocabulary() if _text(w) not in SPECIAL_TOKENS]
    why, index = {}, {}
    try:  # the inputs that feed a table, from the loaded model's own config (feeds.py)
        config = loaded.get_config() if callable(getattr(loaded, "get_config", None)) else None
        index = dict((position, (high, layer)) for position, _, high, layer in feeds.index_inputs(config))
    except Exception:  # noqa: BLE001 - a layer without get_config (a custom one) makes the model's raise
        index = tables_by_tensors(loaded)
    if dims:
        why["int"] = "integers over the Embedding's input_dim {}".format(min(dims))
    if vocabulary:
        why["string"] = "{} of its vocabulary ({} words) and one out-of-vocabulary word".format(
            "sentences" if sentences else "words", len(set(vocabulary)))
    words = np.array(sorted(set(vocabulary)) + [OOV_WORD]) if vocabulary else WORDS
    return {"int_high": min(dims) if dims else INT_HIGH, "words": words, "sentences": sentences,
            "why": why, "index": index}


def tables_by_tensors(model):
    """``{position: (high, layer name)}`` as :func:`feeds.index_inputs` gives them, read off the loaded
    model's tensors where its config cannot be had (a custom layer without ``get_config``: TF 2.1 raises
    NotImplementedError for the whole model): from each table layer's ``input`` back through the layers
    of :data:`feeds.PASS_THROUGH` (each one's ``output`` is the next one's ``input``) to one of
    ``model.inputs``. Public attributes of Keras 2 and 3 alike; a layer called more than once has no
    single ``input`` and is left out. Empty where nothing is found."""
    inputs = [id(t) for t in getattr(model, "inputs", None) or []]
    made_by, tables = {}, []
    for layer in _layers(model):
        try:
            made_by[id(layer.output)] = layer
            tensor = layer.input
        except Exception:  # noqa: BLE001 - not called, or called more than once
            continue
        high = getattr(layer, feeds.TABLES.get(type(layer).__name__, ""), None)
        if isinstance(high, int) and high > 0:
            tables.append((layer, high, tensor))
    index = {}
    for layer, high, tensor in tables:
        for _ in range(len(made_by) + 1):
            if id(tensor) in inputs:
                position = inputs.index(id(tensor))
                if position not in index or high < index[position][0]:
                    index[position] = (high, layer.name)
                break
            before = made_by.get(id(tensor))
            if before is None or type(before).__name__ not in feeds.PASS_THROUGH:
                break
            tensor = before.input
    return index


def seeded_inputs(specs, seed, domain=None):
    """Random inputs for ``[(name, shape, dtype)]``: integers in [0, high) for an input that feeds a
    table (the domain's ``index``: ``{position: (high, layer)}``), whatever its dtype (a float ``Input``
    that feeds an ``Embedding`` takes indices too); else standard normal floats, integers in
    [0, domain's int_high), booleans, and the domain's words (or sentences of up to LENGTH of
    them) for strings (see :func:`input_domain`; default: INT_HIGH and WORDS); None dimensions
    become BATCH (the first) or LENGTH. The same seed, specs and domain give the same arrays on every numpy.

    Raises:
        BadInput: a dtype numpy cannot make (bfloat16, say).
    """
    domain = domain or {"int_high": INT_HIGH, "words": WORDS, "sentences": False}
    rng = np.random.RandomState(seed)
    out = {}
    for position, (name, shape, dtype) in enumerate(specs):
        dims = tuple((BATCH if i == 0 else LENGTH) if d is None else d for i, d in enumerate(shape))
        try:
            if position in domain.get("index", {}) and dtype not in ("string", "bool"):  # indices, whatever dtype
                out[name] = rng.randint(0, domain["index"][position][0], size=dims).astype(dtype)
            elif dtype == "string":
                out[name] = _words(rng, domain, dims)
            elif dtype == "bool":
                out[name] = rng.randint(0, 2, size=dims).astype(bool)
            elif dtype.startswith(("int", "uint")):
                out[name] = rng.randint(0, domain["int_high"], size=dims).astype(dtype)
            else:
                out[name] = rng.standard_normal(dims).astype(dtype)
        except TypeError:
            raise BadInput("cannot make inputs of dtype {} for input {}; give --inputs sample.npz".format(
                dtype, name)) from None
    return out


def _words(rng, domain, dims):
    words = domain["words"]
    if not domain["sentences"]:
        return words[rng.randint(0, len(words), size=dims)]
    count = int(np.prod(dims)) if dims else 1
    sentences = [" ".join(words[rng.randint(0, len(words), size=rng.randint(1, LENGTH + 1))]) for _ in range(count)]
    return np.array(sentences).reshape(dims)
