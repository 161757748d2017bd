"""A choice no better than chance on the user's own pictures: tune says so loudly and keeps it
out of the profile ``live --profile`` would run.

Chance is what the best constant answer scores on ``--data``: the share of its largest folder
(``LabelledData.chance``; unknown/ included, as always answering "unknown" scores its share).
A model measured at or below that has not learned to tell the pictures apart (a whole-frame
model of a gate that fills a corner of the picture measured 0.0% on a user's "closed" frames),
and a profile would make it the model ``live --profile`` runs without a word. One folder has no
chance level (a constant answer is always right), so it is not judged.
"""

from __future__ import annotations

from edgecam.tune.search import TuneResult


def no_better_than_chance(result: TuneResult) -> bool:
    """True when the choice was measured on --data of two folders or more at or below
    chance."""
    c, data = result.chosen, result.data
    if c is None or data is None or c.measured_top1 is None:
        return False
    folders = data["classes"] + (1 if data.get("unknown_pictures") else 0)
    chance = data.get("chance")
    return chance is not None and folders >= 2 and c.measured_top1 <= chance


def chance_warning(result: TuneResult, saving: bool) -> str:
    """The warning (``saving``: a profile was asked for and is not written) for a choice
    ``no_better_than_chance``."""
    c, data = result.chosen, result.data
    assert c is not None and data is not None  # no_better_than_chance said so
    pictures = data["pictures"] + data.get("unknown_pictures", 0)
    figure = "answered right" if data.get("unknown_pictures") else "top-1"
    than = "at" if c.measured_top1 == data["chance"] else "below"
    kept = " The profile was not saved." if saving else ""
    return (f"warning: the chosen model {c.name} measured {c.measured_top1:.1f}% {figure} on "
            f"the {pictures} pictures of --data {data['dir']}, {than} chance "
            f"({data['chance']:.1f}%: always answering {data['largest_folder']!r}, its largest "
            f"folder, scores that): it does not tell these pictures apart.{kept} Collect more "
            "and more varied pictures of each class, capture and train on the part of the frame "
            "that matters (--region), or check that each folder holds its label's pictures.")


def not_saved_line(result: TuneResult) -> str:
    """The profile line of a run whose choice is ``no_better_than_chance``."""
    c, data = result.chosen, result.data
    assert c is not None and data is not None  # no_better_than_chance said so
    return (f"profile: not saved: {c.name} measured {c.measured_top1:.1f}% on --data, no "
            f"better than chance ({data['chance']:.1f}%)")
