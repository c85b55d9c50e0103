"""The instruments leg's audio: the stethoscope's sound as 20 ms Opus packets, or silence when it is off.

The track encodes the sound itself and hands aiortc ready packets (aiortc then only packs
them): aiortc's own Opus encoder runs at 96 kbit/s in its "voip" mode, whose high-pass filter
would take away the lowest heart sounds, and it ignores the SDP's bitrate. Here libopus runs in
its "audio" mode at 128 kbit/s, mono, nothing filtered on the station (docs/design.md, "The
stethoscope"). While the stethoscope is off, or this GP is not the one in consultation, the
track sends encoded silence every 20 ms: RTP keeps flowing and the leg's watchdog keeps its
RTCP (`session/media.py`).
"""

from __future__ import annotations

import asyncio
import fractions
import time

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from av.audio.stream import AudioStream

from devices.instrument import DeviceUnavailable
from devices.stethoscope import SoundStream, Stethoscope

AUDIO_RATE = 48_000
PACKET_FRAMES = 960  # 20 ms
PACKET_S = PACKET_FRAMES / AUDIO_RATE
AUDIO_TIME_BASE = fractions.Fraction(1, AUDIO_RATE)
OPUS_BITRATE = 128_000
SOUND_TIMEOUT_S = 0.1  # no sound this long while listening: send silence, keep the pace
_SILENCE = np.zeros(PACKET_FRAMES, np.int16)


def opus_encoder(bitrate: int = OPUS_BITRATE) -> av.AudioCodecContext:
    """libopus for a mono 48 kHz stream in its full-band "audio" mode (no voice high-pass)."""
    codec = av.CodecContext.create("libopus", "w")
    assert isinstance(codec, av.AudioCodecContext)
    codec.bit_rate = bitrate
    codec.format = "s16"
    codec.layout = "mono"
    codec.sample_rate = AUDIO_RATE
    codec.time_base = AUDIO_TIME_BASE
    codec.options = {"application": "audio"}
    return codec


class StethoscopeTrack(MediaStreamTrack):
    """Stethoscope sound for the GP, encoded here; silence when it is off or the GP may not hear it."""

    kind = "audio"

    def __init__(self, source: Stethoscope | None, *, bitrate: int = OPUS_BITRATE) -> None:
        super().__init__()
        self._source = source
        self.encoder = opus_encoder(bitrate)
        self._cursor: SoundStream | None = None
        self._samples = 0  # the next packet's first sample: RTP timestamps never jump
        self._due: float | None = None
        self.audible = False  # only the GP in consultation hears the patient's chest
        self.packets_sound = 0
        self.packets_silence = 0

    def show(self, audible: bool) -> None:
        """Let this GP hear the stethoscope (True) or only silence (False)."""
        self.audible = audible

    async def recv(self) -> av.Packet[AudioStream]:
        """The next 20 ms Opus packet: paced by the stethoscope while it sounds, by the clock otherwise."""
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            samples = await self._next_samples()
            packets = self.encoder.encode(self._frame(samples))
            self._samples += PACKET_FRAMES
            if packets:  # libopus answers every 20 ms frame with one packet
                packet = packets[0]
                packet.pts, packet.time_base = self._samples - PACKET_FRAMES, AUDIO_TIME_BASE
                return packet

    def _frame(self, samples: np.ndarray) -> av.AudioFrame:
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = AUDIO_RATE, self._samples, AUDIO_TIME_BASE
        return frame

    async def _next_samples(self) -> np.ndarray:
        """Two 10 ms chunks of the stethoscope, or 20 ms of silence when there is no sound to give."""
        source = self._source
        if self.audible and source is not None and source.listening:
            if self._cursor is None:
                self._cursor = source.frames()
            try:
                first = await self._cursor.next(SOUND_TIMEOUT_S)
                second = await self._cursor.next(SOUND_TIMEOUT_S)
            except DeviceUnavailable:
                self._cursor = None
            else:
                self._due = None
                self.packets_sound += 1
                return np.frombuffer(first.pcm + second.pcm, np.int16)
        else:
            self._cursor = None
        await self._pace()
        self.packets_silence += 1
        return _SILENCE

    async def _pace(self) -> None:
        """Wait for the next silent packet's time, on a schedule that starts again after sound."""
        now = time.monotonic()
        if self._due is None or now - self._due > 1.0:
            self._due = now
        self._due += PACKET_S
        await asyncio.sleep(max(0.0, self._due - now))
