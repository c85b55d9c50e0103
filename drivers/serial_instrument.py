"""What every instrument on a reconnecting serial port shares (the CMS50 oximeter, the stadiometer).

The device is found by its locator (a port path or a USB identity) before every open; the
`Reconnector` opens it, runs one session, and after a failure retries with backoff, at once when
the device watcher sees it plugged in. A session hands the bytes straight from the port to the
driver's framer; each complete frame goes to `_on_frame`, garbage is skipped, counted and never
ends a session. A device that sends no valid frame for its silence limit is declared disconnected.
"""

from __future__ import annotations

import logging
import time
from abc import abstractmethod
from typing import TYPE_CHECKING, ClassVar, TypeAlias

from devices.instrument import DeviceHealth, DeviceUnavailable, Instrument, Sink
from drivers.discovery import Locator, WatchTarget
from drivers.framing import Framer
from drivers.serial_link import LinkSilent, Opener, Reconnector, SerialLink
from runtime.backoff import Backoff

if TYPE_CHECKING:
    from config.devices import Cms50DeviceConfig, StadiometerDeviceConfig
    from runtime.clock import Clock

SerialConfig: TypeAlias = "Cms50DeviceConfig | StadiometerDeviceConfig"


class SerialInstrument(Instrument):
    """An instrument kept open on a serial port: health, garbage counting and the silence watchdog."""

    config: SerialConfig
    garbage_warns: ClassVar[bool] = True  # the first garbage of a session is logged as a warning

    def __init__(self, config: SerialConfig, clock: Clock, sink: Sink, *, what: str, log: logging.Logger,
                 locator: Locator | None, baudrate: int, backoff: Backoff, opener: Opener) -> None:
        """`what` names the device in `log`'s lines ("oximeter"); `locator` by default its port or USB identity."""
        super().__init__(config, sink)
        self._clock = clock
        self._what = what
        self._log = log
        self._reconnector = Reconnector(
            locator or Locator(WatchTarget.from_config(config.id, config)), baudrate, clock, backoff,
            opener=opener, on_down=self._down,
        )
        self._connected = False
        self._last_error: str | None = None
        self._garbage_bytes = 0
        self._session_garbage = 0
        self._framer = self._new_framer()
        self._last_wire = 0.0  # time.monotonic() of the last valid frame, for the silence watchdog

    @property
    def garbage_bytes(self) -> int:
        """Bytes skipped to resynchronise since construction."""
        return self._garbage_bytes

    def device_changed(self, path: str | None) -> None:
        """Plugged in: try now rather than at the end of the backoff; an unplug shows on the port itself."""
        if path is not None:
            self._reconnector.wake()

    def health(self) -> DeviceHealth:
        """Connected (valid frames arriving), last reading and last error."""
        return DeviceHealth(
            device_id=self.device_id,
            kind=self.config.kind,
            connected=self._connected,
            last_reading_host_time=self._last_reading_host_time,
            last_error=self._last_error,
        )

    @abstractmethod
    def _new_framer(self) -> Framer:
        """A fresh framer, for each session."""

    @abstractmethod
    def _on_frame(self, frame: bytes) -> None:
        """One complete frame from the device."""

    @abstractmethod
    def _silence_limit_s(self) -> float:
        """The real seconds without a valid frame that make the device silent."""

    @abstractmethod
    def _silent(self) -> str:
        """Why the device is declared silent, for health() and the log."""

    def _begin(self) -> None:
        """Forget the last session's partial state, before the first byte of a new one."""

    async def _converse(self, link: SerialLink) -> None:
        """The session's own traffic; by default only wait for failure or silence."""
        await self._watch(link)

    def _end(self) -> None:
        """The session is over: drop what must not outlive it."""

    def _open_link(self) -> SerialLink:
        """The link of the session in progress; DeviceUnavailable saying why when there is none."""
        link = self._reconnector.link
        if link is None or not link.is_open:
            raise DeviceUnavailable(self._last_error or "not started")
        return link

    def _down(self, problem: str) -> None:
        if self._connected:
            self._log.warning("%s %s disconnected: %s", self._what, self.device_id, problem)
        self._connected = False
        self._last_error = problem

    async def _session(self, link: SerialLink) -> None:
        """One connection: parse in the transport's read callback (no task hop per frame), converse, end."""
        self._framer = self._new_framer()
        self._session_garbage = 0
        self._begin()
        self._last_wire = time.monotonic()
        link.receive(self._on_bytes)
        try:
            await self._converse(link)
        finally:
            link.receive(None)
            self._end()

    async def _watch(self, link: SerialLink) -> None:
        """Return never: raise when the port fails or no valid frame came for the silence limit."""
        limit = self._silence_limit_s()
        while True:
            remaining = self._last_wire + limit - time.monotonic()
            if remaining <= 0:
                raise LinkSilent(self._silent())
            await link.watch(remaining)

    def _heard(self, verb: str) -> float:
        """A valid frame came (`verb`: what the device is doing, for the first one); its time.monotonic()."""
        self._last_wire = now = time.monotonic()
        if not self._connected:
            self._connected = True
            self._reconnector.mark_healthy()
            self._log.info("%s %s %s", self._what, self.device_id, verb)
        return now

    def _on_bytes(self, chunk: bytes) -> None:
        before = self._framer.discarded
        for frame in self._framer.feed(chunk):
            self._on_frame(frame)
        self._note_garbage(self._framer.discarded - before)

    def _note_garbage(self, count: int) -> None:
        """Count `count` skipped bytes; the session's first are a warning if `garbage_warns`."""
        if not count:
            return
        first = not self._session_garbage
        self._garbage_bytes += count
        self._session_garbage += count
        self._last_error = f"garbage on the line ({self._garbage_bytes} bytes skipped)"
        level = logging.WARNING if first and self.garbage_warns else logging.DEBUG
        self._log.log(level, "%s %s: garbage on the line, %s bytes skipped", self._what, self.device_id, count)
