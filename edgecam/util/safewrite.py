"""Files a command writes: never one of its inputs, checked before any work, created by
edgecam alone and put in place whole.

Every command goes through here (export, train, quantize, tune, the sinks), so the rules are
one set:

- an output is refused when it is one of the run's inputs (the same file by path or by
  identity, so hard links and symlinks count) or lies inside an input folder (a data set);
- ``check_writable`` creates and removes a real temporary in the folder the output goes to,
  so a folder that takes no new file (``/proc``, a read-only mount) fails before any work,
  where a permission check would pass;
- the file itself is written by ``edgecam.util.atomic`` (a temporary beside it, never through
  a link, renamed into place whole); ``write_whole`` is imported here for the commands that
  write a whole file after these checks.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from pathlib import Path

from edgecam.util.atomic import probe, write_whole
from edgecam.util.errors import CannotWrite, EdgecamError, reason, shown

__all__ = ["check_writable", "existing_folder", "identity", "inside", "reason", "refuse_inputs",
           "same_file", "shown", "write_whole"]

# --- outputs that are inputs ------------------------------------------------------------------


def identity(path: str | os.PathLike) -> tuple[int, int] | None:
    """(device, inode) of the file ``path`` names (through links), None when there is none."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def _real(path: str | os.PathLike) -> str:
    try:
        return os.path.realpath(path)
    except (OSError, ValueError):
        return os.path.abspath(path)


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether ``a`` and ``b`` are one file: the same path once links are resolved, or the same
    inode (a hard link)."""
    if _real(a) == _real(b):
        return True
    ida = identity(a)
    return ida is not None and ida == identity(b)


def inside(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    """Whether ``path`` (resolved) lies in ``folder`` or below it."""
    top = _real(folder)
    return _real(path).startswith(top.rstrip(os.sep) + os.sep)


def refuse_inputs(output: str | os.PathLike, files: Iterable[str | os.PathLike] = (),
                  what: str = "one of the inputs", folders: Iterable[str | os.PathLike] = (),
                  folder_what: str = "inside an input folder") -> None:
    """Refuse ``output`` when it is one of ``files`` (by path or identity) or inside one of
    ``folders``: writing there would destroy what the run reads."""
    out_id = identity(output)
    for folder in folders:
        # a hard link elsewhere to a file in the folder is that file too
        linked = out_id is not None and any(identity(f) == out_id for f in _files_in(folder))
        if inside(output, folder) or same_file(output, folder) or linked:
            what_it_is = f"a link to a file {folder_what}" if linked else folder_what
            raise EdgecamError(f"{shown(output)} is {what_it_is} {shown(folder)}; writing "
                               "there would change it, choose another output")
    ids = {i for i in map(identity, files) if i is not None}
    reals = {_real(f) for f in files}
    if _real(output) in reals or out_id in ids:
        raise EdgecamError(f"{shown(output)} is {what}; writing there would destroy it, "
                           "choose another output")


def _files_in(folder: str | os.PathLike) -> list[Path]:
    try:
        return [p for p in Path(folder).rglob("*") if p.is_file()]
    except OSError:
        return []


# --- writable, up front -----------------------------------------------------------------------


def existing_folder(path: Path) -> Path:
    """The nearest folder of ``path`` (itself or an ancestor) that exists."""
    folder = path
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def check_writable(path: str | os.PathLike, directory: bool = False) -> None:
    """Fail before any work when the file ``path`` (with ``directory``, files inside the
    folder ``path``) cannot be created: a real temporary is created and removed in the folder
    it goes to (the nearest one that exists: missing folders are made only when the file is
    written, so nothing is left behind)."""
    target = Path(path)
    try:
        if target.is_dir() and not directory:
            raise EdgecamError(f"cannot write {shown(path)}: it is a directory")
        folder = existing_folder(target if directory else target.parent)
        if not folder.is_dir():
            raise EdgecamError(f"cannot write {shown(path)}: {shown(folder)} is not a "
                               "directory")
        if len(os.fsencode(target.name)) > os.pathconf(folder, "PC_NAME_MAX"):
            raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG))
        probe(folder)
    except OSError as exc:
        raise CannotWrite(path, exc) from None
