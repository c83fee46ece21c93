"""``nox -s lock``: resolve matrix.yaml's templates against the package index into its lock file.

Facts come from the index's JSON API, ``{index}/{project}/json`` (PyPI's, documented at
https://docs.pypi.org/api/json/): every release of a project with its files, and of each file the
``filename`` (a wheel's name carries its Python, ABI and platform tags), ``packagetype``,
``requires_python`` (the release's Requires-Python), ``yanked`` and ``upload_time_iso_8601`` (read
only by ``others: contemporary``). Those five fields are all this module reads (:data:`FILE_FIELDS`).

A release counts when it has a file that counts: a file counts unless it is yanked
(``include_yanked: true`` counts those too), and a pre-release or development release counts
only with ``include_prereleases: true``. An exact ``==`` pin counts whatever its release is.
A release *installs on* Python X.Y when one of its counting files is a wheel whose tags
CPython X.Y on linux x86_64 accepts (:data:`PLATFORMS`: manylinux up to glibc 2.35) and whose
Requires-Python admits X.Y; source distributions are not considered (they would build TF from
source). The Python of a locked environment is the newest candidate (``python:`` of the template,
else :data:`PYTHONS`) on which the axis release and every other decisive package install: a fixed
list, not what this machine has, so the lock is the same wherever it is written.

The other decisive packages with a range take, by the template's ``others``: ``newest`` (the default)
their newest release that installs with the axis release; ``same_minor`` their newest of the axis
release's major.minor (tf-keras 2.17.0 with tensorflow-cpu 2.17.1); ``contemporary`` their newest
uploaded no later than the axis release's minor first came out (Keras 3.0.5 with JAX 0.4.20 of
2023-11-02, the newest when Keras 3.0.0 came out on 2023-11-28: the JAX that minor was made with).
A template with ``only_prereleases: true`` keeps an axis release only where it is a pre-release newer
than every final release, and may resolve to no environment.
"""
from __future__ import annotations

import datetime
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from harness.config import env_templates, matrix_yaml, spec
from harness.errors import HarnessError
from harness.execute import interpreters
from harness.guard import NotRegular, loads, read_text, regular, write_atomic
from harness.cli import SessionParser

