"""What a user's model file is and which Keras/TF wrote it, read without deserializing the model.

The orchestrator never builds a model from a user's file (that happens only inside
the environments). It reads just enough to pick the source environment:

- HDF5 (``.h5``, ``.hdf5``, or HDF5 under a ``.keras`` name, as Keras 2 before 2.13 writes
  by default: seen in 2.9 and 2.10; 2.12 writes the zip only with ``save_format="keras_v3"``,
  per its release notes): the root attributes ``keras_version``, ``backend`` and ``model_config``
  (present for a full model) or ``layer_names`` (legacy ``save_weights``), via h5py.
  Keras 3's ``.weights.h5`` layout has none of them.
- ``.keras`` zip: ``metadata.json`` (``keras_version``) inside the archive.
- SavedModel folder: ``saved_model.pb`` is walked as raw protobuf wire format down to
  ``meta_graphs[0].meta_info_def.tensorflow_version`` (fields 2, 1, 5 of
  tensorflow/core/protobuf/{saved_model,meta_graph}.proto); ``keras_metadata.pb``
  (Keras 2 only) is searched for its ``"keras_version": "..."`` string.
- An architecture file (``model.to_json()``) for weights-only files: its top-level
  ``keras_version`` and ``backend``; it is JSON, read as data.

Every problem raises :class:`UserInputError` with one message naming the file and what is wrong. The host
reads at most :data:`MAX_READ_BYTES` of an archive member (a small zip can expand to gigabytes) or
of a fixed-length HDF5 attribute; of HDF5 attributes it reads only ``keras_version`` and ``backend``
(HDF5 stores attributes uncompressed, so a variable-length one is bounded by the file's own size),
and only regular files and folders (a named pipe would block, ``/dev/zero`` never ends).
"""
from __future__ import annotations

import logging
import re
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

# h5py logs its type converters at DEBUG (from its import on), which nox's logging would print.
logging.getLogger("h5py").setLevel(logging.WARNING)
import h5py  # noqa: E402

from harness.check.inputs import config_inputs  # noqa: E402
from harness.errors import HarnessError  # noqa: E402
from harness.guard import NotRegular, TooLarge, loads, read_bytes, regular  # noqa: E402

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGIC = b"PK\x03\x04"
KERAS_VERSION_IN_METADATA = re.compile(rb'"keras_version":\s*"([0-9][^"]{0,40})"')
# Field numbers on the path SavedModel.meta_graphs -> MetaGraphDef.meta_info_def -> MetaInfoDef.tensorflow_version.
SAVED_MODEL_PATH = (2, 1, 5)
# The most the host reads of one archive member or HDF5 attribute (bytes). Assumed: a model config
# of 64 MiB is far past any real one (a 1,000-layer model's config is a few MB).
MAX_READ_BYTES = 64 * 2**20
MAX_PB_BYTES = 2**31  # protobuf's own limit on a serialized message


class UserInputError(HarnessError, ValueError):
    """The user's input cannot be checked; the message names the file and the problem (exit status 2).
    (The worker's ``BadInput``, ``harness/worker/check.py``, is a cell's verdict: the inputs do not fit
    the model there.)"""

    exit_status = 2


@dataclass(frozen=True)
class ModelFile:
    """A model file as found on disk.

    Attributes:
        path: absolute path of the file or SavedModel folder.
        format: the matrix's format name: ``h5``, ``keras``, ``savedmodel``,
            ``h5_weights`` (legacy HDF5 ``save_weights``) or ``keras_weights`` (the ``.weights.h5`` layout
            of Keras 2.13+ and Keras 3).
        container: what it really is: ``hdf5``, ``zip`` or ``directory``.
        keras_version: the Keras version that wrote it, as recorded (None if not recorded).
        tensorflow_version: the TF version that wrote it (SavedModels only), or None.
        backend: the Keras backend recorded in an HDF5 file or architecture JSON, or None.
        evidence: where the versions were read, for the report.
        notes: anything a user should know about the file (e.g. HDF5 under a .keras name).
        inputs: ``[(name, shape, dtype)]`` its config declares (a ``.keras`` zip; ``harness.check.inputs``), or None.
    """

    path: Path
    format: str
    container: str
    keras_version: str | None = None
    tensorflow_version: str | None = None
    backend: str | None = None
    evidence: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)
    inputs: list | None = None

    @property
    def weights_only(self) -> bool:
        return self.format in ("h5_weights", "keras_weights")

    def to_json(self) -> dict:
        return {"path": str(self.path), "format": self.format, "container": self.container,
                "keras_version": self.keras_version, "tensorflow_version": self.tensorflow_version,
                "backend": self.backend, "evidence": self.evidence, "notes": list(self.notes)}


