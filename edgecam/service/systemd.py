"""The running systemd, through its own commands (``systemctl``, ``journalctl``): whether there
is one, where its unit files go, and the calls that load, enable, start and stop a unit. Kept
apart from the unit's text and file, which need no systemd at all."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from edgecam.util.errors import EdgecamError

SYSTEM_UNITS = Path("/etc/systemd/system")
BOOTED = Path("/run/systemd/system")  # what sd_booted(3) checks: systemd is PID 1
LINGER = Path("/var/lib/systemd/linger")


def unit_dir(per_user: bool, environ: Mapping[str, str] = os.environ) -> Path:
    """Where the administrator's system units go, or this user's own units."""
    if not per_user:
        return SYSTEM_UNITS
    config = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "systemd" / "user"


def check_running(hint: str = "") -> None:
    """One line, when no systemd manages this system (no ``systemctl``, or PID 1 is another
    init, as in most containers): nothing would start a service here."""
    if shutil.which("systemctl") is None:
        raise EdgecamError("systemctl not found: this system does not run systemd, so it has no "
                           f"boot services{hint}")
    if not BOOTED.is_dir():
        raise EdgecamError(f"systemd is not running here (PID 1 is {_init_name()}, not systemd: "
                           f"a container?), so there are no boot services{hint}")


def _init_name() -> str:
    try:
        return Path("/proc/1/comm").read_text().strip() or "unknown"
    except OSError:
        return "unknown"


def systemctl(*args: str, per_user: bool = False, check: bool = True) -> str:
    """Run ``systemctl [--user] ARGS``; its output, or an error naming what failed."""
    command = ["systemctl", *(["--user"] if per_user else []), *args]
    proc = subprocess.run(command, capture_output=True, text=True)
    if check and proc.returncode != 0:
        said = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        raise EdgecamError(f"`{' '.join(command)}` failed: "
                           f"{said[-1] if said else f'exit {proc.returncode}'}")
    return proc.stdout


def run_shown(command: list[str]) -> int:
    """Run a command whose output is for the user (status, the journal); its exit code."""
    try:
        return subprocess.run(command).returncode
    except KeyboardInterrupt:  # Ctrl-C ends `logs --follow`: the way out, not an error
        return 0


def status_command(filename: str, per_user: bool) -> list[str]:
    return ["systemctl", *(["--user"] if per_user else []), "status", "--no-pager", "--full",
            filename]


def journal_command(filename: str, per_user: bool, lines: int, follow: bool) -> list[str]:
    return ["journalctl", *(["--user"] if per_user else []), "--unit", filename, "--no-pager",
            "--lines", str(lines), *(["--follow"] if follow else [])]


def known_elsewhere(filename: str, per_user: bool) -> str:
    """The file of a unit of that name systemd already has (empty when none)."""
    return systemctl("show", "--property=FragmentPath", "--value", filename,
                     per_user=per_user, check=False).strip()


def lingers(user: str) -> bool:
    """Whether the user's own manager runs from boot without a login (loginctl enable-linger)."""
    return (LINGER / user).exists()
