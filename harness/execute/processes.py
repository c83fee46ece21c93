"""How a worker is started and watched, whatever runs it: a local process or a container.

The supervisor (``harness.execute.supervisor``) needs two things of a running worker:
to wait for it a little while (has it exited, and how?) and to kill it. A
:class:`Launcher` starts the worker and returns a :class:`ProcessHandle` that
does both. :class:`Interpreter` runs it with a Python of this machine (a venv's);
``harness.execute.containers.ContainerLauncher`` runs it in a Docker container.
"""
from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from harness.errors import HarnessError


class ProcessHandle(Protocol):
    """A started worker."""

    def wait(self, timeout: float) -> int | None:
        """Wait up to ``timeout`` seconds; the exit status (negative: killed by that signal), or None
        if it still runs. Once it returns a status, the worker's output is all in its log."""

    def kill(self) -> None:
        """Kill the worker (and everything it started) and wait until it is gone."""


class Launcher(Protocol):
    """Starts the worker script of one environment."""

    def start(self, args: list[str], variables: dict[str, str], log: BinaryIO) -> ProcessHandle:
        """Run ``python ARGS`` with the environment variables ``variables`` (on top of whatever
        the launcher's world provides), its stdout and stderr appended to ``log``.

        Raises:
            LaunchError: the worker could not be started at all.
        """


class LaunchError(HarnessError, RuntimeError):
    """A worker could not be started; the message says what and where."""


def describe_exit(code: int) -> str:
    """``killed by signal SIGSEGV`` for a negative status, ``exited with status 3`` otherwise."""
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


@dataclass(frozen=True)
class Interpreter:
    """Runs the worker with a Python interpreter of this machine (absolute path), in its own
    process group, with this process's environment plus the worker's variables."""

    python: str

    def start(self, args: list[str], variables: dict[str, str], log: BinaryIO) -> PopenHandle:
        """See :meth:`Launcher.start`."""
        try:
            proc = subprocess.Popen([self.python, *args], stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, env=dict(os.environ, **variables),
                                    start_new_session=True)
        except OSError as exc:
            raise LaunchError(f"cannot run {self.python}: {exc}") from None
        return PopenHandle(proc)


@dataclass(frozen=True)
class PopenHandle:
    """A worker started by :class:`Interpreter`."""

    proc: subprocess.Popen

    def wait(self, timeout: float) -> int | None:
        """See :meth:`ProcessHandle.wait`."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """Kill the worker's whole process group and reap it."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
