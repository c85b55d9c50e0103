"""The simulated receipt printer: incremental parsing, status bytes, decoding, real TCP."""

from __future__ import annotations

import asyncio

import pytest

from config.schema import PrinterConfig
from printer.layout import render_prescription
from printer.transport import NetworkTransport, parse_status, valid_status_byte
from sim.printer import SimPrinter, decode_text, item_length, qr_payloads
from tests.test_printer_document import sample_prescription


@pytest.mark.parametrize(
    ("data", "length"),
    [
        (b"", None),
        (b"\x1b", None),
        (b"\x1b@", 2),
        (b"\x1bt", None),
        (b"\x1bt\x13", 3),
        (b"\x1dV\x00", 3),
        (b"\x1dVA", None),
        (b"\x1dVA\x10", 4),
        (b"\x1d(k\x03\x00", None),
        (b"\x1d(k\x03\x001Q0", 8),
        (b"\x10\x04", None),
        (b"\x10\x04\x01", 3),
        (b"\n", 1),
        (b"abc\xe9\ndef", 4),
    ],
)
def test_item_length_says_need_more_or_length(data: bytes, length: int | None) -> None:
    assert item_length(data) == length


def test_feeding_byte_by_byte_gives_the_same_receipt() -> None:
    data = render_prescription(sample_prescription(), PrinterConfig())
    sim = SimPrinter()
    buf = bytearray()
    for byte in data:
        buf.append(byte)
        assert sim.feed(buf) == b""
    assert list(sim.receipts) == [data] and not buf


def test_status_queries_are_answered_inside_the_stream_and_not_printed() -> None:
    sim = SimPrinter()
    replies = sim.feed(b"\x1b@hello\n\x10\x04\x01world\n\x10\x04\x04\x1dV\x00")
    assert replies == bytes([0x12, 0x12])
    assert list(sim.receipts) == [b"\x1b@hello\nworld\n\x1dV\x00"]
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
    assert all(valid_status_byte(sim.status_byte(n)) for n in (1, 2, 4))


def test_malformed_status_reply_is_an_error_not_ok() -> None:
    assert not valid_status_byte(0x00)
    assert parse_status(0x00, 0x12, 0x12).problem == "printer error"


def test_paper_out_discards_print_data() -> None:
    sim = SimPrinter()
    sim.paper_out = True
    assert sim.feed(b"lost\n\x1dV\x00\x10\x04\x04") == b"\x7e"
    assert list(sim.receipts) == []


def test_decode_text_follows_the_selected_code_page() -> None:
    receipt = b"\x1b@\x1bt\x13Caf\x82 5 \xd5\n\x1bE\x01gras\x1bE\x00\n\x1dV\x00"
    assert decode_text(receipt) == "Café 5 €\ngras\n"
    assert decode_text(b"\x1bt\x10caf\xe9\n") == "café\n"
    assert decode_text(b"\x82\n", "CP858") == "é\n"
    assert qr_payloads(b"\x1d(k\x06\x001P0ABC\x1d(k\x03\x001Q0") == ["ABC"]


async def test_status_over_tcp_and_silence_is_unreachable() -> None:
    sim = SimPrinter()
    await sim.start()
    try:
        transport = NetworkTransport("127.0.0.1", sim.port, timeout_s=1.0)
        assert (await transport.status()).problem is None
        sim.cover_open = True
        assert (await transport.status()).problem == "cover open"
        sim.silent = True
        quick = NetworkTransport("127.0.0.1", sim.port, timeout_s=0.2)
        status = await quick.status()
        assert not status.reachable and status.problem == "printer unreachable"
    finally:
        await sim.stop()
        await sim.stop()


async def test_stop_drops_open_connections() -> None:
    sim = SimPrinter()
    await sim.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
    writer.write(b"\x10\x04\x01")
    assert await reader.readexactly(1) == b"\x12"
    await asyncio.wait_for(sim.stop(), 2)
    assert await asyncio.wait_for(reader.read(), 2) == b""
    writer.close()
