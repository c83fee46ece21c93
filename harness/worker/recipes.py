"""Load fixture recipes (``fixtures/*.py``) and turn them into trained models.

Runs inside the environment under test (Python 3.7 syntax, stdlib + numpy +
the environment's TF/Keras). The fixture API is documented in docs/formats-and-fixtures.md.
"""
import importlib.util
import os
import sys

import numpy as np

from compat import version_tuple

DEFAULT_COMPILE = {"optimizer": "adam", "loss": "mse"}
# Added to the task's seed where a model gets other weights than the saved one (the negative
# control, the model load_weights fills), so its figures repeat from run to run.
FRESH_SEED_OFFSET = 1000
TRAIN_STEPS = 3
TRAIN_BATCH = 16
STATE_SEED_OFFSET = 5  # seeds the values set_state gives the non-trainable variables


_LOADED = {}


def load_recipe(path):
    """Import one fixture file by path (once per process) and return it as a module."""
    if path not in _LOADED:
        _LOADED[path] = _import(path)
    return _LOADED[path]


def _import(path):
    folder = os.path.dirname(os.path.abspath(path))
    if folder not in sys.path:  # fixtures may import their shared helpers (fixtures/_*.py)
        sys.path.insert(0, folder)
    name = "kcm_fixture_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    # Registered under its name, as an import would: PyTorch's dynamo re-imports the module of a
    # function it compiles (a custom activation) by name, "No module named 'kcm_fixture_...'" otherwise.
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def custom_objects(recipe, runtime):
    """The recipe's ``custom_objects(keras)`` dict (its custom layers, registered), or None."""
    make = getattr(recipe, "custom_objects", None)
    return make(runtime.keras) if make is not None else None


def wrong_backend(recipe, runtime):
    """Why this Keras backend cannot hold the recipe's layers (its BACKENDS), or None.

    Keras 3 keeps some layers TensorFlow-only (StringLookup: ImportError "Layer StringLookup
    requires TensorFlow" on JAX and PyTorch, seen with Keras 3.15)."""
    backends = getattr(recipe, "BACKENDS", None)
    if backends and runtime.backend not in backends:
        return "fixture's layers need the {} backend (its BACKENDS); this is Keras {} on {}".format(
            " or ".join(backends), runtime.version, runtime.backend)
    return None


def cannot_build(recipe, runtime):
    """Why this Keras cannot build the recipe (its MIN_KERAS/MAX_KERAS bounds, its BACKENDS), or None."""
    reason = wrong_backend(recipe, runtime)
    if reason:
        return reason
    low = getattr(recipe, "MIN_KERAS", None)
    high = getattr(recipe, "MAX_KERAS", None)
    if low and runtime.v < version_tuple(low):
        return "fixture needs Keras >= {}, this is {}".format(low, runtime.version)
    if high and runtime.v > version_tuple(high):
        return "fixture needs Keras <= {}, this is {}".format(high, runtime.version)
    return None


def build(recipe, runtime, seed):
    """Clear Keras' session (so layer names start over, as in a fresh process),
    seed everything, then call the recipe's ``build(keras)``; returns the model."""
    runtime.clear_session()
    runtime.seed(seed)
    return recipe.build(runtime.keras)


def inputs(recipe, seed, batch):
    """The recipe's ``sample_inputs(rng, batch)`` with a seeded ``numpy.random.RandomState``."""
    return recipe.sample_inputs(np.random.RandomState(seed), batch)


def compile_model(recipe, model):
    """Compile ``model`` with the recipe's ``COMPILE`` arguments (default: Adam, MSE), unless the
    recipe's ``build`` compiled it already."""
    if getattr(model, "optimizer", None) is None:
        model.compile(**getattr(recipe, "COMPILE", DEFAULT_COMPILE))


