"""The preview's JSON API, what the page's studio uses and scripts or Home Assistant can drive
(docs/browser-setup.md):

    GET  /api/regions          each region's box on this camera, and how a later start keeps them
    PUT  /api/regions          {"regions": [{"name", "box": [x, y, w, h]}, ...]}: watched from the
                               next frame, written back to the site file (or the --region line)
    POST /api/capture          {"label", "region"}: that region's crop of the newest frame saved
                               to DIR/LABEL/
    GET  /api/dataset          the labels, their counts and newest pictures
    GET  /api/picture          ?label=L&name=N: one picture; DELETE: delete it
    POST /api/train            start the train button's job (409 while one runs); GET: its state
    POST /api/train/cancel     cancel it (the old model keeps running)

Every request went through the server's checks first (the Host, the token, and for a POST,
PUT or DELETE the origin); a body must also say ``Content-Type: application/json``, which a
page of another site cannot send without asking first (a preflight this server never allows).
A bad body, an unknown region or a label that cannot be a folder is a 400 with one line
(``{"error": ...}``) and nothing is written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from edgecam.pipeline.regions import Box, Region, check_name, check_regions
from edgecam.sinks.captures import NotFound, delete, label_pictures, listing, picture
from edgecam.util.classname import check_label
from edgecam.util.errors import EdgecamError

MAX_JSON = 64 * 1024  # a body is a few regions or a label
MAX_REGIONS = 32
REGION_KEYS = ("name", "box", "model", "hold", "threshold")


class ApiError(EdgecamError):
    """A request answered with ``status`` and one line."""

    status = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class Conflict(ApiError):
    """The request cannot be done now (a training runs, none runs, no frame yet)."""

    status = 409


class Studio(Protocol):
    """What the API drives besides the capture folder (``edgecam.studio.session.Studio``):
    regions per camera and the train button's job. Errors are EdgecamErrors (400) or
    ``Conflict`` (409)."""

    def regions(self, camera: int) -> dict[str, Any]: ...

    def set_regions(self, camera: int, regions: Sequence[Region]) -> dict[str, Any]: ...

    def training(self) -> dict[str, Any]: ...

    def train(self, body: Any) -> dict[str, Any]: ...

    def cancel(self) -> dict[str, Any]: ...


class Body(Protocol):
    """The request's body stream (read only once it checks out)."""

    def read(self, size: int, /) -> bytes: ...


class Server(Protocol):
    """The preview server as the API sees it (``edgecam.sinks.preview.PreviewServer``)."""

    capture_dir: Path | None
    studio: Studio | None

    def capture(self, label: str, camera: int = 0, region: str | None = None) -> Path: ...

    def newest(self, camera: int) -> tuple[tuple[int, int] | None, dict | None]: ...


@dataclass
class Reply:
    status: int
    body: bytes
    ctype: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    close: bool = False  # the request's body was not read: the connection cannot go on


def answer(data: Any, status: int = 200) -> Reply:
    return Reply(status, json.dumps(data, default=str).encode())


def refusal(exc: EdgecamError, close: bool = False) -> Reply:
    """One line in ``{"error": ...}``, with the status the error carries (400 by default)."""
    status = getattr(exc, "status", 400)
    reply = answer({"error": str(exc).strip().splitlines()[0] if str(exc).strip() else ""},
                   status)
    reply.headers.update(getattr(exc, "headers", {}) or {})
    reply.close = close
    return reply


Route = Callable[[Server, int, Mapping[str, list[str]], Any], Reply]


def handle(server: Server, method: str, path: str, query: Mapping[str, list[str]],
           camera: int, headers: Any, body: Body) -> Reply:
    """Answer one API request (the server checked the Host, the token and the origin)."""
    methods = {m: route for (m, p), route in ROUTES.items() if p == path}
    if not methods:
        return refusal(ApiError(f"no API at {path}", 404), close=method in ("POST", "PUT"))
    route = methods.get(method)
    if route is None:
        reply = refusal(ApiError(f"{path} takes {', '.join(sorted(methods))}", 405),
                        close=method in ("POST", "PUT"))
        reply.headers["Allow"] = ", ".join(sorted(methods))
        return reply
    try:
        data = read_json(headers, body) if method in ("POST", "PUT") else None
    except ApiError as exc:
        return refusal(exc, close=True)
    try:
        return route(server, camera, query, data)
    except EdgecamError as exc:
        return refusal(exc)


