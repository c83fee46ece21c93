"""The formats the harness saves and the loaders that read them: one table for the host and the worker.

Read by the host (``harness.config.spec``: the formats matrix.yaml may name; ``harness.execute.plan``: the report's
columns; the JSON Schema's enums agree, tests/unit/test_catalog.py) and by the worker (``formats.py``
saves and loads, ``levels.py``, ``check.py``, ``compat.py``), so it is standard library only and
Python 3.7 syntax. Adding a format or a loader: a row here, its save or load code in ``formats.py``,
the schema's enums and the docs. A loader's row names the call users write and the changes to it
that the worker tries when that call fails (``changes.py``).
"""
from collections import namedtuple

# A format: its name (matrix.yaml's ``formats``), the file or folder it writes below the artifact's
# directory, the loaders that read it (the report's columns, in order), and whether it is a full
# model (architecture, weights and compile state in one file: the check levels compare compile state).
Format = namedtuple("Format", "name file loaders full_model")
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
    Format("h5", "model.h5", ("load_model",), True),
    Format("keras", "model.keras", ("load_model",), True),
    Format("savedmodel", "savedmodel", ("load_model", "TFSMLayer", "tf.saved_model.load"), True),
    Format("tf_saved_model", "tf_saved_model", ("tf.saved_model.load", "TFSMLayer", "load_model"), False),
    Format("export", "export", ("tf.saved_model.load", "TFSMLayer"), False),
    Format("weights_h5", "weights.h5", WEIGHTS_FILE_LOADERS, False),
    Format("weights.h5", "model.weights.h5", WEIGHTS_FILE_LOADERS, False),
    Format("checkpoint", "checkpoint/ckpt", ("Checkpoint.read",), False),
    Format("json", "model.json", ("model_from_json",), False),
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
