"""Does a trained model say "unknown" when it sees none of its classes? Measured on two data
sets built from pictures that ship in packages, with the rule alone and with an unknown folder.

    .venv/bin/python benchmarks/unknown.py [--seeds 0,1,2] [--keeps 0.95,0.9]

- digits: scikit-learn's digits as 64 px blocks, dark on white (tests/labelled_data.py
  ``blocky_digits``, 60% / 40% of each class). Known: zero..four; the unknown folder: five and
  six (training side); never seen: seven, eight and nine (held-out side).
- faces: scikit-image's LFW faces and brick / grass / gravel texture patches as the known
  classes; the unknown folder: LFW's non-face crops; never seen: squares cut from 14 other
  photos of scikit-image and scikit-learn (cat, coffee, rocket, astronaut, china...) and digits.

Every run goes through the CLI: `edgecam train` (the default recipe and --finetune, each with
`--keep` 0.95 (the default) and 0.9; 128 px for digits, the native 224 px for faces), then
`edgecam classify` on the held-out pictures, whose JSON line says `"label": "unknown"` when
the model's rule rejects. "kept" is the share of held-out known pictures answered with their
right label; "never seen -> unknown" the share of never-seen
pictures answered unknown. Results: benchmarks/results/unknown.{json,md}.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _common import CACHE_DIR, MODELS_DIR, RESULTS_DIR, log, machine, write_json  # noqa: E402

from labelled_data import DIGIT_NAMES, blocky_digits, faces, textures  # noqa: E402

PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "horse", "moon",
          "page", "text", "hubble_deep_field", "immunohistochemistry"]


def _copy(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for p in sorted(src.iterdir()):
        shutil.copy(p, dst / f"{src.name}-{p.name}")


def digits_case(seed: int) -> dict[str, Path]:
    root = CACHE_DIR / f"unknown-digits-{seed}"
    if (root / "done").is_file():
        return {k: root / k for k in ("known", "unknown", "heldout", "never")}
    shutil.rmtree(root, ignore_errors=True)
    train, heldout = blocky_digits(root / "all", seed)
    for name in DIGIT_NAMES[:5]:
        _copy(train / name, root / "known" / name)
        _copy(heldout / name, root / "heldout" / name)
    for name in DIGIT_NAMES[5:7]:
        _copy(train / name, root / "unknown")
    for name in DIGIT_NAMES[7:]:
        _copy(heldout / name, root / "never")
    (root / "done").write_text("")
    return {k: root / k for k in ("known", "unknown", "heldout", "never")}


def _photo_squares(folder: Path, count: int, seed: int) -> None:
    """``count`` random squares (64-256 px) of the photos that ship with scikit-image and
    scikit-learn, none of which is in the known classes."""
    import cv2
    import numpy as np
    from skimage import data
    from sklearn.datasets import load_sample_images

    photos = [np.asarray(getattr(data, n)()) for n in PHOTOS]
    photos += [im[..., ::-1] for im in load_sample_images().images]  # RGB -> BGR
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(count):
        photo = photos[k % len(photos)]
        if photo.ndim == 3 and photo.shape[2] == 4:
            photo = photo[..., :3]
        h, w = photo.shape[:2]
        side = int(rng.integers(64, min(256, h, w) + 1))
        y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        square = photo[y:y + side, x:x + side]
        if square.dtype != np.uint8:
            square = square.astype(np.float64)
            square = (255 * (square - square.min()) / max(1e-9, np.ptp(square))).astype(np.uint8)
        cv2.imwrite(str(folder / f"photo-{k:03d}.png"), square)


def faces_case(seed: int) -> dict[str, Path]:
    root = CACHE_DIR / f"unknown-faces-{seed}"
    if (root / "done").is_file():
        return {k: root / k for k in ("known", "unknown", "heldout", "never")}
    shutil.rmtree(root, ignore_errors=True)
    ftrain, fheld = faces(root / "lfw", held_out=30, seed=seed)
    ttrain, theld = textures(root / "tex", per_class=70, held_out=30, seed=seed)
    _copy(ftrain / "face", root / "known" / "face")
    _copy(fheld / "face", root / "heldout" / "face")
    for name in ("brick", "grass", "gravel"):
        _copy(ttrain / name, root / "known" / name)
        _copy(theld / name, root / "heldout" / name)
    _copy(ftrain / "not face", root / "unknown")
    _photo_squares(root / "never", 140, seed)
    dtrain, _ = blocky_digits(root / "digits", seed)
    for name in DIGIT_NAMES:
        for p in sorted((dtrain / name).iterdir())[:6]:
            shutil.copy(p, root / "never" / f"digit-{name}-{p.name}")
    (root / "done").write_text("")
    return {k: root / k for k in ("known", "unknown", "heldout", "never")}


def answers(model: Path, pictures: Path) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "a.jsonl"
        subprocess.run([sys.executable, "-m", "edgecam", "classify", str(pictures),
                        "--model", str(model), "--json-out", str(out)],
                       check=True, capture_output=True)
        return [json.loads(line) for line in out.read_text().splitlines()]


def train(data: Path, out: Path, args: list[str], cache: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "r.json"
        subprocess.run([sys.executable, "-m", "edgecam", "train", str(data), "-o", str(out),
                        "--json-out", str(report), *args], check=True, capture_output=True,
                       env={**os.environ, "XDG_CACHE_HOME": str(cache)})
        return json.loads(report.read_text())["models"][0]


RECIPES = {"default": [], "--finetune": ["--finetune"]}


def measure(case: str, paths: dict[str, Path], seed: int, keeps: list[float], res: str
            ) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / case
        shutil.copytree(paths["known"], data)
        for how, recipe, keep in itertools.product(("rule alone", "unknown folder"), RECIPES,
                                                   keeps):
            if how == "unknown folder" and not (data / "unknown").is_dir():
                shutil.copytree(paths["unknown"], data / "unknown")
            out = MODELS_DIR / f"unknown-{case}-{seed}.onnx"
            log(f"{case} seed {seed}: {how}, {recipe}, keep {keep} ...")
            m = train(data, out, ["-r", res, "--seed", str(seed), "--keep", str(keep),
                                  *RECIPES[recipe]], Path(tmp) / "cache")
            known = answers(out, paths["heldout"] / "*" / "*.png")
            never = answers(out, paths["never"] / "*.png")
            rows.append({
                "data": case, "seed": seed, "how": how, "recipe": recipe, "keep": keep,
                "resolution": int(res),
                "threshold": m["rejection"]["threshold"],
                "val_known_kept": m["rejection"]["known_kept"],
                "val_unknown_rejected": m["rejection"]["unknown_rejected"],
                "heldout_known": len(known), "never_seen": len(never),
                "top1": sum(Path(r["source"]).parent.name == r["top"][0]["label"]
                            for r in known) / len(known),
                "kept": sum(Path(r["source"]).parent.name == r["label"]
                            for r in known) / len(known),
                "never_unknown": sum(r["label"] == "unknown" for r in never) / len(never),
            })
            log(f"  kept {rows[-1]['kept']:.1%}, never seen -> unknown "
                f"{rows[-1]['never_unknown']:.1%}")
    return rows


def table(rows: list[dict]) -> list[str]:
    def ms(values: list[float]) -> str:
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.mean(values):.1%} ± {sd:.1%}"

    lines = ["| data set | how | recipe | keep | seeds | held-out known / never seen | "
             "top-1 (no rule) | kept on their right label | never seen -> unknown | "
             "threshold (mean) |",
             "| --- | --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |"]
    groups = dict.fromkeys((r["data"], r["how"], r["recipe"], r["keep"]) for r in rows)
    for case, how, recipe, keep in groups:
        rs = [r for r in rows if (r["data"], r["how"], r["recipe"], r["keep"])
              == (case, how, recipe, keep)]
        lines.append(
            f"| {case} | {how} | {recipe} | {keep:g} | {len(rs)} | {rs[0]['heldout_known']} / "
            f"{rs[0]['never_seen']} | {ms([r['top1'] for r in rs])} | "
            f"{ms([r['kept'] for r in rs])} | {ms([r['never_unknown'] for r in rs])} | "
            f"{statistics.mean(r['threshold'] for r in rs):.3f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--keeps", default="0.95,0.9")
    args = parser.parse_args()
    keeps = [float(k) for k in args.keeps.split(",")]
    MODELS_DIR.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        rows += measure("digits", digits_case(seed), seed, keeps, "128")
        rows += measure("faces", faces_case(seed), seed, keeps, "224")
    lines = table(rows)
    result = {"machine": machine(threads=len(os.sched_getaffinity(0)), with_torch=False),
              "keeps": keeps, "rows": rows, "table": lines}
    write_json(RESULTS_DIR / "unknown.json", result)
    md = "\n".join(lines) + "\n"
    (RESULTS_DIR / "unknown.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
