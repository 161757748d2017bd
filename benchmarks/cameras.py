"""Several cameras in one ``edgecam live`` process: FPS per camera and peak RSS for 1, 2 and 4
cameras, with the frames the cameras have ready inferred in one call (batched) or one call
per camera.

    python benchmarks/cameras.py [--model lite0] [--frames 100] [--reps 2] [--threads 2]

Sources: ``synthetic://640x480?fps=30`` (a live camera: capture thread, newest frame only)
and the 640x480 test video (a file: every frame, as fast as the model goes). Each run is a
whole process, ``edgecam live --source ... --headless --max-frames N --json-out FILE``;
FPS per camera comes from its summary lines, peak RSS is the child's VmHWM polled from /proc.
Configurations are interleaved, repetitions alternate, the figure is the median.
Writes ``results/cameras.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    KEYS,
    MODELS,
    RESULTS_DIR,
    ensure_model,
    log,
    machine,
    make_video,
    write_json,  # noqa: E402
)

LINE = re.compile(r"^(?P<src>\S+): (?P<n>\d+) frames \((?P<fps>[\d.]+) FPS\)", re.M)
TOTAL = re.compile(r"^(?P<n>\d+) frames in (?P<s>[\d.]+) s \((?P<fps>[\d.]+) FPS\)", re.M)


def run_live(cmd: list[str]) -> tuple[str, float]:
    """(stderr, peak RSS MB) of one ``edgecam live`` process."""
    err = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
    hwm = 0.0
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        hwm = max(hwm, float(line.split()[1]) / 1024)
        except OSError:
            pass
        time.sleep(0.02)
    err.seek(0)
    text = err.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {text[-600:]}")
    return text, hwm


def per_camera_fps(stderr: str, cameras: int) -> list[float]:
    if cameras == 1:
        m = TOTAL.search(stderr)
        return [float(m.group("fps"))]
    return [float(m.group("fps")) for m in LINE.finditer(stderr)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="lite0")
    ap.add_argument("--frames", type=int, default=100, help="frames per camera")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cameras", default="1,2,4")
    args = ap.parse_args()

    label, arch, alpha, res, weights = MODELS[KEYS[args.model]]
    model = ensure_model(arch, alpha, res, weights)
    video = make_video(600)
    kinds = {"synthetic 640x480 @30 fps (live)": "synthetic://640x480?fps=30",
             "640x480 video file": str(video)}
    edgecam = [sys.executable, "-m", "edgecam"]
    configs = []
    for kind in kinds:
        for n in (int(c) for c in args.cameras.split(",")):
            for batched in ((True, False) if n > 1 else (True,)):
                configs.append((kind, n, batched))
    samples: dict[tuple, list[tuple[list[float], float]]] = {c: [] for c in configs}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.reps):
            for kind, n, batched in configs:
                cmd = [*edgecam, "live", *sum((["--source", kinds[kind]] for _ in range(n)), []),
                       "--model", str(model), "--headless", "--max-frames", str(args.frames),
                       "--threads", str(args.threads), "--json-out", f"{tmp}/p.jsonl",
                       "--batch-cameras" if batched else "--no-batch-cameras"]
                stderr, rss = run_live(cmd)
                fps = per_camera_fps(stderr, n)
                samples[(kind, n, batched)].append((fps, rss))
                log(f"rep {rep + 1}/{args.reps} {kind}, {n} camera(s), "
                    f"{'batched' if batched else 'one call each'}: FPS per camera "
                    f"{', '.join(f'{f:.1f}' for f in fps)}, peak RSS {rss:.0f} MB")
    rows = []
    for (kind, n, batched), runs in samples.items():
        per_cam = [statistics.mean(fps) for fps, _ in runs]
        rows.append({"source": kind, "cameras": n, "batched": batched,
                     "fps_per_camera": round(statistics.median(per_cam), 2),
                     "fps_total": round(statistics.median(per_cam) * n, 2),
                     "peak_rss_mb": round(max(rss for _, rss in runs), 1),
                     "samples": [{"fps": fps, "rss_mb": round(rss, 1)} for fps, rss in runs]})
    write_json(RESULTS_DIR / "cameras.json",
               {"machine": machine(args.threads), "model": label, "frames": args.frames,
                "rows": rows})
    print(f"{label}, {args.frames} frames per camera, {args.threads} threads, median of "
          f"{args.reps}:\n\n| source | cameras | inference | FPS per camera | FPS total | "
          "peak RSS MB |\n| --- | ---: | --- | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['source']} | {r['cameras']} | "
              f"{'batched' if r['batched'] else 'one call each'} | {r['fps_per_camera']:.1f} | "
              f"{r['fps_total']:.1f} | {r['peak_rss_mb']:.0f} |")


if __name__ == "__main__":
    main()
