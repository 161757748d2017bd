"""``edgecam export`` and ``edgecam quantize``: a model file made, and the line each ends with
(what was written, how far it is from PyTorch or from FP32, how fast)."""

from __future__ import annotations

from edgecam.commands.options import ExportOptions, QuantizeOptions
from edgecam.models.catalog import ModelConfig, models_dir
from edgecam.models.store import has_export_extra
from edgecam.util.errors import MissingExtraError


def run_export(opts: ExportOptions) -> dict:
    """Build, export and check the model; its report."""
    if not has_export_extra():
        raise MissingExtraError("exporting needs torch and onnx: pip install "
                                "'edgecam[export,pretrained]'")
    from edgecam.models.export import export_model

    assert opts.resolution is not None  # the options defaulted it
    config = ModelConfig(opts.arch, opts.alpha, opts.resolution)
    out = opts.output or models_dir() / f"{config.name}.onnx"
    return export_model(opts.arch, opts.alpha, opts.resolution, weights=opts.weights,
                        output=out, seed=opts.seed)


def run_quantize(opts: QuantizeOptions) -> dict:
    """Quantize, compare with FP32 on the photos, time both; the report."""
    from edgecam.runtime.quantize import quantize_model

    return quantize_model(opts.model, opts.calibration, opts.output, opts.method,
                          opts.fp32_ends, opts.threads)


def export_line(report: dict) -> str:
    return (f"wrote {report['output']}  ({report['name']}, {report['params'] / 1e6:.2f} M "
            f"params, {report['macs'] / 1e6:.1f} M MACs, weights {report['weights']}, "
            f"max |onnx - torch| = {report['parity']:.2e} x max|logit|)")


def quantize_lines(report: dict) -> list[str]:
    """What INT8 changed, on the calibration photos: agreement with FP32 and speed."""
    low, high = report["top1_agreement_ci95"]
    lines = [
        f"wrote {report['output']} ({report['model']}, {report['calibrate_method']} "
        f"calibration on {report['images']} photos)",
        f"INT8 vs FP32 on the photos: top-1 agreement {report['top1_agreement']:.1%} "
        f"(95% CI {low:.1%}-{high:.1%} on {report['images']} photos; {report['near_ties']} "
        f"near-ties, where FP32's top two are within 5 points and either may win), top-5 "
        f"overlap {report['top5_overlap']:.1%}"]
    if report["top1_agreement_decisive"] is not None:
        lines.append(f"top-1 agreement where FP32 is decisive (leads by >= 5 points): "
                     f"{report['top1_agreement_decisive']:.1%} of {report['decisive_images']} "
                     "photos")
    lines.append(f"pipeline ms (side by side, median): FP32 {report['fp32_ms']:.2f}, "
                 f"INT8 {report['int8_ms']:.2f} ({report['int8_speedup']:.2f}x)")
    return lines
