"""The ``edgecam`` command line: one small function per command, argument wiring only.

Heavy modules (torch, onnxruntime, OpenCV) are imported inside the commands, so ``--help`` and
``import edgecam.cli`` stay fast and never touch torch.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from edgecam.commands.options import BenchOptions, ClassifyOptions, LiveOptions

if TYPE_CHECKING:
    from collections import Counter

    from edgecam.commands.classify_units import ClassifySummary
    from edgecam.runtime.postprocess import Prediction
from edgecam.util.errors import EdgecamError

app = typer.Typer(
    name="edgecam",
    help="Real-time image classification on small CPUs, at the model size your hardware can run.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

EXIT_INTERRUPTED = 130


def show_version(value: bool) -> None:
    if value:
        from edgecam import __version__

        typer.echo(f"edgecam {__version__}")
        raise typer.Exit()


@app.callback()
def options(
    version: Annotated[bool, typer.Option(
        "--version", callback=show_version, is_eager=True,
        help="Print the version and exit.")] = False,
) -> None:
    """Real-time image classification on small CPUs, at the model size your hardware can run."""


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one line on stderr and return the Exit to raise."""
    typer.echo(f"edgecam: error: {message}", err=True)
    return typer.Exit(code)


def user_errors(fn):
    """Turn user errors into one stderr line and a non-zero exit, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except EdgecamError as exc:
            raise fail(str(exc), exc.exit_code) from None
        except ImportError as exc:
            from edgecam.util.syslibs import missing_library_hint

            hint = missing_library_hint(exc)
            if hint is None:
                raise
            raise fail(hint) from None
        except KeyboardInterrupt:
            typer.echo("edgecam: interrupted", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None

    wrapper.__doc__ = reflow(fn.__doc__)
    return wrapper


def reflow(doc: str | None) -> str | None:
    """Docstring paragraphs as single lines, so --help wraps them to the terminal instead of
    keeping the source's line breaks."""
    if not doc:
        return doc
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    return "\n\n".join(" ".join(p.split()) for p in paragraphs)


def emit_json(data: object) -> None:
    typer.echo(json.dumps(data, indent=2))


# --- models -----------------------------------------------------------------------------------


@app.command()
@user_errors
def models(
    all_: Annotated[bool, typer.Option("--all", help="Every published (alpha, rho).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable list of rows.")] = False,
) -> None:
    """List the model zoo: params and MACs counted on the built model, published top-1."""
    from edgecam.models.table import model_rows, render_rows

    rows = model_rows(all_rows=all_)
    if as_json:
        emit_json(rows)
    else:
        typer.echo(render_rows(rows))


# --- export -----------------------------------------------------------------------------------


