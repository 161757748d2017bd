"""One factory for every output, named by URI (like jetson-inference's videoOutput):

    out.mp4 / out.avi / out.mkv / out.mov   annotated video (one input)
    dir/                                   annotated pictures and NAME.labeled.mp4 per video
    file.jsonl                             JSON lines (also .ndjson, .json)
    -                                      JSON lines on stdout (human messages go to stderr)
    /dev/null                              nothing (a device is never renamed over)
    display://0                            a window
    http://HOST:PORT                       browser preview (MJPEG + /stats.json)
    mqtt://HOST[:PORT]/PREFIX              MQTT per camera: events, states, heartbeats
    events://DIR                           region state changes: DIR/events.jsonl + snapshots

Building a sink only checks: the URI is understood, the place is writable, the output is
none of the inputs and not the model (same file by path or by inode, so links count). Nothing
is created until results arrive.
"""

from __future__ import annotations

import faulthandler
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from edgecam.sinks.base import NullSink, Sink, SinkOptions
from edgecam.sinks.staging import is_special, mention_leftovers
from edgecam.util.errors import EdgecamError
from edgecam.util.safewrite import check_writable
from edgecam.util.safewrite import refuse_inputs as refuse_file_inputs

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".m4v")
KNOWN = ("neither a video file (.mp4, .avi, .mkv, .mov), a directory, JSON lines (.jsonl) "
         "nor one of -, /dev/null, display://0, http://HOST:PORT, mqtt://HOST/PREFIX, "
         "events://DIR")


def sink_kind(uri: str) -> str:
    """jsonl, video, folder, null, display, http or mqtt."""
    if uri == "-":
        return "jsonl"
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme in ("display", "http", "mqtt", "events"):
        return scheme
    if scheme:
        raise EdgecamError(f"output {uri} is {KNOWN}")
    path = Path(uri)
    if _is_devnull(uri):
        return "null"
    if is_special(path):
        return "jsonl"  # a FIFO, /dev/stdout: lines written in place
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if uri.endswith(("/", os.sep)) or _is_dir(path) or not suffix:
        return "folder"
    raise EdgecamError(f"output {uri} is {KNOWN}")


def open_sink(uri: str, options: SinkOptions | None = None, kind: str | None = None) -> Sink:
    """The sink ``uri`` names; ``kind`` forces one (``--json-out x.txt`` is JSON lines)."""
    options = options or SinkOptions()
    uri = str(uri)
    if not uri.strip():
        raise EdgecamError("an output name is empty")
    kind = sink_kind(uri) if kind is None or _is_devnull(uri) else kind
    sink = _build(kind, uri, options)
    refuse_inputs(sink, options.inputs or [], options.model_file)
    return sink


def _build(kind: str, uri: str, options: SinkOptions) -> Sink:
    if kind == "null":
        return NullSink(uri)
    if kind == "jsonl":
        from edgecam.sinks.jsonl import JsonLinesSink

        if uri != "-":
            _file_target(uri)
        return JsonLinesSink(uri, grow=options.live)
    if kind == "video":
        from edgecam.sinks.video import VideoSink

        inputs = options.inputs
        if not options.live and inputs is not None and (
                len(inputs) != 1 or _is_picture(inputs[0])):
            raise EdgecamError(
                f"{uri} is a video file, which takes exactly one input video (got {len(inputs)} "
                f"input(s){', a picture' if len(inputs) == 1 else ''}); give a directory "
                "instead")
        _file_target(uri)
        return VideoSink(uri, fps=options.fps)
    if kind == "folder":
        from edgecam.sinks.folder import FolderSink

        return FolderSink(uri, options.inputs, fps=options.fps)
    if kind == "display":
        from edgecam.sinks.window import WindowSink

        return WindowSink(uri)
    if kind == "http":
        from edgecam.sinks.network import PreviewSink

        return PreviewSink(uri, token=options.serve_token, capture_dir=options.capture_dir,
                           names=options.serve_names or (), studio=options.studio)
    if kind == "mqtt":
        from edgecam.sinks.network import MqttSink

        return MqttSink(uri, names=options.camera_names or (),
                        ha_prefix=options.ha_prefix)
    if kind == "events":
        from edgecam.sinks.events import EventsSink

        return EventsSink(uri.split("://", 1)[1] if "://" in uri else uri, options.events_keep)
    raise EdgecamError(f"output {uri} is {KNOWN}")


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except (OSError, ValueError):  # a name too long, for one: not a folder that exists
        return False


def _is_devnull(uri: str) -> bool:
    return "://" not in uri and os.path.realpath(uri) == os.devnull


def _is_picture(path: str) -> bool:
    from edgecam.sources.media import is_image_path

    return is_image_path(path)


def _file_target(uri: str) -> None:
    path = Path(uri)
    if is_special(path):
        return
    check_writable(path)
    mention_leftovers(path.parent, path)


def refuse_inputs(sink: Sink, inputs: list[str], model_file: str | None = None) -> None:
    """An output that is one of the inputs or the model (the same file, by path or inode)
    would destroy it."""
    for target in sink.targets():
        refuse_file_inputs(target, inputs)
        if model_file is not None:
            refuse_file_inputs(target, [model_file], what="the model (an input of this run)")


def refuse_shared(sinks: list[Sink]) -> None:
    """Two outputs into one file would garble both."""
    seen: dict[str, str] = {}
    for sink in sinks:
        for target in sink.targets():
            key = os.path.realpath(target)
            if key in seen:
                raise EdgecamError(f"{seen[key]} and {sink.uri} both write {target}")
            seen[key] = sink.uri


def flag_sinks(options: SinkOptions, *, output: str | None = None,
               json_out: str | None = None, serve: str | None = None,
               mqtt: str | None = None, display: bool = False, events: str | None = None,
               uris: Iterable[str] = ()) -> list[Sink]:
    """The classic flags and any ``--sink`` URIs as sinks. ``--json-out`` is JSON lines
    whatever its name; ``--serve HOST:PORT`` is ``http://HOST:PORT``; ``--events DIR`` is
    ``events://DIR``."""
    sinks = []
    if output:
        sinks.append(open_sink(output, options))
    if json_out:
        sinks.append(open_sink(json_out, options, kind="jsonl"))
    if display:
        sinks.append(open_sink("display://0", options))
    if serve:
        sinks.append(open_sink(f"http://{serve}", options))
    if mqtt:
        sinks.append(open_sink(mqtt, options, kind="mqtt"))
    if events:
        sinks.append(open_sink(events, options, kind="events"))
    sinks += [open_sink(uri, options) for uri in uris]
    refuse_shared(sinks)
    return sinks


def service_sinks(environ: Mapping[str, str] = os.environ) -> list[Sink]:
    """The service manager's sink when one started this run and listens ($NOTIFY_SOCKET, as in
    the units ``edgecam service install`` writes): added by ``live`` beside the outputs the
    user named. With a watchdog, a hang it catches ends in SIGABRT: faulthandler then prints
    every thread's stack to the journal, which shows where the run was stuck."""
    from edgecam.util.sdnotify import Notifier, watchdog_seconds

    notifier = Notifier.from_env(environ)
    if notifier is None:
        return []
    from edgecam.sinks.notify import NotifySink

    watchdog = watchdog_seconds(environ)
    if watchdog is not None:
        faulthandler.enable()
    return [NotifySink(notifier, watchdog)]
