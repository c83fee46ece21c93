"""Check a loaded model beyond its outputs: weights, compile state, and training.

Runs inside the environment under test (Python 3.7 syntax, numpy + the env's Keras).
Each level is its own verdict in a consume record, under ``levels``:

    weights   every weight equals the producer's, matched by order and shape (names ignored)
    compile   the optimizer's class and iteration count were restored (the loss is recorded)
    training  one more training step on a fixed batch gives the producer's own next weights,
              which needs the optimizer's slots (e.g. Adam's moments) restored too; the step runs
              eagerly (``run_eagerly``), on both sides, so no train function is traced for it

The producer records what these need with :func:`record_state` into each
artifact directory (``state.npz``, ``compile.json``).
"""
import json
import os

import numpy as np

import arrays
import compare
import recipes
from catalog import FULL_MODEL_FORMATS, KERAS_MODEL_LOADERS

STATE_FILE = "state.npz"
COMPILE_FILE = "compile.json"
STEP_SEED_OFFSET = 4
# Layers that draw random numbers in training: a loaded model draws other ones than the
# producer did (their generators are seeded when a layer is made), so its step differs.
RANDOM_LAYERS = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
                 "GaussianDropout", "AlphaDropout", "RandomFlip", "RandomRotation", "RandomZoom",
                 "RandomTranslation", "RandomCrop", "RandomContrast")


