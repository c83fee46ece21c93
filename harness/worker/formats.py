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

import numpy as np

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


def load(runtime, fmt, loader, path, rebuild, custom_objects=None, safe_mode=True):
    """Load ``path`` (saved as ``fmt``) with ``loader``; returns an object with ``predict``.

    ``rebuild`` is a no-argument callable that builds the model's architecture
    with fresh weights, for the weights-only loaders. ``custom_objects`` is the
    fixture's (or user's) ``custom_objects(keras)`` dict, or None. ``safe_mode``
    goes to load_model where it has one (see ``compat.KerasRuntime.safe_mode_guard``).

    Loaders: ``load_model``, ``load_weights``, and for SavedModels ``tf.saved_model.load``
    (the ``serving_default`` signature) and ``TFSMLayer`` (Keras 3).
    """
    if loader == "load_model":
        return runtime.load_model(path, custom_objects, safe_mode)
    if loader == "load_weights":
        model = rebuild()
        model.load_weights(path)
        return model
    if loader == "tf.saved_model.load":
        return SignatureModel(runtime.tf, runtime.tf.saved_model.load(path))
    if loader == "TFSMLayer":
        return LayerModel(runtime.tf, runtime.keras.layers.TFSMLayer(path, call_endpoint=SERVING))
    raise ValueError("unknown loader {!r} for format {!r}".format(loader, fmt))


SERVING = "serving_default"


def _numpy_outputs(outputs):
    if isinstance(outputs, dict):
        return dict((key, np.asarray(value)) for key, value in outputs.items())
    return np.asarray(outputs)


class SignatureModel(object):
    """A SavedModel's serving signature behind Keras' ``predict(x)``.

    ``x`` is one array (a single input) or a dict keyed by the signature's input
    names; each is converted to the dtype the signature declares. Returns the
    signature's dict of outputs as numpy arrays.
    """

    def __init__(self, tf, loaded):
        if SERVING not in loaded.signatures:
            raise ValueError("the SavedModel has no {} signature (it has: {})".format(
                SERVING, ", ".join(sorted(loaded.signatures)) or "none"))
        self.tf = tf
        self.loaded = loaded  # the signature needs the restored object alive
        self.function = loaded.signatures[SERVING]
        self.specs = self.function.structured_input_signature[1]
        self.input_specs = [(name, spec.shape.as_list(), spec.dtype.name) for name, spec in sorted(self.specs.items())]

    def predict(self, x, verbose=0):
        if not isinstance(x, dict):
            if len(self.specs) != 1:
                raise ValueError("the serving signature takes {} named inputs ({}); give a dict".format(
                    len(self.specs), ", ".join(sorted(self.specs))))
            x = {next(iter(self.specs)): x}
        missing = sorted(set(self.specs) - set(x))
        if missing:
            raise ValueError("the serving signature takes inputs {}; missing {}".format(
                ", ".join(sorted(self.specs)), ", ".join(missing)))
        feed = dict((name, self.tf.constant(x[name], dtype=spec.dtype)) for name, spec in self.specs.items())
        return _numpy_outputs(self.function(**feed))


class LayerModel(object):
    """Keras 3's ``TFSMLayer`` behind ``predict(x)``: called as a user calls it, ``layer(x)``,
    with one tensor or a dict of tensors. Its input names are not exposed (``input_specs`` None)."""

    input_specs = None

    def __init__(self, tf, layer):
        self.tf = tf
        self.layer = layer

    def predict(self, x, verbose=0):
        if isinstance(x, dict):
            x = dict((name, self.tf.constant(value)) for name, value in x.items())
        else:
            x = self.tf.constant(x)
        return _numpy_outputs(self.layer(x))


def input_specs(runtime, loaded):
    """``[(name, shape, dtype)]`` of what ``loaded`` takes, or None if it does not say."""
    if isinstance(loaded, (SignatureModel, LayerModel)):
        return loaded.input_specs
    return runtime.input_specs(loaded)
