"""Findings in a Keras model config (JSON, read as data): what a loader would run, import or follow.

Walks every object of the config (``config.json`` of a ``.keras`` zip; ``model_config`` and
``training_config`` of an HDF5 file; the metadata in ``keras_metadata.pb``) and reports:

- ``Lambda`` layers with marshalled bytecode (``{"class_name": "__lambda__"}`` in ``.keras``,
  ``[code, defaults, closure]`` with ``function_type: lambda`` in legacy HDF5/JSON configs), with the
  Python that wrote it (:mod:`.bytecode`);
- classes and functions named with a ``module`` outside keras/tf_keras (custom objects, and function
  references such as ``{"module": "os", "class_name": "function", "config": "system"}`` in a loss,
  activation or initializer; ``function_by_table`` where Keras 3 looks the name up in its own table:
  :data:`TABLE_KEYS`), and registered names (``"Package>Name"``) that need custom_objects;
- Keras's own functions named as a Lambda's function, and the ones that turn safe_mode off
  (``enable_unsafe_deserialization``, ``set_global_attribute``: CVE-2025-9906);
- ``TFSMLayer`` (loads the SavedModel at the path its config names), ``TorchModuleWrapper``
  (``torch.load`` of pickled bytes, CVE-2025-49655), lookup layers whose vocabulary is a file path.
"""
from __future__ import annotations

from harness.check.security.bytecode import decode_code, python_of
from harness.check.security.model import Finding
from harness.check.security.pickles import pickle_imports, torch_payload

KERAS_MODULES = ("keras", "tf_keras", "keras_core")
SAFE_MODE_TOGGLES = ("enable_unsafe_deserialization", "set_global_attribute")
LOOKUP_LAYERS = ("StringLookup", "IntegerLookup", "TextVectorization", "IndexLookup")
# Keras 2.11 to 2.15 register their own optimizers under the package "Custom": an HDF5 file's
# training_config names "Custom>Adam" (seen in a file Keras 2.15.0 saved), which is Keras's class.
KERAS_REGISTERED = frozenset(f"Custom>{name}" for name in (
    "Adadelta", "Adafactor", "Adagrad", "Adam", "AdamW", "Adamax", "Ftrl", "Lion", "Nadam", "RMSprop", "SGD"))
MAX_NODES = 1_000_000  # a config with more objects is reported, not walked further
# Keys whose value Keras 3.0 to 3.9 resolve with ``<module>.get`` -> ``deserialize_keras_object(config,
# module_objects=ALL_OBJECTS_DICT)``: a function named there is looked up by its registered_name in Keras's
# own table and its module is never imported (keras v3.8.0 keras/src/saving/serialization_lib.py lines
# 526-573: ``config = config["registered_name"]``, ``if config not in module_objects: return config``;
# activations/__init__.py line 108, initializers line 77, regularizers and constraints line 36; the same
# in v3.0.0 keras/saving/serialization_lib.py lines 547-564). From v3.10.0 activations.get passes no
# module_objects and reaches _retrieve_class_or_fn, which since v3.9.0 imports no module outside Keras,
# so nothing outside Keras is imported there either. The one way to the import below it (v3.8.0 line 787)
# is a registered_name that is in custom_objects: a function whose registered_name is absent or its own
# name then resolves to the user's object; any other registered_name is left a ``function_reference``.
TABLE_KEYS = ("activation", "recurrent_activation")
TABLE_SUFFIXES = ("_initializer", "_regularizer", "_constraint")


def _inside_keras(module: str) -> bool:
    return module.split(".")[0] in KERAS_MODULES


def config_findings(config, where: str) -> list[Finding]:
    """Findings for one parsed config (any JSON value); ``where`` names the file or member."""
    found: list[Finding] = []
    stack, seen = [(config, "")], 0
    while stack:
        node, path = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            found.append(Finding("config_too_large", "resource", where, f"more than {MAX_NODES} objects; "
                                 "the rest of the config was not scanned"))
            break
        if isinstance(node, dict):
            found += _object(node, f"{where}:{path or '/'}")
            stack += [(value, f"{path}/{key}") for key, value in node.items()]
        elif isinstance(node, list):
            stack += [(value, f"{path}[{i}]") for i, value in enumerate(node)]
    return _unique(found)


def _unique(found: list[Finding]) -> list[Finding]:
    return list(dict.fromkeys(found))


def _layer_name(node: dict) -> str:
    config = node.get("config")
    name = config.get("name") if isinstance(config, dict) else None
    return f" '{name}'" if isinstance(name, str) else ""


