"""Fuzz IEEE 11073 SFLOAT/FLOAT: bytes at any offset, any raw code and any number raise only ProtocolError.

Input layout (atheris' FuzzedDataProvider takes integers from the end): the last byte is the read
offset (-4..60), the one before it an encoder exponent (-128..127), the rest the payload.
"""

from __future__ import annotations

import math
import struct

import atheris

from fuzz._harness import main
from fuzz._oracles import canon

with atheris.instrument_imports(include=["drivers"]):
    from drivers import ieee11073
    from drivers.errors import ProtocolError

NAME = "ieee11073"
_READERS = (
    (ieee11073.read_sfloat, ieee11073.decode_sfloat, ieee11073.encode_sfloat_auto, 16),
    (ieee11073.read_float, ieee11073.decode_float, ieee11073.encode_float_auto, 32),
)
_ENCODERS = ((ieee11073.encode_sfloat, 16), (ieee11073.encode_float, 32))


def _seed(payload: bytes, offset: int, exponent: int) -> bytes:
    return payload + bytes([exponent + 128, offset + 4])


SEEDS = (
    _seed(bytes([0x72, 0xF1]), 0, -1),  # SFLOAT 0xF172: 370 x 10**-1 = 37.0
    _seed(bytes([0x00, 0x6F, 0x01, 0x00, 0xFF]), 1, -1),  # FLOAT 0xFF00016F: 367 x 10**-1, behind a flags byte
    _seed(bytes([0xFF, 0x07, 0xFE, 0x07, 0x02, 0x08]), 2, 0),  # SFLOAT NaN, +INF, -INF
    _seed(bytes([0xFF, 0xFF, 0x7F, 0x00, 0xFE, 0xFF, 0x7F, 0x00]), 4, 7),  # FLOAT NaN, +INF
    _seed(bytes([0xBD, 0xF0, 0x0B, 0x00, 0x9F, 0xF0]), 4, -2),  # three SFLOATs from a cuff
)


def _readers(payload: bytes, offset: int) -> None:
    for read, decode, encode_auto, bits in _READERS:
        try:
            value = read(payload, offset)
        except ProtocolError:
            continue
        # The documented round trip: the auto encoder gives back a code for exactly this value.
        code = encode_auto(value)
        if not 0 <= code < 1 << bits or canon(decode(code)) != canon(value):
            raise AssertionError(f"{read.__name__} read {value!r}, which encodes to {code:#x} = {decode(code)!r}")


def _raw_codes(payload: bytes) -> None:
    raw = int.from_bytes(payload[:5], "little", signed=True)
    for _, decode, _, _ in _READERS:
        try:
            decode(raw)
        except ProtocolError:
            pass


def _numbers(payload: bytes) -> list[float]:
    # Every double bit pattern (NaN, infinities, subnormals), and integers beyond the float range.
    double = struct.unpack("<d", payload[:8].ljust(8, b"\x00"))[0]
    huge = int.from_bytes(payload[8:168], "little", signed=True)
    return [double, huge]


def _is_nan(value: float) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _encoders(payload: bytes, exponent: int) -> None:
    for value in _numbers(payload):
        for encode, bits in _ENCODERS:
            try:
                code = encode(value, exponent)
            except ProtocolError:
                continue
            if not 0 <= code < 1 << bits:
                raise AssertionError(f"{encode.__name__}({value!r}, {exponent}) = {code:#x}")
        for _, decode, encode_auto, bits in _READERS:
            code = encode_auto(value)  # a number always has a code: ±INF when too large
            if not 0 <= code < 1 << bits or (math.isnan(decode(code)) and not _is_nan(value)):
                raise AssertionError(f"{encode_auto.__name__}({value!r}) = {code:#x}")


def TestOneInput(data: bytes) -> None:
    """Read, decode and encode numbers from one input; only ProtocolError may come out."""
    fdp = atheris.FuzzedDataProvider(data)
    offset = fdp.ConsumeIntInRange(-4, 60)
    exponent = fdp.ConsumeIntInRange(-128, 127)
    payload = fdp.ConsumeBytes(fdp.remaining_bytes())
    _readers(payload, offset)
    _raw_codes(payload)
    _encoders(payload, exponent)


if __name__ == "__main__":
    main(NAME, TestOneInput, seeds=SEEDS)
