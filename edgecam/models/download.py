"""Download published weight files once into the user cache, checked by sha256.

A file is written to a temporary name beside its final place and renamed only once it is
complete and its digest checks, so an interrupted or corrupt download never poisons the cache.
Files without a published digest are trusted on first use: their digest is kept in a
``<file>.sha256`` sidecar and every later read is checked against it. ``EDGECAM_OFFLINE=1``
forbids the network (the cache still works), and every failure says where to put the file by
hand, since edge devices are often offline. A download says what it fetches and from where
before it starts, and a host name that does not resolve in a few seconds (no network, no DNS)
fails then instead of after the resolver's own minutes.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import socket
import threading
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlparse

from edgecam.util.atomic import Staged, write_whole
from edgecam.util.errors import CannotWrite, EdgecamError
from edgecam.util.progress import Progress

log = logging.getLogger(__name__)

CHUNK = 1 << 16
_SCHEMES = ("http", "https", "file")
RESOLVE_TIMEOUT = 8.0  # seconds a host name may take to resolve (an offline resolver hangs)


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/edgecam`` (``~/.cache/edgecam``): the XDG place users expect to clean."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edgecam"


def offline() -> bool:
    """True when ``EDGECAM_OFFLINE`` is set to anything but an explicit no."""
    return env_flag("EDGECAM_OFFLINE")


def env_flag(name: str) -> bool:
    """An environment switch: on when set to anything but empty or an explicit no."""
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def cache_name(url: str) -> str:
    """The URL's file name; a Hugging Face ``<repo>/resolve/<rev>/<file>`` URL gets its repo
    name in front, since every such repo calls its file ``model.safetensors``."""
    parts = [unquote(p) for p in urlparse(url).path.split("/") if p]
    name = Path(parts[-1]).name if parts else ""
    if name in ("", ".", ".."):
        raise EdgecamError(f"cannot tell a file name from the URL {url}")
    if "resolve" in parts[:-1]:
        i = parts.index("resolve")
        if i >= 1:
            name = f"{Path(parts[i - 1]).name}-{name}"
    return name


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _read_sidecar(path: Path) -> str | None:
    try:
        text = _sidecar(path).read_text().split()
    except OSError:
        return None
    return text[0].lower() if text else None


def _write_sidecar(path: Path, digest: str) -> None:
    write_whole(_sidecar(path), f"{digest}  {path.name}\n")


def _mismatch(digest: str, sha256: str | None, prefix: str | None) -> str | None:
    """The expected value when ``digest`` does not match it, else None."""
    if sha256 and digest != sha256:
        return sha256
    if prefix and not digest.startswith(prefix):
        return f"{prefix}..."
    return None


def _how_to_supply(url: str, reason: str, dest: Path) -> EdgecamError:
    return EdgecamError(
        f"cannot download {url} ({reason}); download it elsewhere and pass --weights PATH, "
        f"or place it at {dest}"
    )


def _reason(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}".strip()
    if isinstance(exc, urllib.error.URLError):
        if not isinstance(exc.reason, BaseException):
            return str(exc.reason)
        exc = exc.reason
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s"
    text = str(getattr(exc, "strerror", None) or exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _unresolved(url: str, timeout: float) -> str | None:
    """Why ``url``'s host does not resolve within ``timeout`` seconds, else None. The lookup
    runs in a thread, since the resolver itself cannot be given a deadline."""
    parts = urlparse(url)
    if parts.scheme == "file" or not parts.hostname:
        return None
    host = parts.hostname
    failed: list[OSError] = []

    def lookup() -> None:
        try:
            socket.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
        except OSError as exc:
            failed.append(exc)

    thread = threading.Thread(target=lookup, name="edgecam-resolve", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return f"{host} did not resolve within {timeout:g} s: no network or DNS here?"
    if failed:
        why = failed[0].strerror if isinstance(failed[0], socket.gaierror) else failed[0]
        return f"cannot resolve {host}: {why}"
    return None


def _download(url: str, staged: Staged, progress: bool, timeout: float) -> str:
    """Stream ``url`` into ``staged`` (created here); return its sha256."""
    request = urllib.request.Request(url, headers={"User-Agent": "edgecam"})
    dest = staged.final
    try:
        staged.create()
    except CannotWrite as exc:
        raise EdgecamError(
            f"cannot write to the download cache {dest.parent} ({exc.reason}); "
            "set XDG_CACHE_HOME to a writable directory"
        ) from None
    digest = hashlib.sha256()
    done, total = 0, None
    with staged.file("wb") as out:
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                length = resp.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                with Progress(total, "B", desc=dest.name, scale=1 / 2**20, scale_unit="MiB",
                              enabled=None if progress else False) as bar:
                    while chunk := resp.read(CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        done += len(chunk)
                        bar.update(len(chunk))
        except (OSError, ValueError, http.client.HTTPException) as exc:
            raise _how_to_supply(url, _reason(exc, timeout), dest) from None
    if total is not None and done != total:
        raise _how_to_supply(url, f"got {done} of {total} bytes", dest)
    return digest.hexdigest()


def fetch(url: str, *, sha256: str | None = None, sha256_prefix: str | None = None,
          cache_dir: Path | str | None = None, progress: bool = True,
          timeout: float = 30.0, what: str | None = None) -> Path:
    """The local copy of ``url`` in the cache, downloaded once and verified on every call.

    ``sha256`` is the full published digest, ``sha256_prefix`` the torch.hub style prefix from
    the file name; with neither, the digest of the first download is recorded and enforced.
    ``what`` names the file in the line said before a download (default: its name).
    """
    if not url or urlparse(url).scheme.lower() not in _SCHEMES:
        raise EdgecamError(f"cannot download {url!r}: not an http(s) URL")
    sha256 = sha256.lower() if sha256 else None
    sha256_prefix = sha256_prefix.lower() if sha256_prefix else None
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    dest = folder / cache_name(url)
    recorded = None if (sha256 or sha256_prefix) else _read_sidecar(dest)

    if dest.is_file():
        digest = sha256_of(dest)
        if _mismatch(digest, sha256 or recorded, sha256_prefix) is None:
            if not (sha256 or sha256_prefix or recorded):
                _write_sidecar(dest, digest)  # placed by hand: trust it from now on
            return dest
        dest.unlink(missing_ok=True)  # corrupt or replaced: fetch a good copy
        stale = "; the cached copy failed its checksum and was removed"
    else:
        stale = ""
    if offline():
        raise _how_to_supply(url, f"EDGECAM_OFFLINE is set{stale}", dest)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EdgecamError(
            f"cannot create the download cache {folder} ({_reason(exc, timeout)}); "
            "set XDG_CACHE_HOME to a writable directory"
        ) from None

    log.info("downloading %s from %s", what or dest.name, url)
    unresolved = _unresolved(url, min(timeout, RESOLVE_TIMEOUT))
    if unresolved:
        raise _how_to_supply(url, unresolved, dest)
    staged = Staged(dest)
    try:  # including KeyboardInterrupt: never leave a partial file behind
        digest = _download(url, staged, progress, timeout)
        expected = _mismatch(digest, sha256 or recorded, sha256_prefix)
        if expected is not None:
            where = f" (recorded at first download in {_sidecar(dest)})" if recorded else ""
            raise EdgecamError(
                f"checksum mismatch for {url}: expected sha256 {expected}{where}, got {digest}"
            )
    except BaseException:
        staged.discard()
        raise
    staged.commit()
    if not (sha256 or sha256_prefix or recorded):
        _write_sidecar(dest, digest)
    return dest
