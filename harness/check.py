"""``nox -s check``: vet one user's model file in the environments it is about to meet.

The steps, as the nox sessions call them:

1. :func:`start` (session ``check``, on the host): parse the options, identify the file
   and the versions that wrote it without deserializing it (:mod:`harness.modelfile`),
   pick the source environment and the targets, and write the plan
   (``<workdir>/plan.json``). Bad input raises :class:`~harness.modelfile.BadInput`.
2. :func:`check_in` (session ``check_in(env=…)``, once per environment, the source
   first): one supervised worker process loads the file with every loader that applies.
   In the source it records the reference inputs and outputs; in a target it compares.
3. :func:`finish` (session ``check_report``): the table, the failures with hints, and
   the exit status (:mod:`harness.report.check`).

The worker side is ``harness/worker/check.py``. Source matching: by Keras version, then
backend, then TF version (see :func:`closest_env`).
"""
from __future__ import annotations

import argparse
import ast
import json
import shutil
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from harness import inputs as inputs_mod
from harness import run
from harness import spec as spec_mod
from harness.guard import NotRegular, claim_folder, regular, write_atomic
from harness.modelfile import BadInput, ModelFile, read_model_file
from harness.plan import LOADERS, write_json
from harness.report import check as report
from harness.supervisor import PhaseFiles, run_phase

