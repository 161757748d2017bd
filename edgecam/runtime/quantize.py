"""INT8 static quantization (QDQ, per-channel weights) calibrated on real photos.

The calibration tensors come from the model's own runtime Preprocessor, so the activation
ranges are those the model sees at run time. The result is judged against FP32 on the same
photos (top-1 agreement, top-5 overlap) and timed side by side with it, because on CPUs without
VNNI an INT8 model can be slower than FP32: precision is measured, never assumed.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from edgecam.models.metadata import ModelMeta, write_metadata
from edgecam.runtime.engine import Engine
from edgecam.runtime.postprocess import Postprocessor
from edgecam.runtime.preprocess import Preprocessor
from edgecam.sources.media import IMAGE_EXT, is_image_path, read_image
from edgecam.util.atomic import Staged
from edgecam.util.device import check_threads
from edgecam.util.errors import CannotWrite, EdgecamError, MissingExtraError
from edgecam.util.safewrite import check_writable, refuse_inputs, shown

METHODS = ("minmax", "percentile", "entropy")
DECISIVE = 0.05  # FP32 top-1 leads its runner-up by at least this probability


def check_method(method: str) -> None:
    """A calibration method onnxruntime's quantizer has."""
    if method not in METHODS:
        raise EdgecamError(f"unknown calibration method {method!r}; choose {', '.join(METHODS)}")


def calibration_images(directory: str | Path) -> list[Path]:
    """The photos in ``directory``; a missing or empty directory is a user error."""
    path = Path(directory)
    if not path.is_dir():
        raise EdgecamError(f"calibration directory not found: {path}")
    files = sorted(p for p in path.rglob("*") if is_image_path(p.name) and p.is_file())
    if not files:
        raise EdgecamError(f"calibration directory {path} has no images "
                           f"({', '.join(sorted(IMAGE_EXT))})")
    return files


def synthetic_frames(count: int = 16, seed: int = 0) -> list[np.ndarray]:
    """Smooth random 640x480 pictures: calibration when no photos exist (latency-only tuning
    with random weights, where agreement means nothing anyway)."""
    import cv2

    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(count):
        small = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
        frames.append(cv2.resize(small, (640, 480), interpolation=cv2.INTER_CUBIC))
    return frames


def load_frames(files: list[Path]) -> list[np.ndarray]:
    return [read_image(str(f)) for f in files]


def _reader(name: str, tensors: list[np.ndarray]):
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it: Iterator[np.ndarray] = iter(tensors)

        def get_next(self) -> dict | None:
            item = next(self._it, None)
            return None if item is None else {name: item}

        def rewind(self) -> None:
            self._it = iter(tensors)

    return Reader()


def end_nodes(path: Path) -> list[str]:
    """The first Conv and the last Gemm/MatMul: the layers most sensitive to INT8 (raw pixels
    in, logits out), kept in FP32 with ``keep_ends``."""
    import onnx

    nodes = onnx.load(str(path)).graph.node
    first = next((n.name for n in nodes if n.op_type == "Conv"), None)
    last = next((n.name for n in reversed(nodes) if n.op_type in ("Gemm", "MatMul")), None)
    return [n for n in (first, last) if n]


def quantize_file(fp32: Path, frames: list[np.ndarray], output: Path,
                  method: str = "minmax", keep_ends: bool = False) -> ModelMeta:
    """Write the INT8 QDQ model of ``fp32`` calibrated on ``frames`` (BGR pictures)."""
    try:
        from onnxruntime.quantization import (
            CalibrationMethod,
            QuantFormat,
            QuantType,
            quantize_static,
        )
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError:
        raise MissingExtraError("quantizing needs onnx: pip install 'edgecam[quantize]'") from None
    check_method(method)
    engine = Engine(fp32, threads=1)
    pre = Preprocessor(engine.meta)
    tensors = [pre(f).copy() for f in frames]
    calib = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
             "entropy": CalibrationMethod.Entropy}[method]
    try:
        # staged beside the output: the file appears whole, already loaded once by the runtime
        with Staged(output) as staged, \
                tempfile.TemporaryDirectory(prefix="edgecam-quant-") as tmp:
            prepped = Path(tmp) / "pre.onnx"
            quant_pre_process(str(fp32), str(prepped), skip_symbolic_shape=True)
            # the calibrators print their progress: keep the library quiet
            with contextlib.redirect_stdout(io.StringIO()):
                quantize_static(
                    str(prepped), str(staged.temp), _reader(engine.input_name, tensors),
                    quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=calib,
                    nodes_to_exclude=end_nodes(prepped) if keep_ends else None,
                )
            meta = ModelMeta(**{**engine.meta.__dict__, "precision": "int8"})
            write_metadata(staged.temp, meta)
            Engine(staged.temp, threads=1)  # the runtime must still load it
    except OSError as exc:
        raise CannotWrite(output, exc) from None
    return meta


