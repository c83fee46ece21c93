"""Save a model in a format, and load it back with a loader.

Runs inside the environment under test (Python 3.7 syntax). Version
differences are asked of ``compat.KerasRuntime``, never branched on here.

Formats (file or folder written inside the artifact directory) and how they are saved:
    h5              model.h5           model.save("model.h5")
    keras           model.keras        model.save("model.keras")
    savedmodel      savedmodel/        model.save(dir, save_format="tf")   (Keras SavedModel)
    tf_saved_model  tf_saved_model/    tf.saved_model.save(model, dir)
    export          export/            model.export(dir)                   (Keras 2.13+, Keras 3)
    h5_weights      weights.h5         model.save_weights("weights.h5")    (legacy HDF5 layout; once weights_h5)
    keras_weights   model.weights.h5   model.save_weights("model.weights.h5")  (Keras 2.13+, 3; once weights.h5)
    checkpoint      checkpoint/ckpt    tf.train.Checkpoint(model=model).write(prefix)
    json            model.json         model.to_json(), plus model.weights.h5 beside it

Loaders (the API a user calls to read a format back):
    load_model             keras.models.load_model(path, custom_objects=...)   (compile and safe_mode: Keras's defaults)
    load_weights           the fixture rebuilt from code, then model.load_weights(path)
    load_weights_by_name   the same, model.load_weights(path, by_name=True)
    load_weights_skip_mismatch   the same, model.load_weights(path, skip_mismatch=True)
    model_from_json        keras.models.model_from_json(json), then load_weights(model.weights.h5)
    Checkpoint.read        the fixture rebuilt from code, then tf.train.Checkpoint(model=m).read(prefix)
    TFSMLayer              keras.layers.TFSMLayer(path, call_endpoint="serving_default")   (Keras 3)
    tf.saved_model.load    tf.saved_model.load(path), calling its serving_default signature
"""
import os

import numpy as np

import compare
from catalog import FILES, LOAD_WEIGHTS_KWARGS
from outcomes import error_fields

JSON_WEIGHTS = "model.weights.h5"


def save(runtime, model, fmt, directory):
    """Save ``model`` as ``fmt`` under ``directory``; returns the path written."""
    path = os.path.join(directory, FILES[fmt])
    if fmt in ("h5", "keras"):
        model.save(path)
    elif fmt == "savedmodel":
        model.save(path, save_format="tf")
    elif fmt == "tf_saved_model":
        runtime.tf.saved_model.save(model, path)
    elif fmt == "export":
        model.export(path)
    elif fmt in ("h5_weights", "keras_weights"):
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


def load(runtime, fmt, loader, path, rebuild, custom_objects=None, call=None, input_order=None, before=None):
    """Load ``path`` (saved as ``fmt``) with ``loader``'s call as users write it; returns an object
    with ``predict``.

    ``rebuild`` is a no-argument callable that builds the model's architecture with
    fresh weights, for the loaders that need the code. ``custom_objects`` is the
    fixture's (or user's) ``custom_objects(keras)`` dict, or None. ``call`` holds the keyword
    arguments given to load_model (``compile``, ``safe_mode``: a change tried by ``changes.py``, or
    the user's own call in a check); the rest keep Keras's defaults (``compat.KerasRuntime.load_model``).
    ``input_order`` is the model's input names in ``model.inputs`` order, which a
    SavedModel's signature may not keep (Keras 3 names them ``inputs``, ``inputs_1``, ...).
    ``before``: a dict, filled for the loaders that make a model and then read weights into it
    (``catalog.WEIGHTS_LOADERS``) with the model's values just before that read (:func:`snapshot`).
    """
    if loader == "load_model":
        return runtime.load_model(path, custom_objects, **(call or {}))
    if loader in LOAD_WEIGHTS_KWARGS:
        model = _remember(rebuild(), before)
        model.load_weights(path, **LOAD_WEIGHTS_KWARGS[loader])
        return model
    if loader == "model_from_json":
        with open(path) as handle:
            model = _remember(runtime.model_from_json(handle.read(), custom_objects), before)
        model.load_weights(os.path.join(os.path.dirname(path), JSON_WEIGHTS))
        return model
    if loader == "Checkpoint.read":
        model = _remember(rebuild(), before)
        runtime.tf.train.Checkpoint(model=model).read(path).assert_existing_objects_matched()
        return model
    if loader == "tf.saved_model.load":
        return SignatureModel(runtime.tf, runtime.tf.saved_model.load(path), input_order)
    if loader == "TFSMLayer":
        return LayerModel(runtime.tf, runtime.keras.layers.TFSMLayer(path, call_endpoint=SERVING))
    raise ValueError("unknown loader {!r} for format {!r}".format(loader, fmt))


