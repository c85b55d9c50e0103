"""The stethoscope: a USB Audio Class device captured through alsa-lib in its own thread.

Off until the GP switches it on: `listen_on()` starts a capture thread (drivers/capture_thread.py)
that opens the PCM the locator names (before every open: the card may have moved), reads 10 ms
periods, and keeps the last second of them in a ring for the audio track's cursors. A failed open or read is retried
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
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from devices.instrument import DeviceHealth, DeviceUnavailable, Sink
from devices.stethoscope import AudioChunk, Stethoscope
from drivers.alsa import PERIOD_FRAMES, SAMPLE_RATE, Alsa, AlsaError, Pcm, PcmSpec
from drivers.capture_thread import CaptureThread

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
    probe_timeout_s: float = 2.0  # opening the PCM at start, to say whether it is there


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


class _PcmCapture(CaptureThread[AudioChunk]):
    """The capture thread of one stethoscope: opens the PCM the locator names and reads 10 ms periods."""

    def __init__(self, device_id: str, clock: Clock, timings: CaptureTimings, *, locator: PcmLocator,
                 opener: PcmOpener | None, gain: float | None) -> None:
        super().__init__(f"stethoscope {device_id}", clock, timings, keep=RING_CHUNKS,
                         thread_name=f"capture-{device_id}", clear_error_on_recovery=True)
        self._device_id = device_id
        self._locator = locator
        self._opener = opener
        self._alsa: Alsa | None = None  # loaded at the first open, kept for its handler
        self._gain = gain
        self.present: bool | None = None  # as last seen: at start, by the watcher, by the capture

    def probe(self) -> None:
        """Open the PCM and close it, to say whether the stethoscope is there (blocking)."""
        try:
            spec = self._locator()
            self._open(spec).close()
        except AlsaError as exc:
            self.present = False
            self.note_error(str(exc))
            return
        self.present = True
        self.note_error(None)

    def _off_error(self) -> DeviceUnavailable:
        return DeviceUnavailable(f"{self.label} is off")

    def _silent_error(self, timeout_s: float | None, last_error: str | None) -> DeviceUnavailable:
        return DeviceUnavailable(f"{self.label}: no sound within {timeout_s} s ({last_error or 'no sound came'})")

    # The capture thread; everything below runs off the event loop.

    def _capture_once(self, stopping: threading.Event) -> bool:
        """Open, read until a failure or stop; True when sound came."""
        try:
            spec = self._locator()
            pcm = self._open(spec)
        except AlsaError as exc:
            self._failed(str(exc), stopping)
            return False
        log.info("%s: capturing from %s", self.label, spec.name)
        got_any = False
        try:
            began, frames = time.monotonic(), 0
            while not stopping.is_set():
                pcm_bytes = pcm.read(PERIOD_FRAMES)
                frames += PERIOD_FRAMES
                if frames / SAMPLE_RATE > time.monotonic() - began + RUN_AHEAD_LIMIT_S:
                    raise AlsaError(f"{spec.name} gives sound faster than real time: its source has gone")
                self._publish_pcm(pcm_bytes, stopping)
                got_any = True
        except AlsaError as exc:
            self._failed(str(exc), stopping)
        finally:
            pcm.close()
        return got_any

    def _open(self, spec: PcmSpec) -> Pcm:
        if self._opener is not None:
            return self._opener(spec)
        if self._alsa is None:
            self._alsa = Alsa()
        return self._alsa.open_capture(spec)

    def _publish_pcm(self, pcm_bytes: bytes, stopping: threading.Event) -> None:
        if self._gain is not None:
            samples = np.frombuffer(pcm_bytes, np.int16).astype(np.float32) * self._gain
            pcm_bytes = np.clip(samples, -32768, 32767).astype(np.int16).tobytes()
        self._publish(lambda seq, now: AudioChunk(pcm=pcm_bytes, rate=SAMPLE_RATE, seq=seq, host_time=now), stopping)

    def _recovered(self, item: AudioChunk) -> None:
        self.present = True
        log.info("%s: receiving sound", self.label)

    def _lost(self) -> None:
        self.present = False


class AlsaStethoscope(Stethoscope):
    """A stethoscope (configuration driver "alsa", kind "stethoscope") read from an ALSA PCM."""

    config: AlsaDeviceConfig

    def __init__(self, config: AlsaDeviceConfig, sink: Sink, clock: Clock, *, locator: PcmLocator,
                 opener: PcmOpener | None = None, timings: CaptureTimings | None = None) -> None:
        """`locator` names the PCM before every open (a port, or the card found by USB identity)."""
        super().__init__(config, sink)
        self._clock = clock
        self._timings = timings or CaptureTimings()
        gain = 10 ** (config.gain_db / 20) if config.gain_db else None
        self._capture = _PcmCapture(self.device_id, clock, self._timings, locator=locator, opener=opener, gain=gain)
        self._started = False

    @property
    def listening(self) -> bool:
        """True while the capture thread runs."""
        return self._capture.running

    @property
    def chunks_captured(self) -> int:
        """How many periods the capture has read since construction."""
        return self._capture.captured

    async def start(self) -> None:
        """Look whether the stethoscope is there (open and close it), without capturing; never raises."""
        if self._started:
            return
        self._started = True
        try:
            async with asyncio.timeout(self._timings.probe_timeout_s):
                await asyncio.to_thread(self._capture.probe)
        except TimeoutError:
            self._capture.present = False
            self._capture.note_error("the PCM did not open in time")
        log.info("stethoscope %s %s", self.device_id,
                 "ready" if self._capture.present else f"absent ({self._capture.state().last_error})")

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
        await self._capture.start()

    async def listen_off(self) -> None:
        """Stop the capture and drop every buffered chunk: nothing of one patient reaches the next."""
        await self._capture.stop()

    def frames(self) -> _Cursor:
        """A cursor starting with the next chunk."""
        return _Cursor(self)

    async def wait_after(self, seen: int, timeout_s: float | None = None) -> AudioChunk:
        """The first chunk still in the ring after `seen`; DeviceUnavailable on timeout or when off."""
        return await self._capture.wait_after(seen, timeout_s)

    def device_changed(self, path: str | None) -> None:
        """The watcher saw the card come or go; plugged in, the capture tries at once."""
        present = self._capture.present = path is not None
        self._capture.note_error(None if present else "unplugged")
        if present:
            self._capture.wake()
        log.info("stethoscope %s %s", self.device_id, f"plugged in at {path}" if path else "unplugged")

    def health(self) -> DeviceHealth:
        """Connected (listening: sound comes; off: there when last seen), last chunk time, last error."""
        state, present = self._capture.state(), self._capture.present
        connected, last, error = state.connected, state.last_time, state.last_error
        if connected and last is not None and self._clock.real_seconds(self._clock.monotonic() - last) > SILENT_AFTER_S:
            connected, error = False, f"no sound for over {SILENT_AFTER_S:g} s"
        if not state.running:
            connected = self._started and present is not False
            error = (error or "not found") if present is False else None
        elif not connected and state.failures == 0 and last is None:
            connected = present is not False  # still opening
        return DeviceHealth(device_id=self.device_id, kind=self.config.kind, connected=connected,
                            last_reading_host_time=last, last_error=error)
