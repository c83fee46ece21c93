"""``nox -s check --inputs``: the arrays of an .npz against the inputs a model's config declares, on the host.

Read without numpy and without building the model: each ``.npy`` member's header (format 1.0 to 3.0 of
numpy/lib/format.py: magic ``\\x93NUMPY``, version, header length, then a Python dict literal with
``descr``, ``fortran_order`` and ``shape``), and a ``.keras`` archive's ``config.json``, whose
``InputLayer`` layers give ``batch_shape`` (Keras 3) or ``batch_input_shape`` (Keras 2) and ``dtype``.
Where the config says nothing usable (a subclassed model, an HDF5 or SavedModel file), nothing is
checked here: the worker checks the arrays against the loaded model (``harness/worker/check.py``).
A config also says which inputs feed a table lookup (an Embedding): :func:`index_note` names them, and
the worker draws them as indices (``harness/worker/feeds.py``, shared by both).
"""
from __future__ import annotations

import ast
import zipfile

from harness.worker.feeds import index_inputs

NPY_MAGIC = b"\x93NUMPY"
HEADER_BYTES = 65536  # the most of a member's header read (numpy writes 128 bytes for any usual array)

InputSpec = tuple  # (name: str, shape: tuple of int | None, dtype: str)


def config_inputs(config) -> list[InputSpec] | None:
    """``[(name, shape, dtype)]`` of the ``InputLayer`` layers in a Keras model config, in order;
    None where the config declares none (or not in a shape read here)."""
    layers = config.get("config", {}).get("layers") if isinstance(config, dict) and \
        isinstance(config.get("config"), dict) else None
    if not isinstance(layers, list):
        return None
    found = []
    for layer in layers:
        inner = layer.get("config") if isinstance(layer, dict) and layer.get("class_name") == "InputLayer" else None
        if not isinstance(inner, dict):
            continue
        shape = inner.get("batch_shape", inner.get("batch_input_shape"))
        dtype = inner.get("dtype", "float32")
        dtype = dtype.get("config", {}).get("name") if isinstance(dtype, dict) else dtype  # a DTypePolicy
        if not isinstance(shape, list) or not all(d is None or isinstance(d, int) for d in shape) \
                or not isinstance(dtype, str) or not isinstance(inner.get("name"), str):
            return None
        found.append((inner["name"], tuple(shape), dtype))
    return found or None


def index_note(config) -> tuple[str, ...]:
    """The note saying which inputs of a model config feed a table lookup (an Embedding), so the check
    draws them as indices (:func:`harness.worker.feeds.index_inputs`; the worker reads the same from the
    loaded model); empty where none do."""
    found = index_inputs(config)
    if not found:
        return ()
    parts = [f"{name or f'input {position}'} feeds {layer} (a table of {high} rows)"
             for position, name, high, layer in found]
    return (f"{'; '.join(parts)}: the check draws {'it' if len(found) == 1 else 'them'} as integers within "
            "the table, whatever the input's dtype",)


def npy_header(archive: zipfile.ZipFile, member: str) -> tuple[tuple, str]:
    """``(shape, descr)`` of one ``.npy`` member, from its header alone.

    Raises:
        ValueError: not an .npy header.
    """
    with archive.open(member) as handle:
        head = handle.read(12)
        if not head.startswith(NPY_MAGIC) or len(head) < 10:
            raise ValueError(f"{member}: not an .npy array")
        size = int.from_bytes(head[8:10], "little") if head[6] == 1 else int.from_bytes(head[8:12], "little")
        start = 10 if head[6] == 1 else 12
        if size > HEADER_BYTES:
            raise ValueError(f"{member}: an .npy header of {size} bytes")
        text = (head[start:] + handle.read(size - (len(head) - start)))[:size].decode("latin-1")
    header = ast.literal_eval(text)
    if not isinstance(header, dict) or not isinstance(header.get("shape"), tuple):
        raise ValueError(f"{member}: not an .npy header")
    return header["shape"], str(header.get("descr"))


def mismatch(arrays: dict[str, tuple[tuple, str]], specs: list[InputSpec]) -> str | None:
    """Why ``arrays`` (name -> (shape, descr)) do not fit the model's inputs, naming both; None if they do.

    One array feeds one input whatever its name; otherwise the names must be the inputs' names.
    An array fits when its rank and every fixed size match, and it holds text exactly where the
    input takes strings (numpy kinds ``U``/``S``); numbers of another width are cast by Keras.
    """
    names = [name for name, _, _ in specs]
    if len(arrays) == 1 and len(names) == 1:
        given = {names[0]: next(iter(arrays.items()))}
    elif set(arrays) == set(names):
        given = {name: (name, arrays[name]) for name in names}
    else:
        return f"has arrays {', '.join(sorted(arrays)) or 'none'}, the model's inputs are {', '.join(names)}"
    for name, shape, dtype in specs:
        key, (have, descr) = given[name]
        text = descr[1:2] in ("U", "S")
        if len(have) != len(shape) or any(d is not None and d != a for d, a in zip(shape, have, strict=False)) \
                or text != (dtype == "string"):
            return f"array {key} is {have} {descr}, but the model's input {name} takes {shape} {dtype}"
    return None
