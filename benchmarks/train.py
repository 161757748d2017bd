"""`edgecam train` measured: speed on 1,000 camera-sized pictures, accuracy per resolution on
scikit-learn's digits, and generalisation to a data set the defaults were never tried on.

    .venv/bin/python benchmarks/train.py speed     # 1,000 training pictures, default settings
    .venv/bin/python benchmarks/train.py digits [--resolutions 128,160,192,224]
    .venv/bin/python benchmarks/train.py faces     # LFW faces vs non-faces (scikit-image)
    .venv/bin/python benchmarks/train.py recipe [--seeds 0,1,2]   # blocky digits, faces: seeds

Every run goes through the real CLI in a subprocess; held-out accuracy is what `edgecam
classify` (the runtime, no torch) gives on pictures the training never saw. The load average is
sampled during each run (this machine's 2 cores are shared), results go to
benchmarks/results/train-<part>.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _common import CACHE_DIR, MODELS_DIR, RESULTS_DIR, log, machine, write_json  # noqa: E402

from labelled_data import (  # noqa: E402
    DIGIT_NAMES,
    blocky_digits,
    digits,
    faces,
    pictures_by_class,
)


class LoadSampler:
    """os.getloadavg() every few seconds in a thread: how busy the machine was meanwhile."""

    def __init__(self, every: float = 5.0) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)

    def _run(self, every: float) -> None:
        while not self._stop.is_set():
            self.samples.append(os.getloadavg()[0])
            self._stop.wait(every)

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict:
        s = sorted(self.samples)
        return {"min": s[0], "median": s[len(s) // 2], "max": s[-1]} if s else {}


def run_train(data: Path, args: list[str], cache: Path) -> tuple[dict, float, dict]:
    """(report, wall seconds, load average during the run); the load entry also holds the
    CPU seconds the run used (user + system), the figure a shared machine does not inflate
    as much as the wall time."""
    with tempfile.TemporaryDirectory() as tmp:
        report_path = Path(tmp) / "report.json"
        env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        with LoadSampler() as load:
            t0 = time.monotonic()
            subprocess.run([sys.executable, "-m", "edgecam", "train", str(data), *args,
                            "--json-out", str(report_path)], check=True, env=env)
            wall = time.monotonic() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return (json.loads(report_path.read_text()), wall,
                {**load.summary(), "cpu_s": round(cpu, 1)})


def heldout_accuracy(model: str, heldout: Path) -> float:
    """Top-1 of `edgecam classify` on held-out pictures (the best class, whether or not the
    rule to answer unknown would keep it: the recipe's figure)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "h.jsonl"
        subprocess.run([sys.executable, "-m", "edgecam", "classify",
                        str(heldout / "*" / "*.png"), "--model", model, "--json-out", str(out)],
                       check=True, capture_output=True)
        truth = {str(p): c for p, c in pictures_by_class(heldout)}
        rows = [json.loads(line) for line in out.read_text().splitlines()]
    return sum(truth[r["source"]] == r["top"][0]["label"] for r in rows) / len(rows)


def _mean_sd(values: list[float]) -> str:
    import statistics

    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.1%} ± {sd:.1%}"