def read_model_file(path: Path, architecture: Path | None = None) -> ModelFile:
    """Identify ``path`` (file or SavedModel folder) and the versions that wrote it.

    Args:
        path: the user's model file or SavedModel folder.
        architecture: for a weights-only file, the JSON of ``model.to_json()``.

    Raises:
        UserInputError: missing, unreadable, truncated, not a Keras model, a weights-only file
            without ``architecture``, or ``architecture`` given for a full model.
    """
    given, path = path, _resolve(path, "")
    if not path.exists():
        # A dangling link resolves elsewhere: name what the user gave, and where it points.
        link = f" (a link to {path}, which does not exist)" if given.is_symlink() else ""
        raise UserInputError(f"{given if link else path}: no such file or folder{link}")
    _regular(path, "model file", folder_ok=True)
    if path.is_dir():
        found = _saved_model(path)
    else:
        kinds = containers(path)
        found = _keras_zip(path) if kinds[0] == "zip" else _hdf5(path)
        if len(kinds) > 1:
            found = replace(found, notes=found.notes + (polyglot_note(path, kinds),))
    if found.weights_only:
        if architecture is None:
            raise UserInputError(f"{path}: holds weights only ({found.format} layout, no model config); give the "
                           "architecture with --architecture model.json (the text of model.to_json())")
        return _with_architecture(found, _resolve(architecture, "--architecture "))
    if architecture is not None:
        raise UserInputError(f"--architecture {architecture}: {path} is a full model ({found.format}) with its own "
                       "architecture; --architecture is only for weights-only files")
    return found


def containers(path: Path) -> tuple[str, ...]:
    """The containers a regular file is (``zip``, ``hdf5``), the one Keras loads first: a name ending
    in ``.keras`` that ``zipfile.is_zipfile`` accepts is a zip to Keras 3 and Keras 2.13+ (their
    ``saving_api.load_model``), whatever its first bytes; else HDF5 where ``h5py.is_hdf5`` finds a
    superblock (Keras 2's legacy loader asks it), else a zip. A file can be both: an HDF5 file with a zip
    appended (a polyglot) is read as HDF5 by h5py and as a zip by ``zipfile``.

    A damaged file that is neither is what its first bytes say (its reader then names the damage).

    Raises:
        UserInputError: neither (its first bytes named), or it cannot be read.
    """
    try:
        is_zip = zipfile.is_zipfile(path)
        is_hdf5 = bool(h5py.is_hdf5(str(path)))
    except (OSError, ValueError) as exc:
        raise UserInputError(f"{path}: cannot be read ({exc})") from None
    found = (("zip", "hdf5") if path.suffix == ".keras" else ("hdf5", "zip"))
    found = tuple(kind for kind in found if {"zip": is_zip, "hdf5": is_hdf5}[kind])
    if not found:  # damaged (a zip cut before its directory): the first bytes say what it meant to be
        head = _head(path)
        if head.startswith((HDF5_MAGIC, ZIP_MAGIC)):
            return ("hdf5",) if head.startswith(HDF5_MAGIC) else ("zip",)
        raise UserInputError(f"{path}: not a Keras model: neither HDF5 nor a .keras zip archive "
                             f"(first bytes {head[:8]!r}), nor a SavedModel folder")
    return found


def polyglot_note(path: Path, kinds: tuple[str, ...]) -> str:
    """What a user needs to know of a file that is both a zip and HDF5 (:func:`containers`)."""
    if kinds[0] == "zip":
        return ("also an HDF5 file (a polyglot): Keras 3 and Keras 2.13+ load the .keras zip, Keras before "
                "2.13 the HDF5; they hold different models")
    return (f"also a zip archive (a polyglot): Keras loads the HDF5 under the name {path.name}, but renamed "
            ".keras Keras 3 and Keras 2.13+ load the zip")


def _resolve(path: Path, option: str) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a loop of symbolic links (Python 3.10, 3.11)
        raise UserInputError(f"{option}{path}: cannot be resolved ({exc}); a loop of symbolic links?") from None


def _regular(path: Path, what: str, folder_ok: bool = False) -> None:
    """Raises UserInputError unless ``path`` is a regular file (or folder): a FIFO would block the host."""
    try:
        regular(path, what, folder_ok)
    except NotRegular as exc:
        raise UserInputError(str(exc)) from None
    except OSError as exc:
        raise UserInputError(f"{what} {path}: cannot be read ({exc.strerror or exc})") from None


