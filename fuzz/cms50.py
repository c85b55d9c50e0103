"""Fuzz the CMS50D+/E protocol: check_packet, restore, the packet parsers and the Framer fed in chunks.

Input layout: the stream is read from the front in chunks whose sizes (1..18) come from the end, so
a recorded stream followed by a few size bytes is a valid seed. Contract: only ProtocolError;
besides, the Framer's output does not depend on how the stream was chunked, accounts for every
byte, and every packet it returns restores cleanly; a parsed real-time sample round-trips.
"""

from __future__ import annotations

import atheris

from fuzz._harness import main
from fuzz._oracles import check_framing, check_packet_result, check_round_trip

with atheris.instrument_imports(include=["drivers"]):
    from drivers import cms50
    from drivers.errors import ProtocolError

NAME = "cms50"
MAX_CHUNK = 2 * cms50.MAX_FRAME

# Real-time packets recorded from a CMS50D+ and a CMS50E (tests/test_drivers_cms50.py), the PC's
# commands, and a device-id answer.
STARTUP = bytes.fromhex("01e08480908080ffff")
BEAT = bytes.fromhex("01e0c5c999d3e1ffff")
AFTER_BEAT = bytes.fromhex("01e085c598d3e1ffff")
CMS50E = bytes.fromhex("01e0849392bce3ffff")
START = bytes.fromhex("7d81a1808080808080")
DEVICE_ID = cms50.device_id_packet("CMS50E")


def _seed(stream: bytes, chunk: int = cms50.MAX_FRAME) -> bytes:
    """`stream` cut into `chunk`-byte reads: one size byte per read, read back to front."""
    reads = -(-len(stream) // chunk)
    return stream + bytes([chunk - 1]) * reads


SEEDS = (
    _seed(STARTUP),
    _seed(BEAT + AFTER_BEAT + CMS50E),
    _seed(BEAT + b"\xff\xfe\x13" + BEAT[:4] + AFTER_BEAT + CMS50E, 5),
    _seed(START + DEVICE_ID + bytes.fromhex("0c80") + bytes.fromhex("0d8081")),
    _seed(bytes.fromhex("018bf7ff8fc8dfd981") * 3, 4),
)
_PARSERS = (cms50.RealtimeSample.parse, cms50.parse_command, cms50.parse_device_id)


def _chunks(data: bytes) -> list[bytes]:
    fdp = atheris.FuzzedDataProvider(data)
    chunks = []
    while fdp.remaining_bytes():
        size = fdp.ConsumeIntInRange(1, MAX_CHUNK)
        chunks.append(fdp.ConsumeBytes(size))  # empty when the size byte was the last one: a legal feed()
    return chunks


def _parse(packet: bytes) -> None:
    for parse in _PARSERS:
        try:
            value = parse(packet)
        except ProtocolError:
            continue
        if isinstance(value, cms50.RealtimeSample):
            check_round_trip(cms50.RealtimeSample.parse, value)


def _raw(data: bytes) -> None:
    check_packet_result(cms50.check_packet, data[:cms50.MAX_FRAME], cms50.MAX_FRAME)
    try:
        cms50.restore(data[:cms50.MAX_FRAME + 2])
    except ProtocolError:
        pass
    _parse(data[:cms50.MAX_FRAME + 1])


def TestOneInput(data: bytes) -> None:
    """Frame and parse one stream; only ProtocolError may come out."""
    _raw(data)
    for packet in check_framing(cms50.Framer, cms50.check_packet, _chunks(data)):
        cms50.restore(packet)  # check_packet vouched for the sync bits: no ProtocolError here
        _parse(packet)


if __name__ == "__main__":
    main(NAME, TestOneInput, seeds=SEEDS)
