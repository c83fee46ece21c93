"""``nox -s check``: vet one user's model file in the environments it is about to meet.

The steps, as the nox sessions call them:

1. :func:`start` (session ``check``, on the host): parse the options, identify the file
   and the versions that wrote it without deserializing it (:mod:`harness.check.modelfile`),
   pick the source environment and the targets, and write the plan
   (``<workdir>/plan.json``). Bad input raises :class:`~harness.check.modelfile.UserInputError`.
2. :func:`check_in` (session ``check_in(env=…)``, once per environment, the source
   first): one supervised worker process loads the file with every loader that applies.
   In the source it records the reference inputs and outputs; in a target it compares.
3. :func:`finish` (session ``check_report``): the table, the failures with hints, and
   the exit status (:mod:`harness.check.report`).

The worker side is ``harness/worker/check.py``; the plan, and how the source environment is
matched (by Keras version, then backend, then TF version), are :mod:`harness.check.check_plan`'s.
"""
from __future__ import annotations

import argparse
import ast
import shutil
import zipfile
from pathlib import Path

from harness.check import inputs as inputs_mod, report, security_section
from harness.check.check_plan import (CheckPlan, closest_env, default_targets, env_tolerances, env_versions, is_close,
                                      parse_call, recorded_release)
from harness.check.modelfile import UserInputError, read_model_file
from harness.cli import SessionParser
from harness.config import spec as spec_mod
from harness.execute import launch
from harness.execute.supervisor import run_phase
from harness.guard import NotRegular, claim_folder, regular, write_atomic
from harness.workdir import DEFAULT_CHECK_WORKDIR

MARKER = ".keras-compat-matrix-check"  # in a work dir nox -s check made: it may empty it


def options_parser() -> SessionParser:
    """The options of ``nox -s check --``; a bad one raises :class:`~harness.cli.OptionError` (one line, exit
    status 2), which the noxfile's check of the command line (:mod:`harness.preflight`) shows before any
    session runs."""
    parser = SessionParser(
        prog="nox -s check --", description="Check that a model file loads, and predicts the same, in other "
        "TensorFlow/Keras environments. Exit status: 0 every target passes, 1 some fail, 2 bad input.")
    parser.add_argument("path", type=Path, help="a .h5, .keras, .weights.h5 (with --architecture) or SavedModel folder")
    parser.add_argument("--to", nargs="+", metavar="ENV",
                        help="target environments, or releases: tensorflow==2.18.1, keras==3.8.0, "
                             "'tensorflow==2.18.1 keras==3.8.0', tf-keras==2.16.0, tf2.18 (resolved against the "
                             "package index, $KCM_INDEX_URL, into a cached environment), or python:/path/to/python "
                             "(an existing interpreter as it is) (default: those of the default profile newer "
                             "than the source)")
    parser.add_argument("--from", dest="source", metavar="ENV",
                        help="source environment, or a release as --to takes (default: the one of matrix.yaml with "
                             "the minor versions recorded in the file, else one made for exactly those versions)")
    parser.add_argument("--architecture", type=Path, metavar="JSON",
                        help="for a weights-only file: the model's architecture, the text of model.to_json()")
    parser.add_argument("--inputs", type=Path, metavar="NPZ",
                        help="sample inputs, an .npz keyed by input name (default: seeded inputs from the "
                             "model's input signature)")
    parser.add_argument("--custom-objects", type=Path, metavar="PY",
                        help="a Python file defining custom_objects(keras) -> dict, or module-level classes "
                             "and functions; run inside each environment, never on the host")
    parser.add_argument("--expected", type=Path, metavar="NPZ",
                        help="outputs known to be right for --inputs (from production), an .npz of one array per "
                             "output: the source's outputs must match them too, and the targets are compared with them")
    parser.add_argument("--atol", type=_tolerance, metavar="A",
                        help="absolute tolerance, in the outputs' unit (default: matrix.yaml's, with its overrides)")
    parser.add_argument("--rtol", type=_tolerance, metavar="R",
                        help="relative tolerance, a fraction of |expected| (default: matrix.yaml's and its overrides)")
    parser.add_argument("--strict", action="store_true",
                        help="fail on float-level drift too (a target that loads and differs far less than lost "
                             "weights would; without --strict the check exits 0 and reports it)")
    parser.add_argument("--format", choices=("md", "json"), default="md", help="report format on stdout")
    parser.add_argument("--unsafe", action="store_true",
                        help="turn Keras safe_mode off (lets Lambda layers' Python code run): only for files you trust")
    parser.add_argument("--call", metavar="CALL",
                        help="how your code loads the file, when not with load_model's defaults, e.g. "
                             "'load_model(path, compile=False)' (default: load_model(path): it compiles where the "
                             "file holds a compile config, with safe_mode on)")
    parser.add_argument("--dry-run", dest="dry_run", action="store_true",
                        help="say which environments the check would make and what they install, then stop")
    parser.add_argument("--fail-on", dest="fail_on", nargs="+", choices=("unsafe",), default=[],
                        help="unsafe: fail when loading the file would run code from it in a target "
                             "(the report's Security section)")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_CHECK_WORKDIR,
                        help="plan, reference outputs, results and logs (default: work/check/)")
    return parser


