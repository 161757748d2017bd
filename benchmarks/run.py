"""edgecam against the engines and the hand-written loop, side by side, in one run.

    python benchmarks/run.py [--quick] [--threads 2] [--out benchmarks/results]

For MobileNetV2 1.0/224 and 0.5/160, MixNet-S 224 and EfficientNet-Lite0 224 (exported once
with edgecam's export_model into benchmarks/.models/), on the same frames and thread count:

* in this process, repetitions interleaved (A B C ... A B C ...) so load drift hits every
  runner alike: torch eager, OpenCV dnn, onnxruntime alone (same preprocessed tensors), the
  bare decode + resize + onnxruntime loop, and the edgecam pipeline (run_file) without output,
  sequential (prefetch=0), and with overlay + video encoding;
* whole processes: ``edgecam classify VIDEO --json-out`` against ``benchmarks/bare_loop.py``
  on a 600-frame 640x480 video (wall time, startup included, peak RSS);
* cold start: Popen to the first JSON line of ``edgecam classify IMAGE``, and whether
  importing the runtime pulls in torch.

Writes OUT/latest.json and OUT/latest.md. Ratios are the figures; absolute times are context.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    HERE,
    KEYS,
    MODELS,
    RESULTS_DIR,
    ensure_model,
    header_line,
    log,
    machine,
    make_image,
    make_video,
    write_json,
)

TORCH = "torch eager"
DNN = "opencv dnn"
ORT = "onnxruntime (inference only)"
BARE = "bare loop (decode+resize+ort)"
PIPE = "edgecam pipeline"
PIPE_SEQ = "edgecam pipeline, prefetch=0"
PIPE_OUT = "edgecam pipeline + overlay + video"
PIPE_NOSPIN = "edgecam pipeline, ORT spinning off (experiment)"
ORDER = [TORCH, DNN, ORT, BARE, PIPE, PIPE_SEQ, PIPE_OUT]


# -- in-process runners ------------------------------------------------------------------------


class EngineRunner:
    """One inference call per frame on tensors preprocessed once (the engine's own speed)."""

    kind = "engine"

    def __init__(self, name: str, call, tensors) -> None:
        self.name, self.call, self.tensors = name, call, tensors
        self.samples: list[float] = []  # ms per call
        self.error: str | None = None

    def run(self, n: int, keep: bool = True) -> None:
        out = []
        for i in range(n):
            t = self.tensors[i % len(self.tensors)]
            t0 = time.perf_counter()
            self.call(t)
            out.append((time.perf_counter() - t0) * 1e3)
        if keep:
            self.samples += out

    def summary(self) -> dict:
        return {"ms": statistics.median(self.samples), "n": len(self.samples),
                "p90_ms": sorted(self.samples)[int(0.9 * (len(self.samples) - 1))]}


class PassRunner:
    """A pass over the video; ms/frame = wall / frames of that pass, median over passes."""

    kind = "video"

    def __init__(self, name: str, run_pass) -> None:
        self.name, self.run_pass = name, run_pass
        self.samples: list[float] = []  # ms/frame per pass
        self.stages: list[dict] = []
        self.error: str | None = None

    def run(self, n: int, keep: bool = True) -> None:
        t0 = time.perf_counter()
        frames, stages = self.run_pass(n)
        wall = time.perf_counter() - t0
        if frames < 1:
            raise RuntimeError(f"{self.name}: no frames")
        if keep:
            self.samples.append(wall * 1e3 / frames)
            self.stages.append(stages)

    def summary(self) -> dict:
        stages = {}
        if self.stages and self.stages[0]:
            for key in self.stages[0]:
                stages[key] = round(statistics.median(s[key] for s in self.stages), 3)
        return {"ms": statistics.median(self.samples), "n": len(self.samples),
                "passes_ms": [round(x, 3) for x in self.samples], "stages_ms": stages}


def bare_pass_factory(model_path: Path, video: Path, threads: int):
    """benchmarks/bare_loop.py's loop, in-process: its preprocessing, ORT_ENABLE_ALL."""
    import cv2
    import numpy as np
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    res = int(json.loads(meta["resolution"]))
    mean = np.array(json.loads(meta["mean"]), np.float32) * 255
    std = np.array(json.loads(meta["std"]), np.float32) * 255
    name = sess.get_inputs()[0].name

    def run_pass(n: int):
        cap = cv2.VideoCapture(str(video))
        dec = pre = inf = 0.0
        done = 0
        try:
            while done < n:
                t0 = time.perf_counter()
                ok, frame = cap.read()
                if not ok:
                    break
                t1 = time.perf_counter()
                img = cv2.resize(frame, (res, res), interpolation=cv2.INTER_AREA)
                img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB).astype(np.float32)
                x = np.ascontiguousarray(((img - mean) / std).transpose(2, 0, 1)[None])
                t2 = time.perf_counter()
                logits = sess.run(None, {name: x})[0][0]
                p = np.exp(logits - logits.max())
                p /= p.sum()
                np.argsort(-p)[:5]
                t3 = time.perf_counter()
                dec += t1 - t0
                pre += t2 - t1
                inf += t3 - t2
                done += 1
        finally:
            cap.release()
        k = 1e3 / max(done, 1)
        return done, {"decode": dec * k, "preprocess": pre * k, "infer+post": inf * k}

    return run_pass


