"""Regions measured (issue 30): what watching a place costs, and what it gains.

    python benchmarks/regions.py speed [--rounds 5] [--frames 300]
    python benchmarks/regions.py accuracy [--seeds 0,1,2]

``speed``: frames per second of ``edgecam live --fast`` on a 640x480 clip with EfficientNet-Lite0
at 128 px (offline ImageNet weights, 2 threads), the whole frame vs 1, 4 and 8 regions, with
the overlay, a video and JSON lines written; the configurations interleaved round by round so
the host's drift hits each alike, medians reported. Decode, overlay and outputs are paid once
per frame and all the crops of a frame go through the model in one call, so 4 regions should
cost at most 2x the whole frame.

``accuracy``: a clip made from real photos (scikit-image, scikit-learn) where a 120x90 "gate" in
the bottom-right corner switches between two looks (brick and grass textures) while other real
photos move across the rest of the frame and the light changes. As a user would: frames of
each look captured from two training clips with ``edgecam capture`` (with ``--region`` for the
region model, without for the whole-frame one), ``edgecam train`` at 128 px for each, then
``edgecam classify`` of a separate test clip (other motion, other switch times): the per-frame
accuracy of each, and the number of events the region run wrote against the true switches.

Writes ``results/regions-speed.json`` / ``results/regions-accuracy.json`` and a line per figure.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS_DIR, ensure_model, log, machine, write_json  # noqa: E402

W, H = 640, 480
GATE = (500, 370, 120, 90)
FPS = 10.0
LOOKS = ("closed", "open")  # brick, grass


def edgecam(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "edgecam", *args], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise SystemExit(f"edgecam {' '.join(args)} failed: {proc.stderr}")
    return proc


# --- the scene ----------------------------------------------------------------------------------


def _photos():
    import cv2
    import numpy as np
    import skimage.data as data
    from sklearn.datasets import load_sample_images

    def bgr(a):
        a = a if a.ndim == 3 else np.stack([a] * 3, axis=-1)
        return cv2.cvtColor(a[..., :3], cv2.COLOR_RGB2BGR)

    movers = [bgr(p) for p in load_sample_images().images]
    movers += [bgr(data.astronaut()), bgr(data.coffee()), bgr(data.chelsea())]
    backdrop = cv2.resize(bgr(data.rocket()), (W, H))
    looks = [cv2.resize(bgr(data.brick()), GATE[2:]), cv2.resize(bgr(data.grass()), GATE[2:])]
    return backdrop, movers, looks


def make_clip(path: Path, states: list[int], seed: int) -> Path:
    """One frame per state (0 closed, 1 open) at ``FPS``: the backdrop, two photos moving on
    their own paths across the frame (passing over the gate's neighbourhood, never over it),
    the light changing slowly, the gate in its look."""
    import cv2
    import numpy as np

    backdrop, movers, looks = _photos()
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(movers), size=2, replace=False)
    sizes = [(200, 150), (240, 180)]
    phases, speeds = rng.uniform(0, 2 * np.pi, 2), rng.uniform(0.02, 0.06, 2)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (W, H))
    gx, gy, gw, gh = GATE
    for i, state in enumerate(states):
        frame = backdrop.copy()
        for k in range(2):
            sw, sh = sizes[k]
            photo = cv2.resize(movers[picks[k]], (sw, sh))
            t = phases[k] + speeds[k] * i
            x = int((W - sw - gw - 30) * (0.5 + 0.5 * np.sin(t)))
            y = int((H - sh) * (0.5 + 0.5 * np.cos(1.3 * t)))
            frame[y:y + sh, x:x + sw] = photo
        frame[gy:gy + gh, gx:gx + gw] = looks[state]
        light = 0.8 + 0.2 * np.sin(2 * np.pi * i / (FPS * 20) + seed)
        writer.write(np.clip(frame * light, 0, 255).astype(np.uint8))
    writer.release()
    return path


def switching_states(frames: int, switches: int, seed: int, min_gap: int) -> list[int]:
    """``frames`` states with ``switches`` changes, at least ``min_gap`` frames apart."""
    import numpy as np

    rng = np.random.default_rng(seed + 100)
    while True:
        cuts = sorted(rng.choice(np.arange(min_gap, frames - min_gap), switches, replace=False))
        if all(b - a >= min_gap for a, b in zip(cuts, cuts[1:])):
            break
    states, state, last = [], 0, 0
    for cut in [*cuts, frames]:
        states += [state] * (cut - last)
        state, last = 1 - state, cut
    return states


# --- speed --------------------------------------------------------------------------------------

REGION_SETS = {
    "whole frame": [],
    "1 region": ["gate=500,370,120,90"],
    "4 regions": [f"r{i}=" + ",".join(map(str, (20 + 150 * i, 300, 120, 90))) for i in range(4)],
    "8 regions": [f"r{i}=" + ",".join(map(str, (20 + 150 * (i % 4), 100 + 200 * (i // 4), 120,
                                                 90))) for i in range(8)],
}


def speed(args: argparse.Namespace) -> None:
    model = ensure_model("efficientnet_lite0", 1.0, 128, "imagenet")
    work = Path(tempfile.mkdtemp(prefix="edgecam-regions-"))
    clip = make_clip(work / "speed.mp4", [i // 50 % 2 for i in range(args.frames)], 7)
    fps: dict[str, list[float]] = {name: [] for name in REGION_SETS}
    for rnd in range(args.rounds + 1):  # round 0 warms the caches up
        for name, regions in REGION_SETS.items():
            flags = [x for r in regions for x in ("--region", r)]
            proc = edgecam("live", "--source", str(clip), "--fast", "--headless",
                           "--model", str(model), "--threads", "2", "--smoothing", "0",
                           "--output", str(work / "out.mp4"),
                           "--json-out", str(work / f"out{rnd}.jsonl"), *flags)
            m = re.search(r"\(([\d.]+) FPS\)", proc.stderr)
            if m is None:
                raise SystemExit(f"no FPS in: {proc.stderr}")
            if rnd:
                fps[name].append(float(m.group(1)))
        log(f"round {rnd}: " + ", ".join(f"{n} {v[-1]:.1f}" for n, v in fps.items() if v))
    med = {n: statistics.median(v) for n, v in fps.items()}
    rows = [{"config": n, "fps_median": round(med[n], 1), "ms_per_frame": round(1e3 / med[n], 2),
             "cost_vs_whole": round(med["whole frame"] / med[n], 2),
             "fps": [round(x, 1) for x in fps[n]]} for n in REGION_SETS]
    for r in rows:
        log(f"{r['config']:>12}: {r['fps_median']:6.1f} FPS, {r['ms_per_frame']:5.2f} ms/frame, "
            f"{r['cost_vs_whole']:.2f}x the whole frame's time")
    write_json(RESULTS_DIR / "regions-speed.json", {
        "machine": machine(2), "model": "efficientnet_lite0-1.0-128 (ImageNet)",
        "clip": f"{args.frames} frames {W}x{H}", "rounds": args.rounds, "rows": rows,
        "command": "edgecam live --source CLIP --fast --headless --threads 2 --smoothing 0 "
                   "--output out.mp4 --json-out out.jsonl [--region ...]"})


# --- accuracy -----------------------------------------------------------------------------------


def accuracy(args: argparse.Namespace) -> None:
    runs = [accuracy_run(int(seed)) for seed in args.seeds.split(",")]
    summary = {name: [r["models"][name]["accuracy"] for r in runs] for name in ("region", "whole")}
    summary["events_vs_switches"] = [(r["state_changes"], r["switches"]) for r in runs]
    log(f"over {len(runs)} seeds: region {summary['region']}, whole frame {summary['whole']}")
    write_json(RESULTS_DIR / "regions-accuracy.json",
               {"machine": machine(2), "summary": summary, "runs": runs})


def accuracy_run(seed: int) -> dict:
    """One scene (``seed``): capture, train both models, classify the test clip."""
    args = argparse.Namespace(seed=seed)
    work = Path(tempfile.mkdtemp(prefix="edgecam-regions-"))
    gate = "gate=" + ",".join(map(str, GATE))
    frames = int(FPS * 30)
    for label, look in zip(LOOKS, (0, 1)):
        clip = make_clip(work / f"train-{label}.mp4", [look] * frames, args.seed + look)
        for name, region in (("region", ["--region", gate]), ("whole", [])):
            edgecam("capture", "--source", str(clip), "--label", label,
                    "--out", str(work / f"data-{name}"), "--count", "60", "--every", "0.5",
                    *region)
    models = {}
    for name in ("region", "whole"):
        out = work / f"{name}.onnx"
        proc = edgecam("train", str(work / f"data-{name}"), "--resolution", "128",
                       "--output", str(out), "--seed", str(args.seed))
        models[name] = out
        log(f"{name} model: {proc.stdout.splitlines()[0]}")
    states = switching_states(int(FPS * 60), 8, args.seed, min_gap=int(FPS * 3))
    test = make_clip(work / "test.mp4", states, args.seed + 50)
    truth = [LOOKS[s] for s in states]
    got: dict[str, list[str]] = {}
    edgecam("classify", str(test), "--model", str(models["region"]), "--region", gate,
            "--json-out", str(work / "region.jsonl"), "--events", str(work / "events"))
    got["region"] = [json.loads(x)["regions"]["gate"]["label"]
                     for x in (work / "region.jsonl").read_text().splitlines()]
    edgecam("classify", str(test), "--model", str(models["whole"]),
            "--json-out", str(work / "whole.jsonl"))
    got["whole"] = [json.loads(x)["label"] for x in (work / "whole.jsonl").read_text().splitlines()]
    events = [json.loads(x) for x in (work / "events" / "events.jsonl").read_text().splitlines()]
    switches = sum(a != b for a, b in zip(states, states[1:]))
    rows = {}
    for name, labels in got.items():
        per_class = {label: round(sum(g == t for g, t in zip(labels, truth) if t == label)
                                  / max(1, truth.count(label)), 4) for label in LOOKS}
        rows[name] = {"accuracy": round(sum(g == t for g, t in zip(labels, truth)) / len(truth), 4),
                      "per_class": per_class}
        log(f"{name} model: {rows[name]['accuracy']:.1%} of {len(truth)} frames right "
            f"({', '.join(f'{k} {v:.1%}' for k, v in per_class.items())})")
    changes = [e for e in events if e["from"] is not None]
    log(f"events: {len(events)} ({len(changes)} changes + the first state) for {switches} "
        "true switches")
    return {
        "seed": args.seed, "frames": len(truth), "switches": switches,
        "models": rows, "events": len(events), "state_changes": len(changes),
        "event_list": [{k: e[k] for k in ("from", "to", "frame", "since")} for e in events],
        "scene": f"{W}x{H} at {FPS:g} FPS; gate {GATE} brick (closed) / grass (open); two "
                 "moving photos; light 0.8-1.0; capture 60 per label every 0.5 s from 30 s "
                 "clips; train --resolution 128 (EfficientNet-Lite0, offline weights)"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--rounds", type=int, default=5)
    s.add_argument("--frames", type=int, default=300)
    a = sub.add_parser("accuracy")
    a.add_argument("--seeds", default="0,1,2")
    args = ap.parse_args()
    speed(args) if args.what == "speed" else accuracy(args)


if __name__ == "__main__":
    main()
