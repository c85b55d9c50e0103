"""Fuzz the RDM6300 badge reader protocol: check_packet, BadgeRead, the Framer fed in chunks, the Debouncer.

Input layout: the stream is read from the front in chunks whose sizes (1..28) come from the end.
Contract: only ProtocolError; besides, framing does not depend on chunking and accounts for every
byte, a parsed read round-trips, and the debouncer takes any sequence of reads.
"""

from __future__ import annotations

import atheris

from fuzz._harness import main
from fuzz._oracles import check_framing, check_packet_result, check_round_trip

with atheris.instrument_imports(include=["drivers"]):
    from drivers import rdm6300
    from drivers.errors import ProtocolError

NAME = "rdm6300"
MAX_CHUNK = 2 * rdm6300.FRAME_LENGTH

# Frames from the datasheet and the `rdm6300` package's tests (tests/test_drivers_rdm6300.py).
DATASHEET = b"\x02" + b"62E3086CED" + b"08" + b"\x03"
LIBRARY = b"\x02" + b"67003B51C6" + b"CB" + b"\x03"
LIBRARY_2 = b"\x02" + b"67003BA86C" + b"98" + b"\x03"
LOWER_CASE = b"\x0262e3086ced08\x03"


def _seed(stream: bytes, chunk: int = rdm6300.FRAME_LENGTH) -> bytes:
    return stream + bytes([chunk - 1]) * -(-len(stream) // chunk)


SEEDS = (
    _seed(DATASHEET),
    _seed(DATASHEET * 3 + LIBRARY),
    _seed(b"\x00\xff" + DATASHEET + DATASHEET[:9] + LIBRARY + b"noise" + LIBRARY_2, 5),
    _seed(LOWER_CASE + b"\x02" + b"68003B51C6" + b"CB" + b"\x03"),
)


def _read(frame: bytes) -> rdm6300.BadgeRead | None:
    try:
        read = rdm6300.BadgeRead.parse(frame)
    except ProtocolError:
        return None
    check_round_trip(rdm6300.BadgeRead.parse, read)
    _ = read.version, read.card_number
    return read


def _raw(data: bytes) -> None:
    check_packet_result(rdm6300.check_packet, data[:rdm6300.FRAME_LENGTH], rdm6300.FRAME_LENGTH)
    _read(data[:rdm6300.FRAME_LENGTH])
    try:
        rdm6300.BadgeRead(data[1:11].decode("latin-1"))
    except ProtocolError:
        pass


def TestOneInput(data: bytes) -> None:
    """Frame, parse and debounce one stream; only ProtocolError may come out."""
    fdp = atheris.FuzzedDataProvider(data)
    chunks = []
    while fdp.remaining_bytes():
        chunks.append(fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, MAX_CHUNK)))
    _raw(data)
    debouncer = rdm6300.Debouncer()
    for index, frame in enumerate(check_framing(rdm6300.Framer, rdm6300.check_packet, chunks)):
        read = _read(frame)
        if read is not None:
            debouncer.feed(read.tag_id, index * 0.3)  # a read every 0.3 s: some repeats, some new


if __name__ == "__main__":
    main(NAME, TestOneInput, seeds=SEEDS)
