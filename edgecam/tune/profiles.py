"""Per-device profiles: what ``edgecam tune`` measured and chose, keyed by a fingerprint of the
device (CPU model, cores, onnxruntime version), so ``live --profile auto`` runs a config that was
measured on this very machine and software, not on a similar one; and by the set of candidates
tune chose among (``imagenet`` for the zoo, ``gate`` for ``--models 'models/gate-*.onnx'``), so
tuning the ImageNet models never replaces the profile of your own classes."""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

from edgecam.models.catalog import ModelConfig, parse_model_name
from edgecam.util.device import cpu_model, default_threads
from edgecam.util.errors import EdgecamError
from edgecam.util.paths import working_dir
from edgecam.util.safewrite import write_whole

if TYPE_CHECKING:
    from edgecam.tune.search import TuneResult
    from edgecam.tune.space import Candidate

FORMAT = "edgecam-profile-1"

log = logging.getLogger(__name__)


def device_info() -> dict:
    """The fingerprint a profile is filed under."""
    import onnxruntime

    return {"cpu": cpu_model(), "cores": default_threads(), "machine": platform.machine(),
            "onnxruntime": onnxruntime.__version__}


def device_slug(device: dict | None = None) -> str:
    """``amd-epyc-2c-x86_64-ort1.32.0``: a file name for the fingerprint."""
    d = device or device_info()
    cpu = re.sub(r"[^a-z0-9]+", "-", d["cpu"].lower()).strip("-") or "cpu"
    return f"{cpu[:60]}-{d['cores']}c-{d['machine'] or 'cpu'}-ort{d['onnxruntime']}"


def profiles_dir() -> Path:
    """``$EDGECAM_PROFILES``, else ``calibration/profiles`` here when it exists, else the
    clone's, else ``./calibration/profiles``."""
    return working_dir("calibration/profiles", "EDGECAM_PROFILES")


def profile_path(device: dict | None = None, name: str = "imagenet") -> Path:
    return profiles_dir() / f"{device_slug(device)}--{slug(name)}.json"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "profile"


def set_name(models: str | None, weights: str, families: list[str]) -> str:
    """The name of the candidates a tune chose among: the files' pattern without its wildcards
    (``models/gate-*.onnx`` -> ``gate``), else the zoo's weights and the families asked for."""
    if models:
        stem = Path(models).name.removesuffix(".onnx")
        return slug(re.sub(r"[*?\[\]]", "-", stem)) if slug(stem) != "profile" else "models"
    return slug("-".join([weights, *sorted(families)]))


def rounded(x: float | None, nd: int = 2) -> float | None:
    """A measured figure as tune's table, JSON and profiles give it."""
    return round(x, nd) if x is not None else None


@dataclass(frozen=True)
class Rung:
    """One measured config of a profile: what ``live --profile`` runs, and the figures tune
    measured for it here (``fps``: median of its passes; ``fps_low``: their lower quartile).
    The profile file keeps the config's fields flat (``arch``, ``alpha``, ``resolution``,
    ``precision``) beside the figures."""

    config: ModelConfig
    threads: int = 1
    provider: str | None = None
    fps: float | None = None
    fps_low: float | None = None
    top1: float | None = None
    top1_source: str | None = None
    weights: str | None = None
    macs: int | None = None
    model: str | None = None  # a store name or an .onnx path
    name: str | None = None

    @classmethod
    def of(cls, c: Candidate) -> Rung:
        """The rung of a measured candidate, as tune's JSON gives its figures."""
        return cls(c.config, c.threads, c.provider, rounded(c.fps), rounded(c.fps_low), c.top1,
                   c.top1_source, c.weights, c.macs, c.model, c.name)

    @classmethod
    def from_dict(cls, data: dict) -> Rung:
        names = {f.name for f in fields(cls)} - {"config"}
        try:
            config = ModelConfig(data["arch"], data["alpha"], data["resolution"],
                                 data.get("precision", "fp32"))
            return cls(config, **{k: v for k, v in data.items() if k in names})
        except (KeyError, TypeError) as exc:
            raise EdgecamError(f"a profile entry lacks {exc}".replace("__init__() ", "")) \
                from None

    def to_dict(self) -> dict:
        data = asdict(self)
        return {**data.pop("config"), **data}

    def model_ref(self) -> str:
        """The model argument for this rung (a store name, or a file path)."""
        model = self.model or ""
        if model.endswith(".onnx"):
            return model
        if not model:
            return self.config.name
        parse_model_name(model)  # raises for a broken profile
        return model

    def describe(self) -> str:
        name = self.name or self.config.name
        return f"{name}, {self.threads} thread{'s' if self.threads != 1 else ''}"

    def same_config(self, other: Rung) -> bool:
        return (self.config, self.threads, self.provider) == (
            other.config, other.threads, other.provider)


