"""What a stethoscope is to the rest of the station: an instrument that gives sound, not readings.

Like the otoscope gives images, the stethoscope gives audio: off until the GP switches it on,
then 10 ms chunks of 48 kHz mono S16 PCM for the instruments leg's audio track. It is off
between patients, and nothing it buffered survives `listen_off()` (docs/design.md, "The
stethoscope"). Drivers (`drivers/stethoscope.py`) implement it.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Protocol

from devices.instrument import Instrument


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
