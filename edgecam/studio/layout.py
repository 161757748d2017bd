"""The regions a camera watches, as the browser edits them: merged with what the run was given,
and kept for the next start, written back to the site file (``--config``) when the run has
one, else as the ``--region`` options to keep."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from edgecam.pipeline.regions import Region, check_regions
from edgecam.util.errors import EdgecamError

KEPT = ("model", "hold", "threshold")  # set in the site file or on the command line


def merged(old: Sequence[Region], new: Sequence[Region]) -> tuple[Region, ...]:
    """The browser edits names and boxes; a region's model, hold time and threshold stay those
    of the region of the same name (given again, as ``GET /api/regions`` shows them, they must
    be the same: loading another model file is not the browser's to ask)."""
    before = {r.name: r for r in old}
    out = []
    for region in new:
        prev = before.get(region.name)
        for key in KEPT:
            given, value = getattr(region, key), getattr(prev, key, None)
            if given is not None and str(given) != str(value):
                raise EdgecamError(f"region {region.name!r}: its {key} is set in the site file "
                                   "or with --region, not from the browser")
        out.append(replace(region, model=getattr(prev, "model", None),
                           hold=getattr(prev, "hold", None),
                           threshold=getattr(prev, "threshold", None)))
    return check_regions(out)


def region_line(regions: Sequence[Region]) -> str:
    """The ``--region`` options that give a later ``live`` these regions (empty: the whole
    frame)."""
    return " ".join(f"--region {shlex.quote(r.describe())}" for r in regions)


def keep(regions: Sequence[Region], camera: int, site_file: Path | None) -> dict:
    """Where the regions were kept: ``{"site_file": path}`` once written back, else
    ``{"keep": "--region ..."}`` (with ``"not_saved"``, the reason, when the site file could
    not take them)."""
    if site_file is not None:
        from edgecam.studio.sitefile import write_regions

        try:
            write_regions(site_file, camera, regions)
            return {"site_file": str(site_file)}
        except EdgecamError as exc:
            return {"keep": region_line(regions), "not_saved": str(exc)}
    return {"keep": region_line(regions)}
