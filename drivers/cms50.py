"""Contec CMS50D+/E pulse oximeters, communication protocol V7.0: pure framing and parsing.

Wire format (docs/protocols.md, "Serial devices"; the V7.0 document as read by bmartin427/CMS50,
gagistech/bedsidemon and timegrid/CMS50Dplus7): 115200 8N1; a packet is a type byte with
bit 7 clear, a "high byte" with bit 7 set whose bits 0-6 are bit 7 of each following data
byte in order, then the data bytes, each sent with bit 7 set. The length follows from the
type. Older firmware (V4.x, atbrask/CMS50Dplus) streams 5-byte packets at 19200 baud on its
own; it is not this protocol and is not handled here.

No asyncio, clock or logging here: bytes in, typed values or a `ProtocolError` out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from drivers import framing
from drivers.errors import ProtocolError

BAUDRATE = 115200

# Commands (V7.0 "control commands", sent in a 0x7D packet).
START_REALTIME = 0xA1
STOP_REALTIME = 0xA2
STOP = STOP_REALTIME
DEVICE_ID = 0xAA
KEEPALIVE = 0xAF  # "still connected", every 5 s

# Packet types, device to PC unless noted.
REALTIME = 0x01
DEVICE_IDS = 0x04  # answer to AA: 7 ASCII characters
COMMAND_FEEDBACK = 0x0B  # (command, reason) when a command is refused
DISCONNECT_NOTICE = 0x0D  # (reason)
COMMAND = 0x7D  # PC to device: the command byte and 6 padding bytes

# The reason code of COMMAND_FEEDBACK for a command the device does not know.
REASON_UNSUPPORTED = 0x05

# Data bytes after the high byte, by packet type: the table of the V7.0 document as
# transcribed in bmartin427/CMS50 (`_data_len_for_data_type`). Unknown types resync.
DATA_LENGTHS: Mapping[int, int] = MappingProxyType(
    {
        REALTIME: 7,
        DEVICE_IDS: 7,
        0x05: 7,  # user information
        0x07: 6,  # storage start date
        0x08: 6,  # storage data length
        0x09: 4,  # storage data with PI
        0x0A: 2,  # storage segment amount
        COMMAND_FEEDBACK: 2,
        0x0C: 0,  # free feedback
        DISCONNECT_NOTICE: 1,
        0x0E: 1,  # PI identifier
        0x0F: 6,  # storage data
        0x10: 1,  # user amount
        0x11: 7,  # device notice
        0x12: 6,  # storage start time
        0x15: 7,  # storage data identifiers
        COMMAND: 7,
    }
)
MAX_DATA = 7  # the high byte has 7 usable bits
MAX_FRAME = MAX_DATA + 2
_SYNC = 0x80

# Sentinels of the real-time packet (V7.0; bedsidemon, timegrid/CMS50Dplus7). Recorded
# streams (AndreasZachariae/cms50dplus-driver) also show SpO2 0 before the first value, and
# bmartin427/CMS50 masks SpO2 0 and PI 0 as well: 0 % SpO2 is no measurement, so both are
# read as "no value". A pulse of 0 is kept: with a valid SpO2 it is rejected by the checks.
PULSE_INVALID = 0xFF
SPO2_INVALID = 0x7F
SPO2_NONE = 0x00
PI_INVALID = 0xFFFF
PI_NONE = 0x0000
_REALTIME_FRAME = DATA_LENGTHS[REALTIME] + 2


def encode(packet_type: int, data: bytes) -> bytes:
    """A packet of `packet_type` carrying `data`, with its high byte and sync bits set."""
    if not 0 <= packet_type < _SYNC:
        raise ProtocolError(f"packet type 0x{packet_type:02X} must be below 0x80")
    if len(data) > MAX_DATA:
        raise ProtocolError(f"{len(data)} data bytes; a packet carries at most {MAX_DATA}")
    high = _SYNC
    for index, byte in enumerate(data):
        if byte & _SYNC:
            high |= 1 << index
    return bytes((packet_type, high, *(byte | _SYNC for byte in data)))


def restore(packet: bytes) -> bytes:
    """The data bytes of `packet` with bit 7 of each restored from the high byte."""
    if len(packet) < 2:
        raise ProtocolError(f"a packet has a type and a high byte, got {len(packet)} bytes")
    if packet[0] & _SYNC:
        raise ProtocolError(f"type byte 0x{packet[0]:02X} has bit 7 set")
    high, count = packet[1], len(packet) - 2
    if not high & _SYNC:
        raise ProtocolError(f"high byte 0x{high:02X} lacks its sync bit 7")
    if count > MAX_DATA:
        raise ProtocolError(f"{count} data bytes; a packet carries at most {MAX_DATA}")
    # Whole-word arithmetic instead of a loop: this runs 60 times a second per oximeter.
    data = int.from_bytes(packet[2:], "little")
    sync = _SYNC_BITS[count]
    if data & sync != sync:
        index = next(i for i in range(count) if not packet[2 + i] & _SYNC)
        raise ProtocolError(f"data byte {index} (0x{packet[2 + index]:02X}) lacks its sync bit 7")
    restored = (data & ~sync) | (_HIGH_BITS[high & 0x7F] & sync)
    return restored.to_bytes(count, "little")


# _SYNC_BITS[n]: bit 7 of each of n little-endian bytes. _HIGH_BITS[h]: bit 7 of byte i set
# where bit i of the high byte h is set (the V7.0 high-byte rule).
_SYNC_BITS = tuple(sum(_SYNC << 8 * i for i in range(n)) for n in range(MAX_FRAME + 1))
_HIGH_BITS = tuple(sum(_SYNC << 8 * i for i in range(MAX_DATA) if h >> i & 1) for h in range(128))


def command(cmd: int) -> bytes:
    """The 9-byte command packet `7D 81 cmd 80 80 80 80 80 80` (padded with zeros)."""
    if not 0 <= cmd <= 0xFF:
        raise ProtocolError(f"command 0x{cmd:X} does not fit in a byte")
    return encode(COMMAND, bytes((cmd, 0, 0, 0, 0, 0, 0)))


def parse_command(packet: bytes) -> int:
    """The command byte of a PC-to-device 0x7D packet."""
    _expect(packet, COMMAND)
    return restore(packet)[0]


def parse_device_id(packet: bytes) -> str:
    """The device identifier of a 0x04 packet (answer to AA), without padding."""
    _expect(packet, DEVICE_IDS)
    return restore(packet).decode("latin-1").rstrip("\x00 ")


def device_id_packet(identifier: str) -> bytes:
    """A 0x04 packet carrying `identifier` (at most 7 ASCII characters), for simulators."""
    try:
        raw = identifier.encode("ascii")
    except UnicodeEncodeError as exc:
        raise ProtocolError("a device identifier is ASCII") from exc
    if len(raw) > MAX_DATA:
        raise ProtocolError(f"a device identifier has at most {MAX_DATA} characters")
    return encode(DEVICE_IDS, raw.ljust(MAX_DATA, b"\x00"))


def _expect(packet: bytes, packet_type: int) -> None:
    if not packet or packet[0] != packet_type:
        got = f"0x{packet[0]:02X}" if packet else "nothing"
        raise ProtocolError(f"expected a 0x{packet_type:02X} packet, got {got}")
    length = DATA_LENGTHS[packet_type] + 2
    if len(packet) != length:
        raise ProtocolError(f"a 0x{packet_type:02X} packet has {length} bytes, got {len(packet)}")


def check_packet(buf: bytes | bytearray) -> int:
    """Klipper-style: 0 to wait for more bytes, -n to skip n bytes, or a frame's length."""
    if not buf:
        return 0
    if buf[0] & _SYNC:
        # Not a type byte: skip to the next byte with bit 7 clear (the next packet start).
        skip = 1
        while skip < len(buf) and buf[skip] & _SYNC:
            skip += 1
        return -skip
    data_length = DATA_LENGTHS.get(buf[0])
    if data_length is None:
        return -1
    length = data_length + 2
    body = buf[1:length]
    sync = _SYNC_BITS[len(body)]
    if int.from_bytes(body, "little") & sync != sync:
        for index in range(1, len(body) + 1):
            if not buf[index] & _SYNC:
                return -index  # a type byte inside: this packet was cut short, start again there
    return 0 if len(buf) < length else length


