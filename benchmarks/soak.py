"""Does memory stay flat over a long live run?

    python benchmarks/soak.py [--frames 10000] [--model lite0] [--threads 2] [--fps 120]

Live-like work for ``--frames`` frames: edgecam's synthetic live source at a high frame rate
(newest-frame capture thread, so the model is always busy) through ``Pipeline.results`` with
the overlay, a JSON-lines sink to a temp file and, when edgecam/io/preview.py exists, the
browser preview with one MJPEG viewer connected (so JPEG encoding runs too). RSS is sampled
every 500 frames (and at the warm-up frame, 1000 by default); the report is RSS after warm-up
vs at the end and the growth in % (goal < 5 %), plus peak RSS (goal for live with Lite0:
< 300 MB). Writes results/soak.json and appends a line to results/soak.md. Imports no torch.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common  # noqa: E402


def viewer(url: str, stop: threading.Event, counts: dict) -> None:
    """One MJPEG client reading the preview stream until ``stop``."""
    try:
        with urllib.request.urlopen(url + "stream.mjpg", timeout=10) as resp:
            while not stop.is_set():
                chunk = resp.read(65536)
                if not chunk:
                    break
                counts["bytes"] += len(chunk)
    except OSError as exc:
        counts["error"] = str(exc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=10_000)
    ap.add_argument("--warmup", type=int, default=None,
                    help="frame whose RSS is the baseline (default 1000, or frames/5 if fewer)")
    ap.add_argument("--every", type=int, default=500, help="RSS sample interval in frames")
    ap.add_argument("--fps", type=float, default=120.0,
                    help="synthetic capture rate (above the model rate: always busy)")
    ap.add_argument("--model", default="lite0", choices=list(common.KEYS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-preview", action="store_true")
    ap.add_argument("--out", default=str(common.RESULTS_DIR))
    args = ap.parse_args()
    warm = args.warmup or (1000 if args.frames >= 2000 else max(1, args.frames // 5))

    from edgecam.run.driver import ModelSpec, OutputSpec, Run
    from edgecam.runtime.engine import Engine
    from edgecam.sinks.base import Sink, SinkOptions
    from edgecam.sinks.factory import open_sink
    from edgecam.sources.factory import open_source

    label, arch, alpha, res, weights = common.MODELS[common.KEYS[args.model]]
    path = common.ensure_model(arch, alpha, res, weights)
    has_preview = (importlib.util.find_spec("edgecam.sinks.preview") is not None
                   and not args.no_preview)
    samples: list[tuple[int, float, float]] = []  # frame, seconds, RSS MB
    tmpdir = tempfile.mkdtemp(prefix="edgecam-soak-")
    jsonl_path = os.path.join(tmpdir, "soak.jsonl")
    stop = threading.Event()
    counts = {"bytes": 0}
    t0 = time.monotonic()
    model = ModelSpec(model=Engine(path, args.threads), top_k=3, smoothing=0.6)
    uri = f"synthetic://640x480?fps={args.fps:g}"
    sinks = [open_sink(jsonl_path, SinkOptions(live=True))]
    if has_preview:
        sinks.append(open_sink("http://127.0.0.1:0"))
    viewers: list[threading.Thread] = []

    class Sample(Sink):
        """RSS every ``--every`` frames; starts the preview viewer on the first frame (the
        server is up by then)."""

        def write(self, result) -> None:
            n = result.stats.frames
            if has_preview and not viewers:
                url = sinks[1].written[0]
                viewers.append(threading.Thread(target=viewer, args=(url.split("?")[0], stop,
                                                                     counts), daemon=True))
                viewers[0].start()
            if n == 1 or n == warm or n % args.every == 0 or n == args.frames:
                samples.append((n, round(time.monotonic() - t0, 2), round(common.rss_mb(), 2)))
                if n % (args.every * 4) == 0 or n == args.frames:
                    common.log(f"{n}/{args.frames} frames, RSS {samples[-1][2]:.1f} MB, "
                        f"{result.stats.fps:.1f} fps")

    with Run(model, OutputSpec(extra=[*sinks, Sample()])) as run:
        source = run.enter(open_source(uri))
        pipeline = run.pipeline(overlay=True)
        common.log(f"{label}: {args.frames} frames from {uri}, overlay + JSON lines"
            + (" + preview (1 viewer)" if has_preview else ""))
        try:
            done = run.feed(source, pipeline=pipeline, max_frames=args.frames)
        finally:
            stop.set()
            for client in viewers:
                client.join(timeout=3)
        dropped = source.dropped
    seconds = time.monotonic() - t0
    lines = sum(1 for _ in open(jsonl_path))
    os.unlink(jsonl_path)
    os.rmdir(tmpdir)

    base = next((s[2] for s in samples if s[0] >= warm), samples[0][2])
    end = samples[-1][2]
    growth = 100 * (end - base) / base
    data = {
        "machine": common.machine(args.threads), "model": label, "source": uri,
        "frames": done,
        "seconds": round(seconds, 1), "fps": round(done / seconds, 1), "dropped": dropped,
        "jsonl_lines": lines, "preview": has_preview,
        "preview_frames_encoded": sinks[1].server.frames_encoded if has_preview else None,
        "preview_bytes_read": counts["bytes"], "preview_error": counts.get("error"),
        "warmup_frame": warm, "rss_after_warmup_mb": base, "rss_end_mb": end,
        "growth_pct": round(growth, 2), "peak_rss_mb": round(common.peak_rss_mb(), 1),
        "samples": [{"frame": f, "s": s, "rss_mb": r} for f, s, r in samples],
    }
    out = Path(args.out)
    common.write_json(out / "soak.json", data)
    line = (f"| {time.strftime('%Y-%m-%d %H:%M')} | {label} | {done} | {data['fps']} | "
            f"{'yes' if has_preview else 'no'} | {base:.1f} (frame {warm}) | {end:.1f} | "
            f"{growth:+.2f} % | {data['peak_rss_mb']:.0f} |")
    md = out / "soak.md"
    if not md.is_file():
        md.write_text("# soak (benchmarks/soak.py)\n\n"
                      + common.header_line(data["machine"]) + "\n\n"
                      "| date | model | frames | fps | preview | RSS after warm-up MB | "
                      "RSS end MB | growth | peak RSS MB |\n"
                      "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |\n")
    with open(md, "a") as fh:
        fh.write(line + "\n")
    print(line)
    common.log(f"wrote {out / 'soak.json'}")


if __name__ == "__main__":
    main()