INDEX_URL = "https://pypi.org/pypi"
PYTHONS = ("3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13")
GLIBC_MINOR = 35  # manylinux_2_35: Ubuntu 22.04, the oldest glibc the matrix runs on (Debian 12 has 2.36)
PLATFORMS = tuple([f"manylinux_2_{m}_x86_64" for m in range(GLIBC_MINOR, 4, -1)]
                  + ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64", "linux_x86_64"])
PLATFORM = f"linux x86_64 (manylinux up to glibc 2.{GLIBC_MINOR})"
FILE_FIELDS = ("filename", "packagetype", "requires_python", "yanked", "upload_time_iso_8601")
COMMENT = ("Written by `nox -s lock` from the templates of matrix.yaml (harness/config/lock.py); runs use it. "
           "Do not edit: change a template and run `nox -s lock`.")

Project = Callable[[str], dict]


class LockError(HarnessError, RuntimeError):
    """The index could not be asked, or a template resolves to nothing; the message says which and why."""


def _local_answer(url: str, what: str) -> None:
    """Refuse a ``file://`` URL that names a named pipe, device or socket (``urlopen`` would wait on it
    forever): an index answer is a regular file.

    Raises:
        LockError: naming ``what`` and the URL.
    """
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme != "file":
        return
    try:
        regular(Path(urllib.request.url2pathname(parsed.path)), "index answer")
    except NotRegular as exc:
        raise LockError(f"cannot resolve {what}: {exc}") from None
    except OSError:
        return  # missing: urlopen says so


MAX_ANSWER_BYTES = 64 * 2**20  # an index's answer past this is refused (PyPI's largest, tensorflow's, is a few MB)


def _capped(answer) -> bytes:
    """At most :data:`MAX_ANSWER_BYTES` of an index's answer.

    Raises:
        ValueError: a longer answer (a damaged or hostile index).
    """
    data = answer.read(MAX_ANSWER_BYTES + 1)
    if len(data) > MAX_ANSWER_BYTES:
        raise ValueError(f"the answer runs past {MAX_ANSWER_BYTES // 2**20} MiB; refused")
    return data


def fetch(name: str, index_url: str = INDEX_URL, timeout_s: float = 30.0, version: str | None = None) -> dict:
    """The index's JSON document of project ``name`` (``{index_url}/{name}/json``), or of one ``version``
    of it (``{index_url}/{name}/{version}/json``: its ``info`` is that release's, ``requires_dist`` included).

    Raises:
        LockError: naming the package and the URL: no such project, an HTTP or network error, a
            timeout, or an answer that is not JSON with ``releases``.
    """
    url = f"{index_url.rstrip('/')}/{canonicalize_name(name)}/{f'{version}/' if version else ''}json"
    request = urllib.request.Request(url, headers={"Accept": "application/json",
                                                   "User-Agent": "keras-compat-matrix (nox -s lock)"})
    _local_answer(url, name)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:
            document = loads(_capped(answer))
    except urllib.error.HTTPError as exc:
        why = "no such project on the index" if exc.code == 404 else f"HTTP {exc.code} {exc.reason}"
        raise LockError(f"cannot resolve {name}: {url}: {why}") from None
    except (urllib.error.URLError, OSError) as exc:  # no route, DNS, TLS, timeout
        why = getattr(exc, "reason", None) or exc
        raise LockError(f"cannot resolve {name}: {url} did not answer ({why}); check the network, "
                        "or name another index with --index-url") from None
    except ValueError as exc:
        raise LockError(f"cannot resolve {name}: {url} did not answer JSON ({exc})") from None
    if not isinstance(document, dict) or not isinstance(document.get("releases" if version is None else "urls"),
                                                        (dict, list)):
        raise LockError(f"cannot resolve {name}: {url} answered JSON without releases (is it a JSON API?)")
    return document


def requires_dist(name: str, file: dict, index_url: str = INDEX_URL, timeout_s: float = 30.0) -> list[str] | None:
    """The ``Requires-Dist`` lines of one wheel (a file of :func:`fetch`'s document), read from its core
    metadata file: the wheel's ``url`` plus ``.metadata`` (PEP 658; PyPI's JSON API marks such files
    ``core-metadata``), relative to ``{index_url}/{name}/json``. None when the index names no such file.

    Raises:
        LockError: naming the wheel and the URL: an HTTP or network error, or a timeout.
    """
    if not file.get("url") or not file.get("core-metadata", file.get("data-dist-info-metadata")):
        return None
    url = urllib.parse.urljoin(f"{index_url.rstrip('/')}/{canonicalize_name(name)}/json", file["url"]) + ".metadata"
    _local_answer(url, f"the dependencies of {file.get('filename')}")
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:
            text = _capped(answer).decode("utf-8", "replace")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise LockError(f"cannot read the dependencies of {file.get('filename')}: {url} did not answer "
                        f"({getattr(exc, 'reason', None) or exc})") from None
    return [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Requires-Dist:")]


@dataclass(frozen=True)
class Release:
    """One release of a project and the files of it that count (each a dict of :data:`FILE_FIELDS`)."""

    project: str
    version: Version
    files: tuple[dict, ...]

    def wheel_for(self, python: str) -> dict | None:
        """The first counting wheel that installs on CPython ``python`` ("3.11") on :data:`PLATFORM`."""
        for file in self.files:
            if file.get("packagetype") != "bdist_wheel" or not _admits(file.get("requires_python"), python):
                continue
            try:
                tags = parse_wheel_filename(file["filename"])[3]
            except InvalidWheelFilename:
                continue
            if tags & _tags(python):
                return file
        return None

    @property
    def uploaded(self) -> str:
        """Its first file's upload time (ISO 8601, UTC, as the index gives it; "" where none says)."""
        times = [f["upload_time_iso_8601"] for f in self.files if isinstance(f.get("upload_time_iso_8601"), str)]
        return min(times, default="")


def _admits(requires_python: str | None, python: str) -> bool:
    """Whether Requires-Python admits the minor version ``python``, standing for its newest patch
    (X.Y.99), as pyenv and uv install the newest; an unparsable Requires-Python admits nothing."""
    try:
        return requires_python is None or SpecifierSet(requires_python).contains(f"{python}.99", prereleases=True)
    except (InvalidSpecifier, TypeError):  # TypeError: not a string
        return False


@lru_cache(maxsize=None)
def _tags(python: str) -> frozenset[Tag]:
    version = tuple(int(part) for part in python.split("."))
    interpreter = f"cp{version[0]}{version[1]}"
    return frozenset(cpython_tags(version, platforms=PLATFORMS)) | frozenset(
        compatible_tags(version, interpreter=interpreter, platforms=PLATFORMS))


def releases(document: dict, prereleases: bool = False, yanked: bool = False) -> list[Release]:
    """The releases of a project's JSON document that count, oldest first (see the module's docstring).

    Versions that are not PEP 440 (old releases such as ``0.3.0-beta``) are left out, and so are files
    that are not objects with a ``filename`` (an index that answers in another shape).
    """
    info = document.get("info")
    name = (info.get("name") if isinstance(info, dict) else None) or "?"
    out = []
    for text, files in document["releases"].items():
        try:
            version = Version(text)
        except InvalidVersion:
            continue
        counted = tuple(f for f in files if isinstance(f, dict) and isinstance(f.get("filename"), str)
                        and (yanked or not f.get("yanked"))) if isinstance(files, list) else ()
        if counted and (prereleases or not version.is_prerelease):
            out.append(Release(name, version, counted))
    return sorted(out, key=lambda r: r.version)


def _requirement_text(req: Requirement, version: Version) -> str:
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    return f"{req.name}{extras}=={version}"


def _candidates(template: env_templates.Template, project: Project) -> dict[int, list[Release]]:
    """For each decisive package (by its index in ``packages``): the releases it may resolve to."""
    out = {}
    for i, text in enumerate(template.packages):
        req = Requirement(text)
        if canonicalize_name(req.name) not in spec.DECISIVE:
            continue
        pinned = spec.pinned_version(req)
        if pinned:
            found = [r for r in releases(project(req.name), True, True) if r.version == Version(pinned)]
            what = "no such release"
        else:
            found = [r for r in releases(project(req.name), template.include_prereleases or template.only_prereleases,
                                         template.include_yanked)
                     if req.specifier.contains(r.version, prereleases=True)]
            what = "no release in that range" + ("" if template.include_prereleases or template.only_prereleases
                                                 else " (pre-releases left out)") \
                + ("" if template.include_yanked else " (yanked files left out)")
        if not found:
            raise LockError(f"{template.where}.packages[{i}]: {text!r}: {what} on the index")
        out[i] = found
    return out


def _others(others: str, release: Release, found: list[Release], since: str) -> list[Release]:
    """The releases (newest first) another decisive package may take beside the axis ``release``, by the
    template's ``others`` rule (see the module's docstring); ``since`` is when the axis release's minor
    first came out (ISO 8601), the time ``contemporary`` compares with, so every patch of a minor gets
    the same partner releases."""
    if others == "same_minor":
        found = [r for r in found if r.version.release[:2] == release.version.release[:2]]
    elif others == "contemporary":
        found = [r for r in found if r.uploaded and since and r.uploaded <= since]
    return found[::-1]


def _choose(axis: int, release: Release, candidates: dict[int, list[Release]],
            pythons: tuple[str, ...], others: str = "newest",
            since: str = "") -> tuple[list[str], dict[int, tuple[Release, dict]]] | str:
    """Each Python (of ``pythons``) on which the axis ``release`` and a release of every other decisive
    package (by the ``others`` rule) install, and for the newest of them the releases and wheels chosen;
    else why none does."""
    allowed, chosen = [], None
    for python in sorted(pythons, key=Version, reverse=True):
        picks = {}
        for i, found in candidates.items():
            options = [release] if i == axis else _others(others, release, found, since)
            pick = next(((r, w) for r in options for w in [r.wheel_for(python)] if w is not None), None)
            if pick is None:
                break
            picks[i] = pick
        else:
            allowed.append(python)
            chosen = chosen or picks
    if chosen is None:
        own = [p for p in pythons if release.wheel_for(p)]
        if not own:
            declared = sorted({str(f.get("requires_python")) for f in release.files})
            return (f"{release.project} {release.version} has no wheel for CPython {', '.join(pythons)} on "
                    f"{PLATFORM} (Requires-Python {' | '.join(declared)})")
        return (f"on CPython {', '.join(own)}, where {release.project} {release.version} installs, the template's "
                f"other packages have no release that installs ({others})")
    return sorted(allowed, key=Version), chosen


def resolve(template: env_templates.Template, project: Project, pythons: tuple[str, ...] = PYTHONS) -> dict:
    """A template's entry of the lock file: ``{"hash", "envs": [...], "skipped": [...]}``.

    ``envs`` holds one environment per minor of the axis package (its newest release that installs;
    ``every: patch``: per release), oldest first, only the ``newest`` N of them where the template
    says so. Each is ``{"name", "release" (of the axis package), "packages" (every decisive one pinned
    with ==, the rest as written), "python", "pythons" (every candidate all of them install on),
    "requires_python" (each decisive package's, from the wheel chosen, None where it declares none)}``.
    ``skipped`` lists ``{"release", "why"}`` for newer releases passed over because nothing installs.
    With ``only_prereleases`` only axis pre-releases newer than its newest final release count, and
    ``envs`` may be empty.
    ``project(name)`` returns the index's JSON document (:func:`fetch`).

    Raises:
        LockError: a package not on the index, a range no release matches, or nothing that installs.
    """
    candidates = _candidates(template, project)
    reqs = [Requirement(text) for text in template.packages]
    axis = template.ranged()[0]
    groups: dict[tuple, list[Release]] = {}
    axis_releases = candidates[axis]
    if template.only_prereleases:
        final = max((r.version for r in axis_releases if not r.version.is_prerelease), default=None)
        axis_releases = [r for r in axis_releases if r.version.is_prerelease and (final is None or r.version > final)]
    for release in axis_releases:
        key = release.version.release[:2] if template.every == "minor" else (release.version,)
        groups.setdefault(key, []).append(release)
    envs, skipped = [], []
    for key in sorted(groups, reverse=True):
        if template.newest is not None and len(envs) == template.newest:
            break
        for release in reversed(groups[key]):
            since = min((r.uploaded for r in candidates[axis] if r.version.release[:2] == release.version.release[:2]
                         and r.uploaded), default="")
            choice = _choose(axis, release, candidates, template.pythons or pythons, template.others, since)
            if isinstance(choice, str):
                skipped.append({"release": str(release.version), "why": choice})
                continue
            allowed, picks = choice
            envs.append({
                "name": template.env_name(str(release.version)), "release": str(release.version),
                "packages": [_requirement_text(reqs[i], picks[i][0].version) if i in picks else text
                             for i, text in enumerate(template.packages)],
                "python": allowed[-1], "pythons": allowed,
                "requires_python": {reqs[i].name: wheel.get("requires_python") for i, (_, wheel) in picks.items()},
            })
            break
    if not envs and not template.only_prereleases:
        reasons = "; ".join(f"{s['release']}: {s['why']}" for s in skipped[:3])
        raise LockError(f"{template.where}: no release of {reqs[axis]} installs ({reasons})")
    return {"hash": template.hash, "envs": envs[::-1], "skipped": skipped}


def lock_document(found: dict[str, env_templates.Template], project: Project, today: datetime.date,
                  index_url: str = INDEX_URL) -> dict:
    """The whole lock file: ``format``, ``comment``, ``resolved_at`` (ISO date), ``index``, ``platform``,
    ``pythons`` (the default candidates) and ``templates`` (key → :func:`resolve`'s entry)."""
    return {"format": env_templates.LOCK_FORMAT, "comment": COMMENT, "resolved_at": today.isoformat(),
            "index": index_url, "platform": PLATFORM, "pythons": list(PYTHONS),
            "templates": {key: resolve(t, project) for key, t in found.items()}}


def main(args: list[str], matrix: Path, project: Project | None = None, log=print,
         today: datetime.date | None = None) -> dict:
    """``nox -s lock -- [--dry-run] [--index-url URL]``: resolve, check and write the lock file.

    The lock is checked as ``spec.load`` would use it before it is written, and the environments
    added or gone since the last lock are logged. Returns the lock document.

    Raises:
        spec.SpecError: matrix.yaml is invalid, or a locked environment would be.
        LockError: the index could not be asked, or a template resolves to nothing.
    """
    parser = SessionParser(prog="nox -s lock --", description="Resolve matrix.yaml's templates.")
    parser.add_argument("--dry-run", action="store_true", help="print the resolution, write nothing")
    parser.add_argument("--index-url", default=os.environ.get("KCM_INDEX_URL", INDEX_URL),
                        help=f"JSON API of the package index (default: $KCM_INDEX_URL, else {INDEX_URL})")
    options = parser.parse_args(args)
    try:
        url = urllib.parse.urlsplit(options.index_url)
        usable = url.scheme == "file" or (url.scheme in ("http", "https") and bool(url.hostname))
    except ValueError:  # e.g. an unclosed [ of an IPv6 address
        usable = False
    if not usable:
        raise LockError(f"--index-url (or $KCM_INDEX_URL) {options.index_url!r}: not a URL like {INDEX_URL}")
    raw = matrix_yaml.read(matrix)
    try:
        found = env_templates.parse(raw)
    except spec.SpecError as exc:
        raise spec.SpecError(f"{matrix}: {exc}") from None
    if project is None:
        cache: dict[str, dict] = {}

        def project(name: str) -> dict:
            key = canonicalize_name(name)
            if key not in cache:
                cache[key] = fetch(name, options.index_url)
            return cache[key]
    document = lock_document(found, project, today or datetime.date.today(), options.index_url)
    spec.load(matrix, lock=document)
    path = env_templates.lock_path(matrix)
    _log_changes(document, path, log)
    for entry in document["templates"].values():
        for env in entry["envs"]:
            own = raw["envs"].get(env["name"])
            if own is not None and not env_templates.same_pins(own, env["packages"]):
                log(f"{env['name']}: envs.{env['name']} of matrix.yaml stands, pinning {' '.join(own['packages'])} "
                    f"where the template resolves {' '.join(env['packages'])}")
    if options.dry_run:
        log(f"dry run: {path} not written")
    else:
        try:  # atomic: a full disk leaves the old lock, never half a new one
            write_atomic(path, json.dumps(document, indent=2, sort_keys=True) + "\n")
        except OSError as exc:
            raise LockError(f"cannot write {exc.filename} ({exc.strerror}); the old lock file is kept") from None
        log(f"wrote {path} ({sum(len(t['envs']) for t in document['templates'].values())} environments)")
    return document


def _log_changes(document: dict, path: Path, log) -> None:
    try:
        old = {e["name"] for t in loads(read_text(path, "lock file"))["templates"].values() for e in t["envs"]}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):  # no lock yet, or a damaged one
        old = set()
    old = {name for name in old if isinstance(name, str)}
    new = set()
    for key, entry in document["templates"].items():
        for env in entry["envs"]:
            new.add(env["name"])
            where = "" if interpreters.find_python(env["python"]) else \
                f" (not installed here: {interpreters.where_looked(env['python'])})"
            log(f"{key}: {env['name']}: python {env['python']}{where}, {' '.join(env['packages'])}")
        for skip in entry["skipped"]:
            log(f"{key}: skipped {skip['release']}: {skip['why']}")
    if new - old or old - new:
        log(f"since the last lock: new {', '.join(sorted(new - old)) or 'none'}; "
            f"gone {', '.join(sorted(old - new)) or 'none'}")
