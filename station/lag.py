"""The event loop's lag: how late a timer fires, and which code held the loop when it stalls.

A tick on the loop records the time every `tick_s`; the lag of a tick is how much later than
planned it ran. A watcher thread checks the last tick: when the loop has not ticked for
`stall_s` (100 ms by default) it takes the loop thread's stack. When the loop comes back, a
stall during which the loop's own code ran is logged as one warning with its length and where
the code was. A stall during which the loop thread sat in its selector's poll was the process
waiting for the CPU (a busy machine), not code holding the loop; so, most likely, is one the
watcher could not see (it could not run during the stall either): those are counted and
summarised in one INFO line at most every `summary_s` (a minute) and when the monitor stops. Samples of the lag are kept
(bounded) for a percentile, as the soak test and the benchmarks read it.
"""

from __future__ import annotations

import asyncio
import asyncio.base_events
import logging
import selectors
import sys
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass
from types import FrameType

log = logging.getLogger(__name__)

STALL_S = 0.1
TICK_S = 0.02
SUMMARY_S = 60.0
SAMPLES = 100_000


@dataclass(frozen=True)
class _Seen:
    """The loop thread's stack during a stall, and whether it was only waiting in the loop's selector."""

    stack: str
    waiting: bool


@dataclass
class _Waits:
    """The stalls spent waiting for the CPU since `since` (monotonic seconds)."""

    since: float
    count: int = 0
    unseen: int = 0
    longest_s: float = 0.0


def in_selector(frame: FrameType) -> bool:
    """Whether `frame` (a thread's innermost) is the event loop waiting in its selector's poll."""
    caller = frame.f_back
    return (frame.f_code.co_filename == selectors.__file__ and caller is not None
            and caller.f_code.co_name == "_run_once" and caller.f_code.co_filename == asyncio.base_events.__file__)


class LagMonitor:
    """Measures the loop's lag, logs every stall longer than `stall_s` that code caused, with that code."""

    def __init__(self, *, stall_s: float = STALL_S, tick_s: float = TICK_S, summary_s: float = SUMMARY_S,
                 samples: int = SAMPLES) -> None:
        if not 0 < tick_s < stall_s:
            raise ValueError("need 0 < tick_s < stall_s")
        self.stall_s = stall_s
        self.tick_s = tick_s
        self.summary_s = summary_s
        self.lags: deque[float] = deque(maxlen=samples)
        self.stalls = 0  # every stall: held by code, or waiting for the CPU
        self.waits = 0  # the stalls spent waiting for the CPU
        self._waits: _Waits | None = None  # not yet summarised
        self._last_tick = 0.0
        self._loop_thread = 0
        self._seen: _Seen | None = None  # captured by the watcher during a stall
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
        """Stop both and summarise the waits not yet told; idempotent and bounded."""
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.cancel()
            await asyncio.wait([ticker])
        self._stopping.set()
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            await asyncio.to_thread(watcher.join, 1.0)
        self._summarise(time.monotonic())

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
                seen, self._seen = self._seen, None
            if lag + self.tick_s >= self.stall_s:
                self._stalled(now, lag + self.tick_s, seen)
            if self._waits is not None and now - self._waits.since >= self.summary_s:
                self._summarise(now)
            planned = now + self.tick_s

    def _stalled(self, now: float, stall_s: float, seen: _Seen | None) -> None:
        self.stalls += 1
        if seen is not None and not seen.waiting:
            log.warning("the event loop was blocked for %.0f ms by code; it was in:\n%s", stall_s * 1000, seen.stack)
            return
        # Unseen: the watcher could not run during the stall either, as when the machine gave the process
        # no CPU (or another thread kept the interpreter: a C call holding the GIL).
        self.waits += 1
        waits = self._waits = self._waits or _Waits(since=now - stall_s)
        waits.count += 1
        waits.unseen += seen is None
        waits.longest_s = max(waits.longest_s, stall_s)

    def _summarise(self, now: float) -> None:
        waits, self._waits = self._waits, None
        if waits is None:
            return
        log.info("the event loop waited %d times for the CPU in the last %.0f s, longest %.0f ms "
                 "(%d of them unseen: no other thread could run meanwhile to see where)",
                 waits.count, now - waits.since, waits.longest_s * 1000, waits.unseen)

    def _watch(self) -> None:
        while not self._stopping.wait(self.tick_s):
            with self._lock:
                seen = self._last_tick
                stalled = time.monotonic() - seen > self.stall_s and self._seen is None
            if not stalled:
                continue
            frame = sys._current_frames().get(self._loop_thread)
            if frame is None:
                continue
            sample = _Seen("".join(traceback.format_stack(frame, limit=8)), in_selector(frame))
            with self._lock:
                if self._seen is None and self._last_tick == seen:  # still the same stall: the stack is its own
                    self._seen = sample
