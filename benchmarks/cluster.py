"""``edgecam classify --cluster``: one Dask worker against two, on this machine.

    python benchmarks/cluster.py [--model mnv2-1.0] [--frames 600] [--chunk 120] [--reps 3]

Starts two local clusters on 127.0.0.1 (a ``dask scheduler`` with one ``dask worker`` of two
onnxruntime threads, and one with two workers of one thread each, so both use the two cores)
and runs ``edgecam classify VIDEO --cluster ADDRESS --json-out F`` as whole processes against
each, interleaved with a local ``edgecam classify`` (same threads) as the reference, after a
warm-up run of each. Figure: median wall time, and the speed-up of two workers over one.
Writes ``results/cluster.json``.
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
    KEYS,
    MODELS,
    RESULTS_DIR,
    ensure_model,
    free_port,
    log,
    machine,
    make_video,
    write_json,
)


def start_cluster(workers: int, tmp: Path) -> tuple[str, list[subprocess.Popen]]:
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    log_file = open(tmp / f"cluster-{workers}.log", "w")  # noqa: SIM115 - lives with the procs
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler",
                               "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              stdout=log_file, stderr=subprocess.STDOUT)]
    for _ in range(workers):
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
             "--host", "127.0.0.1", "--no-dashboard"], stdout=log_file, stderr=subprocess.STDOUT))
    from distributed import Client

    with Client(address, timeout=60) as client:
        client.wait_for_workers(workers, timeout=120)
    return address, procs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="mnv2-1.0")
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--chunk", type=int, default=120)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()

    label, arch, alpha, res, weights = MODELS[KEYS[args.model]]
    model = ensure_model(arch, alpha, res, weights)
    video = make_video(args.frames)
    edgecam = [str(Path(sys.executable).parent / "edgecam"), "classify", str(video),
               "--model", str(model), "--json-out"]
    procs: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        try:
            one, p1 = start_cluster(1, tmp)
            two, p2 = start_cluster(2, tmp)
            procs = p1 + p2
            runs = {
                "local classify (2 threads)": edgecam + [str(tmp / "l.jsonl"), "--threads", "2"],
                "cluster, 1 worker x 2 threads": edgecam + [
                    str(tmp / "c1.jsonl"), "--cluster", one, "--threads", "2",
                    "--chunk", str(args.chunk)],
                "cluster, 2 workers x 1 thread": edgecam + [
                    str(tmp / "c2.jsonl"), "--cluster", two, "--threads", "1",
                    "--chunk", str(args.chunk)],
            }
            walls: dict[str, list[float]] = {k: [] for k in runs}
            for rep in range(args.reps + 1):  # the first round warms up
                for name, cmd in runs.items():
                    t0 = time.perf_counter()
                    subprocess.run(cmd, check=True, capture_output=True)
                    wall = time.perf_counter() - t0
                    if rep:
                        walls[name].append(wall)
                    log(f"rep {rep}/{args.reps} {name}: {wall:.2f} s")
            lines = {k: (tmp / f).read_text().count("\n")
                     for k, f in zip(runs, ("l.jsonl", "c1.jsonl", "c2.jsonl"))}
        finally:
            for proc in reversed(procs):
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=30)
    med = {k: statistics.median(v) for k, v in walls.items()}
    names = list(runs)
    speedup = med[names[1]] / med[names[2]]
    out = {"machine": machine(2), "model": label, "frames": args.frames, "chunk": args.chunk,
           "walls_s": walls, "median_s": med, "lines": lines,
           "two_workers_over_one": round(speedup, 3)}
    write_json(RESULTS_DIR / "cluster.json", out)
    print(f"{label}, {args.frames}-frame 640x480 video, tasks of {args.chunk} frames, "
          f"median of {args.reps}:\n\n| run | wall s | FPS |\n| --- | ---: | ---: |")
    for k in names:
        print(f"| {k} | {med[k]:.2f} | {args.frames / med[k]:.1f} |")
    print(f"\ntwo workers / one worker speed-up: {speedup:.2f}x")


if __name__ == "__main__":
    main()
