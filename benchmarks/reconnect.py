"""How long a network camera that drops takes to come back in edgecam.

Starts the MJPEG test camera (tests/mjpeg_server.py) on 127.0.0.1, opens it as a live source,
kills the server, waits, restarts it on the same port and measures the time from the restart
to the first new frame. ``python benchmarks/reconnect.py [--rounds 5] [--down-s 2]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from edgecam.util.nativelogs import quiet_native_logs

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from _common import free_port  # noqa: E402

from mjpeg_server import start_camera  # noqa: E402  (the same camera the tests use)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--down-s", type=float, default=2.0, help="How long the camera is off.")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    quiet_native_logs()
    from edgecam.sources.factory import open_source

    port = free_port()
    server = start_camera(port)
    source = open_source(f"http://127.0.0.1:{port}/", connect_timeout=2.0)
    times = []
    try:
        for i in range(args.rounds):
            while source.read(1.0) is None:
                pass
            server.kill()
            server.wait()
            time.sleep(args.down_s)
            source.read(0)
            t0 = time.monotonic()
            server = start_camera(port)
            while (frame := source.read(0.05)) is None or frame.timestamp < t0:
                pass
            times.append(time.monotonic() - t0)
            print(f"round {i + 1}: frames back {times[-1]:.2f} s after the camera", file=sys.stderr)
    finally:
        source.close()
        server.kill()
    result = {"rounds": args.rounds, "down_s": args.down_s,
              "resume_s": {"median": round(statistics.median(times), 3),
                           "max": round(max(times), 3)}, "reconnects": source.reconnects}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "reconnect.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
