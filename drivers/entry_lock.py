"""The cabin's entry lock: one channel of an LCUS USB relay board (9600 8N1), as a component."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from devices.instrument import DeviceHealth
from drivers import lcus
from drivers.serial_link import Backoff, Opener, Reconnector, SerialLink, SerialPortError, open_port
from runtime.errors import StationError

if TYPE_CHECKING:
    from config.schema import SerialDeviceConfig
    from runtime.clock import Clock

log = logging.getLogger(__name__)

DEVICE_ID = "entry_lock"
STOP_TIMEOUT_S = 2.0


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
        config: SerialDeviceConfig,
        clock: Clock,
        *,
        opener: Opener = open_port,
        backoff: Backoff | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        self._opener = opener
        self._backoff = backoff or Backoff(0.5, 10.0)
        self._engaged = False
        self._task: asyncio.Task[None] | None = None
        self._reconnector: Reconnector | None = None
        self._last_error: str | None = None

    @property
    def engaged(self) -> bool:
        """The requested state: True while the entry should be held shut."""
        return self._engaged

    @property
    def connected(self) -> bool:
        """True while the relay board's port is open."""
        return self._reconnector is not None and self._reconnector.link is not None

    async def start(self) -> None:
        """Open the board in the background (released); a missing port is retried and shown by health()."""
        if self._task is not None:
            return
        if not self.config.port:
            raise StationError("entry_lock.port: an lcus relay board needs a serial port")
        lcus.RelayCommand(self.config.channel, False)  # check the channel before any I/O
        self._reconnector = Reconnector(
            self.config.port, lcus.BAUDRATE, self._clock,
            backoff=self._backoff, opener=self._opener, on_down=self._down,
        )
        self._task = asyncio.create_task(self._reconnector.run(self._session), name="entry-lock")

    async def stop(self) -> None:
        """Release the door, close the port; idempotent and bounded."""
        task, self._task = self._task, None
        if task is None:
            return
        self._engaged = False
        try:
            await asyncio.wait_for(self._send(), self._clock.real_seconds(1.0))
        except (StationError, TimeoutError):
            pass  # unplugged or unpowered: the door is free anyway
        task.cancel()
        await asyncio.wait([task], timeout=self._clock.real_seconds(STOP_TIMEOUT_S))

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
        link = self._reconnector.link if self._reconnector else None
        if link is None or not link.is_open:
            state = "engaged" if self._engaged else "released"
            raise SerialPortError(
                f"entry lock on {self.config.port} is not connected; it will be {state} when it comes back"
            )
        await link.write(lcus.frame(self.config.channel, self._engaged))

    def _down(self, problem: str) -> None:
        self._last_error = problem

    async def _session(self, link: SerialLink) -> None:
        self._backoff.reset()
        await link.write(lcus.frame(self.config.channel, self._engaged))
        log.info("entry lock on %s open", link.path)
        while True:
            await link.read()  # most boards answer nothing; reading notices an unplug
