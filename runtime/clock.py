"""Time source for the station: wall time in the site's zone and monotonic time.

The simulator runs the same code faster by giving the clock a speed factor and a start
instant; every timeout, contact time and simulated delay goes through the clock so that
nothing in the station reads real time behind its back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")


class Clock:
    """Wall and monotonic time, optionally sped up and shifted for the simulator."""

    def __init__(
        self, *, zone: ZoneInfo = PARIS, speed: float = 1.0, start: datetime | None = None,
        source: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed <= 0:
            raise ValueError("clock speed must be positive")
        self.zone = zone
        self.speed = speed
        self._source = source
        self._real_origin = source()
        self._clock_origin = 0.0
        self._wall_origin = (start or datetime.now(zone)).astimezone(zone)

    def monotonic(self) -> float:
        """Seconds of clock time since the clock was made; never goes backwards."""
        return self._clock_origin + (self._source() - self._real_origin) * self.speed

    def set_speed(self, speed: float) -> None:
        """Change the speed from now on, without a jump (timers already armed keep their real delay)."""
        if speed <= 0:
            raise ValueError("clock speed must be positive")
        self._clock_origin = self.monotonic()
        self._real_origin = self._source()
        self.speed = speed

    def now(self) -> datetime:
        """The current wall time, timezone-aware, in the clock's zone."""
        return self._wall_origin + timedelta(seconds=self.monotonic())

    def real_seconds(self, seconds: float) -> float:
        """How many real seconds `seconds` of clock time last."""
        return max(0.0, seconds) / self.speed

    async def sleep(self, seconds: float) -> None:
        """Sleep for `seconds` of clock time."""
        await asyncio.sleep(self.real_seconds(seconds))

    def call_later(self, seconds: float, callback: Callable[[], object]) -> asyncio.TimerHandle:
        """Schedule `callback` after `seconds` of clock time on the running loop."""
        return asyncio.get_running_loop().call_later(self.real_seconds(seconds), callback)
