"""ESC/POS framing: how long each command is, what it is called, which code page `ESC t n` selects.

`item_length` is a pure "check packet" in the Klipper style: given a buffer and a position it
says how many bytes the next command or text run takes, or None when more bytes are needed.
Lengths follow Epson's ESC/POS command reference (fixed-size commands by their second byte;
GS ( x, ESC (, GS 8 L carry a little-endian parameter length; GS v 0, ESC * and GS k
carry their data size in their header). `disassemble` names each command of a stream, for
golden files and for a person reading captured bytes.
"""

from __future__ import annotations

import codecs
import zlib
from collections.abc import Iterator

from escpos.capabilities import CAPABILITIES, get_profile

ESC, GS, DLE, FS, LF = 0x1B, 0x1D, 0x10, 0x1C, 0x0A
EOT, ENQ, DC4 = 0x04, 0x05, 0x14

# Real-time commands (Epson ESC/POS): status n = 1 printer, 2 offline cause, 4 paper sensor;
# DLE DC4 fn=8 clears the receive and print buffers and answers CLEAR_RESPONSE.
DLE_EOT = bytes((DLE, EOT))
CLEAR_BUFFERS = bytes((DLE, DC4, 8, 1, 3, 20, 1, 6, 2, 8))
CLEAR_RESPONSE = b"\x37\x25\x00"

# Total length of fixed-size commands, by the byte after ESC or GS (default 2).
_ESC_LEN = {
    ord(c): n
    for c, n in {
        "!": 3, "%": 3, "-": 3, "2": 2, "3": 3, "<": 2, "=": 3, "?": 3, "@": 2, "E": 3, "G": 3,
        "J": 3, "K": 3, "L": 2, "M": 3, "R": 3, "S": 2, "T": 3, "U": 3, "V": 3, "a": 3, "c": 4,
        "d": 3, "e": 3, "i": 2, "m": 2, "p": 5, "r": 3, "t": 3, "u": 3, "v": 2, "{": 3, " ": 3,
        "$": 4, "\\": 4, "B": 4, "W": 10,
    }.items()
}
_GS_LEN = {
    ord(c): n
    for c, n in {
        "!": 3, "/": 3, ":": 2, "B": 3, "H": 3, "I": 3, "L": 4, "P": 4, "T": 3, "W": 4, "a": 3,
        "b": 3, "f": 3, "h": 3, "r": 3, "w": 3, "|": 3, "$": 4, "\\": 4, "^": 5,
    }.items()
}
_CUT_WITH_ARG = {65, 66, 97, 98, 103, 104}  # GS V m n: functions B, C, D carry an n byte
_DC4_LEN = {1: 5, 2: 5, 7: 4, 8: 10}
_CONTROL_NAMES = {0x09: "HT", 0x0A: "LF", 0x0C: "FF", 0x0D: "CR", 0x18: "CAN"}
_DLE_NAMES = {EOT: "EOT", ENQ: "ENQ", DC4: "DC4"}


def _le16(buf: bytes | bytearray, pos: int) -> int:
    return buf[pos] + 256 * buf[pos + 1]


def _esc_length(buf: bytes | bytearray, pos: int, avail: int) -> int | None:
    cmd = buf[pos + 1]
    if cmd == ord("*"):  # ESC * m nL nH: nL+nH*256 columns of 1 (8-dot) or 3 (24-dot) bytes
        return None if avail < 5 else 5 + _le16(buf, pos + 3) * (3 if buf[pos + 2] >= 32 else 1)
    if cmd == ord("("):  # ESC ( x pL pH ...
        return None if avail < 5 else 5 + _le16(buf, pos + 3)
    if cmd == ord("D"):  # ESC D n1 ... nk NUL: tab positions
        end = buf.find(b"\x00", pos + 2)
        return None if end < 0 else end - pos + 1
    return _ESC_LEN.get(cmd, 2)


def _gs_length(buf: bytes | bytearray, pos: int, avail: int) -> int | None:
    if avail < 3:
        return None
    cmd, arg = buf[pos + 1], buf[pos + 2]
    if cmd == ord("V"):
        return 4 if arg in _CUT_WITH_ARG else 3
    if cmd == ord("("):  # GS ( k / GS ( L pL pH ...
        return None if avail < 5 else 5 + _le16(buf, pos + 3)
    if cmd == ord("8"):  # GS 8 L p1 p2 p3 p4 ...: a 32-bit parameter length
        return None if avail < 7 else 7 + int.from_bytes(buf[pos + 3 : pos + 7], "little")
    if cmd == ord("v"):  # GS v 0 m xL xH yL yH d: raster bit image
        return None if avail < 8 else 8 + _le16(buf, pos + 4) * _le16(buf, pos + 6)
    if cmd == ord("*"):  # GS * x y d: downloaded bit image of x*8 columns by y*8 dots
        return None if avail < 4 else 4 + arg * buf[pos + 3] * 8
    if cmd == ord("k"):  # barcode: m < 65 ends with NUL, else GS k m n data
        if arg >= 65:
            return None if avail < 4 else 4 + buf[pos + 3]
        end = buf.find(b"\x00", pos + 3)
        return None if end < 0 else end - pos + 1
    return _GS_LEN.get(cmd, 2)


