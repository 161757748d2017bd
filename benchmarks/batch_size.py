"""How many frames per onnxruntime call: ms per frame of ``Engine.run`` at batch 1, 2, 4, 8
on this device, the measurement behind classify's default ``--batch``.

    python benchmarks/batch_size.py [--models mnv2-1.0,lite0] [--threads 2] [--reps 5]

Sessions as classify makes them (no spinning). Batch sizes are interleaved (1 2 4 8 1 2 ...)
after a warm-up, so load drift from other processes hits every size alike; the figure is the
median ms/frame. Writes ``results/batch_size.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import KEYS, MODELS, RESULTS_DIR, ensure_model, log, machine, write_json  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="mnv2-1.0,lite0")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sizes", default="1,2,4,8")
    ap.add_argument("--frames", type=int, default=64, help="frames per measurement")
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()

    import numpy as np

    from edgecam.runtime.engine import Engine

    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    for key in args.models.split(","):
        label, arch, alpha, res, weights = MODELS[KEYS[key]]
        engine = Engine(ensure_model(arch, alpha, res, weights), args.threads, spin=False)
        rng = np.random.default_rng(0)
        data = rng.normal(size=(max(sizes), 3, res, res)).astype(np.float32)
        samples: dict[int, list[float]] = {n: [] for n in sizes}
        for rep in range(args.reps + 1):  # the first round warms up
            for n in sizes:
                calls = max(1, args.frames // n)
                t0 = time.perf_counter()
                for _ in range(calls):
                    engine.run(data[:n])
                ms = (time.perf_counter() - t0) * 1e3 / (calls * n)
                if rep:
                    samples[n].append(ms)
        med = {n: statistics.median(v) for n, v in samples.items()}
        for n in sizes:
            rows.append({"model": label, "batch": n, "ms_per_frame": round(med[n], 3),
                         "vs_batch1": round(med[sizes[0]] / med[n], 3),
                         "samples": [round(v, 3) for v in samples[n]]})
            log(f"{label} batch {n}: {med[n]:.2f} ms/frame ({med[sizes[0]] / med[n]:.2f}x)")
    out = {"machine": machine(args.threads), "rows": rows}
    write_json(RESULTS_DIR / "batch_size.json", out)
    print("| model | batch | ms/frame | x batch 1 |\n| --- | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['model']} | {r['batch']} | {r['ms_per_frame']:.2f} | {r['vs_batch1']:.2f} |")


if __name__ == "__main__":
    main()
