"""A choice with no regret, shown: ``edgecam tune --target-fps F`` with its defaults, beside every
config it could have chosen, each benched side by side on this machine, with its top-1 on the
labelled ImageNet sample of ``offsize_accuracy.py``.

1. The FP32 EfficientNet-Lite0 224 frame rate, measured first: ``edgecam bench`` (the whole
   pipeline ``tune`` measures, on the synthetic 640x480 source) at 2 and 1 threads, interleaved
   rounds; the better median.
2. ``edgecam tune --target-fps F --json-out ... --no-save-profile`` at F = 1.3x and 2.5x that
   rate, nothing else (its default families, precisions, threads and budget; ``--budget-s`` only
   when given here).
3. Every config in tune's grid (Lite0/1/2 at the sizes ``tune.space.resolutions`` gives, FP32 and
   INT8, each thread count), benched with ``edgecam bench`` one after another: a first pass over
   all, then configs below ``SKIP`` x the lower target in that pass are dropped as far too slow,
   then ``--rounds`` more interleaved rounds (alternating order) over the rest. Median, low, high
   of all passes.
4. Top-1 of each (family, size, precision) from ``benchmarks/results/offsize_accuracy.json``,
   at the centre crop the exported file carries (its metadata), not re-measured. Per target:
   the configs whose median reaches F, the best top-1 among them, the chosen config's top-1 and
   the regret (best - chosen).

The model files live in ``benchmarks/.models/regret/`` (``EDGECAM_MODELS`` for every command;
git-ignored), exported and quantized on first use exactly as ``offsize_accuracy.py`` does, so
``tune`` finds them all and spends its budget measuring. The machine should be quiet: the run
waits until the 1-minute load average is below ``--max-load`` and checks, before each round,
that the CPU is idle while it pauses (other processes' load is logged in the JSON).

    python benchmarks/regret.py                 # ~15 min on a 2-core x86 once the files exist
    python benchmarks/regret.py --dry-run       # a minute: tiny frames, Lite0 only, /tmp output

Writes ``benchmarks/results/regret.{json,md}`` and each tune run's JSON and table beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import MODELS_DIR, RESULTS_DIR, ROOT, log, machine, write_json  # noqa: E402

ARCHS = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
STORE = MODELS_DIR / "regret"
BASELINE = "efficientnet_lite0-1.0-224"
FACTORS = (1.3, 2.5)
MAX_FRAMES = 2000
SKIP = 0.5  # a config under half the lower target in its first pass is far too slow
ACCURACY = RESULTS_DIR / "offsize_accuracy.json"


def env() -> dict:
    return {**os.environ, "EDGECAM_MODELS": str(STORE)}


def edgecam(*args: str) -> str:
    cmd = [sys.executable, "-m", "edgecam", *args]
    done = subprocess.run(cmd, cwd=ROOT, env=env(), text=True, capture_output=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[1:])} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def shown(args: list[str]) -> str:
    return "EDGECAM_MODELS=benchmarks/.models/regret python -m edgecam " + " ".join(args)


# --- a quiet machine ----------------------------------------------------------------------------


def cpu_busy(seconds: float = 3.0) -> float:
    """Share of all CPUs busy over ``seconds`` while this script waits (other processes)."""
    from edgecam.util.cpushare import OthersShare

    with OthersShare() as others:
        time.sleep(seconds)
    return others.share or 0.0


def wait_load(max_load: float, limit_s: float) -> list[float]:
    start = time.monotonic()
    while True:
        load = [round(x, 2) for x in os.getloadavg()]
        if load[0] < max_load:
            return load
        if time.monotonic() - start > limit_s:
            raise SystemExit(f"load average {load} did not fall below {max_load} in {limit_s:g} s")
        log(f"load average {load[0]} >= {max_load}: waiting")
        time.sleep(20)


def wait_idle(max_busy: float, limit_s: float) -> float:
    """Wait until other processes use under ``max_busy`` of the CPUs; returns that share."""
    start = time.monotonic()
    while True:
        busy = cpu_busy()
        if busy < max_busy or time.monotonic() - start > limit_s:
            if busy >= max_busy:
                log(f"CPU still {busy:.0%} busy after {limit_s:g} s; measuring anyway (logged)")
            return round(busy, 3)
        log(f"CPU {busy:.0%} busy with other processes: waiting")
        time.sleep(10)


# --- files ----------------------------------------------------------------------------------------


def ensure_files(configs: list[tuple[str, int, str]], calibration: Path) -> None:
    """Export (ImageNet weights) and quantize what the store lacks, as offsize_accuracy.py does."""
    STORE.mkdir(parents=True, exist_ok=True)
    for arch, res, prec in configs:
        fp32 = STORE / f"{arch}-1.0-{res}.onnx"
        if not fp32.is_file():
            log(f"edgecam export {arch} -r {res}")
            edgecam("export", arch, "--resolution", str(res), "--output", str(fp32))
        int8 = STORE / f"{arch}-1.0-{res}-int8.onnx"
        if prec == "int8" and not int8.is_file():
            log(f"edgecam quantize {fp32.name}")
            edgecam("quantize", str(fp32), "--calibration", str(calibration), "--output",
                    str(int8))


def file_of(arch: str, res: int, prec: str) -> Path:
    return STORE / f"{arch}-1.0-{res}{'-int8' if prec == 'int8' else ''}.onnx"


def crop_of(path: Path) -> float:
    from edgecam.runtime.engine import Engine

    return Engine(path, 1).meta.crop_pct


def top1_table() -> dict[tuple[str, int, str, float], dict]:
    rows = json.loads(ACCURACY.read_text())["rows"]
    return {(r["arch"], r["resolution"], r["precision"], r["crop_pct"]): r for r in rows}


# --- frame rates ----------------------------------------------------------------------------------


def cpu_seconds() -> tuple[float, float]:
    """(CPU seconds all processes were busy, this script's children's CPU seconds) so far."""
    import resource

    from edgecam.util.cpushare import busy_seconds

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return busy_seconds() or 0.0, ru.ru_utime + ru.ru_stime


def bench(path: Path, threads: int, frames: int) -> tuple[float, float]:
    """The pass's FPS, and the share of the CPUs other processes used during it; a pass during
    which they used more than tune's limit is run again (twice at most) as tune does, and the
    least disturbed one counts."""
    from edgecam.tune.measure import DISTURBED, RETRIES

    tries = []
    for _ in range(RETRIES + 1):
        b0, c0 = cpu_seconds()
        t0 = time.monotonic()
        out = edgecam("bench", str(path), "--threads", str(threads), "--frames", str(frames),
                      "--json")
        b1, c1 = cpu_seconds()
        cores = len(os.sched_getaffinity(0))
        others = max(0.0, (b1 - b0) - (c1 - c0)) / (cores * max(1e-9, time.monotonic() - t0))
        tries.append((round(others, 2), float(json.loads(out)["fps"])))
        if others <= DISTURBED:
            break
    others, fps = min(tries)
    return fps, others


def summary(passes: list[float]) -> dict:
    q1 = statistics.quantiles(passes, n=4, method="inclusive")[0] if len(passes) > 1 else passes[0]
    return {"median": round(statistics.median(passes), 1), "low": round(min(passes), 1),
            "q1": round(q1, 1),
            "high": round(max(passes), 1), "passes": [round(p, 1) for p in passes]}


def baseline(rounds: int, frames: int) -> dict:
    passes: dict[int, list[float]] = {2: [], 1: []}
    path = file_of("efficientnet_lite0", 224, "fp32")
    for r in range(rounds):
        for t in (2, 1) if r % 2 == 0 else (1, 2):
            passes[t].append(bench(path, t, frames)[0])
        log(f"baseline round {r + 1}: " + ", ".join(f"{t} thr {p[-1]:.1f}"
                                                     for t, p in passes.items()))
    per = {t: summary(p) for t, p in passes.items()}
    best = max(per, key=lambda t: per[t]["median"])
    return {"model": BASELINE, "frames": frames, "rounds": rounds,
            "command": shown(["bench", f"{BASELINE} (file)", "--threads", "T", "--frames",
                              str(frames), "--json"]),
            "threads": {str(t): s for t, s in per.items()}, "best_threads": best,
            "fps": per[best]["median"]}


def run_tune(fps: float, tag: str, budget: float | None, out_dir: Path) -> dict:
    json_out = out_dir / f"regret-tune-{tag}.json"
    args = ["tune", "--target-fps", f"{fps:.1f}", "--json-out", str(json_out),
            "--no-save-profile"]
    if budget is not None:
        args += ["--budget-s", f"{budget:g}"]
    log(shown(args))
    table = edgecam(*args)
    (out_dir / f"regret-tune-{tag}.txt").write_text(table)
    result = json.loads(json_out.read_text())
    shown_args = [a if a != str(json_out) else str(json_out.relative_to(ROOT)
                                                      if json_out.is_relative_to(ROOT)
                                                      else json_out) for a in args]
    return {"command": shown(shown_args), "json": result, "table": table}


# --- the run --------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds after the first pass")
    ap.add_argument("--frames", type=int, default=200, help="frames per bench pass")
    ap.add_argument("--pass-s", type=float, default=1.5,
                    help="after the first pass, frames per pass = first-pass FPS x this")
    ap.add_argument("--baseline-rounds", type=int, default=3)
    ap.add_argument("--budget-s", type=float, default=None,
                    help="passed to tune (default: tune's own default)")
    ap.add_argument("--family", action="append", choices=ARCHS,
                    help="bench only these families (dry runs); tune always runs with defaults")
    ap.add_argument("--max-load", type=float, default=1.5)
    ap.add_argument("--max-busy", type=float, default=0.25)
    ap.add_argument("--calibration", type=Path, default=ROOT / "calibration" / "images")
    ap.add_argument("--out", type=Path, default=RESULTS_DIR / "regret")
    ap.add_argument("--more-rounds", type=int, default=0,
                    help="add this many interleaved rounds to the last run's JSON (--out)")
    ap.add_argument("--recheck", action="append", metavar="ARCH:SIZE:PRECISION:THREADS",
                    help="only bench these configs, 3 interleaved rounds of 450 frames, into "
                         "results/regret-recheck.json (repeat)")
    ap.add_argument("--report-only", action="store_true",
                    help="recompute the report from the last run's JSON, measuring nothing")
    ap.add_argument("--redo-rounds", action="store_true",
                    help="with --more-rounds: drop the last run's rounds after the first pass "
                         "(say, another process ran through them) and measure new ones")
    ap.add_argument("--dry-run", action="store_true",
                    help="tiny: 30 frames, 1 baseline round, 1 round, Lite0 only, /tmp output")
    args = ap.parse_args()
    if args.dry_run:
        args.frames, args.baseline_rounds, args.rounds, args.pass_s = 30, 1, 1, 0.1
        args.family = args.family or ["efficientnet_lite0"]
        args.budget_s = args.budget_s or 15
        args.out = Path("/tmp/edgecam-regret-dry/regret")
        args.max_load, args.max_busy = 99, 2.0
    out_dir = args.out.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.recheck:
        recheck(args)
        return
    if args.more_rounds or args.report_only:
        resume(args)
        return

    from edgecam.tune.space import resolutions

    grid = [(a, r, p) for a in ARCHS for r in resolutions(a, 1.0) for p in ("fp32", "int8")]
    ensure_files(grid, args.calibration)
    started = time.monotonic()
    load_start = wait_load(args.max_load, 3600)
    info = machine(threads=0)
    info["loadavg_start"] = load_start
    quiet = {"baseline": wait_idle(args.max_busy, 600)}
    log(f"load average {load_start}, other processes {quiet['baseline']:.0%} of the CPUs")

    base = baseline(args.baseline_rounds, 300 if not args.dry_run else args.frames)
    log(f"FP32 Lite0 224: {base['fps']} FPS (median at {base['best_threads']} threads)")
    targets = {f"{f:g}x": round(f * base["fps"], 1) for f in FACTORS}

    tunes = {}
    for tag, fps in targets.items():
        quiet[f"tune {tag}"] = wait_idle(args.max_busy, 600)
        tunes[tag] = run_tune(fps, tag, args.budget_s, out_dir)
        ch = tunes[tag]["json"]["chosen"]
        log(f"tune {tag} ({fps} FPS): " + (f"{ch['name']} x{ch['threads']}" if ch else "none"))

    # every config tune's grid holds (the same at both targets)
    cands = {(c["arch"], c["resolution"], c["precision"], c["threads"])
             for t in tunes.values() for c in t["json"]["candidates"]}
    configs = sorted(c for c in cands if not args.family or c[0] in args.family)
    low_target = min(targets.values())
    passes: dict[tuple, list[float]] = {c: [] for c in configs}
    others: dict[tuple, list[float]] = {c: [] for c in configs}
    quiet["first pass"] = wait_idle(args.max_busy, 600)
    for c in configs:
        fps, other = bench(file_of(*c[:3]), c[3], args.frames)
        passes[c].append(fps)
        others[c].append(other)
        log(f"first pass {c}: {fps:.1f} (others {other:.0%})")
    skipped = {c: passes[c][0] for c in configs if passes[c][0] < SKIP * low_target}
    kept = [c for c in configs if c not in skipped]
    log(f"{len(skipped)} configs under {SKIP:g} x {low_target} FPS in the first pass: skipped")
    # later passes last about --pass-s each (a fast config's 200 frames take a fifth of a second)
    frames = {c: max(args.frames, min(MAX_FRAMES, round(passes[c][0] * args.pass_s)))
              for c in kept}
    rounds(args, kept, frames, passes, others, quiet, 0)
    state = {"info": info, "quiet": quiet, "base": base, "targets": targets, "tunes": tunes,
             "configs": configs, "passes": passes, "others": others, "skipped": skipped,
             "frames": frames, "started": time.monotonic() - started, "rounds": 1 + args.rounds}
    report(args, state)


def rounds(args, kept, frames, passes, others, quiet, done: int) -> None:
    """``args.rounds`` interleaved rounds over ``kept``, alternating order, after ``done``."""
    for r in range(done, done + args.rounds):
        quiet[f"round {r + 1}"] = wait_idle(args.max_busy, 600)
        for c in kept if r % 2 else kept[::-1]:
            fps, other = bench(file_of(*c[:3]), c[3], frames[c])
            passes[c].append(fps)
            others[c].append(other)
        log(f"round {r + 1} done")


def recheck(args) -> None:
    """--recheck: a few configs again, side by side (3 interleaved rounds, 450 frames)."""
    cfgs = [(a, int(r), p, int(t)) for a, r, p, t in (x.split(":") for x in args.recheck)]
    passes: dict[tuple, list[float]] = {c: [] for c in cfgs}
    others: dict[tuple, list[float]] = {c: [] for c in cfgs}
    for r in range(3):
        for c in cfgs if r % 2 else cfgs[::-1]:
            fps, other = bench(file_of(*c[:3]), c[3], 450)
            passes[c].append(fps)
            others[c].append(other)
    out = {"date": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
           "command": "edgecam bench FILE --threads T --frames 450 --json, 3 interleaved rounds",
           "rows": [{"config": f"{c[0]}-{c[1]}-{c[2]} x{c[3]}",
                     "passes": [round(p, 1) for p in passes[c]],
                     "median": round(statistics.median(passes[c]), 1), "others": others[c]}
                    for c in cfgs]}
    write_json(args.out.parent / "regret-recheck.json", out)
    print(json.dumps(out, indent=1))


def resume(args) -> None:
    """--more-rounds: the last run's passes (its JSON), plus more interleaved rounds."""
    old = json.loads(args.out.with_suffix(".json").read_text())
    configs = [(r["arch"], r["resolution"], r["precision"], r["threads"]) for r in old["rows"]]
    passes = {c: list(r["passes"]) for c, r in zip(configs, old["rows"])}
    others = {c: list(r.get("others") or [None] * len(r["passes"]))
              for c, r in zip(configs, old["rows"])}
    skipped = {c: r["passes"][0] for c, r in zip(configs, old["rows"]) if r["skipped"]}
    frames = {c: r["frames"] for c, r in zip(configs, old["rows"]) if not r["skipped"]}
    kept = [c for c in configs if c not in skipped]
    quiet = old["quiet"]["other_cpu_share_before"]
    done = old["rounds"] - 1
    notes = list(old.get("notes", []))
    if args.redo_rounds:
        passes = {c: p[:1] for c, p in passes.items()}
        others = {c: o[:1] for c, o in others.items()}
        quiet = {k: v for k, v in quiet.items() if not k.startswith("round")}
        notes.append(f"rounds 1-{done} of the run of {old['machine']['date']} dropped "
                     "(another process ran through them); its first pass kept, new rounds "
                     f"from {time.strftime('%H:%M:%S')}")
        done = 0
    args.frames, args.pass_s = old["frames_per_pass"], old["pass_s"]
    started = time.monotonic()
    args.rounds = args.more_rounds
    rounds(args, kept, frames, passes, others, quiet, done)
    out_dir = args.out.parent
    tunes = {}
    for tag, t in old["targets"].items():
        tunes[tag] = {"command": t["tune"]["command"],
                      "json": json.loads((out_dir / f"regret-tune-{tag}.json").read_text()),
                      "table": (out_dir / f"regret-tune-{tag}.txt").read_text()}
    info = old["machine"]
    info["more_rounds"] = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "rounds": args.rounds,
                           "loadavg_start": [round(x, 2) for x in os.getloadavg()]}
    state = {"info": info, "quiet": quiet, "base": old["baseline"],
             "targets": {tag: t["target_fps"] for tag, t in old["targets"].items()},
             "tunes": tunes, "configs": configs, "passes": passes, "others": others,
             "skipped": skipped, "frames": frames,
             "started": old["seconds"] + time.monotonic() - started,
             "rounds": 1 + done + args.rounds, "notes": notes}
    report(args, state)


