"""The ``edgecam`` command line: the commands and what each takes, nothing more.

Each command makes its checked options object, calls its command module (``edgecam.commands``)
and prints the summary that module words; the options' help lives in ``commands.flags`` and
the terminal's rules (one line per error, exit codes) in ``commands.console``. Heavy modules
(torch, onnxruntime, OpenCV) are imported inside the commands, so ``--help`` and ``import
edgecam.cli`` stay fast and never touch torch.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from edgecam.commands import flags as f
from edgecam.commands.console import (
    EXIT_INTERRUPTED,
    emit_json,
    note,
    run_app,
    say,
    show_version,
    user_errors,
)
from edgecam.commands.options import BenchOptions, ClassifyOptions, LiveOptions
from edgecam.commands.service import group as service_group

app = typer.Typer(
    name="edgecam",
    help="Real-time image classification on small CPUs, at the model size your hardware can run.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def options(
    version: Annotated[bool, typer.Option(
        "--version", callback=show_version, is_eager=True,
        help="Print the version and exit.")] = False,
) -> None:
    """Real-time image classification on small CPUs, at the model size your hardware can run."""


@app.command()
@user_errors
def models(all_: f.ModelsAll = False, as_json: f.ModelsAsJson = False) -> None:
    """List the model zoo: params and MACs counted on the built model, published top-1."""
    from edgecam.models.table import model_rows, render_rows

    rows = model_rows(all_rows=all_)
    if as_json:
        emit_json(rows)
    else:
        typer.echo(render_rows(rows))


@app.command()
@user_errors
def export(arch: f.ExportArch, alpha: f.ExportAlpha = 1.0, resolution: f.ExportResolution = None,
           weights: f.ExportWeights = "imagenet", output: f.ExportOutput = None,
           seed: f.ExportSeed = 0, as_json: f.ReportJson = False) -> None:
    """Export an architecture and its weights to a self-describing ONNX file.

    The file carries its preprocessing, labels and provenance in its metadata; it is refused
    when onnxruntime and PyTorch differ by more than 1e-4 x max|logit|.
    """
    from edgecam.commands.modelfile import export_line, run_export
    from edgecam.commands.options import ExportOptions

    report = run_export(ExportOptions(arch=arch, alpha=alpha, resolution=resolution,
                                      weights=weights, output=output, seed=seed))
    if as_json:
        emit_json(report)
    else:
        typer.echo(export_line(report))


@app.command()
@user_errors
def classify(
    inputs: f.ClassifyInputs,
    model: f.ModelOpt = None,
    output: f.ClassifyOutput = None,
    json_out: f.JsonOutOpt = None,
    sink: f.SinkOpt = None,
    top_k: f.TopKOpt = ClassifyOptions.top_k,
    threshold: f.ThresholdOpt = None,
    threads: f.ThreadsOpt = None,
    jobs: f.ClassifyJobs = None,
    batch: f.ClassifyBatch = ClassifyOptions.batch,
    workers: f.ClassifyWorkers = ClassifyOptions.workers,
    mqtt: f.MqttOpt = None,
    cluster: f.ClassifyCluster = None,
    chunk: f.ClassifyChunk = None,
    provider: f.ProviderOpt = None,
    max_megapixels: f.ClassifyMaxMegapixels = None,
    region: f.RegionOpt = None,
    hold: f.HoldOpt = ClassifyOptions.hold,
    events: f.EventsOpt = None,
    events_keep: f.EventsKeepOpt = ClassifyOptions.events_keep,
    labels: f.LabelsOpt = None,
) -> None:
    """Classify every frame of videos and images, in order, none dropped."""
    from edgecam.commands.classify import classify_inputs

    sinks = list(sink or [])
    opts = ClassifyOptions(inputs=inputs, model=model, output=output, json_out=json_out,
                           sinks=sinks, top_k=top_k, threshold=threshold, threads=threads,
                           mqtt=mqtt, jobs=jobs, batch=batch, workers=workers, cluster=cluster,
                           chunk=chunk, provider=provider, max_megapixels=max_megapixels,
                           regions=list(region or []), hold=hold, events=events,
                           events_keep=events_keep, labels=labels)
    summary = classify_inputs(opts)
    if not output and not json_out and not sinks:
        # each input's answer; a person reading it also gets each picture's top-k with scores
        say(summary.answers(scores=sys.stdout.isatty()))
    say(summary.closing(), err=True)
    if summary.exit_code:
        raise typer.Exit(summary.exit_code)


@app.command()
@user_errors
def live(
    ctx: typer.Context,
    config: f.LiveConfig = None,
    source: f.LiveSource = None,
    model: f.ModelOpt = None,
    profile: f.LiveProfile = None,
    headless: f.LiveHeadless = LiveOptions.headless,
    serve: f.LiveServe = None,
    serve_token: f.LiveServeToken = None, serve_token_file: f.LiveServeTokenFile = None,
    serve_name: f.LiveServeName = None,
    capture_dir: f.LiveCaptureDir = None,
    output: f.LiveOutput = None,
    json_out: f.LiveJsonOut = None,
    sink: f.SinkOpt = None,
    max_frames: f.LiveMaxFrames = None,
    threads: f.ThreadsOpt = None,
    top_k: f.TopKOpt = LiveOptions.top_k,
    threshold: f.ThresholdOpt = None,
    smoothing: f.LiveSmoothing = LiveOptions.smoothing,
    width: f.Width = None, height: f.Height = None, fps: f.Fps = None,
    fast: f.LiveFast = LiveOptions.fast,
    loop: f.LiveLoop = LiveOptions.loop,
    mqtt: f.MqttOpt = None,
    batch_cameras: f.LiveBatchCameras = LiveOptions.batch_cameras,
    provider: f.ProviderOpt = None,
    region: f.RegionOpt = None,
    hold: f.HoldOpt = LiveOptions.hold,
    events: f.EventsOpt = None, events_keep: f.EventsKeepOpt = LiveOptions.events_keep,
    labels: f.LabelsOpt = None,
    camera_name: f.LiveCameraName = None,
    ha: f.LiveHa = LiveOptions.ha, ha_prefix: f.LiveHaPrefix = LiveOptions.ha_prefix,
) -> None:
    """Classify a camera or stream in real time: window, browser preview, video, JSON lines.

    Ctrl-C, SIGTERM and SIGHUP (a closed terminal or SSH session; ignored under nohup) end the
    run with every output whole. See docs/outputs.md.
    """
    from edgecam.commands.site import live_flags

    a = live_flags(ctx)  # the options above, over the --config file's when one is given
    from edgecam.commands.live import run_live  # after: a mistake in the file is said at once

    taken = "-" in (a.json_out, *(a.sink or []))  # JSON lines on stdout: labels to stderr
    summary = run_live(LiveOptions.of_flags(a, echo=lambda text: typer.echo(text, err=taken)))
    say(summary.lines(), err=True)
    if summary.interrupted:
        raise typer.Exit(summary.interrupted)


@app.command()
@user_errors
def bench(
    model: f.BenchModel = None,
    source: f.BenchSource = None,
    frames: f.BenchFrames = BenchOptions.frames,
    threads: f.ThreadsOpt = None,
    overlay: f.BenchOverlay = BenchOptions.overlay,
    as_json: f.BenchAsJson = False,
    provider: f.ProviderOpt = None,
    labels: f.LabelsOpt = None,
) -> None:
    """Measure the whole pipeline on this device: FPS, latency, per-stage ms, memory."""
    from edgecam.commands.bench import run_bench

    report = run_bench(BenchOptions(model=model, source=source, frames=frames, threads=threads,
                                    overlay=overlay, provider=provider, labels=labels))
    if as_json:
        emit_json(report.to_json())
    else:
        say(report.lines())


@app.command()
@user_errors
def demo(photos: f.DemoPhotos = None, out: f.DemoOut = Path("out"), model: f.ModelOpt = None,
         threads: f.ThreadsOpt = None) -> None:
    """The main job on built-in material: a clip of real photos through the default model."""
    from edgecam.commands.demo import run_demo
    from edgecam.commands.options import DemoOptions

    say(run_demo(DemoOptions(photos=photos, out=out, model=model, threads=threads)).lines())


@app.command()
@user_errors
def tune(
    target_fps: f.TuneTargetFps,
    family: f.TuneFamily = None,
    models: f.TuneModels = None,
    weights: f.TuneWeights = "imagenet",
    data: f.TuneData = None,
    sample: f.TuneSample = None,
    precision: f.TunePrecision = None,
    threads: f.TuneThreads = None,
    provider: f.TuneProvider = None,
    budget_s: f.TuneBudgetS = 90.0,
    json_out: f.TuneJsonOut = None,
    plot: f.TunePlot = None,
    calibration: f.TuneCalibration = Path("calibration/images"),
    save_profile: f.TuneSaveProfile = True,
    profile_name: f.TuneProfileName = None,
    all_rows: f.TuneAllRows = False,
) -> None:
    """Measure this device and choose the most accurate model that reaches --target-fps.

    A config is chosen when the lower quartile of its interleaved frame-rate passes reaches
    the target plus 5%. When no config does, it says so, names the fastest and writes "chosen":
    null (exit 0); when the budget measured nothing, it exits 1.
    """
    from edgecam.commands.tune import run_tune
    from edgecam.tune.request import TuneOptions, parse_list

    opts = TuneOptions(target_fps=target_fps, families=list(family or []), weights=weights,
                       precisions=parse_list(precision), threads=parse_list(threads, int),
                       budget_s=budget_s, calibration=calibration, data=data, sample=sample,
                       models=models, providers=parse_list(provider), json_out=json_out,
                       plot=plot, save_profile=save_profile, profile_name=profile_name,
                       all_rows=all_rows)
    say(run_tune(opts, note))


@app.command()
@user_errors
def quantize(
    model: f.QuantizeModel,
    calibration: f.QuantizeCalibration,
    output: f.QuantizeOutput = None,
    method: f.QuantizeMethod = "minmax",
    fp32_ends: f.QuantizeFp32Ends = False,
    threads: f.ThreadsOpt = None,
    as_json: f.ReportJson = False,
) -> None:
    """INT8 static quantization (QDQ, per-channel), checked against FP32 on the photos."""
    from edgecam.commands.modelfile import quantize_lines, run_quantize
    from edgecam.commands.options import QuantizeOptions

    report = run_quantize(QuantizeOptions(model=model, calibration=calibration, output=output,
                                          method=method, fp32_ends=fp32_ends, threads=threads))
    if as_json:
        emit_json(report)
    else:
        say(quantize_lines(report))


@app.command()
@user_errors
def train(
    data: f.TrainData,
    arch: f.TrainArch = "efficientnet_lite0",
    alpha: f.TrainAlpha = 1.0,
    resolution: f.TrainResolution = None,
    epochs: f.TrainEpochs = None,
    patience: f.TrainPatience = None,
    finetune: f.TrainFinetune = False,
    val_split: f.TrainValSplit = 0.2,
    output: f.TrainOutput = None,
    json_out: f.TrainJsonOut = None,
    augment: f.TrainAugment = True,
    views: f.TrainViews = 3,
    seed: f.TrainSeed = 0,
    unknown: f.TrainUnknown = None,
    keep: f.TrainKeep = 0.95,
    progress_json: f.TrainProgressJson = None,
) -> None:
    """Teach a backbone your own classes: a folder of labelled pictures -> an ONNX model.

    Transfer learning from ImageNet weights: the backbone stays frozen and a new classifier
    learns from its cached features (minutes on a small CPU); --finetune also trains the last
    stage. The classifier reads every stage of the backbone, not only its last vector. A
    rule to answer "unknown" is calibrated on the validation pictures (and on an unknown
    folder's pictures of anything else) and travels in the model, so every command says
    "unknown" when the model sees none of its classes. The model is self-describing like
    `edgecam export` writes, with the validation accuracy, per-class accuracy and confusion
    matrix in its metadata, and checked against PyTorch. Ctrl-C (or SIGTERM, SIGHUP) keeps the
    best model so far.
    """
    from edgecam.commands.train import run_train
    from edgecam.train.settings import TrainOptions, int_list

    opts = TrainOptions(data=data, arch=arch, alpha=alpha,
                        resolutions=int_list(resolution, "--resolution"), epochs=epochs,
                        patience=patience, finetune=finetune, val_split=val_split,
                        output=output, json_out=json_out, views=views, augment=augment,
                        seed=seed, unknown=unknown, keep=keep, progress_json=progress_json)
    summary = run_train(opts, note)
    say(summary.lines)
    if summary.interrupted:
        typer.echo(summary.interrupted, err=True)
        raise typer.Exit(EXIT_INTERRUPTED)


@app.command()
@user_errors
def capture(
    source: f.CaptureSource,
    label: f.CaptureLabel,
    out: f.CaptureOut,
    count: f.CaptureCount = 50,
    every: f.CaptureEvery = 0.5,
    width: f.Width = None,
    height: f.Height = None,
    fps: f.Fps = None,
    region: f.CaptureRegion = None,
) -> None:
    """Save frames of a camera or stream as pictures of one class, headless.

    Frames go to OUT/LABEL/ as JPEG (whole files only, never overwritten), one every --every
    seconds, until --count are saved. Run it once per class, then `edgecam train OUT`.
    """
    from edgecam.commands.capture import CaptureOptions, capture_frames
    from edgecam.util.progress import Progress

    opts = CaptureOptions(source=source, label=label, out=out, count=count or None,
                          every=every, width=width, height=height, fps=fps, region=region)
    with Progress(opts.count, "pictures", desc=f"capture {label}") as bar:
        summary = capture_frames(opts, bar.update)
    say(summary.lines())
    if summary.interrupted:
        typer.echo("edgecam: interrupted; every saved picture is whole", err=True)
        raise typer.Exit(summary.interrupted)


app.add_typer(service_group, name="service")


def main() -> None:
    """Console-script entry point."""
    run_app(app)


if __name__ == "__main__":
    main()