def recipe(args: argparse.Namespace) -> dict:
    """The default recipe on splits made here, several seeds: blocky digits at 128 and 224 px
    (default, and --finetune at 128), LFW faces vs non-faces at the default 224 px."""
    seeds = [int(s) for s in args.seeds.split(",")]
    runs = []
    for seed in seeds:
        root = CACHE_DIR / f"recipe-digits-{seed}"
        if not (root / "heldout").is_dir():
            blocky_digits(root, seed)
        froot = CACHE_DIR / f"recipe-faces-{seed}"
        if not (froot / "heldout").is_dir():
            faces(froot, held_out=30, seed=seed)
        cases = [("digits", root, "128", []), ("digits", root, "224", []),
                 ("digits", root, "128", ["--finetune"]), ("faces", froot, "224", [])]
        for name, folder, res, extra in cases:
            with tempfile.TemporaryDirectory() as cache:
                out = MODELS_DIR / f"recipe-{name}-{seed}-{res}{''.join(extra)}.onnx"
                log(f"{name} seed {seed} at {res} {' '.join(extra)} ...")
                report, wall, load = run_train(folder / "train", ["-r", res, "-o", str(out),
                                                                  "--seed", str(seed), *extra],
                                               Path(cache))
            m = report["models"][0]
            runs.append({"data": name, "seed": seed, "resolution": int(res),
                         "finetune": bool(extra), "val_accuracy": m["val_accuracy"],
                         "heldout_accuracy": heldout_accuracy(str(out), folder / "heldout"),
                         "best_epoch": m["best_epoch"], "views_used": m["views_used"],
                         "train_images": report["dataset"]["train_images"],
                         "wall_s": round(wall, 1), "loadavg": load})
    lines = ["| data set | resolution | recipe | seeds | held-out top-1 (mean ± sd) | "
             "validation (mean) | fine-tuning kept (runs) | views kept (1 = plain) | "
             "wall s (mean) |", "| --- | ---: | --- | ---: | ---: | ---: | --- | --- | ---: |"]
    keys = sorted({(r["data"], r["resolution"], r["finetune"]) for r in runs},
                  key=lambda k: (k[0], k[2], k[1]))
    for data, res, ft in keys:
        rs = [r for r in runs if (r["data"], r["resolution"], r["finetune"]) == (data, res, ft)]
        kept = (f"{sum(r['best_epoch'] > 0 for r in rs)} of {len(rs)}" if ft else "")
        lines.append(
            f"| {data} | {res} | {'--finetune' if ft else 'default'} | {len(rs)} | "
            f"{_mean_sd([r['heldout_accuracy'] for r in rs])} | "
            f"{sum(r['val_accuracy'] for r in rs) / len(rs):.1%} | {kept} | "
            f"{', '.join(str(r['views_used']) for r in rs)} | "
            f"{sum(r['wall_s'] for r in rs) / len(rs):.0f} |")
    return {"runs": runs, "table": lines}


def camera_digits(root: Path, per_class: int = 125) -> Path:
    """Digits as 640x480 JPEGs (the digit 360 px high in the middle), like camera frames:
    1,250 pictures, which the default 20% split makes 1,000 training + 250 validation."""
    import cv2
    import numpy as np
    from sklearn.datasets import load_digits

    if (root / "done").is_file():
        return root / "digits"
    d = load_digits()
    counts = dict.fromkeys(range(10), 0)
    for img, label in zip(d.images, d.target):
        if counts[label] >= per_class:
            continue
        counts[label] += 1
        canvas = np.zeros((480, 640), np.uint8)
        big = cv2.resize((img * 255 / 16).astype(np.uint8), (360, 360),
                         interpolation=cv2.INTER_CUBIC)
        canvas[60:420, 140:500] = big
        folder = root / "digits" / DIGIT_NAMES[label]
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{sum(counts.values()):04d}.jpg"), canvas,
                    [cv2.IMWRITE_JPEG_QUALITY, 90])
    (root / "done").write_text("")
    return root / "digits"


