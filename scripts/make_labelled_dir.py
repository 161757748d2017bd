"""Make a labelled folder for ``edgecam tune --data`` from the calibration photos: one folder
per subject named by its first acceptable ImageNet class (calibration/labels.json), holding the
photo and its crops/flips.

    .venv/bin/python scripts/make_labelled_dir.py out/val
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from edgecam.models.labels import imagenet_labels

ROOT = Path(__file__).resolve().parents[1]


def main(out: Path) -> None:
    labels = json.loads((ROOT / "calibration" / "labels.json").read_text())
    names = imagenet_labels()
    count = 0
    for photo, info in labels.items():
        folder = out / names[info["accept"][0]]
        folder.mkdir(parents=True, exist_ok=True)
        for src in sorted((ROOT / "calibration" / "images").glob(f"{photo.rsplit('.', 1)[0]}*")):
            shutil.copy(src, folder / src.name)
            count += 1
    print(f"{count} photos in {len(labels)} class folders under {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "out/val"))
