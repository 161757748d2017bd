"""What each run command takes, built by keyword; each default lives here once (the CLI's
option defaults read them) and each value is checked and defaulted here once, when the options
are made, so the code below takes them as given. A change (a profile's model and threads) makes
a new options object (``dataclasses.replace``), checked again. Light on purpose: the CLI imports
it before anything heavy. ``tune``, ``train`` and ``capture`` follow the same discipline in
``edgecam.tune.request``, ``edgecam.train.settings`` and ``edgecam.commands.capture``.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgecam.pipeline.regions import Region, check_regions, parse_region
from edgecam.runtime.unknown import ThresholdLike, Thresholds
from edgecam.util.device import check_threads
from edgecam.util.errors import EdgecamError

log = logging.getLogger("edgecam")


# Bounds of the counts that size a file run's memory and threads: 32 frames per call already
# hold about 20 MB per tensor at 224 px, and a run keeps several tensors in flight per worker
# (``--batch 20000`` took 1 GB on a tiny model); a Pi has 4 cores, a large server 64-128.
MAX_BATCH = 32
MAX_PARALLEL = 64  # --jobs, --workers
MAX_CHUNK = 100_000  # --chunk: frames per cluster task
CLUSTER_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")


def at_least_one(flag: str, value: int | None) -> None:
    """A count the user gave must be 1 or more (None: the default applies)."""
    if value is not None and value < 1:
        raise EdgecamError(f"{flag} must be >= 1, got {value}")


def within(flag: str, value: int | None, most: int) -> None:
    """A count the user gave must be 1 to ``most`` (None: the default applies)."""
    at_least_one(flag, value)
    if value is not None and value > most:
        raise EdgecamError(f"{flag} must be at most {most}, got {value}")


def regions_of(texts: list[str] | tuple[Region, ...]) -> tuple[Region, ...]:
    """``--region`` as given (texts, or regions a site file made) as checked regions."""
    return check_regions(t if isinstance(t, Region) else parse_region(t) for t in texts)


def check_hold(hold: float) -> float:
    if not (math.isfinite(hold) and hold >= 0):
        raise EdgecamError(f"--hold must be 0 or more seconds, got {hold:g}")
    return hold


def check_events(events: str | None, keep: int) -> None:
    if keep < 1:
        raise EdgecamError(f"--events-keep must be at least 1, got {keep}")
    if events is not None and not events.strip():
        raise EdgecamError("--events takes a folder, got an empty name")


def cluster_address(text: str | None) -> str | None:
    """``--cluster`` as ``SCHEME://HOST:PORT`` (a bare ``HOST:PORT`` is tcp://), refused in one
    line when it cannot name a Dask scheduler (Dask itself answers ``banana`` with a traceback
    and a 20 s hang)."""
    if text is None:
        return None
    address = text.strip()
    if "://" not in address:
        address = f"tcp://{address}"
    m = re.fullmatch(r"([a-z]+)://(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})/?", address)
    if m is None or m.group(1) not in CLUSTER_SCHEMES or not 0 < int(m.group(3)) < 65536:
        raise EdgecamError(f"--cluster takes a Dask scheduler address, tcp://HOST:PORT "
                           f"(e.g. tcp://scheduler.lan:8786), got {text!r}")
    return f"{m.group(1)}://{m.group(2)}:{int(m.group(3))}"


@dataclass(kw_only=True)
class ClassifyOptions:
    inputs: list[str] = field(default_factory=list)
    model: str | None = None
    output: str | None = None
    json_out: str | None = None
    sinks: list[str] = field(default_factory=list)  # --sink URIs
    top_k: int = 5
    # --threshold (texts as given; a Thresholds once made): None answers "unknown" by the
    # model's own rule, if it has one
    threshold: ThresholdLike = None
    # onnxruntime threads of this machine (None: one per usable CPU, filled in when made); with
    # --cluster, None stays None: each worker uses its own CPUs
    threads: int | None = None
    mqtt: str | None = None
    progress: bool | None = None  # None: on a terminal
    jobs: int | None = None  # files in parallel (None: one per core when several videos)
    batch: int | None = None  # frames per inference call (None: edgecam.runtime.batchsize)
    workers: int | None = None  # inferences at once per file (None: one per thread)
    cluster: str | None = None  # a Dask scheduler address: classify there (edgecam.cluster)
    chunk: int | None = None  # frames per cluster task (None: edgecam.cluster's default)
    provider: str | None = None  # --provider (None: auto)
    max_megapixels: float | None = None  # pictures above are refused (None: the default)
    # --region texts (NAME=X,Y,W,H[:MODEL]; Regions once made): classify these places of
    # every frame instead of the whole frame
    regions: tuple[Region, ...] | list = ()
    hold: float = 1.0  # seconds a new label must last before a region's state changes
    events: str | None = None  # folder for events.jsonl and snapshots of state changes
    events_keep: int = 1000  # snapshots kept in it (the oldest go first)
    labels: str | None = None  # labels of a model without edgecam metadata (models.foreign)

    def __post_init__(self) -> None:
        if self.max_megapixels is not None and not (
                math.isfinite(self.max_megapixels) and self.max_megapixels > 0):
            raise EdgecamError(f"--max-megapixels must be a number above 0, got "
                               f"{self.max_megapixels:g}")
        within("--jobs", self.jobs, MAX_PARALLEL)
        within("--workers", self.workers, MAX_PARALLEL)
        within("--batch", self.batch, MAX_BATCH)
        within("--chunk", self.chunk, MAX_CHUNK)
        self.cluster = cluster_address(self.cluster)
        self.regions = regions_of(self.regions)
        self.hold = check_hold(self.hold)
        check_events(self.events, self.events_keep)
        if self.cluster is not None:
            self._check_cluster()
        given = self.threads
        self.threads = check_threads(given)
        if self.cluster is not None:
            self.threads = given
        self.threshold = Thresholds.parse(self.threshold)

    def _check_cluster(self) -> None:
        """What a run on a Dask cluster cannot do."""
        if self.regions or self.events:
            raise EdgecamError("--region and --events run here only; give them without "
                               "--cluster")
        if self.mqtt:  # results arrive in bulk
            raise EdgecamError("--mqtt is not available with --cluster (results arrive in "
                               "bulk); use --json-out")
        if self.labels:
            raise EdgecamError("--labels is not available with --cluster (the workers read the "
                               "model's own metadata): add it to the file, as "
                               "docs/foreign-models.md shows")

    @property
    def max_pixels(self) -> int | None:
        return round(self.max_megapixels * 1e6) if self.max_megapixels is not None else None


@dataclass(kw_only=True)
class LiveOptions:
    source: str = "0"
    sources: list[str] = field(default_factory=list)  # several cameras (replaces ``source``)
    batch_cameras: bool = True  # infer the frames several cameras have ready in one call
    model: str | None = None
    # a tuned profile ('auto', a name or a file): its model, threads and provider unless given;
    # ``edgecam.commands.live.use_profile`` turns it into new options with the adapter
    profile: str | None = None
    headless: bool = False
    serve: str | None = None
    serve_token: str | None = None
    serve_token_file: str | None = None  # the token read from a file (kept out of `ps`)
    serve_names: list[str] = field(default_factory=list)  # more Host names for the preview
    capture_dir: str | None = None  # the preview's capture button saves DIR/LABEL/*.jpg
    config: str | None = None  # the site file the run was read from: edited regions go back
    output: str | None = None
    json_out: str | None = None
    sinks: list[str] = field(default_factory=list)  # --sink URIs
    max_frames: int | None = None
    threads: int | None = None  # None: the profile's, else one per usable CPU
    top_k: int = 3
    threshold: ThresholdLike = None  # as ClassifyOptions.threshold
    smoothing: float = 0.6
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    fast: bool = False  # a video file as fast as the model goes (default: at its own rate)
    loop: bool = False  # a video file again and again
    mqtt: str | None = None
    provider: str | None = None  # --provider (None: auto)
    regions: tuple[Region, ...] | list = ()  # as ClassifyOptions.regions
    # regions of each camera by its place in ``sources`` (a site file's cameras); a camera
    # not given here watches ``regions``
    camera_regions: list[tuple[Region, ...] | None] = field(default_factory=list)
    hold: float = 1.0
    events: str | None = None
    events_keep: int = 1000
    labels: str | None = None  # labels of a model without edgecam metadata (models.foreign)
    camera_names: list[str] = field(default_factory=list)  # --camera-name, one per source
    ha: bool = True  # with --mqtt: Home Assistant's discovery (--no-ha: none)
    ha_prefix: str = "homeassistant"
    # the pipeline's controller hook (edgecam.pipeline.loop.Controller): ``--profile auto``
    # installs its adapter here
    controller: Any = None
    notes: list[str] = field(default_factory=list)  # status lines shown from the start
    echo: Callable[[str], None] = log.info  # where printed predictions go (the CLI: stdout)

    @classmethod
    def of_flags(cls, a: Any, echo: Callable[[str], None]) -> LiveOptions:
        """The options from ``live``'s flags by name (``a``: the command line over a site
        file's values), the preview's token from $EDGECAM_SERVE_TOKEN when no flag gives it."""
        sources = list(a.source or [cls.source])
        token = a.serve_token or (None if a.serve_token_file
                                  else os.environ.get("EDGECAM_SERVE_TOKEN"))
        return cls(source=sources[0], sources=sources, batch_cameras=a.batch_cameras,
                   model=a.model, profile=a.profile, headless=a.headless, serve=a.serve,
                   serve_token=token, serve_token_file=a.serve_token_file,
                   serve_names=list(a.serve_name or []), capture_dir=a.capture_dir,
                   output=a.output, json_out=a.json_out, sinks=list(a.sink or []),
                   max_frames=a.max_frames, threads=a.threads, top_k=a.top_k,
                   threshold=a.threshold, smoothing=a.smoothing, width=a.width,
                   height=a.height, fps=a.fps, fast=a.fast, loop=a.loop, mqtt=a.mqtt,
                   provider=a.provider, regions=list(a.region or []),
                   camera_regions=a.camera_regions, hold=a.hold, events=a.events,
                   events_keep=a.events_keep, labels=a.labels,
                   camera_names=list(a.camera_name or []), ha=a.ha, ha_prefix=a.ha_prefix,
                   config=a.config, echo=echo)

    def __post_init__(self) -> None:
        at_least_one("--max-frames", self.max_frames)
        if self.profile is not None and self.model is not None:
            raise EdgecamError("--model and --profile both choose the model; give only one")
        if self.profile is None or self.threads is not None:
            self.threads = check_threads(self.threads)
        self.threshold = Thresholds.parse(self.threshold)
        self.regions = regions_of(self.regions)
        self.camera_regions = [None if r is None else regions_of(r) for r in self.camera_regions]
        self.hold = check_hold(self.hold)
        check_events(self.events, self.events_keep)
        if self.serve_token_file is not None:
            if self.serve_token:
                raise EdgecamError("--serve-token and --serve-token-file both give the token; "
                                   "give one")
            self.serve_token = read_token(self.serve_token_file)
            self.serve_token_file = None  # read once: a replaced copy keeps the token
        self.sources = self.sources or [self.source]  # the cameras, in order
        self.camera_names = check_camera_names(self.camera_names, len(self.sources))
        from edgecam.sinks.mqtt import check_topic_prefix  # light: no paho until publishing

        self.ha_prefix = check_topic_prefix(self.ha_prefix, "--ha-prefix")


def check_camera_names(names: list[str], sources: int) -> list[str]:
    """``--camera-name``: at most one per source, none empty, no two alike in topics."""
    from edgecam.sinks.mqtt import slug

    if len(names) > sources:
        raise EdgecamError(f"{len(names)} --camera-name for {sources} --source; give one "
                           "name per source, in order")
    seen: dict[str, str] = {}
    for name in names:
        key = slug(name.strip())
        if not re.search(r"[A-Za-z0-9]", name):
            raise EdgecamError(f"--camera-name {name!r} has no letter or digit to name "
                               "topics with")
        if key in seen:
            raise EdgecamError(f"--camera-name {seen[key]!r} and {name!r} name the same "
                               f"topics ({key}); give cameras distinct names")
        seen[key] = name
    return [n.strip() for n in names]


def read_token(path: str) -> str:
    """The preview's token from a file (its first line), so it never shows in `ps`."""
    try:
        with open(path, encoding="utf-8") as f:
            token = f.readline().strip()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror.lower() if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise EdgecamError(f"cannot read --serve-token-file {path}: {why}") from None
    if not token:
        raise EdgecamError(f"--serve-token-file {path} is empty")
    return token


