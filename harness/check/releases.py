"""Targets by release: ``--to tensorflow==2.18.1``, ``keras==3.8.0``, ``"tensorflow==2.18.1 keras==3.8.0"``,
``tf-keras==2.16.0`` or ``tf2.18``, resolved into an ordinary environment with the lock code.

Each request becomes a one-template resolution (:func:`harness.config.lock.resolve`) whose axis is
TensorFlow (``tensorflow-cpu``, as matrix.yaml pins it), so the Python comes from the releases'
Requires-Python and wheels exactly as ``nox -s lock`` picks it:

- ``tfX.Y``: the newest patch of TF X.Y that installs, with the Keras it ships (TF before 2.16), or
  the newest Keras 3 that installs with it (2.16+), the way matrix.yaml's templates do;
- ``tensorflow==V``: that release (and the newest Keras 3 from 2.16); ``keras==V`` (Keras 3): the
  newest TF with which it installs; ``tf-keras==V``: the newest patch of the TF of its minor, with
  ``TF_USE_LEGACY_KERAS=1``; both pinned: exactly those.

The environment is named after what it holds (``tf2.18.1-keras3.8.0``, ``tf2.15.1``,
``tf2.16.2-tfkeras2.16.0``) and cached in ``work/releases.json``, so the next check reuses it
(:func:`with_cached` adds the cached ones to a loaded matrix.yaml). A release not on the index is
one :class:`~harness.config.lock.LockError` naming it and the releases near it.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import Callable

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from harness.config import env_templates, lock, spec
from harness.execute import interpreters
from harness.guard import loads, quote, read_text, safe_name
from harness.workdir import RELEASES_CACHE

SHORT = re.compile(r"^tf(\d+)\.(\d+)$")
PYTHON = "python:"
TF, KERAS, TF_KERAS = "tensorflow-cpu", "keras", "tf-keras"
RESOLVER = 2  # cached entries resolved otherwise (before Requires-Dist was checked) are resolved again


def is_release(text: str) -> bool:
    """Whether a ``--to`` value asks for a release (or an existing interpreter, ``python:PATH``) rather
    than naming an environment."""
    return "==" in text or bool(SHORT.match(text)) or text.startswith(PYTHON)


def interpreter_env(text: str) -> dict:
    """``python:/path/to/python``: an environment of that interpreter as it is (``runner: python``), named
    after its Python, the TF and Keras installed in it and a digest of its path (``py3.11-tf2.16.2-keras3.3.3-
    1a2b3c``), in the cache's shape. Installs nothing; its versions are read again whenever it is loaded.

    Raises:
        LockError: the interpreter cannot be run or read (naming it and why).
    """
    path = text[len(PYTHON):]
    try:
        python, found = interpreters.installed(path, tuple(sorted(spec.DECISIVE)))
    except interpreters.InterpreterError as exc:
        raise lock.LockError(f"--to {text!r}: {exc}") from None
    versions = spec.python_env("?", path).versions()
    held = "".join(f"-{label}{versions[key]}" for key, label in (("tensorflow", "tf"), ("tf-keras", "tfkeras"),
                                                                 ("keras", "keras"), ("jax", "jax"), ("torch", "torch"))
                   if key in versions and not (key == "keras" and "tf-keras" in versions))
    name = f"py{python}{held}-{hashlib.sha256(path.encode()).hexdigest()[:6]}"
    held = ", ".join(f"{k} {v}" for k, v in sorted(found.items())) or "no TF, Keras, JAX or torch"
    return {"name": name, "runner": "python", "interpreter": path, "request": text, "resolver": RESOLVER,
            "description": f"--to {text}: that interpreter as it is, nothing installed (Python {python}; {held})"}


def _near(name: str, version: Version, project: lock.Project) -> str:
    found = [r.version for r in lock.releases(project(name))]
    below = [v for v in found if v < version][-2:]
    above = [v for v in found if v > version][:2]
    return ", ".join(map(str, below + above)) or "none"


def _exact(name: str, version: Version, project: lock.Project, text: str) -> str:
    """``name>=V,<=V`` (a range, so the lock code resolves it), once V is known to exist."""
    if not any(r.version == version for r in lock.releases(project(name), True, True)):
        raise lock.LockError(f"--to {text!r}: {name} {version} is not on the index; the releases near it: "
                             f"{_near(name, version, project)}")
    return f"{name}>={version},<={version}"


def _pins(text: str) -> dict[str, Version]:
    pins = {}
    for part in text.split():
        try:
            req = Requirement(part)
            (only,) = req.specifier
            if only.operator != "==":
                raise ValueError
            version = Version(only.version)
        except (InvalidRequirement, InvalidVersion, ValueError):
            raise lock.LockError(f"--to {text!r}: {part!r} is no release such as keras==3.8.0, "
                                 "tensorflow==2.18.1 or tf2.18") from None
        name = canonicalize_name(req.name)
        name = TF if name in spec.TENSORFLOW_NAMES else name
        if name not in (TF, KERAS, TF_KERAS):
            raise lock.LockError(f"--to {text!r}: {req.name} is not tensorflow, keras or tf-keras")
        pins[name] = version
    return pins


def packages_for(text: str, project: lock.Project) -> tuple[list[str], dict, str]:
    """(the template's packages, its worker variables, how they were chosen) for a release request.

    Raises:
        LockError: not a release, an unknown package, a release not on the index (with the
            releases near it), or Keras 2 asked for without TensorFlow.
    """
    short = SHORT.match(text)
    if short:
        major, minor = int(short[1]), int(short[2])
        if not [r for r in lock.releases(project(TF)) if r.version.release[:2] == (major, minor)]:
            raise lock.LockError(f"--to {text!r}: TensorFlow {major}.{minor} is not on the index; the releases near "
                                 f"it: {_near(TF, Version(f'{major}.{minor}'), project)}")
        tf = f"{TF}>={major}.{minor},<{major}.{minor + 1}"
        newer = (major, minor) >= (2, 16)
        return ([tf, f"{KERAS}>=3"] if newer else [tf]), {}, (
            f"the newest patch of TF {major}.{minor} that installs, with "
            + ("the newest Keras 3 that installs with it" if newer else "the Keras 2 it ships"))
    pins = _pins(text)
    tf = pins.get(TF)
    if TF_KERAS in pins:
        v = pins[TF_KERAS]
        tf_req = _exact(TF, tf, project, text) if tf else f"{TF}>={v.major}.{v.minor},<{v.major}.{v.minor + 1}"
        return [tf_req, _exact(TF_KERAS, v, project, text)], {"TF_USE_LEGACY_KERAS": "1"}, (
            f"tf-keras {v} with " + (f"TF {tf}" if tf else f"the newest patch of TF {v.major}.{v.minor}"))
    if KERAS in pins:
        v = pins[KERAS]
        if v.major < 3:
            raise lock.LockError(f"--to {text!r}: Keras 2 comes inside TensorFlow; ask for tensorflow==2.{v.minor}.X "
                                 f"or tf2.{v.minor}")
        tf_req = _exact(TF, tf, project, text) if tf else f"{TF}>=2.16"
        return [tf_req, _exact(KERAS, v, project, text)], {}, (
            f"Keras {v} with " + (f"TF {tf}" if tf else "the newest TF with which it installs"))
    tf_req = _exact(TF, tf, project, text)
    newer = tf >= Version("2.16")
    return ([tf_req, f"{KERAS}>=3"] if newer else [tf_req]), {}, (
        f"TF {tf} with " + ("the newest Keras 3 that installs with it" if newer else "the Keras 2 it ships"))


def env_name(packages: list[str]) -> str:
    """The name of an environment after what it holds: ``tf2.18.1-keras3.8.0``, ``tf2.16.2-tfkeras2.16.0``."""
    pins = {canonicalize_name(Requirement(p).name): spec.pinned_version(Requirement(p)) for p in packages}
    name = f"tf{pins[TF]}"
    if pins.get(TF_KERAS):
        name += f"-tfkeras{pins[TF_KERAS]}"
    elif pins.get(KERAS):
        name += f"-keras{pins[KERAS]}"
    return name


Requires = Callable[[str, Version, str], "list[str] | None"]
"""(project, release, Python "3.12") → the Requires-Dist lines of that release's wheel, None if unknown."""


def index_requires(project: lock.Project, index_url: str = lock.INDEX_URL) -> Requires:
    """Requires-Dist from the index's wheel metadata (:func:`harness.config.lock.requires_dist`): the wheel for
    that Python first, then the release's other files (assumed: a TF, Keras or tf-keras release
    declares the same dependencies on them in every wheel; an index may serve only some metadata files)."""
    def requires(name: str, version: Version, python: str) -> list[str] | None:
        (release,) = [r for r in lock.releases(project(name), True, True) if r.version == version]
        first = release.wheel_for(python)
        for file in ([first] if first else []) + [f for f in release.files if f is not first][:8]:
            try:
                found = lock.requires_dist(name, file, index_url)
            except lock.LockError:
                continue
            if found is not None:
                return found
        return None
    return requires


def _key(name: str) -> str:
    name = canonicalize_name(name)
    return TF if name in spec.TENSORFLOW_NAMES else name


def _conflict(packages: list[str], python: str, requires: Requires) -> tuple | str | None:
    """The first pin another pin's Requires-Dist refuses: (the requiring package and its release, the
    refused package, the specifier required, the message); or the packages whose dependencies could
    not be read (a str); None when all agree."""
    pins = {_key(Requirement(p).name): Version(spec.pinned_version(Requirement(p))) for p in packages}
    unread = []
    for name, version in pins.items():
        lines = requires(name, version, python)
        if lines is None:
            unread.append(f"{name} {version}")
            continue
        for line in lines:
            try:
                req = Requirement(line)
                wanted = not req.marker or req.marker.evaluate(
                    {"extra": "", "python_version": python, "python_full_version": f"{python}.0"})
            except (InvalidRequirement, ValueError):
                continue
            other = _key(req.name)
            if wanted and other in pins and other != name and not req.specifier.contains(pins[other], True):
                return name, version, other, str(req.specifier), (
                    f"{name} {version} requires {req.name}{req.specifier} (its wheel's metadata), "
                    f"not {other} {pins[other]}")
    return ", ".join(unread) if unread else None


def _exclude(packages: list[str], name: str, specifier: str) -> list[str] | None:
    """``packages`` with ``specifier`` added to ``name``'s requirement; None when the user pinned it exactly."""
    out = []
    for text in packages:
        req = Requirement(text)
        if _key(req.name) == name:
            if {s.operator for s in req.specifier} == {">=", "<="} and len({s.version for s in req.specifier}) == 1:
                return None
            text = f"{req.name}{req.specifier & SpecifierSet(specifier)}"
        out.append(text)
    return out


def resolve(text: str, project: lock.Project, pythons: tuple[str, ...] = lock.PYTHONS,
            requires: Requires | None = None) -> dict:
    """One release request resolved: ``{"name", "python", "packages", "env", "description", "request",
    "resolver"}`` (the keys of a matrix.yaml environment, plus the request and :data:`RESOLVER`),
    ``description`` saying how.

    The lock code picks releases by wheels and Requires-Python; then each pinned package's Requires-Dist
    (``requires``, default the index's wheel metadata) must admit the others (TF 2.21 requires
    keras>=3.12.0, so ``keras==3.8.0`` gets an older TF): a package the request left free is narrowed
    and resolved again, a conflict between two pins it named is an error.

    Raises:
        LockError: see :func:`packages_for`; nothing that installs on ``pythons``; pins whose
            dependencies refuse each other.
    """
    packages, variables, how = packages_for(text, project)
    requires = requires or index_requires(project)
    for _ in range(12):
        raw = {"envs": {}, "templates": {"release": {"name": "r{release}", "packages": packages, "newest": 1}}}
        template = env_templates.parse(raw)["release"]
        try:
            (entry,) = lock.resolve(template, project, pythons)["envs"]
        except lock.LockError as exc:
            raise lock.LockError(f"--to {text!r}: {str(exc).split(': ', 1)[-1]}") from None
        conflict = _conflict(entry["packages"], entry["python"], requires)
        if not isinstance(conflict, tuple):
            break
        requiring, release, refused, wanted, message = conflict
        narrowed = (_exclude(packages, refused, wanted) if wanted else None) \
            or _exclude(packages, requiring, f"<{release}")
        if narrowed is None:
            raise lock.LockError(f"--to {text!r}: {message}")
        packages = narrowed
    else:
        raise lock.LockError(f"--to {text!r}: no releases whose dependencies agree ({message})")
    name = env_name(entry["packages"])
    unchecked = f"; the dependencies of {conflict} could not be read from the index, not checked" if conflict else ""
    return {"name": name, "python": entry["python"], "packages": entry["packages"], "env": variables,
            "description": f"--to {text}: {how}; Python {entry['python']} (the newest of "
                           f"{', '.join(entry['pythons'])} it installs on){unchecked}", "request": text,
            "resolver": RESOLVER}


def targets(env_names, wanted: list[str], project: lock.Project | None = None,
            cache: Path | None = None, option: str = "--to") -> tuple[list[str], list[str]]:
    """``--to`` (or ``--from``: ``option``) values with each release replaced by the environment it
    resolves to (from the cache, else the index: ``project``, default $KCM_INDEX_URL or PyPI, each
    project asked once, on the Pythons found here), and a note per release saying how it was
    resolved. ``env_names`` (matrix.yaml's) pass unchanged.

    Raises:
        LockError: see :func:`resolve` (the index cannot be asked, an unknown release).
    """
    names, notes = [], []
    for text in wanted:
        if text in env_names or not is_release(text):
            names.append(text)
            continue
        found = None if text.startswith(PYTHON) else cached_for(text, cache)
        if found is None:
            index = os.environ.get("KCM_INDEX_URL", lock.INDEX_URL)
            pythons = tuple(p for p in lock.PYTHONS if interpreters.find_python(p)) or lock.PYTHONS
            asked = project or functools.lru_cache(maxsize=None)(lambda name, url=index: lock.fetch(name, url))
            try:
                found = interpreter_env(text) if text.startswith(PYTHON) else \
                    resolve(text, asked, pythons, None if project else index_requires(asked, index))
            except lock.LockError as exc:
                raise lock.LockError(str(exc).replace("--to ", f"{option} ", 1)) from None
            remember(found, cache)
        names.append(found["name"])
        notes.append(f"{found['name']}: {found['description'].replace('--to ', f'{option} ', 1)}")
    return names, notes


def read_cache(path: Path | None = None, warn: bool = False) -> dict[str, dict]:
    """The cached environments, by name ({} when there is no cache or it is unreadable; with ``warn``, an
    unreadable one is named on stderr: a FIFO, a folder, not UTF-8, not JSON, too large, not an object)."""
    path = path or RELEASES_CACHE
    try:
        data = loads(read_text(path, "releases cache", 16 * 2**20))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        if warn:
            print(f"WARNING: {path}: ignored, the releases cache cannot be read ({exc})", file=sys.stderr)
        return {}
    if not isinstance(data, dict) and warn:
        print(f"WARNING: {path}: ignored, the releases cache is not a JSON object", file=sys.stderr)
    return data if isinstance(data, dict) else {}


def remember(resolved: dict, path: Path | None = None) -> None:
    """Add a resolved environment to the cache (written whole, atomically).

    Raises:
        LockError: the cache cannot be written (naming it).
    """
    path = path or RELEASES_CACHE
    cached = read_cache(path)
    cached[resolved["name"]] = resolved
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(cached, indent=1, sort_keys=True))
        tmp.replace(path)
    except OSError as exc:
        raise lock.LockError(f"{path}: the resolved environment {resolved['name']} cannot be cached "
                             f"({exc.strerror or exc})") from None


