"""``nox -s check -- FILE --build module:function`` (or ``path/to/file.py:function``): the user's own code
that builds the architecture a weights-only file is loaded into, found and vetted on the host.

The host never imports or runs the user's code (it runs only inside each environment:
``harness/worker/user_code.py``). It checks what it can without running it, before any environment is
made: the option's syntax, that the file exists and is Python (parsed with :mod:`ast`), and that it
binds the function's name at its top level (a ``def``, a class, an assignment or an import). A module
named with dots is looked for as Python's import would from the current folder (``pkg/mod.py`` or
``pkg/mod/__init__.py``): the worker puts that folder first on ``sys.path`` and imports it by name.
"""
from __future__ import annotations

import ast
from pathlib import Path

from harness.check.modelfile import UserInputError
from harness.guard import NotRegular, TooLarge, read_text

USAGE = ("give it as module:function or path/to/file.py:function, a function that returns the model "
         "(called with no arguments), e.g. --build my_models:build_model")


def parse_build(text: str, cwd: Path | None = None) -> dict:
    """``--build``'s function, found: ``{"text", "path", "module", "root", "function"}``.

    ``path`` is the file's absolute path; ``module`` the dotted name (None for a file named by path);
    ``root`` the folder the worker puts first on ``sys.path`` (where a dotted name is found, else the file's
    folder); ``function`` the name called with no arguments. ``cwd`` is where a dotted name is looked for
    (default: the current folder).

    Raises:
        UserInputError: not ``X:function``; no such file or module; not Python; no such name at its top
            level; a function whose parameters lack defaults (it is called with none).
    """
    where, _, function = text.rpartition(":")
    if not where or not function.isidentifier():
        raise UserInputError(f"--build {text!r}: not module:function; {USAGE}")
    cwd = (cwd or Path.cwd()).resolve()
    if where.endswith(".py") or "/" in where:
        path, module = (cwd / where).resolve(), None
        root = path.parent
    else:
        if not all(part.isidentifier() for part in where.split(".")):
            raise UserInputError(f"--build {text!r}: {where!r} is neither a module name nor a .py file; {USAGE}")
        module, root = where, cwd
        base = cwd.joinpath(*where.split("."))
        found = [p for p in (base.with_suffix(".py"), base / "__init__.py") if p.is_file()]
        if not found:
            tried = f"{base.with_suffix('.py').relative_to(cwd)} and {(base / '__init__.py').relative_to(cwd)}"
            raise UserInputError(f"--build {text!r}: no module {where} under {cwd} (looked for {tried}); "
                                 "run the check from the folder you import it from, or name the file")
        path = found[0]
    _check_source(text, path, function)
    return {"text": text, "path": str(path), "module": module, "root": str(root), "function": function}


def _check_source(text: str, path: Path, function: str) -> None:
    try:
        tree = ast.parse(read_text(path, "--build"), filename=str(path))
    except FileNotFoundError:
        raise UserInputError(f"--build {text!r}: {path}: no such file") from None
    except (NotRegular, TooLarge) as exc:
        raise UserInputError(str(exc)) from None
    except SyntaxError as exc:
        raise UserInputError(f"--build {text!r}: {path}:{exc.lineno}: not valid Python ({exc.msg})") from None
    except (OSError, UnicodeDecodeError, RecursionError, MemoryError, ValueError) as exc:
        raise UserInputError(f"--build {text!r}: {path}: cannot be read as Python ({type(exc).__name__})") from None
    bound = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            bound.update((t.id, node) for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update(((a.asname or a.name).split(".")[0], node) for a in node.names)
    if function not in bound:
        defined = sorted(n for n, v in bound.items() if isinstance(v, (ast.FunctionDef, ast.AsyncFunctionDef)))
        raise UserInputError(f"--build {text!r}: {path.name} defines no {function} at its top level "
                             f"(its functions: {', '.join(defined) or 'none'})")
    node = bound[function]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        args = node.args
        positional = args.posonlyargs + args.args
        required = [a.arg for a in positional][:len(positional) - len(args.defaults)]
        required += [a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is None]
        if required:
            raise UserInputError(f"--build {text!r}: {function}() needs {', '.join(required)}, but is called with no "
                                 "arguments; wrap it in a function that passes them")
