"""RDM6300-style 125 kHz badge readers: pure framing, parsing and debouncing.

Wire format (docs/protocols.md, "Serial devices"; RDM630/RDM6300 datasheet; the `rdm6300` package
on PyPI): 9600 8N1; a frame is STX (0x02), 10 ASCII hex characters (2 version + 8 tag),
2 ASCII hex characters of checksum (XOR of the 5 data bytes), ETX (0x03). The reader
repeats the frame for as long as the card stays in its field.

No asyncio, clock or logging here: the debouncer takes the caller's monotonic times.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from functools import reduce
from operator import xor

from drivers import framing
from drivers.errors import ProtocolError

BAUDRATE = 9600
STX = 0x02
ETX = 0x03
DATA_CHARS = 10
FRAME_LENGTH = 1 + DATA_CHARS + 2 + 1
_HEX = frozenset(b"0123456789ABCDEFabcdef")
_UPPER_HEX = frozenset("0123456789ABCDEF")

# The `rdm6300` package treats a card as removed after 0.5 s without a frame.
DEFAULT_HOLD_S = 0.5


def checksum(data: bytes) -> int:
    """XOR of the data bytes (the 5 bytes the 10 hex characters encode)."""
    return reduce(xor, data, 0)


@dataclass(frozen=True, slots=True)
class BadgeRead:
    """One frame from the reader: the card's 10 hex digits (version and tag), upper case."""

    tag_id: str

    def __post_init__(self) -> None:
        if len(self.tag_id) != DATA_CHARS or not set(self.tag_id) <= _UPPER_HEX:
            raise ProtocolError(f"a tag id is {DATA_CHARS} upper-case hex digits")

    @property
    def version(self) -> int:
        """The first data byte (card version or customer code)."""
        return int(self.tag_id[:2], 16)

    @property
    def card_number(self) -> int:
        """The last 4 data bytes as a number (often printed on the card)."""
        return int(self.tag_id[2:], 16)

    @classmethod
    def parse(cls, frame: bytes) -> BadgeRead:
        """Decode one 14-byte frame, checking delimiters, hex digits and checksum."""
        if len(frame) != FRAME_LENGTH:
            raise ProtocolError(f"a frame has {FRAME_LENGTH} bytes, got {len(frame)}")
        if frame[0] != STX or frame[-1] != ETX:
            raise ProtocolError("a frame starts with STX (0x02) and ends with ETX (0x03)")
        body = frame[1:-1]
        if not set(body) <= _HEX:
            raise ProtocolError("a frame carries ASCII hex digits between STX and ETX")
        data = binascii.unhexlify(body[:DATA_CHARS])
        expected, received = checksum(data), int(body[DATA_CHARS:], 16)
        if expected != received:
            raise ProtocolError(f"checksum 0x{received:02X} does not match the data (0x{expected:02X})")
        return cls(body[:DATA_CHARS].decode("ascii").upper())

    def __bytes__(self) -> bytes:
        """The frame as the reader sends it (for simulators and round trips)."""
        data = binascii.unhexlify(self.tag_id)
        return bytes((STX,)) + f"{self.tag_id}{checksum(data):02X}".encode("ascii") + bytes((ETX,))


def check_packet(buf: bytes | bytearray) -> int:
    """Klipper-style: 0 to wait for more bytes, -n to skip n bytes, or a frame's length.

    Only the shape is checked here (STX, 12 hex digits, ETX); `BadgeRead.parse` checks the
    checksum, so that a corrupted card read is reported as such rather than as line noise.
    """
    if not buf:
        return 0
    if buf[0] != STX:
        skip = 1
        while skip < len(buf) and buf[skip] != STX:
            skip += 1
        return -skip
    for index in range(1, min(len(buf), FRAME_LENGTH - 1)):
        if buf[index] not in _HEX:
            return -index  # cut short (a new STX) or noise: drop what came before it
    if len(buf) < FRAME_LENGTH:
        return 0
    return FRAME_LENGTH if buf[FRAME_LENGTH - 1] == ETX else -1


class Framer(framing.Framer):
    """Accumulates received bytes and returns complete badge frames, resynchronising past garbage."""

    def __init__(self) -> None:
        super().__init__(check_packet, FRAME_LENGTH)



class Debouncer:
    """Turns the frames a card repeats while it stays on the reader into one presentation."""

    def __init__(self, hold_s: float = DEFAULT_HOLD_S) -> None:
        if hold_s <= 0:
            raise ValueError("hold_s must be positive")
        self.hold_s = hold_s
        self._tag: str | None = None
        self._last: float | None = None

    def feed(self, tag_id: str, now: float) -> bool:
        """Record a read at monotonic time `now`; True when it starts a new presentation."""
        same = tag_id == self._tag and self._last is not None and now - self._last <= self.hold_s
        self._tag, self._last = tag_id, now
        return not same
