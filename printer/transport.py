"""The printer I/O seam: send bytes, ask for real-time status.

Status uses the ESC/POS real-time command DLE EOT n (`printer/status.py` reads the replies).
No reply means the printer is unreachable: never read silence as "OK" (python-escpos's
paper_status() returns "paper adequate" on an empty reply).

A network receipt printer on port 9100 answers DLE EOT on the same socket as the print data.
Each operation opens its own connection: no stale socket after a printer reboot, and the
printer stays free for a technician's test print between jobs.

A printer stopped by a fault (paper end, cover open) keeps what it has not printed in its
receive buffer and prints it when the fault is cleared. After a failed job the service asks
for DLE DC4 fn=8 (clear buffers): only a confirmed clear makes a reprint safe from duplicates.
USB and serial printers go through python-escpos (printer/escpos_link.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable
from pathlib import Path
from typing import Protocol, TypeVar

from config.schema import PrinterConfig
from printer.errors import PrinterError, PrinterUnreachableError, TransportError
from printer.escpos_commands import CLEAR_BUFFERS, CLEAR_RESPONSE, DLE_EOT
from printer.escpos_link import device_transport
from printer.status import STATUS_OFFLINE_CAUSE, STATUS_PAPER, STATUS_PRINTER, PrinterStatus, parse_status
from runtime.clock import Clock

log = logging.getLogger(__name__)
T = TypeVar("T")

class PrinterTransport(Protocol):
    """How the print service reaches a printer."""

    async def send(self, data: bytes) -> None:
        """Deliver `data`; PrinterUnreachableError if nothing went out, TransportError midway."""

    async def status(self) -> PrinterStatus:
        """Ask the printer for its real-time status; never raises for an absent printer."""

    async def clear_buffers(self) -> bool:
        """Make the printer drop data it holds but has not printed; True only once it confirmed."""


class NetworkTransport:
    """Raw TCP to a network receipt printer (port 9100), with DLE EOT status on the same socket."""

    def __init__(self, host: str, port: int, timeout_s: float, clock: Clock | None = None) -> None:
        self.host, self.port = host, port
        self._timeout = clock.real_seconds(timeout_s) if clock else timeout_s

    async def _within(self, aw: Awaitable[T]) -> T:
        return await asyncio.wait_for(aw, self._timeout)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            return await self._within(asyncio.open_connection(self.host, self.port))
        except (OSError, TimeoutError) as exc:
            raise PrinterUnreachableError(
                f"printer unreachable at {self.host}:{self.port}: {exc or 'timeout'}"
            ) from exc

    async def _close(self, writer: asyncio.StreamWriter) -> None:
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            await self._within(writer.wait_closed())

    async def _query(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int
    ) -> int:
        writer.write(DLE_EOT + bytes([n]))
        await self._within(writer.drain())
        reply = await self._within(reader.readexactly(1))
        return reply[0]

    async def status(self) -> PrinterStatus:
        """Query DLE EOT 1, 2 and 4; unreachable when the connection fails or a reply is missing."""
        try:
            reader, writer = await self._connect()
        except PrinterUnreachableError as exc:
            log.info("%s", exc)
            return PrinterStatus.unreachable()
        try:
            replies = [
                await self._query(reader, writer, n)
                for n in (STATUS_PRINTER, STATUS_OFFLINE_CAUSE, STATUS_PAPER)
            ]
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            log.info("no status reply from %s:%s: %r", self.host, self.port, exc)
            return PrinterStatus.unreachable()
        finally:
            await self._close(writer)
        return parse_status(*replies)

    async def clear_buffers(self) -> bool:
        """DLE DC4 fn=8, then wait for its clear response."""
        try:
            reader, writer = await self._connect()
        except PrinterUnreachableError as exc:
            log.info("%s", exc)
            return False
        try:
            writer.write(CLEAR_BUFFERS)
            await self._within(writer.drain())
            return await self._within(reader.readexactly(len(CLEAR_RESPONSE))) == CLEAR_RESPONSE
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            log.info("printer at %s:%s did not confirm a buffer clear: %r", self.host, self.port, exc)
            return False
        finally:
            await self._close(writer)

    async def send(self, data: bytes) -> None:
        """Write `data`, then wait for a DLE EOT 1 reply proving the printer took all of it in."""
        reader, writer = await self._connect()
        try:
            writer.write(data)
            await self._within(writer.drain())
            # Replies come in order, so an answer here means every byte before it arrived.
            await self._query(reader, writer, STATUS_PRINTER)
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            raise TransportError(
                f"connection to the printer at {self.host}:{self.port} lost while sending: {exc!r}"
            ) from exc
        finally:
            await self._close(writer)


class FileTransport:
    """Writes to a file or a character device (e.g. /dev/usb/lp0); it cannot read status."""

    def __init__(self, path: Path | str, timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self._timeout = timeout_s

    def _write(self, data: bytes) -> None:
        with self.path.open("ab", buffering=0) as out:
            out.write(data)

    async def send(self, data: bytes) -> None:
        """Append `data` to the file on a worker thread (a device write may block)."""
        try:
            await asyncio.wait_for(asyncio.to_thread(self._write, data), self._timeout)
        except FileNotFoundError as exc:
            raise PrinterUnreachableError(f"printer device {self.path} is absent") from exc
        except (OSError, TimeoutError) as exc:
            raise TransportError(f"cannot write to printer device {self.path}: {exc!r}") from exc

    async def status(self) -> PrinterStatus:
        """Reachable when the file (or a plain file's directory) is writable; status unknown."""
        target = self.path if self.path.exists() else self.path.parent
        is_device_dir = str(self.path).startswith("/dev/")
        reachable = os.access(target, os.W_OK) and (self.path.exists() or not is_device_dir)
        return PrinterStatus(reachable=reachable, online=reachable, supported=False)

    async def clear_buffers(self) -> bool:
        """A file cannot be told to forget what it was given."""
        return False


def make_transport(cfg: PrinterConfig, clock: Clock | None = None) -> PrinterTransport:
    """The transport `cfg` asks for: network, file, or USB and serial through python-escpos."""
    if cfg.backend == "network":
        return NetworkTransport(cfg.host, cfg.port, cfg.timeout_s, clock)
    if cfg.backend == "file":
        if not cfg.device:
            raise PrinterError("[printer] device: the file backend needs a device path")
        return FileTransport(cfg.device, cfg.timeout_s)
    return device_transport(cfg)
