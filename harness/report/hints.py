"""Known failure signatures and what a user can do about each.

One data table, matched in order against ``"ErrorType: message"``; the first
pattern that matches gives the hint. Add a row when a real run shows a new
signature. Sources are the runs recorded in tests/ and the Keras release notes.
"""
from __future__ import annotations

import re

# safe_mode refusing code stored in the file; Keras 2.13+ and Keras 3 both name the switch in the message.
SAFE_MODE_BLOCK = r"`safe_mode=False`"

HINTS: tuple[tuple[str, str], ...] = (
    (SAFE_MODE_BLOCK,
     "Blocked by safe_mode: the file holds Python code (a Lambda layer's bytecode) that would run on load. If "
     "you trust the file, rerun with --unsafe (load_model(..., safe_mode=False)); better, replace the Lambda "
     "with a registered custom layer."),
    (r"Full object config: \{'module': 'keras\.src\.models\.",
     "Written by Keras 3 (its .keras config names keras.src.models classes), which Keras 2 and tf_keras cannot "
     "import. Load it with Keras 3, or re-save it from Keras 3 as .h5."),
    (r"Full object config: \{'module': 'keras\.src\.engine\.",
     "Written by Keras 2.13 to 2.15 (its .keras config names keras.src.engine classes), which Keras 3 cannot "
     "import. Re-save it as .h5 in the producer, or load it with tf_keras (TF_USE_LEGACY_KERAS=1)."),
    (r"Full object config: \{'module': 'tf_keras\.",
     "Written by tf_keras (legacy Keras 2; its .keras config names tf_keras classes). Load it with tf_keras "
     "(TF_USE_LEGACY_KERAS=1), or re-save it as .h5."),
    # Before the JSON and custom-class rows: these name a class of Keras itself that one loader cannot rebuild.
    (r"Unknown layer: 'NotEqual'",
     "Keras 3 writes the mask of Embedding(mask_zero=True) into an .h5 config as a NotEqual operation, which its "
     "own legacy HDF5 loader cannot rebuild. Save the model as .keras, or rebuild it from code and load_weights."),
    (r"Error when deserializing class '\w+' using config=\{.*'activation': \{'module': 'builtins', 'class_name': 'function'",
     "Keras 2.15 and tf_keras (seen; the registered_name serialization came with 2.13) write a registered "
     "activation function into .h5 as {'class_name': 'function'}, which their own HDF5 loader cannot resolve, "
     "even with custom_objects (Unknown activation function: 'function'). Save the model as .keras, or rebuild "
     "it from code and load_weights."),
    (r"Error when deserializing class '(DepthwiseConv2D|MultiHeadAttention)' using config=",
     "Keras 2 wrote layer arguments that Keras 3 removed (DepthwiseConv2D 'groups', MultiHeadAttention "
     "'query_shape'/'key_shape'/'value_shape'); Keras 3 cannot read this .h5 config. Rebuild the model in Keras 3 "
     "from code and load the weights (h5_weights: save_weights(\"weights.h5\"), then load_weights)."),
    (r"'str' object has no attribute 'quantization_mode'",
     "Keras 3's HDF5 loader cannot rebuild a Keras 2 layer's mixed-precision dtype policy from its .h5 config. "
     "Rebuild the model in Keras 3 with the same dtype policy and load the weights."),
    (r"Invalid Functional model configuration\. The graph of the Functional model either has loops or disconnected",
     "Keras 3 cannot rebuild the .h5 config of a Keras 2 model that nests a Model or Sequential as a layer (its "
     "inbound nodes do not resolve). Rebuild the model in Keras 3 from code and load the weights."),
    (r"expected 0 variables, but received \d+ variables|loading weights into a model that has not yet been built",
     "The model was rebuilt (model_from_json, or a subclassed model from its config) but not built, so its "
     "layers have no variables for load_weights yet. Call it on a batch (or model.build(shape)) before "
     "load_weights, or save the whole model as .keras."),
    (r"'>' not supported between instances of 'NoneType' and 'int'",
     "Keras 3 restored the compile state of a Keras 2 .keras file without steps_per_execution, so predict "
     "fails. Load it with compile=False and compile it in Keras 3, or re-save it from Keras 3."),
    (r"^InvalidArgumentError: (Exception encountered when calling TFSMLayer\.call\(\)\. )?Graph execution error",
     "The SavedModel loaded, but its graph failed when called (the cell's error text names the node and "
     "shapes; a graph traced for one batch size fails on others). Export Keras 3 models with model.export, "
     "whose serving signature keeps the batch dimension free."),
    (r"Layer count mismatch when loading weights from file\. Model expected 0 layers",
     "The .h5 holds a subclassed model whose config Keras 3's HDF5 loader cannot rebuild: it builds an empty "
     "model and finds nowhere to put the saved layers. Save subclassed models as .keras, or rebuild from code "
     "and load_weights."),
    (r"Could not locate class '(Functional|Sequential|Model)'",
     "An architecture JSON written by Keras 2 (model.to_json()) names its model class 'Functional' without a "
     "module, which Keras 3's model_from_json cannot find. Build the model in code in this Keras and call "
     "load_weights, or check the full model (.h5) instead."),
    (r"'_UserObject' object has no attribute 'predict'|has no predict\(\)",
     "This SavedModel has no Keras metadata (written by tf.saved_model.save or Keras 3 model.export), so "
     "load_model returns a plain TF object. Call tf.saved_model.load(path).signatures['serving_default'], or "
     "keras.layers.TFSMLayer in Keras 3."),
    (r"Unknown layer: '|Cannot deserialize object of type `|Could not locate class '",
     "A custom class is not known in this environment. Pass --custom-objects my_layers.py (a file defining "
     "custom_objects(keras) -> {name: class}), or register the class with "
     "@keras.saving.register_keras_serializable() in code imported before loading."),
    (r"Binding inputs to tf\.function failed due to `too many positional arguments`",
     "TFSMLayer passes its input positionally, so a serving signature with several named inputs cannot be "
     "called through it. Call tf.saved_model.load(path).signatures['serving_default'](**inputs) instead."),
    (r"Unrecognized keyword arguments: \['batch_shape'|class 'InputLayer' using config=\{'batch_shape'",
     "Keras 3 writes InputLayer(batch_shape=...); Keras 2 and tf_keras only know batch_input_shape. "
     "Load it with Keras 3, or export a TF SavedModel (model.export) and load that with tf.saved_model.load."),
    (r"File not found: filepath=.*\.keras",
     "Keras 2 before 2.13 writes HDF5 for a .keras path by default (seen in 2.9 and 2.10; the zip format came "
     "in 2.12 only with save_format='keras_v3' and became the default in 2.13); Keras 3 expects a zip. Rename "
     "the file to .h5 and load that."),
    (r"Layer count mismatch when loading weights|object 'vars' doesn't exist|objects could not be loaded",
     "The .weights.h5 layout of Keras 3 and Keras 2.13+ (keras_weights) differs from the legacy HDF5 weights "
     "layout (h5_weights). Save the weights with the consumer's layout, or load the full model (.h5) instead."),
    (r"expected \d+ variables, but received 0 variables",
     "The variable layout inside the .keras/.weights.h5 archive changed between these Keras releases; re-save "
     "with the consumer's Keras, or use .h5."),
    (r"could not be deserialized properly|Error when deserializing class '\w+' using config=\{.*'dtype': \{'module'",
     "A newer Keras 3 wrote config entries (such as dtype policies as objects) that this older Keras 3 cannot "
     "read. Load it with a Keras at least as new as the producer's."),
    (r"bad marshal data",
     "An HDF5 Lambda layer stores Python bytecode, which another Python version cannot read. Load it with the "
     "producer's Python version, or replace the Lambda with a registered custom layer."),
    (r"Unrecognized keyword arguments passed to \w+: \{'(time_major|groups|query_shape)'",
     "Keras 2 wrote a layer argument that Keras 3 removed; Keras 3 cannot read this .h5 config. Re-save in Keras 3 "
     "from code, or load the weights into a model rebuilt in Keras 3."),
    (r"lacks the (TF-)?Keras metadata file",
     "tf.saved_model.save writes no Keras metadata, so load_model cannot rebuild a Keras model from it. Load it "
     "with tf.saved_model.load and call its signature (or keras.layers.TFSMLayer in Keras 3)."),
    (r"object has no attribute 'add_slot'",
     "The SavedModel carries optimizer slots saved by TF 2.10 or older, which newer TF cannot restore. Re-save it "
     "without the optimizer (model.save(..., include_optimizer=False)) or with a newer TF."),
    (r"not bound to checkpointed values",
     "tf.train.Checkpoint matches variables by the object graph's attribute names, which differ between Keras 2 "
     "and Keras 3 models. Move the weights through .weights.h5 or .h5 instead."),
    (r"^CorruptArtifact",
     "The artifact's files changed after they were saved (their SHA-256 differs from the manifest). Re-run the producer."),
    (r"^mismatch",
     "It loaded, but its outputs differ beyond tolerance: compare max |Δ| with the fixture's tolerance. "
     "Large differences mean weights or state were not restored."),
    (r"^crash",
     "The worker process died in this cell (see the environment's log under the work dir's logs/); the other cells ran on."),
    (r"^timeout",
     "The cell ran past the per-cell timeout (timeouts.cell_s in matrix.yaml) and was killed."),
)
_COMPILED = tuple((re.compile(pattern), hint) for pattern, hint in HINTS)


