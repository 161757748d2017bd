#!/usr/bin/env python3
"""Write calibration/images/*.jpg from the public-domain / CC photos shipped in scikit-image and
scikit-learn, so the repo's INT8 calibration set and the labelled demo photos can be rebuilt.

    python scripts/make_calibration_images.py            # (re)write the images
    python scripts/make_calibration_images.py --predict MODEL.onnx   # top-1 per labelled photo

Photos keep their native size (nothing is upscaled); derived images are flips and crops at the
original resolution. Arrays from the packages are RGB and are swapped to BGR for OpenCV.
``--predict`` also checks each labelled photo as a 640x480 "cover" frame zoomed from 1.0 to
1.15, exactly as the demo clip makes them, and reports the share of correct frames.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "calibration" / "images"
LABELS = ROOT / "calibration" / "labels.json"
QUALITY = 95


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import skimage.data

        if name == "stereo_motorcycle":
            return skimage.data.stereo_motorcycle()[0]
        return getattr(skimage.data, name)()

    return load


def _sklearn(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_image

        return load_sample_image(name)

    return load


def _rgb(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        return np.repeat(img[:, :, None], 3, axis=2)
    return img[:, :, :3]


def _crop(x: int, y: int, w: int, h: int) -> Callable[[np.ndarray], np.ndarray]:
    return lambda img: img[y:y + h, x:x + w]


def _hflip(img: np.ndarray) -> np.ndarray:
    return img[:, ::-1]


def _half(img: np.ndarray) -> np.ndarray:
    """Half size (for a large scan), by area averaging."""
    return cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2), interpolation=cv2.INTER_AREA)


# file name -> (loader returning RGB or gray uint8, transform or None)
IMAGES: dict[str, tuple[Callable[[], np.ndarray], Callable[[np.ndarray], np.ndarray] | None]] = {
    "chelsea.jpg": (_skimage("chelsea"), None),
    "coffee.jpg": (_skimage("coffee"), None),
    "rocket.jpg": (_skimage("rocket"), None),
    "astronaut.jpg": (_skimage("astronaut"), None),
    "motorcycle.jpg": (_skimage("stereo_motorcycle"), None),
    "camera.jpg": (_skimage("camera"), None),
    "clock.jpg": (_skimage("clock"), None),
    "coins.jpg": (_skimage("coins"), None),
    "hubble_deep_field.jpg": (_skimage("hubble_deep_field"), None),
    "china.jpg": (_sklearn("china.jpg"), None),
    "flower.jpg": (_sklearn("flower.jpg"), None),
    "chelsea_flip.jpg": (_skimage("chelsea"), _hflip),
    "coffee_crop.jpg": (_skimage("coffee"), _crop(120, 0, 400, 400)),
    "rocket_crop.jpg": (_skimage("rocket"), _crop(160, 0, 320, 427)),
    "motorcycle_flip.jpg": (_skimage("stereo_motorcycle"), _hflip),
    "china_crop.jpg": (_sklearn("china.jpg"), _crop(0, 0, 320, 427)),
    "flower_crop.jpg": (_sklearn("flower.jpg"), _crop(160, 0, 320, 320)),
    # more scenes and views, so INT8 calibration and the FP32/INT8 agreement rest on more
    # than a dozen pictures
    "retina.jpg": (_skimage("retina"), _half),
    "immunohistochemistry.jpg": (_skimage("immunohistochemistry"), None),
    "moon.jpg": (_skimage("moon"), None),
    "page.jpg": (_skimage("page"), None),
    "grass.jpg": (_skimage("grass"), None),
    "gravel.jpg": (_skimage("gravel"), None),
    "brick.jpg": (_skimage("brick"), None),
    "chelsea_face.jpg": (_skimage("chelsea"), _crop(100, 0, 260, 220)),
    "astronaut_face.jpg": (_skimage("astronaut"), _crop(140, 20, 220, 220)),
    "astronaut_flip.jpg": (_skimage("astronaut"), _hflip),
    "coffee_flip.jpg": (_skimage("coffee"), _hflip),
    "rocket_flip.jpg": (_skimage("rocket"), _hflip),
    "china_flip.jpg": (_sklearn("china.jpg"), _hflip),
    "china_right.jpg": (_sklearn("china.jpg"), _crop(320, 0, 320, 427)),
    "flower_flip.jpg": (_sklearn("flower.jpg"), _hflip),
    "camera_crop.jpg": (_skimage("camera"), _crop(100, 30, 300, 300)),
    "camera_flip.jpg": (_skimage("camera"), _hflip),
    "motorcycle_crop.jpg": (_skimage("stereo_motorcycle"), _crop(0, 100, 360, 300)),
    "clock_flip.jpg": (_skimage("clock"), _hflip),
}


def build(out: Path = OUT) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (load, transform) in IMAGES.items():
        img = _rgb(load())
        if transform is not None:
            img = transform(img)
        bgr = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2BGR)
        ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, QUALITY])
        if not ok:
            raise SystemExit(f"cannot encode {name}")
        path = out / name
        path.write_bytes(data.tobytes())
        written.append(path)
        print(f"{name:24s} {bgr.shape[1]}x{bgr.shape[0]}  {len(data) / 1024:.0f} kB")
    total = sum(p.stat().st_size for p in written)
    print(f"{len(written)} images, {total / 2**20:.2f} MiB in {out}")
    return written


def predict(model: Path, out: Path = OUT) -> None:
    from edgecam.commands.democlip import cover
    from edgecam.runtime.engine import Engine
    from edgecam.runtime.postprocess import Postprocessor
    from edgecam.runtime.preprocess import Preprocessor

    engine = Engine(model)
    pre = Preprocessor(engine.meta)
    post = Postprocessor(engine.meta.labels, top_k=1)
    labels = json.loads(LABELS.read_text())

    def top1(frame: np.ndarray):
        return post(engine.run(pre(frame)))[0]

    print(f"{'photo':22s} {'full photo':32s} {'640x480 cover':32s} zoom 1.0-1.15 ok")
    for name, entry in labels.items():
        bgr = cv2.imread(str(out / name))
        accept = set(entry["accept"])
        full, cov = top1(bgr), top1(cover(bgr, (640, 480)))
        frames = [top1(cover(bgr, (640, 480), 1.0 + 0.15 * i / 29)) for i in range(30)]
        good = sum(p.index in accept for p in frames)
        print(f"{name:22s} {full.label + f' {full.score:.2f}':32s} "
              f"{cov.label + f' {cov.score:.2f}':32s} {good}/30")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--predict", type=Path, metavar="MODEL",
                        help="print each labelled photo's top-1 with this ONNX model")
    args = parser.parse_args(argv)
    if args.predict:
        predict(args.predict, args.out)
    else:
        build(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
