"""The dataclasses of a validated ``matrix.yaml`` that every other step shares, and :func:`load`.

:func:`load` reads the file and checks it against the JSON Schema (``harness.config.matrix_yaml``),
expands its templates, version ranges, from their lock file (``harness.config.env_templates``),
then checks what a schema cannot (``harness.config.validation.check_semantics``: profiles naming
missing environments, malformed or unpinned version requirements, tolerance overrides that match
everything or set nothing, expected failures with bad requirements or dates, docker keys on a venv
environment), all before anything is installed. Any problem raises :class:`SpecError` with one
message naming the key path. (Fixture names, and the fixture tags of expected failures, are checked
against the fixture files when a run is selected: ``harness.execute.plan.select``.)
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from harness.config import env_templates, expectation_keys, matrix_yaml
from harness.config.tolerance import ToleranceRules, accepts, names
from harness.config.validation import DECISIVE, TENSORFLOW_NAMES, SpecError, check_semantics, pinned_version
from harness.worker.catalog import FORMATS, format_name


def satisfies(versions: dict[str, Version], requirement: str) -> bool:
    """Whether an environment's versions (:meth:`EnvSpec.versions`) satisfy ``requirement``.

    ``requirement`` is PEP 508 text such as ``"keras>=3"``; an environment that
    pins no such package never satisfies it. Pre-releases count as their version.
    """
    req = Requirement(requirement)
    version = versions.get(canonicalize_name(req.name))
    return version is not None and req.specifier.contains(version, prereleases=True)


@dataclass(frozen=True)
class ExtraPin:
    """Pins an old release needs to import at all, which its own metadata lacks.

    ``when`` is a requirement such as ``"tensorflow<2.12"``, matched as
    :func:`satisfies` does (``tensorflow`` also matches ``tensorflow-cpu`` pins).
    """

    when: str
    pins: tuple[str, ...]
    reason: str

    def applies_to(self, versions: dict[str, Version]) -> bool:
        """Whether an environment with these versions (:meth:`EnvSpec.versions`) needs the pins."""
        return satisfies(versions, self.when)


@dataclass(frozen=True)
class ExpectedFailure:
    """One ``expected_failures`` entry: cells known to fail, and why.

    ``producer`` and ``consumer`` are requirements (``"keras>=3"``,
    ``"tensorflow<2.13"``) the producing and consuming environments must satisfy,
    matched against :meth:`EnvSpec.versions`. ``fixtures``, ``formats`` and
    ``loaders`` narrow the entry (None: any); ``tags`` (matrix.yaml's ``tags:``) narrows it to the fixtures
    whose ``TAGS`` hold every one of them (None: any; with ``fixtures`` as well, both must hold);
    ``python`` (``"differs"``/``"same"``) narrows it to cells whose producer and consumer run different
    (the same) Python minor versions, as ``versions()["python"]`` gives them (a Lambda's marshalled
    bytecode in HDF5 is readable only by the Python that wrote it). ``expires`` is the last day the
    entry is live (inclusive); after it the entry converts no cell and the
    report lists it as expired. ``index`` is the entry's position in the list,
    for messages (``expected_failures[3]``). ``phase``, ``verdict``, ``error`` (a regular expression),
    ``max_abs`` (a closed band ``(low, high)``, outputs' unit) and ``level`` say which failures it
    explains (``harness.config.expectation_keys``; applied by ``harness.report.expectations``); ``consumer`` is None
    for a ``produce`` entry.
    """

    index: int
    producer: str
    consumer: str | None
    reason: str
    expires: datetime.date
    link: str | None = None
    fixtures: tuple[str, ...] | None = None
    formats: tuple[str, ...] | None = None
    loaders: tuple[str, ...] | None = None
    python: str | None = None
    tags: tuple[str, ...] | None = None
    phase: str = "consume"
    verdict: str = "load-error"
    error: str | None = None
    max_abs: tuple[float, float] | None = None
    level: str = "outputs"

    @property
    def key_path(self) -> str:
        """Where the entry is in matrix.yaml, e.g. ``expected_failures[3]``."""
        return f"expected_failures[{self.index}]"

    @property
    def scope(self) -> list[tuple[str, str]]:
        """What narrows the entry beyond the two versions, for the reports:
        ``[("tags", "[functional]"), ("format", "h5/keras"), ("python", "differs")]`` (a list of names is
        any one of them, so ``/``; tags must all hold, so they are shown as written)."""
        named = [("fixture", "/".join(self.fixtures))] if self.fixtures else []
        named += [("tags", f"[{', '.join(self.tags)}]")] if self.tags else []
        named += [(key, "/".join(values)) for key, values in
                  (("format", self.formats), ("loader", self.loaders)) if values]
        return named + ([("python", self.python)] if self.python else [])

    def live(self, today: datetime.date) -> bool:
        """Whether the entry still converts cells on ``today``."""
        return today <= self.expires

    def matches(self, producer: dict[str, Version], consumer: dict[str, Version],
                fixture: str, fmt: str, loader: str, tags: tuple[str, ...] | frozenset[str]) -> bool:
        """Whether a cell falls under this entry; ``producer``/``consumer`` are the envs' versions
        (``consumer`` is ignored by a ``produce`` entry), ``tags`` the cell's fixture's ``TAGS``."""
        return (satisfies(producer, self.producer) and (self.consumer is None or satisfies(consumer, self.consumer))
                and accepts(self.fixtures, fixture) and (not self.tags or set(self.tags) <= set(tags))
                and accepts(self.formats, fmt)
                and accepts(self.loaders, loader) and self._python_matches(producer, consumer))

    def _python_matches(self, producer: dict[str, Version], consumer: dict[str, Version]) -> bool:
        if self.python is None:
            return True
        if "python" not in producer or "python" not in consumer:
            return False
        return (producer["python"] == consumer["python"]) == (self.python == "same")


def keras_flavor(versions: dict[str, Version]) -> str | None:
    """The Keras that an environment's versions (:meth:`EnvSpec.versions`, ``Golden.versions``) say
    saves and loads there, named as the worker's ``keras_flavor`` fact names it
    (``harness/worker/compat.py``): ``"tf_keras"`` where tf-keras is among them (validation requires
    TF_USE_LEGACY_KERAS with it, so tf.keras is tf_keras), ``"keras3"`` for Keras 3 or later,
    ``"keras2"`` for Keras 2 (standalone or inside TF); None where no Keras version is known."""
    if "tf-keras" in versions:
        return "tf_keras"
    keras = versions.get("keras")
    if keras is None:
        return None
    return "keras3" if keras.major >= 3 else "keras2"


@dataclass(frozen=True)
class EnvSpec:
    """One named, pinned environment of ``matrix.yaml``.

    ``packages`` are PEP 508 requirement strings; ``variables`` are extra
    environment variables for the worker (e.g. ``TF_USE_LEGACY_KERAS=1``).
    ``runner`` is ``venv`` (a uv venv of ``python``, a minor version like
    ``"3.11"``) or ``docker`` (a container of ``image``, None for the official
    TensorFlow image of the TF pin; ``python`` is then None: the image's Python
    runs, see ``harness.execute.images``), or ``python`` (the existing ``interpreter`` as it is:
    :func:`python_env` reads its Python and the versions installed in it into ``python`` and
    ``packages``). ``device`` is ``cpu`` or ``gpu`` (docker only).
    """

    name: str
    python: str | None
    packages: tuple[str, ...]
    variables: dict[str, str] = field(default_factory=dict)
    backend: str | None = None
    runner: str = "venv"
    device: str = "cpu"
    description: str = ""
    image: str | None = None
    interpreter: str | None = None

    def requirements(self, extra_pins: tuple[ExtraPin, ...]) -> list[str]:
        """The packages to install: the env's own, then every extra pin that applies."""
        reqs = list(self.packages)
        versions = self.versions()
        for extra in extra_pins:
            if extra.applies_to(versions):
                reqs.extend(extra.pins)
        if "numpy" not in {canonicalize_name(Requirement(r).name) for r in reqs}:
            reqs.append("numpy")
        return reqs

    def versions(self) -> dict[str, Version]:
        """The version of each ``==``-pinned package, by canonical name, plus two derived names.

        - ``tensorflow``: the version of whichever TensorFlow distribution is pinned
          (``tensorflow``, ``tensorflow-cpu``, ``-gpu``, ``-intel``).
        - ``python``: the environment's Python minor version (``3.11``), where matrix.yaml names one.
        - ``keras``: the Keras that saves and loads in this environment: the
          ``tf-keras`` pin where there is one (spec.py requires TF_USE_LEGACY_KERAS
          with it, so tf.keras is tf_keras); else the ``keras`` pin; else, for Keras 2
          inside TF, the TensorFlow version's major.minor (TF 2.15.1 gives keras 2.15,
          as tf.keras 2.15 ships with it).
        """
        out = {}
        for text in self.packages:
            req = Requirement(text)
            version = pinned_version(req)
            if version is not None:
                out[canonicalize_name(req.name)] = Version(version)
        tf = next((out[n] for n in sorted(TENSORFLOW_NAMES) if n in out), None)
        if tf is not None:
            out["tensorflow"] = tf
        keras = out.get("tf-keras") or out.get("keras") or (tf and Version(f"{tf.major}.{tf.minor}"))
        if keras is not None:
            out["keras"] = keras
        if self.python:
            out["python"] = Version(self.python)
        return out

    def worker_variables(self) -> dict[str, str]:
        """Environment variables for the worker process."""
        out = dict(self.variables)
        if self.backend:
            out.setdefault("KERAS_BACKEND", self.backend)
        return out

    def fingerprint(self, extra_pins: tuple[ExtraPin, ...]) -> str:
        """SHA-256 (hex) of everything that decides what gets installed."""
        blob = json.dumps([self.python, self.requirements(extra_pins)], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()


def _is_version(text: str) -> bool:
    try:
        return bool(Version(text))
    except InvalidVersion:
        return False


def python_env(name: str, interpreter: str, backend: str | None = None, variables: dict | None = None,
               description: str = "") -> EnvSpec:
    """A ``runner: python`` environment: ``python`` and ``packages`` (``==`` pins of the decisive
    packages installed) read from ``interpreter``; an interpreter that cannot be read has none of
    them (its sessions then record env-error saying why). Without TensorFlow and without ``backend``,
    the backend is jax or torch, whichever is installed. tf-keras counts only where
    TF_USE_LEGACY_KERAS is "1" (in ``variables`` or this process's environment, which the worker
    inherits): otherwise tf.keras is not tf_keras, even if it is installed. Raises nothing."""
    from harness.execute import interpreters
    try:
        python, found = interpreters.installed(interpreter, tuple(sorted(DECISIVE)))
    except interpreters.InterpreterError:
        python, found = None, {}
    legacy = {**os.environ, **(variables or {})}.get("TF_USE_LEGACY_KERAS") in ("1", "true", "True")
    found = {k: v for k, v in found.items() if (legacy or k != "tf-keras") and _is_version(v)}
    if backend is None and not TENSORFLOW_NAMES & set(found):
        backend = next((b for b in ("jax", "torch") if b in found), None)
    return EnvSpec(name=name, python=python, packages=tuple(f"{k}=={v}" for k, v in sorted(found.items())),
                   variables=dict(variables or {}), backend=backend, runner="python", description=description,
                   interpreter=interpreter)


@dataclass(frozen=True)
class Profile:
    """A named selection of environments (and optionally fixtures and formats)."""

    name: str
    envs: tuple[str, ...]
    fixtures: str | tuple[str, ...] | None = None
    formats: tuple[str, ...] | None = None
    description: str = ""


@dataclass(frozen=True)
class MatrixSpec:
    """The whole of ``matrix.yaml``, validated."""

    path: Path
    envs: dict[str, EnvSpec]
    profiles: dict[str, Profile]
    fixtures: str | tuple[str, ...] = "all"
    fixtures_dir: str = "fixtures"
    formats: tuple[str, ...] = FORMATS
    tolerance: ToleranceRules = ToleranceRules()
    extra_pins: tuple[ExtraPin, ...] = ()
    expected_failures: tuple[ExpectedFailure, ...] = ()
    cell_timeout_s: float = 180.0
    startup_timeout_s: float = 600.0
    seed: int = 1234


def load(path: str | os.PathLike, lock: dict | None = None) -> MatrixSpec:
    """Read, validate and return ``matrix.yaml``, with the environments its templates are locked
    to (``harness.config.env_templates``: ``lock``, else the lock file next to it) added as ordinary ones.

    Raises:
        SpecError: with one message naming the file and key path of the first problem.
    """
    path = Path(path)
    raw = matrix_yaml.read(path)
    try:
        if raw.get("templates"):
            raw = env_templates.expand(raw, path, lock)
        check_semantics(raw)
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from None
    return _build(path, current_format_names(raw))


def current_format_names(raw: dict) -> dict:
    """A schema-checked matrix.yaml (a dict) with every format it names under the name the format has now
    (``harness.worker.catalog.format_name``: ``weights_h5`` reads as ``h5_weights``, ``weights.h5`` as
    ``keras_weights``): in ``formats``, each profile's ``formats``, and the ``format`` of each
    ``tolerance.overrides`` and ``expected_failures`` entry (a name or a list of them). ``raw`` is left
    as it is; a format named twice under its two names stays twice (the plan keeps one)."""
    def renamed(value):
        return [format_name(v) for v in value] if isinstance(value, list) else format_name(value)

    out = dict(raw)
    if "formats" in raw:
        out["formats"] = renamed(raw["formats"])
    out["profiles"] = {name: dict(p, formats=renamed(p["formats"])) if p.get("formats") else p
                       for name, p in raw["profiles"].items()}
    for key, entries in (("expected_failures", raw.get("expected_failures")),
                         ("overrides", (raw.get("tolerance") or {}).get("overrides"))):
        if entries:
            entries = [dict(e, format=renamed(e["format"])) if "format" in e else e for e in entries]
            if key == "overrides":
                out["tolerance"] = dict(raw["tolerance"], overrides=entries)
            else:
                out[key] = entries
    return out


def _build(path: Path, raw: dict) -> MatrixSpec:
    envs = {
        name: python_env(name, env["interpreter"], env.get("backend"), env.get("env"), env.get("description", ""))
        if env.get("runner") == "python" else EnvSpec(
            name=name, python=env.get("python"), packages=tuple(env["packages"]),
            variables=dict(env.get("env", {})), backend=env.get("backend"),
            runner=env.get("runner", "venv"), device=env.get("device", "cpu"),
            description=env.get("description", ""), image=env.get("image"),
        )
        for name, env in raw["envs"].items()
    }
    profiles = {
        name: Profile(
            name=name, envs=tuple(p["envs"]), description=p.get("description", ""),
            fixtures=p.get("fixtures") if p.get("fixtures") in (None, "all") else tuple(p["fixtures"]),
            formats=tuple(p["formats"]) if p.get("formats") else None,
        )
        for name, p in raw["profiles"].items()
    }
    timeouts = raw.get("timeouts", {})
    fixtures = raw.get("fixtures", "all")
    return MatrixSpec(
        path=path, envs=envs, profiles=profiles,
        fixtures=fixtures if fixtures == "all" else tuple(fixtures),
        fixtures_dir=raw.get("fixtures_dir", "fixtures"),
        formats=tuple(raw.get("formats", FORMATS)),
        tolerance=ToleranceRules.from_yaml(raw.get("tolerance", {})),
        extra_pins=tuple(ExtraPin(e["when"], tuple(e["pins"]), e["reason"]) for e in raw.get("extra_pins", [])),
        expected_failures=tuple(_expected_failure(i, e) for i, e in enumerate(raw.get("expected_failures", []))),
        cell_timeout_s=float(timeouts.get("cell_s", 180.0)),
        startup_timeout_s=float(timeouts.get("startup_s", 600.0)),
        seed=int(raw.get("seed", 1234)),
    )


def _expected_failure(index: int, raw: dict) -> ExpectedFailure:
    return ExpectedFailure(
        index=index, producer=raw["producer"], consumer=raw.get("consumer"), reason=raw["reason"].strip(),
        expires=datetime.date.fromisoformat(raw["expires"]), link=raw.get("link"),
        fixtures=names(raw.get("fixture")), formats=names(raw.get("format")), loaders=names(raw.get("loader")),
        tags=tuple(raw["tags"]) if raw.get("tags") else None, python=raw.get("python"),
        phase=raw.get("phase", "consume"), verdict=expectation_keys.verdict_of(raw),
        error=raw.get("error"), max_abs=expectation_keys.band(raw.get("max_abs")), level=raw.get("level", "outputs"),
    )
