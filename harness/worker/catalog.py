"""The formats the harness saves and the loaders that read them: one table for the host and the worker.

Read by the host (``harness.config.spec``: the formats matrix.yaml may name; ``harness.execute.plan``: the report's
columns; the JSON Schema's enums agree, tests/unit/test_catalog.py) and by the worker (``formats.py``
saves and loads, ``levels.py``, ``check.py``, ``compat.py``), so it is standard library only and
Python 3.7 syntax. Adding a format or a loader: a row here, its save or load code in ``formats.py``,
the schema's enums and the docs. Renaming a format: its old name into the row's ``old_names`` (and the
schema's enums), so that everything recorded under it still reads: every reader of a format's name from
outside (matrix.yaml, ``--formats``, records, results.json, caches, goldens) goes through
:func:`format_name` and :func:`current_names`, and refuses what is no format with :func:`format_problem`.
A loader's row names the call users write and the changes to it that the worker tries when that call
fails (``changes.py``).
"""
from collections import namedtuple

# A format: its name (matrix.yaml's ``formats``), the file or folder it writes below the artifact's
# directory, the loaders that read it (the report's columns, in order), whether it is a full
# model (architecture, weights and compile state in one file: the check levels compare compile state),
# the call that saves it as users write it (the reports' legend), and the names it had before (still
# read wherever a name comes in: :data:`FORMAT_ALIASES`).
Format = namedtuple("Format", "name file loaders full_model saved_with old_names")
# A loader: its name (a report column), its family, whether it needs the TensorFlow package, the call
# as users write it (with its default arguments: the verdict of a cell is this call's), and the changes
# a user can make to that call when it fails (each tried as its own real load: see ``changes.py``).
# ``keras``: it gives a Keras model, whose outputs are a list of arrays; ``signature``: a serving
# signature, whose outputs are a dict (outputs compare within a family).
Loader = namedtuple("Loader", "name family needs_tf call changes")
KERAS_MODEL, SIGNATURE = "keras", "signature"
# A change to a loader's call: its name as the reports print it (``works with: compile=False``), the
# keyword arguments it gives the call, and whether it is unsafe (it lets code stored in the file run:
# named so in every report, never offered as a fix on its own).
Change = namedtuple("Change", "name kwargs unsafe")
COMPILE_FALSE = Change("compile=False", (("compile", False),), False)
SAFE_MODE_FALSE = Change("safe_mode=False", (("safe_mode", False),), True)
BOTH = Change("compile=False, safe_mode=False", (("compile", False), ("safe_mode", False)), True)

LOADER_TABLE = (
    # load_model compiles where the file holds a compile config (compile=True), and has safe_mode on
    # where it takes one (Keras 2.13+, tf_keras, Keras 3): the Keras 2 and 3 signatures' defaults.
    Loader("load_model", KERAS_MODEL, False, "keras.models.load_model(path)", (COMPILE_FALSE, SAFE_MODE_FALSE, BOTH)),
    Loader("load_weights", KERAS_MODEL, False, "model.load_weights(path)", ()),
    # The loads people use to move weights between architectures, here into the same one: every variable
    # must still be assigned (keras-team/keras#21676, #19694). Which Keras takes which: compat.cannot_read.
    Loader("load_weights_by_name", KERAS_MODEL, False, "model.load_weights(path, by_name=True)", ()),
    Loader("load_weights_skip_mismatch", KERAS_MODEL, False, "model.load_weights(path, skip_mismatch=True)", ()),
    Loader("model_from_json", KERAS_MODEL, False, "keras.models.model_from_json(text); model.load_weights(path)",
           ()),
    Loader("Checkpoint.read", KERAS_MODEL, True, "tf.train.Checkpoint(model=model).read(path)", ()),
    Loader("tf.saved_model.load", SIGNATURE, True, "tf.saved_model.load(path).signatures['serving_default']", ()),
    # keras.layers.TFSMLayer wraps tf.saved_model.load
    Loader("TFSMLayer", SIGNATURE, True, "keras.layers.TFSMLayer(path, call_endpoint='serving_default')", ()),
)
# The calls that read a weights file into the model built from code, and the keyword arguments each adds.
LOAD_WEIGHTS_KWARGS = {"load_weights": {}, "load_weights_by_name": {"by_name": True},
                       "load_weights_skip_mismatch": {"skip_mismatch": True}}
