"""The Docker image each docker environment (``runner: docker``) runs in, found, pulled or built.

:func:`ensure` decides, for one environment of matrix.yaml:

1. Its ``image:``, or else the official ``tensorflow/tensorflow:<TF pin>`` (``-gpu`` with
   ``device: gpu``), when the engine has it or can pull it. The image provides TensorFlow;
   the environment's other packages (Keras, tf-keras, extra pins) are installed on top, in an
   image built from :data:`DOCKERFILE`.
2. Where no ``image:`` is given and the official image can be neither found nor pulled (no
   registry reachable), the equivalent built from the base image :data:`BASE_IMAGE` (Debian
   bookworm made with debootstrap, Python 3.11): every package of the environment installed
   in a venv, TensorFlow as pinned (``tensorflow[and-cuda]`` for a GPU environment, as
   TensorFlow documents for pip installs on Linux).

A built image is tagged ``kcm-env:<first 16 hex digits of its Dockerfile's SHA-256>``, so an
environment whose spec is unchanged reuses it. Builds run pip with the host's network
(``network_mode="host"``) and the host's CA bundle (:data:`CA_BUNDLE`, copied into the image,
``PIP_CERT``). An image that cannot be had raises :class:`harness.execute.environments.EnvError`,
which makes that environment ``env-error``.
"""
from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import string
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import docker
import requests
from docker.types import DeviceRequest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from harness.config.spec import TENSORFLOW_NAMES, EnvSpec, MatrixSpec
from harness.errors import HarnessError
from harness.execute.environments import EnvError
from harness.guard import read_bytes, read_text

OFFICIAL_REPOSITORY = "tensorflow/tensorflow"
BASE_IMAGE = "kcm-base:bookworm"
PROBE_IMAGE = "kcm-probe:empty"
BUILT_REPOSITORY = "kcm-env"
SUITE = "bookworm"
BASE_PACKAGES = "python3,python3-venv,python3-pip"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
DEBOOTSTRAP_TIMEOUT_S = 1800
VENV = "/opt/kcm/venv"  # where a build from the base image installs the packages (bookworm's pip is PEP 668)
DOCKERFILE = string.Template("""\
# keras-compat-matrix image, built by harness/execute/images.py
FROM $source
COPY ca.crt /etc/kcm/ca.crt
ENV PATH=$venv/bin:$$PATH
RUN $make_venv PIP_CERT=/etc/kcm/ca.crt PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \\
    PIP_ROOT_USER_ACTION=ignore PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install $requirements
""")

Output = Callable[[str], None]  # receives build output, a line at a time


class Unavailable(HarnessError):
    """This machine cannot run a docker environment at all (no Docker engine, no GPU for a GPU
    environment): its cells are ``skipped`` with this message as the reason."""


def engine() -> docker.DockerClient:
    """A client of the Docker engine that ``$DOCKER_HOST`` (default: the local socket) names.

    Raises:
        Unavailable: no engine answers there.
    """
    # nox logs at debug level: without this, every request to the engine (a worker's container is
    # polled five times a second) and every look for credentials would be a line of the session's output.
    for name in ("urllib3.connectionpool", "docker"):
        logging.getLogger(name).setLevel(logging.INFO)
    where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        client = docker.from_env()
        client.ping()
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise Unavailable(f"no Docker engine answers at {where} ({exc}); start one, or leave the docker "
                          "environments out of the run") from None
    return client


def gpu_request() -> DeviceRequest:
    """What a GPU environment asks the engine for: every GPU (``docker run --gpus all``)."""
    return DeviceRequest(count=-1, capabilities=[["gpu"]])


def gpu_missing(client: docker.DockerClient) -> str | None:
    """Why the engine cannot give a container a GPU, or None when it can.

    Asks exactly as a GPU environment's worker will (:func:`gpu_request`), in a
    container of :data:`PROBE_IMAGE`, an empty image (made on first use) in which only the
    engine's own static init runs (``docker-init --version``): no image needs to be built or
    pulled to find out. An engine without the NVIDIA Container Toolkit answers ``could not select
    device driver "" with capabilities: [[gpu]]``; one whose toolkit finds no GPU fails in its hook.
    """
    if not present(client, PROBE_IMAGE):
        empty = io.BytesIO()
        with tarfile.open(fileobj=empty, mode="w") as tar:
            folder = tarfile.TarInfo("tmp")
            folder.type, folder.mode = tarfile.DIRTYPE, 0o1777
            tar.addfile(folder)
        repository, tag = PROBE_IMAGE.split(":")
        client.api.import_image_from_data(empty.getvalue(), repository=repository, tag=tag)
    container = client.containers.create(PROBE_IMAGE, command=["/sbin/docker-init", "--version"], init=True,
                                         network_mode="none", device_requests=[gpu_request()])
    try:
        container.start()
        status = container.wait()["StatusCode"]
        if status != 0:
            return f"docker-init --version exited with status {status}: {container.logs().decode().strip()}"
    except docker.errors.APIError as exc:
        return str(exc.explanation or exc)
    finally:
        container.remove(force=True)
    return None