@app.command()
@user_errors
def export(
    arch: Annotated[str, typer.Argument(help="Architecture, e.g. mobilenet_v2, mixnet_s, "
                                             "efficientnet_lite0 (see `edgecam models`).")],
    alpha: Annotated[float, typer.Option(help="Width multiplier.")] = 1.0,
    resolution: Annotated[int | None, typer.Option(
        "--resolution", "-r", help="Input size rho (default: the arch's native size).")] = None,
    weights: Annotated[str, typer.Option(
        help="imagenet (pretrained), random, or a .pth/.pt/.safetensors state dict "
             "(torchvision, timm, EfficientNet-Lite or edgecam keys).")] = "imagenet",
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="ONNX file to write (default: models/NAME.onnx).")] = None,
    seed: Annotated[int, typer.Option(help="Seed for --weights random.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Export an architecture and its weights to a self-describing ONNX file.

    The file carries its preprocessing, labels and provenance in its metadata; it is refused
    when onnxruntime and PyTorch differ by more than 1e-4 x max|logit|.
    """
    from edgecam.models.catalog import arch_info, check_alpha_resolution, models_dir
    from edgecam.models.store import has_export_extra

    info = arch_info(arch)
    res = resolution if resolution is not None else info.resolution
    check_alpha_resolution(alpha, res)
    if not has_export_extra():
        raise fail("exporting needs torch and onnx: pip install 'edgecam[export,pretrained]'")
    from edgecam.models.catalog import model_name
    from edgecam.models.export import export_model

    out = output or models_dir() / f"{model_name(arch, alpha, res)}.onnx"
    report = export_model(arch, alpha, res, weights=weights, output=out, seed=seed)
    if as_json:
        emit_json(report)
    else:
        typer.echo(
            f"wrote {report['output']}  ({report['name']}, {report['params'] / 1e6:.2f} M params, "
            f"{report['macs'] / 1e6:.1f} M MACs, weights {report['weights']}, "
            f"max |onnx - torch| = {report['parity']:.2e} x max|logit|)"
        )


# --- classify ---------------------------------------------------------------------------------

ModelOpt = Annotated[str | None, typer.Option(
    "--model", "-m", help="An .onnx file or a name ARCH[-ALPHA][-RES][-int8] from models/ "
                          "(default: EfficientNet-Lite0 with ImageNet weights).")]
ThreadsOpt = Annotated[int | None, typer.Option(
    help="onnxruntime intra-op threads (default: one per available core).")]
ProviderOpt = Annotated[str | None, typer.Option(
    help="onnxruntime execution provider: auto (a GPU when this onnxruntime has one, else the "
         "CPU), cpu, cuda, tensorrt or tensorrt:fp16 (engines cached in ~/.cache/edgecam), "
         "openvino (:gpu, :npu, :fp16), xnnpack, coreml, directml, rocm, qnn.")]
TopKOpt = Annotated[int, typer.Option("--top-k", "-k", help="Labels per frame.")]
ThresholdOpt = Annotated[list[str] | None, typer.Option(
    metavar="P|LABEL=P",
    help="Answer \"unknown\" when the top-1 probability is below this (0..1); the top-k is "
         "kept. Models made by `edgecam train` carry a calibrated threshold and this overrides "
         "it: 0.8 for every class, 'gate open=0.8' for one class (several comma-separated or "
         "by repeating the option), 0 for never unknown. Default: the model's own rule "
         "(ImageNet models: never unknown).", show_default=False)]
MqttOpt = Annotated[str | None, typer.Option(
    help="Publish predictions to mqtt://HOST[:PORT]/PREFIX (needs edgecam\\[mqtt]).")]
JsonOutOpt = Annotated[str | None, typer.Option(
    help="JSON lines, one per frame or image: {frame, source, model, label, top}, label "
         "being the top-1 or \"unknown\"; - for stdout (then every other message goes to "
         "stderr).")]
SinkOpt = Annotated[list[str] | None, typer.Option(
    "--sink", help="Another output (repeat): out.mp4, dir/, file.jsonl, - (JSON lines on "
                   "stdout), /dev/null, display://0, http://HOST:PORT, mqtt://HOST/PREFIX.")]


def out(text: str, stdout_taken: bool) -> None:
    """Human-readable results: stdout, unless JSON lines go there."""
    typer.echo(text, err=stdout_taken)


@app.command()
@user_errors
def classify(
    inputs: Annotated[list[str], typer.Argument(
        help="Videos, images, directories or globs ('photos/*.jpg').", show_default=False)],
    model: ModelOpt = None,
    output: Annotated[str | None, typer.Option(
        "--output", "-o", help="Annotated video (one video input, .mp4/.avi) or a directory "
                               "for annotated images and videos; written under a temporary "
                               "name and renamed into place when whole.")] = None,
    json_out: JsonOutOpt = None,
    sink: SinkOpt = None,
    top_k: TopKOpt = ClassifyOptions.top_k,
    threshold: ThresholdOpt = None,
    threads: ThreadsOpt = None,
    jobs: Annotated[int | None, typer.Option(
        help="Videos classified side by side (default: one per core when there are several, "
             "each with threads/jobs onnxruntime threads).")] = None,
    batch: Annotated[int | None, typer.Option(
        help="Frames per inference call (default: measured on this device for this model "
             "the first time a run of 300+ frames uses it, then remembered in "
             "~/.cache/edgecam/batch-sizes.json; 1 until then).", show_default=False)
    ] = ClassifyOptions.batch,
    workers: Annotated[int | None, typer.Option(
        help="Inferences at once per file, the threads shared out among them (default: one "
             "per thread, each on one thread: about 1.3x faster than 1 on a 2-core x86).",
        show_default=False)] = ClassifyOptions.workers,
    mqtt: MqttOpt = None,
    cluster: Annotated[str | None, typer.Option(
        help="Classify on a Dask cluster: its scheduler's tcp://HOST:PORT (the inputs must be "
             "readable at the same paths on the workers; needs the cluster extra).")] = None,
    chunk: Annotated[int | None, typer.Option(
        help="With --cluster: frames per task (long videos are split into ranges; "
             "default 240).")] = None,
    provider: ProviderOpt = None,
    max_megapixels: Annotated[float | None, typer.Option(
        help="Pictures larger than this are refused before they are decoded (default 64: a "
             "20000x20000 PNG would take gigabytes).", show_default=False)] = None,
) -> None:
    """Classify every frame of videos and images, in order, none dropped."""
    from edgecam.commands.classify import classify_inputs

    sinks = list(sink or [])
    opts = ClassifyOptions(inputs=inputs, model=model, output=output, json_out=json_out,
                           sinks=sinks, top_k=top_k, threshold=threshold, threads=threads,
                           mqtt=mqtt, jobs=jobs, batch=batch, workers=workers, cluster=cluster,
                           chunk=chunk, provider=provider, max_megapixels=max_megapixels)
    summary = classify_inputs(opts)
    taken = "-" in (json_out, *sinks)
    if not output and not json_out and not sinks:
        scores = sys.stdout.isatty()  # a person reads it: each picture's top-k with scores
        for source, counts in summary.top1.items():
            out(f"{source}: {answer_line(counts, *summary.first[source], scores)}", taken)
    typer.echo(f"classified {describe_work(summary)} with {summary.model}"
               + (f"; skipped {len(summary.skipped)} unreadable file(s)" if summary.skipped else "")
               + (f"; wrote {', '.join(summary.outputs)}" if summary.outputs else ""), err=True)
    if summary.interrupted:
        typer.echo("edgecam: interrupted; outputs were closed cleanly", err=True)
    if summary.exit_code:
        raise typer.Exit(summary.exit_code)


def answer_line(counts: Counter, top: list[Prediction], unknown: bool, scores: bool) -> str:
    """What classify says about one input: "gate open", with ``scores`` "gate open 97.0%, gate
    closed 2.1%" or "unknown (best: gate open 61.0%, gate closed 30.2%)"; a video's most
    frequent answer with its count of frames ("gate open (40/45 frames; 5 unknown)")."""
    from edgecam.runtime.unknown import UNKNOWN

    label, n = counts.most_common(1)[0]
    total = sum(counts.values())
    if total > 1:
        also = f"; {counts[UNKNOWN]} {UNKNOWN}" if label != UNKNOWN and counts[UNKNOWN] else ""
        return f"{label} ({n}/{total} frames{also})"
    if not scores:
        return label
    best = ", ".join(f"{p.label} {p.score:.1%}" for p in top)
    return f"{UNKNOWN} (best: {best})" if unknown else best


def describe_work(summary: ClassifySummary) -> str:
    """"3 pictures in 0.2 s (15.0 per second)", "1 picture in 0.05 s" or "240 frames from 2
    file(s) in 6.0 s (40.0 FPS)": what a run did, in the words that fit its inputs."""
    if summary.files and summary.pictures == summary.files:
        n = summary.frames
        what = f"{n} picture{'s' if n != 1 else ''} in {summary.seconds:.2f} s"
        return what + (f" ({summary.fps:.1f} per second)" if n > 1 else "")
    return (f"{summary.frames} frames from {summary.files} file(s) in {summary.seconds:.1f} s "
            f"({summary.fps:.1f} FPS)")


# --- live -------------------------------------------------------------------------------------


@app.command()
@user_errors
def live(
    source: Annotated[list[str] | None, typer.Option(
        "--source", "-s", help="0, /dev/video0, csi://0, picam://0, a video file, "
                               "rtsp://..., http://..., synthetic://640x480?fps=30. Repeat "
                               "for several cameras in one process (one model, each camera "
                               "its own capture, smoothing, stats and preview).",
        show_default=LiveOptions.source)] = None,
    model: ModelOpt = None,
    profile: Annotated[str | None, typer.Option(
        help="'auto': run the config `edgecam tune` chose for this device, and step down "
             "or up when the frame rate drifts.")] = None,
    headless: Annotated[bool, typer.Option(help="No window.")] = LiveOptions.headless,
    serve: Annotated[str | None, typer.Option(
        help="Browser preview on [HOST:]PORT (default host 127.0.0.1).")] = None,
    serve_token: Annotated[str | None, typer.Option(
        help="Require ?token=TOKEN for the preview (use when serving beyond loopback). On a "
             "shared machine give it in EDGECAM_SERVE_TOKEN or --serve-token-file: options "
             "show in `ps`.")] = None,
    serve_token_file: Annotated[str | None, typer.Option(
        help="Read the preview's token from the first line of this file.")] = None,
    serve_name: Annotated[list[str] | None, typer.Option(
        "--serve-name", help="A host name the preview answers to besides its addresses, "
                             "localhost and this machine's name (repeat), e.g. cam.example.lan; "
                             "other Host names are refused (DNS rebinding).")] = None,
    capture_dir: Annotated[str | None, typer.Option(
        help="Show a label field and a capture button on the preview page: each click saves "
             "the camera's frame (without the overlay) as DIR/LABEL/*.jpg, like `edgecam "
             "capture`, for `edgecam train`.")] = None,
    output: Annotated[str | None, typer.Option(
        "--output", "-o", help="Also write the annotated video here (renamed into place "
                               "when the run ends, also after Ctrl-C or SIGTERM).")] = None,
    json_out: Annotated[str | None, typer.Option(
        help="JSON lines, one per frame, growing line by line so it can be tailed; - for "
             "stdout.")] = None,
    sink: SinkOpt = None,
    max_frames: Annotated[int | None, typer.Option(help="Stop after N frames.")] = None,
    threads: ThreadsOpt = None,
    top_k: TopKOpt = LiveOptions.top_k,
    threshold: ThresholdOpt = None,
    smoothing: Annotated[float, typer.Option(
        help="Weight of the past in the moving average of probabilities (0 = none).")
    ] = LiveOptions.smoothing,
    width: Annotated[int | None, typer.Option(help="Camera capture width.")] = None,
    height: Annotated[int | None, typer.Option(help="Camera capture height.")] = None,
    fps: Annotated[float | None, typer.Option(help="Camera capture frame rate.")] = None,
    fast: Annotated[bool, typer.Option(
        "--fast", help="Run a video file as fast as the model goes, every frame (default: "
                       "at the file's own frame rate, like a camera).")] = LiveOptions.fast,
    loop: Annotated[bool, typer.Option(
        "--loop", help="Play a video file again and again.")] = LiveOptions.loop,
    mqtt: MqttOpt = None,
    batch_cameras: Annotated[bool, typer.Option(
        help="With several --source: infer the frames the cameras have ready in one "
             "call.")] = LiveOptions.batch_cameras,
    provider: ProviderOpt = None,
) -> None:
    """Classify a camera or stream in real time: window, browser preview, video, JSON lines."""
    from edgecam.commands.live import run_live, use_profile

    sinks = list(sink or [])
    taken = "-" in (json_out, *sinks)
    sources = list(source or [LiveOptions.source])
    opts = LiveOptions(source=sources[0], sources=sources, batch_cameras=batch_cameras,
                       model=model, headless=headless, serve=serve,
                       serve_token=serve_token or (None if serve_token_file else
                                                   os.environ.get("EDGECAM_SERVE_TOKEN")),
                       serve_token_file=serve_token_file, serve_names=list(serve_name or []),
                       capture_dir=capture_dir, output=output, json_out=json_out, sinks=sinks,
                       max_frames=max_frames, threads=threads, top_k=top_k,
                       threshold=threshold, smoothing=smoothing, width=width, height=height,
                       fps=fps, fast=fast, loop=loop, mqtt=mqtt, provider=provider,
                       echo=lambda text: out(text, taken))
    adapter = None
    if profile is not None:
        adapter = use_profile(opts, profile)
    summary = run_live(opts)
    if len(summary.cameras) > 1:
        for cam in summary.cameras:
            typer.echo(f"{cam.source}: {cam.frames} frames ({cam.fps:.1f} FPS), "
                       f"{cam.dropped} dropped", err=True)
    typer.echo(
        f"{summary.frames} frames in {summary.seconds:.1f} s ({summary.fps:.1f} FPS) with "
        f"{summary.model}, {summary.dropped} dropped"
        + (f", {summary.reconnects} reconnects" if summary.reconnects else "")
        + (f"; wrote {', '.join(summary.written)}" if summary.written else ""), err=True)
    if adapter is not None:
        typer.echo(f"models used: {adapter.summary()}", err=True)
    if summary.interrupted:
        raise typer.Exit(summary.interrupted)


# --- bench ------------------------------------------------------------------------------------


@app.command()
@user_errors
def bench(
    model: Annotated[str | None, typer.Argument(
        help="An .onnx file or a model name (default: EfficientNet-Lite0).")] = None,
    source: Annotated[str | None, typer.Option(
        "--source", "-s", help="Frames to use (default: a synthetic 640x480 picture).")] = None,
    frames: Annotated[int, typer.Option(help="Frames measured after warm-up.")
                      ] = BenchOptions.frames,
    threads: ThreadsOpt = None,
    overlay: Annotated[bool, typer.Option(help="Include drawing the overlay.")
                       ] = BenchOptions.overlay,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    provider: ProviderOpt = None,
) -> None:
    """Measure the whole pipeline on this device: FPS, latency, per-stage ms, memory."""
    from edgecam.commands.bench import run_bench

    report = run_bench(BenchOptions(model=model, source=source, frames=frames, threads=threads,
                              overlay=overlay, provider=provider))
    if as_json:
        emit_json(report.to_json())
        return
    stages = "  ".join(f"{k} {v:.2f}" for k, v in report.stages_ms.items())
    typer.echo(
        f"{report.model} on {report.source}, {report.provider}, {report.threads} threads: "
        f"{report.fps:.1f} FPS, latency p50 {report.latency_ms['p50']:.2f} ms "
        f"p90 {report.latency_ms['p90']:.2f} ms, RSS {report.rss_mb:.0f} MB\n"
        f"stages (ms): {stages}")


# --- demo -------------------------------------------------------------------------------------


@app.command()
@user_errors
def demo(
    photos: Annotated[Path | None, typer.Option(
        help="Photos to make the clip from (default: calibration/images here or in the "
             "edgecam clone).", show_default=False)] = None,
    out: Annotated[Path, typer.Option(help="Where the clip and results go.")] = Path("out"),
    model: ModelOpt = None,
    threads: ThreadsOpt = None,
) -> None:
    """The main job on built-in material: a clip of real photos through the default model."""
    from edgecam.commands.demo import run_demo

    report = run_demo(photos, out, model, threads)
    typer.echo(f"{'photo':<24} {'frames':>6}  {'top-1 (most frames)':<28} accepted")
    for p in report.photos:
        share = f"{p.accepted * 100:5.1f}%" if p.accepted is not None else "     -"
        typer.echo(f"{p.photo:<24} {p.frames:>6}  {p.top1[:28]:<28} {share}")
    s = report.summary
    typer.echo("accepted: the share of the photo's frames whose top-1 is one of the ImageNet "
               "classes that fit it (calibration/labels.json: a tabby is also a 'tiger cat')")
    typer.echo(f"\n{s.frames} frames with {s.model} in {s.seconds:.1f} s ({s.fps:.1f} FPS)\n"
               f"annotated video: {report.output}\nJSON lines:      {report.json_out}")


# --- tune and quantize ------------------------------------------------------------------------


@app.command()
@user_errors
def tune(
    target_fps: Annotated[float, typer.Option(
        "--target-fps", help="Frame rate to reach (640x480 frames, whole pipeline).")],
    family: Annotated[list[str] | None, typer.Option(
        "--family", help="Family or arch to consider (repeat; default: those whose ImageNet "
                         "weights are here: EfficientNet-Lite0/1/2 offline, MobileNetV3/V4 "
                         "once in the Hugging Face cache).")] = None,
    models: Annotated[str | None, typer.Option(
        "--models", help="Choose among existing .onnx files instead (a glob, e.g. "
                         "'models/gate-*.onnx').")] = None,
    weights: Annotated[str, typer.Option(
        help="imagenet (checkpoints you can deploy), or random: any width, latency only "
             "(accuracy from the papers' separately trained models).")] = "imagenet",
    data: Annotated[Path | None, typer.Option(
        help="Labelled pictures, one folder per class named by the model's labels: top-1 is "
             "measured on them and ranks the choice.")] = None,
    sample: Annotated[Path | None, typer.Option(
        help="Unlabelled footage (a video or a folder): each config's top-1 agreement with "
             "the most accurate one.")] = None,
    precision: Annotated[str | None, typer.Option(
        help="Comma list of fp32,int8 (int8 is quantized here on --calibration and measured; "
             "default: both where onnxruntime's quantization is installed, else fp32).")] = None,
    threads: Annotated[str | None, typer.Option(
        help="Comma list of thread counts (default: 1..cores).")] = None,
    provider: Annotated[str | None, typer.Option(
        help="Comma list of execution providers to measure like thread counts, e.g. "
             "cpu,tensorrt:fp16 (default: auto; see classify --help).")] = None,
    budget_s: Annotated[float, typer.Option(
        help="Time budget in seconds, exports, quantization and accuracy included.")] = 90.0,
    json_out: Annotated[Path | None, typer.Option(help="Write the result as JSON.")] = None,
    plot: Annotated[Path | None, typer.Option(
        help="Accuracy vs FPS plot (PNG, needs edgecam\\[plot]).")] = None,
    calibration: Annotated[Path, typer.Option(
        help="Photos for INT8 calibration (random frames when missing).")] = Path(
        "calibration/images"),
    save_profile: Annotated[bool, typer.Option(
        help="Save this device's profile for `live --profile auto`.")] = True,
    profile_name: Annotated[str | None, typer.Option(
        help="Name of the saved profile (default: the candidate set, e.g. imagenet, or gate "
             "for --models 'models/gate-*.onnx'); live --profile NAME runs it.")] = None,
    all_rows: Annotated[bool, typer.Option(
        "--all", help="List every config in the table (default: the choice, its fallbacks, "
                      "what was measured and every more accurate config, with why).")] = False,
) -> None:
    """Measure this device and choose the most accurate model that reaches --target-fps.

    A config is chosen when the lower quartile of its interleaved frame-rate passes reaches
    the target plus 5%. When no config does, it says so, names the fastest and writes "chosen":
    null (exit 0); when the budget measured nothing, it exits 1.
    """
    from edgecam.tune.profiles import Profile, device_info, set_name
    from edgecam.tune.profiles import save_profile as write_profile  # the option is save_profile
    from edgecam.tune.report import render, to_json
    from edgecam.tune.request import TuneOptions, check_outputs, parse_list
    from edgecam.tune.search import tune_device

    opts = TuneOptions(target_fps=target_fps, families=list(family or []), weights=weights,
                       precisions=parse_list(precision), threads=parse_list(threads, int),
                       budget_s=budget_s, calibration=calibration, data=data, sample=sample,
                       models=models, providers=parse_list(provider))
    if plot is not None and plot.suffix.lower() != ".png":
        raise fail(f"--plot writes a PNG; give a file name ending in .png, got {plot}")
    check_outputs(opts, [p for p in (json_out, plot) if p is not None])
    result = tune_device(opts, say=lambda m: typer.echo(f"edgecam: {m}", err=True))
    result_json = to_json(result, device_info())
    typer.echo(render(result, all_rows=all_rows))
    if save_profile:
        name = profile_name or set_name(models, weights, opts.families)
        saved = write_profile(Profile.from_tune(result_json, name))
        if saved.kept and saved.replaced is not None:
            typer.echo(f"profile: kept {saved.path} ({saved.replaced.describe()}): this run "
                       "chose nothing, so it does not replace a profile that chose something")
        else:
            was = (f"; replaced {saved.replaced.describe()}" if saved.replaced is not None
                   else "")
            typer.echo(f"profile: {saved.path} (live --profile {name}{was})")
    if json_out:
        from edgecam.util.safewrite import write_whole

        write_whole(json_out, json.dumps(result_json, indent=2) + "\n")
        typer.echo(f"JSON: {json_out}")
    if plot:
        from edgecam.tune.plot import plot as draw_plot

        typer.echo(f"plot: {draw_plot(result, plot)}")


@app.command()
@user_errors
def quantize(
    model: Annotated[str, typer.Argument(help="An .onnx file or a model name (FP32).")],
    calibration: Annotated[Path, typer.Option(
        help="Directory of real photos, preprocessed exactly as at run time.")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="INT8 file (default: beside the input, NAME-int8.onnx).")] = None,
    method: Annotated[str, typer.Option(
        help="Calibration: minmax, percentile or entropy.")] = "minmax",
    fp32_ends: Annotated[bool, typer.Option(
        help="Keep the first conv and the classifier in FP32.")] = False,
    threads: ThreadsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """INT8 static quantization (QDQ, per-channel), checked against FP32 on the photos."""
    from edgecam.runtime.quantize import quantize_model

    report = quantize_model(model, calibration, output, method, fp32_ends, threads)
    if as_json:
        emit_json(report)
        return
    typer.echo(
        f"wrote {report['output']} ({report['model']}, {report['calibrate_method']} "
        f"calibration on {report['images']} photos)\n"
        f"INT8 vs FP32 on the photos: top-1 agreement {report['top1_agreement']:.1%} "
        f"(95% CI {report['top1_agreement_ci95'][0]:.1%}-{report['top1_agreement_ci95'][1]:.1%}"
        f" on {report['images']} photos; {report['near_ties']} near-ties, where FP32's top two "
        f"are within 5 points and either may win), top-5 overlap {report['top5_overlap']:.1%}\n"
        + (f"top-1 agreement where FP32 is decisive (leads by >= 5 points): "
           f"{report['top1_agreement_decisive']:.1%} of {report['decisive_images']} photos\n"
           if report["top1_agreement_decisive"] is not None else "") +
        f"pipeline ms (side by side, median): FP32 {report['fp32_ms']:.2f}, "
        f"INT8 {report['int8_ms']:.2f} ({report['int8_speedup']:.2f}x)")


# --- train ------------------------------------------------------------------------------------


def _int_list(text: str | None, what: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()] if text else []
    except ValueError:
        raise fail(f"{what} takes whole numbers separated by commas, got {text!r}", 2) from None


@app.command()
@user_errors
def train(
    data: Annotated[Path, typer.Argument(
        help="One sub-folder of pictures per class (or train/ and val/, each with one "
             "sub-folder per class); the folder names become the labels.", show_default=False)],
    arch: Annotated[str, typer.Option(
        help="Backbone with ImageNet weights: efficientnet_lite0/1/2 offline; mobilenet_v1/v2, "
             "mixnet_s/m/l and (with edgecam[hub]) mobilenet_v3_large/small, "
             "mobilenet_v4_conv_small/medium when their weights are cached or downloadable.")
    ] = "efficientnet_lite0",
    alpha: Annotated[float, typer.Option(help="Width multiplier of the backbone.")] = 1.0,
    resolution: Annotated[str | None, typer.Option(
        "--resolution", "-r", help="Input size, or several (160,192,224): one model each "
                                   "(default: the arch's native size).")] = None,
    epochs: Annotated[int | None, typer.Option(
        help="Most epochs (early stopping on validation accuracy ends sooner): of the "
             "classifier (default 40), or with --finetune of the fine-tuning (default 8).")
    ] = None,
    patience: Annotated[int | None, typer.Option(
        help="Epochs without a better validation accuracy before stopping (default 8; with "
             "--finetune every epoch runs unless this is given, the learning rate rising then "
             "falling, and the best is kept).")] = None,
    finetune: Annotated[bool, typer.Option(
        help="Also train the backbone's last stage (slower; for classes far from ImageNet's "
             "pictures).")] = False,
    val_split: Annotated[float, typer.Option(
        help="Share of each class held out for validation (without train/ and val/).")
    ] = 0.2,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="ONNX file (several resolutions: NAME-R.onnx each; default: "
                               "models/DATA-ARCH-ALPHA-R.onnx).")] = None,
    json_out: Annotated[Path | None, typer.Option(
        help="Write the report (accuracy, per-class accuracy, confusion matrix, data set "
             "fingerprint) as JSON.")] = None,
    augment: Annotated[bool, typer.Option(
        help="Random resized crops, flips and colour jitter of the training pictures.")] = True,
    views: Annotated[int, typer.Option(
        help="Views of each training picture the classifier learns from (1 plain + "
             "augmented ones).")] = 3,
    seed: Annotated[int, typer.Option(help="Seed of the split, augmentation and training.")] = 0,
    unknown: Annotated[Path | None, typer.Option(
        help="A folder of pictures of anything else (default: DATA/unknown if it exists): "
             "not a class, but what the model learns to be unsure of and what its rule to "
             "answer 'unknown' is checked against.", show_default=False)] = None,
    keep: Annotated[float, typer.Option(
        help="Share of the known validation pictures the rule to answer 'unknown' keeps; "
             "lower rejects more of anything else and more of your classes.")] = 0.95,
) -> None:
    """Teach a backbone your own classes: a folder of labelled pictures -> an ONNX model.

    Transfer learning from ImageNet weights: the backbone stays frozen and a new classifier
    learns from its cached features (minutes on a small CPU); --finetune also trains the last
    stage. The classifier reads every stage of the backbone, not only its last vector. A
    rule to answer "unknown" is calibrated on the validation pictures (and on an unknown
    folder's pictures of anything else) and travels in the model, so every command says
    "unknown" when the model sees none of its classes. The model is self-describing like
    `edgecam export` writes, with the validation accuracy, per-class accuracy and confusion
    matrix in its metadata, and checked against PyTorch. Ctrl-C keeps the best model so far.
    """
    from edgecam.models.store import has_export_extra
    from edgecam.train.dataset import check_folder

    check_folder(data)  # before torch loads
    if not has_export_extra():
        raise fail("training needs torch and onnx: pip install 'edgecam[export,pretrained]'")
    from edgecam.train.bars import TrainBars
    from edgecam.train.evaluation import rejection_line, render
    from edgecam.train.trainer import TrainOptions, train_models

    opts = TrainOptions(data, arch, alpha, _int_list(resolution, "--resolution"), epochs,
                        patience, finetune, val_split, output, json_out, views, augment, seed,
                        unknown, keep)
    with TrainBars() as bars:
        report = train_models(opts, bars, say=lambda m: typer.echo(f"edgecam: {m}", err=True))
    for m in report["models"]:
        typer.echo(
            f"wrote {m['output']}  ({m['name']}, {m['resolution']} px, validation accuracy "
            f"{m['val_accuracy']:.1%} of {m['val_images']}, best epoch {m['best_epoch']} of "
            f"{m['epochs_run']}, {m['seconds']:.0f} s"
            + (", features from cache" if m["cached_features"] else "") + ")")
        typer.echo(rejection_line(m["rejection"]))
        typer.echo(render(m, list(m["per_class_accuracy"])))
    if json_out is not None:
        from edgecam.util.safewrite import write_whole

        write_whole(json_out, json.dumps(report, indent=2) + "\n")
        typer.echo(f"JSON: {json_out}")
    if report["interrupted"]:
        kept = (f"; kept the best model so far in {report['models'][-1]['output']}"
                if report["models"] and report["models"][-1]["interrupted"] else "")
        typer.echo(f"edgecam: interrupted{kept}", err=True)
        raise typer.Exit(EXIT_INTERRUPTED)


