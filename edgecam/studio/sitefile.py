"""Regions written back into the site file (``--config``), everything else kept as the user
wrote it (comments, order, other cameras, the outputs). Camera ``N`` of the run is the file's
``N``-th ``[[camera]]`` table; its regions are its ``[[camera.region]]`` entries (``name``,
``box = [x, y, w, h]``, optional ``model``, ``hold``, ``threshold``). A region that keeps its
name keeps its other keys; only its box changes. tomlkit edits the document in place, which is
what keeps the comments (the standard library only reads TOML)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgecam.pipeline.regions import Region
from edgecam.util.errors import EdgecamError
from edgecam.util.safewrite import write_whole


def write_regions(path: str | Path, camera: int, regions: Sequence[Region]) -> Path:
    """Camera ``camera``'s regions in the site file at ``path`` become ``regions`` (none: the
    camera watches the whole frame); the file is replaced whole or not at all."""
    import tomlkit
    from tomlkit.exceptions import TOMLKitError
    from tomlkit.items import AoT, Table

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise EdgecamError(f"cannot read the site file {path}: {why}") from None
    try:
        doc = tomlkit.parse(text)
    except TOMLKitError as exc:
        raise EdgecamError(f"the site file {path} is not TOML any more ({exc})") from None
    cameras = doc.get("camera")
    if not isinstance(cameras, AoT) or not 0 <= camera < len(cameras):
        raise EdgecamError(f"the site file {path} has no [[camera]] table number {camera + 1} "
                           f"to keep camera {camera}'s regions in")
    table = cameras[camera]
    before: dict[str, Table] = {}
    entries: Any = table.get("region")
    if isinstance(entries, AoT):
        before = {str(t.get("name")): t for t in entries}
    if "region" in table:
        del table["region"]
    if regions:
        out = tomlkit.aot()
        for region in regions:
            entry = before.get(region.name)
            fresh = entry is None
            if entry is None:
                entry = tomlkit.table()
            entry["name"] = region.name
            entry["box"] = region.box.values()
            if fresh:
                entry.add(tomlkit.nl())  # a blank line before the next table, as people write
            out.append(entry)
        table.append("region", out)
    return write_whole(path, tomlkit.dumps(doc))
