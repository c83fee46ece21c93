"""Environment templates: version ranges in ``matrix.yaml``, locked environments when it is loaded.

A template (``templates:`` in matrix.yaml) is an environment whose decisive packages may carry a
range instead of a pin. ``nox -s lock`` (:mod:`harness.config.lock`) resolves the ranges against the
package index into the lock file next to matrix.yaml (``matrix.lock.json``); :func:`expand`, called
by ``harness.config.spec.load``, adds the locked environments as ordinary ones, so the plan, the sessions
and the reports see only environments. A profile may name a template: all its locked environments.

The first decisive package with a range (``tensorflow-cpu>=2.12``) is the template's *axis*: one
environment per minor (``every: minor``, its newest patch) or per release (``every: patch``); any
other range takes its newest release that installs with the axis release. Each template's hash
(of the keys that decide the resolution) is stored in the lock, so a template changed since the
lock was written is an error until ``nox -s lock`` runs again.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from harness.config.validation import DECISIVE, SCHEMA_PATH, SpecError, check_env, parse_requirement, pinned_version
from harness.guard import loads, read_text

# The keys that decide what a template resolves to; the others (description, env, backend) are
# filled in when the lock is expanded, so changing them needs no new lock.
RESOLUTION_KEYS = ("name", "packages", "every", "newest", "python", "include_prereleases", "include_yanked",
                   "others", "only_prereleases")
ENV_KEYS = ("description", "env", "backend")
LOCK_FORMAT = 1
_SCHEMA = json.loads(read_text(SCHEMA_PATH, "schema"))
ENV_NAME = re.compile(_SCHEMA["properties"]["envs"]["propertyNames"]["pattern"])
PYTHON = re.compile(_SCHEMA["$defs"]["env"]["properties"]["python"]["pattern"])


@dataclass(frozen=True)
class Template:
    """One validated ``templates.KEY`` entry of matrix.yaml.

    ``name`` is the environments' name pattern (``{minor}``: the axis release's major.minor,
    ``{release}``: its full version); ``packages`` PEP 508 requirements, pinned or ranged;
    ``pythons`` the candidate interpreters (minor versions, None: ``harness.config.lock.PYTHONS``);
    ``newest`` how many of the newest resolved releases to keep (None: all); ``others`` how the
    other ranged decisive packages are chosen (``newest``, ``same_minor``, ``contemporary``; see
    :mod:`harness.config.lock`); ``only_prereleases`` keep only pre-releases newer than every final
    release (the environments may then be none); ``extra`` the
    environment keys copied into each locked environment (``description``, ``env``, ``backend``).
    """

    key: str
    name: str
    packages: tuple[str, ...]
    hash: str
    every: str = "minor"
    newest: int | None = None
    pythons: tuple[str, ...] | None = None
    include_prereleases: bool = False
    include_yanked: bool = False
    others: str = "newest"
    only_prereleases: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def where(self) -> str:
        """Its key path in matrix.yaml, ``templates.KEY``."""
        return f"templates.{self.key}"

    def ranged(self) -> list[int]:
        """Where in ``packages`` the decisive requirements with a range are; the first is the axis."""
        reqs = [Requirement(text) for text in self.packages]
        return [i for i, r in enumerate(reqs)
                if canonicalize_name(r.name) in DECISIVE and pinned_version(r) is None]

    def env_name(self, release: str) -> str:
        """The name of the environment locked to axis release ``release`` (``"2.15.1"``)."""
        return _fill(self.name, release)

    def env(self, entry: dict) -> dict:
        """The ``envs`` mapping of one locked environment (an entry of the lock's ``envs``)."""
        out = {"python": entry["python"], "packages": list(entry["packages"])}
        for key, value in self.extra.items():
            out[key] = _fill(value, entry["release"]) if key == "description" else value
        return out


def _fill(text: str, release: str) -> str:
    version = Version(release)
    return text.replace("{minor}", f"{version.major}.{version.minor}").replace("{release}", release)


def parse(raw: dict) -> dict[str, Template]:
    """The templates of a schema-checked matrix.yaml (``harness.config.matrix_yaml.read``), checked further.

    Raises:
        SpecError: a template named like an environment, an invalid requirement, a decisive
            package with a marker or a URL, no decisive package with a range, or a name pattern
            that cannot tell releases apart (``every: patch`` needs ``{release}``).
    """
    out = {}
    for key, tpl in (raw.get("templates") or {}).items():
        where = f"templates.{key}"
        if key in raw["envs"]:
            raise SpecError(f"{where}: an environment has the same name (envs.{key}); profiles name "
                                 "either, so rename one")
        for i, text in enumerate(tpl["packages"]):
            req = parse_requirement(f"{where}.packages[{i}]", text)
            if canonicalize_name(req.name) in DECISIVE and (req.marker or req.url):
                raise SpecError(f"{where}.packages[{i}]: {text!r}: {req.name} decides the verdicts, so it "
                                     "takes a version or a range only (no marker, no URL)")
        digest = json.dumps({k: tpl.get(k) for k in RESOLUTION_KEYS}, sort_keys=True)
        python = tpl.get("python")
        template = Template(
            key=key, name=tpl["name"], packages=tuple(tpl["packages"]),
            hash=hashlib.sha256(digest.encode()).hexdigest(), every=tpl.get("every", "minor"),
            newest=tpl.get("newest"), pythons=(python,) if isinstance(python, str) else python and tuple(python),
            include_prereleases=tpl.get("include_prereleases", False),
            include_yanked=tpl.get("include_yanked", False), others=tpl.get("others", "newest"),
            only_prereleases=tpl.get("only_prereleases", False), extra={k: tpl[k] for k in ENV_KEYS if k in tpl})
        if not template.ranged():
            raise SpecError(f"{where}.packages: no decisive package ({', '.join(sorted(DECISIVE))}) has "
                                 "a range, so there is nothing to resolve; give one a range (tensorflow-cpu>=2.12), "
                                 "or move a fully pinned environment to envs")
        if template.every == "patch" and "{release}" not in template.name:
            raise SpecError(f"{where}.name: {template.name!r} gives every release of a minor the same name; "
                                 "with every: patch use {release}")
        out[key] = template
    return out


def _locked_problem(template: Template, locked) -> str | None:
    """What ``nox -s lock`` would not have written for ``template`` in one environment of the lock (an
    entry of its ``envs``), or None: a key missing or of the wrong type, a name other than the pattern's
    for its release, or packages other than the template's, each range pinned to a release inside it
    (the axis's to ``release``)."""
    if not isinstance(locked, dict) or not all(isinstance(locked.get(k), str) for k in ("name", "release", "python")) \
            or not isinstance(locked.get("packages"), list) or not all(isinstance(p, str) for p in locked["packages"]):
        return "is not an environment: name, release and python (strings) and packages (a list of strings)"
    what = f"({locked['name']})"
    if not PYTHON.match(locked["python"]):
        return f"{what} has python {locked['python']!r}, not a version like \"3.11\""
    try:
        release = Version(locked["release"])
    except InvalidVersion:
        return f"{what} has release {locked['release']!r}, not a version"
    if locked["name"] != template.env_name(locked["release"]):
        return f"{what} should be named {template.env_name(locked['release'])!r} for release {release}"
    if len(locked["packages"]) != len(template.packages):
        return f"{what} has {len(locked['packages'])} packages; the template has {len(template.packages)}"
    axis = template.ranged()[0]
    for i, (text, pin) in enumerate(zip(template.packages, locked["packages"], strict=True)):
        req = Requirement(text)
        if canonicalize_name(req.name) not in DECISIVE:
            if pin != text:
                return f"{what} has {pin!r} where the template has {text!r}"
            continue
        try:
            pinned = Requirement(pin)
        except InvalidRequirement:
            pinned = None
        version = pinned and pinned_version(pinned)
        if version is None or canonicalize_name(pinned.name) != canonicalize_name(req.name) \
                or not req.specifier.contains(version, prereleases=True) or (i == axis and Version(version) != release):
            within = f"release {release}" if i == axis else "a release"
            return f"{what} has {pin!r}, not {req.name} pinned to {within} within the template's {text!r}"
    return None


def same_pins(env: dict, packages: list[str]) -> bool:
    """Whether an ``envs`` entry of matrix.yaml pins exactly the decisive packages (names and versions,
    extras aside) of a locked environment's ``packages``."""
    def pins(texts) -> set[tuple[str, str | None]]:
        out = set()
        for text in texts:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                return set()
            if canonicalize_name(req.name) in DECISIVE:
                out.add((canonicalize_name(req.name), pinned_version(req)))
        return out
    return isinstance(env, dict) and isinstance(env.get("packages"), list) \
        and pins(env["packages"]) == pins(packages) != set()


def lock_path(matrix: Path) -> Path:
    """The lock file of ``matrix`` (``matrix.yaml`` → ``matrix.lock.json``, in the same folder)."""
    return matrix.with_name(f"{matrix.stem}.lock.json")


def read_lock(matrix: Path) -> dict:
    """The lock file of ``matrix`` as written by ``nox -s lock`` (see :mod:`harness.config.lock`).

    Raises:
        SpecError: no lock file, or not one ``nox -s lock`` wrote; the message says to run it.
    """
    path = lock_path(matrix)
    try:
        lock = loads(read_text(path, "lock file"))
    except FileNotFoundError:
        raise SpecError(f"templates: no lock file {path.name} next to {matrix.name}; run `nox -s lock` to "
                             "resolve the templates' version ranges into it") from None
    except (OSError, ValueError) as exc:
        raise SpecError(f"templates: {path.name} cannot be read ({exc}); run `nox -s lock` to write it "
                             "again") from None
    if not isinstance(lock, dict) or lock.get("format") != LOCK_FORMAT or not isinstance(lock.get("templates"), dict):
        raise SpecError(f"templates: {path.name} is not a lock file of format {LOCK_FORMAT} written by "
                             "`nox -s lock`; run `nox -s lock` to write it again")
    return lock


def expand(raw: dict, matrix: Path, lock: dict | None = None) -> dict:
    """``raw`` (from ``harness.config.matrix_yaml.read``) with every template's locked environments added to ``envs``
    (after matrix.yaml's own, in template order, oldest release first) and every template name in a
    profile's ``envs`` replaced by them (each environment once). A locked environment named like one of
    matrix.yaml's ``envs`` is that environment (its Python, pins and description stand: a hand-written
    environment wins; ``nox -s lock`` logs where its pins differ, :func:`same_pins`). ``lock`` defaults to
    :func:`read_lock` of ``matrix``.

    Raises:
        SpecError: a template invalid (:func:`parse`), missing from the lock or changed since
            it was resolved, or a locked environment named like another, or invalid as an
            environment (``check_env``); each says what to do.
    """
    templates = parse(raw)
    lock = read_lock(matrix) if lock is None else lock
    name, when = lock_path(matrix).name, lock.get("resolved_at", "?")
    envs, expanded, owner = dict(raw["envs"]), {}, {}
    for key, template in templates.items():
        entry = lock["templates"].get(key)
        if entry is None:
            raise SpecError(f"{template.where}: not in {name} (resolved {when}); run `nox -s lock`")
        if not isinstance(entry, dict) or not isinstance(entry.get("envs"), list) \
                or not (entry["envs"] or template.only_prereleases):
            raise SpecError(f"{template.where}: {name} holds no list of its environments; the file was "
                                 "edited or is damaged: run `nox -s lock` to write it again")
        if entry.get("hash") != template.hash:
            raise SpecError(f"{template.where} changed since {name} was resolved ({when}); run `nox -s lock` "
                                 "to resolve it again")
        expanded[key] = []
        for i, locked in enumerate(entry["envs"]):
            problem = _locked_problem(template, locked)
            if problem:
                raise SpecError(f"{template.where}: {name}'s envs[{i}] {problem}; the file was edited or is "
                                     "damaged: run `nox -s lock` to write it again")
            env_name = locked["name"]
            if env_name in raw["envs"]:
                expanded[key].append(env_name)  # matrix.yaml's own environment stands for it (nox -s lock says so)
                continue
            if env_name in envs:
                raise SpecError(f"{template.where}: its environment {env_name!r} is also locked by "
                                     f"templates.{owner[env_name]}; change "
                                     "the template's name pattern")
            if not ENV_NAME.match(env_name):
                raise SpecError(f"{template.where}.name: gives {env_name!r}, which is not a name of letters, "
                                     "digits, '.', '_', '+' or '-'")
            env = template.env(locked)
            check_env(f"{template.where} (locked as {env_name})", env)
            envs[env_name], owner[env_name] = env, key
            expanded[key].append(env_name)
    profiles = {pname: dict(profile, envs=list(dict.fromkeys(
                    e for item in profile["envs"] for e in expanded.get(item, [item]))))
                for pname, profile in raw["profiles"].items()}
    return dict(raw, envs=envs, profiles=profiles)
