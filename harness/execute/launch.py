"""Ready an environment for its worker, as the matrix's phases and ``nox -s check``'s both do, and
give back how to start the worker there (a :class:`~harness.execute.processes.Launcher`): a venv's
interpreter after installing its packages, an existing interpreter as it is, or a Docker container.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from harness.config.spec import MatrixSpec
from harness.execute import environments, interpreters
from harness.execute.processes import Interpreter, Launcher
from harness.execute.supervisor import env_error_record
from harness.workdir import PhaseFiles, append_record


def prepare(spec: MatrixSpec, files: PhaseFiles, venv: Path | None, log,
            reads: Iterable[Path] = ()) -> Launcher | None:
    """Ready ``files.env`` for its worker, as the matrix and ``check`` both do: install its packages
    into ``venv`` (a venv environment), or get its image (a docker one: the worker then runs in a
    container that mounts ``reads``, the files and folders it reads from outside the repository);
    returns a launcher of its worker. A ``runner: python`` environment gets its own interpreter as it
    is (``venv`` unused, nothing installed).

    Where the environment cannot run (no interpreter, so no venv; an install that failed; an existing
    interpreter that cannot be run; no Docker engine or image) it writes the phase's env-error (or
    skipped) record and returns None.
    """
    env = spec.envs[files.env]
    if env.runner == "docker":
        return _prepare_container(spec, files, reads, log)
    if env.runner == "python":
        try:
            interpreters.installed(env.interpreter, ())
        except interpreters.InterpreterError as exc:
            append_record(files.results, env_error_record(files, f"{files.env}: {exc}"))
            return None
        log(f"{files.env}: runs {env.interpreter} as it is ({' '.join(env.packages) or 'no TF, Keras, JAX or torch'})")
        return Interpreter(env.interpreter)
    if venv is None:
        append_record(files.results, env_error_record(files, interpreters.where_looked(env.python)))
        return None
    try:
        if environments.ensure_installed(venv, env, spec):
            log(f"{files.env}: installed {' '.join(env.requirements(spec.extra_pins))}")
        else:
            log(f"{files.env}: reusing {venv} (spec unchanged)")
    except environments.EnvError as exc:
        append_record(files.results, env_error_record(files, str(exc), exc.detail))
        return None
    return Interpreter(str(environments.venv_python(venv)))


def _prepare_container(spec: MatrixSpec, files: PhaseFiles, reads: Iterable[Path], log) -> Launcher | None:
    """Get a docker environment's image; where it cannot run here write its skipped or env-error record."""
    from harness.execute import containers, images  # the docker SDK loads only where a docker environment runs
    try:
        return containers.launcher_for(spec.envs[files.env], spec, files, reads, log)
    except images.Unavailable as exc:
        append_record(files.results, env_error_record(files, str(exc), verdict="skipped"))
    except environments.EnvError as exc:
        append_record(files.results, env_error_record(files, str(exc), exc.detail))
    return None
