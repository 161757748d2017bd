"""User-facing errors: the CLI turns these into one line on stderr and a non-zero exit."""

from __future__ import annotations

import errno
import os

SHOWN = 120  # characters of a path an error line shows


class EdgecamError(Exception):
    """A problem with the user's input or environment (not a bug): shown without a traceback."""

    exit_code = 1


class MissingExtraError(EdgecamError):
    """An optional dependency (torch, the pretrained weight packages...) is not installed."""


class UsageError(EdgecamError):
    """An option's text that cannot be read at all: exit code 2, like the command line's own
    usage errors."""

    exit_code = 2


class CannotWrite(EdgecamError):
    """A file could not be written: ``cannot write PATH: REASON`` (``reason`` alone for a
    caller that words it its own way)."""

    def __init__(self, path: str | os.PathLike, exc: OSError) -> None:
        self.path, self.reason = path, reason(exc)
        super().__init__(f"cannot write {shown(path)}: {self.reason}")


def shown(path: str | os.PathLike) -> str:
    """A path as one error line shows it: whole up to ``SHOWN`` characters, else its head and
    its tail (a path longer than PATH_MAX would make a page of one line)."""
    text = os.fspath(path)
    if len(text) <= SHOWN:
        return text
    return f"{text[:40]}...{text[-60:]} ({len(text)} characters)"


def reason(exc: OSError) -> str:
    """What an OSError means, in the words an error line uses."""
    if exc.errno == errno.ENOSPC:
        return "no space left on device"
    if exc.errno == errno.ENAMETOOLONG:
        return "the path is too long"
    return exc.strerror.lower() if exc.strerror else str(exc)
