"""Install, inspect and remove an edgecam service: the unit planned from this invocation (who
runs it, from which venv and folder), its file written or removed (no systemd needed), then
the systemctl calls that load, enable and start or stop it."""

from __future__ import annotations

import os
import pwd
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from edgecam.service import systemd
from edgecam.service.unit import (
    WATCHDOG_S,
    ServiceUnit,
    check_command,
    is_ours,
    service_options,
    unit_name,
)
from edgecam.util.errors import EdgecamError
from edgecam.util.safewrite import shown, write_whole

# settings a command line may rely on, carried into the unit (EDGECAM_SERVE_TOKEN is not: unit
# files and `systemctl show` are readable by every user)
CARRIED = ("EDGECAM_MODELS", "EDGECAM_PROFILES", "EDGECAM_OFFLINE", "EDGECAM_TRT_CACHE")
NO_SYSTEMD_HINT = " (`edgecam service install --dry-run -- ...` prints the unit anyway)"


def invoking_user(environ: Mapping[str, str] = os.environ) -> str:
    """Whom the service runs as: the user behind ``sudo``, else whoever runs this."""
    behind = environ.get("SUDO_USER", "")
    if os.geteuid() == 0 and behind and behind != "root":
        return behind
    return pwd.getpwuid(os.geteuid()).pw_name


def plan(command: list[str], *, name: str = "edgecam", per_user: bool = False,
         watchdog_s: int = WATCHDOG_S, environ: Mapping[str, str] = os.environ,
         python: str = sys.executable, workdir: str | None = None) -> ServiceUnit:
    """The unit that runs ``edgecam COMMAND`` as it would run here and now: this venv's
    interpreter, this folder (relative paths in the command keep working), this user."""
    check_command(command)
    if per_user and os.geteuid() == 0 and environ.get("SUDO_USER"):
        raise EdgecamError("--user installs a service of the user who runs it: run it without "
                           "sudo")
    if watchdog_s < 1:
        raise EdgecamError(f"--watchdog is in whole seconds, at least 1, got {watchdog_s}")
    return ServiceUnit(unit_name(name), list(command), os.path.abspath(python),
                       workdir or os.getcwd(), invoking_user(environ), per_user, watchdog_s,
                       {k: environ[k] for k in CARRIED if environ.get(k)})


def token_note(command: list[str], environ: Mapping[str, str] = os.environ) -> str | None:
    """A warning when the preview's token comes from the environment, which the unit leaves
    out: the service would serve without it (or refuse to start)."""
    if (environ.get("EDGECAM_SERVE_TOKEN") and any(w.startswith("--serve") for w in command)
            and not any(w.startswith("--serve-token") for w in command)):
        return ("EDGECAM_SERVE_TOKEN is not copied into the unit (every user can read unit "
                "files): add --serve-token-file FILE to the command line")
    return None


# --- the unit file: no systemd needed ---------------------------------------------------------


def write_unit(folder: Path, unit: ServiceUnit) -> tuple[Path, bool]:
    """``folder/NAME.service`` written whole; (its path, whether it replaced one). A file of
    that name that edgecam did not write is never replaced."""
    path = folder / unit.filename
    replaced = path.exists()
    if replaced and not is_ours(_read(path)):
        raise EdgecamError(f"{shown(path)} exists and was not written by edgecam; choose "
                           "another --name")
    write_whole(path, unit.render())
    return path, replaced


def remove_unit(folder: Path, name: str) -> Path:
    """Delete ``folder/NAME.service``, only when edgecam wrote it."""
    path = folder / f"{unit_name(name)}.service"
    if not is_ours(_read(path)):
        raise EdgecamError(f"{shown(path)} was not written by `edgecam service install`: "
                           "not removing it")
    try:
        path.unlink()
    except OSError as exc:
        raise EdgecamError(f"cannot remove {shown(path)}: {exc.strerror or exc}") from None
    return path


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError as exc:
        raise EdgecamError(f"cannot read {shown(path)}: {exc.strerror or exc}") from None


# --- the running systemd ----------------------------------------------------------------------


@dataclass
class Installed:
    path: Path
    replaced: bool
    started: bool
    lingers: bool  # a user unit's manager runs from boot (always True for system units)


def install(unit: ServiceUnit, start: bool = True) -> Installed:
    """Write the unit, load it, enable it at boot and (re)start it unless ``start`` is False.
    With ``Type=notify`` the start returns once the run has sent READY=1, or fails."""
    systemd.check_running(NO_SYSTEMD_HINT)
    _check_root(unit.per_user, "installing")
    folder = systemd.unit_dir(unit.per_user)
    if not (folder / unit.filename).exists():
        other = systemd.known_elsewhere(unit.filename, unit.per_user)
        if other:
            raise EdgecamError(f"systemd already has a unit {unit.filename} ({other}); choose "
                               "another --name")
    path, replaced = write_unit(folder, unit)
    systemd.systemctl("daemon-reload", per_user=unit.per_user)
    systemd.systemctl("enable", unit.filename, per_user=unit.per_user)
    if start:
        try:
            systemd.systemctl("restart", unit.filename, per_user=unit.per_user)
        except EdgecamError as exc:
            raise EdgecamError(f"{unit.filename} is installed and enabled but did not start "
                               f"({exc}); {hints(unit.name, unit.per_user)[1]} says why") from None
    return Installed(path, replaced, start,
                     lingers=not unit.per_user or systemd.lingers(unit.user))


def uninstall(name: str, per_user: bool = False) -> Path:
    """Stop and disable the service, remove its unit file and let systemd forget it."""
    systemd.check_running()
    filename = _existing(name, per_user)
    _check_root(per_user, "removing")
    systemd.systemctl("disable", "--now", filename, per_user=per_user)
    path = remove_unit(systemd.unit_dir(per_user), name)
    systemd.systemctl("daemon-reload", per_user=per_user)
    systemd.systemctl("reset-failed", filename, per_user=per_user, check=False)
    return path


def status(name: str, per_user: bool = False) -> int:
    """``systemctl status``: running or not, since when, the status line, the last log lines."""
    systemd.check_running()
    return systemd.run_shown(systemd.status_command(_existing(name, per_user), per_user))


def logs(name: str, per_user: bool = False, lines: int = 50, follow: bool = False) -> int:
    """The service's journal: its last ``lines`` lines, then new ones with ``follow``."""
    systemd.check_running()
    return systemd.run_shown(systemd.journal_command(f"{unit_name(name)}.service", per_user,
                                                     lines, follow))


def hints(name: str, per_user: bool) -> tuple[str, str]:
    """The status and logs commands for this service, as the user types them."""
    options = service_options(name, per_user)
    return f"`edgecam service status{options}`", f"`edgecam service logs{options}`"


def _existing(name: str, per_user: bool) -> str:
    """NAME.service, when edgecam's unit file of that name is there (else which scope has it)."""
    filename = f"{unit_name(name)}.service"
    if (systemd.unit_dir(per_user) / filename).exists():
        return filename
    other = (systemd.unit_dir(not per_user) / filename).exists()
    scope = " (it is a user service: add --user)" if other and not per_user else (
        " (it is a system service: leave out --user)" if other else "")
    raise EdgecamError(f"no edgecam service {name}: {systemd.unit_dir(per_user) / filename} "
                       f"does not exist{scope}")


def _check_root(per_user: bool, doing: str) -> None:
    if not per_user and os.geteuid() != 0:
        raise EdgecamError(f"{doing} a system service needs root: run it with sudo, or add "
                           "--user for a service of your own")
