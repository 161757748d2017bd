"""``edgecam live --config site.toml``: one file that describes a site — the model options, the
outputs, the cameras and the regions each camera watches — so a service runs one short command.

Every key has the name of the flag it stands for, with ``_`` for ``-`` (``events_keep`` for
``--events-keep``), and a flag given on the command line overrides the file's value (a
repeatable flag, ``--source`` or ``--region``, replaces the file's list). The shape (see
docs/site-file.md)::

    model = "gate-160.onnx"          # the run: the flags about the model
    hold = 2.0
    [outputs]                        # where results go: the flags about outputs
    events = "events/"
    [[camera]]                       # one table per camera (--source, --width...)
    source = "rtsp://cam1/stream"
    [[camera.region]]                # one table per region of that camera
    name = "gate"
    box = [480, 360, 160, 120]

Each value is checked here, with the same checks as its flag's, so a wrong key or value is one
line naming the key and its line in the file.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from edgecam.commands.options import at_least_one, check_events, check_hold
from edgecam.pipeline.regions import Box, Region, check_name
from edgecam.runtime.postprocess import check_options
from edgecam.runtime.unknown import Thresholds
from edgecam.util.device import check_threads
from edgecam.util.errors import EdgecamError
from edgecam.util.tomlfile import KeyPath, line_of, read_toml

Check = Callable[[Any], Any]


class _Bad(Exception):
    """A value of the wrong kind: what it must be (the reader adds the key, value and line)."""


def _is(value: Any, *kinds: type) -> bool:
    """isinstance, where TOML's true and false are never numbers."""
    return isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool))


def _kind(what: str, *kinds: type, convert: Callable[[Any], Any] = lambda v: v) -> Check:
    """A check that the value is one of ``kinds`` (``what``, said when it is not)."""

    def check(value: Any) -> Any:
        if not _is(value, *kinds):
            raise _Bad(f"must be {what}")
        return convert(value)

    return check


_text = _kind("a string", str)
# a string, or a whole number as its text (source = 0, serve = 8080)
_text_or_whole = _kind("a string or a whole number", str, int, convert=str)
_flag = _kind("true or false", bool)
_whole = _kind("a whole number", int)
_number = _kind("a number", int, float, convert=float)


def _texts(value: Any) -> list[str]:
    """One string or a list of them (what repeating the flag gives)."""
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(v, str) for v in items):
        raise _Bad("must be a string or a list of strings")
    return items


def _thresholds(value: Any) -> list[str]:
    """A probability, a ``LABEL=P`` text, or a list of them, as ``--threshold``'s texts."""
    items = value if isinstance(value, list) else [value]
    if not all(_is(v, str, int, float) for v in items):
        raise _Bad("must be a probability (0.8), a text ('gate open=0.8') or a list of them")
    texts = [str(v) for v in items]
    Thresholds.parse(texts)
    return texts


def _region_threshold(value: Any) -> str:
    return ",".join(_thresholds(value))


def _box(value: Any) -> Box:
    """[X, Y, W, H] or "X,Y,W,H": pixels, or fractions when all four are <= 1."""
    if isinstance(value, list) and len(value) == 4 and all(_is(v, int, float) for v in value):
        value = ",".join(str(v) for v in value)
    if not isinstance(value, str):
        raise _Bad("must be four numbers [X, Y, W, H] (or the text \"X,Y,W,H\")")
    return Box.parse(value)


def _width(value: Any) -> int:
    _capture_mode(width=_whole(value))
    return value


def _height(value: Any) -> int:
    _capture_mode(height=_whole(value))
    return value


def _fps(value: Any) -> float:
    fps = _number(value)
    _capture_mode(fps=fps)
    return fps


def _capture_mode(**mode: Any) -> None:
    """The sources' own check, imported only for a file that gives a size (it brings OpenCV:
    a mistake elsewhere in the file is said at once)."""
    from edgecam.sources.factory import check_capture_mode

    check_capture_mode(**mode)


def _hold(value: Any) -> float:
    return check_hold(_number(value))


def _top_k(value: Any) -> int:
    check_options(_whole(value), 0.0)
    return value


def _smoothing(value: Any) -> float:
    smoothing = _number(value)
    check_options(1, smoothing)
    return smoothing


def _threads(value: Any) -> int:
    return check_threads(_whole(value))


def _max_frames(value: Any) -> int:
    at_least_one("--max-frames", _whole(value))
    return value


def _events(value: Any) -> str:
    check_events(_text(value), 1)
    return value


def _events_keep(value: Any) -> int:
    check_events(None, _whole(value))
    return value


def _region_name(value: Any) -> str:
    return check_name(_text(value), "name")


