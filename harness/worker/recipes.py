"""Load fixture recipes (``fixtures/*.py``) and turn them into trained models.

Runs inside the environment under test (Python 3.7 syntax, stdlib + numpy +
the environment's TF/Keras). The fixture API is documented in README.md.
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
    runtime.keras.backend.clear_session()
    runtime.seed(seed)
    return recipe.build(runtime.keras)


def inputs(recipe, seed, batch):
    """The recipe's ``sample_inputs(rng, batch)`` with a seeded ``numpy.random.RandomState``."""
    return recipe.sample_inputs(np.random.RandomState(seed), batch)


def train(recipe, runtime, model, seed):
    """Compile (unless the recipe did) and fit a few steps, so weights and
    BatchNormalization statistics move away from their initial values.

    Targets come from the recipe's ``targets(rng, outputs)`` if it has one,
    else standard-normal arrays shaped like the model's outputs.
    """
    if getattr(model, "optimizer", None) is None:
        model.compile(**getattr(recipe, "COMPILE", DEFAULT_COMPILE))
    x = inputs(recipe, seed + 1, TRAIN_BATCH * TRAIN_STEPS)
    y = targets_for(recipe, model.predict(runtime.feed(x), verbose=0), np.random.RandomState(seed + 2))
    model.fit(runtime.feed(x), y, batch_size=TRAIN_BATCH, epochs=1, shuffle=False, verbose=0)
    return model


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