def _member(archive: zipfile.ZipFile, name: str, path: Path) -> bytes:
    """At most :data:`MAX_READ_BYTES` of one archive member (its header's size can lie: read, then count)."""
    with archive.open(name) as handle:
        data = handle.read(MAX_READ_BYTES + 1)
    if len(data) > MAX_READ_BYTES:
        raise UserInputError(f"{path}: {name} inside the archive expands past {MAX_READ_BYTES // 2**20} MiB; refused "
                       "(no Keras writes one so large: a damaged or hostile archive?)")
    return data


def _head(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(8)
    except OSError as exc:
        raise UserInputError(f"{path}: cannot be read ({exc.strerror})") from None


def _text(value) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _hdf5(path: Path) -> ModelFile:
    try:
        with h5py.File(path, "r") as handle:
            # model_config and layer_names (large) are only looked for; the two short strings are read.
            attrs = {key: None for key in ("model_config", "layer_names") if key in handle.attrs}
            for key in ("keras_version", "backend"):
                if key in handle.attrs:
                    size = handle.attrs.get_id(key).get_storage_size()
                    if size > MAX_READ_BYTES:
                        raise UserInputError(f"{path}: HDF5 attribute {key} holds {size} bytes, past "
                                       f"{MAX_READ_BYTES // 2**20} MiB; refused (a damaged or hostile file?)")
                    attrs[key] = handle.attrs[key]
            groups = set(handle.keys())
    except UserInputError:
        raise
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise UserInputError(f"{path}: not a readable HDF5 file ({first[:200]})") from None
    notes = []
    if "model_config" in attrs:
        fmt = "keras" if path.suffix == ".keras" else "h5"
        if fmt == "keras":
            notes.append("named .keras but is HDF5 (Keras 2 before 2.13 writes HDF5 for a .keras path unless 2.12 "
                         "is asked for save_format='keras_v3')")
    elif "layer_names" in attrs:
        fmt = "h5_weights"
    elif {"layers", "vars"} & groups:
        fmt = "keras_weights"
    else:
        raise UserInputError(f"{path}: an HDF5 file but not a Keras model or weights file "
                       f"(no model_config or layer_names attribute, no layers/vars groups)")
    recorded = [k for k in ("keras_version", "backend") if k in attrs]
    evidence = f"HDF5 root attribute{'s' if len(recorded) > 1 else ''} {', '.join(recorded)}" if recorded else ""
    return ModelFile(path, fmt, "hdf5", _text(attrs.get("keras_version")), None, _text(attrs.get("backend")),
                     evidence, tuple(notes))


def _keras_zip(path: Path) -> ModelFile:
    member = "a member"
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if not {"metadata.json", "config.json"} <= names:
                raise UserInputError(f"{path}: a zip archive but not a .keras model (no metadata.json and config.json "
                               f"inside; found {', '.join(sorted(names)[:5]) or 'nothing'})")
            member = "metadata.json"
            metadata = loads(_member(archive, member, path))
            member = "config.json"
            config = loads(_member(archive, member, path))
    except UserInputError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        raise UserInputError(f"{path}: not a readable zip archive ({exc}); truncated or corrupt?") from None
    except NotImplementedError as exc:  # zipfile: "That compression method is not supported" (deflate64)
        raise UserInputError(f"{path}: {member} inside the archive cannot be read ({exc}); Keras writes deflate or "
                       "stored members") from None
    except RuntimeError as exc:  # zipfile: "File ... is encrypted, password required for extraction"
        raise UserInputError(f"{path}: {member} inside the archive cannot be read ({exc}); Keras never encrypts "
                       "its archive") from None
    except ValueError as exc:  # not JSON (JSONDecodeError, UnicodeDecodeError), or nested too deeply
        raise UserInputError(f"{path}: {member} inside the archive is not JSON ({str(exc)[:200]})") from None
    # Every Keras that writes the zip serializes the model as {"class_name": ..., "config": ...}:
    # anything else would only fail later, inside every environment.
    if not isinstance(config, dict) or "class_name" not in config:
        raise UserInputError(f"{path}: config.json inside the archive is not a Keras model config (no class_name)")
    notes = () if path.suffix == ".keras" else (f"a .keras zip archive named {path.suffix or 'without suffix'}",)
    version = metadata.get("keras_version") if isinstance(metadata, dict) else None
    return ModelFile(path, "keras", "zip", _text(version), None, None,
                     "metadata.json in the archive" if version else "", notes, config_inputs(config))


def _saved_model(path: Path) -> ModelFile:
    pb = path / "saved_model.pb"
    if not pb.is_file():
        raise UserInputError(f"{path}: a folder without saved_model.pb, so not a SavedModel")
    tf_version = saved_model_tf_version(read_pb(pb), pb)
    keras_version = None
    metadata = path / "keras_metadata.pb"
    if metadata.is_file():
        match = KERAS_VERSION_IN_METADATA.search(read_pb(metadata))
        keras_version = match.group(1).decode() if match else None
    evidence = ", ".join(e for e, v in (("tensorflow_version in saved_model.pb", tf_version),
                                        ("keras_version in keras_metadata.pb", keras_version)) if v)
    notes = () if metadata.is_file() else ("no keras_metadata.pb: a TF SavedModel (tf.saved_model.save or Keras 3 "
                                           "model.export), not a Keras SavedModel",)
    return ModelFile(path, "savedmodel", "directory", keras_version, tf_version, None, evidence, notes)


def read_pb(path: Path) -> bytes:
    """A SavedModel's protobuf file, read by the guarded reader (a regular file of at most
    :data:`MAX_PB_BYTES`: protobuf itself refuses messages over 2 GiB).

    Raises:
        UserInputError: not a regular file, too large, or unreadable (the file named).
    """
    try:
        return read_bytes(path, "SavedModel file", MAX_PB_BYTES)
    except (NotRegular, TooLarge) as exc:
        raise UserInputError(str(exc)) from None
    except OSError as exc:
        raise UserInputError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _varint(data: bytes, pos: int, where: Path) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(data) or shift > 63:
            raise UserInputError(f"{where}: not a valid SavedModel protobuf (truncated or corrupt varint at byte "
                                 f"{pos})")
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not byte & 0x80:
            return value, pos


def protobuf_fields(data: bytes, where: Path):
    """Yield ``(field number, wire type, value)`` of one protobuf message: value is an int for
    varints and fixed fields, the bytes for length-delimited ones.

    A length is bounded by what is left of ``data`` (so by the file's size), and field number 0, which
    protobuf does not allow, is refused: a file of zeros ends at its first byte.

    Raises:
        UserInputError: not protobuf wire format (truncated, field 0, or a group/unknown wire type).
    """
    pos = 0
    while pos < len(data):
        start = pos
        key, pos = _varint(data, pos, where)
        wire, number = key & 7, key >> 3
        if number == 0:  # no .proto has field 0: zeros (a sparse file) or another format
            raise UserInputError(f"{where}: not a valid SavedModel protobuf (field number 0 at byte {start})")
        if wire == 0:
            value, pos = _varint(data, pos, where)
            yield number, wire, value
            continue
        if wire == 2:
            size, pos = _varint(data, pos, where)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
        else:
            raise UserInputError(f"{where}: not a valid SavedModel protobuf (wire type {wire} at byte {pos})")
        if pos + size > len(data):
            raise UserInputError(f"{where}: not a valid SavedModel protobuf (field {number} runs past the end; "
                                 "truncated?)")
        chunk = data[pos:pos + size]
        pos += size
        yield number, wire, (chunk if wire == 2 else int.from_bytes(chunk, "little"))


def _first_field(data: bytes, number: int, where: Path) -> bytes | None:
    """The first length-delimited field ``number`` of one protobuf message, or None."""
    return next((value for field, wire, value in protobuf_fields(data, where) if field == number and wire == 2), None)


def saved_model_tf_version(data: bytes, where: Path) -> str | None:
    """``meta_graphs[0].meta_info_def.tensorflow_version`` of a serialized SavedModel, or None if unset.

    Raises:
        UserInputError: the bytes are not protobuf wire format (truncated or another file).
    """
    message = data
    for number in SAVED_MODEL_PATH:
        message = _first_field(message, number, where)
        if message is None:
            return None
    return message.decode("utf-8", "replace") or None


def _with_architecture(found: ModelFile, architecture: Path) -> ModelFile:
    try:
        regular(architecture, "--architecture")
        config = loads(architecture.read_text())
    except FileNotFoundError:
        raise UserInputError(f"--architecture {architecture}: no such file") from None
    except NotRegular as exc:
        raise UserInputError(str(exc)) from None
    except (OSError, ValueError) as exc:
        raise UserInputError(f"--architecture {architecture}: not a JSON file ({exc})") from None
    if not isinstance(config, dict) or not {"class_name", "config"} <= set(config):
        raise UserInputError(f"--architecture {architecture}: not a Keras architecture (expected the JSON of "
                       "model.to_json(), with class_name and config)")
    if found.keras_version:
        return found
    version = _text(config.get("keras_version"))
    return ModelFile(found.path, found.format, found.container, version, None, _text(config.get("backend")),
                     f"keras_version in {architecture.name}" if version else "", found.notes)
