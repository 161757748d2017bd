"""The text of a systemd unit that runs one edgecam command line, every value written so that
systemd reads back exactly what was meant.

systemd has its own rules (systemd.service(5) "Command lines", systemd.unit(5) "Specifiers"):
``%`` starts a specifier everywhere (``%%`` is a percent sign), ``$`` starts a variable in
command-line arguments (``$$`` is a dollar sign), a word is split at whitespace unless quoted,
and inside double quotes C escapes (``\\\\``, ``\\"``, ``\\n``, ``\\xNN``) are decoded. The
executable is stricter: no variables, and no quotes or backslashes at all.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field

from edgecam import __version__
from edgecam.util.errors import EdgecamError

MARK = "# Written by `edgecam service install`"  # what uninstall looks for before removing
LONG_RUNNING = ("live",)  # commands that run until stopped: what a service can run
WATCHDOG_S = 30
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")
BARE = frozenset(string.ascii_letters + string.digits + "-_./:=,+@%$")  # written unquoted
ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}
UNSAFE_EXE = re.compile(r"[\x00-\x1f\x7f\"'\\]")  # systemd refuses these in an executable


def quote(word: str, *, variables: bool = True) -> str:
    """``word`` as one word systemd reads back unchanged: ``%`` doubled, ``$`` doubled where
    variables are expanded (command-line arguments, not ``Environment=``), and anything but
    plain characters in double quotes with C escapes."""
    text = word.replace("%", "%%")
    if variables:
        text = text.replace("$", "$$")
    if word and set(word) <= BARE:
        return text
    escaped = "".join(ESCAPES.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 32 or ord(ch) == 127
                                          else ch) for ch in text)
    return f'"{escaped}"'


def executable(path: str) -> str:
    """The program's path as ExecStart's first word: specifiers escaped, never variables (the
    executable is taken literally), quoted when it has spaces."""
    if UNSAFE_EXE.search(path):
        raise EdgecamError(f"systemd refuses an executable path with quotes, backslashes or "
                           f"control characters: {path!r}; use a venv whose path has none")
    text = path.replace("%", "%%")
    return f'"{text}"' if any(ch.isspace() for ch in text) else text


def plain_path(path: str, what: str) -> str:
    """A path written as it is (``WorkingDirectory=`` takes no quotes), specifiers escaped."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in path) or path != path.strip():
        raise EdgecamError(f"{what} {path!r} has control characters or spaces at an end, which "
                           "a unit file cannot hold; run this from another folder")
    return path.replace("%", "%%")


def unit_name(name: str) -> str:
    """``name`` without a ``.service`` ending, checked: it becomes NAME.service."""
    base = name.removesuffix(".service")
    if not NAME.fullmatch(base) or len(base) > 200:
        raise EdgecamError(f"--name takes letters, digits and - _ . : (the unit becomes "
                           f"NAME.service), got {name!r}")
    return base


def check_command(command: list[str]) -> None:
    """What a service runs must keep running: ``live`` (a command that ends would be started at
    every boot for nothing, or restarted in a loop when it fails)."""
    example = "edgecam service install -- live --source 0 --serve 0.0.0.0:8080"
    if not command:
        raise EdgecamError(f"give the edgecam command line the service runs after --, e.g. "
                           f"{example}")
    if command[0] not in LONG_RUNNING:
        raise EdgecamError(f"a service runs a command that keeps running ({', '.join(LONG_RUNNING)}"
                           f"), not {command[0]!r}: e.g. {example}")
    if "--help" in command:
        raise EdgecamError(f"--help in the service's command line; see `edgecam {command[0]} "
                           "--help` instead")
    for word in command:
        try:
            word.encode()
        except UnicodeEncodeError:
            raise EdgecamError(f"{word!r} is not valid UTF-8, which a unit file must be") from None


def service_options(name: str, per_user: bool) -> str:
    """The options that name this service on the ``edgecam service`` commands."""
    return ("" if name == "edgecam" else f" --name {name}") + (" --user" if per_user else "")


@dataclass
class ServiceUnit:
    """One service: ``command`` is edgecam's own arguments (``["live", "--source", "0"]``),
    run by ``python -m edgecam`` from ``python`` (this venv's interpreter, never resolved
    through its link: that would leave the venv) in ``workdir``, as ``user``: a system unit
    says so with ``User=``; a ``per_user`` unit runs under that user's own manager."""

    name: str
    command: list[str]
    python: str
    workdir: str
    user: str
    per_user: bool = False
    watchdog_s: int = WATCHDOG_S
    environment: dict[str, str] = field(default_factory=dict)

    @property
    def filename(self) -> str:
        return f"{self.name}.service"

    def exec_start(self) -> str:
        return " ".join([executable(self.python), "-m", "edgecam",
                         *(quote(word) for word in self.command)])

    def describe(self) -> str:
        """The command line as a person reads it, on one line, without the passwords of stream
        addresses (``rtsp://user:pass@cam``): ``systemctl status`` shows it to every user."""
        text = re.sub(r"[\x00-\x1f\x7f]", " ", " ".join(["edgecam", *self.command]))
        return re.sub(r"//[^/@\s]*@", "//", text)

    def render(self) -> str:
        """The unit file: each choice has a comment, for whoever reads it with `systemctl cat`."""
        network = [] if self.per_user else [
            "After=network-online.target", "Wants=network-online.target"]
        description = self.describe()
        if len(description) > 200:
            description = description[:197] + "..."
        env = [f"Environment={quote(f'{k}={v}', variables=False)}"
               for k, v in {"PYTHONUNBUFFERED": "1", **self.environment}.items()]
        lines = [
            f"{MARK} (edgecam {__version__}); `edgecam service uninstall"
            f"{service_options(self.name, self.per_user)}` removes it.",
            "[Unit]",
            f"Description={description.replace('%', '%%')}",
            *network,
            "# keep restarting however long the camera or the network is gone",
            "StartLimitIntervalSec=0",
            "",
            "[Service]",
            "# READY=1 after the first result, then WATCHDOG=1 while frames arrive (or a",
            "# reconnecting camera's attempts end): silent for WatchdogSec, it is killed",
            "# (SIGABRT: every thread's stack goes to the journal) and restarted",
            "Type=notify",
            "NotifyAccess=main",
            f"WatchdogSec={self.watchdog_s}",
            f"ExecStart={self.exec_start()}",
            f"WorkingDirectory={plain_path(self.workdir, 'the working directory')}",
            *([] if self.per_user else [f"User={self.user}"]),
            *env,
            "Restart=on-failure",
            "RestartSec=5",
            "# a first start may build a TensorRT engine or export a profile's models",
            "TimeoutStartSec=10min",
            "# 143: stopped by SIGTERM, cleanly; 2: a command line this edgecam no longer takes",
            "SuccessExitStatus=143",
            "RestartPreventExitStatus=2",
            "# the journal has the stacks of a hang: no core files filling the card",
            "LimitCORE=0",
            "StandardOutput=journal",
            "StandardError=journal",
            f"SyslogIdentifier={self.name}",
            "",
            "[Install]",
            f"WantedBy={'default.target' if self.per_user else 'multi-user.target'}",
        ]
        return "\n".join(lines) + "\n"


def is_ours(text: str) -> bool:
    """Whether a unit file's text was written by ``edgecam service install``."""
    return text.startswith(MARK)
