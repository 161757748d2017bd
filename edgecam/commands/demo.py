"""``edgecam demo``: the main job on built-in material — a clip made from the calibration photos
classified by the default pretrained model, with an annotated video, JSON lines and a
per-photo score against the photos' known labels."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from edgecam.commands.classify import ClassifyOptions, ClassifySummary, classify_inputs
from edgecam.commands.democlip import Segment, make_clip, photos_in
from edgecam.commands.options import DemoOptions
from edgecam.util.errors import EdgecamError
from edgecam.util.paths import working_dir

PHOTOS = Path("calibration") / "images"


@dataclass
class PhotoScore:
    photo: str
    frames: int
    top1: str  # the most frequent top-1 label
    accepted: float | None  # share of frames whose top-1 is an accepted class (None: unlabeled)


@dataclass
class DemoReport:
    clip: Path
    output: Path
    json_out: Path
    summary: ClassifySummary
    photos: list[PhotoScore] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Each photo's frames and answer, then the run."""
        out = [f"{'photo':<24} {'frames':>6}  {'top-1 (most frames)':<28} accepted"]
        for p in self.photos:
            share = f"{p.accepted * 100:5.1f}%" if p.accepted is not None else "     -"
            out.append(f"{p.photo:<24} {p.frames:>6}  {p.top1[:28]:<28} {share}")
        s = self.summary
        out.append("accepted: the share of the photo's frames whose top-1 is one of the ImageNet "
                   "classes that fit it (calibration/labels.json: a tabby is also a 'tiger cat')")
        out.append(f"\n{s.frames} frames with {s.model} in {s.seconds:.1f} s ({s.fps:.1f} FPS)\n"
                   f"annotated video: {self.output}\nJSON lines:      {self.json_out}")
        return out


def load_accepted(labels_file: Path) -> dict[str, set[int]]:
    """``calibration/labels.json``: photo name -> accepted ImageNet indices."""
    if not labels_file.is_file():
        return {}
    data = json.loads(labels_file.read_text())
    return {name: {int(i) for i in entry.get("accept", [])} for name, entry in data.items()}


def score_segments(records: list[dict], segments: list[Segment],
                   accepted: dict[str, set[int]]) -> list[PhotoScore]:
    """Per photo: its frames' top-1 labels, and the share that is an accepted class."""
    by_frame = {r["frame"]: r["top"] for r in records}
    scores = []
    for seg in segments:
        tops = [by_frame[i][0] for i in range(seg.first, seg.last + 1) if by_frame.get(i)]
        counts = Counter(t["label"] for t in tops)
        ok = accepted.get(Path(seg.photo).name)
        share = (sum(t["index"] in ok for t in tops) / len(tops)) if ok and tops else None
        scores.append(PhotoScore(Path(seg.photo).name, len(tops),
                                 counts.most_common(1)[0][0] if counts else "", share))
    return scores


def find_photos(photos_dir: Path | None = None) -> Path:
    """The demo photos: the directory given, else ``calibration/images`` here, else the one
    in the clone edgecam runs from, so ``edgecam demo`` works from any directory."""
    if photos_dir is not None:
        if not Path(photos_dir).is_dir():
            raise EdgecamError(f"--photos {photos_dir}: no such directory")
        return Path(photos_dir)
    photos = working_dir(PHOTOS)
    if photos.is_dir():
        return photos
    raise EdgecamError(f"no demo photos: {PHOTOS} is neither here nor in a clone of edgecam; "
                       "give a directory of photos with --photos")


def run_demo(opts: DemoOptions, progress: bool | None = None) -> DemoReport:
    """The clip shows the photos with known subjects (``labels.json`` beside the photo
    directory) so every second of it is scored; without labels, every photo."""
    photos_dir, out_dir = find_photos(opts.photos), opts.out
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EdgecamError(f"cannot write {out_dir}: {exc.strerror or exc}") from None
    clip = out_dir / "demo.mp4"
    accepted = load_accepted(photos_dir.parent / "labels.json")
    photos = photos_in(photos_dir)
    segments = make_clip([p for p in photos if p.name in accepted] or photos, clip)
    output, json_out = out_dir / "demo.labeled.mp4", out_dir / "demo.jsonl"
    summary = classify_inputs(ClassifyOptions(
        inputs=[str(clip)], model=opts.model, output=str(output), json_out=str(json_out),
        threads=opts.threads, progress=progress))
    records = [json.loads(line) for line in json_out.read_text().splitlines()]
    return DemoReport(clip, output, json_out, summary,
                      score_segments(records, segments, accepted))