# Every SavedModel here has it: Keras SavedModels, tf.saved_model.save, and model.export
# (which also adds a "serve" endpoint with the same function).
SERVING = "serving_default"
PREDICT_BATCH = 32  # Keras's default batch_size in predict (Keras 2 and 3)


def _numpy_outputs(outputs):
    if isinstance(outputs, dict):
        return dict((key, np.asarray(value)) for key, value in outputs.items())
    if isinstance(outputs, (list, tuple)):
        return [np.asarray(value) for value in outputs]
    return np.asarray(outputs)


class SignatureModel(object):
    """A SavedModel's serving signature behind Keras' ``predict(x)``.

    ``x`` is one array (a single input), a dict keyed by the signature's input
    names, or a list (matched to the names in order: ``inputs``, ``inputs_1``, ...);
    a dict keyed by the model's own input names is taken in ``input_order`` where
    the signature renamed them. Each is converted to the dtype the signature
    declares. Returns the signature's dict of outputs as numpy arrays.
    """

    def __init__(self, tf, loaded, input_order=None):
        if SERVING not in loaded.signatures:
            raise ValueError("the SavedModel has no {} signature (it has: {})".format(
                SERVING, ", ".join(sorted(loaded.signatures)) or "none"))
        self.tf = tf
        self.loaded = loaded  # the signature needs the restored object alive
        self.function = loaded.signatures[SERVING]
        self.specs = self.function.structured_input_signature[1]
        self.input_specs = [(name, spec.shape.as_list(), spec.dtype.name) for name, spec in sorted(self.specs.items())]
        self.input_order = input_order

    def predict(self, x, verbose=0):
        names = sorted(self.specs, key=_position)
        if isinstance(x, dict) and set(x) != set(names) and self.input_order and set(x) == set(self.input_order):
            x = [x[name] for name in self.input_order]
        if isinstance(x, (list, tuple)) and len(x) == len(names):
            x = dict(zip(names, x))
        elif not isinstance(x, dict):
            if len(names) != 1:
                raise ValueError("the serving signature takes {} named inputs ({}); give a dict".format(
                    len(names), ", ".join(names)))
            x = {names[0]: x}
        missing = sorted(set(names) - set(x))
        if missing:
            raise ValueError("the serving signature takes inputs {}; missing {}".format(
                ", ".join(names), ", ".join(missing)))
        feed = dict((name, self.tf.constant(x[name], dtype=spec.dtype)) for name, spec in self.specs.items())
        return _numpy_outputs(self.function(**feed))


def _position(name):
    """Sort key of signature input names: ``inputs`` < ``inputs_1`` < ``inputs_2`` < ``inputs_10``."""
    base, _, suffix = name.rpartition("_")
    return (base, int(suffix)) if base and suffix.isdigit() else (name, -1)


class LayerModel(object):
    """Keras 3's ``TFSMLayer`` behind ``predict(x)``: called as a user calls it, ``layer(x)``,
    with one tensor, a list or a dict of tensors. Its input names are not exposed (``input_specs`` None)."""

    input_specs = None

    def __init__(self, tf, layer):
        self.tf = tf
        self.layer = layer

    def predict(self, x, verbose=0):
        if isinstance(x, dict):
            x = dict((name, self.tf.constant(value)) for name, value in x.items())
        elif isinstance(x, (list, tuple)):
            x = [self.tf.constant(value) for value in x]
        else:
            x = self.tf.constant(x)
        return _numpy_outputs(self.layer(x))


def _rows(x):
    """The batch size of an array, or of the first array of a list or dict of them."""
    first = next(iter(x.values())) if isinstance(x, dict) else x[0] if isinstance(x, (list, tuple)) else x
    return len(first)


