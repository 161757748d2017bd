"""Which onnxruntime execution provider runs the model: ``--provider auto|cpu|cuda|tensorrt|
openvino|xnnpack|...``, checked against what this onnxruntime build offers, so a missing one
ends in one line naming the package that brings it instead of a silent fall-back to the CPU.

A choice is written ``NAME[:MODIFIER...]``: ``tensorrt:fp16`` builds FP16 engines,
``openvino:gpu`` picks OpenVINO's device. TensorRT engines take minutes to build, so they are
cached on disk (``EDGECAM_TRT_CACHE``, default ``~/.cache/edgecam/tensorrt``) and the next
start is fast.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from edgecam.util.errors import EdgecamError

CPU = "CPUExecutionProvider"


@dataclass(frozen=True)
class ProviderInfo:
    ort_name: str
    install: str  # what brings it, for the one-line error
    modifiers: tuple[str, ...] = ()


PROVIDERS: dict[str, ProviderInfo] = {
    "cpu": ProviderInfo(CPU, "pip install onnxruntime"),
    "cuda": ProviderInfo(
        "CUDAExecutionProvider",
        "pip install onnxruntime-gpu (in place of onnxruntime; on a Jetson, the onnxruntime-gpu "
        "wheel built for its JetPack)"),
    "tensorrt": ProviderInfo(
        "TensorrtExecutionProvider",
        "pip install onnxruntime-gpu and TensorRT (in place of onnxruntime; on a Jetson, "
        "JetPack's TensorRT and the onnxruntime-gpu wheel built for it)", ("fp16",)),
    "openvino": ProviderInfo(
        "OpenVINOExecutionProvider", "pip install onnxruntime-openvino (in place of onnxruntime)",
        ("cpu", "gpu", "npu", "fp16")),
    "xnnpack": ProviderInfo(
        "XnnpackExecutionProvider",
        "an onnxruntime built with --use_xnnpack (the PyPI onnxruntime wheel has none)"),
    "coreml": ProviderInfo("CoreMLExecutionProvider", "pip install onnxruntime (on macOS)"),
    "directml": ProviderInfo(
        "DmlExecutionProvider", "pip install onnxruntime-directml (Windows)"),
    "rocm": ProviderInfo("ROCMExecutionProvider", "pip install onnxruntime-rocm"),
    "migraphx": ProviderInfo("MIGraphXExecutionProvider", "pip install onnxruntime-migraphx"),
    "qnn": ProviderInfo("QNNExecutionProvider", "pip install onnxruntime-qnn"),
    "acl": ProviderInfo("ACLExecutionProvider", "an onnxruntime built with --use_acl"),
}

# What ``auto`` tries, best first: GPUs and NPUs only. TensorRT is left to an explicit
# choice (its first engine build takes minutes); OpenVINO on a CPU measured no faster than
# onnxruntime's own CPU kernels here.
AUTO_ORDER = ("cuda", "rocm", "migraphx", "directml", "coreml", "qnn")


@dataclass(frozen=True)
class ProviderChoice:
    """A parsed ``--provider`` value: the name and its modifiers (``fp16``, a device)."""

    name: str
    modifiers: frozenset[str] = frozenset()

    def __str__(self) -> str:
        return ":".join([self.name, *sorted(self.modifiers)])


def provider_names() -> list[str]:
    """The names ``--provider`` accepts."""
    return ["auto", *PROVIDERS]


def parse_provider(text: str | None) -> ProviderChoice:
    """``"tensorrt:fp16"`` -> ProviderChoice("tensorrt", {"fp16"}); None or "" is ``auto``."""
    parts = [p.strip().lower() for p in (text or "auto").split(":")]
    name, mods = parts[0], frozenset(p for p in parts[1:] if p)
    if name != "auto" and name not in PROVIDERS:
        raise EdgecamError(f"unknown provider {text!r}; choose from {', '.join(provider_names())}")
    allowed = PROVIDERS[name].modifiers if name in PROVIDERS else ()
    bad = sorted(mods - set(allowed))
    if bad:
        hint = f" (it takes {', '.join(allowed)})" if allowed else ""
        raise EdgecamError(f"provider {name} has no option {':'.join(bad)}{hint}")
    return ProviderChoice(name, mods)


def parse_providers(text: str | None) -> list[ProviderChoice]:
    """A comma-separated list (``tune --provider cpu,tensorrt:fp16``)."""
    items = [t for t in (text or "").split(",") if t.strip()]
    return [parse_provider(t) for t in items]


def available() -> list[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


def short_name(ort_name: str) -> str:
    """``CUDAExecutionProvider`` -> ``cuda`` (the name --provider takes)."""
    for name, info in PROVIDERS.items():
        if info.ort_name == ort_name:
            return name
    return ort_name.removesuffix("ExecutionProvider").lower()


def trt_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(os.environ.get("EDGECAM_TRT_CACHE") or Path(base) / "edgecam" / "tensorrt")


def _options(choice: ProviderChoice, threads: int) -> dict[str, str]:
    fp16 = "fp16" in choice.modifiers
    if choice.name == "tensorrt":
        cache = trt_cache_dir()
        cache.mkdir(parents=True, exist_ok=True)
        return {"trt_engine_cache_enable": "True", "trt_engine_cache_path": str(cache),
                "trt_timing_cache_enable": "True", "trt_timing_cache_path": str(cache),
                "trt_fp16_enable": str(fp16)}
    if choice.name == "openvino":
        device = next((d for d in ("gpu", "npu", "cpu") if d in choice.modifiers), "cpu")
        opts = {"device_type": device.upper()}
        if fp16:
            opts["precision"] = "FP16"
        return opts
    if choice.name == "xnnpack":
        return {"intra_op_num_threads": str(threads)}
    return {}


def session_providers(choice: ProviderChoice, threads: int,
                      have: list[str] | None = None) -> list[tuple[str, dict[str, str]]]:
    """The ``providers`` list for ``InferenceSession``, best first, the CPU always last (for
    operators the accelerator lacks). Raises the one-line error when the choice is not in this
    onnxruntime."""
    have = available() if have is None else have
    if choice.name == "auto":
        names = [n for n in AUTO_ORDER if PROVIDERS[n].ort_name in have][:1]
    else:
        info = PROVIDERS[choice.name]
        if info.ort_name not in have:
            offered = ", ".join(short_name(p) for p in have) or "none"
            raise EdgecamError(f"provider {choice.name} is not in this onnxruntime "
                               f"(it has: {offered}); it needs {info.install}")
        names = [choice.name]
        if choice.name == "tensorrt" and PROVIDERS["cuda"].ort_name in have:
            names.append("cuda")  # TensorRT hands the operators it lacks to CUDA
    chosen = []
    for n in names:
        mods = choice.modifiers if n == choice.name else frozenset()
        if n != "cpu":
            chosen.append((PROVIDERS[n].ort_name, _options(ProviderChoice(n, mods), threads)))
    return [*chosen, (CPU, {})]