DEFAULT_WORKDIR = run.ROOT / "work" / "check"
MARKER = ".keras-compat-matrix-check"  # in a work dir nox -s check made: it may empty it
PHASE = "check"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nox -s check --", description="Check that a model file loads, and predicts the same, in other "
        "TensorFlow/Keras environments. Exit status: 0 every target passes, 1 some fail, 2 bad input.")
    parser.add_argument("path", type=Path, help="a .h5, .keras, .weights.h5 (with --architecture) or SavedModel folder")
    parser.add_argument("--to", nargs="+", metavar="ENV",
                        help="target environments (default: those of the default profile newer than the source)")
    parser.add_argument("--from", dest="source", metavar="ENV",
                        help="source environment (default: the one closest to the versions recorded in the file)")
    parser.add_argument("--architecture", type=Path, metavar="JSON",
                        help="for a weights-only file: the model's architecture, the text of model.to_json()")
    parser.add_argument("--inputs", type=Path, metavar="NPZ",
                        help="sample inputs, an .npz keyed by input name (default: seeded inputs from the "
                             "model's input signature)")
    parser.add_argument("--custom-objects", type=Path, metavar="PY",
                        help="a Python file defining custom_objects(keras) -> dict, or module-level classes "
                             "and functions; run inside each environment, never on the host")
    parser.add_argument("--format", choices=("md", "json"), default="md", help="report format on stdout")
    parser.add_argument("--unsafe", action="store_true",
                        help="turn Keras safe_mode off (lets Lambda layers' Python code run): only for files you trust")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR,
                        help="plan, reference outputs, results and logs (default: work/check/)")
    return parser


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
    """Keras and TF versions from an environment's ``==`` pins.

    TF before 2.16 brings its own Keras 2 of the same minor version (TF 2.15.1: Keras 2.15).
    """
    pins = {}
    for text in env.packages:
        req = Requirement(text)
        version = spec_mod.pinned_version(req)
        if version:
            name = canonicalize_name(req.name)
            pins["tensorflow" if name in spec_mod.TENSORFLOW_NAMES else name] = Version(version)
    tf = pins.get("tensorflow")
    backend = env.backend or "tensorflow"
    if "tf-keras" in pins:
        return EnvVersions(env.name, pins["tf-keras"], tf, "tf_keras", backend)
    if "keras" in pins and pins["keras"].major >= 3:
        return EnvVersions(env.name, pins["keras"], tf, "keras3", backend)
    keras = Version(f"2.{tf.minor}") if tf is not None and tf.major == 2 else pins.get("keras")
    return EnvVersions(env.name, keras, tf, "keras2", backend)


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

    Ranked by Keras version, then backend, then TF version, then order in matrix.yaml.

    Raises:
        BadInput: the file records no Keras or TF version (the user must name ``--from``).
    """
    keras, tf = _version(found.keras_version), _version(found.tensorflow_version)
    if keras is None and tf is None:
        raise BadInput(f"{found.path}: records no Keras or TensorFlow version, so its source environment is "
                       f"unknown; name it with --from ENV (defined: {', '.join(spec.envs)})")
    backend = found.backend or "tensorflow"
    ranked = sorted(
        ((_distance(v.keras, keras), v.backend != backend, _distance(v.tensorflow, tf), index), v)
        for index, v in enumerate(env_versions(e) for e in spec.envs.values()))
    best = ranked[0][1]
    recorded = ", ".join(part for part in (keras and f"Keras {keras}", tf and f"TF {tf}",
                                           found.backend and f"backend {found.backend}") if part)
    exact = (keras is None or _same_minor(best.keras, keras)) and (tf is None or _same_minor(best.tensorflow, tf))
    closeness = "the same minor version" if exact else "the closest in matrix.yaml"
    return best.name, f"the file records {recorded} ({found.evidence}); {best.name} runs {best.describe()}, {closeness}"


def _same_minor(have: Version | None, want: Version) -> bool:
    return have is not None and have.release[:2] == want.release[:2]


def default_targets(spec: spec_mod.MatrixSpec, source: str) -> list[str]:
    """Environments of the default profile newer than ``source`` (by Keras, then TF version)."""
    floor = env_versions(spec.envs[source]).order
    return [name for name in spec.profiles["default"].envs if env_versions(spec.envs[name]).order > floor]


@dataclass(frozen=True)
class CheckPlan:
    """Everything the check sessions share, written to ``<workdir>/plan.json``.

    ``file`` is :meth:`ModelFile.to_json`; ``atol``/``rtol`` are matrix.yaml's tolerance
    (atol in the outputs' unit, rtol a fraction of the reference); ``seed`` seeds generated
    inputs and the negative control; ``safe_mode`` is False only with ``--unsafe``; ``matrix``
    is the matrix.yaml the environments come from.
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

    @property
    def envs(self) -> list[str]:
        """The source, then the targets: the order the check_in sessions run in."""
        return [self.source] + self.targets

    @property
    def loaders(self) -> tuple[str, ...]:
        return LOADERS[self.file["format"]]

    def files(self, env: str) -> PhaseFiles:
        return PhaseFiles(Path(self.workdir), PHASE, env)

    def cells(self, env: str) -> list[dict]:
        """One cell per loader; the source's record reference outputs, the targets' compare with them."""
        role = "reference" if env == self.source else "target"
        return [{"id": f"{env}/{loader}", "role": role, "loader": loader, "format": self.file["format"],
                 "fixture": Path(self.file["path"]).name, "producer": self.source,
                 "atol": self.atol, "rtol": self.rtol} for loader in self.loaders]

    def task(self, env: str) -> dict:
        """What the worker needs besides its cells (see harness/worker/check.py)."""
        return {"phase": PHASE, "env": env, "seed": self.seed, "path": self.file["path"],
                "container": self.file["container"], "architecture": self.architecture, "inputs": self.inputs,
                "custom_objects": self.custom_objects, "safe_mode": self.safe_mode,
                "reference_dir": str(Path(self.workdir) / "reference")}

    def write(self) -> Path:
        path = Path(self.workdir) / "plan.json"
        write_json(path, asdict(self))
        return path

    @classmethod
    def read(cls, path: Path) -> CheckPlan:
        """Raises: BadInput: no plan there (``nox -s check -- PATH`` writes it)."""
        try:
            return cls(**json.loads(Path(path).read_text()))
        except FileNotFoundError:
            raise BadInput(f"{path}: no check plan; start with `nox -s check -- PATH`") from None
        except (OSError, ValueError, TypeError, RecursionError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not the plan.json of nox -s check"
            raise BadInput(f"{path}: not a check plan ({why}); start with `nox -s check -- PATH`") from None


def _npz(path: Path, specs: list | None = None) -> str:
    """Check that ``--inputs`` is an .npz file (a zip of .npy members, read without numpy) whose arrays fit
    ``specs``, the inputs the model's config declares (``harness.inputs``; None: not checked here);
    returns its path."""
    try:
        regular(path, "--inputs")
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            # An object array (dtype "|O") loads only with pickle, which the worker never allows:
            # its .npy header (in the first bytes) says so.
            pickled = [n for n in names if n.endswith(".npy") and b"'descr': '|O'" in archive.open(n).read(256)]
            headers = {n[:-4]: inputs_mod.npy_header(archive, n) for n in names if n.endswith(".npy")} \
                if specs and not pickled and names and all(n.endswith(".npy") for n in names) else {}
    except FileNotFoundError:
        raise BadInput(f"--inputs {path}: no such file") from None
    except NotRegular as exc:
        raise BadInput(str(exc)) from None
    except (zipfile.BadZipFile, OSError, RuntimeError, ValueError, SyntaxError) as exc:  # RuntimeError: encrypted, or compressed unknown
        raise BadInput(f"--inputs {path}: not an .npz file ({exc}); "
                       "save one with numpy.savez(path, name=array)") from None
    if not names or not all(n.endswith(".npy") for n in names):
        raise BadInput(f"--inputs {path}: not an .npz of arrays (members: {', '.join(names[:5]) or 'none'})")
    if pickled:
        raise BadInput(f"--inputs {path}: {pickled[0][:-4]} holds Python objects (dtype object), which load only "
                       "with pickle; save numeric, boolean or string arrays")
    problem = inputs_mod.mismatch(headers, specs) if headers else None
    if problem:
        raise BadInput(f"--inputs {path}: {problem}")
    return str(path)


def _python_file(path: Path) -> str:
    """Check that ``--custom-objects`` is a Python file that parses (it is parsed, never run, here)."""
    try:
        regular(path, "--custom-objects")
        ast.parse(path.read_text(), filename=str(path))
    except FileNotFoundError:
        raise BadInput(f"--custom-objects {path}: no such file") from None
    except NotRegular as exc:
        raise BadInput(str(exc)) from None
    except (RecursionError, MemoryError, ValueError) as exc:  # nested too deeply; a NUL byte
        raise BadInput(f"--custom-objects {path}: cannot be parsed ({type(exc).__name__})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"--custom-objects {path}: cannot be read ({exc})") from None
    except SyntaxError as exc:
        raise BadInput(f"--custom-objects {path}:{exc.lineno}: not valid Python ({exc.msg})") from None
    return str(path.resolve())


def _env_names(spec: spec_mod.MatrixSpec, option: str, names: list[str]) -> None:
    unknown = [n for n in names if n not in spec.envs]
    if unknown:
        raise BadInput(f"{option}: no environment named {', '.join(unknown)} in {spec.path} "
                       f"(defined: {', '.join(spec.envs)})")


def plan(args: list[str], spec: spec_mod.MatrixSpec) -> CheckPlan:
    """Parse ``nox -s check -- ARGS`` and decide what to run.

    Raises:
        SystemExit: unparsable options (argparse prints usage; status 2).
        BadInput: a missing or unreadable file, a file that is not a model, unknown
            environments, or no target left to check.
    """
    options = _parser().parse_args(args)
    if options.workdir.exists() and not options.workdir.is_dir():
        raise BadInput(f"--workdir {options.workdir}: is a file, not a folder; name a folder")
    found = read_model_file(options.path, options.architecture)
    notes = list(found.notes)
    if options.source:
        _env_names(spec, "--from", [options.source])
        source, why = options.source, f"named with --from ({env_versions(spec.envs[options.source]).describe()})"
    else:
        source, why = closest_env(spec, found)
    if options.to:
        _env_names(spec, "--to", options.to)
        targets, targets_why = [t for t in dict.fromkeys(options.to) if t != source], "named with --to"
        if source in options.to:
            notes.append(f"{source} is the source: its row shows the loads that made the reference outputs")
    else:
        targets = default_targets(spec, source)
        targets_why = f"the environments of the default profile newer than {source}"
    if not targets:
        why = "--to names only the source" if options.to else f"none of the default profile is newer than {source}"
        raise BadInput(f"no target environment: {why}; name targets with --to ENV (defined: {', '.join(spec.envs)})")
    inputs = options.inputs.resolve() if options.inputs else None
    return CheckPlan(
        file=found.to_json(), architecture=str(options.architecture.resolve()) if options.architecture else None,
        source=source, source_why=why, targets=targets, targets_why=targets_why,
        inputs=_npz(inputs, found.inputs) if inputs else None,
        custom_objects=_python_file(options.custom_objects) if options.custom_objects else None,
        safe_mode=not options.unsafe, output=options.format, workdir=str(options.workdir.resolve()),
        matrix=str(spec.path), atol=spec.tolerance.default.atol, rtol=spec.tolerance.default.rtol, seed=spec.seed,
        notes=notes)


def start(args: list[str], spec: spec_mod.MatrixSpec) -> CheckPlan:
    """Plan the check, forget the previous check's results in the same workdir, write the plan."""
    checked = plan(args, spec)
    try:  # only a folder of its own: a user's --workdir . keeps its reference/ and plan.json
        claim_folder(Path(checked.workdir), MARKER, "--workdir")
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    shutil.rmtree(Path(checked.workdir) / "reference", ignore_errors=True)
    for env in spec.envs:
        checked.files(env).reset()
    checked.write()
    return checked


def check_in(plan_path: Path, env: str, venv: Path | None, log=print) -> None:
    """Run the check's cells of ``env`` in one supervised worker process.

    Raises:
        BadInput: no plan at ``plan_path``.
    """
    checked = CheckPlan.read(plan_path)
    if env not in checked.envs:
        log(f"{env}: not part of the check in {plan_path} (source {checked.source}, "
            f"targets {', '.join(checked.targets)}); nothing to do")
        return
    spec = spec_mod.load(checked.matrix)
    files = checked.files(env)
    files.reset()
    python = run.prepare(spec, files, venv, log)
    if python:
        run_phase(files, python, spec.envs[env].worker_variables(), checked.task(env), checked.cells(env),
                  spec.cell_timeout_s, spec.startup_timeout_s)


def finish(plan_path: Path, log=print) -> tuple[int, str, str]:
    """Write ``report.md`` and ``report.json`` next to the plan.

    Returns:
        (exit status: 0 every target passes, 1 some fail, 2 bad input; the report in the
        plan's output format, for stdout; a one-line summary).

    Raises:
        BadInput: no plan at ``plan_path``.
    """
    checked = CheckPlan.read(plan_path)
    result = report.build(checked)
    texts = {"md": report.render_markdown(result), "json": report.render_json(result)}
    for kind, text in texts.items():
        path = Path(checked.workdir) / f"report.{kind}"
        write_atomic(path, text)
        log(f"wrote {path}")
    return result.status, texts[checked.output], result.message
