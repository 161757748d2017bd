"""``edgecam classify`` (its default, and with other flags) against the bare decode + resize +
onnxruntime loop, as whole processes: the ratio wall(bare) / wall(edgecam).

    python benchmarks/classify_vs_bare.py [--models mnv2-1.0,lite0] [--reps 3]
        [--variants "default;--workers 1;--batch 4"]

On the 600-frame 640x480 test video with ``--threads 2`` and JSON lines, one warm-up run of
each, then ``--reps`` rounds in which every command runs once (interleaved, so load drift from
other processes hits them alike); the figure is the median wall time. Writes
``results/classify_vs_bare.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    HERE,
    KEYS,
    MODELS,
    RESULTS_DIR,
    ensure_model,
    log,
    machine,
    make_video,
    write_json,
)


def wall(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="mnv2-1.0,lite0")
    ap.add_argument("--variants", default="default;--workers 1",
                    help="edgecam flag sets separated by ';' ('default': no extra flag)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--frames", type=int, default=600)
    args = ap.parse_args()

    video = make_video(args.frames)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for key in args.models.split(","):
            label, arch, alpha, res, weights = MODELS[KEYS[key]]
            model = ensure_model(arch, alpha, res, weights)
            cmds = {"bare loop": [sys.executable, str(HERE / "bare_loop.py"), str(model),
                                  str(video), "--threads", "2", "--json-out", f"{tmp}/b.jsonl"]}
            for variant in args.variants.split(";"):
                flags = [] if variant.strip() == "default" else variant.split()
                cmds[f"edgecam {variant.strip()}"] = [
                    sys.executable, "-m", "edgecam", "classify", str(video), "--model",
                    str(model), "--threads", "2", "--json-out", f"{tmp}/e.jsonl", *flags]
            for cmd in cmds.values():  # warm-up: page cache of libraries, model and video
                wall(cmd)
            walls: dict[str, list[float]] = {k: [] for k in cmds}
            for rep in range(args.reps):
                for name, cmd in cmds.items():
                    walls[name].append(wall(cmd))
                log(f"{label} round {rep + 1}/{args.reps}: "
                    + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in walls.items()))
            med = {k: statistics.median(v) for k, v in walls.items()}
            rows.append({"model": label, "median_s": med, "walls_s": walls,
                         "ratio_bare_over": {k: round(med["bare loop"] / v, 3)
                                             for k, v in med.items() if k != "bare loop"}})
    write_json(RESULTS_DIR / "classify_vs_bare.json", {"machine": machine(2), "rows": rows})
    names = [k for k in rows[0]["median_s"] if k != "bare loop"]
    print("| model | bare loop s | " + " | ".join(f"{n} s" for n in names) + " | "
          + " | ".join(f"bare/({n})" for n in names) + " |")
    print("| --- |" + " ---: |" * (1 + 2 * len(names)))
    for r in rows:
        print(f"| {r['model']} | {r['median_s']['bare loop']:.1f} | "
              + " | ".join(f"{r['median_s'][n]:.1f}" for n in names) + " | "
              + " | ".join(f"{r['ratio_bare_over'][n]:.2f}" for n in names) + " |")


if __name__ == "__main__":
    main()
