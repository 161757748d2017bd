"""The service manager's notification protocol (sd_notify(3)), in the standard library.

A service started by systemd with ``Type=notify`` finds a datagram socket's address in
``$NOTIFY_SOCKET`` (a path, or an abstract name written with a leading ``@``) and sends it
newline-separated ``KEY=VALUE`` fields: ``READY=1`` once it works, ``WATCHDOG=1`` as a
keep-alive when ``WatchdogSec=`` is set, ``STATUS=...`` for ``systemctl status``,
``STOPPING=1`` when it shuts down. The protocol is one ``sendto``; the PyPI packages for it
(``sdnotify``, ``systemd-python``) add nothing this needs, and the latter a C build.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    """Sends fields to one notification socket; a failed send is logged once, never raised
    (the service goes on working when its manager stops listening)."""

    def __init__(self, address: str) -> None:
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._failed = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Notifier | None:
        """The manager that started this process, None when there is none (or it listens on
        a transport other than a Unix socket, e.g. ``vsock:``)."""
        address = environ.get("NOTIFY_SOCKET", "")
        if not address.startswith(("/", "@")) or len(address) < 2:
            return None
        return cls(address)

    def send(self, *fields: str) -> bool:
        """One datagram of ``fields`` (``"READY=1"``, ``"STATUS=..."``); True when sent."""
        try:
            self.sock.sendto("\n".join(fields).encode(), self.address)
        except OSError as exc:
            if not self._failed:
                log.warning("cannot notify the service manager at %s: %s",
                            self.address.replace("\0", "@"), exc.strerror or exc)
            self._failed = True
            return False
        return True

    def close(self) -> None:
        self.sock.close()


def watchdog_seconds(environ: Mapping[str, str] = os.environ, pid: int | None = None
                     ) -> float | None:
    """The watchdog timeout the manager expects keep-alives within, as sd_watchdog_enabled(3)
    reads it: ``$WATCHDOG_USEC`` (a positive number of microseconds), for this process unless
    ``$WATCHDOG_PID`` names another one. None: no watchdog."""
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    owner = environ.get("WATCHDOG_PID")
    if owner is not None:
        try:
            if int(owner) != (os.getpid() if pid is None else pid):
                return None
        except ValueError:
            return None
    return usec / 1e6
