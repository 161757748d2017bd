"""How old is the frame edgecam works on in live use?

    python benchmarks/live_latency.py [--frames 300] [--fps 30] [--model lite0] [--threads 2]

A timestamped live source (edgecam's ``synthetic://640x480?fps=N``: a capture thread that keeps
only the newest frame, ``Frame.timestamp`` = capture time) runs through ``Pipeline.results``
with the overlay, as ``edgecam live`` does. For every processed frame:

* age at start  = processing start (the moment the pipeline gets the frame) - capture time
* age at result = result time (first handler, after inference and postprocessing) - capture
* age shown     = after the overlay (what a window or preview would show) - capture

reported as percentiles in ms next to the model's frame time (median preprocess + infer +
postprocess), plus frames dropped by the newest-frame capture. Goal: the frame shown is at most
about one frame time old. Writes results/live_latency.json and appends a line to
results/live_latency.md. Imports no torch.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common  # noqa: E402


class Stamped:
    """A source wrapper noting when the pipeline received each frame (processing start)."""

    def __init__(self, source) -> None:
        self.source = source
        self.started: dict[int, float] = {}

    def __getattr__(self, name):
        return getattr(self.source, name)

    def read(self, timeout=None):
        frame = self.source.read(timeout)
        if frame is not None:
            self.started[frame.index] = time.monotonic()
        return frame


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--model", default="lite0", choices=list(common.KEYS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(common.RESULTS_DIR))
    args = ap.parse_args()

    from edgecam.pipeline.loop import Pipeline
    from edgecam.pipeline.model import Model
    from edgecam.runtime.engine import Engine
    from edgecam.sources.factory import open_source

    label, arch, alpha, res, weights = common.MODELS[common.KEYS[args.model]]
    path = common.ensure_model(arch, alpha, res, weights)
    model = Model(Engine(path, args.threads), top_k=3, smoothing=0.6)
    uri = f"synthetic://640x480?fps={args.fps:g}"
    rows: list[tuple[float, float, float, float, dict]] = []  # capture, start, result, shown

    with open_source(uri) as raw:
        source = Stamped(raw)

        def shown(results) -> int:
            """When each result existed (before the overlay) and when it was shown."""
            n = 0
            for result in results:
                now = time.monotonic()
                f = result.frame
                rows.append((f.timestamp, source.started.pop(f.index, float("nan")),
                             now - result.ms.get("overlay", 0.0) / 1e3, now, dict(result.ms)))
                n += 1
            return n

        pipeline = Pipeline(model, overlay=True)
        common.log(f"{label}: {args.warmup} warm-up + {args.frames} frames from {uri}")
        shown(pipeline.results(source, args.warmup))
        dropped0 = raw.dropped
        rows.clear()
        t0 = time.monotonic()
        done = shown(pipeline.results(source, args.frames))
        seconds = time.monotonic() - t0
        dropped = raw.dropped - dropped0

    start = [(s - c) * 1e3 for c, s, _, _, _ in rows]
    result = [(r - c) * 1e3 for c, _, r, _, _ in rows]
    shown = [(v - c) * 1e3 for c, _, _, v, _ in rows]
    work = [m["preprocess"] + m["infer"] + m["postprocess"] for *_, m in rows]
    frame_ms = statistics.median(work)

    def dist(values):
        return {f"p{q}": round(common.pct(values, q), 2) for q in (50, 90, 99)} | {
            "max": round(max(values), 2), "mean": round(statistics.fmean(values), 2)}

    data = {
        "machine": common.machine(args.threads), "model": label, "model_path": str(path),
        "source": uri, "frames": done, "seconds": round(seconds, 2),
        "processed_fps": round(done / seconds, 2), "capture_fps": args.fps,
        "dropped": dropped, "dropped_pct": round(100 * dropped / max(1, done + dropped), 1),
        "model_frame_ms": round(frame_ms, 2),
        "capture_period_ms": round(1e3 / args.fps, 2),
        "age_at_start_ms": dist(start), "age_at_result_ms": dist(result),
        "age_shown_ms": dist(shown),
        "shown_p90_over_frame_time": round(common.pct(shown, 90) / frame_ms, 2),
        "rss_mb": round(common.rss_mb(), 1),
    }
    out = Path(args.out)
    common.write_json(out / "live_latency.json", data)
    a, r, s = data["age_at_start_ms"], data["age_at_result_ms"], data["age_shown_ms"]
    line = (f"| {time.strftime('%Y-%m-%d %H:%M')} | {label} | {args.fps:g} | {done} | "
            f"{frame_ms:.1f} | {a['p50']:.1f} / {a['p90']:.1f} | {r['p50']:.1f} / {r['p90']:.1f} "
            f"| {s['p50']:.1f} / {s['p90']:.1f} / {s['max']:.1f} | {dropped} "
            f"({data['dropped_pct']}%) | {data['rss_mb']:.0f} |")
    md = out / "live_latency.md"
    if not md.is_file():
        md.write_text(
            "# live latency (benchmarks/live_latency.py)\n\n"
            + common.header_line(data["machine"])
            + "\n\n| date | model | capture fps | frames | model frame ms | age at start p50/p90 "
            "ms | age at result p50/p90 ms | age shown p50/p90/max ms | dropped | RSS MB |\n"
            "| --- | --- | ---: | ---: | ---: | --- | --- | --- | ---: | ---: |\n")
    with open(md, "a") as fh:
        fh.write(line + "\n")
    print(line)
    common.log(f"shown frame age p90 {s['p90']:.1f} ms = {data['shown_p90_over_frame_time']}x the "
        f"model frame time {frame_ms:.1f} ms; wrote {out / 'live_latency.json'}")


if __name__ == "__main__":
    main()