def pipeline_pass_factory(engine, video: Path, prefetch: int = 3, output: Path | None = None):
    from edgecam.run.driver import ModelSpec, OutputSpec, Run
    from edgecam.sources.factory import open_source

    def run_pass(n: int):
        outputs = OutputSpec(uris=[str(output)] if output is not None else [])
        with Run(ModelSpec(model=engine), outputs) as run, open_source(str(video)) as source:
            pipeline = run.pipeline()
            done = run.feed(source, pipeline=pipeline, max_frames=n, prefetch=prefetch)
        return done, {k: round(v, 3) for k, v in pipeline.times.means().items()}

    return run_pass


def no_spin_engine(path: Path, threads: int):
    """An edgecam Engine whose session has intra-op spin-waiting off: with 2 cores, the
    decode thread competes with onnxruntime's spinning pool thread (experiment only)."""
    import onnxruntime as ort

    from edgecam.runtime.engine import Engine

    engine = Engine(path, threads)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = engine.threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    engine.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return engine


def in_process(models, video: Path, threads: int, frames: int, reps: int, calls: int,
               tmp: Path, experiments: bool = False) -> list[dict]:
    import cv2
    import numpy as np
    import torch

    from edgecam.models.export import load_weights
    from edgecam.models.zoo import create_model
    from edgecam.pipeline.model import Model
    from edgecam.runtime.engine import Engine
    from edgecam.sources.factory import open_source

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    rows: list[dict] = []
    for mi, (label, arch, alpha, res, weights, path) in enumerate(models):
        log(f"[{mi + 1}/{len(models)}] {label}: setting up runners")
        engine = Engine(path, threads)
        pre = Model(engine).pre
        tensors = []
        with open_source(str(video)) as src:
            for frame in src:
                tensors.append(pre(frame.image).copy())
                if len(tensors) >= 30:
                    break

        runners = []
        net = create_model(arch, alpha, res)
        load_weights(net, arch, alpha, weights)
        net.eval()
        ttensors = [torch.from_numpy(t) for t in tensors]

        def torch_call(t, net=net):
            with torch.inference_mode():
                net(t)

        runners.append(EngineRunner(TORCH, torch_call, ttensors))
        dnn = EngineRunner(DNN, None, tensors)
        try:
            cvnet = cv2.dnn.readNetFromONNX(str(path))
            cvnet.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)

            def dnn_call(t, cvnet=cvnet):
                cvnet.setInput(t)
                return cvnet.forward()

            out = dnn_call(tensors[0])
            ref = engine.run(tensors[0])
            dnn.call = dnn_call
            dnn.parity = float(np.abs(out.reshape(ref.shape) - ref).max()
                               / max(1e-9, float(np.abs(ref).max())))
        except Exception as exc:  # OpenCV 5 may not import every graph: record, don't crash
            dnn.error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1][:200]}"
            log(f"  opencv dnn cannot run {path.name}: {dnn.error}")
        runners.append(dnn)
        runners.append(EngineRunner(ORT, engine.run, tensors))
        runners.append(PassRunner(BARE, bare_pass_factory(path, video, threads)))
        runners.append(PassRunner(PIPE, pipeline_pass_factory(engine, video)))
        runners.append(PassRunner(PIPE_SEQ, pipeline_pass_factory(engine, video, prefetch=0)))
        runners.append(PassRunner(PIPE_OUT, pipeline_pass_factory(
            engine, video, output=tmp / f"{path.stem}.labeled.mp4")))
        if experiments:
            runners.append(PassRunner(PIPE_NOSPIN, pipeline_pass_factory(
                no_spin_engine(path, threads), video)))
        live = [r for r in runners if r.error is None]

        for r in live:  # warm-up: allocators, thread pools, page cache
            r.run(max(5, calls // 4) if r.kind == "engine" else min(10, frames), keep=False)
        for rep in range(reps):
            t0 = time.perf_counter()
            for r in live:
                r.run(calls if r.kind == "engine" else frames)
                time.sleep(0.05)  # let the previous runner's spinning threads go idle
            log(f"  {label}: rep {rep + 1}/{reps} in {time.perf_counter() - t0:.1f} s")

        result = {r.name: r for r in runners}
        base = result[BARE].summary()["ms"]
        tms = result[TORCH].summary()["ms"]
        for r in runners:
            row = {"model": label, "runner": r.name, "kind": r.kind}
            if r.error is not None:
                row["error"] = r.error
            else:
                s = r.summary()
                row.update(s)
                row["ms"] = round(s["ms"], 3)
                row["fps"] = round(1e3 / s["ms"], 1)
                row["x_bare"] = round(base / s["ms"], 3)
                row["x_torch"] = round(tms / s["ms"], 3)
                if getattr(r, "parity", None) is not None:
                    row["parity_vs_ort"] = r.parity
            rows.append(row)
        del net, runners, live, result
    return rows


# -- whole processes ---------------------------------------------------------------------------


def edgecam_cmd() -> list[str]:
    script = Path(sys.executable).parent / "edgecam"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "edgecam"]


def run_process(cmd: list[str], json_out: Path, first_line: bool = False) -> dict:
    """Wall time (Popen to exit), peak RSS (wait4), and optionally the time until the first
    complete line appears in ``json_out``."""
    json_out.unlink(missing_ok=True)
    err = tempfile.TemporaryFile()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
    first = None
    hwm_kb = 0.0
    status_path = f"/proc/{proc.pid}/status"
    # wait4's ru_maxrss is useless here: Linux carries the parent's high-water mark over
    # vfork+exec, so every child would report at least this (torch-sized) process. VmHWM of
    # the child's own address space is polled instead until it exits (a zombie has none).
    while True:
        try:
            with open(status_path) as fh:
                hwm = [line for line in fh if line.startswith("VmHWM:")]
        except OSError:
            hwm = []
        if not hwm:
            break
        hwm_kb = max(hwm_kb, float(hwm[0].split()[1]))
        if first_line and first is None:
            try:
                with open(json_out, "rb") as fh:
                    if b"\n" in fh.read(65536):
                        first = time.perf_counter() - t0
            except FileNotFoundError:
                pass
        time.sleep(0.002 if first_line and first is None else 0.005)
    out = proc.stdout.read()
    _, status, _usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err.seek(0)
    stderr = err.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {stderr[-800:]}")
    lines = json_out.read_text().count("\n") if json_out.is_file() else 0
    if first_line and first is None and lines:
        first = wall  # it finished between two polls: the exit is an upper bound
    return {"wall_s": wall, "peak_rss_mb": hwm_kb / 1024, "lines": lines,
            "first_line_s": first, "stdout": out.decode(errors="replace").strip()[-400:]}


def processes(models, video: Path, threads: int, reps: int, tmp: Path) -> list[dict]:
    rows = []
    bare_script = str(HERE / "bare_loop.py")
    for mi, (label, *_rest, path) in enumerate(models):
        jb, je = tmp / "bare.jsonl", tmp / "edgecam.jsonl"
        runs = {
            "bare_loop.py": [sys.executable, bare_script, str(path), str(video),
                             "--threads", str(threads), "--json-out", str(jb)],
            "edgecam classify": edgecam_cmd() + ["classify", str(video), "--model", str(path),
                                                 "--threads", str(threads),
                                                 "--json-out", str(je)],
        }
        outs = {"bare_loop.py": jb, "edgecam classify": je}
        samples: dict[str, list[dict]] = {k: [] for k in runs}
        for k in runs:  # warm-up: page cache of the interpreter, libraries and the video
            run_process(runs[k], outs[k])
        for rep in range(reps):
            for k in runs:
                samples[k].append(run_process(runs[k], outs[k]))
            log(f"  processes [{mi + 1}/{len(models)}] {label}: rep {rep + 1}/{reps} "
                + ", ".join(f"{k} {samples[k][-1]['wall_s']:.2f} s" for k in runs))
        med = {k: statistics.median(s["wall_s"] for s in v) for k, v in samples.items()}
        row = {
            "model": label,
            "frames": samples["edgecam classify"][0]["lines"],
            "bare_frames": samples["bare_loop.py"][0]["lines"],
            "wall_s": {k: round(v, 3) for k, v in med.items()},
            "walls_s": {k: [round(s["wall_s"], 3) for s in v] for k, v in samples.items()},
            "peak_rss_mb": {k: round(max(s["peak_rss_mb"] for s in v), 1)
                            for k, v in samples.items()},
            "ratio_bare_over_edgecam": round(med["bare_loop.py"] / med["edgecam classify"], 3),
        }
        try:
            row["bare_first_prediction_s"] = json.loads(
                samples["bare_loop.py"][-1]["stdout"].splitlines()[-1]).get("first_prediction_s")
        except (ValueError, IndexError):
            pass
        rows.append(row)
    return rows


def cold_start(models, threads: int, reps: int, tmp: Path) -> dict:
    image = make_image()
    out: dict = {"image": str(image), "runs": []}
    probe = subprocess.run(
        [sys.executable, "-c", "import edgecam.cli, edgecam.pipeline.loop; import sys; "
         "print('torch' in sys.modules)"], capture_output=True, text=True, check=True)
    out["torch_imported_by_runtime"] = probe.stdout.strip()
    for label, *_rest, path in models:
        js = tmp / "cold.jsonl"
        cmd = edgecam_cmd() + ["classify", str(image), "--model", str(path),
                               "--threads", str(threads), "--json-out", str(js)]
        run_process(cmd, js, first_line=True)  # warm-up (page cache)
        firsts, walls, rss = [], [], []
        for _ in range(reps):
            r = run_process(cmd, js, first_line=True)
            firsts.append(r["first_line_s"])
            walls.append(r["wall_s"])
            rss.append(r["peak_rss_mb"])
        out["runs"].append({
            "model": label, "first_prediction_s": round(statistics.median(firsts), 3),
            "first_prediction_all_s": [round(x, 3) for x in firsts],
            "wall_s": round(statistics.median(walls), 3), "peak_rss_mb": round(max(rss), 1)})
        log(f"  cold start {label}: {statistics.median(firsts):.3f} s to first line")
    return out


# -- report ------------------------------------------------------------------------------------


def fmt(x, spec=".2f") -> str:
    return "—" if x is None else format(x, spec)


def markdown(data: dict) -> str:
    m = data["machine"]
    lines = [f"# edgecam benchmark{' (--quick: noisy, few frames)' if data['quick'] else ''}",
             "", header_line(m), "",
             f"In-process: {data['config']['frames']} frames/pass from a 640x480 mp4, "
             f"{data['config']['reps']} interleaved repetitions, median. "
             "× bare = bare-loop ms / row ms, × torch = torch ms / row ms (higher is faster). "
             "Inference-only rows (torch, dnn, onnxruntime) run on preprocessed tensors; the "
             "others include decode and preprocessing.", "",
             "| model | runner | ms/frame | FPS | × bare | × torch | RSS MB |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in data["in_process"]:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['runner']} | error: {r['error'][:90]} "
                         "| | | | |")
            continue
        lines.append(f"| {r['model']} | {r['runner']} | {r['ms']:.2f} | {r['fps']:.1f} | "
                     f"{r['x_bare']:.2f} | {r['x_torch']:.2f} | (shared) |")
    if data.get("processes"):
        n = data["config"]["process_frames"]
        lines += ["", f"Whole processes, {n}-frame 640x480 video, startup included "
                  f"({data['config']['process_reps']} interleaved runs, median wall):", "",
                  "| model | bare_loop.py s | edgecam classify s | wall(bare)/wall(edgecam) "
                  "| bare RSS MB | edgecam RSS MB |",
                  "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for r in data["processes"]:
            w, rss = r["wall_s"], r["peak_rss_mb"]
            lines.append(f"| {r['model']} | {w['bare_loop.py']:.2f} | "
                         f"{w['edgecam classify']:.2f} | {r['ratio_bare_over_edgecam']:.2f} | "
                         f"{rss['bare_loop.py']:.0f} | {rss['edgecam classify']:.0f} |")
    if data.get("cold_start"):
        c = data["cold_start"]
        lines += ["", "Cold start, `edgecam classify IMAGE --json-out F`: Popen to the first "
                  f"JSON line (torch imported by `edgecam.cli` + `edgecam.pipeline.loop`: "
                  f"{c['torch_imported_by_runtime']}):", "",
                  "| model | first prediction s | process wall s | peak RSS MB |",
                  "| --- | ---: | ---: | ---: |"]
        for r in c["runs"]:
            lines.append(f"| {r['model']} | {r['first_prediction_s']:.3f} | {r['wall_s']:.3f} | "
                         f"{r['peak_rss_mb']:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="few frames, one model for processes")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(RESULTS_DIR))
    ap.add_argument("--models", default=None,
                    help=f"comma-separated subset of {','.join(KEYS)} (default: all)")
    ap.add_argument("--frames", type=int, default=None, help="frames per in-process pass")
    ap.add_argument("--reps", type=int, default=None, help="interleaved repetitions")
    ap.add_argument("--calls", type=int, default=None, help="inference calls per rep")
    ap.add_argument("--process-frames", type=int, default=None)
    ap.add_argument("--process-reps", type=int, default=None)
    ap.add_argument("--experiments", action="store_true",
                    help="add rows that patch edgecam's session (ORT spinning off)")
    ap.add_argument("--skip", default="", help="comma list of: inprocess,processes,cold")
    args = ap.parse_args()

    q = args.quick
    frames = args.frames or (40 if q else 300)
    reps = args.reps or (2 if q else 5)
    calls = args.calls or (10 if q else 60)
    pframes = args.process_frames or (60 if q else 600)
    preps = args.process_reps or (1 if q else 3)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    keys = args.models.split(",") if args.models else list(KEYS)
    chosen = [MODELS[KEYS[k]] for k in keys]

    models = [(*m, ensure_model(*m[1:])) for m in chosen]
    video = make_video(frames)
    pvideo = make_video(pframes)
    out_dir = Path(args.out)
    tmp = Path(tempfile.mkdtemp(prefix="edgecam-bench-"))
    started = time.time()
    load_start = [round(x, 2) for x in os.getloadavg()]
    data: dict = {"quick": q, "config": {
        "frames": frames, "reps": reps, "calls": calls, "process_frames": pframes,
        "process_reps": preps, "video": str(video), "process_video": str(pvideo)}}
    try:
        if "inprocess" not in skip:
            log(f"in-process: {len(models)} models x {len(ORDER)} runners x {reps} reps")
            data["in_process"] = in_process(models, video, args.threads, frames, reps, calls,
                                            tmp, args.experiments)
        else:
            data["in_process"] = []
        data["machine"] = machine(args.threads, with_torch="torch" in sys.modules)
        data["machine"]["loadavg_start"] = load_start
        if "processes" not in skip:
            pmodels = models[:1] if q else models
            log(f"whole processes: {len(pmodels)} model(s), {pframes} frames, {preps} reps")
            data["processes"] = processes(pmodels, pvideo, args.threads, preps, tmp)
        if "cold" not in skip:
            cmodels = [m for m in models if m[1] in ("mobilenet_v2", "efficientnet_lite0")
                       and m[2] == 1.0] or models[:1]
            log("cold start")
            data["cold_start"] = cold_start(cmodels, args.threads, 2 if q else 5, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    data["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    data["seconds"] = round(time.time() - started, 1)
    write_json(out_dir / "latest.json", data)
    md = markdown(data)
    (out_dir / "latest.md").write_text(md)
    print(md)
    log(f"wrote {out_dir / 'latest.json'} and {out_dir / 'latest.md'} in {data['seconds']} s")


if __name__ == "__main__":
    main()