class Framer(framing.Framer):
    """Accumulates bytes from the line and returns complete packets, resynchronising past garbage."""

    def __init__(self) -> None:
        super().__init__(check_packet, MAX_FRAME)


@dataclass(frozen=True, slots=True, kw_only=True)
class RealtimeSample:
    """One real-time packet (type 0x01, 60 per second): waveform point, status, values.

    Parsing masks every field into range, so only the encoder checks them (`check()`): the
    parser runs 60 times a second per oximeter and its output needs no second look.
    """

    signal_strength: int = 0  # d0 bits 0-3
    searching_too_long: bool = False  # d0 bit 4
    spo2_dropping: bool = False  # d0 bit 5
    beep: bool = False  # d0 bit 6, a pulse beat
    finger_out: bool = False  # d0 bit 7, probe error or finger out
    pleth: int = 0  # d1 bits 0-6, waveform 0-127
    searching: bool = False  # d1 bit 7
    bar_graph: int = 0  # d2 bits 0-3
    pi_invalid: bool = False  # d2 bit 4
    pulse: int | None = None  # d3, bpm; 0xFF invalid
    spo2: int | None = None  # d4, percent; 0x7F invalid, 0 no value yet
    pi: float | None = None  # d5-d6 little-endian x 0.01 percent; None by flag, 0 or 0xFFFF

    def check(self) -> None:
        """Raise ProtocolError unless every field can be encoded (parsed samples always can)."""
        _check_range("signal_strength", self.signal_strength, 0x0F)
        _check_range("pleth", self.pleth, 0x7F)
        _check_range("bar_graph", self.bar_graph, 0x0F)
        if self.pulse is not None:
            _check_range("pulse", self.pulse, PULSE_INVALID - 1)
        if self.spo2 is not None:
            _check_range("spo2", self.spo2, 0xFF)
            if self.spo2 in (SPO2_NONE, SPO2_INVALID):
                raise ProtocolError(f"spo2 {self.spo2} means no value: give None")
        if self.pi is not None:
            if self.pi_invalid:
                raise ProtocolError("pi given while pi_invalid is set")
            _check_range("pi x 100", round(self.pi * 100), PI_INVALID - 1)
            if round(self.pi * 100) == PI_NONE:
                raise ProtocolError("pi 0 means no value: give None")

    @classmethod
    def parse(cls, packet: bytes) -> RealtimeSample:
        """Decode a 9-byte real-time packet."""
        if len(packet) != _REALTIME_FRAME or packet[0] != REALTIME:
            _expect(packet, REALTIME)  # raises, naming what is wrong
        d0, d1, d2, pulse, spo2, pi_low, pi_high = restore(packet)
        # Comparisons rather than bool(): this runs 60 times a second per oximeter.
        pi_invalid = d2 & 0x10 != 0
        raw_pi = pi_low | pi_high << 8
        return cls(
            signal_strength=d0 & 0x0F,
            searching_too_long=d0 & 0x10 != 0,
            spo2_dropping=d0 & 0x20 != 0,
            beep=d0 & 0x40 != 0,
            finger_out=d0 & 0x80 != 0,
            pleth=d1 & 0x7F,
            searching=d1 & 0x80 != 0,
            bar_graph=d2 & 0x0F,
            pi_invalid=pi_invalid,
            pulse=None if pulse == PULSE_INVALID else pulse,
            spo2=None if spo2 == SPO2_NONE or spo2 == SPO2_INVALID else spo2,
            pi=None if pi_invalid or raw_pi == PI_NONE or raw_pi == PI_INVALID else raw_pi / 100,
        )

    def __bytes__(self) -> bytes:
        """The packet as the oximeter sends it (for simulators and round trips); checks the fields."""
        self.check()
        raw_pi = PI_INVALID if self.pi is None else round(self.pi * 100)  # as recorded devices send it
        data = bytes(
            (
                self.signal_strength
                | self.searching_too_long << 4
                | self.spo2_dropping << 5
                | self.beep << 6
                | self.finger_out << 7,
                self.pleth | self.searching << 7,
                self.bar_graph | self.pi_invalid << 4,
                PULSE_INVALID if self.pulse is None else self.pulse,
                SPO2_INVALID if self.spo2 is None else self.spo2,
                raw_pi & 0xFF,
                raw_pi >> 8,
            )
        )
        return encode(REALTIME, data)


def _check_range(name: str, value: int, maximum: int) -> None:
    if not 0 <= value <= maximum:
        raise ProtocolError(f"{name} {value} is outside 0-{maximum}")
