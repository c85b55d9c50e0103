"""Fuzz the ESC/POS reader the simulated printer uses: framing (`item_length`), `decode_receipts`, `disassemble`.

The decoder is pure and documents no error: whatever bytes arrive on the simulated printer's socket,
it must not raise (an exception there kills the printer's connection task). Besides, every framed
item has the same length when followed by other bytes, and the items never overrun the input.
"""

from __future__ import annotations

import atheris

from fuzz._harness import main

with atheris.instrument_imports(include=["printer.escpos_commands", "sim.receipt"]):
    from printer.escpos_commands import CLEAR_BUFFERS, codepage_table, disassemble, item_length, iter_items
    from sim.receipt import decode_receipts

NAME = "escpos"
PROFILE = "TM-T88V"  # the simulated printer's default profile
CODEPAGES = codepage_table(PROFILE)

_QR_DATA = b"https://example.org/rx/0123"
_RECEIPT = b"".join((
    b"\x1b@", b"\x1bt\x13", b"\x1ba\x01", b"\x1bE\x01", "Ordonnance".encode("cp858"), b"\n", b"\x1bE\x00",
    b"\x1d!\x11", b"Dr Martin\n", b"\x1d!\x00", b"\x1b-\x01", b"souligne\n", b"\x1b-\x00", b"\x1b3\x18",
    b"\tcol\n", b"\x1bd\x02", b"\x1bJ\x10", b"\x1b!\x38", b"gras double\n", b"\x1b!\x00", b"\x1dB\x01", b"inverse\n",
    b"\x1dB\x00", b"\x1bM\x01", b"\x1b2",
    b"\x1d(k\x04\x001A2\x00", b"\x1d(k\x03\x001C\x06", b"\x1d(k\x03\x001E1",
    b"\x1d(k" + (len(_QR_DATA) + 3).to_bytes(2, "little") + b"1P0" + _QR_DATA, b"\x1d(k\x03\x001Q0",
    b"\x1dh\x50", b"\x1dw\x02", b"\x1dH\x02", b"\x1df\x00", b"\x1dkI\x0b{B12345{C\x0c\x22", b"\x1dk\x04ABC-1\x00",
    b"\x1dv0\x00\x02\x00\x02\x00\xf0\x0f\x0f\xf0",
    b"\x1b*\x21\x02\x00" + bytes(range(6)), b"\x1b*\x00\x03\x00\x81\x42\x24",
    b"\x1d(L\x0b\x000p0\x01\x011\x08\x00\x01\x00\xaa", b"\x1d(L\x02\x0002",
    b"\x10\x04\x01", b"\x10\x04\x04", b"\x1bD\x08\x10\x00", b"\x1cp\x01\x00", b"\x1d8L\x01\x00\x00\x00\x30",
    b"\x1dVB\x00", b"after the cut\n", CLEAR_BUFFERS, b"\x1bi",
))
SEEDS = (_RECEIPT, _RECEIPT[:200] + _RECEIPT[-40:])
MAX_LEN = 1024  # a text run or an image costs a Python loop per byte: longer inputs run slowly
DICTIONARY = (b"\x1b@", b"\x1bt", b"\x1ba", b"\x1bE", b"\x1b!", b"\x1b*", b"\x1bD", b"\x1d(k", b"\x1d(L",
              b"\x1d8L", b"\x1dv0", b"\x1dk", b"\x1dH", b"\x1dV", b"\x1d!", b"\x10\x04", b"\x10\x14", CLEAR_BUFFERS)


def _framing(data: bytes) -> None:
    consumed = 0
    for item in iter_items(data):
        consumed += len(item)
        # Items delimit themselves: what follows (here NULs; a short item may need to see a byte more)
        # does not change where one ends.
        alone = item_length(item + bytes(8))
        if not item or consumed > len(data) or alone != len(item):
            raise AssertionError(f"item {item.hex()} at offset {consumed - len(item)}: alone it is {alone} long")


def TestOneInput(data: bytes) -> None:
    """Decode one byte stream as the simulated printer would; nothing may come out."""
    _framing(data)
    for receipt in decode_receipts(data, CODEPAGES):
        _ = receipt.text, receipt.styled(bold=True), receipt.qr_codes, receipt.barcodes, receipt.images
    disassemble(data, CODEPAGES)


if __name__ == "__main__":
    main(NAME, TestOneInput, seeds=SEEDS, dictionary=DICTIONARY, max_len=MAX_LEN)