def hint_for(signature: str) -> str | None:
    """The first hint whose pattern is found in ``signature``, or None."""
    for pattern, hint in _COMPILED:
        if pattern.search(signature):
            return hint
    return None


def blocked_by_safe_mode(signature: str) -> bool:
    """True when the error is safe_mode refusing code stored in the file (a Lambda layer)."""
    return re.search(SAFE_MODE_BLOCK, signature) is not None


# A link in an error message (Keras: "See https://www.tensorflow.org/guide/keras/...#registering_the_custom_object"):
# kept whole, never scrubbed as a path or a count.
URL = re.compile(r"\bhttps?://[^\s'\"<>`)\]]+")
MAX_SIGNATURE = 200
LINK_MARK = 0xE000  # a link stands as one character of Unicode's private use area while the rest is scrubbed


def urls(text: str) -> list[str]:
    """The links (``http://``, ``https://``) in ``text``, a trailing full stop or comma left out."""
    return [url.rstrip(".,;:") for url in URL.findall(text)]


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters and ended with ``…``, never inside a link: a link the cut would
    split is kept whole."""
    if len(text) <= limit:
        return text
    for match in URL.finditer(text):
        if match.start() < limit < match.end():
            limit = match.end()
    return text if len(text) <= limit else text[:limit] + "…"


def normalize(signature: str, counts: bool = True) -> str:
    """Strip what varies between cells of one failure: paths, addresses, layer-name counters.
    Links are kept whole (a cut at ``MAX_SIGNATURE`` characters never falls inside one)."""
    links = urls(signature)
    for i, url in enumerate(links):  # one character each, out of the way of the patterns below
        signature = signature.replace(url, chr(LINK_MARK + i), 1)
    text = re.sub(r"(?<!\w)(/[\w.+-]+){2,}/?", "<path>", signature)
    text = re.sub(r"0x[0-9a-fA-F]+", "0x…", text)
    text = re.sub(r"(using config=|Full object config: |unmatched objects: |Expected: )[\[{].*", r"\1…", text)
    if counts:  # error messages differ by counts (layers, variables); reasons keep their version numbers
        text = re.sub(r"(?<![\w.])(?!0\b)\d+(?![\w.])", "N", text)
    text = re.sub(r"\b([a-z][a-z0-9]*(?:_[a-z]+)*)_\d+\b", r"\1_N", text)
    return "".join(links[ord(c) - LINK_MARK] if LINK_MARK <= ord(c) < LINK_MARK + len(links) else c
                   for c in text[:MAX_SIGNATURE])
