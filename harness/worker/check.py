"""The check phase: load one user's model file with every loader, in one environment.

Runs inside the environment under test (Python 3.7 syntax; standard library, numpy
and the environment's TF/Keras). The task (written by ``harness/check.py``) names
the file, its format and container, the optional architecture JSON, inputs .npz and
custom-objects file, safe_mode, and the reference directory shared by all
environments of the check:

    <reference_dir>/inputs.npz               the inputs, keyed by input name
    <reference_dir>/<loader>/reference.npz   the source's inputs and outputs with that loader

A cell is one loader. In the source environment (role ``reference``) it loads the
file, makes the inputs once (from ``--inputs``, or seeded from the model's input
signature) and records the outputs: verdict ``reference``; then the same architecture
with fresh weights must give other outputs (the negative control). In a target (role
``target``) it loads the file, predicts on the same inputs and compares with the
source's outputs of the same loader, else of a loader of the same family (Keras
model or serving signature, which give outputs of the same structure), else of any.
"""
import inspect
import os
import time

import numpy as np

import compare
import formats
import recipes
from outcomes import error_fields, guarded
from reference import load_reference, save_reference

# Loaders whose outputs have the same structure: a Keras model's, or a serving signature's dict.
FAMILY = {"load_model": "keras", "load_weights": "keras", "tf.saved_model.load": "signature", "TFSMLayer": "signature"}
BATCH = 4  # rows, where the batch dimension is None
LENGTH = 5  # size of any other None dimension (a sequence length, say)
WORDS = np.array(["red", "green", "blue", "the", "a", "model", "unknown", ""])
INT_HIGH = 10  # integer inputs are drawn from [0, INT_HIGH): valid ids for any embedding of 10 rows or more
CONTROL_SEED_OFFSET = 1000  # the negative control's fresh weights are seeded, so its figures repeat


class BadInput(Exception):
    """The user's inputs do not fit the model (verdict ``bad-input``: the check exits with status 2)."""


def run(task, runtime, results):
    """Run the task's cells (one per loader), writing one record each to ``results``."""
    if not task["safe_mode"]:
        runtime.allow_unsafe_deserialization()
    custom, custom_failure = guarded(lambda: user_custom_objects(task["custom_objects"], runtime))
    if custom_failure:
        custom_failure.update(stage="custom_objects", reason="--custom-objects {} failed here".format(
            os.path.basename(task["custom_objects"])))
    for cell in task["cells"]:
        results.start(cell)
        started = time.time()
        record = {"phase": "check", "id": cell["id"], "role": cell["role"], "consumer": task["env"],
                  "producer": cell["producer"], "fixture": cell["fixture"], "format": cell["format"],
                  "loader": cell["loader"], "atol": cell["atol"], "rtol": cell["rtol"], "device": runtime.device(),
                  "safe_mode": runtime.safe_mode_guard(cell["format"], cell["loader"], task["container"],
                                                       task["safe_mode"])}
        record.update(custom_failure or check_cell(task, runtime, cell, custom))
        record["seconds"] = round(time.time() - started, 3)
        results.write(record)


def user_custom_objects(path, runtime):
    """The ``--custom-objects`` file's objects: its ``custom_objects(keras)`` dict if it defines
    one (portable across Keras 2 and 3), else its public module-level classes and functions."""
    if not path:
        return None
    module = recipes.load_recipe(path)
    made = recipes.custom_objects(module, runtime)
    if made is not None:
        return made
    return dict((name, obj) for name, obj in vars(module).items()
                if not name.startswith("_") and (inspect.isclass(obj) or inspect.isfunction(obj))
                and obj.__module__ == module.__name__)


