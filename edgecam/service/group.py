"""``edgecam service install|status|logs|uninstall``: argument wiring only (the work is in
``edgecam.service.install``). Made by ``commands(guard)`` so the main CLI hands in its own
error handling without this module importing it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from edgecam.service.unit import WATCHDOG_S
from edgecam.util.errors import EdgecamError

NameOpt = Annotated[str, typer.Option(
    "--name", help="The unit's name: NAME.service (one per camera or site).")]
UserOpt = Annotated[bool, typer.Option(
    "--user", help="A service of your own (~/.config/systemd/user) instead of a system one "
                   "(/etc/systemd/system, needs sudo).")]


def commands(guard: Callable) -> typer.Typer:
    """The ``service`` command group; ``guard`` turns user errors into one line."""
    group = typer.Typer(help="Run edgecam at boot as a systemd service, restarted when it fails "
                             "or hangs.", no_args_is_help=True)

    @group.command(context_settings={"allow_interspersed_args": False})
    @guard
    def install(
        ctx: typer.Context,
        args: Annotated[list[str] | None, typer.Argument(
            metavar="-- COMMAND", help="The edgecam command line to run, after --: "
                                          "live --source 0 --serve 0.0.0.0:8080 ...",
            show_default=False)] = None,
        name: NameOpt = "edgecam",
        user: UserOpt = False,
        dry_run: Annotated[bool, typer.Option(
            "--dry-run", help="Print the unit instead of installing it.")] = False,
        no_start: Annotated[bool, typer.Option(
            "--no-start", help="Install and enable it without starting it now.")] = False,
        watchdog: Annotated[int, typer.Option(
            help="WatchdogSec: seconds without a frame (or a reconnecting camera's attempt) "
                 "before systemd kills and restarts the run; see docs/service.md.")
        ] = WATCHDOG_S,
    ) -> None:
        """Install a systemd service that runs an edgecam command line from this venv, in this
        folder, as you (or the user behind sudo), started at boot and restarted when it fails
        or hangs (Type=notify with WatchdogSec=), its output in the journal.

        Example: sudo .venv/bin/edgecam service install --name gate -- live --source
        rtsp://cam/stream --serve 0.0.0.0:8080 --mqtt mqtt://broker/edgecam
        """
        from edgecam.service.install import hints, install, plan, token_note

        command = list(args or [])
        unit = plan(command, name=name, per_user=user, watchdog_s=watchdog)
        _parse(ctx, command)
        note = token_note(command)
        if note:
            typer.echo(f"edgecam: {note}", err=True)
        if dry_run:
            typer.echo(unit.render(), nl=False)
            return
        done = install(unit, start=not no_start)
        status, logs = hints(unit.name, user)
        typer.echo(f"{'replaced' if done.replaced else 'wrote'} {done.path}: `{unit.describe()}` "
                   f"as {unit.user} in {unit.workdir}, watchdog {unit.watchdog_s} s")
        typer.echo(f"enabled {unit.filename} (it starts at boot)"
                   + (" and started it" if done.started else "")
                   + f"; {status} and {logs} show how it runs")
        if not done.lingers:
            typer.echo(f"edgecam: a user service runs while {unit.user} is logged in; "
                       f"`sudo loginctl enable-linger {unit.user}` starts it at boot", err=True)

    @group.command()
    @guard
    def status(name: NameOpt = "edgecam", user: UserOpt = False) -> None:
        """Show whether the service runs, since when, its status line and its last lines."""
        from edgecam.service.install import status as show_status

        raise typer.Exit(show_status(name, user))

    @group.command()
    @guard
    def logs(
        name: NameOpt = "edgecam",
        user: UserOpt = False,
        follow: Annotated[bool, typer.Option(
            "--follow", "-f", help="Keep printing new lines until Ctrl-C.")] = False,
        lines: Annotated[int, typer.Option(
            "--lines", "-n", help="How many of the last lines to show.")] = 50,
    ) -> None:
        """Print the service's journal (its output, restarts and watchdog kills)."""
        from edgecam.service.install import logs as show_logs

        raise typer.Exit(show_logs(name, user, lines, follow))

    @group.command()
    @guard
    def uninstall(name: NameOpt = "edgecam", user: UserOpt = False) -> None:
        """Stop and disable the service and remove its unit file."""
        from edgecam.service.install import uninstall as remove

        typer.echo(f"stopped, disabled and removed {remove(name, user)}")

    return group


def _parse(ctx: typer.Context, command: list[str]) -> None:
    """Parse the command line as edgecam will at boot, so a typo fails now, not in the
    journal. Typer may bundle its own click: its errors are known by their interface."""
    root = ctx.find_root()
    runner = root.command.get_command(root, command[0])  # type: ignore[attr-defined]
    try:
        runner.make_context(command[0], list(command[1:]), parent=root)
    except Exception as exc:
        if not hasattr(exc, "format_message"):
            raise
        raise EdgecamError(f"the service's command line: `edgecam {' '.join(command)}`: "
                           f"{exc.format_message()}") from None
