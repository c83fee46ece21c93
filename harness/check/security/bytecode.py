"""For which Python a Lambda layer's marshalled code object was written, read from its header only.

Keras stores a Lambda's function as ``base64(marshal.dumps(fn.__code__))`` (``func_dump`` in Keras 2,
tf_keras and Keras 3), without the ``.pyc`` magic number, so the version is read from the layout of
the code object that ``marshal`` writes (CPython ``Python/marshal.c``, ``w_object`` for code):

- Python 2.7: 4 int32 fields before the code bytes (argcount, nlocals, stacksize, flags);
- 3.6 and 3.7: 5 (argcount, kwonlyargcount, nlocals, stacksize, flags);
- 3.8 to 3.10: 6 (posonlyargcount added);
- 3.11 and later: 5 again (nlocals removed), told from 3.6/3.7 by the first instructions: 3.11 and
  3.12 open with ``RESUME 0`` (opcode 151), 3.13 with ``RESUME 0`` as opcode 149, each after at most
  the MAKE_CELL/COPY_FREE_VARS instructions of a closure (checked with marshal.dumps of lambdas
  and closures in CPython 2.7, 3.6 to 3.13). 3.11 and 3.12 write the same bytes for the same lambda.

Nothing is unmarshalled: :func:`python_of` reads bytes.
"""
from __future__ import annotations

import base64
import binascii
import struct

CODE_TYPE, BYTES_TYPE = ord("c"), ord("s")
FLAG_REF = 0x80
# (opcodes a closure may open with, RESUME) per Python line: 3.11/3.12 MAKE_CELL 135, COPY_FREE_VARS 149,
# RESUME 151; 3.13 MAKE_CELL 94, COPY_FREE_VARS 62, RESUME 149.
OPENINGS = (("3.11 or 3.12", {135, 149}, 151), ("3.13 or later", {94, 62}, 149))


def decode_code(text: str) -> bytes | None:
    """The marshalled bytes of a Lambda's stored code (base64 text), or None if it is not base64."""
    try:
        return base64.b64decode(text.encode("ascii") if isinstance(text, str) else text, validate=False)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None


def python_of(raw: bytes) -> str:
    """``"Python 3.8 to 3.10"``-style text for a marshalled code object, or why it cannot be told."""
    if not raw or raw[0] & ~FLAG_REF & 0xFF != CODE_TYPE:
        return "not a marshalled code object"
    for count in (4, 5, 6):
        at = 1 + 4 * count
        if len(raw) >= at + 5 and raw[at] & ~FLAG_REF & 0xFF == BYTES_TYPE:
            size = struct.unpack_from("<i", raw, at + 1)[0]
            if 0 <= size <= len(raw) - at - 5:
                code = raw[at + 5:at + 5 + size]
                if count == 4:
                    return "Python 2.7"
                if count == 6:
                    return "Python 3.8 to 3.10"
                return _five_fields(code)
    return "unknown Python (the code object's header matches no known layout)"


def _five_fields(code: bytes) -> str:
    opcodes = list(code[0:8:2])
    for label, closure_ops, resume in OPENINGS:
        for index, op in enumerate(opcodes):
            if op == resume and code[2 * index + 1] == 0:
                return f"Python {label}"
            if op not in closure_ops:
                break
    return "Python 3.6 or 3.7"