def train(recipe, runtime, model, seed):
    """Fit a compiled model a few steps, so weights and BatchNormalization statistics move away
    from their initial values, then move its non-trainable state (:func:`set_state`).

    Targets come from the recipe's ``targets(rng, outputs)`` if it has one,
    else standard-normal arrays shaped like the model's outputs.
    """
    x = inputs(recipe, seed + 1, TRAIN_BATCH * TRAIN_STEPS)
    y = targets_for(recipe, model.predict(runtime.feed(x), verbose=0), np.random.RandomState(seed + 2))
    model.fit(runtime.feed(x), y, batch_size=TRAIN_BATCH, epochs=1, shuffle=False, verbose=0)
    set_state(model, seed + STATE_SEED_OFFSET)
    return model


def _all_layers(model):
    """The model and every layer inside it, sublayers of custom layers too. ``_flatten_layers``
    (parents before children) is private but has the same signature in Keras 2.4+ and Keras 3."""
    flatten = getattr(model, "_flatten_layers", None)
    if flatten is not None:
        return list(flatten(include_self=True, recursive=True))
    out = [model]
    for layer in getattr(model, "layers", None) or []:
        out += _all_layers(layer)
    return out


def set_state(model, seed):
    """Set every non-trainable float variable (BatchNormalization's moving mean and variance, an
    adapted Normalization's mean and variance, frozen layers' weights) to seeded values far from
    what three training steps leave there (about their initial values), so that a loader that drops
    such state gives a large mismatch at any tolerance, not the ~1% that BatchNormalization's
    momentum leaves after three steps. Each moves by 0.5 to 1.5 times its magnitude (its root mean
    square, at least 1), either way; all-positive variables (variances, means of ReLU outputs) are
    also multiplied by 2 to 5 and only move up, so they stay positive.

    Layers whose outputs use tensors computed from their variables (an adapted Normalization's
    ``finalize_state``) recompute them, and the model's cached predict and train functions are
    dropped, so the model in memory predicts with the new state, as a loaded one will.
    Integer variables (counts, seed generator states) and objects that are no variables are left alone.
    """
    rng = np.random.RandomState(seed)
    done, changed = set(), []
    for layer in reversed(_all_layers(model)):  # a variable belongs to the innermost layer that lists it
        mine = [v for v in getattr(layer, "non_trainable_weights", None) or []
                if id(v) not in done and hasattr(v, "assign") and hasattr(v, "numpy")]
        done.update(id(v) for v in mine)
        moved = False
        for variable in mine:
            values = np.array(variable.numpy())
            if values.dtype.kind != "f" or values.size == 0:
                continue
            magnitude = max(float(np.sqrt(np.mean(np.square(values, dtype=np.float64)))), 1.0)
            shift = rng.uniform(0.5, 1.5, values.shape) * magnitude
            if np.all(values > 0):  # a variance (or a mean of ReLU outputs): grows, stays positive
                new = values * rng.uniform(2.0, 5.0, values.shape) + shift
            else:
                new = values + np.where(rng.uniform(size=values.shape) < 0.5, -1.0, 1.0) * shift
            variable.assign(new.astype(values.dtype))
            moved = True
        if moved:
            changed.append(layer)
    for layer in changed:
        finalize = getattr(layer, "finalize_state", None)
        if finalize is not None:
            finalize()
    for name in ("predict_function", "train_function"):
        if hasattr(model, name):
            setattr(model, name, None)


def targets_for(recipe, outputs, rng):
    """Training targets: the recipe's ``targets(rng, outputs)``, else standard-normal
    float32 arrays shaped like ``outputs`` (an array, list or dict of arrays)."""
    make_targets = getattr(recipe, "targets", None)
    if make_targets is not None:
        return make_targets(rng, outputs)
    if isinstance(outputs, dict):
        return dict((k, rng.standard_normal(np.shape(v)).astype("float32")) for k, v in sorted(outputs.items()))
    if isinstance(outputs, (list, tuple)):
        return [rng.standard_normal(np.shape(v)).astype("float32") for v in outputs]
    return rng.standard_normal(np.shape(outputs)).astype("float32")
