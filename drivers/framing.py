"""Framing shared by the serial protocols, after Klipper's `check_packet`.

A protocol supplies a pure `check_packet(buf)` that answers 0 ("need more"), a negative
number ("skip that many bytes to resynchronise") or the length of the frame at the start of
`buf`; the framer does the buffering and the bookkeeping. Frames may have one length (RDM6300,
LCUS) or a length by type (CMS50): the framer shows `check_packet` at most `window` bytes, the
longest frame the protocol has, so a decision never costs more than one frame's worth of bytes.
"""

from __future__ import annotations

from collections.abc import Callable


class Framer:
    """Accumulates received bytes and returns complete frames, resynchronising past garbage."""

    def __init__(self, check_packet: Callable[[bytes | bytearray], int], window: int) -> None:
        """`window` is the longest frame `check_packet` can return."""
        if window < 1:
            raise ValueError("a frame is at least one byte long")
        self._check = check_packet
        self._window = window
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
            result = self._check(self._buffer[position : position + self._window])
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
