"""A stadiometer on a serial port, as an `Instrument` (docs/design.md, "The stadiometer").

The device is found by its locator (a port path or a USB identity) before every open
(drivers/serial_instrument.py, shared with the oximeter). The sensor prints ranges without being
asked (`drivers/stadiometer.py`); the driver turns each into a height, and gives a `Height` each
time the height holds still (`Settler`). A height below the lowest plausible one means nobody
stands under the sensor: the settler starts again. A request makes the next stable height a
reading even if the patient has not moved since the last one. A sensor that sends no valid line
for `silence_s` is declared disconnected; the port is closed and reopened with backoff, at once
when the device watcher sees it plugged in. Garbage on the line is skipped by the framer,
counted, and never ends a session.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from devices.instrument import Sink
from devices.measurements import Height
from devices.validation import MIN_HEIGHT_M
from drivers import stadiometer
from drivers.errors import ProtocolError
from drivers.serial_instrument import SerialInstrument
from drivers.serial_link import Opener, open_port
from runtime.backoff import Backoff

if TYPE_CHECKING:
    from config.devices import StadiometerDeviceConfig
    from drivers.discovery import Locator
    from drivers.framing import Framer
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


class SerialStadiometer(SerialInstrument):
    """A stadiometer or head-top range sensor printing R<mm> lines on a serial port."""

    config: StadiometerDeviceConfig
    garbage_warns: ClassVar[bool] = False

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
        t = timings or StadiometerTimings()
        super().__init__(config, clock, sink, what="stadiometer", log=log, locator=locator, baudrate=config.baudrate,
                         backoff=Backoff(t.reconnect_initial_s, t.reconnect_max_s), opener=opener)
        self._timings = t
        self._model = config.model or DEFAULT_MODEL
        self._settler = stadiometer.Settler(stadiometer.StableRule(hold_s=config.hold_s))

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
        self._open_link()
        self._settler.rearm()

    def _new_framer(self) -> Framer:
        return stadiometer.Framer()

    def _silence_limit_s(self) -> float:
        return self._timings.silence_s

    def _silent(self) -> str:
        return f"no valid line for {self._timings.silence_s:g} s"

    def _begin(self) -> None:
        self._settler.rearm()

    def _on_frame(self, line: bytes) -> None:
        try:
            range_mm = stadiometer.parse_line(line)
        except ProtocolError:
            self._note_garbage(len(line))
            return
        now = self._heard("reading")
        config = self.config
        height = stadiometer.height_mm(range_mm, config.mode, config.mount_height_mm)
        if height < NOBODY_MM:
            self._settler.rearm()
            return
        settled = self._settler.feed(now, height)
        if settled is not None:
            self._deliver(Height(device_id=self.device_id, model=self._model, host_time=self._clock.monotonic(),
                                 metres=settled / 1000))
