"""The stethoscope: a USB Audio Class device captured through alsa-lib in its own thread.

Off until the GP switches it on: `listen_on()` starts a capture thread that opens the PCM the
locator names (before every open: the card may have moved), reads 10 ms periods, and keeps the
last second of them in a ring for the audio track's cursors. A failed open or read is retried
with the shared `Backoff`; the device watcher's news of a plug cuts the wait short. A capture
that delivers faster than real time has lost its source (the simulator's FIFO closing, a
broken plugin): that is a failure too. `listen_off()` stops the thread and drops every chunk.
The stethoscope produces no `Measurement`: its output is sound (docs/design.md, "The stethoscope").
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from devices.instrument import DeviceHealth, DeviceUnavailable, Sink
from devices.stethoscope import AudioChunk, Stethoscope
from drivers.alsa import PERIOD_FRAMES, SAMPLE_RATE, Alsa, AlsaError, Pcm, PcmSpec
from runtime.backoff import Backoff

if TYPE_CHECKING:
    from config.devices import AlsaDeviceConfig
    from runtime.clock import Clock

log = logging.getLogger(__name__)

RING_CHUNKS = 100  # one second of 10 ms periods: a cursor further behind skips ahead
RUN_AHEAD_LIMIT_S = 0.2  # twice the device's buffer: a live capture is never this far ahead of time
SILENT_AFTER_S = 1.0  # listening, and nothing for this long: health says the sound stopped
PcmLocator = Callable[[], PcmSpec]  # where the stethoscope is now; AlsaError saying what was looked for
PcmOpener = Callable[[PcmSpec], Pcm]


@dataclass(frozen=True, slots=True)
class CaptureTimings:
    """Reopening delays and how long stop waits for a read blocked in the device."""

    reopen_initial_s: float = 0.5
    reopen_max_s: float = 5.0
    stop_timeout_s: float = 1.0


@dataclass(slots=True)
class _Shared:
    """What the capture thread writes and the event loop reads, under `lock`."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    ring: deque[AudioChunk] = field(default_factory=lambda: deque(maxlen=RING_CHUNKS))
    seq: int = 0
    connected: bool = False
    last_frame_time: float | None = None
    last_error: str | None = None
    failures: int = 0
    wake_pending: bool = False


class _Cursor:
    """One consumer's place in the ring: every chunk after the last it got, skipping what was dropped."""

    def __init__(self, owner: AlsaStethoscope) -> None:
        self._owner = owner
        self._seen = owner.chunks_captured
        self.skipped = 0

    async def next(self, timeout_s: float | None = None) -> AudioChunk:
        chunk = await self._owner.wait_after(self._seen, timeout_s)
        self.skipped += chunk.seq - self._seen - 1
        self._seen = chunk.seq
        return chunk


