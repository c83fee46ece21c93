"""What a check will install, said before any environment is made (``nox -s check -- ... --dry-run`` stops there).

Per environment of the check: its role, its requirements (matrix.yaml's pins plus extra pins), whether a
venv of this machine already holds exactly them (then nothing is downloaded), and otherwise the size of
the wheels its ``==`` pins download, asked of the package index's JSON API (``$KCM_INDEX_URL``, else
PyPI), with the CUDA libraries a pin requires (``nvidia-*``) counted apart: PyPI's Linux wheels of
PyTorch require them even on a CPU-only machine, and PyPI has no CPU-only build of it (those are on
PyTorch's own index, which the harness does not use).
"""
from __future__ import annotations

import os
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from harness.check.check_plan import CheckPlan
from harness.config import lock
from harness.config.spec import EnvSpec, MatrixSpec
from harness.config.validation import pinned_version
from harness.execute.environments import MARKER
from harness.guard import loads, read_text

LARGE_BYTES = 100 * 2**20  # a download worth naming on its own line (100 MiB)
CUDA_PREFIXES = ("nvidia-", "jax-cuda", "triton")
# Packages whose Linux wheels on PyPI are CUDA builds, said where the index lists no dependencies to count.
# torch: its manylinux wheels require NVIDIA's CUDA libraries (nvidia-*); a check's keras3.15-torch venv
# (torch 2.9.1) was measured at 6.7 GB on a CPU machine (issue 19 of this project).
CUDA_BUILDS = {"torch": "PyPI's Linux wheels of torch are CUDA builds that pull in NVIDIA's CUDA libraries "
                        "(a torch 2.9.1 venv measured 6.7 GB); PyPI has no CPU-only build of it"}


def _ready(env: EnvSpec, spec: MatrixSpec, venvs: Path) -> bool:
    """True when a venv under ``venvs`` (nox's ``.nox``) already holds exactly ``env``'s requirements:
    nox reuses it, or uv fills a new one from its cache without a download."""
    fingerprint = env.fingerprint(spec.extra_pins)
    for marker in venvs.glob(f"*/{MARKER}"):
        try:
            if loads(read_text(marker, "venv marker")).get("fingerprint") == fingerprint:
                return True
        except (OSError, ValueError, AttributeError):
            continue
    return False


def wheel_bytes(name: str, version: str, python: str, index_url: str) -> tuple[int | None, list[str] | None]:
    """(the size in bytes of the wheel of ``name==version`` for CPython ``python`` on Linux x86_64, or None
    where the index names none; the release's ``Requires-Dist`` lines, None where the index gives none).

    Asks the release's own document (``{index}/{name}/{version}/json``, which lists its dependencies), else,
    where the index has no such document (a mirror of the project documents only), the project's.

    Raises:
        lock.LockError: the index did not answer.
    """
    try:
        document = lock.fetch(name, index_url, version=version)
        files, requires = document.get("urls") or [], (document.get("info") or {}).get("requires_dist")
    except lock.LockError:
        files, requires = lock.fetch(name, index_url)["releases"].get(version) or [], None
    wheel = lock.Release(name, Version(version), tuple(files)).wheel_for(python)
    listed = [r for r in requires if isinstance(r, str)] if isinstance(requires, list) else None
    return (wheel.get("size") if wheel else None), listed


def _pinned_cuda(requires: list[str], python: str) -> list[tuple[str, str]]:
    """The CUDA libraries a wheel requires with ``==`` pins, on Linux x86_64 under CPython ``python``."""
    out = []
    for line in requires:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        environment = {"platform_system": "Linux", "sys_platform": "linux", "platform_machine": "x86_64",
                       "python_version": python, "extra": ""}
        version = pinned_version(req)
        if version and canonicalize_name(req.name).startswith(CUDA_PREFIXES) and \
                (req.marker is None or req.marker.evaluate(environment)):
            out.append((req.name, version))
    return out


def estimate(env: EnvSpec, spec: MatrixSpec, index_url: str) -> list[str]:
    """Lines naming the large downloads of ``env``'s ``==`` pins (and the CUDA libraries they require),
    or saying why the size is unknown."""
    if env.runner != "venv" or not env.python:
        return [f"  runs in {'a container' if env.runner == 'docker' else 'an existing interpreter'}: "
                "no download is estimated"]
    lines, cuda_total = [], 0
    try:
        for text in env.requirements(spec.extra_pins):
            req = Requirement(text)
            version = pinned_version(req)
            if not version:
                continue
            size, requires = wheel_bytes(req.name, version, env.python, index_url)
            if size and size >= LARGE_BYTES:
                unlisted = "" if requires is not None else \
                    " (the index lists no dependencies of it, so those it pulls in are not counted)"
                lines.append(f"  {req.name}=={version}: {size / 2**20:,.0f} MiB{unlisted}")
            if requires is None and canonicalize_name(req.name) in CUDA_BUILDS:
                lines.append(f"  {CUDA_BUILDS[canonicalize_name(req.name)]}")
            for name, pinned in _pinned_cuda(requires or [], env.python):
                cuda_total += wheel_bytes(name, pinned, env.python, index_url)[0] or 0
    except lock.LockError as exc:
        return lines + [f"  download size unknown: {exc}"]
    if cuda_total:
        cpu = " though this environment runs on the CPU (the index has no CPU-only build of it)" \
            if env.device == "cpu" else ""
        lines.append(f"  CUDA libraries its pins require: {cuda_total / 2**30:,.1f} GiB{cpu}")
    return lines


def installs(plan: CheckPlan, spec: MatrixSpec, venvs: Path = Path(".nox"),
             index_url: str | None = None) -> str:
    """The text printed before the check makes its environments: per environment, its role and
    requirements, and either "ready" (a venv here holds them) or the large downloads it needs."""
    index_url = index_url or os.environ.get("KCM_INDEX_URL", lock.INDEX_URL)
    lines = ["The check uses these environments" + (" (--dry-run: nothing is installed)" if plan.dry_run else "")
             + ":"]
    for name in plan.envs:
        env = spec.envs[name]
        role = "source" if name == plan.source else "target"
        requirements = " ".join(env.requirements(spec.extra_pins))
        if _ready(env, spec, venvs):
            lines.append(f"- {name} ({role}): {requirements}: ready (a venv here holds exactly these)")
            continue
        lines.append(f"- {name} ({role}): {requirements}: to install")
        lines += estimate(env, spec, index_url)
    return "\n".join(lines)
