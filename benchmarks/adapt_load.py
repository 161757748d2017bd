"""What ``live --profile`` does when another load takes the CPU, and after it ends.

    python benchmarks/adapt_load.py [--profile auto] [--load-at 10] [--load-for 25] [--total 75]

Runs ``edgecam live --profile`` as a subprocess on the synthetic 640x480 source (frames as
fast as the pipeline takes them) with JSON lines; starts ``--busy`` busy-loop processes at
``--load-at`` seconds and stops them ``--load-for`` seconds later. Prints the switches edgecam
logged (with their reasons) and, per 5 s, the frames delivered and which model made them
(read from the JSON lines' "model"), then the models-used summary. Writes
results/adapt-load.txt.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="auto")
    ap.add_argument("--load-at", type=float, default=10.0)
    ap.add_argument("--load-for", type=float, default=25.0)
    ap.add_argument("--total", type=float, default=75.0)
    ap.add_argument("--busy", type=int, default=2 * (os.cpu_count() or 1))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        jsonl = Path(tmp) / "live.jsonl"
        cmd = [sys.executable, "-m", "edgecam", "live", "--profile", args.profile, "--source",
               "synthetic://640x480", "--headless", "--json-out", str(jsonl)]
        start = time.monotonic()
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
        lines: list[str] = []

        def read() -> None:
            for line in proc.stderr:
                lines.append(f"{time.monotonic() - start:6.1f} s  {line.rstrip()}")

        per: dict[int, collections.Counter] = collections.defaultdict(collections.Counter)
        done = threading.Event()

        def tail() -> None:
            """The JSON lines as they grow: which model made each frame, per 5 s."""
            while not jsonl.exists() and not done.is_set():
                time.sleep(0.1)
            with open(jsonl) as fh:
                buf = ""
                while not done.is_set():
                    buf += fh.read()
                    *whole, buf = buf.split("\n")
                    key = int((time.monotonic() - start) / 5)
                    for line in whole:
                        if line.strip():
                            per[key][json.loads(line)["model"]] += 1
                    time.sleep(0.2)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        tailer = threading.Thread(target=tail, daemon=True)
        tailer.start()
        time.sleep(args.load_at)
        busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                for _ in range(args.busy)]
        lines.append(f"{time.monotonic() - start:6.1f} s  -- {args.busy} busy processes start")
        time.sleep(args.load_for)
        for p in busy:
            p.kill()
            p.wait()
        lines.append(f"{time.monotonic() - start:6.1f} s  -- busy processes stopped")
        time.sleep(max(0.0, args.total - args.load_at - args.load_for))
        done.set()
        tailer.join(timeout=5)
        proc.terminate()
        proc.wait(timeout=30)
        reader.join(timeout=5)
    out = [f"$ {' '.join(cmd[1:])}  (busy x{args.busy} from {args.load_at:g} s for "
           f"{args.load_for:g} s)", *sorted(lines, key=lambda s: float(s.split()[0])), "",
           "frames delivered per 5 s of the run, by model (the JSON lines' \"model\", tailed):"]
    for key in sorted(per):
        out.append(f"  {key * 5:3d}-{key * 5 + 5:<3d} s  " + ", ".join(
            f"{m} {n} ({n / 5:.1f} FPS)" for m, n in per[key].most_common()))
    text = "\n".join(out)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "adapt-load.txt").write_text(text + "\n")


if __name__ == "__main__":
    main()
