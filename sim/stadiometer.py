"""A stadiometer on a pseudo-terminal: R<mm> lines at the sensor's rate, a patient stepping in and out.

It prints what the real sensor prints (`drivers/stadiometer.py`): in mode "distance" the range
from its mount down to the head (to the floor with nobody there), in mode "height" the height
itself. A patient stepping in moves the headpiece: the reading swings towards their height and
settles there with the sensor's millimetre jitter. Faults are the pty's (`PtyDevice`): unplug,
stall, garbage on the line.
"""

from __future__ import annotations

import random
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Literal

from drivers import stadiometer
from sim.serial_devices import PtyDevice

if TYPE_CHECKING:
    from runtime.clock import Clock

RATE_HZ = 6.0  # lines a second, about what MaxBotix's HRXL sensors print
SETTLE_S = 1.5  # a patient stepping in moves the headpiece this long
JITTER_MM = 2  # once still, a reading is within this of the true height


class SimStadiometer(PtyDevice):
    """A head-top range sensor (or a measuring rod) printing a line every 1/RATE_HZ clock seconds."""

    def __init__(
        self,
        clock: Clock,
        *,
        mode: Literal["height", "distance"] = "distance",
        mount_height_mm: int = 2300,
        rng: random.Random | None = None,
        name: str = "stadiometer",
        link_dir: str | None = None,
    ) -> None:
        super().__init__(clock, name, link_dir=link_dir)
        self.mode = mode
        self.mount_height_mm = mount_height_mm
        self._rng = rng or random.Random(1)
        self.patient_mm: int | None = None  # the height of whoever stands under the sensor
        self._stepped_in_at = 0.0
        self.lines_sent = 0

    def step_in(self, height_mm: int | None = None) -> int:
        """A patient stands under the sensor (a plausible adult when no height is given); their height."""
        self.patient_mm = height_mm if height_mm is not None else self._rng.randint(1550, 1920)
        self._stepped_in_at = self._clock.monotonic()
        return self.patient_mm

    def step_out(self) -> None:
        """Nobody under the sensor any more."""
        self.patient_mm = None

    def _background(self) -> list[Coroutine[Any, Any, None]]:
        return [self._print()]

    async def _print(self) -> None:
        tick = self._clock.monotonic()
        while True:
            if self._send(stadiometer.encode_line(self._range_now())):
                self.lines_sent += 1
            tick += 1.0 / RATE_HZ
            await self._clock.sleep(tick - self._clock.monotonic())

    def _range_now(self) -> int:
        """The range the sensor reads now."""
        height = self._height_now()
        return height if self.mode == "height" else max(0, self.mount_height_mm - height)

    def _height_now(self) -> int:
        if self.patient_mm is None:
            return 0
        moving = self._clock.monotonic() - self._stepped_in_at
        if moving < SETTLE_S:  # the headpiece is coming down: far from still
            return self.patient_mm + round(250 * (1 - moving / SETTLE_S)) + self._rng.randint(-40, 40)
        return self.patient_mm + self._rng.randint(-JITTER_MM, JITTER_MM)