WEIGHTS_FILE_LOADERS = ("load_weights", "load_weights_by_name", "load_weights_skip_mismatch")
FORMAT_TABLE = (
    Format("h5", "model.h5", ("load_model",), True, 'model.save("model.h5")', ()),
    Format("keras", "model.keras", ("load_model",), True, 'model.save("model.keras")', ()),
    Format("savedmodel", "savedmodel", ("load_model", "TFSMLayer", "tf.saved_model.load"), True,
           'model.save(dir, save_format="tf")', ()),
    Format("tf_saved_model", "tf_saved_model", ("tf.saved_model.load", "TFSMLayer", "load_model"), False,
           "tf.saved_model.save(model, dir)", ()),
    Format("export", "export", ("tf.saved_model.load", "TFSMLayer"), False, "model.export(dir)", ()),
    # Weights only, in the two layouts Keras reads by the file's name (keras/src/saving/saving_api.py,
    # load_weights): "legacy H5 format files (`.h5` extension)", the h5 format's weights
    # (legacy_h5_format.save_weights_to_hdf5_group), and "`.weights.h5` files", the keras format's
    # weights (saving_lib.save_weights_only, the model.weights.h5 inside a .keras; Keras 2.13+).
    # Named weights_h5 and weights.h5 until 2026-12-07: a run's records, goldens and matrix.yaml of then.
    Format("h5_weights", "weights.h5", WEIGHTS_FILE_LOADERS, False, 'model.save_weights("weights.h5")',
           ("weights_h5",)),
    Format("keras_weights", "model.weights.h5", WEIGHTS_FILE_LOADERS, False, 'model.save_weights("model.weights.h5")',
           ("weights.h5",)),
    Format("checkpoint", "checkpoint/ckpt", ("Checkpoint.read",), False,
           "tf.train.Checkpoint(model=model).write(prefix)", ()),
    Format("json", "model.json", ("model_from_json",), False,
           'model.to_json(), and model.save_weights("model.weights.h5")', ()),
)
# The loaders that build the model from the fixture's code and read only its weights into it.
FROM_CODE_LOADERS = WEIGHTS_FILE_LOADERS + ("Checkpoint.read",)
# The loaders that make a model first and then read weights into it: the worker counts the variables each
# load assigned, and one that left any as they were built fails (formats.assignment).
WEIGHTS_LOADERS = FROM_CODE_LOADERS + ("model_from_json",)
# The negative control's pseudo format and loader: the same architecture with fresh weights.
CONTROL_FORMAT, CONTROL_LOADER = "negative-control", "rebuild"

# Views of the tables above, by the names their readers use.
FORMATS = tuple(f.name for f in FORMAT_TABLE)
FORMAT_ALIASES = dict((old, f.name) for f in FORMAT_TABLE for old in f.old_names)  # {old name: its name now}
SAVED_WITH = dict((f.name, f.saved_with) for f in FORMAT_TABLE)  # {format: the call that saves it}
LOADERS = dict((f.name, f.loaders) for f in FORMAT_TABLE)  # {format: its loaders}
FILES = dict((f.name, f.file) for f in FORMAT_TABLE)  # {format: the file or folder it writes}
FULL_MODEL_FORMATS = tuple(f.name for f in FORMAT_TABLE if f.full_model)
FAMILY = dict((loader.name, loader.family) for loader in LOADER_TABLE)  # {loader: its family}
KERAS_MODEL_LOADERS = tuple(loader.name for loader in LOADER_TABLE if loader.family == KERAS_MODEL)
SIGNATURE_LOADERS = tuple(loader.name for loader in LOADER_TABLE if loader.family == SIGNATURE)
NEEDS_TF = tuple(loader.name for loader in LOADER_TABLE if loader.needs_tf)
CALLS = dict((loader.name, loader.call) for loader in LOADER_TABLE)  # {loader: the call as users write it}
CHANGES = dict((loader.name, loader.changes) for loader in LOADER_TABLE)  # {loader: the changes tried}
CHANGE_NAMES = tuple(dict.fromkeys(c.name for loader in LOADER_TABLE for c in loader.changes))
UNSAFE_CHANGES = tuple(dict.fromkeys(c.name for loader in LOADER_TABLE for c in loader.changes if c.unsafe))
# The formats that are a TF SavedModel: those a serving-signature loader reads.
SAVED_MODEL_FORMATS = tuple(f.name for f in FORMAT_TABLE if set(f.loaders) & set(SIGNATURE_LOADERS))


def format_name(name):
    """The name a format has now: ``name`` itself, or the format an old name (:data:`FORMAT_ALIASES`:
    ``weights_h5`` is ``h5_weights``) stands for. Any other value comes back as it is, for its reader to
    refuse (a str in, a str out; no error raised here)."""
    return FORMAT_ALIASES.get(name, name) if isinstance(name, str) else name


def current_names(record):
    """A record (a dict of a matrix phase's JSON lines, a results.json cell) with the names of its format
    now: ``format`` and ``artifact`` through :func:`format_name`, and the format's part of its ``id``
    (``producer/fixture/format`` or ``producer>consumer/fixture/format/loader``) with them; the same
    dict where nothing has an old name, else a changed copy (the record itself is left as it is)."""
    old = record.get("format")
    if format_name(old) == old and format_name(record.get("artifact")) == record.get("artifact"):
        return record
    out = dict(record, format=format_name(old))
    if "artifact" in record:
        out["artifact"] = format_name(record["artifact"])
    parts = record.get("id").split("/") if isinstance(record.get("id"), str) else []
    if len(parts) in (3, 4) and parts[2] == old:
        out["id"] = "/".join(parts[:2] + [format_name(old)] + parts[3:])
    return out


def format_problem(name):
    """The one line that refuses a record's format ``name`` (any value): ``format 'x' is none of h5,
    keras, ... (nor their old names weights_h5, weights.h5)``; None for a format of this table, an old
    name of one, or the negative control's."""
    if format_name(name) in FORMATS + (CONTROL_FORMAT,):
        return None
    known = "{} (nor their old names {})".format(", ".join(FORMATS), ", ".join(FORMAT_ALIASES))
    if name is None:
        return "no format: a record names one of " + known
    shown = repr(name) if len(repr(name)) <= 60 else repr(name)[:57] + "..."
    return "format {} is none of {}".format(shown, known)
