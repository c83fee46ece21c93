"""Save a model in a format, and load it back with a loader.

Runs inside the environment under test (Python 3.7 syntax). Version
differences are asked of ``compat.KerasRuntime``, never branched on here.

Formats (file or folder name inside the artifact directory):
    h5          full model, HDF5             model.h5          load_model
    keras       full model, Keras v3 zip     model.keras       load_model
    savedmodel  Keras SavedModel directory   savedmodel/       load_model
    weights_h5  legacy HDF5 weights          weights.h5        load_weights
    weights.h5  Keras 3 weights layout       model.weights.h5  load_weights
"""
import os

TARGETS = {
    "h5": "model.h5",
    "keras": "model.keras",
    "savedmodel": "savedmodel",
    "weights_h5": "weights.h5",
    "weights.h5": "model.weights.h5",
}


def save(runtime, model, fmt, directory):
    """Save ``model`` as ``fmt`` under ``directory``; returns the path written."""
    path = os.path.join(directory, TARGETS[fmt])
    if fmt in ("h5", "keras"):
        model.save(path)
    elif fmt == "savedmodel":
        model.save(path, save_format="tf")
    elif fmt in ("weights_h5", "weights.h5"):
        model.save_weights(path)
    else:
        raise ValueError("unknown format {!r}".format(fmt))
    return path


def load(runtime, fmt, loader, path, rebuild, custom_objects=None):
    """Load ``path`` (saved as ``fmt``) with ``loader``; returns an object with ``predict``.

    ``rebuild`` is a no-argument callable that builds the fixture's architecture
    with fresh weights, for the weights-only loaders. ``custom_objects`` is the
    fixture's ``custom_objects(keras)`` dict, or None.
    """
    if loader == "load_model":
        return runtime.load_model(path, custom_objects)
    if loader == "load_weights":
        model = rebuild()
        model.load_weights(path)
        return model
    raise ValueError("unknown loader {!r} for format {!r}".format(loader, fmt))