def _tolerance(text: str) -> float:
    """A tolerance given on the command line: a finite number >= 0 (argparse reports anything else)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def _npz(path: Path, option: str = "--inputs", specs: list | None = None) -> str:
    """Check that ``path`` (given as ``option``) is an .npz file (a zip of .npy members, read without
    numpy) whose arrays fit ``specs``, the inputs the model's config declares (``harness.check.inputs``;
    None: not checked here); returns its path.

    Raises:
        UserInputError: missing, not a regular file, not an .npz, holding arrays that load only with
            pickle, or arrays whose shape or kind does not fit ``specs``.
    """
    try:
        regular(path, option)
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            # An object array (dtype "|O") loads only with pickle, which the worker never allows:
            # its .npy header (in the first bytes) says so.
            pickled = [n for n in names if n.endswith(".npy") and b"'descr': '|O'" in archive.open(n).read(256)]
            headers = {n[:-4]: inputs_mod.npy_header(archive, n) for n in names if n.endswith(".npy")} \
                if specs and not pickled and names and all(n.endswith(".npy") for n in names) else {}
    except FileNotFoundError:
        raise UserInputError(f"{option} {path}: no such file") from None
    except NotRegular as exc:
        raise UserInputError(str(exc)) from None
    except (zipfile.BadZipFile, OSError, RuntimeError, ValueError, SyntaxError) as exc:  # RuntimeError: encrypted
        raise UserInputError(f"{option} {path}: not an .npz file ({exc}); "
                       "save one with numpy.savez(path, name=array)") from None
    if not names or not all(n.endswith(".npy") for n in names):
        raise UserInputError(f"{option} {path}: not an .npz of arrays (members: {', '.join(names[:5]) or 'none'})")
    if pickled:
        raise UserInputError(f"{option} {path}: {pickled[0][:-4]} holds Python objects (dtype object), which load only "
                       "with pickle; save numeric, boolean or string arrays")
    problem = inputs_mod.mismatch(headers, specs) if headers else None
    if problem:
        raise UserInputError(f"{option} {path}: {problem}")
    return str(path)


def _python_file(path: Path) -> str:
    """Check that ``--custom-objects`` is a Python file that parses (it is parsed, never run, here)."""
    try:
        regular(path, "--custom-objects")
        ast.parse(path.read_text(), filename=str(path))
    except FileNotFoundError:
        raise UserInputError(f"--custom-objects {path}: no such file") from None
    except NotRegular as exc:
        raise UserInputError(str(exc)) from None
    except (RecursionError, MemoryError, ValueError) as exc:  # nested too deeply; a NUL byte
        raise UserInputError(f"--custom-objects {path}: cannot be parsed ({type(exc).__name__})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserInputError(f"--custom-objects {path}: cannot be read ({exc})") from None
    except SyntaxError as exc:
        raise UserInputError(f"--custom-objects {path}:{exc.lineno}: not valid Python ({exc.msg})") from None
    return str(path.resolve())


def _env_names(spec: spec_mod.MatrixSpec, option: str, names: list[str]) -> None:
    unknown = [n for n in names if n not in spec.envs]
    if unknown:
        raise UserInputError(f"{option}: no environment named {', '.join(unknown)} in {spec.path} "
                       f"(defined: {', '.join(spec.envs)})")


def plan(args: list[str], spec: spec_mod.MatrixSpec, project=None, cache: Path | None = None) -> CheckPlan:
    """Parse ``nox -s check -- ARGS`` and decide what to run.

    ``project`` answers the package index for releases named with ``--to`` (default: the index of
    $KCM_INDEX_URL); ``cache`` is where resolved releases are kept (default: work/releases.json).

    Raises:
        OptionError: unparsable options (one line; status 2).
        UserInputError: a missing or unreadable file, a file that is not a model, unknown
            environments or releases, or no target left to check.
    """
    from harness.check import releases
    options = options_parser().parse_args(args)
    release_notes = []
    if options.to:
        try:
            options.to, release_notes = releases.targets(spec.envs, options.to, project, cache)
        except releases.lock.LockError as exc:
            raise UserInputError(str(exc)) from None
        spec = releases.with_cached(spec, cache)
    if options.workdir.exists() and not options.workdir.is_dir():
        raise UserInputError(f"--workdir {options.workdir}: is a file, not a folder; name a folder")
    found = read_model_file(options.path, options.architecture)
    notes = list(found.notes) + release_notes
    spec, source, why = _source(options.source, spec, found, project, cache, notes)
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
        raise UserInputError(f"no target environment: {why}; name targets with --to ENV "
                             f"(defined: {', '.join(spec.envs)})")
    inputs = options.inputs.resolve() if options.inputs else None
    if options.expected and not inputs:
        raise UserInputError(f"--expected {options.expected}: needs --inputs, the inputs those outputs were "
                             "computed from")
    expected = _npz(options.expected.resolve(), "--expected") if options.expected else None
    return CheckPlan(
        file=found.to_json(), architecture=str(options.architecture.resolve()) if options.architecture else None,
        source=source, source_why=why, targets=targets, targets_why=targets_why,
        inputs=_npz(inputs, specs=found.inputs) if inputs else None,
        custom_objects=_python_file(options.custom_objects) if options.custom_objects else None,
        safe_mode=not options.unsafe, output=options.format, workdir=str(options.workdir.resolve()),
        matrix=str(spec.path), atol=spec.tolerance.default.atol, rtol=spec.tolerance.default.rtol, seed=spec.seed,
        notes=notes, fail_on=options.fail_on, expected=expected, strict=options.strict,
        tolerances=env_tolerances(spec, found, source, [source] + targets, options.atol, options.rtol),
        call=parse_call(options.call) if options.call else {}, dry_run=options.dry_run)


def _source(named: str | None, spec: spec_mod.MatrixSpec, found, project, cache: Path | None,
            notes: list[str]) -> tuple[spec_mod.MatrixSpec, str, str]:
    """(the spec with any environment made for it, the source environment, why), and ``notes`` extended.

    ``--from`` names an environment or a release; without it, the environment of matrix.yaml closest
    to the versions the file records, unless none has their minor versions: then the environment made
    for exactly those versions (:func:`~harness.check.check_plan.recorded_release`), or, when the index
    cannot make it, the closest with the reason.

    Raises:
        UserInputError: an unknown environment or release named with --from.
    """
    from harness.check import releases
    request = named if named and named not in spec.envs and releases.is_release(named) else None
    if named and not request:
        _env_names(spec, "--from", [named])
        return spec, named, f"named with --from ({env_versions(spec.envs[named]).describe()})"
    if not named:
        source, why = closest_env(spec, found)
        request = None if is_close(spec.envs[source], found) else recorded_release(found)
        if request is None:
            return spec, source, why
    try:
        (made,), made_notes = releases.targets(spec.envs, [request], project, cache,
                                               option="--from" if named else "the file's own versions,")
    except releases.lock.LockError as exc:
        if named:
            raise UserInputError(str(exc)) from None
        return spec, source, f"{why}; an environment for exactly those versions could not be made ({exc})"
    notes += made_notes
    spec = releases.with_cached(spec, cache)
    if named:
        return spec, made, f"named with --from ({env_versions(spec.envs[made]).describe()})"
    return spec, made, (f"the file records versions no environment of matrix.yaml runs (the closest, {source}, "
                        f"differs in minor version): {made} was made for exactly them ({request}) and runs "
                        f"{env_versions(spec.envs[made]).describe()}")


def installs(checked: CheckPlan) -> str:
    """What the check's environments install (``harness.check.installs``), for the check to print first."""
    from harness.check import installs as installs_mod, releases
    return installs_mod.installs(checked, releases.with_cached(spec_mod.load(checked.matrix)))