@dataclass(kw_only=True)
class BenchOptions:
    model: str | None = None
    source: str | None = None
    frames: int = 300
    warmup: int = 20
    threads: int | None = None
    overlay: bool = True
    prefetch: int = 3
    progress: bool | None = None
    provider: str | None = None  # --provider (None: auto)
    labels: str | None = None  # labels of a model without edgecam metadata (models.foreign)

    def __post_init__(self) -> None:
        at_least_one("--frames", self.frames)
        self.threads = check_threads(self.threads)


@dataclass(kw_only=True)
class ExportOptions:
    """What ``export`` takes; the resolution defaults to the architecture's native size."""

    arch: str
    alpha: float = 1.0
    resolution: int | None = None
    weights: str = "imagenet"  # imagenet, random, or a state dict's path
    output: Path | None = None  # default: the model store's NAME.onnx
    seed: int = 0  # of --weights random

    def __post_init__(self) -> None:
        from edgecam.models.catalog import arch_info, check_alpha_resolution

        info = arch_info(self.arch)
        if self.resolution is None:
            self.resolution = info.resolution
        check_alpha_resolution(self.alpha, self.resolution)


@dataclass(kw_only=True)
class QuantizeOptions:
    """What ``quantize`` takes."""

    model: str
    calibration: Path
    output: Path | None = None  # default: beside the input, NAME-int8.onnx
    method: str = "minmax"
    fp32_ends: bool = False  # the first conv and the classifier kept in FP32
    threads: int | None = None

    def __post_init__(self) -> None:
        from edgecam.runtime.quantize import check_method

        check_method(self.method)
        self.threads = check_threads(self.threads)


@dataclass(kw_only=True)
class DemoOptions:
    """What ``demo`` takes."""

    photos: Path | None = None  # default: calibration/images here or in the clone
    out: Path = Path("out")
    model: str | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        self.threads = check_threads(self.threads)
