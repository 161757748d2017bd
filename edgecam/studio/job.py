"""The train button's job: the capture folder split (``heldout``), ``edgecam train`` on it at
each size, a short ``edgecam tune`` of the new sizes on this device and the held-out pictures,
and the chosen model handed to the running ``live`` (``adopt``). One at a time; cancellable.

Each step is a subprocess of ``python -m edgecam``: PyTorch never loads into the live process,
its memory is given back when training ends, a cancel is the Ctrl-C ``train`` already handles
(it keeps the best model so far, which the studio does not switch to: a cancelled training
leaves the old model running, like a failed one), and training runs at a lower priority so the
camera keeps its frame rate. Tune runs at normal priority: it measures the frame rate each size
reaches while this ``live`` runs, which is the load the model will run under.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgecam.sinks.preview_api import Conflict
from edgecam.studio.heldout import Split, check_captures, split_captures
from edgecam.util.errors import EdgecamError

log = logging.getLogger(__name__)

SIZES = (128, 160, 224)
BUDGET_S = 30.0
TRAIN_SHARE = 0.85  # of the progress bar; tune takes the rest
POLL_S = 0.3
KILL_AFTER_S = 20.0  # a cancelled step that has not ended by then is killed
TRAIN_NICE = 10
SURE = 0.99  # a rule this strict was calibrated on near copies: said with the result
_WEIGHTS = {"features": (0.0, 0.5), "classifier": (0.5, 0.25),
            "classifier, plain views": (0.75, 0.25), "fine-tune": (0.75, 0.25)}


class Busy(Conflict):
    """A training runs already (one at a time), or none runs to cancel: a 409."""


@dataclass(frozen=True)
class TrainRequest:
    """What one press of the train button asks for (``POST /api/train``'s JSON; every key is
    optional): the sizes to train, the classifier's epochs (None: train's default), tune's
    budget and the frame rate to reach (None: what the camera delivers now)."""

    sizes: tuple[int, ...] = SIZES
    epochs: int | None = None
    budget_s: float = BUDGET_S
    target_fps: float | None = None

    @classmethod
    def from_json(cls, body: Any) -> TrainRequest:
        """The request in a JSON body, each wrong key or value one line."""
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise EdgecamError("the body is a JSON object: {} or e.g. {\"sizes\": [128, 160]}")
        unknown = sorted(set(body) - {"sizes", "epochs", "budget_s", "target_fps"})
        if unknown:
            raise EdgecamError(f"unknown key {unknown[0]!r} (sizes, epochs, budget_s, "
                               "target_fps)")
        sizes = body.get("sizes", list(SIZES))
        if (not isinstance(sizes, list) or not 1 <= len(sizes) <= 4
                or not all(_whole(s) and 32 <= s <= 512 for s in sizes)):
            raise EdgecamError("sizes is a list of 1 to 4 sizes in pixels, each 32-512 "
                               f"(e.g. [128, 160]), got {sizes!r}")
        epochs = body.get("epochs")
        if epochs is not None and not (_whole(epochs) and 1 <= epochs <= 500):
            raise EdgecamError(f"epochs is a whole number 1-500, got {epochs!r}")
        budget = body.get("budget_s", BUDGET_S)
        if not (_number(budget) and 1 <= budget <= 600):
            raise EdgecamError(f"budget_s is 1-600 seconds, got {budget!r}")
        target = body.get("target_fps")
        if target is not None and not (_number(target) and 0 < target <= 1000):
            raise EdgecamError(f"target_fps is a frame rate above 0, got {target!r}")
        return cls(tuple(sorted(set(sizes))), epochs, float(budget),
                   None if target is None else float(target))


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class Cancelled(Exception):
    """The user cancelled the job."""


class TrainJob:
    """``start(request)`` (Busy while one runs), ``status()`` (what ``GET /api/train``
    returns), ``cancel()``, ``close()``. ``adopt(model_file)`` makes the running ``live``
    switch to the chosen model and returns its name (an EdgecamError keeps the old one);
    ``fps()`` is what the camera delivers now (tune's default target)."""

    def __init__(self, data: Path, work: Path, threads: int,
                 adopt: Callable[[Path], str], fps: Callable[[], float | None],
                 python: str = sys.executable) -> None:
        self.data, self.work, self.threads = data, work, threads
        self.adopt, self.fps, self.python = adopt, fps, python
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._proc: subprocess.Popen | None = None
        self._status: dict[str, Any] = {"state": "idle", "progress": 0.0}
        self.kept: Path | None = None  # the job folder whose model runs now

    # -- the API ---------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        with self._lock:
            status = dict(self._status)
        t0 = status.pop("_t0", None)
        if status["state"] == "running" and t0 is not None:
            status["seconds"] = round(time.monotonic() - t0, 1)
        return status

    def start(self, request: TrainRequest) -> dict[str, Any]:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                raise Busy("a training is running; cancel it or wait for it to end")
            check_captures(self.data)  # the reasons it cannot start, before it says running
            self._cancel.clear()
            number = self._next_number()
            self._status = {"state": "running", "progress": 0.0, "number": number,
                            "step": "holding out the newest pictures of each label",
                            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                            "_t0": time.monotonic(), "request": vars(request) | {
                                "sizes": list(request.sizes)}}
            self._thread = threading.Thread(target=self._run, args=(number, request),
                                            name="edgecam-train-job", daemon=True)
            self._thread.start()
        return self.status()

    def cancel(self) -> dict[str, Any]:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                raise Busy("no training is running")
            self._cancel.set()
            proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # train keeps its best so far and ends
        return self.status()

    def close(self, timeout: float = KILL_AFTER_S + 5) -> None:
        """The run ends: a training still going is cancelled and waited for (bounded)."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return
        try:
            self.cancel()
        except Busy:
            pass
        thread.join(timeout)

    # -- the steps (the job's thread) ---------------------------------------------------------

    def _set(self, **changes: Any) -> None:
        with self._lock:
            if "progress" in changes:  # never backwards: a later step may restart a count
                changes["progress"] = round(max(self._status.get("progress", 0.0),
                                                min(1.0, changes["progress"])), 3)
            self._status.update(changes)

    def _run(self, number: int, request: TrainRequest) -> None:
        folder = self.work / str(number)
        try:
            self._prune(keep=folder)
            split = split_captures(self.data, folder / f"{self.data.name}-{number}")
            self._set(held_out=split.held_out, trained_on=split.train)
            models = self._train(folder, split, request)
            chosen = self._tune(folder, split, request, models)
            self._set(step=f"loading {Path(chosen['file']).name}", progress=0.99)
            name = self.adopt(Path(chosen["file"]))
            self.kept = folder
            self._set(state="done", progress=1.0, running=name, step=f"running {name}",
                      keep=f"--model {chosen['file']}")
        except Cancelled:
            self._set(state="failed", cancelled=True,
                      error="cancelled: the old model keeps running")
        except EdgecamError as exc:
            self._set(state="failed", error=f"{exc}; the old model keeps running")
        except Exception as exc:  # a bug: said on the page and in the log, live goes on
            log.exception("the training job failed")
            self._set(state="failed", error=f"{type(exc).__name__}: {exc}; the old model "
                                            "keeps running")
        finally:
            with self._lock:
                self._proc = None
                t0 = self._status.pop("_t0", None)
                if t0 is not None:
                    self._status["seconds"] = round(time.monotonic() - t0, 1)

    def _train(self, folder: Path, split: Split, request: TrainRequest) -> list[dict]:
        report, progress = folder / "train.json", folder / "progress.jsonl"
        cmd = ["train", str(split.root), "--resolution", ",".join(map(str, request.sizes)),
               "--output", str(folder / "models" / f"{split.root.name}.onnx"),
               "--json-out", str(report), "--progress-json", str(progress)]
        if request.epochs is not None:
            cmd += ["--epochs", str(request.epochs)]
        self._set(step="starting the training (loading PyTorch)", progress=0.01)
        watch = _ProgressFile(progress, request.sizes)
        self._step(cmd, folder / "train.log", TRAIN_NICE,
                   lambda: self._set(**watch.read()) if watch.changed() else None)
        models = json.loads(report.read_text())["models"]
        self._set(models=[_model_summary(m) for m in models], progress=TRAIN_SHARE)
        return models

    def _tune(self, folder: Path, split: Split, request: TrainRequest, models: list[dict]
              ) -> dict:
        """The size to run: the most accurate on the held-out pictures among those that reach
        the target frame rate here, else the fastest (said)."""
        target = request.target_fps or self.fps() or 5.0
        target = max(1.0, round(target, 1))
        report = folder / "tune.json"
        pattern = os.path.join(glob.escape(str(folder / "models")), "*.onnx")
        cmd = ["tune", "--target-fps", f"{target:g}", "--models", pattern, "--data",
               str(split.val), "--budget-s", f"{request.budget_s:g}", "--precision", "fp32",
               "--threads", str(self.threads), "--no-save-profile", "--json-out", str(report)]
        held = sum(split.held_out.values())
        self._set(step=f"measuring each size on this device ({request.budget_s:g} s) and on "
                       f"the {held} held-out pictures, for {target:g} FPS")
        started = time.monotonic()
        self._step(cmd, folder / "tune.log", 0, lambda: self._set(
            progress=TRAIN_SHARE + (0.98 - TRAIN_SHARE) * min(
                1.0, (time.monotonic() - started) / (request.budget_s + 10))))
        tuned = json.loads(report.read_text())
        chosen, notes = tuned.get("chosen"), []
        if chosen is None:
            chosen = tuned.get("fastest")
            if chosen is None:
                raise EdgecamError("tune measured none of the new models")
            notes.append(f"no size reached {target:g} FPS here while live runs; running the "
                         f"fastest, {chosen.get('fps') or 0:.1f} FPS")
        classes = len([label for label in split.held_out if label != "unknown"])
        top1 = chosen.get("top1")
        chance = 100.0 / max(1, classes)
        if top1 is not None and top1 <= chance:
            raise EdgecamError(
                f"the new model answered {top1:.0f}% of the {held} held-out pictures right, "
                f"no better than chance ({chance:.0f}%): capture more, and more varied, "
                "pictures of each label")
        picked = {"file": chosen["model"], "name": chosen.get("name"),
                  "resolution": chosen.get("resolution"), "fps": chosen.get("fps"),
                  "held_out_accuracy": top1, "target_fps": target}
        rule = next((m.get("rejection") or {} for m in models
                     if Path(m["output"]).resolve() == Path(chosen["model"]).resolve()), {})
        if rule.get("threshold", 0) >= SURE:
            notes.append(
                f"it was all but certain of each of the {held} held-out pictures, so it "
                f"answers 'unknown' below {_percent(rule['threshold'])} sure: live frames that "
                "differ a little from the captures (and each change, while the smoothing "
                "catches up) will be 'unknown'; capture each label at other moments (light, "
                "people passing) and pictures of anything else as 'unknown'")
        self._set(chosen=picked, **({"note": "; ".join(notes)} if notes else {}))
        return picked

    def _step(self, args: Sequence[str], log_file: Path, nice: int,
              tick: Callable[[], Any]) -> None:
        """Run ``python -m edgecam ARGS`` to its end, its output in ``log_file``; a non-zero
        exit is its last error line, a cancel is Cancelled."""
        if self._cancel.is_set():
            raise Cancelled
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(log_file, "wb") as out:
            proc = subprocess.Popen([self.python, "-m", "edgecam", *args], stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        with self._lock:
            self._proc = proc
        if nice:
            try:
                os.setpriority(os.PRIO_PROCESS, proc.pid, nice)
            except OSError:
                pass
        cancelled_at: float | None = None
        while proc.poll() is None:
            time.sleep(POLL_S)
            tick()
            if self._cancel.is_set():
                if cancelled_at is None:
                    cancelled_at = time.monotonic()
                    proc.send_signal(signal.SIGINT)
                elif time.monotonic() - cancelled_at > KILL_AFTER_S:
                    proc.kill()
        tick()
        if self._cancel.is_set():
            raise Cancelled
        if proc.returncode != 0:
            raise EdgecamError(f"{args[0]} failed: {_last_error(log_file)}")

    def _next_number(self) -> int:
        numbers = [int(p.name) for p in self.work.glob("[0-9]*") if p.name.isdigit()]
        return max(numbers, default=0) + 1

    def _prune(self, keep: Path) -> None:
        """Earlier jobs' folders go, except the one whose model runs now (the old model's file
        stays for as long as it may be asked to run)."""
        for old in self.work.glob("[0-9]*"):
            if old.is_dir() and old != keep and old != self.kept:
                shutil.rmtree(old, ignore_errors=True)


class _ProgressFile:
    """Train's ``--progress-json`` lines, read as they come, as the job's progress and step."""

    def __init__(self, path: Path, sizes: Sequence[int]) -> None:
        self.path, self.sizes = path, list(sizes)
        self.offset = 0
        self.last: dict | None = None

    def changed(self) -> bool:
        try:
            size = self.path.stat().st_size
        except OSError:
            return False
        return size > self.offset

    def read(self) -> dict[str, Any]:
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        whole = data[:data.rfind(b"\n") + 1]
        self.offset += len(whole)
        for line in whole.splitlines():
            try:
                self.last = json.loads(line)
            except ValueError:
                continue
        return self.describe(self.last) if self.last else {}

    def describe(self, event: dict) -> dict[str, Any]:
        res, step = event.get("resolution"), str(event.get("step"))
        done, total = int(event.get("done") or 0), max(1, int(event.get("total") or 1))
        index = self.sizes.index(res) if res in self.sizes else 0
        start, share = _WEIGHTS.get(step, (0.5, 0.5))
        progress = TRAIN_SHARE * (index + start + share * done / total) / len(self.sizes)
        if step == "features":
            text = f"{res} px: reading the pictures ({done} of {total})"
        else:
            text = f"{res} px: training the {step}, epoch {done} of at most {total}"
            if event.get("val_accuracy") is not None:
                text += f" (held-out accuracy {event['val_accuracy']:.0%})"
        return {"step": text, "progress": progress}


def _model_summary(report: dict) -> dict:
    """One trained size as the page shows it: the file, its held-out accuracy and its rule to
    answer "unknown" in words."""
    rule = report.get("rejection") or {}
    words = None
    if rule:
        words = (f"answers 'unknown' below {_percent(rule['threshold'])} sure; keeps "
                 f"{rule['known_kept']:.0%} of the {rule['known_images']} held-out pictures")
        if rule.get("unknown_rejected") is not None:
            words += (f", 'unknown' for {rule['unknown_rejected']:.0%} of the "
                      f"{rule['unknown_images']} pictures of anything else")
    return {"file": report["output"], "name": report["name"],
            "resolution": report["resolution"], "val_accuracy": report["val_accuracy"],
            "val_images": report["val_images"], "unknown_rule": words,
            "interrupted": report.get("interrupted", False)}


def _percent(p: float) -> str:
    """A share as people read it, with the digits a rule near 1 needs (99.9931%)."""
    return f"{p:.{4 if p >= SURE else 1}%}"


def _last_error(log_file: Path) -> str:
    """The line a failed command ended with (its ``edgecam: error: ...``, else its last)."""
    try:
        lines = [ln.strip() for ln in log_file.read_text(errors="replace").splitlines()
                 if ln.strip()]
    except OSError:
        return "no output"
    errors = [ln for ln in lines if ln.startswith("edgecam: error:")]
    line = errors[-1] if errors else lines[-1] if lines else "no output"
    return line.removeprefix("edgecam: error: ")[:300]
