"""Per-device profiles: what ``edgecam tune`` measured and chose, keyed by a fingerprint of the
device (CPU model, cores, onnxruntime version), so ``live --profile auto`` runs a config that was
measured on this very machine and software, not on a similar one."""

from __future__ import annotations

import json
import os
import platform
import re
import time
from pathlib import Path

from edgecam.errors import EdgecamError

FORMAT = "edgecam-profile-1"


def cpu_model() -> str:
    """The CPU's marketing name (/proc/cpuinfo on Linux, platform elsewhere)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware", "cpu model"):
                    if value.strip():
                        return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown-cpu"


def device_info() -> dict:
    """The fingerprint a profile is filed under."""
    import onnxruntime

    from edgecam.runtime.engine import default_threads

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


def make_profile(tune_json: dict, frontier: list[dict]) -> dict:
    """The profile: the device, the target, the chosen config and the step-down frontier
    (sorted by FPS, fastest first, each with its model name or file)."""
    return {
        "format": FORMAT,
        "device": tune_json["device"],
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "target_fps": tune_json["target_fps"],
        "margin": tune_json.get("margin"),
        "weights": tune_json.get("weights"),
        "chosen": tune_json["chosen"],
        "fastest": tune_json.get("fastest"),
        "frontier": sorted(frontier, key=lambda c: -(c.get("fps") or 0.0)),
    }


def save_profile(profile: dict, path: Path | None = None) -> Path:
    path = path or profile_path(profile["device"])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(profile, indent=2) + "\n")
        os.replace(tmp, path)
    except OSError as exc:
        raise EdgecamError(f"cannot write profile {path}: {exc.strerror or exc}") from None
    return path


def load_profile(path: Path) -> dict:
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
    return data


def this_device_profile() -> tuple[Path, dict]:
    """The profile of this device; missing -> how to make one."""
    path = profile_path()
    if not path.is_file():
        raise EdgecamError(f"no profile for this device ({path.name} in {profiles_dir()}); "
                           "run `edgecam tune --target-fps N` first")
    return path, load_profile(path)