def report(args, st: dict) -> None:
    configs, passes, others, skipped = st["configs"], st["passes"], st["others"], st["skipped"]
    frames, targets, tunes = st["frames"], st["targets"], st["tunes"]
    low_target = min(targets.values())
    acc = top1_table()
    rows = []
    for c in configs:
        arch, res, prec, threads = c
        crop = crop_of(file_of(arch, res, prec))
        a = acc.get((arch, res, prec, crop))
        rows.append({"arch": arch, "resolution": res, "precision": prec, "threads": threads,
                     "crop_pct": crop, "top1": a["top1"] if a else None,
                     "top1_se": a["se"] if a else None,
                     "skipped": c in skipped, "frames": frames.get(c, args.frames),
                     **summary(passes[c]), "others": others[c]})

    per_target = {}
    for tag, fps in targets.items():
        t = tunes[tag]["json"]
        ch = t["chosen"]
        reach = [r for r in rows if not r["skipped"] and r["median"] >= fps]
        best = max((r["top1"] for r in reach if r["top1"] is not None), default=None)
        # tune's own rule: the lower quartile of the passes reaches the target plus its margin
        need = fps * (1 + t["margin"])
        reach_q = [r for r in rows if not r["skipped"] and r["q1"] >= need]
        best_q = max((r["top1"] for r in reach_q if r["top1"] is not None), default=None)
        chosen_row = None
        if ch:
            chosen_row = next((r for r in rows if (r["arch"], r["resolution"], r["precision"],
                                                   r["threads"]) == (ch["arch"], ch["resolution"],
                                                                     ch["precision"],
                                                                     ch["threads"])), None)
        chosen_top1 = None
        if ch:  # from the accuracy table, benched here or not
            a = acc.get((ch["arch"], ch["resolution"], ch["precision"],
                         crop_of(file_of(ch["arch"], ch["resolution"], ch["precision"]))))
            chosen_top1 = a["top1"] if a else None
        per_target[tag] = {
            "target_fps": fps,
            "tune": {"command": tunes[tag]["command"], "chosen": ch,
                     "budget_s": t["budget_s"], "budget_hit": t["budget_hit"],
                     "seconds": t["seconds"], "measured": t["measured"], "grid": t["grid"],
                     "spent": t["spent"]},
            "chosen_bench": chosen_row,
            "chosen_top1": chosen_top1,
            "reaching": sorted((r["arch"], r["resolution"], r["precision"], r["threads"])
                               for r in reach),
            "best_reachable_top1": best,
            "best_reachable": [f"{r['arch']}-{r['resolution']}-{r['precision']} x{r['threads']}"
                               for r in reach if r["top1"] == best],
            "regret": (round(best - chosen_top1, 1) if best is not None and chosen_top1
                       is not None else None),
            "tune_rule": {"need_fps": round(need, 1), "best_top1": best_q,
                          "best": [f"{r['arch']}-{r['resolution']}-{r['precision']} "
                                   f"x{r['threads']}" for r in reach_q if r["top1"] == best_q],
                          "regret": (round(best_q - chosen_top1, 1) if best_q is not None
                                     and chosen_top1 is not None else None)},
        }
        log(f"{tag}: chosen top-1 {chosen_top1}, best reachable {best}, "
            f"regret {per_target[tag]['regret']}")

    result = {
        "benchmark": "regret",
        "machine": st["info"],
        "quiet": {"max_load": args.max_load, "other_cpu_share_before": st["quiet"]},
        "seconds": round(st["started"], 1),
        "frames_per_pass": args.frames,
        "pass_s": args.pass_s,
        "rounds": st["rounds"],
        "skip_rule": f"first pass under {SKIP:g} x the lower target ({low_target} FPS)",
        "bench_command": shown(["bench", "MODEL.onnx", "--threads", "T", "--frames", "N",
                                "--json"]),
        "accuracy": {"source": "benchmarks/results/offsize_accuracy.json",
                     "date": json.loads(ACCURACY.read_text())["machine"]["date"],
                     "pictures": json.loads(ACCURACY.read_text())["sample"]["pictures"]},
        "baseline": st["base"],
        "targets": per_target,
        "rows": rows,
        "dry_run": args.dry_run,
        "notes": st.get("notes", []),
    }
    write_json(args.out.with_suffix(".json"), result)
    args.out.with_suffix(".md").write_text(render(result))
    print(render(result))


