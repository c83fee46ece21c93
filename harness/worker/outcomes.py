"""How a worker step's failure becomes a verdict: the error's fields, and guarded load steps.

Runs inside the environment under test (Python 3.7 syntax, standard library only).
"""
import re
import traceback

ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Keras 3 wraps an error raised inside a layer call in a first line saying only that; the cause is the next line.
WRAPPED = "Exception encountered when calling"


def first_line(text):
    """The message's first line without terminal colour codes, plus the next line when the first
    is only Keras 3's wrapper ("Exception encountered when calling X.call()."), at most 500 characters."""
    lines = [line.strip() for line in ANSI.sub("", text).splitlines() if line.strip()]
    if not lines:
        return ""
    if lines[0].startswith(WRAPPED) and len(lines) > 1:
        return (lines[0] + " " + lines[1])[:500]
    return lines[0][:500]


def error_fields(exc):
    """Exception class, the message's first line (see ``first_line``), and the traceback's tail."""
    text = str(exc).strip() or repr(exc)
    return {
        "error_type": type(exc).__name__,
        "error_message": first_line(text),
        "error_text": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-4000:],
    }


class CannotBuild(Exception):
    """The fixture cannot be built in this Keras (outside its MIN_KERAS/MAX_KERAS)."""


def guarded(load):
    """Run a load step: (its value, None), or (None, a verdict dict saying why it failed)."""
    try:
        return load(), None
    except CannotBuild as exc:
        return None, {"verdict": "unsupported", "reason": str(exc)}
    except Exception as exc:
        out = {"verdict": "load-error", "stage": "load"}
        out.update(error_fields(exc))
        return None, out