def predict(runtime, loaded, x, names=None):
    """Predict as a user would, on inputs fed as this Keras takes them (``runtime.feed``).

    Inputs of at most :data:`PREDICT_BATCH` rows (the matrix's 8) go to a Keras model's
    ``predict_on_batch``: the traced predict step ``predict`` runs on each batch, without the
    ``tf.data`` pipeline ``predict`` builds first, which cost as much again on small models
    (Keras 3.15: 0.06 s against 0.26 s, measured 2026-12-01). More rows go to ``predict``, which
    batches them; a serving signature (:class:`SignatureModel`, :class:`LayerModel`) has ``predict`` only.

    The one path from a loaded object to comparable outputs, for the matrix and the check.
    ``x`` is an array, a list or a dict of arrays; ``names`` orders a dict of outputs (see
    ``compare.as_output_list``).

    Returns:
        (the outputs as a list of float64 arrays, None), or (None, a ``load-error`` verdict
        dict at stage ``predict``: the object has no ``predict``, or it raised).
    """
    if getattr(loaded, "predict", None) is None:
        return None, {"verdict": "load-error", "stage": "predict", "error_type": "AttributeError",
                      "error_message": "loaded object of type {} has no predict()".format(type(loaded).__name__)}
    try:
        feed = runtime.feed(x)
        one_batch = getattr(loaded, "predict_on_batch", None) is not None and _rows(x) <= PREDICT_BATCH
        outputs = loaded.predict_on_batch(feed) if one_batch else loaded.predict(feed, verbose=0)
        return compare.as_output_list(outputs, names), None
    except Exception as exc:
        out = {"verdict": "load-error", "stage": "predict"}
        out.update(error_fields(exc))
        return None, out


def variables_of(loaded):
    """The variables the loaded object predicts with (TF or Keras variables, each with
    ``assign`` and ``numpy()``), without duplicates: a Keras model's ``weights`` (trainable
    and not: BatchNormalization's moving statistics too), a ``TFSMLayer``'s weights (Keras 3
    registers the variables its endpoint reads), or the variables a ``tf.saved_model.load``
    object's serving function captures (``ConcreteFunction.variables``), else the object's own
    ``variables``; objects that are no variables (Keras 2's ``VocabWeightHandler`` of a lookup
    layer's table, seen in TF 2.15) are left out. Empty when it holds none."""
    if isinstance(loaded, LayerModel):
        found = list(loaded.layer.weights)
    elif isinstance(loaded, SignatureModel):
        found = list(getattr(loaded.function, "variables", None) or getattr(loaded.loaded, "variables", None) or [])
    else:
        found = list(getattr(loaded, "weights", None) or [])
    unique, seen = [], set()
    for variable in found:  # Keras 2 lists a lookup layer's table handler (VocabWeightHandler) among its weights
        if id(variable) not in seen and hasattr(variable, "numpy") and hasattr(variable, "assign"):
            seen.add(id(variable))
            unique.append(variable)
    return unique


def input_specs(runtime, loaded):
    """``[(name, shape, dtype)]`` of what ``loaded`` takes, or None if it does not say."""
    if isinstance(loaded, (SignatureModel, LayerModel)):
        return loaded.input_specs
    return runtime.input_specs(loaded)


def _remember(model, before):
    if before is not None:
        before.update(snapshot(model))
    return model


def snapshot(loaded):
    """{id(variable): a copy of its values} of the float variables of :func:`variables_of`: those the
    producer's training and ``recipes.set_state`` all move from where a build puts them. Integer and
    boolean variables (a Normalization's count, seed states) are left out: a build and the producer
    may give them the same values, so a load that skipped them could not be told apart."""
    found = {}
    for variable in variables_of(loaded):
        values = np.array(variable.numpy())
        if values.dtype.kind == "f":
            found[id(variable)] = values
    return found


def assignment(before, loaded):
    """(variables assigned, variables held) by a load that read weights into a model made first.

    ``before`` is the model's :func:`snapshot` taken just before the read, and ``loaded`` the model
    after it has predicted (so a model built on its first call holds its variables by then). A float
    variable counts as assigned when the read changed its values; one created after the read, or left
    with the values it was built with, was not assigned (keras-team/keras#21676, #19694)."""
    after = snapshot(loaded)
    assigned = sum(1 for key, values in after.items()
                   if key in before and not np.array_equal(before[key], values, equal_nan=True))
    return assigned, len(after)


def with_assignment(record, assigned, total):
    """A weights load's verdict fields with its count (``variables_assigned``, ``variables_total``):
    a pass whose load left variables as they were built becomes a ``load-error`` at stage ``assign``
    (``IncompleteLoad``: its outputs matched by chance, or through variables the outputs do not use);
    a mismatch stays one and says in its reason how many the load assigned."""
    out = dict(record, variables_assigned=assigned, variables_total=total)
    if assigned >= total:
        return out
    said = "the load assigned {} of {} variables; the other {} keep the values the model was built with".format(
        assigned, total, total - assigned)
    if record.get("verdict") == "pass":
        out.update({"verdict": "load-error", "stage": "assign", "error_type": "IncompleteLoad",
                    "error_message": "{} (its outputs matched: max |diff| {:.3g})".format(
                        said, record.get("max_abs") or 0.0)})
    elif record.get("verdict") == "mismatch":
        out["reason"] = "; ".join(text for text in (record.get("reason"), said) if text)
    return out