def compile_state(model):
    """Optimizer class, iteration count and loss of a compiled model, as JSON-ready values."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return {"optimizer": None, "iterations": None, "loss": None}
    iterations = getattr(optimizer, "iterations", None)
    return {"optimizer": type(optimizer).__name__,
            "iterations": int(np.asarray(iterations)) if iterations is not None else None,
            "loss": _loss_name(getattr(model, "loss", None))}


def _loss_name(loss):
    if loss is None or isinstance(loss, str):
        return loss
    return getattr(loss, "__name__", None) or getattr(loss, "name", None) or type(loss).__name__


def trained_model(recipe, runtime, seed):
    """Build and train the fixture; also learn its next training step, if that is deterministic.

    Returns (model, (x_step, y_step), next_weights or None, note). The model is trained
    (:func:`recipes.train`), then takes one more ``train_on_batch(x_step, y_step)`` twice, each
    time from the same saved state (weights and optimizer variables, restored after each probe)
    and under a different random state: if the two agree, ``next_weights`` is their result,
    which a loaded model must reproduce; if not, the step depends on randomness (Dropout, say),
    ``next_weights`` is None and ``note`` says why. The returned model holds the state from
    before the probes.

    Training and the probes run eagerly (``runtime.eagerly``): the same Keras code, without
    tracing a function for a model that is trained once (float32 differences from a traced step
    measured at 1.5e-8, far inside the default atol of 1e-5).

    Raises:
        whatever building, compiling or training the recipe raises (a ``save-error`` at stage
        ``build`` for the caller).
    """
    model = recipes.build(recipe, runtime, seed)
    recipes.compile_model(recipe, model)
    results = []
    with runtime.eagerly(model):
        recipes.train(recipe, runtime, model, seed)
        x_step = recipes.inputs(recipe, seed + STEP_SEED_OFFSET, recipes.TRAIN_BATCH)
        y_step = recipes.targets_for(recipe, model.predict(runtime.feed(x_step), verbose=0),
                                     np.random.RandomState(seed + STEP_SEED_OFFSET))
        saved = _training_state(model)
        for probe in (1, 2):
            runtime.seed(seed + STEP_SEED_OFFSET + probe)
            model.train_on_batch(runtime.feed(x_step), y_step)
            results.append([np.asarray(w, np.float64) for w in model.get_weights()])
            _restore_training_state(model, saved)
    random_layers = sorted(set(random_layer_names(model)))
    if random_layers:
        note = ("its training step draws random numbers ({}), which a loaded model draws afresh, so the "
                "training level cannot be compared".format(", ".join(random_layers)))
        return model, (x_step, y_step), None, note
    same = compare.compare_outputs(results[0], results[1], 0.0, 0.0)
    if not same["within"]:
        note = ("one training step is not deterministic here (two replays differ by {:.3g}: random layers "
                "such as Dropout), so the training level cannot be compared".format(same["max_abs"]))
        return model, (x_step, y_step), None, note
    return model, (x_step, y_step), results[0], None


def _optimizer_variables(model):
    """The optimizer's variables, iteration count and slots included: a method in Keras 2's
    ``OptimizerV2`` (TF <= 2.10's default), a property in TF 2.11+'s optimizers and Keras 3."""
    found = getattr(model.optimizer, "variables", None)
    return list((found() if callable(found) else found) or [])


def _training_state(model):
    """What one training step changes: (the model's weights, the optimizer variables' values)."""
    return ([np.array(w) for w in model.get_weights()],
            [np.array(v.numpy()) for v in _optimizer_variables(model)])


def _restore_training_state(model, state):
    weights, optimizer_values = state
    model.set_weights(weights)
    variables = _optimizer_variables(model)
    if len(variables) != len(optimizer_values):
        raise RuntimeError("the optimizer has {} variables after a step, {} before it".format(
            len(variables), len(optimizer_values)))
    for variable, value in zip(variables, optimizer_values):
        variable.assign(value)


def random_layer_names(model):
    """Class names of the layers (nested models included) that are random in training."""
    for layer in getattr(model, "layers", []):
        if type(layer).__name__ in RANDOM_LAYERS:
            yield type(layer).__name__
        for name in random_layer_names(layer):
            yield name


def record_state(directory, model, step, next_weights, note):
    """Write ``state.npz`` (weights, step batch, next weights) and ``compile.json``."""
    named = dict(arrays.flatten(step[0], "xs") + arrays.flatten(step[1], "ys"))
    for i, w in enumerate(model.get_weights()):
        named["w{}".format(i)] = np.asarray(w)
    for i, w in enumerate(next_weights or []):
        named["n{}".format(i)] = np.asarray(w)
    np.savez(os.path.join(directory, STATE_FILE), **named)
    state = compile_state(model)
    state["training_note"] = note
    with open(os.path.join(directory, COMPILE_FILE), "w") as handle:
        json.dump(state, handle, indent=1, sort_keys=True)


def _level(result):
    return {"verdict": "pass" if result["within"] else "mismatch", "max_abs": result["max_abs"],
            "reason": result["reason"]}


def checks_compile(cell):
    """True for the cells whose compile and training levels are checked: ``load_model``
    of a full-model format (loaded as users call it, which compiles: ``compile=True``)."""
    return cell["format"] in FULL_MODEL_FORMATS and cell["loader"] == "load_model"


def check_levels(runtime, loaded, cell, directory, compile_failure=None):
    """The deeper levels of one loaded model; a dict level -> {verdict, max_abs, reason, ...}.

    For :func:`checks_compile` cells ``loaded`` came from the call as users write it, which compiles,
    unless that failed and ``compile=False`` worked (``changes.py``): ``compile_failure`` is then the
    call's failure (its verdict dict), and the compile level says so.
    """
    levels = {}
    with np.load(os.path.join(directory, STATE_FILE), allow_pickle=False) as handle:
        data = dict((k, handle[k]) for k in handle.files)
    with open(os.path.join(directory, COMPILE_FILE)) as handle:
        expected = json.load(handle)
    atol, rtol = cell["atol"], cell["rtol"]
    if cell["loader"] in KERAS_MODEL_LOADERS and hasattr(loaded, "get_weights"):
        actual = [np.asarray(w, np.float64) for w in loaded.get_weights()]
        levels["weights"] = _level(compare.compare_outputs(arrays.numbered(data, "w"), actual, atol, rtol))
    if not checks_compile(cell):
        return levels
    if compile_failure:
        levels["compile"] = {"verdict": "load-error", "reason": "{}: {}".format(
            compile_failure.get("error_type"), compile_failure.get("error_message"))}
        return levels
    model = loaded
    got = compile_state(model)
    same = got["optimizer"] == expected["optimizer"] and got["iterations"] == expected["iterations"]
    levels["compile"] = {"verdict": "pass" if same else "mismatch", "expected": expected, "actual": got,
                         "reason": None if same else "optimizer {} at iteration {}, expected {} at {}".format(
                             got["optimizer"], got["iterations"], expected["optimizer"], expected["iterations"])}
    next_weights = arrays.numbered(data, "n")
    if not next_weights:
        levels["training"] = {"verdict": "unsupported", "reason": expected.get("training_note")}
    elif got["optimizer"] is None:
        levels["training"] = {"verdict": "mismatch", "reason": "no optimizer was restored, so training cannot continue"}
    else:
        try:  # eagerly, as the producer stepped: the level asks whether the optimizer state came back
            with runtime.eagerly(model):
                model.train_on_batch(runtime.feed(arrays.unflatten(data, "xs")), arrays.unflatten(data, "ys"))
            actual = [np.asarray(w, np.float64) for w in model.get_weights()]
            levels["training"] = _level(compare.compare_outputs(next_weights, actual, atol, rtol))
        except Exception as exc:
            levels["training"] = {"verdict": "load-error", "reason": "{}: {}".format(
                type(exc).__name__, (str(exc).strip().splitlines() or [""])[0][:300])}
    return levels
