"""The printer I/O seam: send bytes, ask for real-time status.

Status uses the ESC/POS real-time command DLE EOT n (10 04 n), n = 1 printer, 2 offline
cause, 4 roll paper sensor; each reply is one byte with bits 1 and 4 set and bits 0 and 7
clear. No reply means the printer is unreachable: never read silence as "OK" (python-escpos's
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
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from config.schema import PrinterConfig
from printer.errors import PrinterError, TransportError
from printer.escpos_commands import CLEAR_BUFFERS, CLEAR_RESPONSE
from runtime.clock import Clock

log = logging.getLogger(__name__)
T = TypeVar("T")

DLE_EOT = b"\x10\x04"
STATUS_PRINTER, STATUS_OFFLINE_CAUSE, STATUS_PAPER = 1, 2, 4
_FIXED_MASK, _FIXED_BITS = 0x93, 0x12  # bits 0,1,4,7 must read 0,1,1,0


PROBLEMS: dict[str, str] = {
    "unreachable": "printer unreachable", "cover_open": "cover open", "paper_out": "paper out",
    "printer_error": "printer error", "printer_offline": "printer offline",
}


class PrinterUnreachableError(TransportError):
    """No connection could be made: nothing was sent, so nothing was printed."""


@dataclass(frozen=True)
class PrinterStatus:
    """The printer's real-time state; `supported` is False when the backend cannot ask."""

    reachable: bool
    online: bool = False
    cover_open: bool = False
    paper_near_end: bool = False
    paper_end: bool = False
    error: bool = False
    supported: bool = True

    @classmethod
    def unreachable(cls) -> PrinterStatus:
        """The status of a printer that did not answer."""
        return cls(reachable=False)

    @property
    def problem_code(self) -> str | None:
        """Why nothing should be sent now, as a stable code for screens to translate, or None."""
        if not self.reachable:
            return "unreachable"
        if self.cover_open:
            return "cover_open"
        if self.paper_end:
            return "paper_out"
        if self.error:
            return "printer_error"
        if not self.online:
            return "printer_offline"
        return None

    @property
    def problem(self) -> str | None:
        """Why nothing should be sent now, in plain words, or None when the printer is ready."""
        code = self.problem_code
        return None if code is None else PROBLEMS[code]

    def to_json(self) -> dict[str, object]:
        """The status as the technician's screen shows it."""
        return {
            "reachable": self.reachable, "online": self.online, "cover_open": self.cover_open,
            "paper_near_end": self.paper_near_end, "paper_end": self.paper_end, "error": self.error,
            "supported": self.supported, "problem": self.problem_code,
        }


def valid_status_byte(value: int) -> bool:
    """Whether `value` has the fixed bits of every DLE EOT reply (bits 1, 4 set; 0, 7 clear)."""
    return value & _FIXED_MASK == _FIXED_BITS


def parse_status(printer: int, offline_cause: int, paper: int) -> PrinterStatus:
    """Decode the replies to DLE EOT 1, 2 and 4 (ESC/POS real-time status)."""
    if not all(valid_status_byte(b) for b in (printer, offline_cause, paper)):
        log.warning("malformed status reply %02x %02x %02x", printer, offline_cause, paper)
        return PrinterStatus(reachable=True, error=True)
    return PrinterStatus(
        reachable=True,
        online=not printer & 0x08,
        cover_open=bool(offline_cause & 0x04),
        error=bool(offline_cause & 0x40),
        paper_near_end=paper & 0x0C == 0x0C,
        paper_end=paper & 0x60 == 0x60 or bool(offline_cause & 0x20),
    )


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
    from printer.escpos_link import device_transport  # it builds on this module

    return device_transport(cfg)
