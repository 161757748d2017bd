"""The centre-crop ratio at small sizes, measured: is a tighter crop than the checkpoints' 0.875
better below the native size, on ImageNet pictures and on camera-like framing?

For EfficientNet-Lite0 (ImageNet weights) at each size ``tune`` considers and each crop ratio,
the FP32 file exported by ``benchmarks/offsize_accuracy.py`` is copied with only its
metadata's ``crop_pct`` changed, and ``edgecam classify`` runs it over:

- the labelled ImageNet sample of ``offsize_accuracy.py`` (see its docstring for where it comes
  from; never shipped), split into two disjoint halves (pictures in file-name order, even and
  odd positions). A crop is adopted for a size only when the crop chosen on one half beats
  0.875 on the other half, both ways round;
- ``calibration/images``: the photos with known subjects in ``calibration/labels.json`` (top-1
  counted right when it is one of the accepted classes), and every photo there by its agreement
  with Lite0 224 at the checkpoints' crop (most have no ImageNet class);
- the demo clip (``edgecam demo``'s: a slow zoom on each of those photos, camera-like
  framing), every frame scored like ``edgecam demo`` scores it.

    python benchmarks/offsize_accuracy.py --family efficientnet_lite0 --precision fp32
    python benchmarks/crop_small_sizes.py      # ~4 min on a 2-core x86

Writes ``benchmarks/results/crop_small_sizes.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import CACHE_DIR, MODELS_DIR, RESULTS_DIR, ROOT, log, machine, write_json  # noqa: E402
from offsize_accuracy import SAMPLE, pictures, wnid_classes  # noqa: E402

ARCH = "efficientnet_lite0"
SIZES = (96, 128, 160, 192, 224)
CROPS = (0.55, 0.65, 0.75, 0.875, 1.0)
BASE = 0.875
WORK = CACHE_DIR / "crop"


def variant(res: int, crop: float) -> Path:
    """The exported FP32 file at ``res`` with ``crop_pct`` = ``crop`` in its metadata."""
    from edgecam.models.metadata import write_metadata
    from edgecam.runtime.engine import Engine

    src = MODELS_DIR / "offsize" / f"{ARCH}-1.0-{res}.onnx"
    if not src.is_file():
        raise SystemExit(f"{src} missing: run benchmarks/offsize_accuracy.py first")
    out = WORK / f"{ARCH}-1.0-{res}-crop{crop:g}.onnx"
    if not out.is_file():
        WORK.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, out)
        meta = Engine(out, 1).meta
        write_metadata(out, type(meta)(**{**meta.__dict__, "crop_pct": crop}))
    return out


def first_labels(model: Path, inputs: list[str], tag: str) -> list[tuple[str, int]]:
    jsonl = WORK / f"{model.stem}-{tag}.jsonl"
    if not jsonl.is_file():  # a variant's file never changes: its results are kept
        _classify(model, inputs, jsonl)
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    return [(Path(r["source"]).name, r["top"][0]["index"] if r["top"] else -1) for r in rows]


def _classify(model: Path, inputs: list[str], jsonl: Path) -> None:
    tmp = jsonl.with_suffix(".tmp")
    subprocess.run([sys.executable, "-m", "edgecam", "classify", *inputs, "--model", str(model),
                    "--json-out", str(tmp), "--top-k", "1"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    tmp.replace(jsonl)


def main() -> None:
    from edgecam.commands.demo import load_accepted
    from edgecam.commands.democlip import make_clip, photos_in

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sample", type=Path, default=SAMPLE)
    args = ap.parse_args()
    truth = pictures(args.sample, wnid_classes(args.sample))
    names = sorted(truth)
    halves = {"A": set(names[0::2]), "B": set(names[1::2])}
    photos_dir = ROOT / "calibration" / "images"
    accepted = load_accepted(ROOT / "calibration" / "labels.json")
    every_photo = photos_in(photos_dir)
    photos = [p for p in every_photo if p.name in accepted]
    WORK.mkdir(parents=True, exist_ok=True)
    clip = WORK / "demo-clip.mp4"
    segments = make_clip(photos, clip)  # the same clip every run (its results are kept)
    frame_photo = {i: s.photo for s in segments for i in range(s.first, s.last + 1)}

    def score(pairs, right) -> tuple[int, int]:
        ok = [right(n, i) for n, i in pairs]
        return sum(ok), len(ok)

    rows = []
    picks: dict[tuple[int, float], dict[str, int]] = {}
    for res in SIZES:
        for crop in CROPS:
            model = variant(res, crop)
            sample = dict(first_labels(model, [str(args.sample)], "sample"))
            row = {"resolution": res, "crop": crop}
            for half, members in halves.items():
                hits = sum(sample[n] == truth[n] for n in members)
                row[f"half_{half}"] = round(100 * hits / len(members), 1)
            row["sample"] = round(100 * sum(sample[n] == truth[n] for n in names) / len(names), 1)
            got = first_labels(model, [str(p) for p in every_photo], "photos")
            h, n = score([g for g in got if g[0] in accepted],
                         lambda name, i: i in accepted[name])
            row["photos"], row["photos_n"] = round(100 * h / n, 1), n
            picks[res, crop] = dict(got)
            clip_rows = [json.loads(line) for line in _clip_run(model, clip)]
            right = [r["top"][0]["index"] in accepted[Path(frame_photo[r["frame"]]).name]
                     for r in clip_rows if r["top"] and r["frame"] in frame_photo]
            row["clip"], row["clip_n"] = round(100 * sum(right) / len(right), 1), len(right)
            log(f"{res} crop {crop}: {row}")
            rows.append(row)
    # every calibration photo (most have no ImageNet class): agreement with what the native
    # size at the checkpoint's crop says, the framing the photos were taken with
    ref = picks[max(SIZES), BASE]
    for row in rows:
        got = picks[row["resolution"], row["crop"]]
        row["photos_agree"] = round(100 * sum(got[n] == ref[n] for n in ref) / len(ref), 1)
        row["photos_agree_n"] = len(ref)
    decisions = decide(rows)
    result = {"benchmark": "crop_small_sizes", "arch": ARCH, "sample_pictures": len(names),
              "halves": {k: len(v) for k, v in halves.items()}, "machine": machine(0),
              "rows": rows, "decisions": decisions}
    out = RESULTS_DIR / "crop_small_sizes"
    write_json(out.with_suffix(".json"), result)
    out.with_suffix(".md").write_text(render(result))
    print(render(result))


def _clip_run(model: Path, clip: Path) -> list[str]:
    jsonl = WORK / f"{model.stem}-clip.jsonl"
    if not jsonl.is_file():
        _classify(model, [str(clip)], jsonl)
    return jsonl.read_text().splitlines()


def decide(rows: list[dict]) -> list[dict]:
    """Per size: the crop chosen on each half, judged on the other; adopted only when both
    beat 0.875 on their held-out half and neither the photos nor the clip get worse."""
    out = []
    for res in sorted({r["resolution"] for r in rows}):
        at = {r["crop"]: r for r in rows if r["resolution"] == res}
        base = at[BASE]
        best_a = max(at, key=lambda c: (at[c]["half_A"], c == BASE))
        best_b = max(at, key=lambda c: (at[c]["half_B"], c == BASE))
        holds = (best_a != BASE and at[best_a]["half_B"] > base["half_B"]
                 and best_b != BASE and at[best_b]["half_A"] > base["half_A"])
        crop = best_a if holds and best_a == best_b else None
        camera_ok = crop is not None and (at[crop]["photos"] >= base["photos"]
                                          and at[crop]["photos_agree"] >= base["photos_agree"]
                                          and at[crop]["clip"] >= base["clip"])
        out.append({"resolution": res, "chosen_on_A": best_a, "chosen_on_B": best_b,
                    "A_choice_on_B": at[best_a]["half_B"], "B_choice_on_A": at[best_b]["half_A"],
                    "base_A": base["half_A"], "base_B": base["half_B"],
                    "holds_on_both_halves": holds, "same_crop": best_a == best_b,
                    "camera_ok": camera_ok, "adopt": crop if camera_ok else None})
    return out


def render(result: dict) -> str:
    lines = ["# Centre crop at small sizes (EfficientNet-Lite0, FP32)", "",
             f"Top-1 % of `edgecam classify` on the ImageNet sample's halves A/B "
             f"({result['halves']['A']}/{result['halves']['B']} pictures), on the "
             "calibration photos with known subjects and on the demo clip's frames. "
             f"Date {result['machine']['date']}.", "",
             "| size | crop | half A | half B | whole sample | labelled photos | all photos: "
             "agree with 224 | demo clip |",
             "|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['resolution']} | {r['crop']} | {r['half_A']} | {r['half_B']} | "
                     f"{r['sample']} | {r['photos']} (n={r['photos_n']}) | "
                     f"{r['photos_agree']} (n={r['photos_agree_n']}) | "
                     f"{r['clip']} (n={r['clip_n']}) |")
    lines += ["", "| size | best on A -> its B | best on B -> its A | 0.875 A / B | holds on "
              "both halves | photos and clip not worse | adopted |",
              "|---|---|---|---|---|---|---|"]
    for d in result["decisions"]:
        lines.append(f"| {d['resolution']} | {d['chosen_on_A']} -> {d['A_choice_on_B']} | "
                     f"{d['chosen_on_B']} -> {d['B_choice_on_A']} | {d['base_A']} / "
                     f"{d['base_B']} | {d['holds_on_both_halves']} | {d['camera_ok']} | "
                     f"{d['adopt'] or 'no'} |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
