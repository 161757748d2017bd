"""Does a long live run stay flat: memory, descriptors, threads, the events folder?

    python benchmarks/soak.py [--frames 100000] [--drops 50] [--broker-drops 5] [--fps 150]
                              [--model tiny|mnv2-0.5|lite0|FILE.onnx] [--warmup N]

Runs the real ``edgecam live`` process as a gate camera is watched for months: a network
stream (tests/mjpeg_server.py serving a clip whose gate switches between red "closed" and blue
"open") through two regions, an events folder (bounded to ``--events-keep``), MQTT with Home
Assistant's discovery to a mosquitto this script starts (and restarts ``--broker-drops``
times), a subscriber reading it, and the browser preview with one MJPEG viewer, for
``--frames`` frames (``live --max-frames``). The stream is killed and restarted ``--drops``
times, evenly over the run. Every ``--every`` seconds it samples the live process's RSS,
open descriptors (/proc/PID/fd), threads (/proc/PID/status) and the events folder (snapshots,
events.jsonl). The report: least-squares slopes per 10,000 frames after the warm-up (goal:
flat; events.jsonl grows by design, a line per event), in results/soak.json and results/soak.md.
Imports no torch; the tiny model is built with onnx (tests/tiny_models.py).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

import _common as common  # noqa: E402

from mjpeg_server import start_camera  # noqa: E402  (the network camera the tests use)

GATE = (240, 180, 70, 50)  # x, y, w, h in the 320x240 clip
WALL = (200, 0, 40, 60)
STATE_FRAMES = 100  # frames of the clip between the gate's switches
METRICS = ("rss_mb", "fds", "threads", "snapshots_mb", "events_jsonl_kb")


def gate_video(path: Path) -> Path:
    """A 320x240 clip of 2 * STATE_FRAMES frames: a bar sweeping a grey yard, and the gate
    (bottom right) red for the first half, blue for the second."""
    import cv2
    import numpy as np

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (320, 240))
    for i in range(2 * STATE_FRAMES):
        image = np.full((240, 320, 3), 128, np.uint8)
        image[:, (i * 3) % 200:(i * 3) % 200 + 20] = (30, 160, 60)
        x, y, w, h = GATE
        image[y:y + h, x:x + w] = (0, 0, 255) if i < STATE_FRAMES else (255, 0, 0)
        writer.write(image)
    writer.release()
    return path


def model_path(key: str, folder: Path) -> Path:
    if key == "tiny":  # red "closed" and blue "open" told apart, as in tests/test_regions.py
        from tiny_models import tiny_classifier

        return tiny_classifier(folder / "gate.onnx", resolution=32, classes=2,
                               labels=["closed", "open"], seed=3)
    if key in common.KEYS:
        _, arch, alpha, res, weights = common.MODELS[common.KEYS[key]]
        return common.ensure_model(arch, alpha, res, weights)
    return Path(key)


class Broker:
    """mosquitto on 127.0.0.1:port (no persistence), stopped and started again on demand."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(binary).is_file():
            sys.exit("soak: mosquitto is missing (scripts/system-deps installs it)")
        self.binary = binary
        self.port = common.free_port()
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                             "persistence false\n")
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        sys.exit("soak: mosquitto did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()


class Listener:
    """What Home Assistant would receive: counts of messages by kind under PREFIX/#."""

    def __init__(self, port: int, prefix: str) -> None:
        import paho.mqtt.client as mqtt

        self.counts: dict[str, int] = {}
        self.status = ""
        args = (mqtt.CallbackAPIVersion.VERSION2,) if hasattr(mqtt, "CallbackAPIVersion") else ()
        self.client = mqtt.Client(*args)
        self.client.on_connect = lambda c, *a: c.subscribe([(f"{prefix}/#", 0),
                                                            ("homeassistant/#", 0)])
        self.client.on_message = self._message
        self.client.reconnect_delay_set(1, 2)
        self.client.connect_async("127.0.0.1", port)
        self.client.loop_start()

    def _message(self, client, userdata, message) -> None:
        kind = ("_sync" if "/_sync/" in message.topic  # the discovery's read-back markers
                else message.topic.rsplit("/", 1)[-1])
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if kind == "status":
            self.status = message.payload.decode()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def viewer(url: str, stop: threading.Event, counts: dict) -> None:
    """One browser on the preview's MJPEG stream for the whole run (again after an error)."""
    while not stop.is_set():
        try:
            with urllib.request.urlopen(url + "/stream.mjpg", timeout=10) as resp:
                while not stop.is_set() and (chunk := resp.read(65536)):
                    counts["bytes"] += len(chunk)
        except OSError:
            counts["errors"] += 1
            stop.wait(1.0)


def stats(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url + "/stats.json", timeout=5) as resp:
            return json.loads(resp.read())
    except (OSError, ValueError):
        return None


def sample(pid: int, events: Path) -> dict:
    """The live process's RSS, descriptors and threads, and the events folder's size."""
    status = Path(f"/proc/{pid}/status").read_text()
    field = dict(re.findall(r"^(\w+):\s+(\d+)", status, re.M))
    files = list(events.iterdir()) if events.is_dir() else []
    jsonl = events / "events.jsonl"
    return {"rss_mb": round(int(field["VmRSS"]) / 1024, 2), "threads": int(field["Threads"]),
            "fds": len(os.listdir(f"/proc/{pid}/fd")),
            "snapshots": sum(f.suffix == ".jpg" for f in files),
            "snapshots_mb": round(sum(f.stat().st_size for f in files if f.suffix == ".jpg")
                                  / 2**20, 3),
            "events_jsonl_kb": round(jsonl.stat().st_size / 1024, 2) if jsonl.is_file() else 0}


def slopes(samples: list[dict], warm: int) -> dict:
    """Per metric after the warm-up: the least-squares slope per 10,000 frames, and the
    values at the warm-up and at the end, of the samples taken while frames flowed (not while
    the stream was reconnecting, nor while the run was closing after its last frame)."""
    import numpy as np

    last = max(s["frame"] for s in samples)
    after = [s for s in samples if warm <= s["frame"] < last and s["state"] == "running"]
    x = np.array([s["frame"] for s in after], float)
    out = {}
    for key in METRICS:
        y = np.array([s[key] for s in after], float)
        slope = float(np.polyfit(x, y, 1)[0]) * 10_000 if len(after) > 2 and np.ptp(x) else 0.0
        out[key] = {"slope_per_10k": round(slope, 4), "after_warmup": after[0][key],
                    "end": after[-1][key], "min": float(y.min()), "max": float(y.max())}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=100_000)
    ap.add_argument("--drops", type=int, default=50, help="times the stream is killed")
    ap.add_argument("--down-s", type=float, default=1.0, help="how long each drop lasts")
    ap.add_argument("--broker-drops", type=int, default=5,
                    help="times mosquitto is killed and started again")
    ap.add_argument("--fps", type=float, default=150.0, help="the stream's frame rate")
    ap.add_argument("--model", default="tiny",
                    help="tiny (the default), mnv2-0.5, lite0... or an .onnx file")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--events-keep", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=None,
                    help="frames before the slopes are taken (default: a fifth of the run)")
    ap.add_argument("--every", type=float, default=2.0, help="seconds between samples")
    ap.add_argument("--out", default=str(common.RESULTS_DIR))
    args = ap.parse_args()
    warm = args.warmup if args.warmup is not None else args.frames // 5

    work = Path(tempfile.mkdtemp(prefix="edgecam-soak-"))
    clip = gate_video(work / "gate.mp4")
    model = model_path(args.model, work)
    events = work / "events"
    machine = common.machine(args.threads)
    broker = Broker(work)
    broker.start()
    listener = Listener(broker.port, "soak")
    cam_port, preview_port = common.free_port(), common.free_port()
    camera = start_camera(cam_port, args.fps, str(clip))
    preview = f"http://127.0.0.1:{preview_port}"
    stderr = work / "live.err"
    command = [sys.executable, "-m", "edgecam", "live", "--source",
               f"http://127.0.0.1:{cam_port}/", "--model", str(model), "--headless",
               "--threads", str(args.threads), "--region", "gate=" + ",".join(map(str, GATE)),
               "--region", "wall=" + ",".join(map(str, WALL)), "--hold", "0.2",
               "--events", str(events), "--events-keep", str(args.events_keep),
               "--mqtt", f"mqtt://127.0.0.1:{broker.port}/soak", "--camera-name", "soak",
               "--serve", f"127.0.0.1:{preview_port}", "--max-frames", str(args.frames)]
    common.log(f"soak: {args.frames} frames of a {args.fps:g} FPS stream dropped "
               f"{args.drops} times, broker {args.broker_drops} times; work in {work}")
    t0 = time.monotonic()
    with open(stderr, "w") as err:
        live = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)
    stop = threading.Event()
    seen = {"bytes": 0, "errors": 0}
    watcher = threading.Thread(target=viewer, args=(preview, stop, seen), daemon=True)
    drops = [args.frames * (k + 1) // (args.drops + 1) for k in range(args.drops)]
    broker_drops = [args.frames * (2 * k + 1) // (2 * args.broker_drops)
                    for k in range(args.broker_drops)]
    samples: list[dict] = []
    frames, state, next_sample, done_drops, done_broker = 0, "starting", 0.0, 0, 0
    try:
        while live.poll() is None:
            now = time.monotonic()
            current = stats(preview)
            if current is not None:
                frames, state = current["frames"], current["state"]
                if not watcher.is_alive():
                    watcher.start()
            if now >= next_sample:
                next_sample = now + args.every
                try:
                    samples.append({"frame": frames, "s": round(now - t0, 1), "state": state,
                                    **sample(live.pid, events)})
                except (OSError, KeyError):
                    break  # the process just ended
                if len(samples) % 30 == 0:
                    s = samples[-1]
                    common.log(f"{frames}/{args.frames} frames, RSS {s['rss_mb']} MB, "
                               f"{s['fds']} fds, {s['threads']} threads, {s['snapshots']} "
                               f"snapshots, {done_drops} drops")
            if done_drops < len(drops) and frames >= drops[done_drops]:
                camera.kill()
                camera.wait()
                time.sleep(args.down_s)
                camera = start_camera(cam_port, args.fps, str(clip))
                done_drops += 1
            if done_broker < len(broker_drops) and frames >= broker_drops[done_broker]:
                broker.stop()
                time.sleep(args.down_s)
                broker.start()
                done_broker += 1
            time.sleep(0.2)
        code = live.wait()
    finally:
        stop.set()
        if live.poll() is None:
            live.kill()
        camera.kill()
    seconds = time.monotonic() - t0
    time.sleep(1.0)  # the offline status on its way
    listener.close()
    broker.stop()
    summary = [line for line in stderr.read_text().splitlines() if " frames in " in line]
    reconnects = re.search(r"(\d+) reconnects", summary[-1]) if summary else None
    lines = (events / "events.jsonl").read_text().splitlines() if events.is_dir() else []
    data = {
        "machine": machine, "model": str(args.model), "frames": args.frames,
        "stream_fps": args.fps, "exit_code": code, "wall_s": round(seconds, 1),
        "fps": round(args.frames / seconds, 1), "drops": done_drops,
        "broker_drops": done_broker,
        "reconnects": int(reconnects.group(1)) if reconnects else None,
        "summary": summary[-1] if summary else stderr.read_text()[-2000:],
        "events": len(lines), "events_keep": args.events_keep,
        "mqtt_messages": listener.counts, "mqtt_status_at_end": listener.status,
        "preview_bytes": seen["bytes"], "preview_errors": seen["errors"],
        "warmup_frames": warm, "slopes": slopes(samples, warm), "samples": samples,
    }
    machine["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    out = Path(args.out)
    common.write_json(out / "soak.json", data)
    table = report(data)
    (out / "soak.md").write_text(table)
    print(table)
    shutil.rmtree(work, ignore_errors=True)
    if code != 0:
        sys.exit(f"soak: live ended with {code}: {data['summary']}")


def report(data: dict) -> str:
    names = {"rss_mb": "RSS (MB)", "fds": "open descriptors", "threads": "threads",
             "snapshots_mb": "snapshots (MB)", "events_jsonl_kb": "events.jsonl (KB)"}
    rows = [f"| {names[k]} | {v['after_warmup']} | {v['end']} | {v['min']:g}-{v['max']:g} | "
            f"{v['slope_per_10k']:+g} |" for k, v in data["slopes"].items()]
    return "\n".join([
        "# soak (benchmarks/soak.py)", "", common.header_line(data["machine"]), "",
        f"{data['frames']} frames of `edgecam live` ({data['model']} model, 2 regions, "
        f"events, MQTT + Home Assistant discovery, preview with a viewer) in "
        f"{data['wall_s']:.0f} s ({data['fps']} FPS); the stream dropped {data['drops']} "
        f"times ({data['reconnects']} reconnects), the broker {data['broker_drops']} times; "
        f"{data['events']} events (snapshots kept: {data['events_keep']}); exit code "
        f"{data['exit_code']}, MQTT status at the end: {data['mqtt_status_at_end']!r}.", "",
        f"| after frame {data['warmup_frames']} | at warm-up | at the end | range | "
        "slope per 10k frames |", "| --- | ---: | ---: | ---: | ---: |", *rows, ""])


if __name__ == "__main__":
    main()
