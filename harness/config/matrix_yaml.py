"""Which ``matrix.yaml`` a command reads, and its text parsed and checked against the JSON Schema
(``harness/config/matrix.schema.json``, also usable by editors): the first step of
:func:`harness.config.spec.load`. YAML is read safely and bounded (``harness.config.spec_bounds``);
a problem raises :class:`~harness.config.validation.SpecError` naming the file and key path.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import jsonschema
import yaml

from harness import ROOT
from harness.config import spec_bounds
from harness.config.validation import SCHEMA_PATH, SpecError
from harness.guard import NotRegular, NotText, TooLarge, quote, read_bytes, read_text

DEFAULT_MATRIX = ROOT / "matrix.yaml"
MAX_MATRIX_BYTES = 16 * 2**20  # a matrix.yaml past this is no hand-written file (ours is about 30 KB)


def matrix_path() -> Path:
    """``$KCM_MATRIX`` if set, else the repository's ``matrix.yaml``."""
    return Path(os.environ.get("KCM_MATRIX") or DEFAULT_MATRIX).resolve()


def matrix_sha256(path: Path) -> str:
    """SHA-256 of a matrix.yaml's bytes: which file a run (or each of its CI jobs) was planned from."""
    return hashlib.sha256(read_bytes(Path(path), "matrix file", MAX_MATRIX_BYTES)).hexdigest()


class _Loader(spec_bounds.BoundedComposer, yaml.SafeLoader):
    """YAML's safe loader, except that aliases may not expand past ``spec_bounds.MAX_NODES`` nodes,
    dates stay strings (``expires: 2027-11-29``), so the schema and
    :func:`harness.config.validation.check_semantics` see the text the user wrote, and that a key given
    twice in one mapping is an error (PyYAML silently keeps the last one, so a second ``tf2.15:`` would
    replace the first environment unseen)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=deep)
                try:
                    if key in seen:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"duplicate key {key!r} (first given on line {seen[key]})",
                            key_node.start_mark)
                    seen[key] = key_node.start_mark.line + 1
                except TypeError:  # an unhashable key: SafeLoader reports it
                    continue
        return super().construct_mapping(node, deep=deep)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
# YAML 1.1 (PyYAML) reads 1e-3 and -1e-3 as strings: a float needs a dot there (1.0e-3).
# Read them as numbers, as YAML 1.2 and every editor do, so `atol: 1e-3` means 0.001.
_Loader.add_implicit_resolver("tag:yaml.org,2002:float",
                              re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789"))


def load_yaml(text: str):
    """``text`` parsed by matrix.yaml's loader (a key given twice is an error, aliases bounded, dates kept as
    text), for every YAML file the host reads.

    Raises:
        yaml.YAMLError: not YAML, or a key given twice (its message names the key and both lines).
    """
    return yaml.load(text, Loader=_Loader)


def read(path: Path) -> dict:
    """``matrix.yaml`` parsed and checked against the JSON Schema only (templates unexpanded).
    Raises SpecError (unreadable, not YAML, against the schema) naming the file."""
    try:
        # a named pipe would block every nox command, /dev/zero never ends
        raw = yaml.load(read_text(path, "matrix file", MAX_MATRIX_BYTES), Loader=_Loader)
    except FileNotFoundError:
        raise SpecError(f"{path}: file not found") from None
    except (NotRegular, TooLarge) as exc:
        raise SpecError(str(exc)) from None
    except NotText as exc:
        raise SpecError(f"{path}: not UTF-8 text ({exc.detail})") from None
    except RecursionError:
        raise SpecError(f"{path}: not valid YAML: nested too deeply to read") from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:  # a folder, no permission
        raise SpecError(f"{path}: cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {_yaml_problem(exc)}") from None
    if raw is None:
        raise SpecError(f"{path}: the file is empty; it needs at least envs and profiles (see docs/matrix-yaml.md)")
    schema = json.loads(read_text(SCHEMA_PATH, "schema"))
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(raw))
    if error is not None:
        raise SpecError(f"{path}: {_schema_message(error)}")
    return raw


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's multi-line error as one line: where, what, and a hint for tabs."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    text = " ".join(problem.split()) + (f" ({' '.join(context.split())})" if context else "")
    if "'\\t'" in problem:
        text += "; indent with spaces, not tabs"
    return f"line {mark.line + 1}, column {mark.column + 1}: {text}" if mark else text


def _path(parts) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _schema_message(error: jsonschema.ValidationError) -> str:
    where = _path(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return f"{where}: unknown key {', '.join(map(repr, extra))}{hint}"
    if error.validator == "required":
        return f"{where}: {error.message.replace(' is a required property', '')} is missing"
    if error.validator == "propertyNames":
        return f"{where}: key {quote(error.instance)} is not {error.schema.get('x-expected', 'allowed')}"
    expected = error.schema.get("x-expected")
    if expected:
        return f"{where}: expected {expected}, got {quote(error.instance)}"
    return f"{where}: {quote(error.message, 300)[1:-1]}"
