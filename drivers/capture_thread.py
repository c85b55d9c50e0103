"""A blocking capture in its own thread, handing its newest items to the event loop.

The camera's `FrameGrabber` and the stethoscope's ALSA capture read a device whose reads block:
each runs a thread that opens the device, reads until a read fails or stop is asked, and reopens
after the shared `Backoff`'s delays (cut short by `wake()`, when the device watcher sees it plugged
in). What the thread reads waits in a bounded deque of the newest items, numbered in order: a slow
consumer misses items, memory never grows. Failures are counted and logged once (then at debug
level) until the device delivers again. `stop()` is bounded: a read blocked in a driver leaves a
daemon thread that ends when the read returns, and publishes nothing more.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from runtime.backoff import Backoff

if TYPE_CHECKING:
    from runtime.clock import Clock

log = logging.getLogger(__name__)


class Sequenced(Protocol):
    """An item the capture numbered: 1, 2, 3... in the order it was read."""

    @property
    def seq(self) -> int: ...


Item = TypeVar("Item", bound=Sequenced)


class ReopenTimings(Protocol):
    """The reopening delays and the bound on stop, in real seconds."""

    @property
    def reopen_initial_s(self) -> float: ...

    @property
    def reopen_max_s(self) -> float: ...

    @property
    def stop_timeout_s(self) -> float: ...


@dataclass(frozen=True, slots=True)
class CaptureState:
    """The capture as health reports see it, read at once under the lock."""

    running: bool  # the capture thread is on
    connected: bool  # the device is open and delivering
    captured: int  # items read since construction
    last_time: float | None  # Clock.monotonic() of the newest item
    last_error: str | None
    failures: int  # consecutive failed opens or reads


@dataclass(slots=True)
class _Shared(Generic[Item]):
    """What the capture thread writes and the event loop reads, under `lock`."""

    items: deque[Item]
    lock: threading.Lock = field(default_factory=threading.Lock)
    seq: int = 0
    connected: bool = False
    last_time: float | None = None
    last_error: str | None = None
    failures: int = 0
    wake_pending: bool = False


class CaptureThread(ABC, Generic[Item]):
    """A thread running `_capture_once` until stopped, reopening with backoff; its items wait in a deque."""

    def __init__(self, label: str, clock: Clock, timings: ReopenTimings, *, keep: int, thread_name: str,
                 forget_on_failure: bool = False, clear_error_on_recovery: bool = False) -> None:
        """`label` starts every log line; `keep` newest items wait; `forget_on_failure` drops them on a failure."""
        self.label = label
        self._clock = clock
        self._reopen = timings
        self._thread_name = thread_name
        self._forget_on_failure = forget_on_failure
        self._clear_error_on_recovery = clear_error_on_recovery
        self._shared: _Shared[Item] = _Shared(items=deque(maxlen=keep))
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._nudge = threading.Event()  # ends the thread's wait between opens: stop, or plugged in
        self._finished: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed = asyncio.Event()

    @property
    def running(self) -> bool:
        """True between start() and stop()."""
        return self._thread is not None

    @property
    def captured(self) -> int:
        """How many items the capture thread has read since construction."""
        with self._shared.lock:
            return self._shared.seq

    async def start(self) -> None:
        """Start the capture thread; it opens the device and keeps reopening it; idempotent."""
        if self._thread is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._stopping, self._nudge = threading.Event(), threading.Event()
        self._finished = self._loop.create_future()
        self._thread = threading.Thread(target=self._run, args=(self._stopping, self._nudge, self._finished),
                                        name=self._thread_name, daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        """Stop the thread, waiting at most stop_timeout_s, and drop every item; idempotent."""
        thread, finished, self._thread = self._thread, self._finished, None
        if thread is not None and finished is not None:
            self._stopping.set()
            self._nudge.set()
            timeout_s = self._reopen.stop_timeout_s
            await asyncio.wait({finished}, timeout=timeout_s)
            if finished.done():
                thread.join(0.1)  # it has closed the device and is returning: a matter of microseconds
            else:  # a read blocked in a driver; the thread ends on its own when it returns (daemon)
                log.warning("%s: capture thread still busy %s s after stop", self.label, timeout_s)
        with self._shared.lock:
            self._shared.items.clear()
            self._shared.connected = False
        self._wake()  # waiters see the capture is off

    def wake(self) -> None:
        """The device was plugged in: end the wait between opens and try now."""
        self._nudge.set()

    def newest(self) -> Item | None:
        """The newest item, without waiting; None while off (or, forgetting on failure, disconnected)."""
        with self._shared.lock:
            items = self._shared.items
            return items[-1] if items else None

    def note_error(self, reason: str | None) -> None:
        """Set the error health reports (the device watcher's or a probe's news)."""
        with self._shared.lock:
            self._shared.last_error = reason

    def state(self) -> CaptureState:
        """Connection, count and the last error, without I/O."""
        shared = self._shared
        with shared.lock:
            return CaptureState(running=self._thread is not None, connected=shared.connected, captured=shared.seq,
                                last_time=shared.last_time, last_error=shared.last_error, failures=shared.failures)

    async def wait_after(self, seen: int, timeout_s: float | None = None) -> Item:
        """The oldest item still kept after `seen`; `_off_error()` when off, `_silent_error()` on timeout."""
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    if self._thread is None:
                        raise self._off_error()
                    item = self._first_after(seen)
                    if item is not None:
                        return item
                    await self._changed.wait()
        except TimeoutError as exc:
            raise self._silent_error(timeout_s, self._shared.last_error) from exc

    def _first_after(self, seen: int) -> Item | None:
        with self._shared.lock:
            items = self._shared.items
            return next((i for i in items if i.seq > seen), None) if items and items[-1].seq > seen else None

    @abstractmethod
    def _off_error(self) -> Exception:
        """What a waiter gets when the capture is off."""

    @abstractmethod
    def _silent_error(self, timeout_s: float | None, last_error: str | None) -> Exception:
        """What a waiter gets when nothing came in time."""

    # The capture thread; everything below runs off the event loop.

    @abstractmethod
    def _capture_once(self, stopping: threading.Event) -> bool:
        """Open the device and read until a failure or stop; True when at least one item came."""

    def _recovered(self, item: Item) -> None:
        """The first item after a failure or the start (outside the lock): say so."""

    def _lost(self) -> None:
        """A failure was counted (outside the lock)."""

    def _run(self, stopping: threading.Event, nudge: threading.Event, finished: asyncio.Future[None]) -> None:
        # Only the delays: Backoff.pause() is the event loop's, this thread waits on its own event.
        backoff = Backoff(self._reopen.reopen_initial_s, self._reopen.reopen_max_s)
        try:
            while not stopping.is_set():
                if self._capture_once(stopping):
                    backoff.reset()
                if nudge.wait(backoff.next()) and not stopping.is_set():
                    backoff.reset()  # plugged in: the next failure waits the initial delay again
                nudge.clear()
        except Exception as exc:  # a bug must not die silently in a thread
            log.exception("%s: capture thread failed", self.label)
            self._failed(f"capture thread failed: {exc}", stopping)
        finally:
            self._call_soon(lambda: None if finished.done() else finished.set_result(None))

    def _publish(self, make: Callable[[int, float], Item], stopping: threading.Event) -> None:
        """Keep `make(seq, host_time)` as the newest item, unless stop was asked; wake the waiters."""
        now = self._clock.monotonic()
        shared = self._shared
        with shared.lock:
            if stopping.is_set():
                return
            recovered = not shared.connected
            shared.seq += 1
            item = make(shared.seq, now)
            shared.items.append(item)
            shared.connected, shared.last_time, shared.failures = True, now, 0
            if recovered and self._clear_error_on_recovery:
                shared.last_error = None
            wake, shared.wake_pending = not shared.wake_pending, True
        if recovered:
            self._recovered(item)
        if wake:  # at most one wake-up in flight: a busy loop cannot pile up callbacks or items
            self._call_soon(self._wake)

    def _failed(self, reason: str, stopping: threading.Event | None) -> None:
        """Count a failed open or read, unless stop was asked (`stopping` None: count it anyway)."""
        shared = self._shared
        with shared.lock:
            if stopping is not None and stopping.is_set():
                return
            was_connected, shared.connected = shared.connected, False
            if self._forget_on_failure:
                shared.items.clear()
            shared.last_error, shared.failures = reason, shared.failures + 1
            failures = shared.failures
        self._lost()
        if was_connected or failures == 1:
            log.warning("%s: %s; reopening with backoff", self.label, reason)
        else:
            log.debug("%s: %s (failure %s)", self.label, reason, failures)

    def _call_soon(self, callback: Callable[[], object]) -> None:
        loop = self._loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(callback)
        except RuntimeError:
            pass  # the loop is closed: nobody waits any more

    def _wake(self) -> None:
        with self._shared.lock:
            self._shared.wake_pending = False
        event, self._changed = self._changed, asyncio.Event()
        event.set()
