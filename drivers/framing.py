"""Fixed-length framing shared by the serial protocols, after Klipper's `check_packet`.

A protocol supplies a pure `check_packet(buf)` that answers 0 ("need more"), a negative
number ("skip that many bytes to resynchronise") or the frame's length; the framer does
the buffering and the bookkeeping.
"""

from __future__ import annotations

from collections.abc import Callable


class FixedFramer:
    """Accumulates received bytes and returns complete frames, resynchronising past garbage."""

    def __init__(self, check_packet: Callable[[bytes | bytearray], int], frame_length: int) -> None:
        self._check = check_packet
        self._frame_length = frame_length
        self._buffer = bytearray()
        self.discarded = 0  # bytes skipped to resynchronise, since creation

    @property
    def pending(self) -> int:
        """Bytes held while waiting for the rest of a frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Add `data`; return the frames it completes, in order."""
        self._buffer += data
        frames: list[bytes] = []
        position = 0
        while position < len(self._buffer):
            result = self._check(self._buffer[position : position + self._frame_length])
            if result == 0:
                break
            if result < 0:
                position -= result
                self.discarded -= result
                continue
            frames.append(bytes(self._buffer[position : position + result]))
            position += result
        del self._buffer[:position]
        return frames