def _object(node: dict, where: str) -> list[Finding]:
    cls, module, config = node.get("class_name"), node.get("module"), node.get("config")
    config = config if isinstance(config, dict) else {}
    found = []
    if cls == "Lambda":
        found += _lambda(config, where + _layer_name(node))
    elif cls == "TFSMLayer":
        found.append(Finding("tfsm_layer", "code", where + _layer_name(node),
                             f"loads and runs the SavedModel at {config.get('filepath')!r} (TFSMLayer)"))
    elif cls == "TorchModuleWrapper":
        found.append(Finding("torch_module_wrapper", "code", where + _layer_name(node),
                             "TorchModuleWrapper: its module is restored with torch.load (pickle)"))
        payload = torch_payload(config.get("module"))
        if payload:
            found.append(pickle_finding(payload, where + _layer_name(node) + " module"))
    elif cls in LOOKUP_LAYERS and isinstance(config.get("vocabulary"), str):
        found.append(Finding("lookup_vocabulary_path", "path", where + _layer_name(node),
                             f"{cls} reads its vocabulary from the path {config['vocabulary']!r}"))
    if isinstance(module, str) and isinstance(cls, str):
        name = node.get("config") if cls == "function" else cls
        if not _inside_keras(module) and cls == "function" and _by_table(node, where):
            found.append(Finding("function_by_table", "code", where, f"function {module}.{name} named where Keras "
                                 "looks functions up by name (Keras 3 does not import its module)"))
        elif not _inside_keras(module):
            kind = "function_reference" if cls == "function" else "custom_class"
            what = "function" if cls == "function" else "class"
            found.append(Finding(kind, "code", where, f"{what} {module}.{name} from a module outside Keras "
                                 "(imported by the loader)"))
        elif cls == "function" and name in SAFE_MODE_TOGGLES:
            found.append(Finding("safe_mode_toggle", "code", where,
                                 f"names {module}.{name}, which turns safe_mode off during the load"))
    registered = node.get("registered_name")
    if isinstance(registered, str) and ">" in registered and not isinstance(module, str):
        found.append(Finding("custom_object", "info", where, f"registered custom object {registered} "
                             "(loads only with custom_objects or the package that registers it)"))
    elif isinstance(cls, str) and ">" in cls and cls not in KERAS_REGISTERED:
        found.append(Finding("custom_object", "info", where, f"registered custom object {cls} "
                             "(loads only with custom_objects or the package that registers it)"))
    return found


def _by_table(node: dict, where: str) -> bool:
    """A function named at a key of :data:`TABLE_KEYS` (or ending in :data:`TABLE_SUFFIXES`) whose
    registered_name cannot select another object from custom_objects."""
    key = where.rsplit("/", 1)[-1]
    registered = node.get("registered_name")
    return ((key in TABLE_KEYS or key.endswith(TABLE_SUFFIXES))
            and (registered is None or registered == node.get("config")))


def pickle_finding(data: bytes, where: str) -> Finding:
    """What a pickle would import and call, read from its opcodes (never unpickled)."""
    imports, problem = pickle_imports(data)
    detail = f"pickle imports {', '.join(imports) or 'nothing'}" + (f" ({problem})" if problem else "")
    return Finding("pickle_import", "info", where, detail + "; read from its opcodes, not unpickled")


def traversing_names(config) -> list[tuple[str, str]]:
    """(config path, name) of each object whose ``config.name`` holds a ``..`` path part."""
    found, stack = [], [(config, "")]
    while stack and len(found) < 100:
        node, path = stack.pop()
        if isinstance(node, dict):
            inner = node.get("config")
            name = inner.get("name") if isinstance(inner, dict) else None
            if isinstance(name, str) and ".." in name.replace("\\", "/").split("/"):
                found.append((path or "/", name))
            stack += [(value, f"{path}/{key}") for key, value in node.items()]
        elif isinstance(node, list):
            stack += [(value, f"{path}[{i}]") for i, value in enumerate(node)]
    return found


def _lambda(config: dict, where: str) -> list[Finding]:
    found = []
    for key, kind_key, module_key in (("function", "function_type", "module"),
                                      ("output_shape", "output_shape_type", "output_shape_module")):
        value, kind = config.get(key), config.get(kind_key)
        code = None
        if isinstance(value, dict) and value.get("class_name") == "__lambda__":
            inner = value.get("config")
            code = inner.get("code") if isinstance(inner, dict) else None
        elif kind == "lambda" and isinstance(value, (list, tuple)) and value:
            code = value[0]
        elif kind == "lambda" and isinstance(value, str):
            code = value
        if isinstance(code, str):
            raw = decode_code(code)
            python = python_of(raw) if raw else "not base64"
            found.append(Finding("lambda", "code", where, f"Lambda {key}: marshalled bytecode written by {python}"))
        elif isinstance(value, dict) and value.get("class_name") == "function":
            module = value.get("module")
            if isinstance(module, str) and _inside_keras(module) and value.get("config") not in SAFE_MODE_TOGGLES:
                found.append(Finding("lambda_keras_function", "code", where,
                                     f"Lambda {key} calls the Keras function {module}.{value.get('config')}"))
        elif kind == "function" and isinstance(value, str):
            module = config.get(module_key)
            if isinstance(module, str) and not _inside_keras(module):
                found.append(Finding("function_reference", "code", where,
                                     f"Lambda {key} is the function {module}.{value} from a module outside Keras"))
    return found
