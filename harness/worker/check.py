"""The check phase: load one user's model file with every loader, in one environment.

Runs inside the environment under test (Python 3.7 syntax; standard library, numpy
and the environment's TF/Keras). The task (written by ``harness/check/steps.py``) names
the file, its format and container, the optional architecture JSON, inputs .npz and
custom-objects file, safe_mode, and the reference directory shared by all
environments of the check:

    <reference_dir>/inputs.npz               the inputs, keyed by input name
    <reference_dir>/<loader>/reference.npz   the source's inputs and outputs with that loader

A cell is one loader. In the source environment (role ``reference``) it loads the
file, makes the inputs once (from ``--inputs``, or seeded from the model's input
signature, drawn over its tables: see ``input_domain``) and records the outputs (or, with
``--expected``, checks them against the user's and records those): verdict ``reference``;
then the loaded object with seeded noise on its variables must give other outputs (the
negative control, ``perturbed_control``). In a target (role
``target``) it loads the file, predicts on the same inputs and compares with the
source's outputs of the same loader, else of a loader of the same family (Keras
model or serving signature, which give outputs of the same structure), else of any.
"""
import os
import time

import numpy as np

import changes
import compare
import formats
import recipes
import user_code
from catalog import FAMILY
from draws import (BATCH, INT_HIGH, LENGTH, OOV_WORD, WORDS, BadInput, described, drawn,  # noqa: F401
                   input_domain, seeded_inputs)
from outcomes import error_fields, guarded
from reference import load_reference, save_reference

NOISE_FLOOR = 0.1  # the least noise (standard deviation) added to a variable of zeros or tiny values


def run(task, runtime, results):
    """Run the task's cells (one per loader), writing one record each to ``results``."""
    if not task["safe_mode"]:
        runtime.allow_unsafe_deserialization()
    custom, custom_failure = guarded(lambda: user_code.custom_objects(task["custom_objects"], runtime))
    if custom_failure:
        custom_failure.update(stage="custom_objects", reason="--custom-objects {} failed here".format(
            os.path.basename(task["custom_objects"])))
    build, build_failure = None, None
    if task["build"] and not custom_failure:
        build, build_failure = guarded(lambda: user_code.build_function(task["build"]))
        if build_failure:
            build_failure = built_wrong(task, build_failure, "importing it")
    for cell in task["cells"]:
        results.start(cell)
        started = time.time()
        record = {"phase": "check", "id": cell["id"], "role": cell["role"], "consumer": task["env"],
                  "producer": cell["producer"], "fixture": cell["fixture"], "format": cell["format"],
                  "loader": cell["loader"], "atol": cell["atol"], "rtol": cell["rtol"], "device": runtime.device(),
                  "safe_mode": runtime.safe_mode_guard(cell["format"], cell["loader"], task["container"],
                                                       task["safe_mode"])}
        record.update(custom_failure or build_failure or check_cell(task, runtime, cell, custom, build))
        record["seconds"] = round(time.time() - started, 3)
        results.write(record)


def built_wrong(task, failure, doing):
    """A ``load-error`` of the user's ``--build`` code turned into its own verdict, ``build-error``."""
    return dict(failure, verdict="build-error", stage="build", reason="--build {}: {} raised here: the code does not "
                "run in this Keras, so the weights were not loaded".format(task["build"]["text"], doing))


def check_cell(task, runtime, cell, custom, build=None):
    """One loader in this environment: the verdict fields of its record. ``build`` is the user's
    ``--build`` function (``user_code.build_function``), which rebuilds the model for ``load_weights``."""
    reason = runtime.cannot_read(cell["format"], cell["loader"], task["container"])
    if reason:
        return {"verdict": "unsupported", "reason": reason}
    source_loader = reference_for(task["reference_dir"], cell["loader"]) if cell["role"] == "target" else None
    if cell["role"] == "target" and source_loader is None:
        return {"verdict": "skipped", "reason": "no reference outputs: the source environment {} did not load "
                "the file and predict (see its rows)".format(cell["producer"])}

    if build is not None:
        built, failure = guarded(lambda: user_code.build_model(build, task["build"]["text"]))
        if failure:
            return built_wrong(task, failure, "calling it")

    def rebuild():
        if build is not None:
            return built
        with open(task["architecture"]) as handle:
            return runtime.model_from_json(handle.read(), custom)

    call = user_call(task)

    def load(kwargs):
        return formats.load(runtime, cell["format"], cell["loader"], task["path"], rebuild, custom, call=kwargs)

    if cell["role"] == "reference":
        def judge(loaded):
            record = record_reference(task, runtime, cell, loaded)
            return (None, record) if record["verdict"] == "load-error" else (record, None)
        done = "reference"
    else:
        x, expected = load_reference(os.path.join(task["reference_dir"], source_loader))

        def judge(loaded):
            actual, failure = formats.predict(runtime, loaded, target_feed(task, runtime, loaded, x),
                                              _output_names(loaded))
            if failure:
                return None, failure
            result = compare.compare_outputs(expected, actual, cell["atol"], cell["rtol"])
            return {"verdict": "pass" if result["within"] else "mismatch", "max_abs": result["max_abs"],
                    "max_rel": result["max_rel"], "margin": result["margin"], "reason": result["reason"],
                    "reference": source_loader}, None
        done = "pass"

    loaded, failure = guarded(lambda: load(call))  # the call as the user writes it
    outcome = None
    if failure is None:
        outcome, failure = judge(loaded)
    if failure is None or failure["verdict"] != "load-error":
        return failure or outcome
    change, _, worked, tries = changes.first_working(runtime, cell["loader"], call, load, judge, done, unsafe=False)
    if not tries:
        return failure
    if change is not None and cell["role"] == "reference":  # the reference is the change's; its row says so
        return dict(worked, workarounds=tries, works_with=change.name, unsafe_change=change.unsafe,
                    error_type=failure.get("error_type"), error_message=failure.get("error_message"),
                    error_text=failure.get("error_text"))
    return dict(changes.with_changes(failure, change, worked, tries), reference=source_loader)


