"""Per-device profiles: what ``edgecam tune`` measured and chose, keyed by a fingerprint of the
device (CPU model, cores, onnxruntime version), so ``live --profile auto`` runs a config that was
measured on this very machine and software, not on a similar one."""

from __future__ import annotations

import json
import os
import platform
import re
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from edgecam.tune.request import required_fps
from edgecam.util.device import cpu_model, default_threads
from edgecam.util.errors import EdgecamError

FORMAT = "edgecam-profile-1"


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
    """``$EDGECAM_PROFILES`` or ``calibration/profiles``."""
    return Path(os.environ.get("EDGECAM_PROFILES", "calibration/profiles"))


def profile_path(device: dict | None = None) -> Path:
    return profiles_dir() / f"{device_slug(device)}.json"


@dataclass(frozen=True)
class Rung:
    """One measured config of a profile: what ``live --profile`` runs, and the figures tune
    measured for it here (``fps``: median of its passes; ``fps_low``: their lower quartile)."""

    arch: str
    alpha: float
    resolution: int
    precision: str = "fp32"
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
    def from_dict(cls, data: dict) -> Rung:
        names = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in data.items() if k in names})
        except TypeError as exc:
            raise EdgecamError(f"a profile entry lacks {exc}".replace("__init__() ", "")) \
                from None

    def to_dict(self) -> dict:
        return asdict(self)

    def model_ref(self) -> str:
        """The model argument for this rung (a store name, or a file path)."""
        from edgecam.models.catalog import model_name, parse_model_name

        model = self.model or ""
        if model.endswith(".onnx"):
            return model
        if not model:
            return model_name(self.arch, self.alpha, self.resolution, self.precision)
        parse_model_name(model)  # raises for a broken profile
        return model

    def describe(self) -> str:
        from edgecam.models.catalog import model_name

        name = self.name or model_name(self.arch, self.alpha, self.resolution, self.precision)
        return f"{name} x{self.threads} thr"

    def same_config(self, other: Rung) -> bool:
        keys = ("arch", "alpha", "resolution", "precision", "threads", "provider")
        return all(getattr(self, k) == getattr(other, k) for k in keys)


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

    def __post_init__(self) -> None:
        self.frontier = sorted(self.frontier, key=lambda c: -(c.fps or 0.0))

    @property
    def need(self) -> float:
        return required_fps(self.target_fps, self.margin)

    @property
    def chosen_index(self) -> int:
        """The chosen config's rung (the fastest when none reached the target)."""
        if self.chosen is None:
            return 0
        chosen = self.chosen
        return next((i for i, c in enumerate(self.frontier) if c.same_config(chosen)),
                    len(self.frontier) - 1)

    @classmethod
    def from_tune(cls, tune_json: dict) -> Profile:
        """The profile of a tune run (its JSON, the contract in DESIGN.md)."""
        return cls.from_json({**tune_json, "format": FORMAT,
                              "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})

    @classmethod
    def from_json(cls, data: dict) -> Profile:
        def rung(value: dict | None) -> Rung | None:
            return Rung.from_dict(value) if isinstance(value, dict) else None

        try:
            return cls(device=data.get("device") or {}, target_fps=float(data["target_fps"]),
                       frontier=[Rung.from_dict(c) for c in data["frontier"]],
                       chosen=rung(data.get("chosen")), fastest=rung(data.get("fastest")),
                       margin=float(data.get("margin") or 0.0), weights=data.get("weights"),
                       created=str(data.get("created") or ""))
        except (KeyError, TypeError, ValueError) as exc:
            raise EdgecamError(f"not an edgecam profile ({exc})") from None

    def to_json(self) -> dict:
        def rung(value: Rung | None) -> dict | None:
            return value.to_dict() if value is not None else None

        return {"format": FORMAT, "device": self.device, "created": self.created,
                "target_fps": self.target_fps, "margin": self.margin, "weights": self.weights,
                "chosen": rung(self.chosen), "fastest": rung(self.fastest),
                "frontier": [c.to_dict() for c in self.frontier]}


def save_profile(profile: Profile, path: Path | None = None) -> Path:
    path = path or profile_path(profile.device)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(profile.to_json(), indent=2) + "\n")
        os.replace(tmp, path)
    except OSError as exc:
        raise EdgecamError(f"cannot write profile {path}: {exc.strerror or exc}") from None
    return path


def better_kept(new: Profile, path: Path | None = None) -> Profile | None:
    """The profile already at ``path`` when ``new`` must not replace it: ``new`` chose nothing
    (a target this device cannot reach) and the old one chose a config ``live --profile
    auto`` runs. A missing or unreadable old profile is replaced."""
    if new.chosen is not None:
        return None
    path = path or profile_path(new.device)
    if not path.is_file():
        return None
    try:
        old = load_profile(path)
    except EdgecamError:
        return None
    return old if old.chosen is not None else None


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


def this_device_profile() -> tuple[Path, Profile]:
    """The profile of this device; missing -> how to make one."""
    path = profile_path()
    if not path.is_file():
        raise EdgecamError(f"no profile for this device ({path.name} in {profiles_dir()}); "
                           "run `edgecam tune --target-fps N` first")
    return path, load_profile(path)
