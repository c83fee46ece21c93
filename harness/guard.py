"""Guards for untrusted input: paths inside the work dir, regular files read with a cap, bounded JSON, atomic writes.

Names that reach a path (environment names from a CI job's ``run.json``, a record's producer) come
from outside; :func:`within` is the one place that joins them to a work dir, and it refuses any
path that would leave it. Every file the harness owns is written by :func:`write_atomic` (or
:func:`write_set`, for files that belong together): a temporary file in the same folder, then a
rename, so a full disk or a crash leaves the old file, never half a new one.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator

from harness.errors import HarnessError

QUOTE_CHARS = 200  # a quoted value in a message is cut to this many characters


class OutsideWorkdir(HarnessError, ValueError):
    """A name would make a path outside the work dir (``..``, a separator, an absolute path)."""


class NotRegular(HarnessError, ValueError):
    """A path is a named pipe, a device or a socket: reading it could block forever or never end."""


def quote(value, limit: int = QUOTE_CHARS) -> str:
    """``repr(value)``, cut to ``limit`` characters with ``…`` (a message stays one readable line)."""
    text = repr(value) if not isinstance(value, str) or len(value) <= limit * 4 else repr(value[:limit * 4])
    return text if len(text) <= limit else text[:limit] + "…"


def safe_name(name) -> bool:
    """Whether ``name`` can be one part of a file name: a non-empty string of at most 200 characters
    without a path separator, NUL or control character, and not ``.`` or ``..``."""
    return (isinstance(name, str) and 0 < len(name) <= 200 and name not in (".", "..")
            and not any(c in name for c in "/\\\0") and name.isprintable())


def within(root: Path, *parts: str) -> Path:
    """``root / part / ...``, refusing anything that would leave ``root``.

    Raises:
        OutsideWorkdir: a part that is not a plain name (:func:`safe_name`), or a result
            that resolves (following links) outside ``root``.
    """
    for part in parts:
        if not safe_name(part):
            raise OutsideWorkdir(f"{quote(part)} is not a plain file name (under {root}); refused")
    path = Path(root).joinpath(*parts)
    try:
        path.resolve().relative_to(Path(root).resolve())
    except ValueError:
        raise OutsideWorkdir(f"{path} leads outside {root}; refused") from None
    except (OSError, RuntimeError) as exc:  # a link loop
        raise OutsideWorkdir(f"{path}: cannot be resolved ({exc}); refused") from None
    return path


def resolved(path: Path, what: str) -> Path:
    """``path`` made absolute with its symbolic links followed, for an option's path (``what`` names it).

    Raises:
        Unreadable: a loop of symbolic links (one line naming ``what`` and the path, not pathlib's RuntimeError).
    """
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError):
        raise Unreadable(OSError(errno.ELOOP, "a loop of symbolic links"), what, path) from None


def regular(path: Path, what: str, folder_ok: bool = False) -> os.stat_result:
    """The ``stat`` of ``path``, which must be a regular file (or, with ``folder_ok``, a folder).

    Raises:
        NotRegular: a named pipe, a device, a socket (``what`` names the option or role).
        IsADirectoryError: a folder, unless ``folder_ok``.
        FileNotFoundError: nothing there; OSError: cannot be looked at (a link loop included).
    """
    info = os.stat(path)
    if stat.S_ISREG(info.st_mode) or (folder_ok and stat.S_ISDIR(info.st_mode)):
        return info
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(info.st_mode) else "a device" if
            stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else "a socket" if
            stat.S_ISSOCK(info.st_mode) else "of an unknown kind")
    raise NotRegular(f"{what} {path}: is {kind}, not a regular file{' or folder' if folder_ok else ''}; refused")


class Unreadable(HarnessError, OSError):
    """A path that cannot be read as a file: a folder in a file's place, a loop of symbolic links, no
    permission. An OSError with the errno (so every ``except OSError`` still sees it) whose message is one
    line naming the role and the path."""

    def __init__(self, error: OSError, what: str, path: Path):
        super().__init__(error.errno, error.strerror, str(path))
        why = "a folder, not a file" if error.errno == errno.EISDIR else f"cannot be read ({error.strerror})"
        self.line = f"{what} {path}: {why}; refused"

    def __str__(self) -> str:
        return self.line


class TooLarge(HarnessError, ValueError):
    """A file is larger than its reader accepts (a damaged or hostile file: reading it whole could exhaust memory)."""


class NotText(HarnessError, ValueError):
    """A file that must be UTF-8 text is not (the message names the file and the byte); ``detail`` is
    where, for a caller's own message (``byte 7: b'\\xff'``)."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail


MAX_FILE_BYTES = 512 * 2**20  # the default cap of read_bytes: past any run.json, record file or results.json


@contextlib.contextmanager
def open_regular(path: Path, what: str = "file") -> Iterator[BinaryIO]:
    """A binary handle on the regular file ``path``, for a reader that streams it (a digest, a log's tail):
    opened without blocking (``O_NONBLOCK``: a named pipe with no writer opens at once), then judged by
    what was opened, so a FIFO, a device or a socket in a file's place is refused, never waited on, and a
    file swapped after a check is still the one judged.

    Raises:
        NotRegular: a named pipe, a device, a socket (``what`` names the option or role).
        Unreadable: a folder, a loop of symbolic links, no permission (an OSError).
        FileNotFoundError: nothing there (a dangling symbolic link included).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise Unreadable(exc, what, path) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):  # judged before os.fdopen, which refuses a folder's descriptor itself
        os.close(fd)
        if stat.S_ISDIR(info.st_mode):
            raise Unreadable(IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR)), what, path)
        regular(path, what)  # raises NotRegular, naming the kind
        raise NotRegular(f"{what} {path}: not a regular file; refused")
    with os.fdopen(fd, "rb") as handle:
        yield handle


def read_bytes(path: Path, what: str = "file", limit: int = MAX_FILE_BYTES, offset: int = 0) -> bytes:
    """The bytes of the regular file ``path`` from byte ``offset`` on, at most ``limit`` of them: the one way
    the host reads a file from a work dir, a job folder, a model path, an index or a YAML
    (:func:`open_regular`).

    Raises:
        NotRegular: a named pipe, a device, a socket (``what`` names the option or role).
        Unreadable: a folder, a loop of symbolic links, no permission (an OSError).
        TooLarge: more than ``limit`` bytes.
        FileNotFoundError, OSError: nothing there, or it cannot be read.
    """
    with open_regular(path, what) as handle:
        size = os.fstat(handle.fileno()).st_size - offset
        if size > limit:
            raise TooLarge(f"{what} {path}: {size} bytes, over the {limit} this reader accepts; refused "
                           "(a damaged or hostile file?)")
        handle.seek(offset)
        data = handle.read(limit + 1)
    if len(data) > limit:  # grew while read
        raise TooLarge(f"{what} {path}: over the {limit} bytes this reader accepts; refused")
    return data


def decode(data: bytes, path: Path, what: str = "file") -> str:
    """``data`` decoded as UTF-8, strictly.

    Raises:
        NotText: naming ``what``, the file and the byte offset of the first bytes that are not UTF-8.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        detail = f"byte {exc.start}: {data[exc.start:exc.start + 4]!r}"
        raise NotText(f"{what} {path}: not UTF-8 text ({detail})", detail) from None


def read_text(path: Path, what: str = "file", limit: int = MAX_FILE_BYTES) -> str:
    """:func:`read_bytes`, decoded strictly (:func:`decode`)."""
    return decode(read_bytes(path, what, limit), path, what)


def loads(text: str | bytes):
    """``json.loads``, with nesting too deep for Python (``[[[[…``) a ValueError like any other bad JSON."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply to read") from None


def _umask() -> int:
    """The process's umask, read without changing it where Linux says it (``/proc/self/status``, 4.7+);
    elsewhere set and restored at once."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` (text is UTF-8) to ``path`` through a temporary file in the same folder and a rename.
    The file's mode is what ``open()`` would give a new file (0666 less the umask: 0644 by default), so
    reports stay readable by others (a web server, a container running as another user).

    Raises:
        OSError: with ``filename`` set to ``path`` (a full disk says which file); the old file is kept.
    """
    write_set({Path(path): data})


def write_set(files: dict[Path, str | bytes]) -> None:
    """Write several files so they change together: every temporary file is written first, then each
    is renamed over its file. A failure while writing (a full disk) leaves every old file as it was.

    Raises:
        OSError: the first failure, ``filename`` naming the file it was writing.
    """
    temps: dict[Path, str] = {}
    current = None
    try:
        for current, data in files.items():
            path = current
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temps[path] = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; the file gets what open() would give it
            with os.fdopen(fd, "wb") as handle:
                handle.write(data.encode() if isinstance(data, str) else data)
                handle.flush()
                os.fsync(handle.fileno())
        for current, temp in temps.items():
            os.replace(temp, current)
    except OSError as exc:
        for temp in temps.values():
            Path(temp).unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror or str(exc), str(current)) from None


def claim_folder(path: Path, marker: str, option: str) -> None:
    """Make ``path`` the harness's own folder: create it with the file ``marker`` in it, or accept it when it is
    empty or already holds ``marker``. A folder with other content is someone else's: nothing in it may be
    removed or overwritten.

    Raises:
        ValueError: the folder is someone else's, or cannot be made (under a file, in ``/proc``, no
            permission); the message names ``option`` and the path.
    """
    path = Path(path)
    try:
        if path.is_dir() and not (path / marker).is_file() and any(path.iterdir()):
            raise ValueError(f"{option} {path}: a folder the harness did not make (it has files, and no {marker}); "
                             "name a new or empty folder, so that nothing of yours is removed or overwritten")
        path.mkdir(parents=True, exist_ok=True)
        write_atomic(path / marker, "made by keras-compat-matrix; its contents are replaced on each run\n")
    except OSError as exc:
        raise ValueError(f"{option} {path}: cannot make or write the folder "
                         f"({exc.strerror or exc}: {exc.filename or path})") from None
