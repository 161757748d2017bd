"""The frontier on this CPU: the frame time of every family at 128-256 px, FP32 and INT8, at 1
and 2 threads, beside its ImageNet top-1; which family is the most accurate at each frame rate.

Timing: onnxruntime inference alone (``Engine.run``, batch 1, idle threads not spinning, as
``classify`` runs it) on a real photo preprocessed as the model wants it. Per thread count,
every (model, size, precision) session is loaded at once and timed in rounds, the order
reversed every round so a change in the machine's speed hits all of them alike; a config's
figure is the median over rounds of the median of its calls in that round. The weights are
the ImageNet checkpoint where it is at hand (EfficientNet-Lite0/1/2 ship offline;
MobileNetV3/V4 once in the Hugging Face cache), else edgecam's random init: speed does not
depend on the values.

Top-1 (ImageNet, what ``edgecam tune`` ranks by without ``--data``): the checkpoint's published
figure at its native size in FP32 (``p``); at other sizes and in INT8 that figure minus the drop
measured for the same checkpoint on 1000 labelled ImageNet pictures by
``benchmarks/offsize_accuracy.py`` (``m``: Lite0/1/2, whose weights are here), or, for a family
whose weights are not here, minus the drop borrowed from the nearest measured family (``~``).
Beside it, for the Lite checkpoints, the top-1 measured on those 1000 pictures themselves (the
sample may include training pictures, so it reads higher than ImageNet's validation figure;
compare it only within its column).

    python benchmarks/frontier.py                  # first run exports/quantizes ~110 files
    python benchmarks/frontier.py --quick          # 160 and 224 only, fewer rounds
    python benchmarks/frontier.py --render         # the table and plot again from the JSON

Writes ``benchmarks/results/frontier.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import MODELS_DIR, RESULTS_DIR, ROOT, log, machine, write_json  # noqa: E402

ARCHS = ("mobilenet_v1", "mobilenet_v2", "mixnet_s", "efficientnet_lite0", "efficientnet_lite1",
         "efficientnet_lite2", "mobilenet_v3_small", "mobilenet_v3_large",
         "mobilenet_v4_conv_small", "mobilenet_v4_conv_medium")
RESOLUTIONS = (128, 160, 192, 224, 256)
TARGETS = (15, 30, 60, 90, 120, 200)  # FPS the summary answers for
MIN_TURN_S = 0.05  # a config's turn lasts at least this long (/proc/stat counts 10 ms ticks)
FOLDER = MODELS_DIR / "frontier"
PHOTO = ROOT / "calibration" / "images" / "chelsea.jpg"
SAMPLE_RESULTS = RESULTS_DIR / "offsize_accuracy.json"


def label(arch: str) -> str:
    from edgecam.models.catalog import ARCHS as CATALOG

    return CATALOG[arch].description.split(":")[0]


def model_files(arch: str, res: int, frames: list) -> tuple[Path, Path, str]:
    """The FP32 and INT8 files (exported and quantized on first use) and the weights used."""
    from edgecam.models.at_hand import weights_at_hand
    from edgecam.models.catalog import weight_source
    from edgecam.models.export import export_model
    from edgecam.runtime.quantize import quantize_file

    weights = "imagenet" if weights_at_hand(weight_source(arch, 1.0)) else "random"
    fp32 = FOLDER / f"{arch}-{res}-{weights}.onnx"
    int8 = fp32.with_name(f"{fp32.stem}-int8.onnx")
    if not fp32.is_file():
        log(f"exporting {fp32.name}")
        export_model(arch, 1.0, res, weights=weights, output=fp32)
    if not int8.is_file():
        log(f"quantizing {fp32.name}")
        quantize_file(fp32, frames, int8)
    return fp32, int8, weights


def time_group(files: dict[tuple, Path], threads: int, rounds: int, calls: int
               ) -> tuple[dict[tuple, float], int]:
    """Median ms of every file at ``threads``, interleaved round by round; and how many of
    the config-rounds stayed disturbed. A config's turn in a round during which other
    processes kept more than a quarter of the CPUs busy is measured again (twice at most, the
    least disturbed counts), as tune measures its passes."""
    import cv2

    from edgecam.runtime.engine import Engine
    from edgecam.runtime.preprocess import Preprocessor
    from edgecam.tune.measure import DISTURBED, RETRIES
    from edgecam.util.cpushare import OthersShare

    photo = cv2.imread(str(PHOTO))
    sessions = {}
    for key, path in files.items():
        engine = Engine(path, threads, spin=False)
        x = Preprocessor(engine.meta)(photo).copy()
        for _ in range(3):
            engine.run(x)
        sessions[key] = (engine, x)
    per_round: dict[tuple, list[float]] = {k: [] for k in sessions}
    disturbed = 0
    keys = list(sessions)
    for r in range(rounds):
        for key in keys if r % 2 == 0 else reversed(keys):
            engine, x = sessions[key]
            tries = []
            for _ in range(RETRIES + 1):
                with OthersShare() as others:
                    times = []
                    start = time.perf_counter()
                    while len(times) < calls or time.perf_counter() - start < MIN_TURN_S:
                        t0 = time.perf_counter()
                        engine.run(x)
                        times.append((time.perf_counter() - t0) * 1e3)
                share = others.share if others.share is not None else 0.0
                tries.append((share, statistics.median(times)))
                if share <= DISTURBED:
                    break
            share, ms = min(tries)
            disturbed += share > DISTURBED
            per_round[key].append(ms)
    return {k: statistics.median(v) for k, v in per_round.items()}, disturbed


def sample_top1() -> dict[tuple, float]:
    """(arch, resolution, precision) -> top-1 on the 1000 sample pictures, at the crop each
    checkpoint is exported with (benchmarks/offsize_accuracy.py's last run)."""
    from edgecam.models.catalog import checkpoint_crop

    if not SAMPLE_RESULTS.is_file():
        return {}
    rows = json.loads(SAMPLE_RESULTS.read_text())["rows"]
    return {(r["arch"], r["resolution"], r["precision"]): r["top1"] for r in rows
            if r["crop_pct"] == checkpoint_crop(r["arch"], r["resolution"], 0.875)}


def imagenet_top1(arch: str, res: int, precision: str) -> tuple[float | None, str, str]:
    """(top-1, mark, how): tune's figure for the checkpoint at this size and precision."""
    from edgecam.models.catalog import weight_source
    from edgecam.tune.space import measured_family, prior_top1, weights_id

    src = weight_source(arch, 1.0)
    prior = prior_top1(arch, 1.0, res, precision, weights_id(src) if src else None)
    if prior.source == "published":
        mark = "p"
    else:
        mark = "m" if measured_family(arch) == arch else "~"
    return prior.top1, mark, prior.how or "published (the checkpoint's own, native size, FP32)"


def frontier(rows: list[dict], threads: int) -> list[dict]:
    """Per FPS target, the most accurate config (either precision) reaching it."""
    out = []
    for fps in TARGETS:
        ok = [r for r in rows if r["threads"] == threads and r["fps"] >= fps
              and r["top1"] is not None]
        best = max(ok, key=lambda r: (r["top1"], r["fps"])) if ok else None
        out.append({"fps": fps, "threads": threads, "best": best})
    return out


def pareto(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """(ms, top-1) points no other point beats on both, fastest first."""
    front: list[tuple[float, float]] = []
    for ms, top1 in sorted(points, key=lambda p: (p[0], -p[1])):
        if not front or top1 > front[-1][1]:
            front.append((ms, top1))
    return front


def plot(rows: list[dict], path: Path) -> None:
    """Four panels (FP32 / INT8 x 1 / 2 threads): one line per family across its sizes, the
    frontier over every family as a grey step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

    archs = list(dict.fromkeys(r["arch"] for r in rows))
    colours = plt.get_cmap("tab10")
    fig, axes = plt.subplots(2, 2, figsize=(12, 9), sharex=True, sharey=True)
    for (i, prec), (j, threads) in [(a, b) for a in enumerate(("fp32", "int8"))
                                    for b in enumerate((1, 2))]:
        ax = axes[i][j]
        every = []
        for k, arch in enumerate(archs):
            pts = sorted((r["ms"], r["top1"], r["resolution"]) for r in rows
                         if r["arch"] == arch and r["precision"] == prec
                         and r["threads"] == threads and r["top1"] is not None)
            every += [(ms, top1) for ms, top1, _ in pts]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "-o", color=colours(k),
                    markersize=3.5, linewidth=1, label=label(arch) if (i, j) == (0, 0) else None)
            for ms, top1, res in pts:
                ax.annotate(str(res), (ms, top1), fontsize=5.5, xytext=(2, 2),
                            textcoords="offset points", color=colours(k))
        front = pareto(every)
        ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="black",
                alpha=0.25, linewidth=4, label="frontier" if (i, j) == (0, 0) else None)
        for fps in (30, 60, 120):
            ax.axvline(1000 / fps, color="grey", linestyle=":", linewidth=0.8)
            ax.text(1000 / fps, 0.02, f" {fps} FPS", transform=ax.get_xaxis_transform(),
                    fontsize=7, color="grey")
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator([1, 2, 3, 5, 10, 20, 30, 50, 100]))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.set_title(f"{prec.upper()}, {threads} thread{'s' if threads > 1 else ''}", fontsize=10)
        ax.grid(True, alpha=0.3)
        if i == 1:
            ax.set_xlabel("inference ms (log)")
        if j == 0:
            ax.set_ylabel("ImageNet top-1 %")
    fig.legend(loc="lower center", ncol=6, fontsize=8, frameon=False)
    fig.suptitle("Top-1 against frame time on this CPU (numbers: input size; top-1 published "
                 "at the native size, elsewhere estimated)", fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 0.96))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(rows: list[dict], info: dict, rounds: int, calls: int, disturbed: dict[int, int],
             turns: int) -> str:
    lines = ["# The frontier on this CPU: top-1 against frame time", "",
             f"{info['cpu']} ({info['cores']} cores), onnxruntime {info['onnxruntime']}, "
             f"{info['date']}, load average at start {info['loadavg_start'][0]}, at end "
             f"{info['loadavg_end'][0]}. Inference ms (`Engine.run`, batch 1), median over "
             f"{rounds} interleaved rounds of the median of its calls in the round (at least "
             f"{calls}, at least {MIN_TURN_S * 1e3:.0f} ms); every config of one thread count "
             "timed side by side; a turn during which other processes kept more than a quarter "
             "of the CPUs busy measured again, twice at most (still disturbed: "
             f"{disturbed.get(1, 0)} of {turns} turns at 1 thread, {disturbed.get(2, 0)} at "
             "2). Top-1: ImageNet, `p` published for the checkpoint "
             "(native size, FP32), `m` published minus the drop measured for that checkpoint "
             "on 1000 ImageNet pictures, `~` minus a drop borrowed from the nearest measured "
             "family (estimated). Sample top-1: measured on those 1000 pictures (inflated: "
             "compare within the column).", ""]
    for threads in (1, 2):
        lines += [f"## Most accurate config at each frame rate, {threads} thread"
                  f"{'s' if threads > 1 else ''}", "", "| at least | config | ms | top-1 |",
                  "|---|---|---|---|"]
        for f in frontier(rows, threads):
            b = f["best"]
            lines.append(f"| {f['fps']} FPS | " + (
                f"{label(b['arch'])} {b['resolution']} {b['precision'].upper()} | "
                f"{b['ms']:.1f} | {b['top1']:.1f} {b['mark']} |" if b else "none | | |"))
        lines.append("")
    lines += ["## Published figures only: FP32 at each checkpoint's native size", "",
              "No estimate: the checkpoints' own top-1, frame times from the same run; the "
              "configs no other one beats on both, fastest first.", "",
              "| model | size | top-1 | ms 1 thread | ms 2 threads |", "|---|---|---|---|---|"]
    native = {(r["arch"], r["threads"]): r for r in rows
              if r["mark"] == "p" and r["precision"] == "fp32"}
    shown = set()
    for threads in (1, 2):
        front = pareto([(r["ms"], r["top1"]) for (a, t), r in native.items() if t == threads])
        shown |= {a for (a, t), r in native.items() if t == threads
                  and (r["ms"], r["top1"]) in front}
    for arch in sorted(shown, key=lambda a: native[a, 1]["ms"]):
        one, two = native[arch, 1], native[arch, 2]
        lines.append(f"| {label(arch)} | {one['resolution']} | {one['top1']:.1f} | "
                     f"{one['ms']:.1f} | {two['ms']:.1f} |")
    lines += ["", "## Every config", "",
              "| model | size | MMACs | FP32 ms 1t | INT8 ms 1t | FP32 ms 2t | INT8 ms 2t | "
              "top-1 FP32 | top-1 INT8 | sample top-1 FP32 / INT8 | weights timed |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    by = {(r["arch"], r["resolution"], r["precision"], r["threads"]): r for r in rows}
    for arch, res in dict.fromkeys((r["arch"], r["resolution"]) for r in rows):
        g = {k[2:]: v for k, v in by.items() if k[:2] == (arch, res)}
        f1, q1, f2, q2 = g["fp32", 1], g["int8", 1], g["fp32", 2], g["int8", 2]

        def top(r: dict) -> str:
            return f"{r['top1']:.1f} {r['mark']}" if r["top1"] is not None else "-"

        sample = (f"{f1['sample_top1']:.1f} / {q1['sample_top1']:.1f}"
                  if f1["sample_top1"] is not None and q1["sample_top1"] is not None else "-")
        lines.append(f"| {label(arch)} | {res} | {f1['macs'] / 1e6:.0f} | {f1['ms']:.1f} | "
                     f"{q1['ms']:.1f} | {f2['ms']:.1f} | {q2['ms']:.1f} | {top(f1)} | "
                     f"{top(q1)} | {sample} | {f1['weights']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--archs", default=",".join(ARCHS))
    ap.add_argument("--resolutions", default=",".join(map(str, RESOLUTIONS)))
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--calls", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="160 and 224, 3 rounds of 3 calls")
    ap.add_argument("--out", type=Path, default=RESULTS_DIR)
    ap.add_argument("--render", action="store_true",
                    help="only write the table and the plot again from OUT/frontier.json")
    args = ap.parse_args()
    if args.render:
        data = json.loads((args.out / "frontier.json").read_text())
        disturbed = {int(k): v for k, v in data["disturbed_turns"].items()}
        (args.out / "frontier.md").write_text(markdown(
            data["rows"], data["machine"], data["rounds"], data["calls"], disturbed,
            data["turns"]))
        plot(data["rows"], args.out / "frontier.png")
        return
    if args.quick:
        args.resolutions, args.rounds, args.calls = "160,224", 3, 3

    from edgecam.models.zoo import model_size
    from edgecam.runtime.quantize import calibration_images, load_frames

    started = time.monotonic()
    info = machine(2)
    FOLDER.mkdir(parents=True, exist_ok=True)
    frames = load_frames(calibration_images(ROOT / "calibration" / "images"))
    archs, sample = args.archs.split(","), sample_top1()
    files: dict[tuple, Path] = {}
    used = {}
    for res in (int(x) for x in args.resolutions.split(",")):
        for arch in archs:
            fp32, int8, used[arch] = model_files(arch, res, frames)
            files[arch, res, "fp32"], files[arch, res, "int8"] = fp32, int8
    rows = []
    disturbed = {}
    for threads in (1, 2):
        log(f"{threads} thread(s): timing {len(files)} sessions side by side")
        timed, disturbed[threads] = time_group(files, threads, args.rounds, args.calls)
        for (arch, res, prec), ms in timed.items():
            top1, mark, how = imagenet_top1(arch, res, prec)
            rows.append({"arch": arch, "resolution": res, "precision": prec,
                         "threads": threads, "ms": round(ms, 2), "fps": round(1000 / ms, 1),
                         "macs": model_size(arch, 1.0, res).macs, "top1": top1, "mark": mark,
                         "top1_how": how, "sample_top1": sample.get((arch, res, prec)),
                         "weights": used[arch]})
    info["loadavg_end"] = [round(x, 2) for x in __import__("os").getloadavg()]
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "frontier.json", {
        "machine": info, "rounds": args.rounds, "calls": args.calls, "rows": rows,
        "disturbed_turns": disturbed, "turns": len(files) * args.rounds,
        "frontier": [f for t in (1, 2) for f in frontier(rows, t)],
        "seconds": round(time.monotonic() - started, 1)})
    text = markdown(rows, info, args.rounds, args.calls, disturbed, len(files) * args.rounds)
    (args.out / "frontier.md").write_text(text)
    plot(rows, args.out / "frontier.png")
    print(text)
    log(f"done in {time.monotonic() - started:.0f} s: {args.out / 'frontier.md'}, "
        f"{args.out / 'frontier.png'}")


if __name__ == "__main__":
    main()