def label(r: dict) -> str:
    return f"Lite{r['arch'][-1]} {r['resolution']} {r['precision'].upper()}"


def render(result: dict) -> str:
    base = result["baseline"]
    m = result["machine"]
    lines = [
        "# A choice with no regret: tune's choice beside every config it could have chosen",
        "",
        f"CPU: {m['cpu']} ({m['cores']} cores) · onnxruntime {m['onnxruntime']} · "
        f"date {m['date']} · load average at start {m['loadavg_start'][0]}; share of the CPUs "
        "other processes used just before each phase: "
        + ", ".join(f"{k} {v:.0%}" for k, v in result["quiet"]["other_cpu_share_before"].items())
        + ".",
        "",
        f"FP32 EfficientNet-Lite0 224, `edgecam bench` on the synthetic 640x480 source, "
        f"{base['rounds']} interleaved rounds of {base['frames']} frames: "
        + ", ".join(f"{t} thread{'s' if t != '1' else ''} median {s['median']} "
                    f"({s['low']}-{s['high']})" for t, s in base["threads"].items())
        + f" FPS; the better median, **{base['fps']} FPS**, is the base of the targets.",
        "",
        f"Every config of tune's grid benched with `{result['bench_command']}`, "
        f"a first pass of {result['frames_per_pass']} frames over all of them, configs "
        f"{result['skip_rule']} skipped, then {result['rounds'] - 1} more interleaved rounds "
        f"(alternating order) over the rest, each pass about {result['pass_s']:g} s of frames "
        "(at least as many as the first): FPS median (low-high) of "
        f"{result['rounds']} passes. Top-1: `edgecam classify` on "
        f"{result['accuracy']['pictures']} labelled ImageNet pictures, from "
        f"`{result['accuracy']['source']}` ({result['accuracy']['date']}), at the centre crop "
        "the exported file carries (not re-measured). A config reaches F when its median does.",
        "",
    ]
    shares = [o for r in result["rows"] for o in r.get("others") or [] if o is not None]
    if shares:
        s = sorted(shares)
        lines += [f"Other processes used {s[0]:.0%}-{s[-1]:.0%} of the CPUs during the passes "
                  f"(median {s[len(s) // 2]:.0%}; per pass in the JSON, `others`).", ""]
    lines += [
        "| target | F (FPS) | tune's choice (tune's FPS median / lower quartile) | its FPS here "
        "| its top-1 | best top-1 reaching F (median >= F) | regret (points) "
        "| best top-1 by tune's rule (lower quartile >= F + 5%) | regret by that rule |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for tag, t in result["targets"].items():
        ch = t["tune"]["chosen"]
        cb = t["chosen_bench"]
        name = (f"Lite{ch['arch'][-1]} {ch['resolution']} {ch['precision'].upper()} "
                f"x{ch['threads']} ({ch['fps']} / {ch['fps_low']})") if ch else "none"
        here = f"{cb['median']} ({cb['low']}-{cb['high']})" if cb else ""
        best = f"{t['best_reachable_top1']} ({'; '.join(t['best_reachable'])})"
        tr = t["tune_rule"]
        best_q = f"{tr['best_top1']} ({'; '.join(tr['best'])})"
        lines.append(f"| {tag} | {t['target_fps']} | {name} | {here} | {t['chosen_top1']} | "
                     f"{best} | **{t['regret']}** | {best_q} | {tr['regret']} |")
    lines.append("")
    for tag, t in result["targets"].items():
        tn = t["tune"]
        lines += [
            f"## {tag}: F = {t['target_fps']} FPS",
            "",
            f"`{tn['command']}`: {tn['measured']} of {tn['grid']} configs measured in "
            f"{tn['seconds']} s (budget {tn['budget_s']} s"
            + (", hit" if tn["budget_hit"] else ", not hit") + ").",
            "",
            "| config | threads | crop | FPS median | low | high | lower quartile | top-1 % "
            "| reaches F? | |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        ch = tn["chosen"]
        key = (ch["arch"], ch["resolution"], ch["precision"], ch["threads"]) if ch else None
        rows = sorted((r for r in result["rows"] if not r["skipped"]),
                      key=lambda r: (-(r["top1"] or 0), -r["median"]))
        for r in rows:
            mark = ("**chosen**" if (r["arch"], r["resolution"], r["precision"],
                                     r["threads"]) == key else "")
            reach = "yes" if r["median"] >= t["target_fps"] else "no"
            if reach == "yes" and r["low"] < t["target_fps"]:
                reach += " (low below)"
            top1 = "" if r["top1"] is None else f"{r['top1']:.1f}"
            lines.append(f"| {label(r)} | {r['threads']} | {r['crop_pct']:g} | {r['median']} | "
                         f"{r['low']} | {r['high']} | {r['q1']} | {top1} | {reach} | {mark} |")
        lines.append("")
    lines += [f"Note: {n}." for n in result.get("notes", [])]
    skipped = [r for r in result["rows"] if r["skipped"]]
    if skipped:
        lines += [f"Skipped after the first pass ({result['skip_rule']}): " + ", ".join(
            f"{label(r)} x{r['threads']} ({r['passes'][0]})" for r in skipped) + ".", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
