"""Downloads against a real local HTTP server: caching, checksums, TOFU, offline, clean errors."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import socket
import threading
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="needs torch (the export extra)")


from edgecam.models import catalog
from edgecam.models.download import cache_name, default_cache_dir, fetch
from edgecam.util.errors import EdgecamError
from edgecam.util.progress import Progress

PAYLOAD = bytes(range(256)) * 1000  # 256 kB: several chunks


class Server:
    """A threaded http.server on a free 127.0.0.1 port serving ``root``, counting requests."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                if self.path == "/short.bin":  # promises more than it sends, then hangs up
                    self.send_response(200)
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    self.wfile.write(b"x" * 10)
                    self.close_connection = True
                    return
                super().do_GET()

            def log_message(self, *args: object) -> None:
                pass

        handler = functools.partial(Handler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def put(self, name: str, data: bytes) -> str:
        (self.root / name).write_bytes(data)
        return self.url(name)


@pytest.fixture()
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    srv = Server(root)
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("EDGECAM_OFFLINE", raising=False)
    return tmp_path / "xdg" / "edgecam"


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".edgecam-partial-" in p.name) \
        if folder.is_dir() else []


def test_download_then_cache_hit_without_request(server, cache, capsys):
    url = server.put("w-1.pth", PAYLOAD)
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    path = fetch(url, sha256=sha)
    assert path == cache / "w-1.pth" and path.read_bytes() == PAYLOAD
    assert default_cache_dir() == cache
    assert server.requests == ["/w-1.pth"]
    assert fetch(url, sha256=sha) == path
    assert server.requests == ["/w-1.pth"]  # the second call never touched the network
    assert capsys.readouterr().err == ""  # the bar draws only on a terminal
    assert leftovers(cache) == []


def test_sha256_mismatch_leaves_nothing(server, cache):
    url = server.put("w-2.pth", PAYLOAD)
    with pytest.raises(EdgecamError) as err:
        fetch(url, sha256="0" * 64)
    msg = str(err.value)
    assert msg.startswith(f"checksum mismatch for {url}: expected sha256 {'0' * 64}")
    assert hashlib.sha256(PAYLOAD).hexdigest() in msg and "\n" not in msg
    assert list(cache.iterdir()) == []


def test_prefix_check(server, tmp_path):
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    url = server.put(f"net-{sha[:8]}.pth", PAYLOAD)
    assert fetch(url, sha256_prefix=sha[:8].upper(), cache_dir=tmp_path / "c").is_file()
    with pytest.raises(EdgecamError, match="checksum mismatch.*expected sha256 deadbeef"):
        fetch(url, sha256_prefix="deadbeef", cache_dir=tmp_path / "d")
    assert list((tmp_path / "d").iterdir()) == []


def test_corrupt_cached_file_is_fetched_again(server, cache):
    url = server.put("w-3.pth", PAYLOAD)
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    cache.mkdir(parents=True)
    (cache / "w-3.pth").write_bytes(b"truncated")
    assert fetch(url, sha256=sha).read_bytes() == PAYLOAD
    assert server.requests == ["/w-3.pth"]


def test_trust_on_first_use_sidecar(server, cache):
    url = server.put("model.bin", PAYLOAD)
    path = fetch(url)
    sidecar = cache / "model.bin.sha256"
    assert sidecar.read_text().split()[0] == hashlib.sha256(PAYLOAD).hexdigest()
    assert fetch(url) == path and len(server.requests) == 1
    # the file changes on disk and upstream: the recorded digest catches it
    path.write_bytes(b"tampered")
    server.put("model.bin", b"a different release")
    with pytest.raises(EdgecamError, match=r"checksum mismatch .*recorded at first download"):
        fetch(url)
    assert not path.exists() and leftovers(cache) == []


def test_hand_placed_file_is_trusted_and_recorded(cache, monkeypatch):
    monkeypatch.setenv("EDGECAM_OFFLINE", "1")
    cache.mkdir(parents=True)
    (cache / "w.pth").write_bytes(PAYLOAD)
    assert fetch("https://example.invalid/w.pth") == cache / "w.pth"
    assert (cache / "w.pth.sha256").is_file()


def test_404_is_one_line_naming_url_and_weights(server, cache):
    url = server.url("missing-00000000.pth")
    with pytest.raises(EdgecamError) as err:
        fetch(url)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"cannot download {url} (HTTP 404")
    assert "--weights PATH" in msg and str(cache / "missing-00000000.pth") in msg
    assert leftovers(cache) == []


def test_unreachable_server(cache):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/w.pth"
    with pytest.raises(EdgecamError, match=r"^cannot download http://127\.0\.0\.1:\d+/w\.pth \("):
        fetch(url, timeout=5)
    assert leftovers(cache) == []


def test_short_body_is_an_error(server, cache):
    with pytest.raises(EdgecamError, match="cannot download .*short.bin"):
        fetch(server.url("short.bin"))
    assert list(cache.iterdir()) == []


def test_offline_forbids_network(server, cache, monkeypatch):
    url = server.put("w-4.pth", PAYLOAD)
    monkeypatch.setenv("EDGECAM_OFFLINE", "1")
    with pytest.raises(EdgecamError, match="EDGECAM_OFFLINE is set.*--weights PATH"):
        fetch(url)
    assert server.requests == []
    monkeypatch.setenv("EDGECAM_OFFLINE", "0")
    path = fetch(url)
    monkeypatch.setenv("EDGECAM_OFFLINE", "1")
    assert fetch(url) == path  # the cache still works offline


def test_interrupt_removes_temp_file(server, cache, monkeypatch):
    url = server.put("w-5.pth", PAYLOAD)

    def interrupt(self, n=1):
        raise KeyboardInterrupt

    monkeypatch.setattr(Progress, "update", interrupt)
    with pytest.raises(KeyboardInterrupt):
        fetch(url)
    assert list(cache.iterdir()) == []


def test_bad_url_and_cache_names():
    with pytest.raises(EdgecamError, match="not an http"):
        fetch("ftp://example.com/x.pth")
    with pytest.raises(EdgecamError, match="file name"):
        cache_name("https://example.com/")
    hf = "https://huggingface.co/timm/mobilenetv1_100.ra4/resolve/main/model.safetensors"
    assert cache_name(hf) == "mobilenetv1_100.ra4-model.safetensors"
    assert cache_name("https://x.org/models/a%20b-12.pth?x=1") == "a b-12.pth"


def test_imagenet_weights_through_the_download(server, cache, tmp_path, monkeypatch):
    from edgecam.models.zoo import create_model
    from edgecam.models.zoo.weights import load_imagenet

    torch.manual_seed(0)
    state = create_model("mobilenet_v2").state_dict()
    file = tmp_path / "w.pth"
    torch.save(state, file)
    data = file.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    url = server.put(f"mobilenet_v2-{sha[:8]}.pth", data)
    src = catalog.weight_source("mobilenet_v2", 1.0)
    monkeypatch.setitem(catalog.ARCHS["mobilenet_v2"].weights, 1.0,
                        dataclasses.replace(src, url=url, sha256_prefix=sha[:8]))
    model = create_model("mobilenet_v2")
    loaded = load_imagenet(model, "mobilenet_v2", 1.0)
    assert loaded.sha256 == sha and loaded.format == "edgecam"
    key = "classifier.weight"
    assert torch.equal(model.state_dict()[key], state[key])
    assert (cache / f"mobilenet_v2-{sha[:8]}.pth").is_file()
