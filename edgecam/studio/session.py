"""The studio of one ``live`` run: what the preview page's JSON API drives
(``edgecam.sinks.preview_api.Studio`` is the shape it expects). It edits each camera's regions
(applied between frames by its ``ModelSwitch``, kept in the site file or as a ``--region``
line), and runs the train button's job, whose chosen model it loads and hands to the switch.

    studio = Studio(Path("yard"), load=spec.engine, threads=2, given=[()])
    run = Run(spec, outputs, controller=studio.switch)   # and SinkOptions(studio=studio)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from edgecam.pipeline.model import Controller
from edgecam.pipeline.regions import Region
from edgecam.runtime.engine import Engine
from edgecam.studio.job import TrainJob, TrainRequest
from edgecam.studio.layout import keep, merged, region_line
from edgecam.studio.switch import ModelSwitch
from edgecam.util.errors import EdgecamError

log = logging.getLogger(__name__)

SWITCH_WAIT_S = 10.0  # how long the job waits to see the cameras run the new model


def work_dir(capture_dir: Path) -> Path:
    """Where the train button's jobs go: beside the capture folder (``yard`` ->
    ``yard-training``), never inside it, where its files would become pictures of a class."""
    resolved = capture_dir.resolve()
    return resolved.parent / f"{resolved.name}-training"


class Studio:
    """``load(file)`` opens a model file as the run opens its own (threads, provider);
    ``given`` are each camera's regions as the run started; ``site_file`` is the site file the
    run was read from (``--config``), where edited regions are written back."""

    def __init__(self, capture_dir: str | Path, *, load: Callable[[str], Engine],
                 threads: int, given: Sequence[Sequence[Region]] = ((),),
                 site_file: str | Path | None = None, inner: Controller | None = None
                 ) -> None:
        self.capture_dir = Path(capture_dir)
        self.load = load
        self.given = [tuple(r) for r in given] or [()]
        self.site_file = Path(site_file) if site_file is not None else None
        self.switch = ModelSwitch(inner)
        self.job = TrainJob(self.capture_dir, work_dir(self.capture_dir), threads,
                            adopt=self._adopt, fps=self.switch.fps)

    # -- regions -------------------------------------------------------------------------------

    def current(self, camera: int) -> tuple[Region, ...]:
        """The regions camera ``camera`` watches (or is about to, after an edit)."""
        wanted = self.switch.wanted_regions(camera)
        if wanted is not None:
            return wanted
        running = self.switch.running(camera)
        if running is not None:
            return running.regions
        return self.given[camera] if camera < len(self.given) else self.given[0]

    def regions(self, camera: int) -> dict[str, Any]:
        """What ``GET /api/regions`` says besides the boxes: the regions, and how a later
        start gets them."""
        regions = self.current(camera)
        return {"regions": list(regions), "site_file": _shown(self.site_file),
                "keep": region_line(regions)}

    def set_regions(self, camera: int, regions: Sequence[Region]) -> dict[str, Any]:
        """Camera ``camera`` watches ``regions`` from its next frame (their boxes checked
        against its frame by the caller), kept in the site file or as a ``--region`` line."""
        new = merged(self.current(camera), regions)
        self.switch.set_regions(camera, new)
        log.info("camera %d watches %s", camera,
                 ", ".join(r.describe() for r in new) if new else "the whole frame")
        return {"regions": list(new), **keep(new, camera, self.site_file)}

    # -- training ------------------------------------------------------------------------------

    def training(self) -> dict[str, Any]:
        """``GET /api/train``: the job's state, and the model that runs now."""
        status = self.job.status()
        running = self.switch.running(0)
        status["model"] = running.name if running is not None else None
        if self.switch.failed:
            status["switch_failed"] = self.switch.failed
        return status

    def train(self, body: Any) -> dict[str, Any]:
        """``POST /api/train``: start the job (Busy while one runs; EdgecamError when the
        request or the captures cannot make a training)."""
        return self.job.start(TrainRequest.from_json(body))

    def cancel(self) -> dict[str, Any]:
        return self.job.cancel()

    def close(self) -> None:
        self.job.close()

    def _adopt(self, path: Path) -> str:
        """The chosen model, loaded here (not on a camera's thread) and switched to; the old
        one keeps running when it cannot load or cannot run with the run's settings."""
        engine = self.load(str(path))
        self.switch.set_engine(engine)
        if not self.switch.wait_for(engine, SWITCH_WAIT_S):
            if self.switch.failed:
                raise EdgecamError(f"cannot switch to {path.name}: {self.switch.failed}")
            log.info("%s runs from each camera's next frame", engine.meta.name)
        log.info("switched to %s (%s)", engine.meta.name, path)
        return engine.meta.name

    def __enter__(self) -> Studio:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _shown(path: Path | None) -> str | None:
    return str(path) if path is not None else None
