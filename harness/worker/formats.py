"""Save a model in a format, and load it back with a loader.

Runs inside the environment under test (Python 3.7 syntax). Version
differences are asked of ``compat.KerasRuntime``, never branched on here.

Formats (file or folder written inside the artifact directory) and how they are saved:
    h5              model.h5           model.save("model.h5")
    keras           model.keras        model.save("model.keras")
    savedmodel      savedmodel/        model.save(dir, save_format="tf")   (Keras SavedModel)
    tf_saved_model  tf_saved_model/    tf.saved_model.save(model, dir)
    export          export/            model.export(dir)                   (Keras 2.13+, Keras 3)
    weights_h5      weights.h5         model.save_weights("weights.h5")    (legacy HDF5 layout)
    weights.h5      model.weights.h5   model.save_weights("model.weights.h5")
    checkpoint      checkpoint/ckpt    tf.train.Checkpoint(model=model).write(prefix)
    json            model.json         model.to_json(), plus model.weights.h5 beside it

Loaders (the API a user calls to read a format back):
    load_model             keras.models.load_model(path, custom_objects=..., compile=False)
    load_weights           the fixture rebuilt from code, then model.load_weights(path)
    model_from_json        keras.models.model_from_json(json), then load_weights(model.weights.h5)
    Checkpoint.read        the fixture rebuilt from code, then tf.train.Checkpoint(model=m).read(prefix)
    TFSMLayer              keras.layers.TFSMLayer(path, call_endpoint=...)        (Keras 3)
    tf.saved_model.load    tf.saved_model.load(path), calling its serving endpoint
"""
import os

import numpy as np

TARGETS = {
    "h5": "model.h5",
    "keras": "model.keras",
    "savedmodel": "savedmodel",
    "tf_saved_model": "tf_saved_model",
    "export": "export",
    "weights_h5": "weights.h5",
    "weights.h5": "model.weights.h5",
    "checkpoint": "checkpoint/ckpt",
    "json": "model.json",
}
JSON_WEIGHTS = "model.weights.h5"


def save(runtime, model, fmt, directory):
    """Save ``model`` as ``fmt`` under ``directory``; returns the path written."""
    path = os.path.join(directory, TARGETS[fmt])
    if fmt in ("h5", "keras"):
        model.save(path)
    elif fmt == "savedmodel":
        model.save(path, save_format="tf")
    elif fmt == "tf_saved_model":
        runtime.tf.saved_model.save(model, path)
    elif fmt == "export":
        model.export(path)
    elif fmt in ("weights_h5", "weights.h5"):
        model.save_weights(path)
    elif fmt == "checkpoint":
        runtime.tf.train.Checkpoint(model=model).write(path)
    elif fmt == "json":
        with open(path, "w") as handle:
            handle.write(model.to_json())
        model.save_weights(os.path.join(directory, JSON_WEIGHTS))
    else:
        raise ValueError("unknown format {!r}".format(fmt))
    return path


def load(runtime, fmt, loader, path, rebuild, custom_objects=None):
    """Load ``path`` (saved as ``fmt``) with ``loader``; returns an object with ``predict``.

    ``rebuild`` is a no-argument callable that builds the fixture's architecture
    with fresh weights, for the loaders that need the code. ``custom_objects`` is
    the fixture's ``custom_objects(keras)`` dict, or None.
    """
    if loader == "load_model":
        return runtime.load_model(path, custom_objects)
    if loader == "load_weights":
        model = rebuild()
        model.load_weights(path)
        return model
    if loader == "model_from_json":
        with open(path) as handle:
            model = runtime.keras.models.model_from_json(handle.read(), custom_objects=custom_objects)
        model.load_weights(os.path.join(os.path.dirname(path), JSON_WEIGHTS))
        return model
    if loader == "Checkpoint.read":
        model = rebuild()
        runtime.tf.train.Checkpoint(model=model).read(path).assert_existing_objects_matched()
        return model
    if loader == "TFSMLayer":
        endpoint = "serve" if fmt == "export" else "serving_default"
        return CallableModel(runtime.keras.layers.TFSMLayer(path, call_endpoint=endpoint))
    if loader == "tf.saved_model.load":
        loaded = runtime.tf.saved_model.load(path)
        return CallableModel(serving_function(loaded), owner=loaded)
    raise ValueError("unknown loader {!r} for format {!r}".format(loader, fmt))


def serving_function(loaded):
    """The callable a TF SavedModel serves: ``serve`` (model.export) or ``serving_default``.

    A ``serving_default`` signature takes keyword tensors; a single input is
    passed by its one name, several inputs by name (dict inputs) or in sorted
    name order (list inputs).
    """
    serve = getattr(loaded, "serve", None)
    if serve is not None:
        return serve
    signatures = getattr(loaded, "signatures", {})
    if "serving_default" not in signatures:
        raise ValueError("the SavedModel has no 'serve' endpoint and no 'serving_default' signature "
                         "(signatures: {})".format(sorted(signatures)))
    signature = signatures["serving_default"]
    names = sorted(signature.structured_input_signature[1])

    def call(x):
        if isinstance(x, dict):
            return signature(**x)
        values = x if isinstance(x, (list, tuple)) else [x]
        if len(values) != len(names):
            raise ValueError("serving_default takes inputs {}, got {} arrays".format(names, len(values)))
        return signature(**dict(zip(names, values)))
    return call


class CallableModel(object):
    """Gives a callable (a TFSMLayer, a SavedModel endpoint) the ``predict`` the comparison uses.

    ``owner`` keeps the loaded SavedModel alive: its endpoints reference its
    variables, which are deleted with it.
    """

    def __init__(self, function, owner=None):
        self.function = function
        self.owner = owner

    def predict(self, x, verbose=0):
        outputs = self.function(x)
        if isinstance(outputs, dict):
            return dict((key, np.asarray(value)) for key, value in outputs.items())
        if isinstance(outputs, (list, tuple)):
            return [np.asarray(value) for value in outputs]
        return np.asarray(outputs)

