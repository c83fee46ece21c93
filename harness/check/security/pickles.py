"""What a pickle would import, read without unpickling it; and the object arrays of an ``.npz``.

A pickle names the callables it will call with ``GLOBAL``/``STACK_GLOBAL``/``INST`` opcodes;
:func:`pickle_imports` walks the opcodes with the standard library's :mod:`pickletools` (``genops``
decodes, it never executes) and keeps the module and name of each. ``STACK_GLOBAL`` takes them from
the two strings pushed before it (or fetched from the memo), which is how protocols 4 and 5 write them.

:func:`npz_object_arrays` opens an ``.npz`` (a zip of ``.npy`` files) as a zip and reads each
member's header with :mod:`numpy.lib.format` (a Python literal, parsed by ``ast.literal_eval``): an
``object`` dtype means the array's data is a pickle, which ``np.load(allow_pickle=True)`` runs.
"""
from __future__ import annotations

import base64
import binascii
import io
import pickletools
import zipfile
import zlib

import numpy as np

MAX_OPS = 200_000
MAX_PAYLOAD_BYTES = 64 * 2**20  # what is read of a torch payload's data.pkl (a pickle past it is cut there)
STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING", "BINSTRING",
              "STRING"}


def pickle_imports(data: bytes) -> tuple[list[str], str | None]:
    """(the ``module.name`` each import opcode names, in order and unique; an error line or None).

    Reads opcodes only; a truncated or malformed pickle gives what was read before the fault."""
    found, strings, memo = [], [], {}
    try:
        for count, (op, arg, _pos) in enumerate(pickletools.genops(io.BytesIO(data))):
            if count > MAX_OPS:
                return list(dict.fromkeys(found)), f"more than {MAX_OPS} opcodes; the rest was not read"
            name = op.name
            if name in STRING_OPS:
                strings.append(arg if isinstance(arg, str) else str(arg))
            elif name in ("PUT", "BINPUT", "LONG_BINPUT") and strings:
                memo[arg] = strings[-1]
            elif name == "MEMOIZE" and strings:
                memo[len(memo)] = strings[-1]
            elif name in ("GET", "BINGET", "LONG_BINGET") and arg in memo:
                strings.append(memo[arg])
            elif name in ("GLOBAL", "INST"):
                found.append(str(arg).replace(" ", "."))
            elif name == "STACK_GLOBAL":
                found.append(".".join(strings[-2:]) if len(strings) >= 2 else "?")
            if name == "STOP":
                break
    except (ValueError, EOFError, KeyError, TypeError, UnicodeDecodeError) as exc:
        return list(dict.fromkeys(found)), f"stops at a malformed opcode ({exc})"
    return list(dict.fromkeys(found)), None


def torch_payload(value) -> bytes | None:
    """The pickle of a TorchModuleWrapper's ``module`` config: base64 text (Keras 3.10+), a ``__bytes__``
    object (``{"class_name": "__bytes__", "config": {"value": ...}}``, earlier Keras 3), or None. A
    ``torch.save`` zip gives its ``data.pkl`` member."""
    raw = None
    if isinstance(value, dict) and value.get("class_name") == "__bytes__":
        inner = value.get("config")
        text = inner.get("value") if isinstance(inner, dict) else None
        raw = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else None
    elif isinstance(value, str):
        try:
            raw = base64.b64decode(value.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raw = value.encode("utf-8", "surrogateescape")
    if raw and raw[:2] == b"PK":
        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as archive:
                name = next((n for n in archive.namelist() if n.endswith("data.pkl")), None)
                if name is None:
                    return None
                with archive.open(name) as handle:  # a zip bomb expands no further than this
                    return handle.read(MAX_PAYLOAD_BYTES)
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError, RuntimeError):
            return None  # damaged, compressed with a method zipfile lacks, or encrypted
    return raw


def npz_object_arrays(data: bytes) -> list[tuple[str, str, bytes]]:
    """(member, dtype, pickle bytes) for each ``.npy`` member of an ``.npz`` whose dtype holds objects.

    Raises:
        ValueError: not a zip, or a member whose ``.npy`` header cannot be read.
    """
    found = []
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise ValueError(f"not a zip archive ({exc})") from None
    with archive:
        for info in archive.infolist():
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                read = {(1, 0): np.lib.format.read_array_header_1_0,
                        (2, 0): np.lib.format.read_array_header_2_0}.get(version)
                if read is None:
                    raise ValueError(f"{info.filename}: .npy format version {version} not read")
                _shape, _order, dtype = read(member)
                if dtype.hasobject:
                    found.append((info.filename, str(dtype), member.read(16 * 1024 * 1024)))
    return found