def user_call(task):
    """The keyword arguments of the user's load_model call: ``--call``'s (the task's ``call``), and
    ``safe_mode=False`` under ``--unsafe``; {} for Keras's defaults."""
    call = dict(task.get("call") or {})
    if not task["safe_mode"]:
        call["safe_mode"] = False
    return call


def _feed(x):
    """The check's inputs as ``predict`` takes them: the array itself for a single input, else the dict."""
    return next(iter(x.values())) if len(x) == 1 else x


def target_feed(task, runtime, loaded, x):
    """The source's inputs ``x`` as a target's model takes them: by name where it names its inputs as the
    source's model did; where only the names differ, a list in the source's input order (the order of
    ``inputs.npz``). A model built by code names its unnamed ``Input``s after its Keras: ``input_1``,
    ``input_2`` in Keras 2, ``input_layer``, ``input_layer_1`` in Keras 3, and the user's code feeds
    them by position."""
    names = [name for name, _, _ in formats.input_specs(runtime, loaded) or []]
    if not isinstance(x, dict) or len(x) < 2 or not names or set(names) == set(x) or len(names) != len(x):
        return _feed(x)
    with np.load(os.path.join(task["reference_dir"], "inputs.npz"), allow_pickle=False) as data:
        order = list(data.files)
    return [x[name] for name in order] if set(order) == set(x) else _feed(x)


def _output_names(loaded):
    """A Keras model's output names (they order a dict of outputs), or None."""
    return list(getattr(loaded, "output_names", None) or []) or None


def record_reference(task, runtime, cell, loaded):
    """In the source: make (or reuse) the inputs, predict, and save the reference for this loader.

    With ``--expected`` (the user's known-right outputs) the reference saved is those outputs,
    and this loader's own outputs must match them (verdict ``reference``), else the source
    loads the file wrongly (verdict ``mismatch``): targets are still compared with the truth.
    """
    try:
        x, origin = reference_inputs(task, formats.input_specs(runtime, loaded), loaded)
        truth = read_expected(task.get("expected"), _output_names(loaded))
    except BadInput as exc:
        return {"verdict": "bad-input", "reason": str(exc)}
    outputs, failure = formats.predict(runtime, loaded, _feed(x), _output_names(loaded))
    if failure and not task["inputs"]:  # the inputs were drawn here: no verdict on the file
        return dict(failure, verdict="drawn-inputs-failed", inputs=described(x), reason=(
            "it loaded, but predicting on the inputs drawn for it failed ({}); give --inputs with inputs your "
            "model takes".format("; ".join(drawn(x)))))
    if failure:
        return failure
    record = {"verdict": "reference", "reason": origin, "inputs": described(x),
              "outputs": [list(y.shape) for y in outputs]}
    if truth is not None:
        result = compare.compare_outputs(truth, outputs, cell["atol"], cell["rtol"])
        record.update(max_abs=result["max_abs"], max_rel=result["max_rel"], margin=result["margin"])
        if not result["within"]:
            record.update(verdict="mismatch", reason="the source's outputs differ from --expected {}{}".format(
                os.path.basename(task["expected"]), ": " + result["reason"] if result["reason"] else ""))
        outputs = truth
    directory = os.path.join(task["reference_dir"], cell["loader"])
    os.makedirs(directory, exist_ok=True)
    save_reference(directory, x, outputs)
    record["scale"] = max([float(np.max(np.abs(y))) for y in outputs if y.size] or [0.0])
    record["control"] = perturbed_control(runtime, cell, loaded, x, outputs, task["seed"] + recipes.FRESH_SEED_OFFSET)
    return record


