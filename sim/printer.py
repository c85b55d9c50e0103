"""A network ESC/POS receipt printer on TCP 127.0.0.1, for the simulator and the tests.

It reads the byte stream incrementally, command by command (`item_length` says how long the
next command or text run is, or that more bytes are needed), answers the real-time status
query DLE EOT n at once, prints everything else into the current receipt and closes the
receipt at a cut (GS V). Faults are switches: paper out, paper near end, cover open, offline,
error, `silent` (accepts connections but never answers a status query) and `answers_left`
(answers that many more status queries, then falls silent: a printer that hangs mid-job).

`decode_text` and `qr_payloads` give back what a receipt shows; they know the commands the
station's layout uses (a full decoder and PNG rendering come later).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

log = logging.getLogger(__name__)

ESC, GS, DLE, LF = 0x1B, 0x1D, 0x10, 0x0A
EOT = 0x04

# ESC t n: the code pages of Epson's table that Python can decode.
CODEPAGES: dict[int, str] = {
    0: "cp437", 2: "cp850", 3: "cp860", 4: "cp863", 5: "cp865",
    16: "cp1252", 17: "cp866", 18: "cp852", 19: "cp858",
}
# Total length of fixed-size commands, by the byte after ESC or GS.
_ESC_LEN = {
    ord(c): n
    for c, n in {
        "@": 2, "2": 2, "<": 2, "t": 3, "a": 3, "E": 3, "!": 3, "M": 3, "-": 3, "d": 3,
        "3": 3, "J": 3, "{": 3, "G": 3, "r": 3, "R": 3, "U": 3, " ": 3, "V": 3, "e": 3,
        "$": 4, "\\": 4, "c": 4, "p": 5,
    }.items()
}
_GS_LEN = {
    ord(c): n
    for c, n in {
        "!": 3, "B": 3, "b": 3, "|": 3, "H": 3, "f": 3, "h": 3, "w": 3, "a": 3, "r": 3,
        "I": 3, "L": 4, "W": 4,
    }.items()
}
_CUT_WITH_FEED = {65, 66, 97, 98, 103, 104}  # GS V m n: function B, C, D carry an n byte


def _gs_length(buf: bytes | bytearray, pos: int) -> int | None:
    """Length of the GS command at `pos`, or None if more bytes are needed."""
    avail = len(buf) - pos
    if avail < 3:
        return None
    cmd, arg = buf[pos + 1], buf[pos + 2]
    if cmd == ord("V"):
        return 4 if arg in _CUT_WITH_FEED else 3
    if cmd == ord("("):  # GS ( k / GS ( L pL pH ...: parameter length is little-endian
        return None if avail < 5 else 5 + buf[pos + 3] + 256 * buf[pos + 4]
    if cmd == ord("v"):  # GS v 0 m xL xH yL yH raster data
        if avail < 8:
            return None
        width = buf[pos + 4] + 256 * buf[pos + 5]
        return 8 + width * (buf[pos + 6] + 256 * buf[pos + 7])
    if cmd == ord("k"):  # barcode: m < 65 ends with NUL, else GS k m n data
        if arg >= 65:
            return None if avail < 4 else 4 + buf[pos + 3]
        end = buf.find(b"\x00", pos + 3)
        return None if end < 0 else end - pos + 1
    return _GS_LEN.get(cmd, 2)


def item_length(buf: bytes | bytearray, pos: int = 0) -> int | None:
    """Length of the command or text run starting at `pos`; None means "need more bytes"."""
    avail = len(buf) - pos
    if avail <= 0:
        return None
    first = buf[pos]
    if first == ESC:
        if avail < 2:
            return None
        esc_length = _ESC_LEN.get(buf[pos + 1], 2)
        return esc_length if avail >= esc_length else None
    if first == GS:
        gs_length = _gs_length(buf, pos)
        return gs_length if gs_length is not None and avail >= gs_length else None
    if first == DLE:
        return 3 if avail >= 3 else None
    if first < 0x20:
        return 1  # LF, CR, HT and other single control bytes
    end = pos
    while end < len(buf) and buf[end] >= 0x20:
        end += 1
    return end - pos


def is_cut(item: bytes) -> bool:
    """Whether `item` is a GS V cut command."""
    return len(item) >= 3 and item[0] == GS and item[1] == ord("V")


def iter_items(data: bytes) -> list[bytes]:
    """Split a complete byte stream into commands and text runs (a truncated tail is dropped)."""
    items, pos = [], 0
    while (length := item_length(data, pos)) is not None:
        items.append(data[pos : pos + length])
        pos += length
    return items


def decode_text(receipt: bytes, codepage: str = "cp437") -> str:
    """The text a receipt prints: commands removed, bytes decoded with the page ESC t selects."""
    encoding = codepage.lower()
    out: list[str] = []
    for item in iter_items(receipt):
        if item[0] == ESC and item[1:2] == b"t":
            encoding = CODEPAGES.get(item[2], encoding)
        elif item == b"\n":
            out.append("\n")
        elif item[0] >= 0x20:
            out.append(item.decode(encoding, errors="replace"))
    return "".join(out)


def qr_payloads(receipt: bytes) -> list[str]:
    """The contents stored for native QR codes (GS ( k cn=49 fn=80) in a receipt."""
    prefix = b"\x1d(k"
    return [
        item[8:].decode("utf-8", errors="replace")
        for item in iter_items(receipt)
        if item.startswith(prefix) and item[5:8] == b"1P0"
    ]


# The newest receipts kept for inspection; older ones fall off like a full tray.
RECEIPTS_KEPT = 100

class SimPrinter:
    """A TCP receipt printer with fault switches; `receipts` holds every cut receipt's bytes."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.receipts: deque[bytes] = deque(maxlen=RECEIPTS_KEPT)  # a long run must not grow
        self.partials: list[bytes] = []  # printouts torn off when paper ran out mid-receipt
        self.status_queries = 0
        self.paper_out = False
        self.paper_near_end = False
        self.cover_open = False
        self.offline = False
        self.error = False
        self.silent = False
        self.answers_left: int | None = None  # status replies still given before going silent
        self.paper_remaining: int | None = None  # print bytes left before the paper runs out
        self._current = bytearray()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Listen on host:port (port 0 picks a free one, then `.port` says which)."""
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("simulated printer listening on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        """Stop listening and drop every connection; safe to call twice."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await server.wait_closed()

    def status_byte(self, n: int) -> int:
        """The reply to DLE EOT n for the current fault switches (bits 1 and 4 always set)."""
        value = 0x12
        if n == 1 and (self.offline or self.cover_open or self.paper_out):
            value |= 0x08
        elif n == 2:
            value |= (0x04 if self.cover_open else 0) | (0x20 if self.paper_out else 0)
            value |= 0x40 if self.error else 0
        elif n == 4:
            # An empty roll has passed the near-end sensor too.
            value |= 0x0C if self.paper_near_end or self.paper_out else 0
            value |= 0x60 if self.paper_out else 0
        return value

    def feed(self, data: bytes | bytearray) -> bytes:
        """Process complete items from `data` (in place), returning the status replies due."""
        replies = bytearray()
        buf = data if isinstance(data, bytearray) else bytearray(data)
        while (length := item_length(buf)) is not None:
            item = bytes(buf[:length])
            del buf[:length]
            if item[0] == DLE and item[1] == EOT:
                self.status_queries += 1
                if self._answers():
                    replies.append(self.status_byte(item[2]))
            elif item[0] != DLE:  # other real-time commands are accepted and ignored
                self._print(item)
        return bytes(replies)

    def _answers(self) -> bool:
        if self.silent or self.answers_left == 0:
            return False
        if self.answers_left is not None:
            self.answers_left -= 1
        return True

    def _print(self, item: bytes) -> None:
        if self.paper_out:
            return  # nothing to print on; the data is lost, as on a real mechanism
        self._current += item
        if is_cut(item):
            self.receipts.append(bytes(self._current))
            self._current.clear()
            return
        if self.paper_remaining is not None:
            self.paper_remaining -= len(item)
            if self.paper_remaining <= 0:
                self.paper_out = True
                self.partials.append(bytes(self._current))
                self._current.clear()
                log.info("simulated printer ran out of paper mid-receipt")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        buf = bytearray()
        try:
            while chunk := await reader.read(4096):
                buf += chunk
                replies = self.feed(buf)
                if replies:
                    writer.write(replies)
                    await writer.drain()
        except ConnectionError as exc:
            log.info("simulated printer: connection dropped: %r", exc)
        finally:
            if buf:
                log.info("simulated printer: %s bytes of an incomplete command dropped", len(buf))
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            if task is not None:
                self._tasks.discard(task)