def body_length(headers: Any, limit: int) -> int:
    """The body's length, when it is given plainly (no chunks) and at most ``limit`` bytes:
    a request body is read only once this checks out."""
    if headers.get("Transfer-Encoding"):
        raise ApiError("give a Content-Length (chunked bodies are not taken)", 411)
    text = (headers.get("Content-Length") or "0").strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 12):
        raise ApiError("Content-Length must be a number of bytes")
    length = int(text)
    if length > limit:
        raise ApiError(f"the body is too large (at most {limit} bytes)", 413)
    return length


def read_json(headers: Any, body: Body) -> Any:
    """The body as JSON (None when empty), read only once everything about it checks out."""
    ctype = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise ApiError("send the body as JSON with Content-Type: application/json", 415)
    length = body_length(headers, MAX_JSON)
    raw = body.read(length) if length else b""
    if not raw.strip():
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(f"the body is not JSON ({str(exc).splitlines()[0]})") from None


def _object(data: Any, keys: Sequence[str], what: str) -> dict[str, Any]:
    """A JSON object with only ``keys`` (None: an empty one)."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ApiError(f"{what} is a JSON object with {', '.join(keys)}")
    extra = [k for k in data if k not in keys]
    if extra:
        raise ApiError(f"unknown key {extra[0]!r} in {what} (it takes {', '.join(keys)})")
    return data


def _arg(query: Mapping[str, list[str]], name: str) -> str:
    value = (query.get(name) or [""])[0]
    if not value:
        raise ApiError(f"give ?{name}=...")
    return value


def _studio(server: Server) -> Studio:
    if server.studio is None:
        raise ApiError("the studio is off: start live with --serve and --capture-dir DIR", 404)
    return server.studio


def _folder(server: Server) -> Path:
    if server.capture_dir is None:
        raise ApiError("capture is off (start live with --capture-dir DIR)", 404)
    return server.capture_dir


# -- regions ---------------------------------------------------------------------------------

def region_json(region: Region, size: tuple[int, int] | None) -> dict[str, Any]:
    """A region as the API shows it: its box in pixels of the frame when the frame is known."""
    try:
        box = list(region.box.pixels(*size)) if size else region.box.values()
    except EdgecamError:
        box = region.box.values()
    out: dict[str, Any] = {"name": region.name, "box": box}
    for key in ("model", "hold", "threshold"):
        if getattr(region, key) is not None:
            out[key] = getattr(region, key)
    return out


def parse_region(item: Any, size: tuple[int, int]) -> Region:
    """One region of a PUT: its name and its box, checked against the camera's frame."""
    entry = _object(item, REGION_KEYS, "a region")
    name = entry.get("name")
    if not isinstance(name, str):
        raise ApiError("each region needs a name (text)")
    check_name(name)
    values = entry.get("box")
    if not (isinstance(values, list) and len(values) == 4 and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in values)):
        raise ApiError(f"region {name!r}: box is [x, y, w, h], four numbers")
    try:
        box = Box.parse(",".join(repr(float(v)) for v in values))
        box.pixels(*size)
    except EdgecamError as exc:
        raise ApiError(f"region {name!r}: {exc}") from None
    model, hold, threshold = entry.get("model"), entry.get("hold"), entry.get("threshold")
    if model is not None and not isinstance(model, str):
        raise ApiError(f"region {name!r}: model is a file name")
    if hold is not None and not (isinstance(hold, int | float) and not isinstance(hold, bool)
                                 and hold >= 0):
        raise ApiError(f"region {name!r}: hold is 0 or more seconds")
    if threshold is not None and not isinstance(threshold, str | int | float):
        raise ApiError(f"region {name!r}: threshold is a number or --threshold's text")
    return Region(name, box, model, None if hold is None else float(hold),
                  None if threshold is None else str(threshold))


