"""The simulated receipt printer: incremental parsing, status bytes, faults, buffer clear, PNGs, real TCP."""

from __future__ import annotations

import asyncio
from pathlib import Path

import cv2
import numpy as np

from config.schema import PrinterConfig
from printer.escpos_commands import CLEAR_BUFFERS, CLEAR_RESPONSE
from printer.layout import render_documents, render_prescription
from printer.status import parse_status, valid_status_byte
from printer.transport import NetworkTransport
from sim.printer import SimPrinter
from tests.test_printer_document import sample_prescription


def test_feeding_byte_by_byte_gives_the_same_receipts() -> None:
    documents = render_documents(sample_prescription(), PrinterConfig())
    sim = SimPrinter()
    buf = bytearray()
    for byte in b"".join(documents):
        buf.append(byte)
        assert sim.feed(buf) == b""
    assert list(sim.receipts) == documents and not buf
    assert [r.cut for r in sim.decoded] == ["full"] * 3


def test_status_queries_are_answered_inside_the_stream_and_not_printed() -> None:
    sim = SimPrinter()
    replies = sim.feed(b"\x1b@hello\n\x10\x04\x01world\n\x10\x04\x04\x1dV\x00")
    assert replies == bytes([0x12, 0x12])
    assert list(sim.receipts) == [b"\x1b@hello\nworld\n\x1dV\x00"]
    assert sim.decoded[0].text == "hello\nworld\n"
    assert sim.status_queries == 2


def test_status_bytes_follow_the_fault_switches() -> None:
    sim = SimPrinter()
    assert [sim.status_byte(n) for n in (1, 2, 4)] == [0x12, 0x12, 0x12]
    assert parse_status(0x12, 0x12, 0x12).problem is None
    sim.paper_near_end = True
    assert sim.status_byte(4) == 0x1E
    assert parse_status(0x12, 0x12, 0x1E).paper_near_end
    sim.paper_out = True
    assert [sim.status_byte(n) for n in (1, 2, 4)] == [0x1A, 0x32, 0x7E]
    assert parse_status(0x1A, 0x32, 0x7E).problem == "paper out"
    sim.paper_out, sim.cover_open = False, True
    assert [sim.status_byte(n) for n in (1, 2)] == [0x1A, 0x16]
    assert parse_status(0x1A, 0x16, 0x1E).problem == "cover open"
    sim.cover_open, sim.offline = False, True
    assert parse_status(sim.status_byte(1), sim.status_byte(2), 0x12).problem == "printer offline"
    sim.offline, sim.error = False, True
    assert parse_status(sim.status_byte(1), sim.status_byte(2), 0x12).problem_code == "printer_error"
    assert all(valid_status_byte(sim.status_byte(n)) for n in (1, 2, 4))


def test_malformed_status_reply_is_an_error_not_ok() -> None:
    assert not valid_status_byte(0x00)
    assert parse_status(0x00, 0x12, 0x12).problem == "printer error"


def test_data_waits_while_paper_is_out_and_prints_when_paper_is_loaded() -> None:
    sim = SimPrinter()
    sim.paper_out = True
    assert sim.feed(b"waiting\n\x1dV\x00\x10\x04\x04") == b"\x7e"  # status still answered at once
    assert list(sim.receipts) == [] and sim.held == b"waiting\n\x1dV\x00"
    sim.paper_out = False
    assert list(sim.receipts) == [b"waiting\n\x1dV\x00"] and sim.held == b""


def test_buffer_clear_drops_what_waits_and_answers() -> None:
    sim = SimPrinter()
    sim.paper_remaining = 10
    assert sim.feed(b"first line\nsecond line\n\x1dV\x00") == b""
    assert sim.paper_out and sim.partials == [b"first line"] and sim.held == b"\nsecond line\n\x1dV\x00"
    assert sim.feed(CLEAR_BUFFERS) == CLEAR_RESPONSE and sim.buffer_clears == 1
    sim.paper_remaining, sim.paper_out = None, False
    assert list(sim.receipts) == [] and sim.held == b""  # nothing of that job prints any more


def test_decoding_follows_the_profile_of_the_printer() -> None:
    sim = SimPrinter(profile="POS-5890", paper_width_mm=58)
    sim.feed(b"\x1b@\x1bt\x35caf\x82\n\x1dV\x00")  # CP858 is page 53 on this clone
    assert sim.decoded[0].text == "café\n" and sim.dots == 384


async def test_status_over_tcp_and_silence_is_unreachable() -> None:
    sim = SimPrinter()
    await sim.start()
    try:
        transport = NetworkTransport("127.0.0.1", sim.port, timeout_s=1.0)
        assert (await transport.status()).problem is None
        sim.cover_open = True
        assert (await transport.status()).problem == "cover open"
        assert await transport.clear_buffers()
        sim.silent = True
        quick = NetworkTransport("127.0.0.1", sim.port, timeout_s=0.2)
        status = await quick.status()
        assert not status.reachable and status.problem == "printer unreachable"
        assert not await quick.clear_buffers()
    finally:
        await sim.stop()
        await sim.stop()


async def test_each_receipt_is_drawn_to_a_png_a_scanner_can_read(tmp_path: Path) -> None:
    rx = sample_prescription()
    sim = SimPrinter(png_dir=tmp_path / "receipts")
    await sim.start()
    try:
        await NetworkTransport("127.0.0.1", sim.port, timeout_s=2.0).send(render_prescription(rx, PrinterConfig()))
        pngs = await sim.drawn()
    finally:
        await sim.stop()
    assert [p.name for p in pngs] == ["receipt-0001.png", "receipt-0002.png", "receipt-0003.png"]
    image = cv2.imread(str(pngs[0]), cv2.IMREAD_GRAYSCALE)
    assert isinstance(image, np.ndarray) and image.shape[1] == sim.dots + 48
    assert cv2.QRCodeDetector().detectAndDecode(image)[0] == rx.number


async def test_stop_drops_open_connections() -> None:
    sim = SimPrinter()
    await sim.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
    writer.write(b"\x10\x04\x01")
    assert await reader.readexactly(1) == b"\x12"
    await asyncio.wait_for(sim.stop(), 2)
    assert await asyncio.wait_for(reader.read(), 2) == b""
    writer.close()
