"""``nox -s scan -- PATH... [--profile P | --to TARGET...] [--format md|json]``: host only, no environment.

For each file: its findings (:mod:`.findings`) and, per target, the security verdict and the
advisories that apply (:mod:`.advisories`). A target is an environment of matrix.yaml, or a release
written as requirements: ``keras==3.8.0``, ``tf-keras==2.16.0``, ``"tensorflow==2.15.1"`` (its own
Keras 2), ``"tensorflow==2.18.1 keras==3.8.0"`` (these need no index), or ``tf2.18`` (resolved with the
package index by :mod:`harness.check.releases`, then cached). Default: the environments of the default profile.
A PATH that is a folder but no SavedModel is searched for model files (:func:`model_paths`).
Exit status (:data:`EXIT_STATUS`): 0 nothing runs code, 1 a target would run code from a file, 2 bad input,
3 nothing scanned (no model file under the PATHs).
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version
from tabulate import tabulate

from harness.check.modelfile import UserInputError
from harness.check.security.advisories import ADVISORIES, RUNS, Target, Verdict, load_advisories, verdict
from harness.check.security.findings import scan_file
from harness.check.security.model import ScannedFile
from harness.cli import SessionParser
from harness.report.escape import md_cell_code, md_code, md_text

TENSORFLOW_NAMES = ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tensorflow-macos")
MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")
MAX_FILES = 10_000  # model files one scan reads from folders
NOTHING_SCANNED = 3
EXIT_STATUS = ("Exit status: 0 nothing would run code, 1 a target would run code from a file, 2 bad input, "
               f"{NOTHING_SCANNED} nothing scanned (no .keras, .h5, .hdf5 file or SavedModel under the PATHs)")


def options_parser() -> SessionParser:
    """The options of ``nox -s scan --``; a bad one raises :class:`~harness.cli.OptionError` (one line, exit
    status 2), shown before any session runs (:mod:`harness.preflight`)."""
    parser = SessionParser(
        prog="nox -s scan --", description="List what model files would make a loader run or follow, and per "
        f"target Keras the verdict and the known advisories. {EXIT_STATUS}.")
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                        help=".h5, .keras or SavedModel folder; another folder is searched for them")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--profile", help="the environments of this matrix.yaml profile (default: default)")
    group.add_argument("--to", nargs="+", metavar="TARGET",
                       help="environments of matrix.yaml or releases: keras==3.8.0, tf-keras==2.16.0, "
                            "'tensorflow==2.18.1 keras==3.8.0', tf2.18 (asks the package index once)")
    parser.add_argument("--format", choices=("md", "json", "sarif"), default="md",
                        help="report format on stdout (sarif: SARIF 2.1.0, for GitHub code scanning)")
    parser.add_argument("--advisories", type=Path, default=ADVISORIES, help=argparse.SUPPRESS)
    return parser


def release_target(text: str) -> Target:
    """A target from requirements pinned with ``==`` (see the module docstring).

    Raises:
        UserInputError: not requirements, not pinned with ``==``, an unknown package, or TensorFlow 2.16+
            without the Keras to load with.
    """
    pins = {}
    for part in text.split():
        try:
            req = Requirement(part)
        except InvalidRequirement as exc:  # packaging draws a caret on further lines: its first line only
            why = (str(exc).splitlines() or ["unparsable"])[0]
            raise UserInputError(f"--to {text!r}: {part!r} is neither an environment of matrix.yaml nor a "
                                 f"requirement such as keras==3.8.0 ({why})") from None
        specs = list(req.specifier)
        if len(specs) != 1 or specs[0].operator != "==" or "*" in specs[0].version:
            raise UserInputError(f"--to {text!r}: pin {req.name} to one release with == (e.g. {req.name}==3.8.0)")
        name = canonicalize_name(req.name)
        name = "tensorflow" if name in TENSORFLOW_NAMES else name
        if name not in ("keras", "tf-keras", "tensorflow"):
            raise UserInputError(f"--to {text!r}: {req.name} is not keras, tf-keras or tensorflow")
        if name in pins:
            raise UserInputError(f"--to {text!r}: pins {name} twice; one target names each package once (give "
                                 "several targets as several --to values: --to keras==3.8.0 keras==2.15.0)")
        pins[name] = Version(specs[0].version)
    tf = pins.get("tensorflow")
    if "tf-keras" in pins:
        return Target(text, "tf_keras", pins["tf-keras"], tf)
    if "keras" in pins:
        return Target(text, "keras3" if pins["keras"].major >= 3 else "keras2", pins["keras"], tf)
    if tf is not None and tf < Version("2.16"):
        return Target(text, "keras2", Version(f"{tf.major}.{tf.minor}"), tf)
    raise UserInputError(f"--to {text!r}: TensorFlow 2.16+ brings no Keras of its own; name the one to load with, "
                   f"e.g. 'tensorflow=={tf} keras==3.8.0' or 'tensorflow=={tf} tf-keras=={tf}'")


def short_target(text: str) -> Target:
    """A ``tfX.Y`` short form: the environment it resolved to before (work/releases.json), else resolved
    against the package index ($KCM_INDEX_URL) by :mod:`harness.check.releases`, read as its pins.

    Raises:
        UserInputError: the index cannot be asked, or has no such release (naming the releases near it).
    """
    from harness.config import lock
    from harness.check import releases
    try:
        (name,), _ = releases.targets((), [text])
    except lock.LockError as exc:
        raise UserInputError(str(exc)) from None
    target = release_target(" ".join(releases.read_cache()[name]["packages"]))
    return Target(f"{text} ({name})", target.flavor, target.keras, target.tensorflow)


def profile_envs(spec, profile: str | None) -> list[str]:
    """The environments of ``--profile`` (None: the default profile) in ``spec`` (a ``MatrixSpec``).

    Raises:
        UserInputError: no such profile (naming those defined).
    """
    profile = profile or "default"
    if profile not in spec.profiles:
        raise UserInputError(f"--profile {profile}: no such profile in {spec.path} "
                             f"(defined: {', '.join(spec.profiles)})")
    return list(spec.profiles[profile].envs)


def targets(options: argparse.Namespace) -> list[Target]:
    """The targets the options name (matrix.yaml is read only for environment names and profiles)."""
    from harness.check import releases
    names = options.to or []
    pinned = {t: release_target(t) for t in names if "=" in t}
    others = [t for t in names if "=" not in t]
    found = {}
    if others or not options.to:
        from harness.config.matrix_yaml import matrix_path
        from harness.config import spec as spec_mod
        from harness.check.check_plan import env_versions
        try:
            spec = releases.with_cached(spec_mod.load(matrix_path()))
        except spec_mod.SpecError as exc:
            raise UserInputError(str(exc)) from None
        if not options.to:
            others = profile_envs(spec, options.profile)
        unknown = [e for e in others if e not in spec.envs and not releases.SHORT.match(e)
                   and not e.startswith(releases.PYTHON)]
        if unknown:
            raise UserInputError(f"--to: no environment named {', '.join(unknown)} in {spec.path} (defined: "
                           f"{', '.join(spec.envs)}), and not a release such as keras==3.8.0 or tf2.18")
        for name in others:
            if name in spec.envs or name.startswith(releases.PYTHON):
                try:  # python:PATH: what is installed in that interpreter, read from its metadata
                    env = spec.envs.get(name) or spec_mod.python_env(name, releases.interpreter_env(name)[
                        "interpreter"])
                except releases.lock.LockError as exc:
                    raise UserInputError(str(exc)) from None
                v = env_versions(env)
                found[name] = Target(name, v.flavor, v.keras, v.tensorflow)
            else:
                found[name] = short_target(name)
    return [pinned.get(t) or found[t] for t in names] if options.to else list(found.values())


def model_paths(paths: list[Path]) -> list[Path]:
    """The model files and SavedModel folders to scan: each PATH that is a file or a SavedModel folder
    (anything named ``saved_model.pb`` in it: a named pipe or a folder there is named by ``scan_file``) as
    given, in a folder that is neither every ``.keras``/``.h5``/``.hdf5`` file
    and SavedModel folder below it (symbolic links not followed, a SavedModel's own subfolders not searched),
    in the order of the PATHs, each folder's sorted by name.

    Raises:
        UserInputError: a PATH that does not exist, or more than :data:`MAX_FILES` model files.
    """
    found = []
    for path in paths:
        if not path.is_dir() or os.path.lexists(path / "saved_model.pb"):
            found.append(path)  # scan_file names a missing or unreadable one
            continue
        for folder, dirs, files in os.walk(path, onerror=_walk_error):
            here = Path(folder)
            models = [here / d for d in dirs if os.path.lexists(here / d / "saved_model.pb")]
            dirs[:] = sorted(d for d in dirs if here / d not in models)
            found += sorted(models) + sorted(here / f for f in files if f.endswith(MODEL_SUFFIXES))
            if len(found) > MAX_FILES:
                raise UserInputError(f"{path}: more than {MAX_FILES} model files; scan fewer folders at a time")
    return list(dict.fromkeys(found))


def _walk_error(exc: OSError) -> None:
    raise UserInputError(f"{exc.filename}: cannot be read ({exc.strerror or exc})")


def main(args: list[str]) -> tuple[int, str]:
    """Scan the files of ``nox -s scan -- ARGS``: (exit status 0, 1 or :data:`NOTHING_SCANNED`, the report
    in the chosen format).

    Raises:
        UserInputError: a missing or unreadable file, an unknown target, a bad advisories table (status 2).
        OptionError: unparsable options (one line; status 2).
    """
    options = options_parser().parse_args(args)
    advisories = load_advisories(options.advisories)
    chosen = targets(options)
    results = []
    for path in model_paths(options.paths):
        scanned = scan_file(path)
        results.append((scanned, [verdict(scanned, t, advisories) for t in chosen]))
    note = "" if results else (f"nothing scanned: no .keras, .h5, .hdf5 file or SavedModel folder under "
                               f"{', '.join(str(p) for p in options.paths)}")
    status = 1 if any(v.verdict == RUNS for _, verdicts in results for v in verdicts) else 0
    status = NOTHING_SCANNED if not results else status
    if options.format == "sarif":
        from harness.check.security.sarif import render_sarif
        return status, json.dumps(render_sarif(results, status, note), indent=1)
    text = render_json(results, note) if options.format == "json" else (render_markdown(results) or note)
    return status, text


def render_json(results: list[tuple[ScannedFile, list[Verdict]]], note: str = "") -> str:
    report = {"files": [dict(s.to_json(), targets=[v.to_json() for v in verdicts]) for s, verdicts in results]}
    return json.dumps(report | ({"note": note} if note else {}), indent=1)


def security_table(verdicts: list[Verdict]) -> str:
    """The Security table: one row per target (verdict, advisories that apply, why)."""
    rows = [[md_text(v.target.name), f"{v.target.flavor} {v.target.keras or '?'}", v.verdict,
             ", ".join(a.id for a in v.advisories) or "none", md_text("; ".join(v.reasons))] for v in verdicts]
    return tabulate(rows, headers=["target", "Keras", "security", "advisories", "why"], tablefmt="github")


def advisory_lines(verdicts: list[Verdict]) -> list[str]:
    """One line per advisory applying to any of the targets: id, summary, fixed version, link."""
    seen = {a.id: a for v in verdicts for a in v.advisories}
    return [f"- **{a.id}** ({a.package} {a.ranges}; fixed {a.fixed_text}): {a.summary}. {a.link}"
            for a in seen.values()]


def render_markdown(results: list[tuple[ScannedFile, list[Verdict]]]) -> str:
    out = []
    for scanned, verdicts in results:
        out += [f"# Scan of {md_code(Path(scanned.path).name)} ({scanned.format}, {scanned.container})", "",
                "## Findings", ""]
        if scanned.findings:
            out += [tabulate([[f.kind, f.effect, md_cell_code(f.where), md_text(f.detail)] for f in scanned.findings],
                             headers=["finding", "effect", "where", "detail"], tablefmt="github"), ""]
        else:
            out += ["Nothing that a loader would run or follow.", ""]
        out += ["## Security per target", "", security_table(verdicts), ""]
        lines = advisory_lines(verdicts)
        out += (["## Advisories", ""] + lines + [""]) if lines else []
    return "\n".join(out)
