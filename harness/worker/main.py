"""The worker: runs inside one environment and executes the cells of one phase.

Usage (by path, never installed): ``python harness/worker/main.py TASK.json``

The task file (JSON, written by ``harness.execute.supervisor``) names the phase
(``produce``, ``consume``, or ``check`` for a user's own file: see check.py),
the environment, the fixture files, where artifacts live, and the cells to run. For each cell the worker first writes
the cell id to the progress file, then appends exactly one JSON line to the
results file, flushed and fsynced, so that a crash or hang costs the
supervisor one cell and loses nothing already written.

Python 3.7 syntax; imports only the standard library, numpy and what the
environment's TF/Keras brings.
"""
import contextlib
import hashlib
import json
import os
import shutil
import sys
import time

import catalog
import changes
import check
import compare
import compat
import formats
import holds
import levels
import protocol
import recipes
from outcomes import CannotBuild, error_fields, guarded
from reference import load_reference, save_reference
from timing import Stopwatch

REFERENCE_BATCH = 8
# What the harness writes beside a saved model (not part of the artifact's hashed files).
HARNESS_FILES = ("manifest.json", "reference.npz", levels.STATE_FILE, levels.COMPILE_FILE)
EXIT_NO_GPU = 3  # a GPU environment whose TensorFlow sees no GPU: the supervisor makes it env-error
EXIT_BAD_TASK = 4  # a task file whose keys are not the protocol's


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_table(root):
    """{relative path: {"sha256", "bytes"}} for every file under ``root``."""
    table = {}
    for folder, _, names in os.walk(root):
        for name in sorted(names):
            full = os.path.join(folder, name)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            if rel in HARNESS_FILES:
                continue
            table[rel] = {"sha256": sha256_of(full), "bytes": os.path.getsize(full)}
    return table


def peak_rss_bytes():
    """This process's peak resident set size so far, in bytes (None where ``resource`` is missing).
    Linux's ``ru_maxrss`` is in KiB (getrusage(2))."""
    try:
        import resource
    except ImportError:
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class Results(object):
    """Appends one JSON line per cell to the results file, flushed and fsynced."""

    def __init__(self, path, progress_path, import_s=None, stop_path=None):
        self.handle = open(path, "a")
        self.progress_path = progress_path
        self.import_s = import_s  # seconds this process took to import TensorFlow/Keras
        self.stop_path = stop_path

    def stopped(self):
        """True when the supervisor asks this worker to stop before its next cell (it splits the cells
        left over more workers); the worker then ends as if it had run them all."""
        return bool(self.stop_path) and os.path.exists(self.stop_path)

    def start(self, cell):
        tmp = self.progress_path + ".tmp"
        with open(tmp, "w") as handle:
            json.dump({"cell": cell["id"], "started": time.time()}, handle)
        os.replace(tmp, self.progress_path)

    def write(self, record):
        record["worker_pid"] = os.getpid()
        record["worker_peak_rss_bytes"] = peak_rss_bytes()
        record["worker_import_s"] = self.import_s
        self.handle.write(json.dumps(record, sort_keys=True) + "\n")
        self.handle.flush()
        os.fsync(self.handle.fileno())


# --------------------------------------------------------------------- produce
def produce(task, runtime, results):
    recipes_cache = {}
    for cell in task["cells"]:
        if results.stopped():
            return
        results.start(cell)
        started = time.time()
        record = {"phase": "produce", "producer": task["env"], "fixture": cell["fixture"],
                  "format": cell["format"], "id": cell["id"], "device": runtime.device(), "key": cell.get("key")}
        watch = Stopwatch()
        record.update(produce_cell(task, runtime, cell, recipes_cache, watch))
        record["seconds"] = round(time.time() - started, 3)
        record["timings"] = watch.as_record()
        results.write(record)


def produce_cell(task, runtime, cell, cache, watch):
    fmt = cell["format"]
    reason = runtime.cannot_write(fmt)
    if reason:
        return {"verdict": "unsupported", "reason": reason}
    try:
        recipe = recipes.load_recipe(task["fixtures"][cell["fixture"]])
        reason = recipes.cannot_build(recipe, runtime)
        if reason:
            return {"verdict": "unsupported", "reason": reason}
        if cell["fixture"] not in cache:
            with watch.step("build"):
                model, step, next_weights, note = levels.trained_model(recipe, runtime, task["seed"])
                x = recipes.inputs(recipe, task["seed"] + 3, REFERENCE_BATCH)
                cache[cell["fixture"]] = (model, x, model.predict(runtime.feed(x), verbose=0), step, next_weights,
                                          note)
                cache[cell["fixture"], "holds"] = holds.holds_of_model(model)
    except Exception as exc:  # the fixture itself failed to build or train here
        out = {"verdict": "save-error", "stage": "build"}
        out.update(error_fields(exc))
        return out
    with watch.step("save"):
        out = save_artifact(task, runtime, cell, cache[cell["fixture"]], cache[cell["fixture"], "holds"])
    # What the model's config holds (holds.py), whether or not this format saved: layers: entries match by it.
    out["holds"] = cache[cell["fixture"], "holds"]
    return out