def speed(args: argparse.Namespace) -> dict:
    data = camera_digits(CACHE_DIR / "train-speed")
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        for kind in ("cold cache", "warm cache"):
            log(f"train, default settings, {kind} ...")
            report, wall, load = run_train(data, ["-o", str(MODELS_DIR / "speed.onnx")],
                                           Path(cache))
            m = report["models"][0]
            rows.append({"run": kind, "wall_s": round(wall, 1), "train_s": report["seconds"],
                         "feature_s": m["feature_seconds"], "val_accuracy": m["val_accuracy"],
                         "train_images": report["dataset"]["train_images"],
                         "val_images": report["dataset"]["val_images"],
                         "resolution": m["resolution"], "epochs_run": m["epochs_run"],
                         "loadavg": load})
    lines = ["| run | pictures (train + val) | resolution | wall s | CPU s | features s | "
             "val acc | load avg during (min/median/max) |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        ld = r["loadavg"]
        lines.append(f"| {r['run']} | {r['train_images']} + {r['val_images']} | "
                     f"{r['resolution']} | {r['wall_s']} | {ld['cpu_s']} | {r['feature_s']} | "
                     f"{r['val_accuracy']:.1%} | {ld['min']:.1f} / {ld['median']:.1f} / "
                     f"{ld['max']:.1f} |")
    return {"rows": rows, "table": lines}


def per_resolution(args: argparse.Namespace) -> dict:
    root = CACHE_DIR / "train-digits"
    if not (root / "digits").is_dir():
        train, _ = digits(root, held_out=36)
        train.rename(root / "digits")
    resolutions = args.resolutions
    out = MODELS_DIR / "digits.onnx"
    with tempfile.TemporaryDirectory() as cache:
        log(f"train digits at {resolutions} ...")
        report, wall, load = run_train(root / "digits", ["-r", resolutions, "-o", str(out)],
                                       Path(cache))
    rows = []
    for m in report["models"]:
        acc = heldout_accuracy(m["output"], root / "heldout")
        rows.append({"resolution": m["resolution"], "model": m["output"],
                     "val_accuracy": m["val_accuracy"], "heldout_accuracy": acc,
                     "seconds": m["seconds"], "feature_seconds": m["feature_seconds"],
                     "epochs_run": m["epochs_run"]})
    lines = ["| resolution | validation acc | held-out acc | training s (features s) |",
             "| ---: | ---: | ---: | ---: |"]
    n_held = sum(1 for _ in pictures_by_class(root / "heldout"))
    for r in rows:
        lines.append(f"| {r['resolution']} | {r['val_accuracy']:.1%} | "
                     f"{r['heldout_accuracy']:.1%} | {r['seconds']:.0f} "
                     f"({r['feature_seconds']:.0f}) |")
    return {"rows": rows, "table": lines, "train_images": report["dataset"]["train_images"],
            "val_images": report["dataset"]["val_images"], "heldout_images": n_held,
            "wall_s": round(wall, 1), "loadavg": load}


def generalisation(args: argparse.Namespace) -> dict:
    root = CACHE_DIR / "train-faces"
    if not (root / "faces").is_dir():
        train, _ = faces(root, held_out=30)
        train.rename(root / "faces")
    with tempfile.TemporaryDirectory() as cache:
        report, wall, load = run_train(root / "faces", ["-o", str(MODELS_DIR / "faces.onnx")],
                                       Path(cache))
    m = report["models"][0]
    acc = heldout_accuracy(m["output"], root / "heldout")
    lines = ["| data set | classes | train + val | held-out | val acc | held-out acc | s |",
             "| --- | ---: | --- | ---: | ---: | ---: | ---: |",
             f"| LFW subset (scikit-image), default settings | 2 | "
             f"{report['dataset']['train_images']} + {report['dataset']['val_images']} | 60 | "
             f"{m['val_accuracy']:.1%} | {acc:.1%} | {m['seconds']:.0f} |"]
    return {"val_accuracy": m["val_accuracy"], "heldout_accuracy": acc, "table": lines,
            "wall_s": round(wall, 1), "loadavg": load, "resolution": m["resolution"]}


PARTS = {"speed": speed, "digits": per_resolution, "faces": generalisation, "recipe": recipe}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=sorted(PARTS))
    parser.add_argument("--resolutions", default="128,160,192,224")
    parser.add_argument("--seeds", default="0,1,2", help="recipe: the splits' seeds")
    args = parser.parse_args()
    MODELS_DIR.mkdir(parents=True, exist_ok=True)
    info = machine(threads=len(os.sched_getaffinity(0)), with_torch=False)
    result = {"machine": info, **PARTS[args.part](args)}
    result["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    write_json(RESULTS_DIR / f"train-{args.part}.json", result)
    md = "\n".join(result["table"]) + "\n"
    (RESULTS_DIR / f"train-{args.part}.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