def _dle_length(buf: bytes | bytearray, pos: int, avail: int) -> int | None:
    if avail < 3:
        return None
    cmd, arg = buf[pos + 1], buf[pos + 2]
    if cmd == EOT:
        return 4 if arg in (7, 8) else 3
    if cmd == ENQ:
        return 3
    if cmd == DC4:
        return _DC4_LEN.get(arg, 3)
    return 1  # a lone DLE byte


def item_length(buf: bytes | bytearray, pos: int = 0) -> int | None:
    """Length of the command or text run starting at `pos`; None means "need more bytes"."""
    avail = len(buf) - pos
    if avail <= 0:
        return None
    first = buf[pos]
    length: int | None
    if first == ESC:
        length = None if avail < 2 else _esc_length(buf, pos, avail)
    elif first == GS:
        length = _gs_length(buf, pos, avail)
    elif first == DLE:
        length = _dle_length(buf, pos, avail)
    elif first == FS:
        length = None if avail < 2 else (4 if buf[pos + 1] == ord("p") else 2)
    elif first < 0x20:
        length = 1  # LF, CR, HT and other single control bytes
    else:
        end = pos
        while end < len(buf) and buf[end] >= 0x20:
            end += 1
        length = end - pos
    return length if length is not None and avail >= length else None


def command_head(item: bytes) -> tuple[str, int]:
    """A command's mnemonic (e.g. "GS ( k") and how many of its bytes that mnemonic covers."""
    first = item[0]
    if first in (ESC, GS, FS) and len(item) >= 2:
        prefix = {ESC: "ESC", GS: "GS", FS: "FS"}[first]
        second = chr(item[1]) if 0x20 < item[1] < 0x7F else f"0x{item[1]:02x}"
        if first == GS and item[1] in b"(8v" and len(item) >= 3:
            return f"{prefix} {second} {chr(item[2])}", 3
        return f"{prefix} {second}", 2
    if first == DLE and len(item) >= 2:
        return f"DLE {_DLE_NAMES.get(item[1], hex(item[1]))}", 2
    if first < 0x20:
        return _CONTROL_NAMES.get(first, f"0x{first:02x}"), 1
    return "TEXT", 0


def command_name(item: bytes) -> str:
    """A command's mnemonic, e.g. "ESC t" or "GS ( k"."""
    return command_head(item)[0]


def python_codec(name: str) -> str | None:
    """Python's codec for python-escpos's code page `name` (e.g. "CP858" -> "cp858"), if there is one."""
    encoding = CAPABILITIES["encodings"].get(name, {})
    candidate = encoding.get("python_encode") or name.lower()
    try:
        return codecs.lookup(candidate).name
    except LookupError:
        return None


def codepage_table(profile: str = "default") -> dict[int, str]:
    """`ESC t n` number -> Python codec, for the code pages a python-escpos profile lists."""
    table: dict[int, str] = {}
    for name, number in get_profile(profile).get_code_pages().items():
        codec = python_codec(name)
        if codec is not None:
            table[int(number)] = codec
    return table


def iter_items(data: bytes | bytearray) -> Iterator[bytes]:
    """The complete commands and text runs of `data` (a truncated tail is left out)."""
    pos = 0
    while (length := item_length(data, pos)) is not None:
        yield bytes(data[pos : pos + length])
        pos += length


def disassemble(data: bytes, codepages: dict[int, str] | None = None) -> list[str]:
    """One line per item: a command's name and arguments, or a text run as the printer decodes it."""
    pages = codepages if codepages is not None else codepage_table()
    encoding = pages.get(0, "cp437")
    lines: list[str] = []
    for item in iter_items(data):
        if item[0] >= 0x20:
            lines.append(f"TEXT {item.decode(encoding, errors='replace')!r}")
            continue
        if item[:2] == b"\x1b@":
            encoding = pages.get(0, "cp437")
        elif item[:2] == b"\x1bt":
            encoding = pages.get(item[2], encoding)
        lines.append(_describe(item))
    return lines


def _describe(item: bytes) -> str:
    name, head = command_head(item)
    args = item[head:]
    if len(args) > 24:
        return f"{name} [{len(args)} bytes crc32={zlib.crc32(args):08x}]"
    return f"{name} {' '.join(str(b) for b in args)}".rstrip()
