"""``edgecam service install|status|logs|uninstall``: the commands and what each takes (the
work is in ``edgecam.service``: the unit's text, installing it, systemctl)."""

from __future__ import annotations

import typer

from edgecam.commands import flags as f
from edgecam.commands.console import user_errors
from edgecam.service.unit import WATCHDOG_S
from edgecam.util.errors import EdgecamError

group = typer.Typer(help="Run edgecam at boot as a systemd service, restarted when it fails or "
                         "hangs.", no_args_is_help=True)


@group.command(context_settings={"allow_interspersed_args": False})
@user_errors
def install(
    ctx: typer.Context,
    args: f.ServiceCommand = None,
    name: f.ServiceName = "edgecam",
    user: f.ServiceUser = False,
    dry_run: f.ServiceDryRun = False,
    no_start: f.ServiceNoStart = False,
    watchdog: f.ServiceWatchdog = WATCHDOG_S,
) -> None:
    """Install a systemd service that runs an edgecam command line from this venv, in this
    folder, as you (or the user behind sudo), started at boot and restarted when it fails
    or hangs (Type=notify with WatchdogSec=), its output in the journal.

    Example: sudo .venv/bin/edgecam service install --name gate -- live --source
    rtsp://cam/stream --serve 0.0.0.0:8080 --mqtt mqtt://broker/edgecam
    """
    from edgecam.service.install import hints, plan, token_note
    from edgecam.service.install import install as put_in_place

    command = list(args or [])
    unit = plan(command, name=name, per_user=user, watchdog_s=watchdog)
    _parse(ctx, command)
    note = token_note(command)
    if note:
        typer.echo(f"edgecam: {note}", err=True)
    if dry_run:
        typer.echo(unit.render(), nl=False)
        return
    done = put_in_place(unit, start=not no_start)
    status_hint, logs_hint = hints(unit.name, user)
    typer.echo(f"{'replaced' if done.replaced else 'wrote'} {done.path}: `{unit.describe()}` "
               f"as {unit.user} in {unit.workdir}, watchdog {unit.watchdog_s} s")
    typer.echo(f"enabled {unit.filename} (it starts at boot)"
               + (" and started it" if done.started else "")
               + f"; {status_hint} and {logs_hint} show how it runs")
    if not done.lingers:
        typer.echo(f"edgecam: a user service runs while {unit.user} is logged in; "
                   f"`sudo loginctl enable-linger {unit.user}` starts it at boot", err=True)


@group.command()
@user_errors
def status(name: f.ServiceName = "edgecam", user: f.ServiceUser = False) -> None:
    """Show whether the service runs, since when, its status line and its last lines."""
    from edgecam.service.install import status as show_status

    raise typer.Exit(show_status(name, user))


@group.command()
@user_errors
def logs(name: f.ServiceName = "edgecam", user: f.ServiceUser = False,
         follow: f.ServiceFollow = False, lines: f.ServiceLines = 50) -> None:
    """Print the service's journal (its output, restarts and watchdog kills)."""
    from edgecam.service.install import logs as show_logs

    raise typer.Exit(show_logs(name, user, lines, follow))


@group.command()
@user_errors
def uninstall(name: f.ServiceName = "edgecam", user: f.ServiceUser = False) -> None:
    """Stop and disable the service and remove its unit file."""
    from edgecam.service.install import uninstall as remove

    typer.echo(f"stopped, disabled and removed {remove(name, user)}")

def _parse(ctx: typer.Context, command: list[str]) -> None:
    """Parse the command line as edgecam will at boot, so a typo fails now, not in the
    journal. Typer may bundle its own click: its errors are known by their interface."""
    root = ctx.find_root()
    runner = root.command.get_command(root, command[0])  # type: ignore[attr-defined]
    line = f"the service's command line `edgecam {' '.join(command)}`"
    try:
        parsed = runner.make_context(command[0], list(command[1:]), parent=root)
    except Exception as exc:
        if not hasattr(exc, "format_message"):
            raise
        raise EdgecamError(f"{line}: {exc.format_message()}") from None
    if command[0] == "live":  # its values too: a line that fails at once restarts forever
        from edgecam.commands.live import LiveOptions, preflight
        from edgecam.commands.site import live_flags

        try:
            preflight(LiveOptions.of_flags(live_flags(parsed), echo=lambda _t: None))
        except EdgecamError as exc:
            raise EdgecamError(f"{line}: {exc}") from None
