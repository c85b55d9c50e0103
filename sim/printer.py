"""A network ESC/POS receipt printer on TCP 127.0.0.1, for the simulator and the tests.

It reads the byte stream incrementally, command by command (`item_length` says how long the
next command or text run is, or that more bytes are needed), answers the real-time commands
at once (DLE EOT n status, DLE DC4 fn=8 buffer clear), interprets everything else with the
receipt decoder of its profile (code page, bold, alignment, size, QR, barcode, images) and
closes a receipt at each cut; with `png_dir` it draws each receipt to a PNG.

Faults are switches. `paper_out` and `cover_open` stop the mechanism as on a real printer:
what arrives meanwhile waits in the receive buffer and prints once the fault is cleared,
unless a DLE DC4 fn=8 cleared it. `paper_remaining` runs the roll out after that many bytes
(mid-receipt: the printed part is torn off into `partials`), `paper_near_end`, `offline` and
`error` only change the status, `silent` never answers and `answers_left` answers that many
more status queries, then falls silent (a printer that hangs mid-job).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from pathlib import Path

from printer.escpos_commands import CLEAR_BUFFERS, CLEAR_RESPONSE, DLE, EOT, codepage_table, item_length, iter_items
from printer.layout import printable_dots
from sim.preview import ReceiptRenderer
from sim.receipt import Feed, Receipt, ReceiptDecoder

log = logging.getLogger(__name__)

# The newest receipts kept for inspection; older ones fall off like a full tray.
RECEIPTS_KEPT = 100


class SimPrinter:
    """A TCP receipt printer with fault switches; `receipts` holds every cut receipt's bytes."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, profile: str = "TM-T88V", paper_width_mm: int = 80,
        png_dir: Path | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.profile = profile
        self.dots = printable_dots(profile, paper_width_mm)
        self.png_dir = png_dir
        self.receipts: deque[bytes] = deque(maxlen=RECEIPTS_KEPT)  # a long run must not grow
        self.decoded: deque[Receipt] = deque(maxlen=RECEIPTS_KEPT)
        self.pngs: deque[Path] = deque(maxlen=RECEIPTS_KEPT)
        self.partials: list[bytes] = []  # printouts torn off when paper ran out mid-receipt
        self.status_queries = 0
        self.buffer_clears = 0
        self.paper_near_end = False
        self.offline = False
        self.error = False
        self.silent = False
        self.answers_left: int | None = None  # status replies still given before going silent
        self.paper_remaining: int | None = None  # print bytes left before the paper runs out
        self._paper_out = False
        self._cover_open = False
        self._held = bytearray()  # received while the mechanism was stopped
        self._current = bytearray()
        self._decoder = ReceiptDecoder(codepage_table(profile))
        self._drawn_count = 0
        self._undrawn: list[Receipt] = []
        self._renderer: ReceiptRenderer | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ fault switches

    @property
    def paper_out(self) -> bool:
        """No paper: nothing prints; loading paper (False) prints what waited in the buffer."""
        return self._paper_out

    @paper_out.setter
    def paper_out(self, value: bool) -> None:
        self._paper_out = value
        self._resume()

    @property
    def cover_open(self) -> bool:
        """Cover open: nothing prints; closing it (False) prints what waited in the buffer."""
        return self._cover_open

    @cover_open.setter
    def cover_open(self, value: bool) -> None:
        self._cover_open = value
        self._resume()

    @property
    def stopped(self) -> bool:
        """Whether the mechanism cannot print now."""
        return self._paper_out or self._cover_open

    @property
    def held(self) -> bytes:
        """Print data waiting in the receive buffer for the mechanism to restart."""
        return bytes(self._held)

    def _resume(self) -> None:
        if not self.stopped and self._held:
            held, self._held = bytes(self._held), bytearray()
            log.info("simulated printer resumes: %s bytes waited in its buffer", len(held))
            for item in iter_items(held):
                self._print(item)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Listen on host:port (port 0 picks a free one, then `.port` says which)."""
        if self._server is not None:
            return
        if self.png_dir is not None:
            await asyncio.to_thread(self.png_dir.mkdir, parents=True, exist_ok=True)
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("simulated printer listening on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        """Stop listening, drop every connection, finish the PNGs; safe to call twice."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for task in list(self._tasks):
            if task.get_name() == "sim-printer-connection":
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await server.wait_closed()

    # ------------------------------------------------------------------ the device

    def status_byte(self, n: int) -> int:
        """The reply to DLE EOT n for the current fault switches (bits 1 and 4 always set)."""
        value = 0x12
        if n == 1 and (self.offline or self.stopped or self.error):
            value |= 0x08
        elif n == 2:
            value |= (0x04 if self._cover_open else 0) | (0x20 if self._paper_out else 0)
            value |= 0x40 if self.error else 0
        elif n == 4:
            # An empty roll has passed the near-end sensor too.
            value |= 0x0C if self.paper_near_end or self._paper_out else 0
            value |= 0x60 if self._paper_out else 0
        return value

    def feed(self, data: bytes | bytearray) -> bytes:
        """Process complete items from `data` (in place), returning the real-time replies due."""
        replies = bytearray()
        buf = data if isinstance(data, bytearray) else bytearray(data)
        while (length := item_length(buf)) is not None:
            item = bytes(buf[:length])
            del buf[:length]
            if item[0] == DLE:
                replies += self._real_time(item)
            elif self.stopped:
                self._held += item
            else:
                self._print(item)
        return bytes(replies)

    def _real_time(self, item: bytes) -> bytes:
        if item == CLEAR_BUFFERS:
            self.buffer_clears += 1
            if self._current:
                self.partials.append(bytes(self._current))
            self._held.clear()
            self._current.clear()
            self._decoder.clear()
            return CLEAR_RESPONSE if self._answers() else b""
        if len(item) == 3 and item[1] == EOT:
            self.status_queries += 1
            return bytes([self.status_byte(item[2])]) if self._answers() else b""
        return b""  # other real-time commands are accepted and ignored

    def _answers(self) -> bool:
        if self.silent or self.answers_left == 0:
            return False
        if self.answers_left is not None:
            self.answers_left -= 1
        return True

    def _print(self, item: bytes) -> None:
        self._current += item
        receipt = self._decoder.feed_item(item)
        if receipt is not None:
            self._finish(receipt)
            return
        if self.paper_remaining is not None:
            self.paper_remaining -= len(item)
            if self.paper_remaining <= 0:
                self.partials.append(bytes(self._current))
                self._current.clear()
                self._decoder.clear()
                self._paper_out = True
                log.info("simulated printer ran out of paper mid-receipt")

    def tear_off(self) -> Receipt | None:
        """A person tears off what printed since the last cut (printers without a cutter); None if blank."""
        receipt = self._decoder.pending
        if not self._current or not any(not isinstance(b, Feed) for b in receipt.blocks):
            return None
        self._finish(receipt)
        self._decoder.clear()
        return receipt

    def _finish(self, receipt: Receipt) -> None:
        self.receipts.append(bytes(self._current))
        self.decoded.append(receipt)
        if self.png_dir is not None:
            self._undrawn.append(receipt)
        self._current.clear()

    async def save_png(self, receipt: Receipt) -> Path:
        """Draw `receipt` into the next numbered PNG of `png_dir`, on a worker thread."""
        if self.png_dir is None:
            raise ValueError("this simulated printer has no png_dir")
        self._drawn_count += 1
        path = self.png_dir / f"receipt-{self._drawn_count:04d}.png"
        if self._renderer is None:
            self._renderer = await asyncio.to_thread(ReceiptRenderer, self.dots)
        await asyncio.to_thread(self._renderer.save_png, receipt, path)
        self.pngs.append(path)
        log.info("simulated printer: receipt drawn to %s", path)
        return path

    # ------------------------------------------------------------------ the network

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            task.set_name("sim-printer-connection")
            self._tasks.add(task)
        buf = bytearray()
        try:
            while chunk := await reader.read(4096):
                buf += chunk
                replies = self.feed(buf)
                self._draw()
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

    def _draw(self) -> None:
        """Draw the receipts cut since the last call to PNG, on a worker thread, in a task the printer owns."""
        receipts, self._undrawn = self._undrawn, []
        if not receipts:
            return

        async def draw() -> None:
            for receipt in receipts:
                await self.save_png(receipt)

        task = asyncio.get_running_loop().create_task(draw(), name="sim-printer-png")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drawn(self) -> list[Path]:
        """Wait until every receipt received so far is drawn; the PNG paths, oldest first."""
        self._draw()
        pending = [t for t in self._tasks if t.get_name() == "sim-printer-png"]
        await asyncio.gather(*pending)
        return list(self.pngs)
