"""INT8 (QDQ, ``edgecam quantize``'s path) of MobileNetV3-Large/Small and MobileNetV4-Conv-S/M
against FP32 on the calibration photos: top-1 agreement, top-5 overlap, the logits' error, and
the speed of both side by side (interleaved, medians), at 1 and 2 threads.

Weights: the ImageNet checkpoint where it is at hand (EfficientNet-Lite0 ships offline and is
the yardstick of the method); a MobileNetV3/V4 checkpoint is used when it is in the Hugging Face
cache, else timm's random-weight snapshot from ``../shared/reference`` (timm's own init, random
BatchNorm statistics) and, failing that, edgecam's random init. With random weights the
agreement says how the graph quantizes numerically (hard-swish and the SE gates against plain
ReLU convolutions), not how an ImageNet model's answers survive INT8: the table says which
weights each row had.

    python benchmarks/int8_agreement.py            # ~3 min on a 2-core x86
    python benchmarks/int8_agreement.py --rounds 40 --archs mobilenet_v4_conv_small

Writes ``benchmarks/results/int8_agreement.{json,md}``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import MODELS_DIR, RESULTS_DIR, ROOT, log, machine, write_json  # noqa: E402

ARCHS = ("efficientnet_lite0", "mobilenet_v3_large", "mobilenet_v3_small",
         "mobilenet_v4_conv_small", "mobilenet_v4_conv_medium")
SNAPSHOTS = {"mobilenet_v3_large": "timm_mobilenetv3_large_100",
             "mobilenet_v3_small": "timm_mobilenetv3_small_100",
             "mobilenet_v4_conv_small": "timm_mobilenetv4_conv_small",
             "mobilenet_v4_conv_medium": "timm_mobilenetv4_conv_medium"}
REFERENCE = ROOT.parent / "shared" / "reference"
PHOTOS = ROOT / "calibration" / "images"


def weights_for(arch: str) -> tuple[str, str]:
    """(weights argument of export_model, what to call them in the table)."""
    from edgecam.models.at_hand import weights_at_hand
    from edgecam.models.catalog import weight_source

    if weights_at_hand(weight_source(arch, 1.0)):
        return "imagenet", "ImageNet"
    snap = REFERENCE / f"{SNAPSHOTS.get(arch, '')}.safetensors"
    if arch in SNAPSHOTS and snap.is_file():
        return str(snap), "random (timm snapshot)"
    return "random", "random (edgecam init)"


def logit_errors(fp32: Path, int8: Path, frames: list) -> dict:
    """How far INT8's logits are from FP32's over every photo: the largest difference
    against the largest logit, and the RMS difference against how much FP32's logits change
    from photo to photo (the part that decides the answer; random weights can put nearly all
    of a logit in a constant the photos do not move). And how many classes FP32 answers."""
    import numpy as np

    from edgecam.runtime.engine import Engine
    from edgecam.runtime.preprocess import Preprocessor

    a, b = Engine(fp32, 1), Engine(int8, 1)
    pre = Preprocessor(a.meta)
    la = np.concatenate([a.run(pre(f).copy()) for f in frames])
    lb = np.concatenate([b.run(pre(f).copy()) for f in frames])
    signal = np.sqrt(np.mean((la - la.mean(axis=0)) ** 2))
    return {"logit_error": round(float(np.abs(la - lb).max() / np.abs(la).max()), 4),
            "signal_error": round(float(np.sqrt(np.mean((la - lb) ** 2)) / signal), 4),
            "fp32_classes": int(len(set(la.argmax(axis=1).tolist())))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--archs", default=",".join(ARCHS))
    ap.add_argument("--rounds", type=int, default=30, help="timed frames per model and threads")
    ap.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = ap.parse_args()

    from edgecam.models.catalog import ARCHS as CATALOG
    from edgecam.models.export import export_model
    from edgecam.runtime.quantize import calibration_images, compare, load_frames, quantize_file

    frames = load_frames(calibration_images(PHOTOS))
    folder = MODELS_DIR / "int8"
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for arch in args.archs.split(","):
        res = CATALOG[arch].resolution
        weights, what = weights_for(arch)
        fp32 = folder / f"{arch}-{res}-{what.split()[0].lower()}.onnx"
        int8 = fp32.with_name(fp32.stem + "-int8.onnx")
        if not fp32.is_file():
            log(f"exporting {fp32.name} ({what})")
            export_model(arch, 1.0, res, weights=weights, output=fp32)
        log(f"quantizing {fp32.name} on {len(frames)} photos")
        quantize_file(fp32, frames, int8)
        row = {"arch": arch, "resolution": res, "weights": what}
        for threads in (1, 2):
            report = compare(fp32, int8, frames, threads, args.rounds)
            if threads == 1:
                row.update({k: report[k] for k in (
                    "images", "top1_agreement", "top1_agreement_ci95", "decisive_images",
                    "top1_agreement_decisive", "top5_overlap")})
            row[f"fp32_ms_{threads}t"] = report["fp32_ms"]
            row[f"int8_ms_{threads}t"] = report["int8_ms"]
        row.update(logit_errors(fp32, int8, frames))
        log(f"{arch}: agreement {row['top1_agreement']:.0%}, FP32 {row['fp32_ms_2t']} ms, "
            f"INT8 {row['int8_ms_2t']} ms (2 threads)")
        rows.append(row)

    info = machine(2)
    write_json(args.out / "int8_agreement.json", {"machine": info, "rows": rows})
    lines = [
        "# INT8 against FP32: MobileNetV3/V4 (and Lite0 as the yardstick)", "",
        f"`edgecam quantize`'s path (QDQ, per-channel, MinMax) calibrated on the "
        f"{len(frames)} calibration photos and judged on the same photos; pipeline ms "
        "(preprocess + infer + postprocess), FP32 and INT8 interleaved frame by frame, medians "
        f"of {args.rounds}. {info['cpu']}, onnxruntime {info['onnxruntime']}, "
        f"{info['date']}, load average at start {info['loadavg_start'][0]}.", "",
        "| model | rho | weights | FP32 answers (classes) | top-1 agreement (95% CI) | "
        "decisive: agreement (n) | top-5 overlap | max logit error | error / photo-to-photo "
        "spread | FP32 / INT8 ms, 1 thread | FP32 / INT8 ms, 2 threads |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lo, hi = r["top1_agreement_ci95"]
        dec = (f"{r['top1_agreement_decisive']:.0%} ({r['decisive_images']})"
               if r["top1_agreement_decisive"] is not None else f"- ({r['decisive_images']})")
        lines.append(
            f"| {arch_title(r['arch'])} | {r['resolution']} | {r['weights']} | "
            f"{r['fp32_classes']} | {r['top1_agreement']:.0%} ({lo:.0%}-{hi:.0%}) | {dec} | "
            f"{r['top5_overlap']:.0%} | {r['logit_error']:.3f} | {r['signal_error']:.2f} | "
            f"{r['fp32_ms_1t']:.1f} / {r['int8_ms_1t']:.1f} | "
            f"{r['fp32_ms_2t']:.1f} / {r['int8_ms_2t']:.1f} |")
    lines += ["", "FP32 answers: how many different classes FP32 gives the photos (random "
              "weights often answer one or two classes for everything, which makes agreement "
              "trivial). Decisive: photos where FP32's top-1 leads its runner-up by at least "
              "0.05 in probability. Max logit error: max |INT8 - FP32| / max |FP32| over all "
              "photos. Error / photo-to-photo spread: RMS(INT8 - FP32) over the RMS of FP32's "
              "logits around their mean over the photos (below 1: INT8 keeps most of what tells "
              "photos apart). Random weights measure the graph's numerics, not an ImageNet "
              "model's answers."]
    (args.out / "int8_agreement.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def arch_title(arch: str) -> str:
    from edgecam.models.catalog import ARCHS as CATALOG

    return CATALOG[arch].description.split(":")[0]


if __name__ == "__main__":
    main()
