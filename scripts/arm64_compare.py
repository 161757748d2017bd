"""The host side of scripts/arm64-check: make the clip and the model both architectures
classify, then compare their JSON lines.

    arm64_compare.py make OUTDIR          clip.mkv (the labelled calibration photos, 640x480,
                                          FFV1) and model.onnx (EfficientNet-Lite0, ImageNet)
    arm64_compare.py compare HOST ARM     exit 0 when they match; the last line is the summary

A match: every frame present on both, the same top-1 except where the two best scores are
within TOL (a near-tie may flip under any rounding), and the k-th best score within TOL at
every rank.

The clip is lossless (FFV1): FFmpeg's mp4v decoder is not bit-exact across architectures (up
to 3 grey levels apart on 85% of the pixels here, which moved Lite0's scores by up to 3e-2),
and this check is about edgecam's runtime, not about a codec's IDCT.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TOL = 1e-3
ROOT = Path(__file__).resolve().parents[1]


def make(out: Path, per_photo: int = 2) -> None:
    import cv2

    from edgecam.commands.democlip import cover
    from edgecam.models.export import export_model

    out.mkdir(parents=True, exist_ok=True)
    labels = json.loads((ROOT / "calibration" / "labels.json").read_text())
    writer = cv2.VideoWriter(str(out / "clip.mkv"), cv2.VideoWriter_fourcc(*"FFV1"), 4.0,
                             (640, 480))
    for name in sorted(labels):
        image = cv2.imread(str(ROOT / "calibration" / "images" / name))
        for i in range(per_photo):
            writer.write(cover(image, (640, 480), 1.0 + 0.15 * i / max(1, per_photo - 1)))
    writer.release()
    export_model("efficientnet_lite0", 1.0, 224, weights="imagenet", output=out / "model.onnx")


def load(path: Path) -> dict[tuple[str, int], list[dict]]:
    records = {}
    for line in path.read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            records[(Path(r["source"]).name, r["frame"])] = r["top"]
    return records


def compare(host_file: Path, arm_file: Path) -> int:
    host, arm = load(host_file), load(arm_file)
    problems: list[str] = []
    if set(host) != set(arm):
        missing = sorted(set(host) ^ set(arm))[:5]
        problems.append(f"frames differ: {len(host)} on the host, {len(arm)} on arm64 "
                        f"(first differences: {missing})")
    worst, same, ties = 0.0, 0, 0
    for key in sorted(set(host) & set(arm)):
        h, a = host[key], arm[key]
        diff = max((abs(x["score"] - y["score"]) for x, y in zip(h, a)), default=0.0)
        worst = max(worst, diff)
        if diff > TOL:
            problems.append(f"frame {key[1]}: scores differ by {diff:.2e} > {TOL:g}")
        if h[0]["index"] == a[0]["index"]:
            same += 1
        elif len(h) > 1 and h[0]["score"] - h[1]["score"] <= TOL:
            ties += 1
        else:
            problems.append(f"frame {key[1]}: top-1 {h[0]['label']!r} ({h[0]['score']:.4f}) on "
                            f"the host, {a[0]['label']!r} ({a[0]['score']:.4f}) on arm64")
    for p in problems[:20]:
        print(p)
    frames = len(set(host) & set(arm))
    verdict = "match" if not problems and frames else "MISMATCH"
    print(f"{verdict}: {frames} frames, top-1 identical on {same}"
          + (f" (+{ties} near-ties)" if ties else "")
          + f", max |score difference| {worst:.1e} (bound {TOL:g})")
    return 0 if verdict == "match" else 1


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "make":
        make(Path(argv[1]))
        return 0
    if len(argv) == 3 and argv[0] == "compare":
        return compare(Path(argv[1]), Path(argv[2]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
