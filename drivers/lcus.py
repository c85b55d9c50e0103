"""LCUS USB relay boards (CH340, 1A86:7523): pure frame building and parsing.

Wire format (docs/protocols.md, "Serial devices"; jarwyg/USB_RELAY): 9600 8N1; a command is
`A0 channel op checksum` with op 01 on, 00 off and checksum = (A0 + channel + op) & 0xFF.
Most boards answer nothing. The parser exists for the simulator, which receives these frames.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers import framing
from drivers.errors import ProtocolError

BAUDRATE = 9600
START = 0xA0
OFF = 0x00
ON = 0x01
FRAME_LENGTH = 4
MAX_CHANNEL = 8  # the largest LCUS board has 8 relays


def _checksum(channel: int, op: int) -> int:
    return (START + channel + op) & 0xFF


@dataclass(frozen=True, slots=True)
class RelayCommand:
    """Switch one relay channel on or off."""

    channel: int
    on: bool

    def __post_init__(self) -> None:
        if not 1 <= self.channel <= MAX_CHANNEL:
            raise ProtocolError(f"relay channel {self.channel} is outside 1-{MAX_CHANNEL}")

    @classmethod
    def parse(cls, data: bytes) -> RelayCommand:
        """Decode one 4-byte frame."""
        if len(data) != FRAME_LENGTH:
            raise ProtocolError(f"a relay frame has {FRAME_LENGTH} bytes, got {len(data)}")
        start, channel, op, received = data
        if start != START:
            raise ProtocolError(f"a relay frame starts with 0xA0, got 0x{start:02X}")
        if op not in (ON, OFF):
            raise ProtocolError(f"relay operation 0x{op:02X} is neither on (01) nor off (00)")
        if received != _checksum(channel, op):
            raise ProtocolError(f"checksum 0x{received:02X} does not match 0x{_checksum(channel, op):02X}")
        return cls(channel, op == ON)

    def __bytes__(self) -> bytes:
        """The frame as sent to the board."""
        op = ON if self.on else OFF
        return bytes((START, self.channel, op, _checksum(self.channel, op)))


def frame(channel: int, on: bool) -> bytes:
    """The frame that switches relay `channel` on or off."""
    return bytes(RelayCommand(channel, on))


def parse(data: bytes) -> RelayCommand:
    """Decode one frame."""
    return RelayCommand.parse(data)


def check_packet(buf: bytes | bytearray) -> int:
    """Klipper-style: 0 to wait for more bytes, -n to skip n bytes, or a frame's length."""
    if not buf:
        return 0
    if buf[0] != START:
        skip = 1
        while skip < len(buf) and buf[skip] != START:
            skip += 1
        return -skip
    if len(buf) < FRAME_LENGTH:
        return 0
    try:
        RelayCommand.parse(bytes(buf[:FRAME_LENGTH]))
    except ProtocolError:
        return -1
    return FRAME_LENGTH


class Framer(framing.Framer):
    """Accumulates received bytes and returns complete relay frames, resynchronising past garbage."""

    def __init__(self) -> None:
        super().__init__(check_packet, FRAME_LENGTH)
