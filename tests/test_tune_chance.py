"""Issue 30, item 5: `tune --data` warns loudly and saves no profile when the model it chose
measured no better than chance on the user's pictures (a user's tune chose and saved a model
that measured 0.0% on their own pictures without a word)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from edgecam.models.catalog import ModelConfig
from edgecam.tune.accuracy import LabelledData
from edgecam.tune.chance import no_better_than_chance
from edgecam.tune.search import TuneResult
from edgecam.tune.space import Candidate, Prior

from conftest import run_cli
from tiny_models import tiny_classifier


def _gate_pictures(root: Path, counts: dict[str, int]) -> Path:
    """A fixed camera on a real photo (scikit-image's astronaut) with a small gate in a corner
    whose colour is the class: the whole picture hardly changes with the class."""
    from skimage.data import astronaut

    photo = cv2.resize(cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR), (80, 60))
    gates = {"closed": (0, 0, 200), "open": (0, 200, 0), "unknown": (200, 200, 200)}
    for label, n in counts.items():
        (root / label).mkdir(parents=True)
        for i in range(n):
            picture = photo.copy()
            picture[40:54, 60:76] = gates[label]
            cv2.imwrite(str(root / label / f"{i}.png"), np.roll(picture, i, axis=1))
    return root


def test_chance_is_the_share_of_the_largest_folder_unknown_included(tmp_path: Path) -> None:
    data = LabelledData.load(_gate_pictures(tmp_path / "a", {"closed": 5, "open": 2}))
    assert data.chance == (71.43, "closed")  # always "closed": 5 of 7, not 1/2
    data = LabelledData.load(_gate_pictures(tmp_path / "b", {"closed": 3, "open": 2,
                                                             "unknown": 6}))
    assert data.chance == (54.55, "unknown")  # always "unknown": 6 of 11 answered right


def _result(top1: float, classes: int = 2, unknown: int = 0, chance: float = 66.67
            ) -> TuneResult:
    c = Candidate(ModelConfig("efficientnet_lite0", 1.0, 128, "fp32"),
                  1, 10**8, None, Prior(None, None),
                  name="gate-128", passes=[30.0], measured_top1=top1)
    data = {"dir": "yard", "pictures": 9, "classes": classes, "unknown_pictures": unknown,
            "chance": chance, "largest_folder": "closed"}
    return TuneResult(20, 0.05, "imagenet", [c], c, c, [c], 5.0, 90.0, data=data)


def test_at_or_below_chance_is_refused_above_is_not() -> None:
    assert no_better_than_chance(_result(66.67))
    assert no_better_than_chance(_result(0.0))
    assert not no_better_than_chance(_result(77.78))
    # one folder has no chance level (always its label is always right): not judged
    assert not no_better_than_chance(_result(100.0, classes=1, chance=100.0))
    # one class and unknown/ are two folders
    assert no_better_than_chance(_result(60.0, classes=1, unknown=6, chance=60.0))
    assert not no_better_than_chance(TuneResult(20, 0.05, "imagenet", [], None, None, [], 5.0,
                                                 90.0, data={"classes": 2, "chance": 50.0}))


def test_tune_warns_and_saves_no_profile_for_a_choice_at_chance(tmp_path: Path) -> None:
    """A model that answers "closed" to every picture scores 66.7% on 6 closed and 3 open
    pictures: above 1/2, yet exactly what always answering "closed" scores."""
    data = _gate_pictures(tmp_path / "yard", {"closed": 6, "open": 3})
    tiny_classifier(tmp_path / "gate.onnx", 32, classes=2, labels=["closed", "open"], seed=0)
    out = tmp_path / "t.json"
    profiles = tmp_path / "profiles"
    proc = run_cli("tune", "--target-fps", "5", "--models", str(tmp_path / "gate.onnx"),
                   "--data", str(data), "--threads", "1", "--budget-s", "60", "--json-out",
                   str(out), env={"EDGECAM_PROFILES": str(profiles)}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert warnings == [
        f"edgecam: warning: the chosen model gate measured 66.7% top-1 on the 9 pictures of "
        f"--data {data}, at chance (66.7%: always answering 'closed', its largest folder, "
        "scores that): it does not tell these pictures apart. The profile was not saved. "
        "Collect more and more varied pictures of each class, capture and train on the part "
        "of the frame that matters (--region), or check that each folder holds its label's "
        "pictures."]
    assert "profile: not saved: gate measured 66.7% on --data, no better than chance (66.7%)" \
        in proc.stdout.splitlines()
    assert not profiles.exists() or not list(profiles.iterdir())
    result = json.loads(out.read_text())
    assert result["chosen"]["top1"] == 66.67  # what was measured is still reported
    assert result["data"]["chance"] == 66.67 and result["data"]["largest_folder"] == "closed"
    assert result["data"]["no_better_than_chance"] is True