def get_regions(server: Server, camera: int, query: Mapping[str, list[str]], data: Any
                ) -> Reply:
    info = dict(_studio(server).regions(camera))
    size, _ = server.newest(camera)
    info["regions"] = [region_json(r, size) for r in info["regions"]]
    return answer({"camera": camera, "frame": list(size) if size else None, **info})


def put_regions(server: Server, camera: int, query: Mapping[str, list[str]], data: Any
                ) -> Reply:
    studio = _studio(server)
    items = _object(data, ("regions",), "the body").get("regions")
    if not isinstance(items, list) or len(items) > MAX_REGIONS:
        raise ApiError(f"regions is a list of at most {MAX_REGIONS} regions ([] watches the "
                       "whole frame)")
    size, _ = server.newest(camera)
    if size is None:
        raise Conflict("no frame yet: boxes are checked against the camera's frame")
    regions = check_regions(parse_region(item, size) for item in items)
    info = dict(studio.set_regions(camera, regions))
    info["regions"] = [region_json(r, size) for r in info["regions"]]
    return answer({"camera": camera, "frame": list(size), **info})


# -- the capture folder ------------------------------------------------------------------------

def post_capture(server: Server, camera: int, query: Mapping[str, list[str]], data: Any
                 ) -> Reply:
    folder = _folder(server)
    body = _object(data, ("label", "region"), "the body")
    label, region = body.get("label"), body.get("region")
    if not isinstance(label, str):
        raise ApiError("give the label: {\"label\": \"gate open\", \"region\": \"gate\"}")
    check_label(label)
    if region is not None and not isinstance(region, str):
        raise ApiError("region is a region's name")
    size, regions = server.newest(camera)
    if size is None:
        raise Conflict("no frame yet")
    if regions and region is None:
        raise ApiError("name the region to capture: " + ", ".join(repr(n) for n in regions))
    path = server.capture(label, camera, region)
    return answer({"saved": path.name, "label": path.parent.name, "region": region,
                   "count": len(label_pictures(path.parent)), "dir": str(folder)})


def get_dataset(server: Server, camera: int, query: Mapping[str, list[str]], data: Any
                ) -> Reply:
    return answer(listing(_folder(server)))


def get_picture(server: Server, camera: int, query: Mapping[str, list[str]], data: Any
                ) -> Reply:
    try:
        path = picture(_folder(server), _arg(query, "label"), _arg(query, "name"))
        return Reply(200, path.read_bytes(), "image/jpeg" if path.suffix.lower() in (
            ".jpg", ".jpeg") else "application/octet-stream")
    except NotFound as exc:
        raise ApiError(str(exc), 404) from None
    except OSError as exc:
        raise ApiError(f"cannot read it: {exc.strerror or exc}", 404) from None


def delete_picture(server: Server, camera: int, query: Mapping[str, list[str]], data: Any
                   ) -> Reply:
    label, name = _arg(query, "label"), _arg(query, "name")
    try:
        left = delete(_folder(server), label, name)
    except NotFound as exc:
        raise ApiError(str(exc), 404) from None
    return answer({"deleted": name, "label": label, "count": left})


# -- training ----------------------------------------------------------------------------------

def get_train(server: Server, camera: int, query: Mapping[str, list[str]], data: Any
              ) -> Reply:
    return answer(_studio(server).training())


def post_train(server: Server, camera: int, query: Mapping[str, list[str]], data: Any
               ) -> Reply:
    return answer(_studio(server).train(data), 202)


def cancel_train(server: Server, camera: int, query: Mapping[str, list[str]], data: Any
                 ) -> Reply:
    return answer(_studio(server).cancel())


ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/api/regions"): get_regions,
    ("PUT", "/api/regions"): put_regions,
    ("POST", "/api/capture"): post_capture,
    ("GET", "/api/dataset"): get_dataset,
    ("GET", "/api/picture"): get_picture,
    ("DELETE", "/api/picture"): delete_picture,
    ("GET", "/api/train"): get_train,
    ("POST", "/api/train"): post_train,
    ("POST", "/api/train/cancel"): cancel_train,
}
