"""Files put in place whole: the one way edgecam writes a file (models, pictures, videos, JSON,
caches, downloads), so every writer follows the same naming and sync rules.

A file is written under a temporary name beside its destination,
``.NAME.edgecam-partial-PID-RANDOM.EXT``: in the same folder, so the final rename is atomic and
stays on one file system; with the same extension, so a library that picks a format from it
(OpenCV's VideoWriter) picks the same one; created with ``O_CREAT | O_EXCL | O_NOFOLLOW`` under
a name nobody can guess, so a link planted in a shared folder is never followed; with NAME cut
short when needed, so the temporary's name fits the folder's NAME_MAX however long a legal
destination name is. When it is complete it is flushed to disk, renamed over the destination,
and the folder is flushed too (the rename survives a power cut). On any failure the temporary
is removed and the destination keeps what it held.

After SIGKILL or a power cut a temporary stays behind, recognizable by its name
(``leftover_glob``); while a run works on one it holds an exclusive ``flock`` on it, so a
temporary still being written is not mistaken for a leftover.
"""

from __future__ import annotations

import errno
import fcntl
import os
import secrets
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from edgecam.util.errors import CannotWrite

MARK = ".edgecam-partial-"
NAME_MAX = 255  # when the file system does not say
_PID_DIGITS, _RANDOM_DIGITS = 10, 8  # room kept in a temporary's name, whatever the pid
_SUFFIX_KEPT = 16  # bytes of an extension kept (a longer "extension" is part of the name)
_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def name_max(folder: Path) -> int:
    """The longest name (in bytes) a file in ``folder`` may have."""
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return NAME_MAX


def _cut(text: str, size: int) -> str:
    """``text`` cut to at most ``size`` bytes (as the file system counts them), never in the
    middle of a UTF-8 character."""
    raw = os.fsencode(text)
    if len(raw) <= size:
        return text
    raw = raw[:max(0, size)]
    for end in range(len(raw), max(-1, len(raw) - 4), -1):
        try:
            return raw[:end].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return os.fsdecode(raw)  # a name that was not UTF-8 to begin with


def _parts(final: Path) -> tuple[str, str]:
    """(the name before the random part, the extension) of ``final``'s temporaries."""
    suffix = final.suffix if len(os.fsencode(final.suffix)) <= _SUFFIX_KEPT else ""
    stem = final.name[:len(final.name) - len(suffix)] if suffix else final.name
    fixed = 1 + len(MARK) + _PID_DIGITS + 1 + _RANDOM_DIGITS + len(os.fsencode(suffix))
    return f".{_cut(stem, name_max(final.parent) - fixed)}{MARK}", suffix


def leftover_glob(final: Path | None = None) -> str:
    """A glob for the temporaries of ``final`` (with none, of any file)."""
    if final is None:
        return f".*{MARK}*"
    prefix, suffix = _parts(final)
    return f"{_escape(prefix)}*{_escape(suffix)}"


def _escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def _create(folder: Path, prefix: str, suffix: str) -> tuple[int, Path]:
    """A new empty file ``folder/PREFIX<random>SUFFIX`` made by this call, never through a
    link; a name already taken (a planted link) is passed over for another."""
    for _ in range(100):
        path = folder / f"{prefix}{secrets.token_hex(_RANDOM_DIGITS // 2)}{suffix}"
        try:
            return os.open(path, _FLAGS, 0o666), path
        except FileExistsError:
            continue
    raise OSError(errno.EEXIST, "no free temporary name")


def probe(folder: str | os.PathLike) -> None:
    """Create and remove a temporary in ``folder`` (OSError when no new file can go there)."""
    fd, path = _create(Path(folder), ".edgecam-probe-", "")
    os.close(fd)
    os.unlink(path)


def sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` survive a power cut (best effort: not every file system
    lets a folder be flushed)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class Staged:
    """A file on its way to ``final``: ``create`` the temporary, write to ``temp`` (by path,
    as OpenCV or ONNX do, or through ``file()``), then ``commit`` or ``discard``. As a context
    manager it creates on entry and commits on a normal exit, discards on an exception.

    ``create`` and ``commit`` raise ``CannotWrite`` ("cannot write FINAL: REASON")."""

    def __init__(self, final: str | os.PathLike) -> None:
        self.final = Path(final)
        self.temp = self.final  # the temporary's name is known once ``create`` made it
        self._fd: int | None = None  # holds the flock while the temporary is ours

    def create(self) -> Path:
        """Make the temporary (missing folders too): a new file of this run's own."""
        try:
            self.final.parent.mkdir(parents=True, exist_ok=True)
            prefix, suffix = _parts(self.final)
            fd, self.temp = _create(self.final.parent, f"{prefix}{os.getpid()}-", suffix)
            self._fd = fd
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            self.discard()
            raise CannotWrite(self.final, exc) from None
        return self.temp

    def file(self, mode: str = "wb", **kwargs: Any) -> IO[Any]:
        """The temporary opened for writing (close it before ``commit``)."""
        assert self._fd is not None, "create() first"
        return os.fdopen(os.dup(self._fd), mode, **kwargs)

    def commit(self) -> Path:
        """Flush the finished temporary to disk and rename it over ``final``; on failure it is
        removed and ``final`` untouched."""
        assert self._fd is not None, "create() first"
        try:
            fd = os.open(self.temp, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                os.fsync(fd)  # by name: a library may have written a file of its own there
            finally:
                os.close(fd)
            os.replace(self.temp, self.final)
        except OSError as exc:
            self.discard()
            raise CannotWrite(self.final, exc) from None
        self._release()
        sync_folder(self.final.parent)
        return self.final

    def discard(self) -> None:
        """Remove the temporary (nothing happens to ``final``)."""
        if self._fd is not None:
            self.temp.unlink(missing_ok=True)
        self._release()

    def _release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Staged:
        self.create()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()


def write_whole(dest: str | os.PathLike, data: str | bytes) -> Path:
    """``data`` at ``dest`` whole or not at all (``CannotWrite`` names the reason; ``dest`` is
    then untouched)."""
    body = data.encode() if isinstance(data, str) else data
    with Staged(dest) as staged:
        try:
            with staged.file("wb") as f:
                f.write(body)
        except OSError as exc:
            raise CannotWrite(staged.final, exc) from None
    return staged.final