# --- capture ----------------------------------------------------------------------------------


@app.command()
@user_errors
def capture(
    source: Annotated[str, typer.Option(
        "--source", "-s", help="0, /dev/video0, csi://0, picam://0, rtsp://..., http://..., "
                               "a video or pictures.")],
    label: Annotated[str, typer.Option(help="Class name: pictures go to OUT/LABEL/.")],
    out: Annotated[Path, typer.Option(help="Data set folder (what `edgecam train` reads).")],
    count: Annotated[int | None, typer.Option(
        help="Pictures to save (default 50; 0 = until the source ends or Ctrl-C).")] = 50,
    every: Annotated[float, typer.Option(
        help="Seconds between saved frames (of the video's own time for files).")] = 0.5,
    width: Annotated[int | None, typer.Option(help="Camera capture width.")] = None,
    height: Annotated[int | None, typer.Option(help="Camera capture height.")] = None,
    fps: Annotated[float | None, typer.Option(help="Camera capture frame rate.")] = None,
) -> None:
    """Save frames of a camera or stream as pictures of one class, headless.

    Frames go to OUT/LABEL/ as JPEG (whole files only, never overwritten), one every --every
    seconds, until --count are saved. Run it once per class, then `edgecam train OUT`.
    """
    from edgecam.commands.capture import CaptureOptions, capture_frames
    from edgecam.util.progress import Progress

    opts = CaptureOptions(source, label, out, count or None, every, width, height, fps)
    with Progress(opts.count, "pictures", desc=f"capture {label}") as bar:
        summary = capture_frames(opts, bar.update)
    short = (f"; the source ended before {opts.count}"
             if opts.count and summary.saved < opts.count and not summary.interrupted else "")
    typer.echo(f"saved {summary.saved} pictures to {summary.folder} in {summary.seconds:.1f} s "
               f"({summary.in_folder} there now{short})")
    if summary.interrupted:
        typer.echo("edgecam: interrupted; every saved picture is whole", err=True)
        raise typer.Exit(summary.interrupted)


