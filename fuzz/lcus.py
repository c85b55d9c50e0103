"""Fuzz the LCUS relay protocol: parse, check_packet and the Framer fed in chunks.

Input layout: the stream is read from the front in chunks whose sizes (1..8) come from the end.
Contract: only ProtocolError; besides, a parsed command encodes back to the very same 4 bytes, every
frame the Framer returns parses, and framing does not depend on chunking.
"""

from __future__ import annotations

import atheris

from fuzz._harness import main
from fuzz._oracles import check_framing, check_packet_result

with atheris.instrument_imports(include=["drivers"]):
    from drivers import lcus
    from drivers.errors import ProtocolError

NAME = "lcus"
MAX_CHUNK = 2 * lcus.FRAME_LENGTH

# Frames from jarwyg/USB_RELAY as in tests/test_drivers_lcus.py: channel 1 on and off, channel 2 on.
ON_1 = bytes.fromhex("a00101a2")
OFF_1 = bytes.fromhex("a00100a1")
ON_2 = bytes.fromhex("a00201a3")


def _seed(stream: bytes, chunk: int = lcus.FRAME_LENGTH) -> bytes:
    return stream + bytes([chunk - 1]) * -(-len(stream) // chunk)


SEEDS = (
    _seed(ON_1),
    _seed(ON_1 + OFF_1 + ON_2),
    _seed(bytes.fromhex("00ffa0a00101a2a00101a3a00100a1"), 3),
)


def _parse(data: bytes) -> lcus.RelayCommand | None:
    try:
        command = lcus.parse(data)
    except ProtocolError:
        return None
    if bytes(command) != data:
        raise AssertionError(f"{data.hex()} parsed as {command!r}, which encodes to {bytes(command).hex()}")
    return command


def TestOneInput(data: bytes) -> None:
    """Frame and parse one stream; only ProtocolError may come out."""
    fdp = atheris.FuzzedDataProvider(data)
    chunks = []
    while fdp.remaining_bytes():
        chunks.append(fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, MAX_CHUNK)))
    check_packet_result(lcus.check_packet, data[:lcus.FRAME_LENGTH], lcus.FRAME_LENGTH)
    _parse(data[:lcus.FRAME_LENGTH])
    _parse(data)
    for frame in check_framing(lcus.Framer, lcus.check_packet, chunks):
        if _parse(frame) is None:
            raise AssertionError(f"the Framer returned {frame.hex()}, which does not parse")


if __name__ == "__main__":
    main(NAME, TestOneInput, seeds=SEEDS)
