"""ImageNet checkpoints on the Hugging Face Hub (timm's MobileNetV3/V4), fetched with
``huggingface_hub`` (the ``hub`` extra) into its own cache at the catalog's revision.

huggingface_hub does the HTTP work: its cache (``HF_HUB_CACHE``, else ``HF_HOME/hub``, shared
with timm and transformers), a download that resumes after a dropped connection, ``HF_ENDPOINT``
for a mirror. Here: read the environment at call time (so ``HF_ENDPOINT``/``HF_HOME`` set after
start-up count), check the file against the digest the Hub names it by, and turn every failure
into one line that says what to fetch and how. A file copied by hand is found in edgecam's
download cache under the name ``download.cache_name`` gives a Hub URL.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

from edgecam.models.catalog import WeightSource
from edgecam.models.download import default_cache_dir, env_flag, offline, sha256_of
from edgecam.util.errors import EdgecamError

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# huggingface_hub reads its settings once, when imported (only this module imports it). Without
# this it also asks the Hub for its "agent harness" registry to tag its user agent: edgecam
# fetches weights, nothing else (a user's own setting wins).
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def hub_offline() -> bool:
    """``EDGECAM_OFFLINE`` or huggingface_hub's own ``HF_HUB_OFFLINE``: the cache only."""
    return offline() or env_flag("HF_HUB_OFFLINE")


def hub_cache_dir() -> Path:
    """huggingface_hub's cache folder, by its rules: ``HF_HUB_CACHE``, else ``HF_HOME/hub``,
    else ``$XDG_CACHE_HOME/huggingface/hub`` (``~/.cache/huggingface/hub``)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "huggingface" / "hub"


def hand_copied(src: WeightSource) -> Path:
    """Where a file copied by hand is looked for: ``~/.cache/edgecam/<repo name>-<file>``."""
    assert src.hub_repo is not None  # only hub sources
    return default_cache_dir() / f"{src.hub_repo.rsplit('/', 1)[-1]}-{src.hub_file}"


def how_to_fetch(src: WeightSource) -> str:
    """The command that fetches the file where there is internet, and where it may go."""
    assert src.hub_repo is not None  # only hub sources
    return (f"hf download {src.hub_repo} {src.hub_file} --revision {src.revision or 'main'} "
            f"where there is internet, then copy ~/.cache/huggingface/hub here or the file to "
            f"{hand_copied(src)} (or pass --weights FILE to export)")


def cached(src: WeightSource) -> Path | None:
    """The file when it is already here (copied by hand, or in huggingface_hub's cache)."""
    if hand_copied(src).is_file():
        return hand_copied(src)
    if importlib.util.find_spec("huggingface_hub") is None:
        return None
    from huggingface_hub import try_to_load_from_cache

    assert src.hub_repo is not None  # only hub sources
    found = try_to_load_from_cache(src.hub_repo, src.hub_file, cache_dir=hub_cache_dir(),
                                   revision=src.revision)
    return Path(found) if isinstance(found, str) else None


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def fetch(src: WeightSource) -> Path:
    """The checkpoint's local file: copied by hand, cached, or downloaded now (resumed by
    huggingface_hub after a dropped connection); checked against the sha256 the Hub gives
    the file (its ETag) when there is one. A cached file is used without asking the Hub: the
    commit a branch resolved to at the first download stays the one used."""
    assert src.hub_repo is not None  # only hub sources
    what = f"ImageNet weights {src.hub_repo} ({src.hub_file}, revision {src.revision})"
    found = cached(src)
    if found is not None:
        return _checked(found, src, what)
    if importlib.util.find_spec("huggingface_hub") is None:
        raise EdgecamError(f"{what} come from the Hugging Face Hub: pip install 'edgecam[hub]', "
                           f"or run {how_to_fetch(src)}")
    from huggingface_hub import hf_hub_download

    quiet = hub_offline()
    try:
        path = hf_hub_download(
            src.hub_repo, src.hub_file, revision=src.revision, cache_dir=hub_cache_dir(),
            endpoint=os.environ.get("HF_ENDPOINT") or None, local_files_only=quiet)
    except Exception as exc:  # huggingface_hub raises a dozen types, all meaning "not here"
        why = "offline and not cached" if quiet else f"download failed, {_reason(exc)}"
        raise EdgecamError(f"{what}: {why}; run {how_to_fetch(src)}") from None
    return _checked(Path(str(path)), src, what)


def _checked(path: Path, src: WeightSource, what: str) -> Path:
    """``path`` when its content has the sha256 its blob is named by (huggingface_hub names
    an LFS file's blob by the Hub's ETag, its sha256); a file copied by hand is taken as is."""
    etag = path.resolve().name
    if _SHA256.match(etag) and sha256_of(path) != etag:
        raise EdgecamError(f"{what}: the cached file {path.resolve()} does not match its sha256 "
                           f"{etag[:12]}...; delete it and run again, or run {how_to_fetch(src)}")
    return path