def save_artifact(task, runtime, cell, trained, held):
    """Save a trained fixture (``trained``: model, inputs, outputs, step, next weights, note) in the
    cell's format, with its reference outputs, state and manifest (``held``: what its config holds,
    ``holds.holds_of_model``); returns the record's fields."""
    fmt = cell["format"]
    model, x, outputs, step, next_weights, note = trained
    directory = os.path.join(task["artifacts_dir"], task["env"], cell["fixture"], fmt)
    if os.path.exists(directory):  # left half-written by a worker that died here
        shutil.rmtree(directory)
    os.makedirs(directory)
    try:
        path = formats.save(runtime, model, fmt, directory)
    except Exception as exc:
        out = {"verdict": "save-error", "stage": "save"}
        out.update(error_fields(exc))
        return out
    save_reference(directory, x, outputs)
    levels.record_state(directory, model, step, next_weights, note)
    specs = runtime.input_specs(model) or []
    manifest = {
        "output_names": compare.output_names(outputs, model), "input_names": [spec[0] for spec in specs],
        "producer": task["env"], "fixture": cell["fixture"], "format": fmt,
        "path": os.path.relpath(path, directory), "container": compat.container_of(path),
        "files": file_table(directory), "facts": runtime.facts(), "holds": held,
    }
    with open(os.path.join(directory, "manifest.json"), "w") as handle:
        json.dump(manifest, handle, indent=1, sort_keys=True)
    written = None
    if fmt == "keras" and manifest["container"] != "zip":
        written = "asked for .keras, Keras {} wrote {}".format(runtime.version, manifest["container"])
    return {"verdict": "saved", "container": manifest["container"], "note": written, "training_note": note,
            "bytes": sum(f["bytes"] for f in manifest["files"].values())}


# --------------------------------------------------------------------- consume
def consume(task, runtime, results):
    for cell in task["cells"]:
        if results.stopped():
            return
        results.start(cell)
        started = time.time()
        record = {"phase": "consume", "consumer": task["env"], "producer": cell["producer"],
                  "fixture": cell["fixture"], "format": cell["format"], "loader": cell["loader"],
                  "artifact": cell["artifact"], "id": cell["id"], "atol": cell["atol"], "rtol": cell["rtol"],
                  "device": runtime.device(), "key": cell.get("key")}
        watch = Stopwatch()
        record.update(consume_cell(task, runtime, cell, watch))
        record["holds"] = manifest_holds(cell["directory"])
        record["seconds"] = round(time.time() - started, 3)
        record["timings"] = watch.as_record()
        results.write(record)


def manifest_holds(directory):
    """What the producer recorded its model holds (``holds.py``), from the artifact's manifest; None where the
    manifest records none (an artifact saved before it did) or cannot be read (the cell's record says why)."""
    try:
        with open(os.path.join(directory, "manifest.json")) as handle:
            return json.load(handle).get("holds")
    except (OSError, ValueError, AttributeError):
        return None


