"""The plan of ``nox -s check`` (:class:`CheckPlan`, ``<workdir>/plan.json``) and how it picks
environments: the source closest to the versions that wrote the file (:func:`closest_env`), the
targets newer than it (:func:`default_targets`).

Read by the check's steps (:mod:`harness.check.steps`) and its report (:mod:`harness.check.report`).
"""
from __future__ import annotations

import ast
from dataclasses import asdict, dataclass, field
from pathlib import Path

from packaging.version import InvalidVersion, Version

from harness.check.modelfile import UserInputError, ModelFile
from harness.config import spec as spec_mod
from harness.execute.plan import LOADERS
from harness.errors import HarnessError
from harness.guard import loads, read_text
from harness.worker.catalog import LOAD_WEIGHTS_KWARGS, format_name
from harness.workdir import PhaseFiles, WorkDir, write_json

PHASE = "check"
# The keyword arguments of load_model that --call may set, each True or False (Keras 2 and 3 both take
# compile; safe_mode is dropped in a Keras whose load_model has none: harness/worker/compat.py).
CALL_ARGUMENTS = ("compile", "safe_mode")
CALL_NAMES = ("load_model", "models.load_model", "keras.models.load_model", "tf.keras.models.load_model",
              "keras.saving.load_model", "tf_keras.models.load_model")


def parse_call(text: str) -> dict[str, bool]:
    """The keyword arguments of the load_model call a user writes (``--call``), e.g.
    ``load_model(path, compile=False)`` -> ``{"compile": False}``. Parsed, never run.

    Raises:
        UserInputError: not a call of load_model, or an argument other than a path and
            ``compile``/``safe_mode`` given True or False.
    """
    usage = ("give it as the user's code calls it, e.g. --call 'load_model(path, compile=False)' "
             f"(arguments: {', '.join(CALL_ARGUMENTS)}, each True or False)")
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError) as exc:
        why = exc.msg if isinstance(exc, SyntaxError) else exc
        raise UserInputError(f"--call {text!r}: not a Python call ({why}); {usage}") from None
    if not isinstance(node, ast.Call) or ast.unparse(node.func) not in CALL_NAMES:
        raise UserInputError(f"--call {text!r}: not a call of load_model; {usage}")
    if len(node.args) > 1 or any(isinstance(a, ast.Starred) for a in node.args):
        raise UserInputError(f"--call {text!r}: takes the path as its one positional argument; {usage}")
    call = {}
    for keyword in node.keywords:
        if keyword.arg not in CALL_ARGUMENTS or not isinstance(keyword.value, ast.Constant) \
                or not isinstance(keyword.value.value, bool):
            value = ast.unparse(keyword.value)
            what = f"**{value}" if keyword.arg is None else f"{keyword.arg}={value}"
            raise UserInputError(f"--call {text!r}: {what} is not one the check can pass; {usage}")
        call[keyword.arg] = keyword.value.value
    return call


@dataclass(frozen=True)
class EnvVersions:
    """What an environment's pins say it runs (read from matrix.yaml, not from the venv)."""

    name: str
    keras: Version | None
    tensorflow: Version | None
    flavor: str
    backend: str

    @property
    def order(self) -> tuple[Version, Version]:
        """Sort key for "newer": Keras version, then TF version."""
        return (self.keras or Version("0"), self.tensorflow or Version("0"))

    def describe(self) -> str:
        tf = f"TF {self.tensorflow}" if self.tensorflow else "no TF"
        if self.flavor == "keras2":
            return f"Keras {self.keras} inside {tf}"
        label = "tf_keras" if self.flavor == "tf_keras" else "Keras"
        backend = "" if self.backend == "tensorflow" else f", {self.backend} backend"
        return f"{label} {self.keras} on {tf}{backend}"


def env_versions(env: spec_mod.EnvSpec) -> EnvVersions:
    """Keras and TF versions, and the Keras flavour, from an environment's ``==`` pins
    (:meth:`~harness.config.spec.EnvSpec.versions`, :func:`~harness.config.spec.keras_flavor`)."""
    versions = env.versions()
    return EnvVersions(env.name, versions.get("keras"), versions.get("tensorflow"),
                       spec_mod.keras_flavor(versions) or "keras2", env.backend or "tensorflow")


def _version(text: str | None) -> Version | None:
    try:
        return Version(text) if text else None
    except InvalidVersion:
        return None


def _distance(have: Version | None, want: Version | None) -> tuple:
    """How far an environment's version is from the file's: other major, minor steps,
    older than the file, patch steps (smaller is closer; a newer reader beats an older one)."""
    if want is None:
        return ()
    if have is None:  # the environment pins no such package: farther than any version
        return (True, float("inf"), True, float("inf"))
    return (have.major != want.major, abs(have.minor - want.minor), have < want, abs(have.micro - want.micro))


