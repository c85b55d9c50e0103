"""systemd's notify protocol (sd_notify), spoken from the event loop, without a library.

Under `Type=notify` systemd passes `NOTIFY_SOCKET` (a datagram socket, possibly in the
abstract namespace when it starts with "@") and, with `WatchdogSec=`, `WATCHDOG_USEC`. The
station sends `READY=1` once started, `STATUS=...` lines for `systemctl status`, and
`WATCHDOG=1` every half period from a task on the event loop: a loop blocked for longer than
the watchdog period sends nothing, and systemd restarts the station (`Restart=on-failure`).
Outside systemd (no `NOTIFY_SOCKET`) every call does nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class SystemdNotifier:
    """Tells systemd the station is ready, what it is doing, and that its event loop is alive."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        self._address = "\0" + address[1:] if address.startswith("@") else address
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        mine = not pid or pid == str(os.getpid())
        self.watchdog_s = int(usec) / 1e6 if usec.isdigit() and int(usec) > 0 and mine else None
        self._socket: socket.socket | None = None
        self._pinger: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        """True when systemd listens (the station runs as a Type=notify service)."""
        return bool(self._address)

    async def start(self) -> None:
        """Open the socket and start the watchdog pings when systemd asked for them; idempotent."""
        if not self.enabled or self._socket is not None:
            return
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._socket.setblocking(False)
        if self.watchdog_s is not None:
            self._pinger = asyncio.get_running_loop().create_task(self._ping(self.watchdog_s / 2), name="watchdog")

    async def stop(self) -> None:
        """Say the station is stopping and close the socket; idempotent."""
        pinger, self._pinger = self._pinger, None
        if pinger is not None:
            pinger.cancel()
            await asyncio.wait([pinger])
        if self._socket is not None:
            self.send("STOPPING=1")
            self._socket.close()
            self._socket = None

    def ready(self, status: str) -> None:
        """The station has started: systemd considers the unit active from now on."""
        self.send(f"READY=1\nSTATUS={status}")

    def status(self, status: str) -> None:
        """A one-line status that `systemctl status` shows."""
        self.send(f"STATUS={status}")

    def send(self, message: str) -> None:
        """Send one notification; a failure is logged, never raised (systemd may be restarting)."""
        if self._socket is None:
            return
        try:
            self._socket.sendto(message.encode(), self._address)
        except OSError as exc:
            log.warning("systemd notification %r not sent: %s", message.split("\n", 1)[0], exc)

    async def _ping(self, every_s: float) -> None:
        while True:
            self.send("WATCHDOG=1")
            await asyncio.sleep(every_s)
