"""The user's own code in a check: ``--custom-objects`` and ``--build``, run inside the environment.

Runs inside the environment under test (Python 3.7 syntax; standard library, numpy and the
environment's TF/Keras). The user's files are imported where they lie, never installed: a file
by its path (its folder first on ``sys.path``, so it imports its neighbours), a module by name
from the folder the host resolved it in (``harness.check.user_build``).
"""
import importlib
import inspect
import sys

import recipes


class BuildError(Exception):
    """The user's ``--build`` function could not be imported, raised, or gave no model (verdict
    ``build-error``: the user's code does not run in this Keras)."""


def custom_objects(path, runtime):
    """The ``--custom-objects`` file's objects: its ``custom_objects(keras)`` dict if it defines
    one (portable across Keras 2 and 3), else its public module-level classes and functions."""
    if not path:
        return None
    module = recipes.load_recipe(path)
    made = recipes.custom_objects(module, runtime)
    if made is not None:
        return made
    return dict((name, obj) for name, obj in vars(module).items()
                if not name.startswith("_") and (inspect.isclass(obj) or inspect.isfunction(obj))
                and obj.__module__ == module.__name__)


def build_function(build):
    """The ``--build`` function, imported: ``build`` is the task's ``{"text", "path", "module",
    "root", "function"}`` (``module`` None for a file named by path).

    Raises:
        Exception: whatever importing the user's module raises (its Keras imports, say).
        BuildError: the module has no such callable.
    """
    if build["module"]:
        if build["root"] not in sys.path:
            sys.path.insert(0, build["root"])
        module = importlib.import_module(build["module"])
    else:
        module = recipes.load_recipe(build["path"])
    function = getattr(module, build["function"], None)
    if not callable(function):
        raise BuildError("{} has no function {}".format(build["module"] or build["path"], build["function"]))
    return function


def build_model(function, text):
    """Call the user's build function with no arguments, as ``model = build()``; the model it returns.

    Raises:
        Exception: whatever the user's code raises in this Keras.
        BuildError: it returned no object with ``load_weights``.
    """
    model = function()
    if getattr(model, "load_weights", None) is None:
        raise BuildError("--build {} returned {}, not a Keras model (no load_weights)".format(
            text, type(model).__name__))
    return model
