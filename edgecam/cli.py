"""The ``edgecam`` command line: one small function per command, argument wiring only.

Heavy modules (torch, onnxruntime, OpenCV) are imported inside the commands, so ``--help`` and
``import edgecam.cli`` stay fast and never touch torch.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from edgecam.errors import EdgecamError

app = typer.Typer(
    name="edgecam",
    help="Real-time image classification on small CPUs, at the model size your hardware can run.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

EXIT_INTERRUPTED = 130


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
        except KeyboardInterrupt:
            typer.echo("edgecam: interrupted", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None

    return wrapper


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
    from edgecam.zoo_table import model_rows, render_rows

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
    """Export an architecture with weights to a self-describing ONNX file, checked numerically
    against PyTorch."""
    from edgecam.catalog import arch_info, models_dir
    from edgecam.store import has_export_extra

    info = arch_info(arch)
    res = resolution if resolution is not None else info.resolution
    if not has_export_extra():
        raise fail("exporting needs torch and onnx: pip install 'edgecam[export,pretrained]'")
    from edgecam.catalog import model_name
    from edgecam.export import export_model

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


def main() -> None:
    """Console-script entry point: usage errors too end in one line on stderr.

    Typer bundles its own copy of click in recent releases and uses the real click in older
    ones, so click's exceptions are recognised by their interface, not their class.
    """
    try:
        code = app(standalone_mode=False)
    except KeyboardInterrupt:
        typer.echo("edgecam: interrupted", err=True)
        code = EXIT_INTERRUPTED
    except Exception as exc:
        name = type(exc).__name__
        ctx = getattr(exc, "ctx", None)
        if name == "NoArgsIsHelpError" and ctx is not None:
            typer.echo(ctx.get_help())
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