def start(args: list[str], spec: spec_mod.MatrixSpec) -> CheckPlan:
    """Plan the check, forget the previous check's results in the same workdir, write the plan."""
    from harness.check import releases
    checked = plan(args, spec)
    spec = releases.with_cached(spec)
    try:  # only a folder of its own: a user's --workdir . keeps its reference/ and plan.json
        claim_folder(Path(checked.workdir), MARKER, "--workdir")
    except ValueError as exc:
        raise UserInputError(str(exc)) from None
    shutil.rmtree(checked.work.reference, ignore_errors=True)
    for env in spec.envs:
        checked.files(env).reset()
    checked.write()
    return checked


def check_in(plan_path: Path, env: str, venv: Path | None, log=print) -> None:
    """Run the check's cells of ``env`` in one supervised worker process.

    Raises:
        UserInputError: no plan at ``plan_path``.
    """
    checked = CheckPlan.read(plan_path)
    if env not in checked.envs:
        log(f"{env}: not part of the check in {plan_path} (source {checked.source}, "
            f"targets {', '.join(checked.targets)}); nothing to do")
        return
    from harness.check import releases
    spec = releases.with_cached(spec_mod.load(checked.matrix))
    files = checked.files(env)
    files.reset()
    launcher = launch.prepare(spec, files, venv, log, checked.reads)
    if launcher:
        run_phase(files, launcher, spec.envs[env].worker_variables(), checked.task(env), checked.cells(env),
                  spec.cell_timeout_s, spec.startup_timeout_s)


def finish(plan_path: Path, log=print) -> tuple[int, str, str]:
    """Write ``report.md`` and ``report.json`` next to the plan.

    Returns:
        (exit status: 0 every target passes, 1 some fail, 2 bad input; the report in the
        plan's output format, for stdout; a one-line summary).

    Raises:
        UserInputError: no plan at ``plan_path``.
    """
    checked = CheckPlan.read(plan_path)
    result = report.build(checked)
    security_section.attach(result)
    texts = {"md": report.render_markdown(result), "json": report.render_json(result)}
    for kind, text in texts.items():
        path = checked.work.report(kind)
        write_atomic(path, text)
        log(f"wrote {path}")
    return result.status, texts[checked.output], result.message
