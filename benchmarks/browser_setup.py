"""The browser path of the gate walk-through, timed: from a clone whose ``./scripts/setup`` ran,
one ``edgecam live`` command, then only clicks in a real (headless) Chromium: draw the gate's
region, capture 20 pictures of each look, press Train (the defaults: 128/160/224 px, a 30 s
tune), until the running live has switched to the trained region model and answers right.

    python benchmarks/browser_setup.py --clone /tmp/fresh/edgecam   # a clone with its .venv

The clip is the gate trial's: 640x480, a 120x90 gate in the bottom-right corner switching
every 10 s between closed (a brick wall) and open (the gravel behind it), real photos moving
across the rest. Selenium drives Debian's chromium-driver (scripts/system-deps); the clicks
come as fast as the page takes them, so a person adds their own pace (counted in the output
as 2 s per click and 10 s per name or field typed). Writes benchmarks/results/browser_setup.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import RESULTS_DIR, free_port, log, machine, write_json  # noqa: E402

W, H, FPS, PHASE_S = 640, 480, 15, 10.0
GATE = (500, 380, 120, 90)
PHOTOS = HERE.parent / "calibration" / "images"
PER_LOOK = 20
HUMAN_CLICK_S, HUMAN_TYPING_S = 2.0, 10.0


def tile(name: str, size: tuple[int, int]) -> np.ndarray:
    image = cv2.imread(str(PHOTOS / name))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def looks() -> dict[str, np.ndarray]:
    x, y, w, h = GATE
    return {"closed": tile("brick.jpg", (w, h)), "open": tile("gravel.jpg", (w, h))}


def make_clip(path: Path, seconds: float = 4 * PHASE_S) -> Path:
    """Real photos: the coffee photo as the yard, two photos moving across it, the gate; with
    a camera's sensor noise and a slow change of light, so no two frames are the same."""
    rng = np.random.default_rng(0)
    yard = tile("coffee.jpg", (W, H))
    movers = [tile("astronaut.jpg", (160, 120)), tile("chelsea.jpg", (140, 110))]
    gate = looks()
    x, y, w, h = GATE
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (W, H))
    for i in range(round(seconds * FPS)):
        frame = yard.copy()
        for k, mover in enumerate(movers):
            mh, mw = mover.shape[:2]
            mx = int((i * (6 + 3 * k) + 200 * k) % (W - mw))
            my = 40 + 150 * k
            frame[my:my + mh, mx:mx + mw] = mover
        state = "closed" if (i / FPS) % (2 * PHASE_S) < PHASE_S else "open"
        frame[y:y + h, x:x + w] = gate[state]
        light = 1.0 + 0.08 * np.sin(2 * np.pi * i / (3.3 * PHASE_S * FPS))
        noisy = frame.astype(np.float32) * light + rng.normal(0, 3, frame.shape)
        out.write(np.clip(noisy, 0, 255).astype(np.uint8))
    out.release()
    return path


