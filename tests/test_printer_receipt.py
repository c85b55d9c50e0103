"""The ESC/POS decoder on recorded byte vectors, the decoding written beside each one."""

from __future__ import annotations

import zlib

import pytest
from barcode import Code128  # type: ignore[import-untyped]

from printer.errors import LayoutError
from printer.escpos_commands import codepage_table, disassemble, item_length, python_codec
from printer.symbols import code128_modules, code128_values
from sim.receipt import (
    Align,
    Barcode,
    Feed,
    QrCode,
    Raster,
    Run,
    Style,
    TextLine,
    code128_text,
    decode_receipts,
    decode_text,
)


@pytest.mark.parametrize(
    ("data", "length"),
    [
        (b"", None),
        (b"\x1b", None),
        (b"\x1b@", 2),  # ESC @ initialise
        (b"\x1bt", None),
        (b"\x1bt\x13", 3),  # ESC t 19 select code page
        (b"\x1dV\x00", 3),  # GS V 0 full cut
        (b"\x1dVA", None),
        (b"\x1dVA\x10", 4),  # GS V 65 n: feed n and cut
        (b"\x1d(k\x03\x00", None),
        (b"\x1d(k\x03\x001Q0", 8),  # GS ( k pL=3 pH=0 cn fn m: print the QR symbol
        (b"\x10\x04", None),
        (b"\x10\x04\x01", 3),  # DLE EOT 1 status
        (b"\x10\x04\x07\x01", 4),  # DLE EOT 7 a carries one more byte
        (b"\x10\x14\x08\x01\x03\x14\x01\x06\x02\x08", 10),  # DLE DC4 fn=8 clear buffers
        (b"\x1b*\x21\x02\x00" + bytes(6), 11),  # ESC * 24-dot, 2 columns of 3 bytes
        (b"\x1b*\x00\x02\x00\xff", None),  # 8-dot, 2 columns: one byte still missing
        (b"\x1dv0\x00\x01\x00\x02\x00\x80\x01", 10),  # GS v 0: 1 byte wide, 2 rows
        (b"\x1dk\x04ABC\x00", 7),  # GS k function A: NUL-terminated
        (b"\x1dkI\x03{B1", 7),  # GS k function B: length byte
        (b"\x1d8L\x02\x00\x00\x0000", 9),  # GS 8 L: 32-bit length
        (b"\x1bD\x08\x10\x00", 5),  # ESC D tab stops, NUL-terminated
        (b"\n", 1),
        (b"abc\xe9\ndef", 4),  # a text run ends at the first control byte
    ],
)
def test_item_length_says_need_more_or_length(data: bytes, length: int | None) -> None:
    assert item_length(data) == length


def test_text_styles_alignment_and_code_page() -> None:
    receipt_bytes = (
        b"\x1b@"  # ESC @
        b"\x1bt\x13"  # ESC t 19: CP858 on Epson's table
        b"\x1ba\x01"  # ESC a 1: centre
        b"\x1bE\x01Caf\x82\n"  # bold, "Café" (0x82 is é in CP858)
        b"\x1bE\x00\x1d!\x115 \xd5\n"  # not bold, GS ! 0x11 double width and height, "5 €" (0xD5 is €)
        b"\x1d!\x00\x1ba\x02\x1b-\x01droite\n"  # normal size, right, underlined
        b"\x1bd\x03"  # ESC d 3: feed three lines
        b"\x1dV\x00"  # GS V 0: full cut
    )
    [receipt] = decode_receipts(receipt_bytes)
    assert receipt.cut == "full" and receipt.unknown == ()
    assert receipt.blocks == (
        TextLine((Run("Café", Style(bold=True)),), Align.CENTER),
        TextLine((Run("5 €", Style(width=2, height=2)),), Align.CENTER),
        TextLine((Run("droite", Style(underline=1)),), Align.RIGHT),
        Feed(90),
    )
    assert receipt.text == "Café\n5 €\ndroite\n"
    assert receipt.styled(bold=True) == ["Café"] and receipt.lines[1].height == 2


def test_esc_bang_sets_every_mode_and_esc_at_resets_them() -> None:
    # ESC ! 0x38: emphasized (bit 3), double height (bit 4), double width (bit 5)
    data = b"\x1b!\x38GROS\n\x1b@petit\n"
    receipt = decode_receipts(data)[0]
    assert receipt.lines[0].runs == (Run("GROS", Style(bold=True, width=2, height=2)),)
    assert receipt.lines[1].runs == (Run("petit", Style()),)
    assert receipt.cut is None  # nothing cut it yet


def test_alignment_applies_from_the_start_of_a_line() -> None:
    # ESC a in the middle of a line waits for the next one, as on Epson printers
    receipt = decode_receipts(b"ab\x1ba\x01cd\nef\n")[0]
    assert [(line.text, line.align) for line in receipt.lines] == [("abcd", Align.LEFT), ("ef", Align.CENTER)]


def test_native_qr_code_sequence() -> None:
    data = (
        b"\x1ba\x01"
        b"\x1d(k\x04\x001A2\x00"  # fn 65: model 2
        b"\x1d(k\x03\x001C\x05"  # fn 67: module 5 dots
        b"\x1d(k\x03\x001E1"  # fn 69: error correction M (49)
        b"\x1d(k\x06\x001P0ABC"  # fn 80: store "ABC" (pL = 3 + len)
        b"\x1d(k\x03\x001Q0"  # fn 81: print
    )
    [receipt] = decode_receipts(data)
    assert receipt.qr_codes == [QrCode("ABC", module=5, ec="M", model=2, align=Align.CENTER)]