# what each table takes: the flag's name (with _ for -) and its check
RUN: dict[str, Check] = {
    "model": _text, "profile": _text, "threads": _threads, "provider": _text,
    "top_k": _top_k, "threshold": _thresholds, "smoothing": _smoothing, "hold": _hold,
    "fast": _flag, "loop": _flag, "max_frames": _max_frames, "batch_cameras": _flag,
}
OUTPUTS: dict[str, Check] = {
    "headless": _flag, "output": _text, "json_out": _text, "sink": _texts, "events": _events,
    "events_keep": _events_keep, "mqtt": _text, "serve": _text_or_whole, "serve_token": _text,
    "serve_token_file": _text, "serve_name": _texts, "capture_dir": _text, "ha": _flag,
    "ha_prefix": _text,
}
CAMERA: dict[str, Check] = {"source": _text_or_whole, "width": _width, "height": _height,
                            "fps": _fps, "camera_name": _text}
REGION: dict[str, Check] = {"name": _region_name, "box": _box, "model": _text, "hold": _hold,
                            "threshold": _region_threshold}
SIZE = ("width", "height", "fps")
# the tables, by the key that holds them, as they are written
TABLES = {"outputs": "[outputs]", "camera": "[[camera]]", "region": "[[camera.region]]"}
# the keys of one choice: the command line giving one drops the file's other
ONE_CHOICE = {"model": "profile", "profile": "model", "serve_token": "serve_token_file",
              "serve_token_file": "serve_token"}


@dataclass
class Camera:
    source: str
    size: dict[str, Any]  # the width, height and fps it gives
    regions: tuple[Region, ...]
    where: str  # "site.toml line 12", for errors
    name: str | None = None  # camera_name: its MQTT topics and Home Assistant device


@dataclass
class Site:
    """A site file's checked values: the run's and outputs' by flag name, and the cameras."""

    name: str
    values: dict[str, Any] = field(default_factory=dict)
    cameras: list[Camera] = field(default_factory=list)

    def size(self) -> dict[str, Any]:
        """The cameras' one width, height and fps (one for every camera today)."""
        first = self.cameras[0]
        for camera in self.cameras[1:]:
            if camera.size != first.size:
                raise EdgecamError(
                    f"{camera.where}: the cameras give different sizes "
                    f"({_size_text(first.size)} and {_size_text(camera.size)}); edgecam "
                    "captures every camera at one size: give each [[camera]] the same width, "
                    "height and fps, or none")
        return first.size

    def under(self, flags: dict[str, Any], given: set[str]) -> dict[str, Any]:
        """``flags`` with this file's values for every flag the command line did not give."""
        out = dict(flags)
        for name, value in self.values.items():
            if name not in given and ONE_CHOICE.get(name) not in given:
                out[name] = value
        if not self.cameras:
            return out
        if "source" in given and len(flags["source"]) != len(self.cameras):
            raise EdgecamError(
                f"--source gives {len(flags['source'])} source(s) and {self.name} "
                f"{len(self.cameras)} [[camera]]; give one --source per camera, in the "
                "file's order (each keeps its camera's regions), or none")
        if "source" not in given:
            out["source"] = [camera.source for camera in self.cameras]
        out.update({k: v for k, v in self.size().items() if k not in given})
        if "region" not in given:  # --region replaces every camera's regions
            out["camera_regions"] = [camera.regions or None for camera in self.cameras]
        if "camera_name" not in given:
            out["camera_name"] = self.names()
        return out

    def names(self) -> list[str]:
        """The cameras' camera_name, in order (the first ones: later cameras may go
        without, each then named after its source)."""
        names = [c.name for c in self.cameras]
        while names and names[-1] is None:
            names.pop()
        for camera, name in zip(self.cameras, names):
            if name is None:
                raise EdgecamError(f"{camera.where}: this [[camera]] has no camera_name but a "
                                   "later one has; name every camera before a named one")
        return [n for n in names if n is not None]


def live_flags(ctx: Any) -> SimpleNamespace:
    """``live``'s options by flag name: the command line's (``ctx``, the click context), over
    the ``--config`` file's when one is given, plus ``camera_regions`` (the file's regions of
    each camera)."""
    flags = {name: list(v) if isinstance(v, tuple) else v for name, v in ctx.params.items()}
    flags["camera_regions"] = []
    if flags.get("config") is None:
        return SimpleNamespace(**flags)
    given = {name for name in ctx.params if _given(ctx, name)}
    return SimpleNamespace(**read_site(str(flags["config"])).under(flags, given))


