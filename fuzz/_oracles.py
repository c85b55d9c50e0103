"""Checks the harnesses share beyond "raises only the documented error": round trips and framing.

Each failed check raises AssertionError from the function that checks it, so a finding's traceback
names the property that broke.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Protocol


def canon(value: object) -> object:
    """A comparable form of a parsed value in which NaN equals NaN (records compare field by field)."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return type(value).__name__, tuple(canon(getattr(value, f.name)) for f in dataclasses.fields(value))
    if isinstance(value, tuple | list):
        return tuple(canon(item) for item in value)
    if isinstance(value, frozenset):
        return frozenset(canon(item) for item in value)
    return value


def check_round_trip(parse: Callable[[bytes], object], value: object) -> None:
    """A value the parser returned encodes (``bytes(value)``) to bytes the parser reads back as the same value."""
    encoded = bytes(value)  # type: ignore[call-overload]
    again = parse(encoded)
    if canon(again) != canon(value):
        raise AssertionError(f"round trip changed the value: {value!r} -> {encoded.hex()} -> {again!r}")


def check_packet_result(check_packet: Callable[[bytes], int], buf: bytes, max_frame: int) -> int:
    """Klipper's contract: 0 (need more, only while shorter than a frame), -n (skip 1 <= n <= len) or a length."""
    result = check_packet(buf)
    if not -len(buf) <= result <= len(buf) or (result == 0 and len(buf) >= max_frame):
        raise AssertionError(f"check_packet({buf.hex()}) = {result} for {len(buf)} bytes")
    return result


class FramerLike(Protocol):
    """A Klipper-style framer: feed bytes, get whole frames; counts what it skipped and holds."""

    discarded: int

    @property
    def pending(self) -> int:
        """Bytes held for the next feed."""

    def feed(self, data: bytes) -> list[bytes]:
        """Add bytes; return the frames they complete."""


def check_framing(make: Callable[[], FramerLike], check_packet: Callable[[bytes], int],
                  chunks: Sequence[bytes]) -> list[bytes]:
    """Feed `chunks` one by one and all at once; check the framer's invariants; return its frames."""
    chunked = make()
    frames = [frame for chunk in chunks for frame in chunked.feed(chunk)]
    stream = b"".join(chunks)
    whole = make()
    at_once = whole.feed(stream)
    if sum(map(len, frames)) + chunked.discarded + chunked.pending != len(stream):
        raise AssertionError(f"framer lost or invented bytes: frames {frames!r}, discarded {chunked.discarded}, "
                             f"pending {chunked.pending}, fed {len(stream)}")
    solid = [frame for frame in frames if frame]
    if solid != [frame for frame in at_once if frame] or (chunked.discarded, chunked.pending) != (
            whole.discarded, whole.pending):
        raise AssertionError(f"framing depends on chunking: {solid!r} chunked vs {at_once!r} at once")
    for frame in solid:
        if check_packet(frame) != len(frame):
            raise AssertionError(f"framer returned {frame.hex()}, which check_packet does not call a frame")
    if b"" in frames or b"" in at_once:
        raise AssertionError(f"framer returned an empty packet: {frames!r} (fed {[c.hex() for c in chunks]})")
    return solid
