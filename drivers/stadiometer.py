"""The stadiometer's line protocol: ranges in millimetres, one per line, and when a height is stable.

No stadiometer with a published serial protocol was found (docs/design.md, "The stadiometer"):
the cabin reads the line format of MaxBotix's serial rangefinders (HRXL-MaxSonar-WR datasheet),
simple enough for any "distance in millimetres" adapter to print: an ASCII "R", the range in
decimal millimetres, a carriage return (a line feed after it is tolerated), at 9600 8N1, 6-7.5
lines a second, without being asked. The sensor either looks down from the
ceiling (mode "distance": height = mount height - range) or reports the height itself ("height").

A reading is only a measurement once it holds still: a person stepping under the headpiece
moves it, so `Settler` waits for `hold_s` of readings within `tolerance_mm` of each other.
Everything here is pure: bytes in, numbers or `ProtocolError` out.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass
from typing import Literal

from drivers import framing
from drivers.errors import ProtocolError

BAUDRATE = 9600
START = 0x52  # "R"
CR = 0x0D
LF = 0x0A
MAX_DIGITS = 5  # up to 99999 mm; MaxBotix sends 4
MAX_FRAME = 1 + 1 + MAX_DIGITS + 1  # an optional LF left from the previous line, R, digits, CR
_DIGITS = frozenset(range(0x30, 0x3A))

Mode = Literal["height", "distance"]


def check_packet(buf: bytes | bytearray) -> int:
    """Klipper-style: 0 to wait for more bytes, -n to skip n bytes, or a line's length.

    A line is [LF] "R" 1-5 digits CR; anything else is skipped up to the next R or LF, so a
    line cut short or run together with the next never yields a number.
    """
    start = 1 if buf[:1] == b"\n" else 0
    if len(buf) <= start:
        return 0
    if buf[start] != START:
        return -_next_start(buf)
    end = start + 1
    while end < len(buf) and buf[end] in _DIGITS and end - start <= MAX_DIGITS:
        end += 1
    if end == len(buf):
        return 0 if end - start - 1 <= MAX_DIGITS else -(start + 1)
    if buf[end] == CR and 1 <= end - start - 1 <= MAX_DIGITS:
        return end + 1
    return -(start + 1)


def _next_start(buf: bytes | bytearray) -> int:
    """How many bytes to skip to reach the next R or LF after the first byte."""
    for index in range(1, len(buf)):
        if buf[index] in (START, LF):
            return index
    return len(buf)


class Framer(framing.Framer):
    """Accumulates bytes from the line and returns complete lines, resynchronising past garbage."""

    def __init__(self) -> None:
        super().__init__(check_packet, MAX_FRAME)


def parse_line(line: bytes) -> int:
    """The range in millimetres of one line as the framer returns it."""
    body = line[1:] if line[:1] == b"\n" else line
    if len(body) < 3 or body[0] != START or body[-1] != CR:
        raise ProtocolError(f"a stadiometer line is R, 1-{MAX_DIGITS} digits and CR; got {line!r}")
    digits = body[1:-1]
    if len(digits) > MAX_DIGITS or not all(b in _DIGITS for b in digits):
        raise ProtocolError(f"a stadiometer range is 1-{MAX_DIGITS} decimal digits; got {digits!r}")
    return int(digits)


def encode_line(millimetres: int) -> bytes:
    """The line a sensor prints for `millimetres` (for simulators and round trips)."""
    if not 0 <= millimetres < 10**MAX_DIGITS:
        raise ProtocolError(f"a range of {millimetres} mm does not fit in {MAX_DIGITS} digits")
    return b"R%04d\r" % millimetres


def height_mm(range_mm: int, mode: Mode, mount_height_mm: int | None) -> int:
    """The height a range stands for: the range itself, or the mount height less the range."""
    if mode == "height":
        return range_mm
    if mount_height_mm is None:
        raise ProtocolError("a head-top sensor (mode distance) needs its mount height")
    return mount_height_mm - range_mm


@dataclass(frozen=True, slots=True)
class StableRule:
    """When a height holds still: `hold_s` of at least `min_readings` within `tolerance_mm`."""

    hold_s: float = 1.0
    tolerance_mm: int = 5
    min_readings: int = 4


class Settler:
    """Turns a stream of heights into measurements: one per stillness, the median of the still readings.

    After a measurement it stays quiet until the height moves beyond the tolerance (the person
    stepped away, or another stepped in) or `rearm()` asks for another one.
    """

    def __init__(self, rule: StableRule | None = None) -> None:
        self.rule = rule or StableRule()
        self._window: deque[tuple[float, int]] = deque()
        self._settled: int | None = None  # the last measurement given, until the height moves

    def feed(self, now: float, millimetres: int) -> int | None:
        """Add a height read at `now` (seconds); the measurement when it has just settled."""
        rule = self.rule
        if self._settled is not None and abs(millimetres - self._settled) <= rule.tolerance_mm:
            return None
        self._settled = None
        window = self._window
        window.append((now, millimetres))
        while window and (abs(window[0][1] - millimetres) > rule.tolerance_mm or
                          max(v for _, v in window) - min(v for _, v in window) > rule.tolerance_mm):
            window.popleft()
        while len(window) > 1 and now - window[1][0] >= rule.hold_s:
            window.popleft()  # keep one reading at least hold_s old, no more
        if len(window) < rule.min_readings or now - window[0][0] < rule.hold_s:
            return None
        self._settled = round(statistics.median(v for _, v in window))
        window.clear()
        return self._settled

    def rearm(self) -> None:
        """Start again: the next stable height is given even if it is the one already given."""
        self._settled = None
        self._window.clear()