def closest_env(spec: spec_mod.MatrixSpec, found: ModelFile) -> tuple[str, str]:
    """The environment of ``matrix.yaml`` closest to the versions recorded in ``found``, and why.

    Ranked by backend where the file records one (a file saved on TensorFlow is not sourced from the
    atlas's Keras 3 on JAX of its minor), then Keras version, then backend, then TF version, then order in
    matrix.yaml.

    Raises:
        UserInputError: the file records no Keras or TF version (the user must name ``--from``).
    """
    keras, tf = _version(found.keras_version), _version(found.tensorflow_version)
    if keras is None and tf is None:
        raise UserInputError(f"{found.path}: records no Keras or TensorFlow version, so its source environment is "
                       f"unknown; name it with --from ENV (defined: {', '.join(spec.envs)})")
    backend = found.backend or "tensorflow"
    ranked = sorted(
        ((found.backend is not None and v.backend != backend, _distance(v.keras, keras), v.backend != backend,
          _distance(v.tensorflow, tf), index), v)
        for index, v in enumerate(env_versions(e) for e in spec.envs.values()))
    best = ranked[0][1]
    recorded = ", ".join(part for part in (keras and f"Keras {keras}", tf and f"TF {tf}",
                                           found.backend and f"backend {found.backend}") if part)
    exact = (keras is None or _same_minor(best.keras, keras)) and (tf is None or _same_minor(best.tensorflow, tf))
    closeness = "the same minor version" if exact else "the closest in matrix.yaml"
    return best.name, f"the file records {recorded} ({found.evidence}); {best.name} runs {best.describe()}, {closeness}"


def _same_minor(have: Version | None, want: Version) -> bool:
    return have is not None and have.release[:2] == want.release[:2]


def is_close(env: spec_mod.EnvSpec, found: ModelFile) -> bool:
    """Whether ``env`` runs the minor versions of Keras and TF the file records (those it records)."""
    have, keras, tf = env_versions(env), _version(found.keras_version), _version(found.tensorflow_version)
    return (keras is None or _same_minor(have.keras, keras)) and (tf is None or _same_minor(have.tensorflow, tf))


def recorded_release(found: ModelFile) -> str | None:
    """The release request (:mod:`harness.check.releases`) of exactly the versions the file records:
    ``keras==3.8.0`` (with ``tensorflow==V`` when recorded too), ``tf-keras==2.16.0`` for Keras 2.16+
    (tf_keras records its own version), ``tensorflow==V`` or ``tfX.Y`` for Keras 2 up to 2.15 (the
    Keras inside that TF); None when it records neither, or a backend other than TensorFlow
    (release environments run TensorFlow)."""
    keras, tf = _version(found.keras_version), _version(found.tensorflow_version)
    if found.backend not in (None, "tensorflow") or (keras is None and tf is None):
        return None
    with_tf = f"tensorflow=={tf} " if tf else ""
    if keras is not None and keras.major >= 3:
        return f"{with_tf}keras=={keras}"
    if keras is not None and (keras.major, keras.minor) >= (2, 16):
        return f"{with_tf}tf-keras=={keras}"
    if tf is not None:
        return f"tensorflow=={tf}"
    return f"tf{keras.major}.{keras.minor}"


def default_targets(spec: spec_mod.MatrixSpec, source: str) -> list[str]:
    """Environments of the default profile newer than ``source`` (by Keras, then TF version)."""
    floor = env_versions(spec.envs[source]).order
    return [name for name in spec.profiles["default"].envs if env_versions(spec.envs[name]).order > floor]


