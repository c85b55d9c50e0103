"""USB and serial printers through python-escpos: a serial printer on a pty, a USB printer behind a fake link."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime

import pytest
from escpos.exceptions import DeviceNotFoundError

from config.schema import PrinterConfig
from printer.errors import PrinterUnreachableError, TransportError
from printer.escpos_link import DeviceTransport
from printer.layout import render_documents
from printer.service import PrintService
from printer.transport import make_transport
from runtime.clock import PARIS, Clock
from runtime.storage import Database
from sim.printer import SimPrinter
from tests.test_printer_document import sample_prescription

START = datetime(2025, 1, 14, 10, 30, tzinfo=PARIS)


@dataclass
class SerialPrinter:
    """A simulated printer answering on the master side of a pty; `path` is the printer's port."""

    sim: SimPrinter
    path: str


@pytest.fixture
async def serial_printer() -> AsyncIterator[SerialPrinter]:
    master, slave = os.openpty()
    sim = SimPrinter()
    buf = bytearray()
    loop = asyncio.get_running_loop()

    def readable() -> None:
        try:
            buf.extend(os.read(master, 4096))
        except OSError:
            return
        if replies := sim.feed(buf):
            os.write(master, replies)

    loop.add_reader(master, readable)
    try:
        yield SerialPrinter(sim, os.ttyname(slave))
    finally:
        loop.remove_reader(master)
        os.close(master)
        os.close(slave)


def _serial(path: str, timeout_s: float = 1.0) -> PrinterConfig:
    return PrinterConfig(backend="serial", device=path, baudrate=38400, timeout_s=timeout_s)


async def test_serial_printer_status_send_and_clear(serial_printer: SerialPrinter) -> None:
    transport = make_transport(_serial(serial_printer.path))
    assert isinstance(transport, DeviceTransport)
    assert (await transport.status()).problem is None
    serial_printer.sim.cover_open = True
    assert (await transport.status()).problem == "cover open"
    serial_printer.sim.cover_open = False
    await transport.send(b"\x1b@hello\n\x1dV\x00")
    assert serial_printer.sim.decoded[-1].text == "hello\n"
    assert await transport.clear_buffers() and serial_printer.sim.buffer_clears == 1


async def test_a_prescription_prints_once_over_serial(serial_printer: SerialPrinter, db: Database) -> None:
    cfg = _serial(serial_printer.path, timeout_s=2.0)
    service = PrintService(db, make_transport(cfg), cfg, Clock(start=START))
    await service.start()
    rx = sample_prescription()
    outcome = await service.print_prescription("s1", rx)
    assert outcome.printed and list(serial_printer.sim.receipts) == render_documents(rx, cfg)
    assert [q.payload for r in serial_printer.sim.decoded for q in r.qr_codes] == [rx.number] * 3
    serial_printer.sim.paper_out = True
    failed = await service.print_prescription("s1", sample_prescription("NAN231-20250114-SECOND00"))
    assert failed.error == "paper out" and failed.bytes_sent == 0


async def test_an_absent_serial_port_is_unreachable(tmp_path: object) -> None:
    transport = make_transport(_serial("/dev/no-such-printer-tty"))
    assert (await transport.status()).problem == "printer unreachable"
    with pytest.raises(PrinterUnreachableError, match="serial /dev/no-such-printer-tty"):
        await transport.send(b"x")
    assert not await transport.clear_buffers()


async def test_an_absent_usb_printer_is_unreachable_in_one_line() -> None:
    transport = make_transport(PrinterConfig(backend="usb", usb_vendor=0x04B8, usb_product=0x0E27, timeout_s=1.0))
    assert (await transport.status()).problem == "printer unreachable"
    with pytest.raises(PrinterUnreachableError, match="USB 04b8:0e27 unreachable") as caught:
        await transport.send(b"x")
    assert "\n" not in str(caught.value)


@dataclass
class FakeUsb:
    """A USB link to a simulated printer: writes feed it, reads return its replies."""

    sim: SimPrinter
    fail_open: bool = False
    fail_write_after: int | None = None
    opened: int = 0
    closed: int = 0
    _replies: bytearray = field(default_factory=bytearray)

    def open(self) -> None:
        if self.fail_open:
            raise DeviceNotFoundError("Unable to open USB printer")
        self.opened += 1

    def write(self, data: bytes) -> None:
        if self.fail_write_after is not None:
            if self.fail_write_after == 0:
                raise OSError(5, "Input/output error")
            self.fail_write_after -= 1
        self._replies += self.sim.feed(data)

    def read(self, size: int) -> bytes:
        out = bytes(self._replies[:size])
        del self._replies[:size]
        return out

    def close(self) -> None:
        self.closed += 1


async def test_usb_link_is_opened_and_closed_around_each_operation() -> None:
    link = FakeUsb(SimPrinter())
    transport = DeviceTransport(lambda: link, "USB 04b8:0e27", timeout_s=1.0)
    assert (await transport.status()).problem is None
    await transport.send(b"\x1b@ok\n\x1dV\x00")
    assert link.sim.decoded[-1].text == "ok\n" and link.opened == link.closed == 2
    link.sim.paper_near_end = True
    assert (await transport.status()).paper_near_end


async def test_usb_faults_are_unreachable_before_and_transport_errors_during() -> None:
    absent = FakeUsb(SimPrinter(), fail_open=True)
    transport = DeviceTransport(lambda: absent, "USB 04b8:0e27", timeout_s=1.0)
    assert not (await transport.status()).reachable
    with pytest.raises(PrinterUnreachableError):
        await transport.send(b"x")
    unplugged = FakeUsb(SimPrinter(), fail_write_after=0)
    with pytest.raises(TransportError, match="write failed"):
        await DeviceTransport(lambda: unplugged, "USB 04b8:0e27", timeout_s=1.0).send(b"x")
    silent = FakeUsb(SimPrinter())
    silent.sim.silent = True
    with pytest.raises(TransportError, match="did not acknowledge"):
        await DeviceTransport(lambda: silent, "USB 04b8:0e27", timeout_s=1.0).send(b"x\n")
    assert not (await DeviceTransport(lambda: silent, "USB", timeout_s=1.0).status()).reachable
