"""The cabin's entry lock: one channel of an LCUS USB relay board (9600 8N1), as a component.

The board is found by its locator (a port path or a USB identity) before every open, and
reopened after the shared `Backoff`, at once when the device watcher sees it plugged in.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from config.devices import ACCESSORY_IDS
from devices.instrument import DeviceHealth
from drivers import lcus
from drivers.discovery import Locator, WatchTarget
from drivers.serial_link import Opener, Reconnector, SerialLink, SerialPortError, open_port
from runtime.backoff import Backoff
from runtime.errors import StationError

if TYPE_CHECKING:
    from config.devices import LcusConfig
    from runtime.clock import Clock

log = logging.getLogger(__name__)

DEVICE_ID = ACCESSORY_IDS[1]
# Real seconds, whatever the clock's speed: they bound I/O.
RELEASE_TIMEOUT_S = 1.0  # the last "release" sent at stop
STOP_TIMEOUT_S = 2.0
FIRST_ATTEMPT_S = 2.0  # real seconds start() waits for the first open to succeed or fail


class EntryLock:
    """Holds the cabin's entry door shut while the cabin awaits cleaning.

    Fail-safe by design: the relay only ever holds the ENTRY door, never the way out (the
    exit always opens from inside, mechanically); the strike is wired power-to-lock, so when
    the station is down, the board is unplugged or the relay is unpowered, the door is free.
    `stop()` releases it. The lock is a convenience for the lockout, not its safeguard: the
    durable cleaning mark keeps the cabin from accepting a patient whatever the door does.
    After a reconnection the last requested state is sent again (a board that lost power
    comes back released).
    """

    def __init__(
        self,
        config: LcusConfig,
        clock: Clock,
        *,
        locator: Locator | None = None,
        opener: Opener = open_port,
        backoff: Backoff | None = None,
    ) -> None:
        """`locator` finds the board (the device watcher's); by default its port, or its USB identity in /sys."""
        self.config = config
        self._clock = clock
        self._reconnector = Reconnector(
            locator or Locator(WatchTarget.from_config(DEVICE_ID, config)), lcus.BAUDRATE, clock,
            backoff or Backoff(0.5, 10.0), opener=opener, on_down=self._down,
        )
        self._engaged = False
        self._last_error: str | None = None

    @property
    def engaged(self) -> bool:
        """The requested state: True while the entry should be held shut."""
        return self._engaged

    @property
    def connected(self) -> bool:
        """True while the relay board's port is open."""
        return self._reconnector.link is not None

    async def start(self) -> None:
        """Open the board in the background (released); an absent board is retried and shown by health()."""
        await self._reconnector.start(self._session, FIRST_ATTEMPT_S)

    async def stop(self) -> None:
        """Release the door, close the port; idempotent and bounded."""
        if not self._reconnector.running:
            return
        self._engaged = False
        try:
            await asyncio.wait_for(self._send(), RELEASE_TIMEOUT_S)
        except (StationError, TimeoutError):
            pass  # unplugged or unpowered: the door is free anyway
        await self._reconnector.stop(STOP_TIMEOUT_S)

    def device_changed(self, path: str | None) -> None:
        """Plugged in: open it now (and send the requested state) rather than at the end of the backoff."""
        if path is not None:
            self._reconnector.wake()

    async def engage(self) -> None:
        """Hold the entry door shut; SerialPortError when the board is not connected now."""
        self._engaged = True
        await self._send()
        log.info("entry lock engaged")

    async def release(self) -> None:
        """Free the entry door; SerialPortError when the board is not connected now."""
        self._engaged = False
        await self._send()
        log.info("entry lock released")

    def health(self) -> DeviceHealth:
        """Port open and last error."""
        return DeviceHealth(device_id=DEVICE_ID, kind="entry_lock", connected=self.connected,
                            last_error=self._last_error)

    async def _send(self) -> None:
        link = self._reconnector.link
        if link is None or not link.is_open:
            state = "engaged" if self._engaged else "released"
            where = self._reconnector.locator.target.describe()
            raise SerialPortError(f"entry lock on {where} is not connected; it will be {state} when it comes back")
        await link.write(lcus.frame(self.config.channel, self._engaged))

    def _down(self, problem: str) -> None:
        self._last_error = problem

    async def _session(self, link: SerialLink) -> None:
        self._reconnector.mark_healthy()
        await link.write(lcus.frame(self.config.channel, self._engaged))
        log.info("entry lock on %s open", link.path)
        while True:
            await link.read()  # most boards answer nothing; reading notices an unplug
