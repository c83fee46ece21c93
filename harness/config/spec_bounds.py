"""Checks of ``matrix.yaml`` beyond its schema and ``harness.config.spec``'s: what a careless or hostile file
could make the harness do (expand aliases without end, pass a variable name a process cannot have,
wait 1e300 seconds, keep an expected failure that can never match).

Each check raises ``harness.config.spec.SpecError`` (through the ``error`` class it is given, to avoid a
cycle of imports) with one line naming the key path.
"""
from __future__ import annotations

import re

import yaml
from packaging.requirements import Requirement
from packaging.version import InvalidVersion, Version

from harness.guard import quote

# The most nodes a matrix.yaml may hold once its aliases are expanded. The repository's own holds a
# few thousand; "billion laughs" (nested anchors, 667 bytes) holds 10^9.
MAX_NODES = 200_000
# Seconds a timeout may be: below 1 no worker imports TensorFlow, above a week it never fires.
TIMEOUT_RANGE_S = (1.0, 7 * 24 * 3600.0)
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class TooLarge(yaml.YAMLError):
    """A YAML document whose aliases expand past :data:`MAX_NODES` nodes, or refer to themselves."""


def expanded_nodes(root: yaml.Node, limit: int = MAX_NODES) -> int:
    """How many nodes ``root`` holds with every alias expanded (an alias counts its whole subtree).

    Walks the node graph once (each node's size memoized), without recursion.

    Raises:
        TooLarge: past ``limit``, or an alias inside the node it names (an endless document).
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = _children(node)
        if done:
            open_nodes.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in children)
            if sizes[key] > limit:
                raise TooLarge(f"its aliases expand past {limit} nodes (line {node.start_mark.line + 1}); "
                               "refused (write the values out, or use fewer nested anchors)")
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise TooLarge(f"an alias refers to a node that contains it (line {node.start_mark.line + 1}); "
                           "refused (the document would never end)")
        open_nodes.add(key)
        stack.append((node, True))
        for child in children:
            if id(child) in open_nodes:
                raise TooLarge(f"an alias refers to a node that contains it (line {child.start_mark.line + 1}); "
                               "refused (the document would never end)")
            if id(child) not in sizes:
                stack.append((child, False))
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


class BoundedComposer:
    """A mixin for a PyYAML loader: the document's node graph is measured (:func:`expanded_nodes`)
    before anything is built from it."""

    def get_single_node(self):
        node = super().get_single_node()
        if node is not None:
            expanded_nodes(node)
        return node


def check_env_variables(where: str, variables: dict, error: type[Exception]) -> None:
    """An environment's ``env``: names a process environment can hold (``A=B`` cannot: the ``=``
    splits it), values without NUL."""
    for name, value in variables.items():
        if not isinstance(name, str) or not ENV_NAME.match(name):
            raise error(f"{where}.env: {quote(name)} is not an environment variable name (letters, digits and _, "
                        "not starting with a digit)")
        if "\0" in str(value):
            raise error(f"{where}.env.{name}: the value holds a NUL byte, which no process environment can hold")


def check_timeouts(timeouts: dict, error: type[Exception]) -> None:
    """``timeouts.cell_s`` and ``startup_s`` within :data:`TIMEOUT_RANGE_S` (seconds)."""
    low, high = TIMEOUT_RANGE_S
    for key, value in timeouts.items():
        if isinstance(value, (int, float)) and not low <= value <= high:
            raise error(f"timeouts.{key}: {value:g} seconds is out of range; give {low:g} to {high:g}")


def check_satisfiable(where: str, text: str, error: type[Exception]) -> None:
    """A requirement such as ``keras>=3,<2`` that no version can satisfy: its lower bound
    (``>=``, ``>``, ``==``, ``~=``) lies above its upper bound (``<``, ``<=``, ``==``, ``~=``'s next release).
    A wildcard (``==3.*``) bounds the range to its releases (3 up to 4), so ``keras==3.*,<3`` is refused;
    ``===`` compares the text, so ``keras===banana``, which no version is written as, is refused, and
    ``===3.8.0`` counts as ``==3.8.0``. ``!=`` is left alone (assumed: it never makes a range empty alone)."""
    lower: tuple[Version, bool] | None = None  # (version, inclusive)
    upper: tuple[Version, bool] | None = None
    for spec in Requirement(text).specifier:
        operator = "==" if spec.operator == "===" else spec.operator
        if spec.operator == "===":
            try:
                Version(spec.version)
            except InvalidVersion:
                raise error(f"{where}: {quote(text)} matches no version (=== compares the text, and no release "
                            f"is written {spec.version!r}); the entry could never apply") from None
        if operator == "!=":
            continue
        if spec.version.endswith(".*"):  # ==3.* is 3 up to 4; !=3.* is left alone (above)
            prefix = Version(spec.version[:-2])
            ceiling = Version(".".join(map(str, prefix.release[:-1] + (prefix.release[-1] + 1,))))
            bounds = [(prefix, True, "low"), (ceiling, False, "high")]
        else:
            version = Version(spec.version)
            bounds = None
        bounds = bounds or {">=": [(version, True, "low")], ">": [(version, False, "low")],
                  "<=": [(version, True, "high")], "<": [(version, False, "high")],
                  "==": [(version, True, "low"), (version, True, "high")],
                  "~=": [(version, True, "low"), (_compatible_ceiling(version), False, "high")]}[operator]
        for bound, inclusive, side in bounds:
            if side == "low" and (lower is None or (bound, not inclusive) > (lower[0], not lower[1])):
                lower = (bound, inclusive)
            if side == "high" and (upper is None or (bound, inclusive) < (upper[0], upper[1])):
                upper = (bound, inclusive)
    if lower and upper and (lower[0] > upper[0] or (lower[0] == upper[0] and not (lower[1] and upper[1]))):
        raise error(f"{where}: {quote(text)} matches no version (at least {lower[0]}, below "
                    f"{'or at ' if upper[1] else ''}{upper[0]}); the entry could never apply")


def _compatible_ceiling(version: Version) -> Version:
    """The release ``~=`` stops below: ``~=2.15.1`` -> 2.16, ``~=3.1`` -> 4."""
    release = version.release[:-1] if len(version.release) > 1 else version.release
    return Version(".".join(map(str, release[:-1] + (release[-1] + 1,))))
