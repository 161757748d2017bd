"""Does train's validation accuracy tell how a model does on new footage when its pictures are
frames of a capture? The random split against the split by capture stretches (issue 30).

    .venv/bin/python benchmarks/frame_split.py [--seeds 0,1] [--resolution 128]

A fixed camera, made from real photos: a 320x240 scene (scikit-learn's china.jpg) with a 48x36
gate in the bottom-right corner, open (dark) or closed (scikit-image's brick), two real photos
(astronaut, chelsea, coffee, rocket) passing slowly at random heights and speeds, and the light
drifting. Training frames are captured with `edgecam capture --every 0.5` from clips of each
label: "one session" is one 20 s clip per label (40 frames), "five sessions" five 4 s clips per
label at other times (8 frames each). The same pictures are trained on twice (`edgecam train
-r RES`): as captured (their names make a split by stretches), and copied under seeded random
hex names (the random split train drew before). New footage is eight later 5 s sessions per
label (new passers, new light), a picture every 0.5 s (160 in all), classified by `edgecam
classify`; the figure is top-1 (the model's first label, as train's validation accuracy counts
it). Results:
benchmarks/results/frame-split.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import CACHE_DIR, RESULTS_DIR, log, machine, write_json  # noqa: E402

W, H, FPS = 320, 240, 10.0
GATE = (260, 196, 48, 36)  # x, y, w, h
PASSERS = ["astronaut", "chelsea", "coffee", "rocket"]
FOOTAGE_SESSIONS = 8  # per label


class Camera:
    """The scene at any time: the same background and gate, passers and light by the clock."""

    def __init__(self) -> None:
        from skimage import data
        from sklearn.datasets import load_sample_images

        china = load_sample_images().images[0]
        self.background = cv2.resize(cv2.cvtColor(china, cv2.COLOR_RGB2BGR), (W, H))
        self.photos = [cv2.resize(cv2.cvtColor(getattr(data, n)(), cv2.COLOR_RGB2BGR), (96, 72))
                       for n in PASSERS]
        brick = cv2.cvtColor(data.brick(), cv2.COLOR_GRAY2BGR)
        self.gates = {"closed": cv2.resize(brick[:144, :192], GATE[2:]),
                      "open": np.full((GATE[3], GATE[2], 3), 35, np.uint8)}

    def frame(self, label: str, t: float, session: dict) -> np.ndarray:
        image = self.background.astype(np.float32)
        for photo, x0, speed, y in session["passers"]:
            x = int((x0 + speed * t) % (W + 96)) - 96
            left, right = max(0, x), min(W, x + 96)
            if right > left:
                image[y:y + 72, left:right] = photo[:, left - x:right - x]
        gx, gy, gw, gh = GATE
        image[gy:gy + gh, gx:gx + gw] = self.gates[label]
        light = session["light"] + 0.15 * np.sin(t / 7.0 + session["phase"])
        return np.clip(image * light, 0, 255).astype(np.uint8)

    def session(self, rng: np.random.Generator) -> dict:
        picks = rng.choice(len(self.photos), 2, replace=False)
        return {"passers": [(self.photos[i], float(rng.uniform(0, W)), float(rng.uniform(8, 25)),
                             int(rng.integers(0, H - 72 - GATE[3]))) for i in picks],
                "light": float(rng.uniform(0.7, 1.1)), "phase": float(rng.uniform(0, 6.3))}

    def clip(self, path: Path, label: str, seconds: float, rng: np.random.Generator) -> Path:
        session = self.session(rng)
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (W, H))
        for i in range(int(seconds * FPS)):
            writer.write(self.frame(label, i / FPS, session))
        writer.release()
        return path

    def footage(self, folder: Path, label: str, sessions: int, rng: np.random.Generator
                ) -> None:
        """New footage: ``sessions`` later 5 s sessions, a JPEG every 0.5 s."""
        folder.mkdir(parents=True)
        for k in range(sessions):
            session = self.session(rng)
            for i in range(10):
                cv2.imwrite(str(folder / f"{k}-{i}.jpg"), self.frame(label, i / 2, session))


def edgecam(*args: str, cache: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgecam", *args], check=True,
                          capture_output=True, text=True,
                          env={**os.environ, "XDG_CACHE_HOME": str(cache)})


def build(root: Path, sessions: int, seconds: float, seed: int) -> tuple[Path, Path, Path]:
    """(captured data set, the same pictures under random names, new footage clips)."""
    camera = Camera()
    rng = np.random.default_rng(seed)
    clips = root / "clips"
    clips.mkdir(parents=True)
    for label in camera.gates:
        for k in range(sessions):
            clip = camera.clip(clips / f"{label}-{k}.mp4", label, seconds, rng)
            edgecam("capture", "--source", str(clip), "--label", label, "--out",
                    str(root / "captured"), "--count", "0", "--every", "0.5", cache=root)
    for folder in sorted((root / "captured").iterdir()):
        (root / "shuffled" / folder.name).mkdir(parents=True)
        for p in sorted(folder.iterdir()):
            name = f"{int(rng.integers(1 << 62)):016x}.jpg"
            shutil.copy(p, root / "shuffled" / folder.name / name)
    for label in camera.gates:
        camera.footage(root / "footage" / label, label, FOOTAGE_SESSIONS, rng)
    return root / "captured", root / "shuffled", root / "footage"


def footage_accuracy(model: Path, footage: Path, cache: Path) -> tuple[float, int]:
    out = footage.parent / f"{model.stem}.jsonl"
    edgecam("classify", str(footage / "*" / "*.jpg"), "--model", str(model), "--json-out",
            str(out), cache=cache)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    hits = sum(r["top"][0]["label"] == Path(r["source"]).parent.name for r in rows)
    return 100.0 * hits / len(rows), len(rows)


def measure(case: str, sessions: int, seconds: float, seed: int, res: int) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(dir=CACHE_DIR) as tmp:
        root = Path(tmp)
        captured, shuffled, footage = build(root, sessions, seconds, seed)
        for split, data in (("random", shuffled), ("stretches", captured)):
            model = root / f"{split}.onnx"
            report = root / f"{split}.json"
            edgecam("train", str(data), "-r", str(res), "-o", str(model), "--json-out",
                    str(report), "--seed", str(seed), cache=root)
            trained = json.loads(report.read_text())
            m = trained["models"][0]
            new, frames = footage_accuracy(model, footage, root)
            rows.append({"case": case, "seed": seed, "split": trained["dataset"]["split"]["by"],
                         "note": trained["dataset"]["split"]["note"],
                         "train_images": trained["dataset"]["train_images"],
                         "val_accuracy": round(100 * m["val_accuracy"], 1),
                         "val_images": m["val_images"], "footage_accuracy": round(new, 1),
                         "footage_frames": frames})
            assert rows[-1]["split"] == split
            log(f"{case} seed {seed} {split}: validation {rows[-1]['val_accuracy']}% of "
                f"{m['val_images']}, new footage {new:.1f}% of {frames}")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = ap.parse_args()
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        rows += measure("one session", 1, 20.0, seed, args.resolution)
        rows += measure("five sessions", 5, 4.0, seed, args.resolution)
    write_json(args.out / "frame-split.json", {"machine": machine(1), "resolution":
                                               args.resolution, "rows": rows})
    lines = ["| case | seed | split | validation top-1 | new footage top-1 | gap |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['case']} | {r['seed']} | {r['split']} | {r['val_accuracy']}% of "
                     f"{r['val_images']} | {r['footage_accuracy']}% of {r['footage_frames']} | "
                     f"{r['val_accuracy'] - r['footage_accuracy']:+.1f} |")
    (args.out / "frame-split.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
