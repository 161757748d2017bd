"""A Hugging Face Hub stand-in on 127.0.0.1 serving files a test made, for huggingface_hub's
``hf_hub_download`` (pointed at it with ``HF_ENDPOINT``).

``hf_hub_download`` asks ``HEAD /{repo}/resolve/{revision}/{file}`` for the file's metadata and
needs ``X-Repo-Commit`` (the commit the revision resolves to), an ``ETag`` (the Hub gives an LFS
file's sha256; the cache names the blob by it) and ``Content-Length``; then it ``GET``s the
same path, with ``Range: bytes=N-`` when it resumes after a dropped connection. Every request
is recorded, so a test can tell what reached the server.
"""

from __future__ import annotations

import hashlib
import http.server
import re
import threading
from dataclasses import dataclass, field

COMMIT = "0123456789abcdef0123456789abcdef01234567"
_PATH = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")


@dataclass
class Request:
    method: str
    path: str
    range: str | None


@dataclass
class HubServer:
    files: dict[tuple[str, str], bytes] = field(default_factory=dict)  # (repo, file) -> data
    requests: list[Request] = field(default_factory=list)
    drop_once: set[str] = field(default_factory=set)  # paths whose first GET stops halfway

    def __post_init__(self) -> None:
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self, body: bool) -> None:
                hub.requests.append(Request(self.command, self.path, self.headers.get("Range")))
                m = _PATH.match(self.path.split("?")[0])
                data = hub.files.get((m["repo"], m["file"])) if m else None
                if m is None or data is None or m["rev"] not in ("main", COMMIT):
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start = 0
                ranged = re.match(r"bytes=(\d+)-$", self.headers.get("Range") or "")
                if ranged and body:
                    start = int(ranged[1])
                self.send_response(206 if start else 200)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(len(data) - start))
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                if not body:
                    return
                if self.path in hub.drop_once and not start:
                    hub.drop_once.discard(self.path)
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(data[start:])

            def do_HEAD(self) -> None:
                self._serve(body=False)

            def do_GET(self) -> None:
                self._serve(body=True)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def path(self, repo: str, file: str, revision: str = "main") -> str:
        return f"/{repo}/resolve/{revision}/{file}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
