"""The event loop's lag: how late a timer fires, and which code held the loop when it stalls.

A tick on the loop records the time every `tick_s`; the lag of a tick is how much later than
planned it ran. A watcher thread checks the last tick: when the loop has not ticked for
`stall_s` (100 ms by default) it takes the loop thread's stack, and when the loop comes back
it logs one warning with the stall's length and where the code was. Samples of the lag are
kept (bounded) for a percentile, as the soak test and the benchmarks read it.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import traceback
from collections import deque

log = logging.getLogger(__name__)

STALL_S = 0.1
TICK_S = 0.02
SAMPLES = 100_000


class LagMonitor:
    """Measures the loop's lag and logs every stall longer than `stall_s` with the blocking code."""

    def __init__(self, *, stall_s: float = STALL_S, tick_s: float = TICK_S, samples: int = SAMPLES) -> None:
        if not 0 < tick_s < stall_s:
            raise ValueError("need 0 < tick_s < stall_s")
        self.stall_s = stall_s
        self.tick_s = tick_s
        self.lags: deque[float] = deque(maxlen=samples)
        self.stalls = 0
        self._last_tick = 0.0
        self._loop_thread = 0
        self._stack: str | None = None  # where the loop was, captured by the watcher during a stall
        self._lock = threading.Lock()
        self._ticker: asyncio.Task[None] | None = None
        self._watcher: threading.Thread | None = None
        self._stopping = threading.Event()

    async def start(self) -> None:
        """Start ticking and watching; idempotent."""
        if self._ticker is not None:
            return
        self._loop_thread = threading.get_ident()
        self._last_tick = time.monotonic()
        self._stopping.clear()
        self._ticker = asyncio.get_running_loop().create_task(self._tick(), name="lag-monitor")
        self._watcher = threading.Thread(target=self._watch, name="lag-watcher", daemon=True)
        self._watcher.start()

    async def stop(self) -> None:
        """Stop both; idempotent and bounded."""
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.cancel()
            await asyncio.wait([ticker])
        self._stopping.set()
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            await asyncio.to_thread(watcher.join, 1.0)

    def percentile(self, fraction: float) -> float:
        """The lag (seconds) below which `fraction` of the samples lie; 0 without samples."""
        ordered = sorted(self.lags)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]

    async def _tick(self) -> None:
        planned = time.monotonic() + self.tick_s
        while True:
            await asyncio.sleep(max(0.0, planned - time.monotonic()))
            now = time.monotonic()
            lag = max(0.0, now - planned)
            self.lags.append(lag)
            with self._lock:
                self._last_tick = now
                stack, self._stack = self._stack, None
            if lag + self.tick_s >= self.stall_s:
                self.stalls += 1
                # No stack: the watcher thread did not run during the stall, as when another thread
                # held the interpreter (a garbage collection started there, a C call keeping the GIL).
                where = f"it was in:\n{stack}" if stack else "no other thread could run meanwhile to see where"
                log.warning("the event loop was blocked for %.0f ms; %s", (lag + self.tick_s) * 1000, where)
            planned = now + self.tick_s

    def _watch(self) -> None:
        while not self._stopping.wait(self.tick_s):
            with self._lock:
                seen = self._last_tick
                stalled = time.monotonic() - seen > self.stall_s and self._stack is None
            if not stalled:
                continue
            frame = sys._current_frames().get(self._loop_thread)
            if frame is None:
                continue
            stack = "".join(traceback.format_stack(frame, limit=8))
            with self._lock:
                if self._stack is None and self._last_tick == seen:  # still the same stall: the stack is its own
                    self._stack = stack