def check_cell(task, runtime, cell, custom):
    """One loader in this environment: the verdict fields of its record."""
    reason = runtime.cannot_read(cell["format"], cell["loader"], task["container"])
    if reason:
        return {"verdict": "unsupported", "reason": reason}
    source_loader = reference_for(task["reference_dir"], cell["loader"]) if cell["role"] == "target" else None
    if cell["role"] == "target" and source_loader is None:
        return {"verdict": "skipped", "reason": "no reference outputs: the source environment {} did not load "
                "the file and predict (see its rows)".format(cell["producer"])}

    def rebuild():
        with open(task["architecture"]) as handle:
            return runtime.model_from_json(handle.read(), custom)

    loaded, failure = guarded(lambda: formats.load(runtime, cell["format"], cell["loader"], task["path"], rebuild,
                                                   custom, task["safe_mode"]))
    if failure:
        return failure
    if cell["role"] == "reference":
        return record_reference(task, runtime, cell, loaded)
    x, expected = load_reference(os.path.join(task["reference_dir"], source_loader))
    actual, failure = _predict(loaded, x)
    if failure:
        return failure
    result = compare.compare_outputs(expected, actual, cell["atol"], cell["rtol"])
    return {"verdict": "pass" if result["within"] else "mismatch", "max_abs": result["max_abs"],
            "max_rel": result["max_rel"], "reason": result["reason"], "reference": source_loader}


def _predict(loaded, x):
    """(outputs as a list of float64 arrays, None), or (None, a load-error at stage predict)."""
    feed = next(iter(x.values())) if len(x) == 1 else x
    try:
        return compare.as_output_list(loaded.predict(feed, verbose=0)), None
    except Exception as exc:
        out = {"verdict": "load-error", "stage": "predict"}
        out.update(error_fields(exc))
        return None, out


def record_reference(task, runtime, cell, loaded):
    """In the source: make (or reuse) the inputs, predict, and save the reference for this loader."""
    try:
        x, origin = reference_inputs(task, formats.input_specs(runtime, loaded))
    except BadInput as exc:
        return {"verdict": "bad-input", "reason": str(exc)}
    outputs, failure = _predict(loaded, x)
    if failure:
        return failure
    directory = os.path.join(task["reference_dir"], cell["loader"])
    os.makedirs(directory, exist_ok=True)
    save_reference(directory, x, outputs)
    return {"verdict": "reference", "reason": origin,
            "inputs": dict((k, [list(v.shape), str(v.dtype)]) for k, v in sorted(x.items())),
            "outputs": [list(y.shape) for y in outputs],
            "control": fresh_weights_control(runtime, cell, loaded, x, outputs, task["seed"] + CONTROL_SEED_OFFSET)}


def fresh_weights_control(runtime, cell, loaded, x, expected, seed):
    """The negative control: the same architecture with fresh weights (seeded with ``seed``)
    must not match the reference, or a target's pass could not tell restored weights from
    random ones (as with a model whose outputs are constant on these inputs).

    Returns:
        {"verdict": "mismatch" (as it must be) or "pass" (vacuous), "max_abs", "max_rel"},
        or {"verdict": "not-run", "reason"} when the loaded object is no Keras model to clone.
    """
    if FAMILY[cell["loader"]] != "keras":
        return {"verdict": "not-run", "reason": "{} gives no Keras model to clone".format(cell["loader"])}
    runtime.seed(seed)
    copy, failure = guarded(lambda: runtime.fresh_copy(loaded))
    if not failure:
        actual, failure = _predict(copy, x)
    if failure:
        return {"verdict": "not-run", "reason": "clone_model or predict failed: {}: {}".format(
            failure["error_type"], failure["error_message"])}
    result = compare.compare_outputs(expected, actual, cell["atol"], cell["rtol"])
    return {"verdict": "pass" if result["within"] else "mismatch", "max_abs": result["max_abs"],
            "max_rel": result["max_rel"]}