def cached_for(text: str, path: Path | None = None) -> dict | None:
    """The cached environment resolved from exactly this request, if any (no index needed)."""
    return next((env for env in read_cache(path).values()
                 if isinstance(env, dict) and env.get("request") == text and env.get("resolver") == RESOLVER), None)


def _cached_problem(name, env) -> str | None:
    """What makes an entry of the releases cache unusable, or None."""
    if not safe_name(name):
        return "not a plain environment name"
    if not isinstance(env, dict):
        return "not an object"
    if env.get("runner") == "python":
        return None if isinstance(env.get("interpreter"), str) else "interpreter is not a path"
    packages = env.get("packages")
    if not isinstance(env.get("python"), str) or not isinstance(packages, list):
        return "python is not text or packages is not a list"
    for package in packages:
        try:
            Requirement(package)
        except (InvalidRequirement, TypeError):
            return f"package {quote(package, 80)} is not a requirement"
    if not isinstance(env.get("env", {}), dict):
        return "env is not a mapping"
    return None


def with_cached(matrix: spec.MatrixSpec, path: Path | None = None) -> spec.MatrixSpec:
    """``matrix`` with the cached environments added (an environment of matrix.yaml wins); an
    interpreter's (``runner: python``) versions are read from it again."""
    extra = {}
    for name, env in read_cache(path, warn=True).items():
        if name in matrix.envs:
            continue
        problem = _cached_problem(name, env)
        if problem:  # a damaged cache costs its entry, named, never every command
            print(f"WARNING: {path or RELEASES_CACHE}: entry {quote(name, 80)} ignored: {problem}", file=sys.stderr)
            continue
        try:
            if env.get("runner") == "python":
                extra[name] = spec.python_env(name, str(env["interpreter"]), description=env.get("description", ""))
            else:
                extra[name] = spec.EnvSpec(name=name, python=env["python"], packages=tuple(env["packages"]),
                                           variables=dict(env.get("env", {})),
                                           description=env.get("description", ""))
        except (KeyError, TypeError):
            continue
    return replace(matrix, envs={**matrix.envs, **extra}) if extra else matrix
