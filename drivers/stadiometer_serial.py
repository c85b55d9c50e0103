"""A stadiometer on a serial port, as an `Instrument` (docs/design.md, "The stadiometer").

The device is found by its locator (a port path or a USB identity) before every open. The
sensor prints ranges without being asked (`drivers/stadiometer.py`); the driver turns each into
a height, and gives a `Height` each time the height holds still (`Settler`). A height below the
lowest plausible one means nobody stands under the sensor: the settler starts again. A request
makes the next stable height a reading even if the patient has not moved since the last one.
A sensor that sends no valid line for `silence_s` is declared disconnected; the port is closed
and reopened with backoff, at once when the device watcher sees it plugged in. Garbage on the
line is skipped by the framer, counted, and never ends a session.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from devices.instrument import DeviceHealth, DeviceUnavailable, Instrument, Sink
from devices.measurements import Height
from devices.validation import MIN_HEIGHT_M
from drivers import stadiometer
from drivers.cms50_oximeter import LinkSilent
from drivers.discovery import Locator, WatchTarget
from drivers.errors import ProtocolError
from drivers.serial_link import Opener, Reconnector, SerialLink, open_port
from runtime.backoff import Backoff
from runtime.tasks import TaskSet

if TYPE_CHECKING:
    from config.devices import StadiometerDeviceConfig
    from runtime.clock import Clock

log = logging.getLogger(__name__)

DEFAULT_MODEL = "serial stadiometer (R<mm> lines)"
NOBODY_MM = round(MIN_HEIGHT_M * 1000)  # a height below this: nobody under the sensor


@dataclass(frozen=True, slots=True)
class StadiometerTimings:
    """Timers of the driver: reconnection in clock seconds, the rest in real seconds (the line's)."""

    silence_s: float = 2.0  # no valid line for this long: disconnected
    reconnect_initial_s: float = 0.5
    reconnect_max_s: float = 10.0
    first_attempt_s: float = 5.0  # start() waits this long for the first open to succeed or fail
    stop_timeout_s: float = 2.0


class SerialStadiometer(Instrument):
    """A stadiometer or head-top range sensor printing R<mm> lines on a serial port."""

    config: StadiometerDeviceConfig

    def __init__(
        self,
        config: StadiometerDeviceConfig,
        clock: Clock,
        sink: Sink,
        *,
        locator: Locator | None = None,
        timings: StadiometerTimings | None = None,
        opener: Opener = open_port,
    ) -> None:
        """`locator` finds the device (the device watcher's); by default its port, or its USB identity in /sys."""
        super().__init__(config, sink)
        self._clock = clock
        self._timings = t = timings or StadiometerTimings()
        self._model = config.model or DEFAULT_MODEL
        self._reconnector = Reconnector(
            locator or Locator(WatchTarget.from_config(config.id, config)), config.baudrate, clock,
            Backoff(t.reconnect_initial_s, t.reconnect_max_s), opener=opener, on_down=self._down,
        )
        self._tasks = TaskSet(f"stadiometer-{config.id}", log)
        self._connected = False
        self._last_error: str | None = None
        self._garbage_bytes = 0
        self._framer = stadiometer.Framer()
        self._settler = stadiometer.Settler(stadiometer.StableRule(hold_s=config.hold_s))
        self._last_wire = 0.0  # time.monotonic() of the last valid line, for the silence watchdog

    @property
    def garbage_bytes(self) -> int:
        """Bytes skipped to resynchronise since construction."""
        return self._garbage_bytes

    async def start(self) -> None:
        """Keep the sensor open in the background; an absent one is retried and shown by health()."""
        await self._reconnector.start(self._session, self._timings.first_attempt_s)

    async def stop(self) -> None:
        """Close the port; idempotent and bounded."""
        await self._reconnector.stop(self._timings.stop_timeout_s)
        self._connected = False
        self._settler.rearm()  # nothing of this patient's stance is kept for the next

    async def request_measurement(self) -> None:
        """Give the next stable height as a reading, even if the patient stood still since the last one."""
        link = self._reconnector.link
        if link is None or not link.is_open:
            raise DeviceUnavailable(self._last_error or "not started")
        self._settler.rearm()

    def device_changed(self, path: str | None) -> None:
        """Plugged in: try now rather than at the end of the backoff; an unplug shows on the port itself."""
        if path is not None:
            self._reconnector.wake()

    def health(self) -> DeviceHealth:
        """Connected (valid lines arriving), last reading and last error."""
        return DeviceHealth(
            device_id=self.device_id,
            kind=self.config.kind,
            connected=self._connected,
            last_reading_host_time=self._last_reading_host_time,
            last_error=self._last_error,
        )

    def _down(self, problem: str) -> None:
        if self._connected:
            log.warning("stadiometer %s disconnected: %s", self.device_id, problem)
        self._connected = False
        self._last_error = problem

    async def _session(self, link: SerialLink) -> None:
        """One connection: parse what arrives, watch for failure or silence."""
        self._framer = stadiometer.Framer()
        self._settler.rearm()
        self._last_wire = time.monotonic()
        link.receive(self._on_bytes)
        try:
            silence = self._timings.silence_s
            while True:
                remaining = self._last_wire + silence - time.monotonic()
                if remaining <= 0:
                    raise LinkSilent(f"no valid line for {silence:g} s")
                await link.watch(remaining)
        finally:
            link.receive(None)

    def _on_bytes(self, chunk: bytes) -> None:
        before = self._framer.discarded
        for line in self._framer.feed(chunk):
            self._on_line(line)
        self._note_garbage(self._framer.discarded - before)

    def _note_garbage(self, count: int) -> None:
        if not count:
            return
        self._garbage_bytes += count
        self._last_error = f"garbage on the line ({self._garbage_bytes} bytes skipped)"
        log.debug("stadiometer %s: garbage on the line, %s bytes skipped", self.device_id, count)

    def _on_line(self, line: bytes) -> None:
        try:
            range_mm = stadiometer.parse_line(line)
        except ProtocolError:
            self._note_garbage(len(line))
            return
        now = time.monotonic()
        self._last_wire = now
        if not self._connected:
            self._connected = True
            self._reconnector.mark_healthy()
            log.info("stadiometer %s reading", self.device_id)
        config = self.config
        height = stadiometer.height_mm(range_mm, config.mode, config.mount_height_mm)
        if height < NOBODY_MM:
            self._settler.rearm()
            return
        settled = self._settler.feed(now, height)
        if settled is not None:
            self._deliver(Height(device_id=self.device_id, model=self._model, host_time=self._clock.monotonic(),
                                 metres=settled / 1000))