def perturbed_control(runtime, cell, loaded, x, expected, seed):
    """The negative control: the loaded object itself with seeded noise added to every float
    variable it predicts with must not match the reference, or a target's pass could not tell
    restored weights from lost ones (as with a model whose outputs do not depend on its weights).

    Works for every loader (a Keras model, a ``TFSMLayer``, a ``tf.saved_model.load`` object:
    see ``formats.variables_of``). Each variable gets noise of its own magnitude (its root mean
    square, at least ``NOISE_FLOOR``); a variable whose values are all positive (a variance, a
    scale) is multiplied by ``exp(noise)`` instead, so it stays positive. The original values
    are assigned back afterwards.

    Returns:
        {"verdict": "mismatch" (as it must be) or "pass" (vacuous), "max_abs", "max_rel",
        "variables": how many were perturbed}, or {"verdict": "not-run", "reason"} when the
        object has no float variable, or perturbing or predicting failed.
    """
    rng = np.random.RandomState(seed)
    originals = []
    try:
        for variable in formats.variables_of(loaded):
            values = np.array(variable.numpy())
            if values.dtype.kind != "f" or values.size == 0:
                continue  # integer counters, seed states, string tables
            originals.append((variable, values))
            variable.assign(perturbed(values, rng))
        if not originals:
            return {"verdict": "not-run", "reason": "{} gives an object with no float variables to perturb, so its "
                    "outputs do not depend on weights here".format(cell["loader"])}
        actual, failure = formats.predict(runtime, loaded, _feed(x), _output_names(loaded))
    except Exception as exc:
        failure = error_fields(exc)
    finally:
        for variable, values in originals:
            variable.assign(values)
    if failure:
        return {"verdict": "not-run", "reason": "perturbing the variables or predicting failed: {}: {}".format(
            failure["error_type"], failure["error_message"])}
    result = compare.compare_outputs(expected, actual, cell["atol"], cell["rtol"])
    return {"verdict": "pass" if result["within"] else "mismatch", "max_abs": result["max_abs"],
            "max_rel": result["max_rel"], "variables": len(originals)}


def perturbed(values, rng):
    """``values`` (a float array) plus seeded noise of their own magnitude, in their dtype
    (all-positive values are scaled by ``exp(noise)`` instead, so they stay positive)."""
    noise = rng.standard_normal(values.shape)
    if np.all(values > 0):
        return (values * np.exp(noise)).astype(values.dtype)
    scale = max(float(np.sqrt(np.mean(np.square(values, dtype=np.float64)))), NOISE_FLOOR)
    return (values + scale * noise).astype(values.dtype)


def read_expected(path, names):
    """``--expected``'s outputs as a list of float64 arrays (a dict of outputs ordered by the model's
    ``names`` where its keys are those, else as ``compare.as_output_list`` orders keys), or None.

    Raises:
        BadInput: unreadable without pickle.
    """
    if not path:
        return None
    arrays = read_npz(path, "--expected")
    return compare.as_output_list(next(iter(arrays.values())) if len(arrays) == 1 else arrays, names)


def reference_inputs(task, specs, loaded=None):
    """The check's inputs as {name: array}, and a sentence saying where they came from.

    Made by the first loader that gets here and kept in ``inputs.npz``, so every loader
    and environment predicts on the same arrays. Seeded inputs are drawn from what the
    loaded model's layers accept (see :func:`input_domain`).

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
        domain = input_domain(loaded)
        x = seeded_inputs(specs, task["seed"], domain)
        kinds = set("string" if dtype == "string" else "int" if dtype.startswith(("int", "uint")) else ""
                    for _, _, dtype in specs)
        why = [domain["why"][kind] for kind in ("int", "string") if kind in kinds and domain["why"].get(kind)]
        why += ["{} {}: integers in [0, {}), as it feeds {}".format(
            specs[position][0], specs[position][2], high, layer) for position, (high, layer) in
            sorted(domain.get("index", {}).items()) if position < len(specs)]
        origin = "seeded inputs from the input signature (seed {}, None dimensions: batch {}, others {}{})".format(
            task["seed"], BATCH, LENGTH, "".join("; " + part for part in why))
    else:
        raise BadInput("the model loaded here has no input signature to make inputs from "
                       "(a subclassed model saved before it was called?); give --inputs sample.npz")
    os.makedirs(task["reference_dir"], exist_ok=True)
    np.savez(path, **x)
    return x, origin


def read_npz(path, option="--inputs"):
    """{name: array} of an .npz file, without pickle (object arrays are refused).

    Raises:
        BadInput: unreadable, or holds arrays of Python objects (``option`` names the file's option).
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            return dict((key, data[key]) for key in data.files)
    except (OSError, ValueError) as exc:
        raise BadInput("{} {}: cannot be read without pickle ({}); store strings as fixed-width "
                       "arrays, e.g. numpy.array(words, dtype=str)".format(option, path, exc)) from None


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
    return dict((name, given[name][1]) for name, _, _ in specs)  # in the model's input order


def reference_for(directory, loader):
    """The source loader whose outputs ``loader`` is compared with: the same loader, else one
    of its family, else any that recorded outputs; None when the source recorded none."""
    family = FAMILY[loader]
    order = [loader] + [name for name in FAMILY if name != loader and FAMILY[name] == family] + \
            [name for name in FAMILY if FAMILY[name] != family]
    return next((name for name in order if os.path.exists(os.path.join(directory, name, "reference.npz"))), None)