def _logits(engine: Engine, tensors: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([engine.run(t) for t in tensors])


def _top(logits: np.ndarray, k: int = 5) -> np.ndarray:
    return np.argsort(-logits, axis=1)[:, :k]


def fp32_margin(logits: np.ndarray) -> np.ndarray:
    """Probability lead of FP32's top-1 over its runner-up, per picture: below a few points the
    pick is a coin toss that any perturbation (INT8 rounding, a flip of the picture) decides."""
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = np.sort(z / z.sum(axis=1, keepdims=True), axis=1)
    return p[:, -1] - p[:, -2]


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% for z = 1.96): honest at small n and at
    proportions near 1, where the normal approximation claims certainty it does not have."""
    if n <= 0:
        return 0.0, 1.0
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, float(centre - half)), min(1.0, float(centre + half))


def side_by_side_ms(paths: list[Path], frame: np.ndarray, threads: int | None = None,
                    rounds: int = 40, warmup: int = 5) -> list[float]:
    """Median pipeline ms (preprocess + infer + postprocess) of each model, interleaved frame by
    frame so a change in load hits all of them alike."""
    stages = []
    for path in paths:
        engine = Engine(path, threads)
        stages.append((Preprocessor(engine.meta), engine, Postprocessor(engine.meta.labels, 5)))
    times: list[list[float]] = [[] for _ in paths]
    for i in range(warmup + rounds):
        for j, (pre, engine, post) in enumerate(stages):
            t0 = time.perf_counter()
            post(engine.run(pre(frame))[0])
            if i >= warmup:
                times[j].append((time.perf_counter() - t0) * 1e3)
    return [round(float(np.median(t)), 3) for t in times]


def compare(fp32: Path, int8: Path, frames: list[np.ndarray], threads: int | None = None,
            rounds: int = 40) -> dict:
    """Top-1 agreement, top-5 overlap and side-by-side latency of INT8 against FP32."""
    a, b = Engine(fp32, 1), Engine(int8, 1)
    pre = Preprocessor(a.meta)
    tensors = [pre(f).copy() for f in frames]
    la = _logits(a, tensors)
    ta, tb = _top(la), _top(_logits(b, tensors))
    same = ta[:, 0] == tb[:, 0]
    agree = float(np.mean(same))
    low, high = wilson(int(same.sum()), len(same))
    decisive = fp32_margin(la) >= DECISIVE
    overlap = float(np.mean([len(set(x) & set(y)) / 5 for x, y in zip(ta, tb)]))
    import cv2

    frame = cv2.resize(frames[0], (640, 480))
    fp32_ms, int8_ms = side_by_side_ms([fp32, int8], frame, threads, rounds)
    return {"images": len(frames), "top1_agreement": round(agree, 4),
            "top1_agreement_ci95": [round(low, 4), round(high, 4)],
            "near_ties": int((~decisive).sum()),
            "decisive_images": int(decisive.sum()),
            "top1_agreement_decisive": round(float(np.mean(same[decisive])), 4)
            if decisive.any() else None,
            "top5_overlap": round(overlap, 4), "fp32_ms": fp32_ms, "int8_ms": int8_ms,
            "int8_speedup": round(fp32_ms / int8_ms, 3) if int8_ms > 0 else None}


def default_output(fp32: Path) -> Path:
    stem = fp32.stem[:-5] if fp32.stem.endswith("-fp32") else fp32.stem
    return fp32.with_name(f"{stem}-int8.onnx")


def quantize_model(model: str | None, calibration: str | Path, output: str | Path | None = None,
                   method: str = "minmax", keep_ends: bool = False, threads: int | None = None,
                   rounds: int = 40) -> dict:
    """``edgecam quantize``: quantize, check agreement on the photos, time both; the report."""
    from edgecam.models.store import resolve_model

    threads = check_threads(threads)  # QuantizeOptions checked it already; this for Python
    files = calibration_images(calibration)  # before any export: fail fast on bad input
    fp32 = resolve_model(model)
    out = Path(output) if output else default_output(fp32)
    refuse_inputs(out, [fp32], what="the FP32 model (the input of quantize)")
    refuse_inputs(out, files, what="a calibration picture", folders=[calibration],
                  folder_what="inside the calibration folder")
    if out.suffix != ".onnx":
        raise EdgecamError(f"--output must end in .onnx, got {shown(out)}")
    check_writable(out)
    start = time.monotonic()
    frames = load_frames(files)
    meta = quantize_file(fp32, frames, out, method, keep_ends)
    report = {"input": str(fp32), "output": str(out), "model": meta.name,
              "calibration": str(calibration), "calibrate_method": method,
              "fp32_ends": keep_ends}
    report.update(compare(fp32, out, frames, threads, rounds))
    report["seconds"] = round(time.monotonic() - start, 1)
    return report
