"""Every command-line option, declared once with its help (Typer's ``Annotated`` types), so
``edgecam.cli`` reads as the list of commands and what each takes. Options several commands
share have one declaration (``ModelOpt``, ``ThreadsOpt``...); the rest are named
``<Command><Option>``. Defaults live in each command's options object."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgecam.commands.options import LiveOptions

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
    help="Publish to mqtt://HOST[:PORT]/PREFIX, under PREFIX/CAMERA/ (needs the mqtt extra, "
         "which ./scripts/setup installs).")]

LiveCameraName = Annotated[list[str] | None, typer.Option(
    "--camera-name", metavar="NAME",
    help="The camera's name in MQTT topics and Home Assistant (repeat: one per --source, in "
         "order; default: from the source, e.g. the stream's host and path).",
    show_default=False)]

LiveHa = Annotated[bool, typer.Option(
    "--ha/--no-ha", help="With --mqtt: announce each camera to Home Assistant (MQTT discovery: "
                         "a device, a sensor and a snapshot image per region, an FPS sensor).")]

LiveHaPrefix = Annotated[str, typer.Option(
    help="Home Assistant's MQTT discovery prefix.")]

JsonOutOpt = Annotated[str | None, typer.Option(
    help="JSON lines, one per frame or image: {frame, source, model, label, top}, label "
         "being the top-1 or \"unknown\"; - for stdout (then every other message goes to "
         "stderr).")]

SinkOpt = Annotated[list[str] | None, typer.Option(
    "--sink", help="Another output (repeat): out.mp4, dir/, file.jsonl, - (JSON lines on "
                   "stdout), /dev/null, display://0, http://HOST:PORT, mqtt://HOST/PREFIX.")]

ModelsAll = Annotated[bool, typer.Option("--all", help="Every published (alpha, rho).")]

ModelsAsJson = Annotated[bool, typer.Option("--json", help="Machine-readable list of rows.")]

ExportArch = Annotated[str, typer.Argument(help="Architecture, e.g. mobilenet_v2, mixnet_s, "
                                             "efficientnet_lite0 (see `edgecam models`).")]

ExportAlpha = Annotated[float, typer.Option(help="Width multiplier.")]

ExportResolution = Annotated[int | None, typer.Option(
        "--resolution", "-r", help="Input size rho (default: the arch's native size).")]

ExportWeights = Annotated[str, typer.Option(
        help="imagenet (pretrained), random, or a .pth/.pt/.safetensors state dict "
             "(torchvision, timm, EfficientNet-Lite or edgecam keys).")]

ExportOutput = Annotated[Path | None, typer.Option(
        "--output", "-o", help="ONNX file to write (default: models/NAME.onnx).")]

ExportSeed = Annotated[int, typer.Option(help="Seed for --weights random.")]

ReportJson = Annotated[bool, typer.Option("--json", help="Print the report as JSON.")]

ClassifyInputs = Annotated[list[str], typer.Argument(
        help="Videos, images, directories or globs ('photos/*.jpg').", show_default=False)]

ClassifyOutput = Annotated[str | None, typer.Option(
        "--output", "-o", help="Annotated video (one video input, .mp4/.avi) or a directory "
                               "for annotated images and videos; written under a temporary "
                               "name and renamed into place when whole.")]

ClassifyJobs = Annotated[int | None, typer.Option(
        help="Videos classified side by side (default: one per core when there are several, "
             "each with threads/jobs onnxruntime threads).")]

ClassifyBatch = Annotated[int | None, typer.Option(
        help="Frames per inference call (default: measured on this device for this model "
             "the first time a run of 300+ frames uses it, then remembered in "
             "~/.cache/edgecam/batch-sizes.json; 1 until then).", show_default=False)
    ]

ClassifyWorkers = Annotated[int | None, typer.Option(
        help="Inferences at once per file, the threads shared out among them (default: one "
             "per thread, each on one thread: about 1.3x faster than 1 on a 2-core x86).",
        show_default=False)]

ClassifyCluster = Annotated[str | None, typer.Option(
        help="Classify on a Dask cluster: its scheduler's tcp://HOST:PORT (the inputs must be "
             "readable at the same paths on the workers; needs the cluster extra).")]

ClassifyChunk = Annotated[int | None, typer.Option(
        help="With --cluster: frames per task (long videos are split into ranges; "
             "default 240).")]

ClassifyMaxMegapixels = Annotated[float | None, typer.Option(
        help="Pictures larger than this are refused before they are decoded (default 64: a "
             "20000x20000 PNG would take gigabytes).", show_default=False)]

LiveSource = Annotated[list[str] | None, typer.Option(
        "--source", "-s", help="0, /dev/video0, csi://0, picam://0, a video file, "
                               "rtsp://..., http://..., synthetic://640x480?fps=30. Repeat "
                               "for several cameras in one process (one model, each camera "
                               "its own capture, smoothing, stats and preview).",
        show_default=LiveOptions.source)]

LiveConfig = Annotated[str | None, typer.Option(
        "--config", metavar="SITE.TOML",
        help="A site file: the cameras, the regions each watches, the outputs and the model "
             "options, each key named like its flag (events_keep for --events-keep); a flag "
             "given here overrides the file (--source and --region replace its lists). See "
             "docs/site-file.md.", show_default=False)]

LiveProfile = Annotated[str | None, typer.Option(
        help="'auto': run the config `edgecam tune` chose for this device, and step down "
             "or up when the frame rate drifts.")]

LiveHeadless = Annotated[bool, typer.Option(help="No window.")]

LiveServe = Annotated[str | None, typer.Option(
        help="Browser preview on [HOST:]PORT (default host 127.0.0.1).")]

LiveServeToken = Annotated[str | None, typer.Option(
        help="Require ?token=TOKEN for the preview (use when serving beyond loopback). On a "
             "shared machine give it in EDGECAM_SERVE_TOKEN or --serve-token-file: options "
             "show in `ps`.")]

LiveServeTokenFile = Annotated[str | None, typer.Option(
        help="Read the preview's token from the first line of this file.")]

LiveServeName = Annotated[list[str] | None, typer.Option(
        "--serve-name", help="A host name the preview answers to besides its addresses, "
                             "localhost and this machine's name (repeat), e.g. cam.example.lan; "
                             "other Host names are refused (DNS rebinding).")]

LiveCaptureDir = Annotated[str | None, typer.Option(
        help="Set it up from the preview page: draw the regions on the picture, save each "
             "region's crop (or the frame, without the overlay) as DIR/LABEL/*.jpg like "
             "`edgecam capture`, and press Train: the running live switches to the new model "
             "(docs/browser-setup.md).")]

LiveOutput = Annotated[str | None, typer.Option(
        "--output", "-o", help="Also write the annotated video here (renamed into place "
                               "when the run ends, also after Ctrl-C, SIGTERM or SIGHUP).")]

LiveJsonOut = Annotated[str | None, typer.Option(
        help="JSON lines, one per frame, growing line by line so it can be tailed; moved or "
             "removed (logrotate), it starts anew at the path by itself; - for "
             "stdout.")]

LiveMaxFrames = Annotated[int | None, typer.Option(help="Stop after N frames.")]

LiveSmoothing = Annotated[float, typer.Option(
        help="Weight of the past in the moving average of probabilities (0 = none).")
    ]

Width = Annotated[int | None, typer.Option(help="Camera capture width.")]

Height = Annotated[int | None, typer.Option(help="Camera capture height.")]

Fps = Annotated[float | None, typer.Option(help="Camera capture frame rate.")]

LiveFast = Annotated[bool, typer.Option(
        "--fast", help="Run a video file as fast as the model goes, every frame (default: "
                       "at the file's own frame rate, like a camera).")]

LiveLoop = Annotated[bool, typer.Option(
        "--loop", help="Play a video file again and again.")]

LiveBatchCameras = Annotated[bool, typer.Option(
        help="With several --source: infer the frames the cameras have ready in one "
             "call.")]

BenchModel = Annotated[str | None, typer.Argument(
        help="An .onnx file or a model name (default: EfficientNet-Lite0).")]

BenchSource = Annotated[str | None, typer.Option(
        "--source", "-s", help="Frames to use (default: a synthetic 640x480 picture).")]

BenchFrames = Annotated[int, typer.Option(help="Frames measured after warm-up.")
                      ]

BenchOverlay = Annotated[bool, typer.Option(help="Include drawing the overlay.")
                       ]

BenchAsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]

DemoPhotos = Annotated[Path | None, typer.Option(
        help="Photos to make the clip from (default: calibration/images here or in the "
             "edgecam clone).", show_default=False)]

DemoOut = Annotated[Path, typer.Option(help="Where the clip and results go.")]

TuneTargetFps = Annotated[float, typer.Option(
        "--target-fps", help="Frame rate to reach (640x480 frames, whole pipeline).")]

TuneFamily = Annotated[list[str] | None, typer.Option(
        "--family", help="Family or arch to consider (repeat; default: those whose ImageNet "
                         "weights are here: EfficientNet-Lite0/1/2 offline, MobileNetV3/V4 "
                         "once in the Hugging Face cache).")]

TuneModels = Annotated[str | None, typer.Option(
        "--models", help="Choose among existing .onnx files instead (a glob, e.g. "
                         "'models/gate-*.onnx').")]

TuneWeights = Annotated[str, typer.Option(
        help="imagenet (checkpoints you can deploy), or random: any width, latency only "
             "(accuracy from the papers' separately trained models).")]

TuneData = Annotated[Path | None, typer.Option(
        help="Labelled pictures, one folder per class named by the model's labels: top-1 is "
             "measured on them and ranks the choice.")]

TuneSample = Annotated[Path | None, typer.Option(
        help="Unlabelled footage (a video or a folder): each config's top-1 agreement with "
             "the most accurate one.")]

TunePrecision = Annotated[str | None, typer.Option(
        help="Comma list of fp32,int8 (int8 is quantized here on --calibration and measured; "
             "default: both where onnxruntime's quantization is installed, else fp32).")]

TuneThreads = Annotated[str | None, typer.Option(
        help="Comma list of thread counts (default: 1..cores).")]

TuneProvider = Annotated[str | None, typer.Option(
        help="Comma list of execution providers to measure like thread counts, e.g. "
             "cpu,tensorrt:fp16 (default: auto; see classify --help).")]

TuneBudgetS = Annotated[float, typer.Option(
        help="Time budget in seconds, exports, quantization and accuracy included.")]

TuneJsonOut = Annotated[Path | None, typer.Option(help="Write the result as JSON.")]

TunePlot = Annotated[Path | None, typer.Option(
        help="Accuracy vs FPS plot (PNG, needs edgecam\\[plot]).")]

TuneCalibration = Annotated[Path, typer.Option(
        help="Photos for INT8 calibration (random frames when missing).")]

TuneSaveProfile = Annotated[bool, typer.Option(
        help="Save this device's profile for `live --profile auto`.")]

TuneProfileName = Annotated[str | None, typer.Option(
        help="Name of the saved profile (default: the candidate set, e.g. imagenet, or gate "
             "for --models 'models/gate-*.onnx'); live --profile NAME runs it.")]

TuneAllRows = Annotated[bool, typer.Option(
        "--all", help="List every config in the table (default: the choice, its fallbacks, "
                      "what was measured and every more accurate config, with why).")]

QuantizeModel = Annotated[str, typer.Argument(help="An .onnx file or a model name (FP32).")]

QuantizeCalibration = Annotated[Path, typer.Option(
        help="Directory of real photos, preprocessed exactly as at run time.")]

QuantizeOutput = Annotated[Path | None, typer.Option(
        "--output", "-o", help="INT8 file (default: beside the input, NAME-int8.onnx).")]

QuantizeMethod = Annotated[str, typer.Option(
        help="Calibration: minmax, percentile or entropy.")]
QuantizeFp32Ends = Annotated[bool, typer.Option(
        help="Keep the first conv and the classifier in FP32.")]

TrainData = Annotated[Path, typer.Argument(
        help="One sub-folder of pictures per class (or train/ and val/, each with one "
             "sub-folder per class); the folder names become the labels.", show_default=False)]

TrainArch = Annotated[str, typer.Option(
        help="Backbone with ImageNet weights: efficientnet_lite0/1/2 offline; mobilenet_v1/v2, "
             "mixnet_s/m/l and (with edgecam[hub]) mobilenet_v3_large/small, "
             "mobilenet_v4_conv_small/medium when their weights are cached or downloadable.")]

TrainAlpha = Annotated[float, typer.Option(help="Width multiplier of the backbone.")]

TrainResolution = Annotated[str | None, typer.Option(
        "--resolution", "-r", help="Input size, or several (160,192,224): one model each "
                                   "(default: the arch's native size).")]

TrainEpochs = Annotated[int | None, typer.Option(
        help="Most epochs (early stopping on validation accuracy ends sooner): of the "
             "classifier (default 40), or with --finetune of the fine-tuning (default 8).")
    ]

TrainPatience = Annotated[int | None, typer.Option(
        help="Epochs without a better validation accuracy before stopping (default 8; with "
             "--finetune every epoch runs unless this is given, the learning rate rising then "
             "falling, and the best is kept).")]

TrainFinetune = Annotated[bool, typer.Option(
        help="Also train the backbone's last stage (slower; for classes far from ImageNet's "
             "pictures).")]

TrainValSplit = Annotated[float, typer.Option(
        help="Share of each class held out for validation (without train/ and val/).")
    ]

TrainOutput = Annotated[Path | None, typer.Option(
        "--output", "-o", help="ONNX file (several resolutions: NAME-R.onnx each; default: "
                               "models/DATA-ARCH-ALPHA-R.onnx).")]

TrainJsonOut = Annotated[Path | None, typer.Option(
        help="Write the report (accuracy, per-class accuracy, confusion matrix, data set "
             "fingerprint) as JSON.")]

TrainProgressJson = Annotated[Path | None, typer.Option(
        help="Append each step (pictures read, epochs with the validation accuracy) as a JSON "
             "line to this file, for a program that shows the progress (the browser "
             "preview's train button).")]

TrainAugment = Annotated[bool, typer.Option(
        help="Random resized crops, flips and colour jitter of the training pictures.")]

TrainViews = Annotated[int, typer.Option(
        help="Views of each training picture the classifier learns from (1 plain + "
             "augmented ones).")]

TrainSeed = Annotated[int, typer.Option(help="Seed of the split, augmentation and training.")]

TrainUnknown = Annotated[Path | None, typer.Option(
        help="A folder of pictures of anything else (default: DATA/unknown if it exists): "
             "not a class, but what the model learns to be unsure of and what its rule to "
             "answer 'unknown' is checked against.", show_default=False)]

TrainKeep = Annotated[float, typer.Option(
        help="Share of the known validation pictures the rule to answer 'unknown' keeps; "
             "lower rejects more of anything else and more of your classes.")]

CaptureSource = Annotated[str, typer.Option(
        "--source", "-s", help="0, /dev/video0, csi://0, picam://0, rtsp://..., http://..., "
                               "a video or pictures.")]

CaptureLabel = Annotated[str, typer.Option(
    help="Class name: pictures go to OUT/LABEL/ (one line of text, any script, at most 255 "
         "bytes in UTF-8).")]

CaptureOut = Annotated[Path, typer.Option(help="Data set folder (what `edgecam train` reads).")]

CaptureCount = Annotated[int | None, typer.Option(
        help="Pictures to save (default 50; 0 = until the source ends or Ctrl-C).")]

CaptureEvery = Annotated[float, typer.Option(
        help="Seconds between saved frames (of the video's own time for files).")]

RegionOpt = Annotated[list[str] | None, typer.Option(
    "--region", metavar="NAME=X,Y,W,H[:MODEL]",
    help="Classify this place of the frame instead of the whole frame (repeat for several): "
         "a box in pixels of the source frame, or fractions of its width and height when all "
         "four are <= 1; :MODEL gives it its own model (an .onnx file or a name). Each region "
         "has its own state, smoothing and unknown rule; all regions of a frame that share a "
         "model go through it in one call.", show_default=False)]

HoldOpt = Annotated[float, typer.Option(
    help="Seconds of the source's own time a new label (unknown included) must hold before "
         "a region's state changes (a file's timestamps, so a file gives the same states at "
         "any speed).")]

EventsOpt = Annotated[str | None, typer.Option(
    help="Folder for events: every state change appends a line to DIR/events.jsonl (region, "
         "from, to, score, frame, time, snapshot) and saves a JPEG snapshot (the frame with "
         "the region's box, and the region's crop).", show_default=False)]

EventsKeepOpt = Annotated[int, typer.Option(
    help="Snapshots kept in --events (the oldest go first; never below 5% free disk); the "
         "JSON lines are kept whole.")]

CaptureRegion = Annotated[str | None, typer.Option(
    "--region", metavar="NAME=X,Y,W,H",
    help="Save only this place of each frame (pixels, or fractions <= 1), cropped exactly as "
         "`live --region` crops it, so `train` learns what `live` will see.",
    show_default=False)]

LabelsOpt = Annotated[str | None, typer.Option(
    metavar="FILE", help="Run an ONNX classifier without edgecam metadata: its labels, one per "
                         "line (ImageNet preprocessing is assumed and said; see "
                         "docs/foreign-models.md).", show_default=False)]

ServiceName = Annotated[str, typer.Option(
    "--name", help="The unit's name: NAME.service (one per camera or site).")]

ServiceUser = Annotated[bool, typer.Option(
    "--user", help="A service of your own (~/.config/systemd/user) instead of a system one "
                   "(/etc/systemd/system, needs sudo).")]

ServiceCommand = Annotated[list[str] | None, typer.Argument(
    metavar="-- COMMAND", help="The edgecam command line to run, after --: "
                               "live --source 0 --serve 0.0.0.0:8080 ...", show_default=False)]

ServiceDryRun = Annotated[bool, typer.Option(
    "--dry-run", help="Print the unit instead of installing it.")]

ServiceNoStart = Annotated[bool, typer.Option(
    "--no-start", help="Install and enable it without starting it now.")]

ServiceWatchdog = Annotated[int, typer.Option(
    help="WatchdogSec: seconds without a frame (or a reconnecting camera's attempt) before "
         "systemd kills and restarts the run; see docs/service.md.")]

ServiceFollow = Annotated[bool, typer.Option(
    "--follow", "-f", help="Keep printing new lines until Ctrl-C.")]

ServiceLines = Annotated[int, typer.Option(
    "--lines", "-n", help="How many of the last lines to show.")]