def official_image(env: EnvSpec) -> str:
    """``tensorflow/tensorflow:<version>`` of the environment's TensorFlow pin, ``-gpu`` for a GPU env."""
    version = env.versions()["tensorflow"]
    return f"{OFFICIAL_REPOSITORY}:{version}" + ("-gpu" if env.device == "gpu" else "")


def mirror() -> str:
    """The Debian mirror debootstrap fetches from: ``$KCM_DEBIAN_MIRROR``, else deb.debian.org."""
    return os.environ.get("KCM_DEBIAN_MIRROR") or DEFAULT_MIRROR


def present(client: docker.DockerClient, ref: str) -> bool:
    """Whether the engine holds the image ``ref``."""
    try:
        client.images.get(ref)
    except docker.errors.ImageNotFound:
        return False
    return True


def _pull(client: docker.DockerClient, ref: str) -> str | None:
    """Pull ``ref``; None when it worked, else the engine's error."""
    try:
        client.images.pull(ref)
    except docker.errors.APIError as exc:
        return str(exc.explanation or exc)
    return None


def ensure(client: docker.DockerClient, env: EnvSpec, spec: MatrixSpec, log: Output, output: Output) -> str:
    """The image to run ``env`` in, pulled or built first where needed (see the module docstring).

    Args:
        log: receives one line per step (found, pulled, building).
        output: receives the output of debootstrap and of image builds.

    Raises:
        EnvError: the image is neither present nor pullable and cannot be built, or a build failed.
    """
    source = env.image or official_image(env)
    if not present(client, source):
        error = _pull(client, source)
        if error and env.image:
            raise EnvError(f"image {source} is not in the Docker engine and could not be pulled ({error}); "
                           "pull or load it first, or log in to its registry")
        if error:
            log(f"{env.name}: {source} is not in the Docker engine and could not be pulled ({error}); "
                f"using its equivalent built from {BASE_IMAGE}")
            ensure_base(client, log, output)
            return build(client, env.name, BASE_IMAGE, _from_base(env, spec), log, output, make_venv=True)
        log(f"{env.name}: pulled {source}")
    on_top = _on_top(env, spec)
    return build(client, env.name, source, on_top, log, output, make_venv=False) if on_top else source


def _on_top(env: EnvSpec, spec: MatrixSpec) -> list[str]:
    """What to install on an image that provides TensorFlow: every requirement but the TF pin and
    the unpinned ``numpy`` that :meth:`EnvSpec.requirements` adds for venvs (TF brings numpy)."""
    return [r for r in env.requirements(spec.extra_pins)
            if canonicalize_name(Requirement(r).name) not in TENSORFLOW_NAMES and r != "numpy"]


def _from_base(env: EnvSpec, spec: MatrixSpec) -> list[str]:
    """Everything, for an image built from the base; a GPU env's TF pin becomes ``tensorflow[and-cuda]``."""
    out = []
    for text in env.requirements(spec.extra_pins):
        if env.device == "gpu" and canonicalize_name(Requirement(text).name) in TENSORFLOW_NAMES:
            text = f"tensorflow[and-cuda]=={env.versions()['tensorflow']}"
        out.append(text)
    return out


def dockerfile(source: str, requirements: list[str], make_venv: bool) -> str:
    """The Dockerfile of a built image: ``source`` plus ``requirements`` installed with pip
    (in a venv at :data:`VENV` when ``make_venv``)."""
    quoted = " ".join("'" + r.replace("'", "'\\''") + "'" for r in requirements)
    return DOCKERFILE.substitute(source=source, venv=VENV, requirements=quoted,
                                 make_venv=f"python3 -m venv {VENV} &&" if make_venv else "")