def consume_cell(task, runtime, cell, watch):
    directory = cell["directory"]
    with open(os.path.join(directory, "manifest.json")) as handle:
        manifest = json.load(handle)
    with watch.step("verify"):
        corrupt = [rel for rel, entry in sorted(manifest["files"].items())
                   if sha256_of(os.path.join(directory, rel)) != entry["sha256"]]
    if corrupt:
        return {"verdict": "load-error", "error_type": "CorruptArtifact",
                "error_message": "{} does not match the SHA-256 in its manifest".format(corrupt[0])}
    path = os.path.join(directory, manifest["path"])
    fresh_seed = task["seed"] + recipes.FRESH_SEED_OFFSET
    recipe, failure = guarded(lambda: recipes.load_recipe(task["fixtures"][cell["fixture"]]))
    if failure:
        return failure
    reason = recipes.wrong_backend(recipe, runtime)
    if reason:  # no loader can give this backend the layers (a model with them cannot apply here)
        return {"verdict": "unsupported", "reason": reason}
    custom, failure = guarded(lambda: recipes.custom_objects(recipe, runtime))
    if failure:
        return failure

    def rebuild():
        reason = recipes.cannot_build(recipe, runtime)
        if reason:
            raise CannotBuild(reason)
        return recipes.build(recipe, runtime, fresh_seed)

    x, expected = load_reference(directory)
    # The control, and a model built from the fixture's code that a weights file was read into, are our
    # own builds, not a user's load of a model: they predict without tracing a function. What such a
    # cell asks is whether the weights came back, and tracing cannot fail on the values of weights
    # (the code's model is traced in this environment's own produce phase, which predicts and saves it).
    control = cell["loader"] == catalog.CONTROL_LOADER
    from_code = control or cell["loader"] in catalog.FROM_CODE_LOADERS

    def judge(loaded, timed=True):
        """Predict and compare: (the outputs' verdict fields, None), or (None, a load-error at predict);
        timed as the ``predict`` and ``compare`` steps, unless a change's (timed whole as ``changes``)."""
        step = watch.step if timed else (lambda name: contextlib.nullcontext())
        with step("predict"), (runtime.eagerly(loaded) if from_code else contextlib.nullcontext()):
            actual, failure = formats.predict(runtime, loaded, x, manifest.get("output_names"))
        if failure:
            return None, failure
        with step("compare"):
            result = compare.compare_outputs(expected, actual, cell["atol"], cell["rtol"])
        return {"verdict": "pass" if result["within"] else "mismatch", "max_abs": result["max_abs"],
                "max_rel": result["max_rel"], "margin": result["margin"], "reason": result["reason"]}, None

    if control:  # the negative control: same architecture, fresh weights
        with watch.step("control"):
            loaded, failure = guarded(rebuild)
        record, failure = (None, failure) if failure else judge(loaded)
        return failure or record
    reason = runtime.cannot_read(cell["format"], cell["loader"], manifest["container"])
    if reason:
        return {"verdict": "unsupported", "reason": reason}

    # A load that reads weights into a model made first: the values of its variables before the read.
    before = {} if cell["loader"] in catalog.WEIGHTS_LOADERS else None

    def load(call):
        return formats.load(runtime, cell["format"], cell["loader"], path, rebuild, custom, call=call,
                            input_order=manifest.get("input_names"), before=before)

    with watch.step("load"):  # the call as users write it, with its default arguments
        loaded, failure = guarded(lambda: load({}))
    record = None
    if failure is None:
        record, failure = judge(loaded)
    if failure is None and before is not None:  # every variable must have been assigned, whatever the outputs
        record = formats.with_assignment(record, *formats.assignment(before, loaded))
        if record["verdict"] == protocol.LOAD_ERROR:
            return record
    compile_failure = None
    if failure:
        if failure["verdict"] != "load-error":
            return failure
        with watch.step("changes"):
            change, loaded, outcome, tries = changes.first_working(runtime, cell["loader"], {}, load,
                                                                   lambda loaded: judge(loaded, timed=False))
        if not tries:
            return failure
        record = changes.with_changes(failure, change, outcome, tries)
        if change is None:
            return record
        # The deeper levels of the load that worked; where it did not compile, the compile level is the
        # call's failure (a file that cannot be loaded compiled cannot train on).
        compile_failure = failure if ("compile", False) in change.kwargs else None
    try:
        with watch.step("levels"):
            record["levels"] = levels.check_levels(runtime, loaded, cell, directory, compile_failure)
    except Exception as exc:  # the outputs verdict stands; say why the deeper levels are missing
        record["levels_error"] = error_fields(exc)["error_message"]
    return record


def main(argv):
    with open(argv[1]) as handle:
        task = json.load(handle)
    problem = protocol.task_problem(task)
    if problem:  # a host and a worker of different commits: the supervisor reports the log's last line
        sys.stderr.write("{}: {} (harness/worker/protocol.py)\n".format(argv[1], problem))
        return EXIT_BAD_TASK
    started = time.perf_counter()
    runtime = compat.KerasRuntime()
    import_s = round(time.perf_counter() - started, 3)
    facts = runtime.facts()
    with open(task["facts_path"], "w") as handle:
        json.dump(facts, handle, indent=1, sort_keys=True)
    if task.get("device") == "gpu" and facts["device"] != "gpu":
        sys.stderr.write("asked for a GPU, but TensorFlow {} sees none (tf.config.list_physical_devices('GPU') "
                         "is empty)\n".format(facts["tensorflow"]))
        return EXIT_NO_GPU
    results = Results(task["results_path"], task["progress_path"], import_s, task.get("stop_path"))
    {"produce": produce, "consume": consume, "check": check.run}[task["phase"]](task, runtime, results)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