def reference_inputs(task, specs):
    """The check's inputs as {name: array}, and a sentence saying where they came from.

    Made by the first loader that gets here and kept in ``inputs.npz``, so every loader
    and environment predicts on the same arrays.

    Raises:
        BadInput: ``--inputs`` is not loadable without pickle, or its names do not match
            the model's inputs; or there are no ``--inputs`` and the model has no input signature.
    """
    path = os.path.join(task["reference_dir"], "inputs.npz")
    if os.path.exists(path):
        return read_npz(path), "the inputs made for the first loader"
    if task["inputs"]:
        x = match_inputs(read_npz(task["inputs"]), specs, task["inputs"])
        origin = "inputs from {}".format(os.path.basename(task["inputs"]))
    elif specs:
        x = seeded_inputs(specs, task["seed"])
        origin = "seeded inputs from the input signature (seed {}, None dimensions: batch {}, others {})".format(
            task["seed"], BATCH, LENGTH)
    else:
        raise BadInput("the model loaded here has no input signature to make inputs from "
                       "(a subclassed model saved before it was called?); give --inputs sample.npz")
    os.makedirs(task["reference_dir"], exist_ok=True)
    np.savez(path, **x)
    return x, origin


def read_npz(path):
    """{name: array} of an .npz file, without pickle (object arrays are refused).

    Raises:
        BadInput: unreadable, or holds arrays of Python objects.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            return dict((key, data[key]) for key in data.files)
    except (OSError, ValueError) as exc:
        raise BadInput("--inputs {}: cannot be read without pickle ({}); store strings as fixed-width "
                       "arrays, e.g. numpy.array(words, dtype=str)".format(path, exc))


def match_inputs(x, specs, path):
    """Check ``--inputs`` names against the model's; a single array feeds a single input whatever its name.

    Raises:
        BadInput: the names differ, or an array's shape (rank, fixed sizes) or kind (text vs numbers)
            does not fit its input: naming both.
    """
    if not specs:
        return x
    names = [name for name, _, _ in specs]
    given = dict((names[0], (key, value)) for key, value in x.items()) if len(x) == 1 and len(names) == 1 \
        else dict((key, (key, value)) for key, value in x.items())
    if set(given) != set(names):
        raise BadInput("--inputs {}: has arrays {}, the model's inputs are {}".format(
            path, ", ".join(sorted(x)) or "none", ", ".join(names)))
    for name, shape, dtype in specs:
        key, array = given[name]
        text = np.asarray(array).dtype.kind in "US"
        if (shape is not None and (np.ndim(array) != len(shape) or any(
                d is not None and d != a for d, a in zip(shape, np.shape(array))))) or text != (dtype == "string"):
            raise BadInput("--inputs {}: array {} is {} {}, but the model's input {} takes {} {}".format(
                path, key, tuple(np.shape(array)), np.asarray(array).dtype, name,
                tuple(shape) if shape is not None else "any shape", dtype))
    return dict((name, value) for name, (_, value) in given.items())


def seeded_inputs(specs, seed):
    """Random inputs for ``[(name, shape, dtype)]``: standard normal floats, integers in
    [0, INT_HIGH), booleans, and words for strings; None dimensions become BATCH (the
    first) or LENGTH. The same seed and specs give the same arrays on every numpy.

    Raises:
        BadInput: a dtype numpy cannot make (bfloat16, say).
    """
    rng = np.random.RandomState(seed)
    out = {}
    for name, shape, dtype in specs:
        dims = tuple((BATCH if i == 0 else LENGTH) if d is None else d for i, d in enumerate(shape))
        try:
            if dtype == "string":
                out[name] = WORDS[rng.randint(0, len(WORDS), size=dims)]
            elif dtype == "bool":
                out[name] = rng.randint(0, 2, size=dims).astype(bool)
            elif dtype.startswith(("int", "uint")):
                out[name] = rng.randint(0, INT_HIGH, size=dims).astype(dtype)
            else:
                out[name] = rng.standard_normal(dims).astype(dtype)
        except TypeError:
            raise BadInput("cannot make inputs of dtype {} for input {}; give --inputs sample.npz".format(dtype, name))
    return out


def reference_for(directory, loader):
    """The source loader whose outputs ``loader`` is compared with: the same loader, else one
    of its family, else any that recorded outputs; None when the source recorded none."""
    family = FAMILY[loader]
    order = [loader] + [name for name in FAMILY if name != loader and FAMILY[name] == family] + \
            [name for name in FAMILY if FAMILY[name] != family]
    return next((name for name in order if os.path.exists(os.path.join(directory, name, "reference.npz"))), None)