def _log_to_stderr() -> None:
    """Library warnings and notes (headless, reconnecting, switches) as "edgecam: ..." lines."""
    from edgecam.util.nativelogs import StderrHandler

    handler = StderrHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("edgecam: %(message)s"))
    root = logging.getLogger("edgecam")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    root.propagate = False


def main() -> None:
    """Console-script entry point: usage errors too end in one line on stderr.

    Typer bundles its own copy of click in recent releases and uses the real click in older
    ones, so click's exceptions are recognised by their interface, not their class.
    """
    from edgecam.util.nativelogs import quiet_native_logs

    quiet_native_logs()
    _log_to_stderr()
    try:
        code = app(standalone_mode=False)
    except KeyboardInterrupt:
        typer.echo("edgecam: interrupted", err=True)
        code = EXIT_INTERRUPTED
    except Exception as exc:
        name = type(exc).__name__
        ctx = getattr(exc, "ctx", None)
        if name == "NoArgsIsHelpError" and hasattr(exc, "format_message"):
            # Typer's rich help printed itself while the error was built (its text is then
            # empty); plain click only returns it
            if exc.format_message().strip():
                typer.echo(exc.format_message())
            code = 0
        elif name == "Abort":
            typer.echo("edgecam: interrupted", err=True)
            code = EXIT_INTERRUPTED
        elif hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            hint = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
            typer.echo(f"edgecam: error: {exc.format_message()}{hint}", err=True)
            code = exc.exit_code
        else:
            raise
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