class AlsaStethoscope(Stethoscope):
    """A stethoscope (configuration driver "alsa", kind "stethoscope") read from an ALSA PCM."""

    config: AlsaDeviceConfig

    def __init__(self, config: AlsaDeviceConfig, sink: Sink, clock: Clock, *, locator: PcmLocator,
                 opener: PcmOpener | None = None, timings: CaptureTimings | None = None) -> None:
        """`locator` names the PCM before every open (a port, or the card found by USB identity)."""
        super().__init__(config, sink)
        self._locator = locator
        self._opener = opener
        self._alsa: Alsa | None = None  # loaded by the capture thread at its first open, kept for its handler
        self._clock = clock
        self._timings = timings or CaptureTimings()
        self._gain = 10 ** (config.gain_db / 20) if config.gain_db else None
        self._shared = _Shared()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._nudge = threading.Event()
        self._finished: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed = asyncio.Event()
        self._started = False
        self._present: bool | None = None  # the device watcher's news, when it has any

    @property
    def listening(self) -> bool:
        """True while the capture thread runs."""
        return self._thread is not None

    @property
    def chunks_captured(self) -> int:
        """How many periods the capture has read since construction."""
        with self._shared.lock:
            return self._shared.seq

    async def start(self) -> None:
        """Nothing to open yet: the capture starts when the GP listens."""
        self._started = True

    async def stop(self) -> None:
        """Stop listening; idempotent and bounded."""
        await self.listen_off()
        self._started = False

    async def request_measurement(self) -> None:
        """Listening is the stethoscope's only measurement."""
        await self.listen_on()

    async def listen_on(self) -> None:
        """Start the capture thread (it opens the PCM and keeps reopening it); idempotent."""
        if not self._started:
            raise DeviceUnavailable(f"stethoscope {self.device_id} is not started")
        if self._thread is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._stopping, self._nudge = threading.Event(), threading.Event()
        self._finished = self._loop.create_future()
        self._thread = threading.Thread(target=self._run, args=(self._stopping, self._nudge, self._finished),
                                        name=f"capture-{self.device_id}", daemon=True)
        self._thread.start()

    async def listen_off(self) -> None:
        """Stop the capture and drop every buffered chunk: nothing of one patient reaches the next."""
        thread, finished, self._thread = self._thread, self._finished, None
        if thread is not None and finished is not None:
            self._stopping.set()
            self._nudge.set()
            await asyncio.wait({finished}, timeout=self._timings.stop_timeout_s)
            if not finished.done():  # a read blocked in the device; the thread ends when it returns
                log.warning("stethoscope %s: capture still busy %s s after stop", self.device_id,
                            self._timings.stop_timeout_s)
        with self._shared.lock:
            self._shared.ring.clear()
            self._shared.connected = False
        self._wake()

    def frames(self) -> _Cursor:
        """A cursor starting with the next chunk."""
        return _Cursor(self)

    async def wait_after(self, seen: int, timeout_s: float | None = None) -> AudioChunk:
        """The first chunk still in the ring after `seen`; DeviceUnavailable on timeout or when off."""
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    if self._thread is None:
                        raise DeviceUnavailable(f"stethoscope {self.device_id} is off")
                    with self._shared.lock:
                        ring = self._shared.ring
                        chunk = next((c for c in ring if c.seq > seen), None) if ring and ring[-1].seq > seen else None
                    if chunk is not None:
                        return chunk
                    await self._changed.wait()
        except TimeoutError as exc:
            why = self._shared.last_error or "no sound came"
            raise DeviceUnavailable(f"stethoscope {self.device_id}: no sound within {timeout_s} s ({why})") from exc

    def device_changed(self, path: str | None) -> None:
        """The watcher saw the card come or go; plugged in, the capture tries at once."""
        self._present = path is not None
        if self._present:
            self._nudge.set()
        log.info("stethoscope %s %s", self.device_id, f"plugged in at {path}" if path else "unplugged")

    def health(self) -> DeviceHealth:
        """Connected (listening: sound comes; off: not known unplugged), last chunk time, last error."""
        shared = self._shared
        with shared.lock:
            connected, last, error, failures = shared.connected, shared.last_frame_time, shared.last_error, \
                shared.failures
        if connected and last is not None and self._clock.real_seconds(self._clock.monotonic() - last) > SILENT_AFTER_S:
            connected, error = False, f"no sound for over {SILENT_AFTER_S:g} s"
        if not self.listening:
            connected = self._started and self._present is not False
            error = "unplugged" if self._present is False else error
        elif not connected and failures == 0 and last is None:
            connected = self._present is not False  # still opening
        return DeviceHealth(device_id=self.device_id, kind=self.config.kind, connected=connected,
                            last_reading_host_time=last, last_error=error)

    # The capture thread; everything below runs off the event loop.

    def _run(self, stopping: threading.Event, nudge: threading.Event, finished: asyncio.Future[None]) -> None:
        backoff = Backoff(self._timings.reopen_initial_s, self._timings.reopen_max_s)
        try:
            while not stopping.is_set():
                if self._capture_once(stopping):
                    backoff.reset()
                if nudge.wait(backoff.next()) and not stopping.is_set():
                    backoff.reset()
                nudge.clear()
        except Exception as exc:  # a bug must not die silently in a thread
            log.exception("stethoscope %s: capture thread failed", self.device_id)
            self._failed(f"capture thread failed: {exc}", stopping)
        finally:
            self._call_soon(lambda: None if finished.done() else finished.set_result(None))

    def _capture_once(self, stopping: threading.Event) -> bool:
        """Open, read until a failure or stop; True when sound came."""
        try:
            spec = self._locator()
            pcm = self._opener(spec) if self._opener is not None else self._open(spec)
        except AlsaError as exc:
            self._failed(str(exc), stopping)
            return False
        log.info("stethoscope %s: capturing from %s", self.device_id, spec.name)
        got_any = False
        try:
            began, frames = time.monotonic(), 0
            while not stopping.is_set():
                pcm_bytes = pcm.read(PERIOD_FRAMES)
                frames += PERIOD_FRAMES
                if frames / SAMPLE_RATE > time.monotonic() - began + RUN_AHEAD_LIMIT_S:
                    raise AlsaError(f"{spec.name} gives sound faster than real time: its source has gone")
                self._publish(pcm_bytes, stopping)
                got_any = True
        except AlsaError as exc:
            self._failed(str(exc), stopping)
        finally:
            pcm.close()
        return got_any

    def _open(self, spec: PcmSpec) -> Pcm:
        if self._alsa is None:
            self._alsa = Alsa()
        return self._alsa.open_capture(spec)

    def _publish(self, pcm_bytes: bytes, stopping: threading.Event) -> None:
        if self._gain is not None:
            samples = np.frombuffer(pcm_bytes, np.int16).astype(np.float32) * self._gain
            pcm_bytes = np.clip(samples, -32768, 32767).astype(np.int16).tobytes()
        now = self._clock.monotonic()
        shared = self._shared
        with shared.lock:
            if stopping.is_set():
                return
            recovered = not shared.connected
            shared.seq += 1
            shared.ring.append(AudioChunk(pcm=pcm_bytes, rate=SAMPLE_RATE, seq=shared.seq, host_time=now))
            shared.connected, shared.last_frame_time, shared.failures = True, now, 0
            if recovered:
                shared.last_error = None
            wake, shared.wake_pending = not shared.wake_pending, True
        if recovered:
            log.info("stethoscope %s: receiving sound", self.device_id)
        if wake:
            self._call_soon(self._wake)

    def _failed(self, reason: str, stopping: threading.Event) -> None:
        shared = self._shared
        with shared.lock:
            if stopping.is_set():
                return
            was_connected, shared.connected = shared.connected, False
            shared.last_error, shared.failures = reason, shared.failures + 1
            failures = shared.failures
        if was_connected or failures == 1:
            log.warning("stethoscope %s: %s; reopening with backoff", self.device_id, reason)
        else:
            log.debug("stethoscope %s: %s (failure %s)", self.device_id, reason, failures)

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