def test_barcodes_code128_sets_and_function_a() -> None:
    data = (
        b"\x1dh\x30\x1dw\x02\x1dH\x02"  # height 48, module 2, HRI below
        b"\x1dkI\x0d{B10101234567"  # GS k 73 (CODE128) n=13, code set B
        b"\x1dkI\x05{C\x0c\x22\x38"  # set C: 12 34 56
        b"\x1dk\x02401234567890\x00"  # function A, m=2: EAN13, NUL-terminated
    )
    barcodes = decode_receipts(data)[0].barcodes
    assert barcodes[0] == Barcode("CODE128", b"{B10101234567", "10101234567", 48, 2, "below", Align.LEFT)
    assert barcodes[1].text == "123456"
    assert (barcodes[2].symbology, barcodes[2].text) == ("EAN13", "401234567890")
    assert code128_text(b"{Ba{{b") == "a{b"


def test_bit_images_raster_column_and_graphics() -> None:
    raster = b"\x1dv0\x00\x01\x00\x02\x00\x80\x01"  # 8 dots wide, 2 rows: dot 0 then dot 7
    column = b"\x1b*\x21\x01\x00\x80\x00\x01"  # 24-dot, 1 column: dots 0 and 23
    graphics = (
        b"\x1d(L\x0b\x000p0\x01\x011\x08\x00\x01\x00\xf0"  # fn 112: store 8 x 1, a=48 bx=1 by=1 c=49
        b"\x1d(L\x02\x0002"  # fn 50: print it
    )
    images = decode_receipts(raster + column + graphics)[0].images
    assert images[0] == Raster(8, 2, b"\x80\x01", Align.LEFT)
    assert (images[1].width, images[1].height) == (8, 24)
    assert images[1].data[0] == 0x80 and images[1].data[23] == 0x80 and images[1].scale_x == 1
    assert images[2] == Raster(8, 1, b"\xf0", Align.LEFT)


def test_code_pages_come_from_the_printer_profile() -> None:
    # POS-5890 (a 58 mm clone) numbers CP858 as 53, not 19 as Epson does
    assert codepage_table("POS-5890")[53] == "cp858"
    assert codepage_table("TM-T88V")[19] == "cp858"
    assert decode_text(b"\x1bt\x35\x82\n", codepage_table("POS-5890")) == "é\n"
    assert decode_text(b"\x1bt\x10caf\xe9\n") == "café\n"  # 16: WPC1252
    assert python_codec("CP858") == "cp858" and python_codec("TCVN-3-1") is None


def test_unknown_commands_are_listed_not_printed() -> None:
    [receipt] = decode_receipts(b"\x1bz\x01ok\n\x1dV\x01")
    assert receipt.text == "ok\n" and receipt.unknown == ("ESC z",) and receipt.cut == "partial"


# Inputs the escpos fuzz harness (fuzz/escpos.py) found crashing the decoder with an IndexError.
@pytest.mark.parametrize(
    ("command", "name"),
    [
        (b"\x1dH\x34", "GS H"),  # GS H n: HRI position is n = 0-3 or 48-51 only
        (b"\x1d(k\x00\x00", "GS ( k"),  # pL + pH*256 = 0: not even cn and fn
        (b"\x1d(L\x00\x00", "GS ( L"),  # likewise
    ],
)
def test_malformed_gs_commands_are_unknown_and_decoding_goes_on(command: bytes, name: str) -> None:
    [receipt] = decode_receipts(command + b"after\n\x1dV\x01")
    assert receipt.unknown == (name,)
    assert receipt.text == "after\n" and receipt.cut == "partial"


def test_fuzz_findings_together_leave_the_following_receipt_intact() -> None:
    data = b"\x1dH\x34\x1d(k\x00\x00\x1d(L\x00\x00ok\n\x1dV\x00" b"next\n\x1dV\x01"
    first, second = decode_receipts(data)
    assert first.unknown == ("GS H", "GS ( k", "GS ( L")
    assert first.text == "ok\n" and first.cut == "full"
    assert second.unknown == () and second.text == "next\n" and second.cut == "partial"


@pytest.mark.parametrize(("n", "hri"), [(0, "none"), (3, "both"), (48, "none"), (50, "below"), (51, "both")])
def test_gs_h_accepts_both_ranges(n: int, hri: str) -> None:
    [receipt] = decode_receipts(bytes([0x1D, ord("H"), n]) + b"\x1dk\x04ABC\x00")
    assert receipt.unknown == () and receipt.barcodes[0].hri == hri


def test_disassembly_names_commands_and_decodes_text() -> None:
    image_args = b"\x00\x04\x00\x08\x00" + bytes(32)  # m, xL xH (4 bytes), yL yH (8 rows), data
    lines = disassemble(b"\x1b@\x1bt\x13\x82t\x82\n\x1dv0" + image_args)
    assert lines == [
        "ESC @", "ESC t 19", "TEXT 'été'", "LF",
        f"GS v 0 [37 bytes crc32={zlib.crc32(image_args):08x}]",
    ]


def test_code128_matches_an_independent_encoder() -> None:
    for text in ("PJJ123C", "Wikipedia", "TEST-NAN231"):
        assert code128_modules(b"{B" + text.encode()) == Code128(text).build()[0]
    assert code128_modules(b"{C\x0c\x22\x38") == Code128("123456").build()[0]
    # check symbol: (104 + 1x48 + 2x42 + 3x42 + 4x17 + 5x18 + 6x19 + 7x35) mod 103 = 55
    assert code128_values(b"{BPJJ123C") == [104, 48, 42, 42, 17, 18, 19, 35]
    with pytest.raises(LayoutError, match="must start"):
        code128_values(b"123")
    with pytest.raises(LayoutError, match="set C"):
        code128_values(b"{C\x64")