@dataclass
class Profile:
    """What ``edgecam tune`` chose for a device and ``live --profile`` reads: the target, the
    chosen config and the measured ladder to step along (``frontier``, fastest first)."""

    device: dict
    target_fps: float
    frontier: list[Rung]
    chosen: Rung | None = None
    fastest: Rung | None = None
    margin: float = 0.0
    weights: str | None = None
    created: str = ""
    name: str = "imagenet"  # the set of candidates it chose among

    def __post_init__(self) -> None:
        self.frontier = sorted(self.frontier, key=lambda c: -(c.fps or 0.0))

    @property
    def chosen_index(self) -> int:
        """The chosen config's rung (the fastest when none reached the target)."""
        if self.chosen is None:
            return 0
        chosen = self.chosen
        return next((i for i, c in enumerate(self.frontier) if c.same_config(chosen)),
                    len(self.frontier) - 1)

    @classmethod
    def of_result(cls, result: TuneResult, device: dict, name: str = "imagenet") -> Profile:
        """The profile of a tune run over the candidate set ``name``: its target, choice and
        ladder of measured configs."""
        return cls(device=device, target_fps=result.target_fps,
                   frontier=[Rung.of(c) for c in result.frontier],
                   chosen=Rung.of(result.chosen) if result.chosen else None,
                   fastest=Rung.of(result.fastest) if result.fastest else None,
                   margin=result.margin, weights=result.weights,
                   created=time.strftime("%Y-%m-%dT%H:%M:%S%z"), name=name)

    def describe(self) -> str:
        chose = self.chosen.describe() if self.chosen else "nothing"
        return f"{self.name} (target {self.target_fps:g} FPS, chose {chose}, {self.created})"

    @classmethod
    def from_json(cls, data: dict) -> Profile:
        def rung(value: dict | None) -> Rung | None:
            return Rung.from_dict(value) if isinstance(value, dict) else None

        try:
            return cls(device=data.get("device") or {}, target_fps=float(data["target_fps"]),
                       frontier=[Rung.from_dict(c) for c in data["frontier"]],
                       chosen=rung(data.get("chosen")), fastest=rung(data.get("fastest")),
                       margin=float(data.get("margin") or 0.0), weights=data.get("weights"),
                       created=str(data.get("created") or ""),
                       name=str(data.get("name") or "imagenet"))
        except (KeyError, TypeError, ValueError) as exc:
            raise EdgecamError(f"not an edgecam profile ({exc})") from None

    def to_json(self) -> dict:
        def rung(value: Rung | None) -> dict | None:
            return value.to_dict() if value is not None else None

        return {"format": FORMAT, "name": self.name, "device": self.device,
                "created": self.created,
                "target_fps": self.target_fps, "margin": self.margin, "weights": self.weights,
                "chosen": rung(self.chosen), "fastest": rung(self.fastest),
                "frontier": [c.to_dict() for c in self.frontier]}


@dataclass
class Saved:
    """What saving a profile did: where, and the profile it replaced (or kept)."""

    path: Path
    replaced: Profile | None = None
    kept: bool = False  # True: the old profile chose something and this one did not


