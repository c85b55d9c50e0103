"""The one retry policy: exponential delays between attempts, optional jitter, and a way to cut a wait short.

Every reconnecting loop (serial ports, Bluetooth links, the camera, the instruments leg, the
hub connection) waits between attempts through a `Backoff`: the delay doubles from `initial_s`
up to `max_s` and starts over once the device or peer answers (`reset()`). `wake()` ends the
current `pause()` at once: a device plugged in is tried now, not at the end of its backoff.
"""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runtime.clock import Clock


class Backoff:
    """Delays between reconnection attempts."""

    def __init__(self, initial_s: float, max_s: float, *, factor: float = 2.0, jitter: float = 0.0,
                 rng: random.Random | None = None) -> None:
        """`jitter` (0 to 1) spreads each delay over [delay * (1 - jitter), delay]: cabins do not retry in step."""
        if initial_s <= 0 or max_s < initial_s or factor < 1 or not 0 <= jitter <= 1:
            raise ValueError("need 0 < initial_s <= max_s, factor >= 1 and 0 <= jitter <= 1")
        self.initial_s, self.max_s, self.factor, self.jitter = initial_s, max_s, factor, jitter
        self._rng = rng or random.Random()
        self._next = initial_s
        self._woken = asyncio.Event()

    def next(self) -> float:
        """The delay before the next attempt; each call grows the following one, up to max_s."""
        delay = self._next
        self._next = min(self._next * self.factor, self.max_s)
        if self.jitter:
            delay *= 1 - self.jitter * self._rng.random()
        return delay

    def reset(self) -> None:
        """The device or peer answered: the next failure waits initial_s again."""
        self._next = self.initial_s

    async def pause(self, clock: Clock | None = None) -> None:
        """Sleep the next delay on `clock` (real seconds without one), or less if `wake()` comes first."""
        delay = self.next()
        if self._woken.is_set():
            self._woken.clear()
            return
        sleeping = asyncio.ensure_future(clock.sleep(delay) if clock is not None else asyncio.sleep(delay))
        woken = asyncio.ensure_future(self._woken.wait())
        try:
            await asyncio.wait({sleeping, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeping.cancel()
            woken.cancel()
        self._woken.clear()

    def wake(self) -> None:
        """End the current pause now (or the next one at once): something changed, try again."""
        self.reset()
        self._woken.set()
