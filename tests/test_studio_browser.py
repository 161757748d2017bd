"""The studio in a real headless Chromium with real clicks: a running ``live`` on a clip whose
gate switches between red and blue; a region drawn with the mouse and named, pictures of both
looks captured from it (and a bad one deleted), one press of Train, and the page and
/stats.json switching to the new model while ``live`` goes on."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from browser import chromium
from conftest import HAS_TORCH, free_port, wait_for
from tiny_models import tiny_classifier

W, H, FPS = 160, 120, 15
GATE = (96, 64, 48, 40)  # x, y, w, h of the place that switches look
PHASE_S = 2.0  # each look lasts this long, then the other
TOKEN = "s3cret"
RED, BLUE = (0, 0, 220), (220, 0, 0)  # BGR


def make_clip(path: Path, seconds: float = 2 * PHASE_S) -> Path:
    """A clip (looped by live) whose gate is red for PHASE_S, then blue, with noise in it and
    a ball rolling elsewhere, so every capture is a real, slightly different picture."""
    rng = np.random.default_rng(0)
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (W, H))
    x, y, w, h = GATE
    for i in range(round(seconds * FPS)):
        img = np.full((H, W, 3), 90, np.uint8)
        cv2.circle(img, ((i * 5) % W, 30), 15, (0, 200, 0), -1)
        img[y:y + h, x:x + w] = RED if (i / FPS) % (2 * PHASE_S) < PHASE_S else BLUE
        img[y:y + h, x:x + w] += rng.integers(0, 25, (h, w, 3), dtype=np.uint8)
        out.write(img)
    out.release()
    return path


def look(image: np.ndarray) -> str:
    """Which look the gate shows in a picture of it (or a frame's middle of the gate)."""
    b, _, r = image.reshape(-1, 3).mean(0)
    return "red" if r > b else "blue"


def pictures_of(folder: Path) -> list[Path]:
    """The pictures a label has (a picture being written is a hidden temporary beside them)."""
    return sorted(p for p in folder.glob("*.jpg") if not p.name.startswith("."))


def fetch(url: str) -> tuple[bytes, dict]:
    request = urllib.request.Request(url, headers={"X-Edgecam-Token": TOKEN})
    with urllib.request.urlopen(request, timeout=10) as r:
        return r.read(), dict(r.headers)


def gate_now(base: str) -> str:
    """The look the newest frame's gate shows (its middle, away from the overlay's box)."""
    jpeg, _ = fetch(f"{base}/frame.jpg")
    frame = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    x, y, w, h = GATE
    return look(frame[y + h // 3:y + 2 * h // 3, x + w // 3:x + 2 * w // 3])


def stats(base: str) -> dict:
    return json.loads(fetch(f"{base}/stats.json")[0])


@pytest.mark.slow
@pytest.mark.skipif(not HAS_TORCH, reason="training needs torch (the export extra)")
def test_draw_capture_train_and_switch_in_the_browser(tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    clip = make_clip(tmp_path / "gate.avi")
    model = tiny_classifier(tmp_path / "tiny.onnx", resolution=32)
    data, port = tmp_path / "yard", free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgecam", "live", "--source", str(clip), "--loop", "--model",
         str(model), "--headless", "--serve", f"127.0.0.1:{port}", "--serve-token", TOKEN,
         "--capture-dir", str(data), "--threads", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    times: dict[str, float] = {}
    try:
        assert wait_for(lambda: _running(base), 60), "live did not start"
        with chromium(tmp_path / "profile") as page:
            t0 = time.monotonic()
            page.get(f"{base}/?token={TOKEN}")
            find = page.find_element
            wait_for(lambda: page.find_elements(By.ID, "editregions"), 20)
            assert find(By.ID, "title").text == "MobileNetV2 x0.35, 32 px"

            # 1. a region drawn with the mouse on the picture, named, applied
            find(By.ID, "editregions").click()
            boxes = find(By.ID, "boxes")
            rect = boxes.rect
            sx, sy = rect["width"] / W, rect["height"] / H
            x, y, w, h = GATE
            start = (x + 2, y + 2)  # a little inside the gate: only its look in the crop
            ActionChains(page).move_to_element_with_offset(
                boxes, start[0] * sx - rect["width"] / 2, start[1] * sy - rect["height"] / 2
            ).click_and_hold().move_by_offset((w - 4) * sx, (h - 4) * sy).release().perform()
            name = find(By.ID, "regionname0")
            name.clear()
            name.send_keys("gate")
            find(By.ID, "applyregions").click()
            drawn = wait_for(lambda: stats(base).get("regions", {}).get("gate"), 20)
            assert drawn, find(By.ID, "regionsaid").text
            bx, by, bw, bh = drawn["box"]
            assert abs(bx - start[0]) <= 2 and abs(by - start[1]) <= 2
            assert abs(bw - (w - 4)) <= 2 and abs(bh - (h - 4)) <= 2
            assert "--region gate=" in find(By.ID, "regionsaid").text
            times["region"] = time.monotonic() - t0

            # 2. pictures of each look, captured as the gate shows it
            wait_for(lambda: not find(By.ID, "region").get_attribute("hidden"), 10)
            label = find(By.ID, "label")

            def capture(label_as: str, gate: str) -> Path:
                """Click Save once while the gate shows ``gate``: the new picture."""
                before = set(pictures_of(data / label_as))
                if gate_now(base) != gate:
                    _when_it_turns(base, gate)
                label.clear()
                label.send_keys(label_as)
                find(By.ID, "save").click()
                new = wait_for(lambda: set(pictures_of(data / label_as)) - before, 10)
                assert new and len(new) == 1
                return new.pop()

            def delete(picture: Path) -> None:
                """Its thumbnail's delete button."""
                button = wait_for(lambda: page.find_elements(
                    By.CSS_SELECTOR, f"button[title='delete {picture.name}']"), 10)
                button[0].click()
                assert wait_for(lambda: not picture.exists(), 10)

            for _ in range(2):
                for want in ("red", "blue"):
                    for _ in range(2):
                        for _ in range(5):  # a click as the look changes saves the other
                            picture = capture(want, want)
                            if look(cv2.imread(str(picture))) == want:
                                break
                            delete(picture)
            for want in ("red", "blue"):
                pictures = pictures_of(data / want)
                assert len(pictures) == 4
                assert {look(cv2.imread(str(p))) for p in pictures} == {want}
                assert cv2.imread(str(pictures[0])).shape[:2] == (bh, bw)  # the region's crop
            counts = wait_for(lambda: "4 pictures" in find(By.ID, "dataset").text, 10)
            assert counts, find(By.ID, "dataset").text
            bad = capture("red", "blue")  # a bad picture, and its delete button
            assert wait_for(lambda: page.find_elements(By.XPATH, "//*[text()='5 pictures']"), 10)
            delete(bad)
            assert len(pictures_of(data / "red")) == 4
            assert wait_for(lambda: "5 pictures" not in find(By.ID, "dataset").text, 10)
            times["captures"] = time.monotonic() - t0

            # 3. one press of Train (small and quick: 64 px, 10 epochs, 10 s of measuring)
            find(By.CSS_SELECTOR, "#traincard summary").click()
            for field, value in (("trainsizes", "64"), ("trainepochs", "10"),
                                 ("trainbudget", "10")):
                find(By.ID, field).clear()
                find(By.ID, field).send_keys(value)
            find(By.ID, "train").click()
            assert wait_for(lambda: "%" in find(By.ID, "trainbar").get_attribute("style")
                            and find(By.ID, "trainstate").text, 10)
            state = find(By.ID, "trainstate")
            done = wait_for(lambda: state.text.startswith(("Done", "Not switched")), 300, 0.5)
            assert done and state.text.startswith("Done"), state.text
            times["trained"] = time.monotonic() - t0
            job = json.loads(fetch(f"{base}/api/train")[0])
            assert job["state"] == "done" and job["model"] == job["running"], job
            assert job["held_out"] == {"blue": 1, "red": 1} and job["chosen"]["resolution"] == 64
            # 4. the running live switched: the page's model card and /stats.json say so
            new = job["running"]
            assert new.startswith("yard-1-efficientnet_lite0")
            assert wait_for(lambda: find(By.ID, "title").text == new, 20), \
                find(By.ID, "title").text
            assert stats(base)["model"] == new
            assert "held-out accuracy" in find(By.ID, "trainresult").text
            assert job["keep"] in find(By.ID, "trainresult").text
            answers: set[tuple[str, str]] = set()
            for want in ("red", "blue"):  # the new model tells the looks apart, live
                _when_it_turns(base, want)
                time.sleep(0.6)  # the smoothing settles
                answers.add((want, stats(base)["regions"]["gate"]["top"][0]["label"]))
            assert answers == {("red", "red"), ("blue", "blue")}, answers
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    print("browser steps (s since the page opened):", times)
    assert proc.returncode == 143 and "Traceback" not in err, err
    steps = [json.loads(line) for line in
             (data.parent / "yard-training" / "1" / "progress.jsonl").read_text().splitlines()]
    assert {s["step"] for s in steps} >= {"features", "classifier"}
    assert all(s["resolution"] == 64 for s in steps)


def _running(base: str) -> dict | None:
    try:
        data = stats(base)
    except OSError:
        return None
    return data if data["frames"] >= 3 else None


def _when_it_turns(base: str, want: str, timeout: float = 3 * PHASE_S) -> str:
    """Wait for the gate to turn ``want`` (just turned: most of a phase is left to click)."""
    seen = gate_now(base)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = gate_now(base)
        if now == want and seen != want:
            return want
        seen = now
        time.sleep(0.05)
    raise AssertionError(f"the gate never turned {want}")