def save_profile(profile: Profile, path: Path | None = None) -> Saved:
    """Write ``profile`` whole (a temporary beside it, renamed; never through a planted link)
    as this device's profile for its candidate set. A profile that chose nothing (no config
    reached the target) never replaces one that chose something."""
    path = path or profile_path(profile.device, profile.name)
    old = None
    if path.is_file():
        try:
            old = load_profile(path)
        except EdgecamError:
            old = None  # a broken file is replaced
    if old is not None and old.chosen is not None and profile.chosen is None:
        return Saved(path, old, kept=True)
    try:
        write_whole(path, json.dumps(profile.to_json(), indent=2) + "\n")
    except EdgecamError as exc:
        raise EdgecamError(f"profile: {exc}") from None
    return Saved(path, old)


def load_profile(path: Path) -> Profile:
    """Read and check a profile file (a broken one is a user error, not a traceback)."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise EdgecamError(f"profile not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise EdgecamError(f"cannot read profile {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not data.get("frontier"):
        raise EdgecamError(f"{path} is not an edgecam profile with a frontier "
                           "(make one with `edgecam tune --target-fps N`)")
    try:
        return Profile.from_json(data)
    except EdgecamError as exc:
        raise EdgecamError(f"{path}: {exc}") from None


@dataclass
class Damaged:
    """A profile file of this device that cannot be read (cut short by a crash, edited)."""

    name: str  # the candidate set its file name says
    path: Path
    why: str

    def error(self) -> EdgecamError:
        return EdgecamError(f"profile {self.name} is damaged: {self.why}; run `edgecam tune "
                            f"--target-fps N` again to replace it (or delete {self.path})")


def _scan(device: dict | None = None) -> tuple[list[tuple[Path, Profile]], list[Damaged]]:
    """This device's profiles, newest first (one per candidate set; a file from before
    profiles were named counts as ``imagenet``), and its damaged profile files."""
    base = device_slug(device)
    found, damaged = [], []
    for path in sorted(profiles_dir().glob(f"{base}*.json")):
        if path.stem != base and not path.stem.startswith(f"{base}--"):
            continue
        try:
            found.append((path, load_profile(path)))
        except EdgecamError as exc:
            damaged.append(Damaged(path.stem.partition("--")[2] or "imagenet", path, str(exc)))
    found.sort(key=lambda item: (item[1].created, item[0].stat().st_mtime), reverse=True)
    return found, damaged


def choose_profile(spec: str) -> tuple[Path, Profile, str]:
    """``--profile auto``, ``--profile NAME`` (this device's profile of that candidate set) or
    ``--profile FILE``: the profile and why it is the one."""
    if spec.endswith(".json") or os.sep in spec:
        return Path(spec), load_profile(Path(spec)), "the file given"
    mine, damaged = _scan()
    wanted = [d for d in damaged if spec == "auto" or d.name == slug(spec)]
    if wanted and not any(spec == "auto" or prof.name == slug(spec) for _, prof in mine):
        raise wanted[0].error()  # the one asked for (or the only ones there are) is damaged
    if not mine:
        raise EdgecamError(f"no profile for this device ({device_slug()}) in "
                           f"{profiles_dir().resolve()}; run `edgecam tune --target-fps N` "
                           "first (EDGECAM_PROFILES=DIR looks elsewhere)")
    for broken in wanted:  # ``auto`` with others to choose from: said, then passed over
        log.warning("warning: %s; choosing among the others", broken.error())
    names = [prof.name for _, prof in mine]
    if spec != "auto":
        for path, prof in mine:
            if prof.name == slug(spec):
                return path, prof, f"the {prof.name} profile asked for"
        raise EdgecamError(f"no profile named {spec!r} for this device; it has: "
                           f"{', '.join(names)}")
    path, prof = mine[0]
    if len(mine) == 1:
        return path, prof, "the only profile for this device"
    return path, prof, (f"the newest of {len(mine)} profiles for this device ({', '.join(names)}"
                        "; pick one with --profile NAME)")


def this_device_profile() -> tuple[Path, Profile]:
    """The profile ``--profile auto`` runs; none -> how to make one."""
    path, prof, _ = choose_profile("auto")
    return path, prof
