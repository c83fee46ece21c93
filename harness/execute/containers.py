"""Run the worker of a docker environment in a container, through the Docker Engine API.

:func:`launcher_for` readies one phase of one environment: it finds the engine
(``harness.execute.images.engine``), asks it for a GPU where the environment wants one
(:func:`harness.execute.images.gpu_missing`), gets the image (``harness.execute.images.ensure``) and returns a
:class:`ContainerLauncher`. The supervisor then starts and watches the worker exactly as it
does a local process, through :class:`ContainerHandle`.

Each worker runs in a fresh container of the environment's image, as this process's user
and group, with the engine's init as PID 1 (so signals kill the worker as they would a local
process), no network (``network_mode="none"``), and the paths it needs bind-mounted at the
same paths as on the host, so the task file needs no translation: the repository and the
fixtures (or a checked model file and its companions) read-only, the phase's artifacts
(read-write for a producer, read-only for a consumer; a check's reference outputs read-write),
results and tasks folders read-write. Its output is copied into the phase's log
as it comes.
"""
from __future__ import annotations

import os
import re
import secrets
import signal
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import docker
import requests
from docker.models.containers import Container
from docker.types import Mount

from harness import ROOT
from harness.config.spec import EnvSpec, MatrixSpec
from harness.execute import images
from harness.execute.processes import LaunchError
from harness.workdir import PhaseFiles, WorkDir

LABEL = "keras-compat-matrix"
LOG_DRAIN_S = 10.0  # how long to wait for the last output of a container that has exited


def mounts(files: PhaseFiles, reads: Iterable[Path]) -> list[Mount]:
    """The bind mounts of a worker of this phase, each at its host path (see the module docstring).

    ``reads`` are the files and folders the worker reads (fixtures; a checked model file, its inputs,
    expected outputs, architecture and custom objects): each one's folder is mounted read-only where
    it lies outside the repository. A check's worker also writes its reference outputs
    (``<workdir>/reference``). Creates the folders it mounts that must exist on the host.
    """
    work = WorkDir(files.workdir)
    writable = [work.results, work.tasks]
    readable = []
    if files.phase == "produce":
        writable.append(work.artifacts / files.env)
    elif files.phase == "check":
        writable.append(work.reference)
    else:
        readable.append(work.artifacts)
    readable += [ROOT] + sorted({f.resolve().parent for f in reads if not f.resolve().is_relative_to(ROOT)})
    for path in writable + readable:
        path.mkdir(parents=True, exist_ok=True)
    return ([Mount(str(p.resolve()), str(p.resolve()), type="bind", read_only=True) for p in readable]
            + [Mount(str(p.resolve()), str(p.resolve()), type="bind") for p in writable])


@dataclass(frozen=True)
class ContainerLauncher:
    """Starts the worker in a fresh container of ``image`` (see the module docstring).

    ``name`` prefixes the containers' names; ``gpu`` asks the engine for every GPU.
    """

    client: docker.DockerClient
    image: str
    name: str
    mounts: tuple[Mount, ...]
    gpu: bool = False

    def create(self, args: list[str], variables: dict[str, str]) -> Container:
        """Create (not start) the container that runs ``python3 ARGS``; the caller removes it.

        Raises:
            docker.errors.APIError: the engine refused (no such image, bad mount).
        """
        name = re.sub(r"[^a-zA-Z0-9_.-]", "-", f"{self.name}-{secrets.token_hex(3)}")
        return self.client.containers.create(
            self.image, command=["python3", *args], name=name, environment={"HOME": "/tmp", **variables},
            mounts=list(self.mounts), working_dir=str(ROOT), user=f"{os.getuid()}:{os.getgid()}", init=True,
            network_mode="none", device_requests=[images.gpu_request()] if self.gpu else None,
            labels={LABEL: "worker"})

    def start(self, args: list[str], variables: dict[str, str], log: BinaryIO) -> ContainerHandle:
        """See :meth:`harness.execute.processes.Launcher.start`; only the worker's variables reach it."""
        container = None
        try:
            container = self.create(args, variables)
            container.start()
        except docker.errors.APIError as exc:
            if container is not None:
                container.remove(force=True)
            raise LaunchError(f"container of {self.image} did not start: {exc.explanation or exc}") from None
        return ContainerHandle(container, log)


class ContainerHandle:
    """A worker running in a container (:class:`harness.execute.processes.ProcessHandle`).

    A thread copies the container's output into the log until the container stops. The exit
    status of the engine's init is 128 + N when the worker died of signal N; it is reported
    as -N, as for a local process. The container is removed once it has stopped.
    """

    def __init__(self, container: Container, log: BinaryIO):
        self.container = container
        self._copier = threading.Thread(target=self._copy, args=(log,), daemon=True)
        self._copier.start()

    def _copy(self, log: BinaryIO) -> None:
        try:
            for chunk in self.container.logs(stream=True, follow=True):
                log.write(chunk)
                log.flush()
        except (docker.errors.APIError, requests.RequestException):
            pass  # the container went away mid-stream: what came is in the log

    def wait(self, timeout: float) -> int | None:
        """See :meth:`harness.execute.processes.ProcessHandle.wait`."""
        self._copier.join(timeout)
        self.container.reload()
        state = self.container.attrs["State"]
        if state["Status"] not in ("exited", "dead"):
            return None
        self._copier.join(LOG_DRAIN_S)
        self.container.remove(force=True)
        code = state["ExitCode"]
        return -(code - 128) if code > 128 and code - 128 in signal.valid_signals() else code

    def kill(self) -> None:
        """Kill the container (SIGKILL to its init and the worker), then remove it."""
        try:
            self.container.kill()
        except docker.errors.APIError:
            pass  # it had stopped already
        self._copier.join(LOG_DRAIN_S)
        self.container.remove(force=True)


def launcher_for(env: EnvSpec, spec: MatrixSpec, files: PhaseFiles, reads: Iterable[Path],
                 log) -> ContainerLauncher:
    """Ready the container of one phase of a docker environment; build or pull its image first.

    Args:
        reads: the files and folders the worker reads (mounted where outside the repository; see :func:`mounts`).
        log: receives a line per step; image build output goes to the phase's log file.

    Raises:
        images.Unavailable: no Docker engine, or no GPU for a GPU environment (its cells are skipped).
        environments.EnvError: the image could not be had (the environment is env-error).
    """
    client = images.engine()
    if env.device == "gpu":
        missing = images.gpu_missing(client)
        if missing:
            raise images.Unavailable(f"no GPU: the Docker engine cannot give a container one ({missing})")
    with open(files.log, "a") as build_log:
        image = images.ensure(client, env, spec, log, lambda line: build_log.write(line + "\n"))
    log(f"{env.name}: workers run in containers of {image}" + (" with every GPU" if env.device == "gpu" else ""))
    return ContainerLauncher(client, image, f"kcm-{files.phase}-{env.name}", tuple(mounts(files, reads)),
                             gpu=env.device == "gpu")
