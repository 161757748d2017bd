"""How a command talks to the terminal: a user error is one line on stderr and an exit code,
never a traceback; library notes go to stderr as "edgecam: ..." lines; JSON and results go to
stdout unless JSON lines took it. ``edgecam.cli`` declares the commands on top of this."""

from __future__ import annotations

import functools
import inspect
import json
import logging
import sys
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import typer

from edgecam.util.errors import EdgecamError

EXIT_INTERRUPTED = 130

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one line on stderr and return the Exit to raise."""
    typer.echo(f"edgecam: error: {message}", err=True)
    return typer.Exit(code)


def user_errors(fn: F) -> F:
    """Turn user errors into one stderr line and a non-zero exit, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
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
    return wrapper  # type: ignore[return-value]


def reflow(doc: str | None) -> str | None:
    """Docstring paragraphs as single lines, so --help wraps them to the terminal instead of
    keeping the source's line breaks."""
    if not doc:
        return doc
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    return "\n\n".join(" ".join(p.split()) for p in paragraphs)


def emit_json(data: object) -> None:
    typer.echo(json.dumps(data, indent=2))


def say(lines: Iterable[str], err: bool = False) -> None:
    """A command's summary, line by line (``err``: on stderr, beside the progress)."""
    for line in lines:
        typer.echo(line, err=err)


def note(message: str) -> None:
    """A note while a command works ("edgecam: ..." on stderr)."""
    typer.echo(f"edgecam: {message}", err=True)


def show_version(value: bool) -> None:
    if value:
        from edgecam import __version__

        typer.echo(f"edgecam {__version__}")
        raise typer.Exit()


def log_to_stderr() -> None:
    """Library warnings and notes (headless, reconnecting, switches) as "edgecam: ..." lines."""
    from edgecam.util.nativelogs import StderrHandler

    handler = StderrHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("edgecam: %(message)s"))
    root = logging.getLogger("edgecam")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    root.propagate = False


def run_app(app: typer.Typer) -> None:
    """Run the command line; usage errors too end in one line on stderr.

    Typer bundles its own copy of click in recent releases and uses the real click in older
    ones, so click's exceptions are recognised by their interface, not their class.
    """
    from edgecam.util.nativelogs import quiet_native_logs

    quiet_native_logs()
    log_to_stderr()
    try:
        code = app(standalone_mode=False)
    except KeyboardInterrupt:
        typer.echo("edgecam: interrupted", err=True)
        code = EXIT_INTERRUPTED
    except Exception as exc:
        code = _usage_error(exc)
    sys.exit(code if isinstance(code, int) else 0)


def _usage_error(exc: Exception) -> int:
    """The exit code of click's own exceptions, their message said in one line; anything else
    is a bug and raised again."""
    name = type(exc).__name__
    ctx = getattr(exc, "ctx", None)
    if name == "NoArgsIsHelpError" and hasattr(exc, "format_message"):
        # Typer's rich help printed itself while the error was built (its text is then
        # empty); plain click only returns it
        if exc.format_message().strip():
            typer.echo(exc.format_message())
        return 0
    if name == "Abort":
        typer.echo("edgecam: interrupted", err=True)
        return EXIT_INTERRUPTED
    if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
        hint = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
        typer.echo(f"edgecam: error: {exc.format_message()}{hint}", err=True)
        return int(exc.exit_code)
    raise exc
