"""Many files on all cores: ``edgecam classify DIR`` of several videos one at a time with all
threads (``--jobs 1``) against side by side with one onnxruntime thread each (the default),
as whole processes, interleaved.

    python benchmarks/parallel_files.py [--videos 4] [--frames 150] [--reps 3] [--model lite0]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default="mnv2-1.0", choices=sorted(common.KEYS))
    parser.add_argument("--out", type=Path, default=common.RESULTS_DIR)
    args = parser.parse_args()

    label, arch, alpha, res, weights = common.MODELS[common.KEYS[args.model]]
    model = common.ensure_model(arch, alpha, res, weights)
    clips = common.CACHE_DIR / f"many_{args.videos}x{args.frames}"
    if not clips.is_dir():
        clips.mkdir(parents=True)
        video = common.make_video(args.frames)
        for i in range(args.videos):
            shutil.copy(video, clips / f"clip{i}.mp4")
    edgecam = [sys.executable, "-m", "edgecam", "classify", str(clips), "--model", str(model),
               "--threads", str(args.threads), "--json-out", str(clips.parent / "many.jsonl")]
    runs = {"one at a time (--jobs 1)": ["--jobs", "1"], "side by side (default)": []}
    walls: dict[str, list[float]] = {name: [] for name in runs}
    for rep in range(args.reps):
        for name, extra in runs.items():
            t0 = time.perf_counter()
            subprocess.run(edgecam + extra, check=True, capture_output=True)
            walls[name].append(time.perf_counter() - t0)
            common.log(f"rep {rep + 1}/{args.reps} {name}: {walls[name][-1]:.2f} s")
    medians = {name: statistics.median(w) for name, w in walls.items()}
    one, side = medians.values()
    result = {"machine": common.machine(args.threads), "model": label, "videos": args.videos,
              "frames_each": args.frames, "reps": args.reps,
              "wall_s": {k: round(v, 2) for k, v in medians.items()},
              "speedup": round(one / side, 3)}
    common.write_json(args.out / "parallel_files.json", result)
    print(json.dumps(result["wall_s"]) + f"  speedup x{result['speedup']}")


if __name__ == "__main__":
    main()