def _given(ctx: Any, name: str) -> bool:
    """Whether the command line gave this option (not its default): click's parameter
    source, read by name since Typer may bring its own copy of click."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


def read_site(path: str) -> Site:
    """The site file at ``path``, checked: an unknown key, a value of the wrong kind or out of
    range, a missing source, name or box is one EdgecamError line naming the key and its line."""
    data, lines = read_toml(path, f"--config {path}")
    reader = _Reader(path, lines)
    site = Site(path, reader.values(data, (), RUN, "at the top level", ("outputs", "camera")))
    outputs = data.get("outputs", {})
    if not isinstance(outputs, dict):
        raise reader.bad(("outputs",), "outputs must be a table: write [outputs] above its keys")
    site.values.update(reader.values(outputs, ("outputs",), OUTPUTS, "in [outputs]"))
    site.cameras = [reader.camera(table, ("camera", n))
                    for n, table in enumerate(reader.tables(data, (), "camera"))]
    return site


class _Reader:
    """Walks the parsed file, each key checked and each error placed on its line."""

    def __init__(self, name: str, lines: dict[KeyPath, int]) -> None:
        self.name = name
        self.lines = lines

    def where(self, path: KeyPath) -> str:
        line = line_of(self.lines, path)
        return self.name if line is None else f"{self.name} line {line}"

    def bad(self, path: KeyPath, message: str) -> EdgecamError:
        return EdgecamError(f"{self.where(path)}: {message}")

    def values(self, table: dict[str, Any], path: KeyPath, keys: dict[str, Check], where: str,
               inner: tuple[str, ...] = ()) -> dict[str, Any]:
        """Each key of ``table`` checked (``inner``: the tables it may hold, read apart)."""
        out = {}
        for key, value in table.items():
            if key in inner:
                continue
            if key not in keys:
                raise self.bad(path + (key,), _unknown(key, value, where, [*keys, *inner]))
            try:
                out[key] = keys[key](value)
            except _Bad as exc:
                raise self.bad(path + (key,), f"{key} {exc}, got {_shown(value)}") from None
            except EdgecamError as exc:
                raise self.bad(path + (key,), _named(str(exc), key)) from None
        return out

    def tables(self, table: dict[str, Any], path: KeyPath, key: str) -> list[dict[str, Any]]:
        """An array of tables (``[[camera]]``), refused in one line when written otherwise."""
        value = table.get(key, [])
        if not (isinstance(value, list) and all(isinstance(v, dict) for v in value)):
            raise self.bad(path + (key,), f"{key} must be written {TABLES[key]}, one table per "
                                          f"{key} (two brackets), with its keys below it")
        return value

    def camera(self, table: dict[str, Any], path: KeyPath) -> Camera:
        values = self.values(table, path, CAMERA, "in [[camera]]", ("region",))
        if "source" not in values:
            raise self.bad(path, "this [[camera]] has no source (e.g. source = "
                                 "\"rtsp://cam1/stream\", a video file or 0)")
        regions: list[Region] = []
        for n, entry in enumerate(self.tables(table, path, "region")):
            here = path + ("region", n)
            got = self.values(entry, here, REGION, "in [[camera.region]]")
            for key in ("name", "box"):
                if key not in got:
                    raise self.bad(here, f"this [[camera.region]] has no {key} (e.g. name = "
                                         "\"gate\" and box = [480, 360, 160, 120])")
            if any(r.name == got["name"] for r in regions):
                raise self.bad(here + ("name",), f"region {got['name']!r} is given twice in "
                                                 "this camera; each needs its own name")
            regions.append(Region(**got))
        name = values.pop("camera_name", None)
        return Camera(values.pop("source"), values, tuple(regions), self.where(path), name)


def _unknown(key: str, value: Any, where: str, known: list[str]) -> str:
    """'unknown key' with the likeliest fix: the flag's spelling, the table it belongs in, a
    near name, or the keys this table takes."""
    text = f"unknown key {key!r} {where}"
    snake = key.replace("-", "_")
    if isinstance(value, dict):  # a [table] of a near name
        near = difflib.get_close_matches(snake, [k for k in known if k in TABLES], 1, 0.6)
        if near:
            return f"unknown table [{key}] {where} (did you mean {TABLES[near[0]]}?)"
    if snake in known:
        return f"{text} (did you mean {snake!r}? keys are the flags' names with _ for -)"
    if _homes(snake):
        return f"{text} ({key!r} belongs {' or '.join(_homes(snake))})"
    close = difflib.get_close_matches(snake, known, n=1, cutoff=0.6)
    if close:
        return f"{text} (did you mean {close[0]!r}?)"
    close = difflib.get_close_matches(snake, [*RUN, *OUTPUTS, *CAMERA, *REGION, *TABLES], 1, 0.6)
    if close:
        return f"{text} (did you mean {close[0]!r}? it belongs {' or '.join(_homes(close[0]))})"
    return f"{text} (keys here: {', '.join(known)})"


def _homes(key: str) -> list[str]:
    """Where a key is at home."""
    if key in TABLES:
        return [{"outputs": "at the top level", "camera": "at the top level",
                 "region": "in a camera, as [[camera.region]] below its [[camera]]"}[key]]
    return [place for place, keys in (("at the top level", RUN), ("in [outputs]", OUTPUTS),
                                      ("in [[camera]]", CAMERA),
                                      ("in [[camera.region]]", REGION)) if key in keys]


def _named(message: str, key: str) -> str:
    """A shared check's message, which names the flag (--events-keep), naming the key."""
    flag = "--" + key.replace("_", "-")
    if message.startswith(flag):
        return key + message[len(flag):]
    return message if message.startswith((f"{key} ", f"a {key} ")) else f"{key}: {message}"


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _size_text(size: dict[str, Any]) -> str:
    return ", ".join(f"{k} {size[k]:g}" for k in SIZE if k in size) or "no size"
