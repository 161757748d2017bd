"""A TOML file read with the line of every key: tomllib gives the values but not where each was
written, and an error in a file a person wrote must name the line to look at.

``read_toml`` reads and parses (every failure one EdgecamError line: a missing file, a folder,
no permission, not UTF-8, TOML's own syntax error with its line and column); ``key_lines``
finds each key's line by scanning the text, which tomllib has already found valid, so the scan
only has to follow strings, arrays, inline tables and table headers to stay in step.
"""

from __future__ import annotations

import bisect
import sys
from pathlib import Path
from typing import Any

from edgecam.util.errors import EdgecamError

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser from PyPI (a dependency there only)
    import tomli as tomllib

# a key's place in the document: table and key names, and the number (from 0) of an entry of
# an array of tables or of an inline array, e.g. ("camera", 1, "region", 0, "box")
KeyPath = tuple[str | int, ...]

_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def read_toml(path: str | Path, what: str) -> tuple[dict[str, Any], dict[KeyPath, int]]:
    """The document's values and the line of each key (``key_lines``); ``what`` names the file
    in errors (e.g. ``--config site.toml``)."""
    p = Path(path)
    if p.is_dir():
        raise EdgecamError(f"{what} is a folder; give the file")
    try:
        raw = p.read_bytes()
    except OSError as exc:
        why = (exc.strerror or str(exc)).lower()
        raise EdgecamError(f"cannot read {what}: {why}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise EdgecamError(f"{what} line {line}: not UTF-8 text (TOML files are UTF-8)"
                           ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise EdgecamError(f"{what} is not valid TOML: {exc}") from None
    return data, key_lines(text)


def key_lines(text: str) -> dict[KeyPath, int]:
    """The line (from 1) of every key, table header and array entry of a valid TOML document,
    by path. A key given by a dotted key or implied by a header is at its first mention; an
    array entry is at the line where it starts. Should the scan lose its step on a text it does
    not foresee, the keys found before that are kept and the others have no line."""
    scanner = _Scanner(text)
    try:
        scanner.scan()
    except (IndexError, ValueError, tomllib.TOMLDecodeError):
        pass
    return scanner.lines


def line_of(lines: dict[KeyPath, int], path: KeyPath) -> int | None:
    """The line of ``path``, else of the nearest table holding it (None: not found)."""
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return None


class _Scanner:
    """Follows a valid TOML text token by token, recording where each key is written."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.starts = [0] + [n + 1 for n, c in enumerate(text) if c == "\n"]
        self.lines: dict[KeyPath, int] = {}
        self.arrays: dict[KeyPath, int] = {}  # entries so far of each array of tables

    def scan(self) -> None:
        table: KeyPath = ()
        while True:
            self._skip(newlines=True)
            if self.i >= len(self.s):
                return
            if self.s.startswith("[[", self.i):
                table = self._header(2)
            elif self.s[self.i] == "[":
                table = self._header(1)
            else:
                self._key_value(table)

    def _at(self, path: KeyPath, pos: int) -> None:
        self.lines.setdefault(path, bisect.bisect_right(self.starts, pos))

    def _header(self, brackets: int) -> KeyPath:
        pos = self.i
        self.i += brackets
        keys = self._key()
        self._skip()
        self.i += brackets
        path: KeyPath = ()
        for n, key in enumerate(keys):
            path += (key,)
            self._at(path, pos)
            if brackets == 2 and n == len(keys) - 1:  # a new entry of this array of tables
                count = self.arrays.get(path, 0)
                self.arrays[path] = count + 1
                path += (count,)
            elif path in self.arrays:  # a table inside the array's newest entry
                path += (self.arrays[path] - 1,)
            self._at(path, pos)
        return path

    def _key_value(self, table: KeyPath) -> None:
        pos = self.i
        path = table
        for key in self._key():
            path += (key,)
            self._at(path, pos)
        self._skip()
        self.i += 1  # '='
        self._skip()
        self._value(path)

    def _key(self) -> list[str]:
        """A bare, quoted or dotted key, as its parts."""
        start = self.i
        while True:
            self._skip()
            c = self.s[self.i]
            if c in "\"'":
                self._string()
            else:
                while self.i < len(self.s) and self.s[self.i] in _BARE:
                    self.i += 1
            end = self.i
            self._skip()
            if self.i < len(self.s) and self.s[self.i] == ".":
                self.i += 1
                continue
            self.i = end
            break
        # the parts as TOML reads them (quotes and escapes), from the one-key document
        parsed: Any = tomllib.loads(self.s[start:end] + " = 0")
        parts = []
        while isinstance(parsed, dict):
            ((name, parsed),) = parsed.items()
            parts.append(name)
        return parts

    def _value(self, path: KeyPath) -> None:
        c = self.s[self.i]
        if c in "\"'":
            self._string()
        elif c == "[":
            self._items(path, "]", keyed=False)
        elif c == "{":
            self._items(path, "}", keyed=True)
        else:  # a number, a boolean, a date: up to what ends a value
            while self.i < len(self.s) and self.s[self.i] not in ",]}#\r\n":
                self.i += 1

    def _items(self, path: KeyPath, close: str, keyed: bool) -> None:
        """An inline array (entries numbered from 0) or an inline table (keys)."""
        self.i += 1
        count = 0
        while True:
            self._skip(newlines=True)
            if self.s[self.i] == close:
                self.i += 1
                return
            if self.s[self.i] == ",":
                self.i += 1
                continue
            if keyed:
                self._key_value(path)
            else:
                self._at(path + (count,), self.i)
                self._value(path + (count,))
                count += 1

    def _string(self) -> None:
        s, quote = self.s, self.s[self.i]
        if s.startswith(quote * 3, self.i):
            self.i = self._end(self.i + 3, quote * 3)
            while self.i < len(s) and s[self.i] == quote:  # up to two quotes end the content
                self.i += 1
        elif quote == "'":
            self.i = s.index("'", self.i + 1) + 1
        else:
            self.i = self._end(self.i + 1, '"') + 1

    def _end(self, i: int, close: str) -> int:
        """Where ``close`` ends a string from ``i`` (in basic strings, escapes skipped)."""
        if close.startswith("'"):
            return self.s.index(close, i)
        while not self.s.startswith(close, i):
            i += 2 if self.s[i] == "\\" else 1
        return i

    def _skip(self, newlines: bool = False) -> None:
        """Spaces and tabs; with ``newlines``, also line ends and comments."""
        s = self.s
        while self.i < len(s):
            c = s[self.i]
            if c in " \t" or (newlines and c in "\r\n"):
                self.i += 1
            elif newlines and c == "#":
                while self.i < len(s) and s[self.i] != "\n":
                    self.i += 1
            else:
                return