def build(client: docker.DockerClient, env_name: str, source: str, requirements: list[str], log: Output,
          output: Output, make_venv: bool) -> str:
    """Build (unless its tag exists) the image of :func:`dockerfile`; returns its tag.

    ``log`` hears that a build starts, ``output`` gets the build's output.

    Raises:
        EnvError: the host has no CA bundle, or the build failed (the message ends with its last line).
    """
    text = dockerfile(source, requirements, make_venv)
    tag = f"{BUILT_REPOSITORY}:{hashlib.sha256(text.encode()).hexdigest()[:16]}"
    if present(client, tag):
        return tag
    try:
        ca = read_bytes(CA_BUNDLE, "CA bundle")
    except OSError as exc:
        raise EnvError(f"cannot build {tag} for {env_name}: no CA bundle for pip ({exc})") from None
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, data in (("Dockerfile", text.encode()), ("ca.crt", ca)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    log(f"{env_name}: building {tag}: FROM {source}, pip install {' '.join(requirements)}")
    last = ""
    try:
        for chunk in client.api.build(fileobj=context, custom_context=True, tag=tag, network_mode="host",
                                      rm=True, forcerm=True, decode=True,
                                      labels={"keras-compat-matrix": "image"}):
            if "error" in chunk:
                raise EnvError(f"building the image of {env_name} (FROM {source}, pip install "
                               f"{' '.join(requirements)}) failed: {last or chunk['error'].strip()}",
                               detail=chunk["error"])
            for line in chunk.get("stream", "").splitlines():
                if line.strip():
                    last = line.strip()
                    output(line)
    except docker.errors.APIError as exc:
        raise EnvError(f"the Docker engine refused to build the image of {env_name}: {exc}") from None
    return tag


def ensure_base(client: docker.DockerClient, log: Output, output: Output) -> None:
    """Make :data:`BASE_IMAGE` unless the engine has it: debootstrap a minimal Debian bookworm
    with Python 3.11 (:data:`BASE_PACKAGES`) from :func:`mirror`, then import it as an image.

    Needs root and ``debootstrap`` (``apt-get install debootstrap``); about 1.5 minutes.

    Raises:
        EnvError: debootstrap is missing or failed, or the engine refused the import.
    """
    if present(client, BASE_IMAGE):
        return
    if shutil.which("debootstrap") is None:
        raise EnvError(f"cannot make the base image {BASE_IMAGE}: debootstrap is not installed "
                       "(apt-get install debootstrap); or name an image: in matrix.yaml")
    log(f"making {BASE_IMAGE}: debootstrap {SUITE} from {mirror()}")
    tmp = Path(tempfile.mkdtemp(prefix="kcm-base-"))
    root, archive = tmp / "root", tmp / "root.tar"
    try:
        _debootstrap(root, output)
        for junk in ("var/cache/apt/archives/*.deb", "var/lib/apt/lists/*_*"):
            for path in root.glob(junk):
                path.unlink()
        with tarfile.open(archive, "w") as tar:
            tar.add(root, arcname=".")
        repository, tag = BASE_IMAGE.split(":")
        client.api.import_image(src=str(archive), repository=repository, tag=tag, changes=[
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "ENV LANG=C.UTF-8"])
    except docker.errors.APIError as exc:
        raise EnvError(f"the Docker engine refused to import {BASE_IMAGE}: {exc}") from None
    finally:
        _remove(tmp)
    log(f"made {BASE_IMAGE}")


def _debootstrap(root: Path, output: Output) -> None:
    argv = ["debootstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", SUITE, str(root), mirror()]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=DEBOOTSTRAP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise EnvError(f"debootstrap of {BASE_IMAGE} took over {DEBOOTSTRAP_TIMEOUT_S} s") from None
    for line in (proc.stdout + proc.stderr).splitlines():
        output(line)
    if proc.returncode != 0:
        lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
        raise EnvError(f"debootstrap of {BASE_IMAGE} failed ({' '.join(argv)}): "
                       f"{lines[-1] if lines else f'status {proc.returncode}'}", detail=proc.stderr[-4000:])


def _remove(folder: Path) -> None:
    """Remove debootstrap's folder, unless it left a file system mounted there (/proc, a bind of
    /dev): removing the folder would then reach into the host's.

    Raises:
        EnvError: something is still mounted under ``folder`` (named, to unmount by hand).
    """
    mounts = read_text(Path("/proc/mounts"), "mount table").splitlines()
    mounted = [line.split()[1] for line in mounts if line.split()[1].startswith(f"{folder}/")]
    if mounted:
        raise EnvError(f"debootstrap left {', '.join(mounted)} mounted; unmount them and remove {folder}")
    shutil.rmtree(folder, ignore_errors=True)


def prepare_all(spec: MatrixSpec, names: Iterable[str]) -> list[str]:
    """Pull or build the image of every docker environment among ``names`` (``nox -s images``),
    showing each one's progress; a GPU environment is passed over where the engine has no GPU.

    Returns:
        One line per environment whose image could not be had (empty: all ready).

    Raises:
        Unavailable: no Docker engine answers.
    """
    envs = [spec.envs[name] for name in names if spec.envs[name].runner == "docker"]
    if not envs:
        return []
    client = engine()
    problems = []
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns) as progress:
        for env in envs:
            task = progress.add_task(env.name, total=1)

            def show(line: str, name: str = env.name, task: TaskID = task) -> None:
                progress.update(task, description=f"{name}: {line.strip()[:100]}")

            missing = env.device == "gpu" and gpu_missing(client)
            if missing:
                show(f"passed over: no GPU ({missing})")
            else:
                try:
                    show(f"ready: {ensure(client, env, spec, progress.console.print, show)}")
                except EnvError as exc:
                    show(f"failed: {exc}")
                    problems.append(f"{env.name}: {exc}")
            progress.update(task, completed=1)
    return problems