def which(frame: np.ndarray) -> str:
    """The look the gate shows in a frame (its middle, clear of the overlay's box)."""
    x, y, w, h = GATE
    part = frame[y + h // 4:y + 3 * h // 4, x + w // 4:x + 3 * w // 4].astype(int)
    ref = {k: v[h // 4:3 * h // 4, w // 4:3 * w // 4].astype(int) for k, v in looks().items()}
    return min(ref, key=lambda k: float(np.abs(part - ref[k]).mean()))


def which_crop(picture: Path) -> str:
    """The look a captured picture of the gate shows."""
    image = cv2.imread(str(picture))
    x, y, w, h = GATE
    image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA).astype(int)
    return min(looks(), key=lambda k: float(np.abs(image - looks()[k].astype(int)).mean()))


class Live:
    def __init__(self, base: str) -> None:
        self.base = base

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(self.base + path, timeout=20) as r:
            return r.read()

    def stats(self) -> dict:
        return json.loads(self.get("/stats.json"))

    def gate(self) -> str:
        jpeg = np.frombuffer(self.get("/frame.jpg"), np.uint8)
        return which(cv2.imdecode(jpeg, cv2.IMREAD_COLOR))

    def turns(self, want: str, timeout: float = 3 * PHASE_S) -> float:
        """Returns just after the gate turned ``want`` (most of the phase left): when."""
        seen, deadline = self.gate(), time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = self.gate()
            if now == want and seen != want:
                return time.monotonic()
            seen = now
            time.sleep(0.05)
        raise RuntimeError(f"the gate never turned {want}")


def until(predicate, timeout: float, every: float = 0.25):
    """``predicate()``'s first truthy value; a step that never comes ends the walk."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"gave up after {timeout:g} s waiting for {predicate}")
        time.sleep(every)
    return value


def browser(profile: Path):
    os.environ["SE_OFFLINE"] = "true"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
                 "--window-size=1280,1000"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def walk(clone: Path, work: Path) -> dict:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    clip = make_clip(work / "gate.avi")
    port = free_port()
    command = [str(clone / ".venv" / "bin" / "edgecam"), "live", "--source", str(clip), "--loop",
               "--headless", "--serve", f"127.0.0.1:{port}", "--capture-dir", "yard"]
    log("$ " + " ".join(command))
    t0 = time.monotonic()
    steps: dict[str, float] = {}
    clicks = fields = 0
    proc = subprocess.Popen(command, cwd=work, stderr=open(work / "live.log", "wb"))
    live = Live(f"http://127.0.0.1:{port}")
    try:
        until(lambda: _running(live), 600)
        steps["live shows the camera (first start exports the default model)"] = \
            time.monotonic() - t0
        page = browser(work / "profile")
        try:
            find = page.find_element
            page.get(live.base + "/")
            until(lambda: page.find_elements(By.ID, "editregions"), 30)
            t = time.monotonic()
            find(By.ID, "editregions").click()
            boxes = find(By.ID, "boxes")
            rect = boxes.rect
            sx, sy = rect["width"] / W, rect["height"] / H
            x, y, w, h = GATE
            ActionChains(page).move_to_element_with_offset(
                boxes, x * sx - rect["width"] / 2 + 1, y * sy - rect["height"] / 2 + 1
            ).click_and_hold().move_by_offset(w * sx - 2, h * sy - 2).release().perform()
            name = find(By.ID, "regionname0")
            name.clear()
            name.send_keys("gate")
            find(By.ID, "applyregions").click()
            until(lambda: "gate" in (live.stats().get("regions") or {}), 30)
            clicks, fields = clicks + 3, fields + 1
            steps["region drawn, named and applied"] = time.monotonic() - t
            t = time.monotonic()
            label = find(By.ID, "label")
            data, deleted = work / "yard", 0
            for look in ("closed", "open"):
                label.clear()
                label.send_keys(look)
                fields += 1
                since = 0.0
                while len(list((data / look).glob("*.jpg"))) < PER_LOOK:
                    # a look at the gate, a click; not as it is about to change
                    if time.monotonic() - since > PHASE_S - 1.5:
                        since = live.turns(look)
                    find(By.ID, "save").click()
                    clicks += 1
                    time.sleep(0.5)  # the capture rate the page takes (2 per second)
                    for picture in (data / look).glob("*.jpg"):  # a look at the thumbnails
                        if which_crop(picture) != look:  # the wrong one: its delete button
                            button = until(lambda p=picture: page.find_elements(
                                By.CSS_SELECTOR, f"button[title='delete {p.name}']"), 10)
                            button[0].click()
                            until(lambda p=picture: not p.exists(), 10)
                            clicks, deleted = clicks + 1, deleted + 1
            counts = until(lambda: (c := json.loads(live.get("/api/dataset"))["labels"])
                           and sum(c.values()) >= 2 * PER_LOOK and c, 30)
            steps[f"{PER_LOOK} pictures of each look captured"] = time.monotonic() - t
            t = time.monotonic()
            find(By.ID, "train").click()
            clicks += 1
            state = find(By.ID, "trainstate")
            until(lambda: state.text.startswith(("Done", "Not switched")), 1200, 1.0)
            steps["trained, tuned and switched (one press of Train)"] = time.monotonic() - t
            job = json.loads(live.get("/api/train"))
            answers = []
            for look in ("closed", "open", "closed", "open"):
                live.turns(look)
                time.sleep(PHASE_S / 2)  # the middle of the phase: the state has settled
                answers.append((look, live.stats()["regions"]["gate"]["state"]))
            shown = find(By.ID, "title").text
        finally:
            page.quit()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    machine_s = sum(steps.values())
    return {"command": " ".join(command), "steps_s": {k: round(v, 1) for k, v in steps.items()},
            "machine_s": round(machine_s, 1), "clicks": clicks, "fields_typed": fields,
            "human_pace_s": round(machine_s + clicks * HUMAN_CLICK_S
                                  + fields * HUMAN_TYPING_S, 1),
            "captured": counts, "deleted": deleted, "job": {k: job.get(k) for k in (
                "state", "seconds", "held_out", "models", "chosen", "running", "error", "note")},
            "page_model": shown, "answers_after": answers,
            "right_after": sum(a == b for a, b in answers), "live_exit": proc.returncode}


def _running(live: Live) -> dict | None:
    try:
        data = live.stats()
    except OSError:
        return None
    return data if data["frames"] >= 3 else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clone", type=Path, default=HERE.parent,
                        help="a clone whose ./scripts/setup ran (its .venv runs live)")
    parser.add_argument("--setup-s", type=float, default=None,
                        help="seconds the clone and its ./scripts/setup took, for the total")
    parser.add_argument("--work", type=Path, default=None,
                        help="keep the clip, the captures and the training here (default: a "
                             "temporary folder)")
    args = parser.parse_args()
    info = machine(threads=os.cpu_count() or 1)
    with tempfile.TemporaryDirectory(prefix="edgecam-walk-") as temporary:
        work = args.work or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        result = walk(args.clone.resolve(), work.resolve())
    result["setup_s"] = args.setup_s
    if args.setup_s is not None:
        result["total_s"] = round(args.setup_s + result["machine_s"], 1)
        result["total_human_pace_s"] = round(args.setup_s + result["human_pace_s"], 1)
    result["machine"] = info
    result["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    write_json(RESULTS_DIR / "browser_setup.json", result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