@dataclass(frozen=True)
class CheckPlan:
    """Everything the check sessions share, written to ``<workdir>/plan.json``.

    ``file`` is :meth:`ModelFile.to_json`; ``atol``/``rtol`` are matrix.yaml's default
    tolerance (atol in the outputs' unit, rtol a fraction of the reference); ``tolerances``
    maps each environment to its ``[atol, rtol]``: matrix.yaml's overrides resolved for the
    file's format, the environment's backend and the source>environment device pair, as the
    matrix resolves them, or ``--atol``/``--rtol`` where given; ``seed`` seeds generated inputs
    and the negative control; ``safe_mode`` is False only with ``--unsafe``; ``expected`` is
    ``--expected``; ``strict`` fails float-level drift; ``fail_on`` is ``--fail-on``; ``matrix``
    is the matrix.yaml the environments come from; ``call`` holds the keyword arguments of the user's
    load_model call (``--call``; empty: Keras's defaults, ``compile=True`` and ``safe_mode=True``);
    ``dry_run`` (``--dry-run``) stops the check after saying what it would install; ``build`` is
    ``--build``, the user's function that builds the architecture for ``load_weights``
    (:func:`harness.check.user_build.parse_build`), or None.
    """

    file: dict
    architecture: str | None
    source: str
    source_why: str
    targets: list[str]
    targets_why: str
    inputs: str | None
    custom_objects: str | None
    safe_mode: bool
    output: str
    workdir: str
    matrix: str
    atol: float
    rtol: float
    seed: int
    notes: list[str] = field(default_factory=list)
    fail_on: list[str] = field(default_factory=list)
    expected: str | None = None
    strict: bool = False
    tolerances: dict[str, list[float]] = field(default_factory=dict)
    call: dict[str, bool] = field(default_factory=dict)
    dry_run: bool = False
    build: dict | None = None

    @property
    def effective_call(self) -> dict[str, bool]:
        """The keyword arguments the check passes: ``call``, and ``safe_mode=False`` under ``--unsafe``."""
        return dict(self.call, **({} if self.safe_mode else {"safe_mode": False}))

    @property
    def call_text(self) -> str:
        """The user's call, as the report prints it: ``load_model(path)``, ``load_model(path, compile=False)``."""
        given = "".join(f", {name}={value}" for name, value in self.effective_call.items())
        return f"load_model(path{given})"

    @property
    def envs(self) -> list[str]:
        """The source, then the targets: the order the check_in sessions run in."""
        return [self.source] + self.targets

    @property
    def reads(self) -> list[Path]:
        """The files the worker reads besides the repository: the model file (a SavedModel folder's
        content too), the architecture, inputs, expected outputs, custom objects and ``--build``'s file."""
        found = Path(self.file["path"])
        paths = [found / "saved_model.pb" if self.file["container"] == "directory" else found]
        build = (self.build or {}).get("path")
        return paths + [Path(p) for p in (self.architecture, self.inputs, self.expected, self.custom_objects, build)
                        if p]

    @property
    def loaders(self) -> tuple[str, ...]:
        """The loaders the check tries: the format's, less ``load_weights`` with by_name or skip_mismatch
        (the matrix's loads between architectures; a check loads the user's file into its own). A plan
        written before the weights formats were renamed names them by their old names
        (:func:`~harness.worker.catalog.format_name`)."""
        return tuple(name for name in LOADERS[format_name(self.file["format"])] if not LOAD_WEIGHTS_KWARGS.get(name))

    @property
    def work(self) -> WorkDir:
        """The check's work dir's layout."""
        return WorkDir(Path(self.workdir))

    def files(self, env: str) -> PhaseFiles:
        return self.work.phase(PHASE, env)

    def cells(self, env: str) -> list[dict]:
        """One cell per loader; the source's record reference outputs, the targets' compare with them."""
        role = "reference" if env == self.source else "target"
        atol, rtol = self.tolerances.get(env, (self.atol, self.rtol))
        return [{"id": f"{env}/{loader}", "role": role, "loader": loader, "format": self.file["format"],
                 "fixture": Path(self.file["path"]).name, "producer": self.source,
                 "atol": atol, "rtol": rtol} for loader in self.loaders]

    def task(self, env: str) -> dict:
        """What the worker needs besides its cells (see harness/worker/check.py)."""
        return {"phase": PHASE, "env": env, "seed": self.seed, "path": self.file["path"],
                "container": self.file["container"], "architecture": self.architecture, "inputs": self.inputs,
                "custom_objects": self.custom_objects, "safe_mode": self.safe_mode, "expected": self.expected,
                "call": self.call, "reference_dir": str(self.work.reference), "build": self.build}

    def write(self) -> Path:
        path = self.work.plan
        write_json(path, asdict(self))
        return path

    @classmethod
    def read(cls, path: Path) -> CheckPlan:
        """Raises: UserInputError: no plan there (``nox -s check -- PATH`` writes it)."""
        try:
            return cls(**loads(read_text(Path(path), "check plan", 16 * 2**20)))
        except FileNotFoundError:
            raise UserInputError(f"{path}: no check plan; start with `nox -s check -- PATH`") from None
        except HarnessError as exc:  # a FIFO, a folder, not UTF-8, too large: the reader's line says which
            raise UserInputError(f"{exc}; start with `nox -s check -- PATH`") from None
        except (OSError, ValueError, TypeError, RecursionError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not the plan.json of nox -s check"
            raise UserInputError(f"{path}: not a check plan ({why}); start with `nox -s check -- PATH`") from None


def env_tolerances(spec: spec_mod.MatrixSpec, found: ModelFile, source: str, envs: list[str],
                   atol: float | None, rtol: float | None) -> dict[str, list[float]]:
    """``{env: [atol, rtol]}``: matrix.yaml's tolerance for the file in each environment, resolved
    as the matrix resolves a cell's (:meth:`harness.config.tolerance.ToleranceRules.resolve`: the file's
    name as the fixture, its format, the environment's backend, the source>environment device
    pair), with ``--atol``/``--rtol`` (None: not given) taking precedence over every source."""
    out = {}
    for env in envs:
        device_pair = f"{spec.envs[source].device}>{spec.envs[env].device}"
        resolved = spec.tolerance.resolve(found.path.name, found.format, spec.envs[env].backend or "tensorflow",
                                          device_pair)
        out[env] = [resolved.atol if atol is None else atol, resolved.rtol if rtol is None else rtol]
    return out
