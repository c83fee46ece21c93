"""List what a model file holds that a loader may execute or follow, without deserializing it.

:func:`scan_file` reads a ``.h5``/``.keras``/SavedModel the way :mod:`harness.check.modelfile` does
(h5py, zipfile, raw protobuf) and never builds a model, unpickles, unmarshals or imports anything:

- HDF5: every link is read with ``getlink=True`` so an external link is named, never opened;
  datasets' creation property lists give external storage files and virtual sources; a dataset
  whose declared size (shape x item size) is over 1 GiB and 100x the file's is reported (the load
  allocates it: CVE-2026-0897); ``model_config``/``training_config`` go to :mod:`.configs`.
- ``.keras`` zip: member names that are absolute or hold ``..``; members declaring over 64 MiB and
  100x the archive's size; ``config.json`` to :mod:`.configs`; ``model.weights.h5`` as HDF5 (read
  into memory only up to :data:`MAX_MEMBER_BYTES`).
- SavedModel folder: :mod:`.savedmodel`.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
import zlib
from pathlib import Path, PurePosixPath, PureWindowsPath

from harness.check.modelfile import (MAX_READ_BYTES, UserInputError, _regular, _resolve, containers, h5py,
                                     polyglot_note)
from harness.check.security.configs import config_findings, pickle_finding, traversing_names
from harness.check.security.pickles import npz_object_arrays
from harness.check.security.model import Finding, ScannedFile
from harness.check.security.savedmodel import savedmodel_findings

GIB, MIB = 1 << 30, 1 << 20
OVERSIZED_FACTOR = 100  # declared bytes over this many times the file's bytes ...
OVERSIZED_MIN = GIB  # ... and over this: "far beyond the file"
ZIP_BOMB_MIN = 64 * MIB
MAX_MEMBER_BYTES = MAX_READ_BYTES  # 64 MiB, as for check: what the host reads of one archive member
MAX_HDF5_OBJECTS = 200_000


def scan_file(path: Path) -> ScannedFile:
    """The findings of one model file or SavedModel folder.

    Raises:
        UserInputError: missing, unreadable, or neither HDF5, a zip, nor a SavedModel folder.
    """
    given, path = path, _resolve(path, "")
    if not path.exists():
        raise UserInputError(f"{given}: no such file or folder")
    _regular(path, "model file", folder_ok=True)
    if path.is_dir():
        return ScannedFile(str(path), "directory", "savedmodel", savedmodel_findings(path))
    kinds = containers(path)
    if len(kinds) == 1:
        return _zip_file(path) if kinds[0] == "zip" else _hdf5_file(path)
    views = {}
    for kind in kinds:  # a polyglot: each container scanned; one that cannot be read is said so
        try:
            views[kind] = _zip_file(path) if kind == "zip" else _hdf5_file(path)
        except UserInputError as exc:
            views[kind] = ScannedFile(str(path), kind, "?", [Finding("not_scanned", "info", kind, str(exc))])
    primary = views[kinds[0]]
    found = [Finding("polyglot", "info", path.name, polyglot_note(path, kinds))]
    found += [Finding(f.kind, f.effect, f"({kind}) {f.where}", f.detail) for kind, view in views.items()
              for f in view.findings]
    return ScannedFile(str(path), primary.container, primary.format, found, views)


def _hdf5_file(path: Path) -> ScannedFile:
    try:
        with h5py.File(path, "r") as handle:
            found = hdf5_findings(handle, path.name, path.stat().st_size)
            keys = set(handle.attrs.keys())
    except OSError as exc:
        raise UserInputError(f"{path}: not a readable HDF5 file ({str(exc).splitlines()[0]})") from None
    fmt = "h5" if "model_config" in keys else "h5_weights" if "layer_names" in keys else "keras_weights"
    return ScannedFile(str(path), "hdf5", fmt, found)


def hdf5_findings(handle, where: str, file_size: int) -> list[Finding]:
    """Findings of an open ``h5py.File``: external links, external and virtual datasets,
    oversized datasets, and the configs in the root attributes. ``file_size`` in bytes."""
    found = []
    for key in ("model_config", "training_config"):
        if key in handle.attrs:
            value = handle.attrs[key]
            try:
                config = json.loads(value.decode("utf-8") if isinstance(value, bytes) else str(value))
            except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
                found.append(Finding("not_scanned", "info", f"{where}:@{key}", "not JSON; not scanned"))
                continue
            found += config_findings(config, f"{where}:@{key}")
    stack, seen = [(handle, "")], set()
    while stack:
        group, prefix = stack.pop()
        for name in group:
            path = f"{prefix}/{name}"
            try:
                found += _item(group, name, path, where, file_size, stack, seen)
            except (OSError, KeyError, RuntimeError, ValueError, TypeError) as exc:
                found.append(Finding("not_scanned", "info", f"{where}:{path}", f"unreadable ({exc}); not scanned"))
            if len(seen) > MAX_HDF5_OBJECTS:
                return found + [
                    Finding(
                        "not_scanned",
                        "resource",
                        where,
                        f"more than {MAX_HDF5_OBJECTS} HDF5 objects; the rest was not scanned",
                    )
                ]
    return found


def _item(group, name: str, path: str, where: str, file_size: int, stack: list, seen: set) -> list[Finding]:
    """Findings of one link of ``group``; a subgroup goes on ``stack`` (never followed twice)."""
    link = group.get(name, getlink=True)
    if isinstance(link, h5py.ExternalLink):
        return [
            Finding("hdf5_external_link", "path", f"{where}:{path}", f"external link to {link.filename}:{link.path}")
        ]
    if isinstance(link, h5py.SoftLink):
        return []
    item = group.get(name)
    if item is None or hash(item.id) in seen:
        return []
    seen.add(hash(item.id))
    if isinstance(item, h5py.Group):
        stack.append((item, path))
    elif isinstance(item, h5py.Dataset):
        return _dataset(item, f"{where}:{path}", file_size)
    return []


def _dataset(dataset, where: str, file_size: int) -> list[Finding]:
    found = []
    plist = dataset.id.get_create_plist()
    for index in range(plist.get_external_count()):
        name = plist.get_external(index)[0]
        found.append(
            Finding(
                "hdf5_external_dataset",
                "path",
                where,
                f"data stored in the external file {name.decode('utf-8', 'replace')}",
            )
        )
    if plist.get_layout() == h5py.h5d.VIRTUAL:
        sources = sorted({source.file_name for source in dataset.virtual_sources()})
        found.append(
            Finding("hdf5_virtual_dataset", "path", where, f"virtual dataset mapping the files {', '.join(sources)}")
        )
    declared = math.prod(dataset.shape or ()) * dataset.dtype.itemsize
    if declared > max(OVERSIZED_MIN, OVERSIZED_FACTOR * file_size):
        found.append(
            Finding(
                "oversized_dataset",
                "resource",
                where,
                f"declares {declared / GIB:.1f} GiB (shape {dataset.shape}, {dataset.dtype}) "
                f"in {file_size} bytes; a load allocates it",
            )
        )
    return found


def _unsafe_name(name: str) -> bool:
    posix, windows = PurePosixPath(name), PureWindowsPath(name)
    return (
        posix.is_absolute()
        or windows.is_absolute()
        or bool(windows.drive)
        or ".." in posix.parts
        or ".." in windows.parts
    )


def _zip_file(path: Path) -> ScannedFile:
    size = path.stat().st_size
    found = []
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            for info in infos:
                if _unsafe_name(info.filename):
                    found.append(
                        Finding(
                            "zip_path_traversal",
                            "path",
                            info.filename,
                            "member name is absolute or holds '..': extracting it writes outside the target folder",
                        )
                    )
                if info.file_size > max(ZIP_BOMB_MIN, OVERSIZED_FACTOR * size):
                    found.append(
                        Finding(
                            "zip_bomb",
                            "resource",
                            info.filename,
                            f"expands to {info.file_size} bytes from an archive of {size} bytes",
                        )
                    )
            names = {info.filename: info for info in infos}
            assets = any(name.startswith("assets/") for name in names)
            if "config.json" in names:
                found += _zip_config(archive, names["config.json"], assets)
            weights = names.get("model.weights.h5")
            if weights is not None:
                found += _zip_weights(archive, weights)
            if "model.weights.npz" in names:
                found += _zip_npz(archive, names["model.weights.npz"])
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, zlib.error, NotImplementedError) as exc:
        raise UserInputError(f"{path}: not a readable zip archive ({exc}); truncated or corrupt?") from None
    fmt = "keras" if "config.json" in names else "zip"
    return ScannedFile(str(path), "zip", fmt, found)


def _bounded(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes | None:
    """At most :data:`MAX_MEMBER_BYTES` of a member, or None past that: read in blocks and counted, since
    the size its header declares can lie (a small archive can expand to gigabytes)."""
    if info.file_size > MAX_MEMBER_BYTES:
        return None
    with archive.open(info) as handle:
        data = handle.read(MAX_MEMBER_BYTES + 1)
    return None if len(data) > MAX_MEMBER_BYTES else data


def _too_large(info: zipfile.ZipInfo) -> Finding:
    return Finding("not_scanned", "resource", info.filename,
                   f"expands past {MAX_MEMBER_BYTES // MIB} MiB (declares {info.file_size} bytes); not read further")


def _zip_config(archive: zipfile.ZipFile, info: zipfile.ZipInfo, assets: bool) -> list[Finding]:
    """The config's findings; with assets in the archive, also each name holding ``..`` (the asset
    store joins paths under its temporary folder: CVE-2026-12479)."""
    data = _bounded(archive, info)
    if data is None:
        return [_too_large(info)]
    try:
        config = json.loads(data)
        found = config_findings(config, info.filename)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        return [Finding("not_scanned", "info", info.filename, f"not JSON ({exc}); not scanned")]
    if assets:
        found += [Finding("layer_name_traversal", "path", f"{info.filename}:{path}",
                          f"name {name!r} holds '..' in a .keras with assets: the asset store's path leaves its "
                          "temporary folder") for path, name in traversing_names(config)]
    return found


def _zip_npz(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> list[Finding]:
    """Object arrays of a ``model.weights.npz`` member, and what their pickles import."""
    data = _bounded(archive, info)
    if data is None:
        return [_too_large(info)]
    try:
        arrays = npz_object_arrays(data)
    except (ValueError, OSError, EOFError, zlib.error) as exc:
        return [Finding("not_scanned", "info", info.filename, f"not a readable .npz ({exc})")]
    found = []
    for member, dtype, data in arrays:
        where = f"{info.filename}:{member}"
        found.append(Finding("npz_object_array", "code", where, f"{dtype} array: its data is a pickle, which "
                             "np.load(allow_pickle=True) runs"))
        found.append(pickle_finding(data, where))
    return found


def _zip_weights(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> list[Finding]:
    data = _bounded(archive, info)
    if data is None:
        return [_too_large(info)]
    try:
        with h5py.File(io.BytesIO(data), "r") as handle:
            return hdf5_findings(handle, info.filename, len(data))
    except OSError as exc:
        return [Finding("not_scanned", "info", info.filename, f"not readable HDF5 ({str(exc).splitlines()[0]})")]
