"""What a stethoscope is to the rest of the station: an instrument that gives sound, not readings.

Like the otoscope gives images, the stethoscope gives audio: off until the GP switches it on,
then 10 ms chunks of 48 kHz mono S16 PCM for the instruments leg's audio track. It is off
between patients, and nothing it buffered survives `listen_off()` (docs/design.md, "The
stethoscope"). Drivers (`drivers/stethoscope.py`) implement it.
"""

from __future__ import annotations

import math
import time
from abc import abstractmethod
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from devices.instrument import Instrument

SOUND_CHECK_TIMEOUT_S = 2.0  # no chunk this long: the capture is not working


@dataclass(frozen=True, slots=True, eq=False)
class AudioChunk:
    """One period of captured sound: S16_LE mono samples at `rate`, and when the capture got it."""

    pcm: bytes
    rate: int
    seq: int
    host_time: float  # Clock.monotonic() when the capture thread got it

    @property
    def frames(self) -> int:
        """How many samples the chunk holds."""
        return len(self.pcm) // 2


class SoundStream(Protocol):
    """One consumer's cursor on the captured sound: every chunk in order, from when it was made."""

    async def next(self, timeout_s: float | None = None) -> AudioChunk:
        """The next chunk; DeviceUnavailable on timeout or when listening is off."""

    @property
    def skipped(self) -> int:
        """Chunks this cursor missed because it was too slow (they were dropped, not queued)."""


class Stethoscope(Instrument):
    """A digital stethoscope: switched on and off, its sound streamed to the GP."""

    @property
    @abstractmethod
    def listening(self) -> bool:
        """True while the stethoscope is switched on."""

    @abstractmethod
    async def listen_on(self) -> None:
        """Switch the capture on (sound follows); idempotent."""

    @abstractmethod
    async def listen_off(self) -> None:
        """Switch the capture off and drop every buffered chunk; idempotent."""

    @abstractmethod
    def frames(self) -> SoundStream:
        """A new cursor on the captured sound, starting with the next chunk."""


@dataclass(frozen=True, slots=True)
class SoundCheck:
    """Half a second of capture, measured: what `cabin diag` reports about a stethoscope."""

    seconds: float
    rate_hz: int  # the stream's declared rate
    measured_rate_hz: float  # samples over the real time they took to come
    rms_dbfs: float  # -inf for digital silence

    @property
    def silent(self) -> bool:
        """Only zeros: a muted or broken capture (a live chest piece always hears something)."""
        return self.rms_dbfs == -math.inf

    def describe(self) -> str:
        """In words, for the technician."""
        return (f"{self.seconds:.2f} s at {self.rate_hz} Hz (measured {self.measured_rate_hz:.0f} Hz), "
                f"RMS {self.rms_dbfs:.1f} dBFS")


async def check_sound(stethoscope: Stethoscope, seconds: float = 0.5) -> SoundCheck:
    """Capture `seconds` of sound, leaving the stethoscope on or off as it was found."""
    was_on = stethoscope.listening
    await stethoscope.listen_on()
    try:
        cursor = stethoscope.frames()
        first = await cursor.next(SOUND_CHECK_TIMEOUT_S)
        began, chunks = time.monotonic(), [first]
        while sum(c.frames for c in chunks) < seconds * first.rate:
            chunks.append(await cursor.next(SOUND_CHECK_TIMEOUT_S))
        elapsed = time.monotonic() - began
    finally:
        if not was_on:
            await stethoscope.listen_off()
    samples = np.frombuffer(b"".join(c.pcm for c in chunks), np.int16).astype(np.float64)
    rms = float(np.sqrt(np.mean(samples**2)))
    after_first = sum(c.frames for c in chunks[1:])
    return SoundCheck(seconds=samples.size / first.rate, rate_hz=first.rate,
                      measured_rate_hz=after_first / elapsed if elapsed > 0 else math.nan,
                      rms_dbfs=20 * math.log10(rms / 32768) if rms > 0 else -math.inf)
