"""IEEE-11073 SFLOAT and FLOAT: published vectors, special values, encoders, and fuzzing."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.errors import ProtocolError
from drivers.ieee11073 import (
    FLOAT_NAN,
    FLOAT_NEGATIVE_INFINITY,
    FLOAT_POSITIVE_INFINITY,
    SFLOAT_NAN,
    SFLOAT_NEGATIVE_INFINITY,
    SFLOAT_POSITIVE_INFINITY,
    decode_float,
    decode_sfloat,
    encode_float,
    encode_float_auto,
    encode_sfloat,
    encode_sfloat_auto,
    read_float,
    read_sfloat,
)


def same(a: float, b: float) -> bool:
    """Equal, counting NaN equal to NaN."""
    return (math.isnan(a) and math.isnan(b)) or a == b


# HL7 FHIR Personal Health Device IG, page "Mder FLOATs and SFLOATs": its table of SFLOAT examples.
HL7_SFLOAT = [
    (0x0002, 2.0),  # exponent 0x0 = 0, mantissa 0x002 = 2 -> 2
    (0xF014, 2.0),  # exponent 0xF = -1, mantissa 0x014 = 20 -> 2.0
    (0xE0C8, 2.0),  # exponent 0xE = -2, mantissa 0x0C8 = 200 -> 2.00
    (0x1002, 20.0),  # exponent 1, mantissa 2 -> 20
    (0x2002, 200.0),  # exponent 2, mantissa 2 -> 200
    (0x00C8, 200.0),  # exponent 0, mantissa 200
    (0x04D2, 1234.0),  # exponent 0, mantissa 0x4D2 = 1234
    (0x0B2E, -1234.0),  # exponent 0, mantissa 0xB2E = 2862 - 4096 = -1234
]

# The same page's FLOAT table (its "FLOAT decimal" column has a typo for 0x01000002; the hex is right).
HL7_FLOAT = [
    (0x00000002, 2.0),  # exponent 0x00 = 0, mantissa 2
    (0xFF000014, 2.0),  # exponent 0xFF = -1, mantissa 0x000014 = 20
    (0xFE0000C8, 2.0),  # exponent -2, mantissa 200
    (0x01000002, 20.0),  # exponent 1, mantissa 2
    (0x02000002, 200.0),  # exponent 2, mantissa 2
    (0x000000C8, 200.0),  # exponent 0, mantissa 200
    (0x000004D2, 1234.0),  # exponent 0, mantissa 1234
    (0x00FFFB2E, -1234.0),  # exponent 0, mantissa 0xFFFB2E = 16775982 - 2**24 = -1234
]


@pytest.mark.parametrize(("raw", "value"), HL7_SFLOAT)
def test_hl7_sfloat_table(raw: int, value: float) -> None:
    assert decode_sfloat(raw) == value


@pytest.mark.parametrize(("raw", "value"), HL7_FLOAT)
def test_hl7_float_table(raw: int, value: float) -> None:
    assert decode_float(raw) == value


# SpeziBluetooth MedFloatTests.testBasicRepresentations: (exponent, mantissa) and the double they give.
@pytest.mark.parametrize(("raw", "value"), [
    (0x307B, 123000.0),  # exponent 3, mantissa 0x07B = 123
    (0xE4D2, 12.34),  # exponent -2, mantissa 1234
    (0x900C, 0.0000012),  # exponent 0x9 = -7, mantissa 12
    (0x04D2, 1234.0),  # exponent 0, mantissa 1234
    (0x3F85, -123000.0),  # exponent 3, mantissa 0xF85 = 3973 - 4096 = -123
    (0xEB2E, -12.34),  # exponent -2, mantissa -1234
    (0x9FF4, -0.0000012),  # exponent -7, mantissa 0xFF4 = -12
])
def test_spezi_medfloat16_representations(raw: int, value: float) -> None:
    assert decode_sfloat(raw) == value
    assert decode_sfloat(encode_sfloat_auto(value)) == value


@pytest.mark.parametrize(("raw", "expected"), [
    (SFLOAT_NAN, math.nan),  # 0x07FF
    (0x0800, math.nan),  # NRes
    (0x0801, math.nan),  # reserved
    (SFLOAT_POSITIVE_INFINITY, math.inf),  # 0x07FE
    (SFLOAT_NEGATIVE_INFINITY, -math.inf),  # 0x0802
])
def test_sfloat_special_values(raw: int, expected: float) -> None:
    assert same(decode_sfloat(raw), expected)


@pytest.mark.parametrize(("raw", "expected"), [
    (FLOAT_NAN, math.nan),  # 0x007FFFFF
    (0x00800000, math.nan),  # NRes
    (0x00800001, math.nan),  # reserved
    (FLOAT_POSITIVE_INFINITY, math.inf),  # 0x007FFFFE
    (FLOAT_NEGATIVE_INFINITY, -math.inf),  # 0x00800002
])
def test_float_special_values(raw: int, expected: float) -> None:
    assert same(decode_float(raw), expected)


def test_special_mantissas_are_numbers_with_another_exponent() -> None:
    assert decode_sfloat(0xF7FF) == 204.7  # exponent -1, mantissa 0x7FF = 2047
    assert decode_sfloat(0x17FE) == 20460.0  # exponent 1, mantissa 2046
    assert decode_sfloat(0xF800) == -204.8  # exponent -1, mantissa 0x800 = -2048
    assert decode_float(0xFF7FFFFF) == 838860.7  # exponent -1, mantissa 8388607


# Nordic Android-BLE-Library DataTest: the bytes its encoder writes, little-endian on the wire.
def test_nordic_encoder_vectors() -> None:
    assert encode_sfloat(10.1).to_bytes(2, "little") == bytes([0x65, 0xF0])  # 101 x 10**-1
    assert encode_sfloat_auto(10.1).to_bytes(2, "little") == bytes([0x65, 0xF0])
    assert encode_float(12345.67).to_bytes(4, "little") == bytes([0x87, 0xD6, 0x12, 0xFE])  # 1234567 x 10**-2
    assert encode_float_auto(12345.67).to_bytes(4, "little") == bytes([0x87, 0xD6, 0x12, 0xFE])
    assert encode_float(1.0, 0).to_bytes(4, "little") == bytes([1, 0, 0, 0])
    assert encode_float_auto(1.0).to_bytes(4, "little") == bytes([1, 0, 0, 0])


# Nordic DataTest round trips through its automatic-exponent encoder; encode_*_auto is ours.
@pytest.mark.parametrize(("given_value", "read_back"), [
    (1.0, 1.0),
    (123.45, 123.5),  # 12345 needs 14 bits: rounds half up to 1235 x 10**-1
    (0.12344, 0.1234),  # 1234 x 10**-4
    (10000000.0, 10000000.0),  # 1000 x 10**4 (exact: 1 x 10**7)
    (1000400.0, 1000000.0),  # 1000 x 10**3: precision cut
    (1000500.0, 1001000.0),  # 1000.5 rounds half up to 1001 x 10**3
])
def test_nordic_sfloat_auto_round_trips(given_value: float, read_back: float) -> None:
    assert decode_sfloat(encode_sfloat_auto(given_value)) == read_back


def test_nordic_float_auto_rounding() -> None:
    assert decode_float(encode_float_auto(1234.5678)) == 1234.568  # 12345678 > 2**23: 1234568 x 10**-3


def test_encoders_map_special_floats_to_codes() -> None:
    assert encode_sfloat(math.nan) == SFLOAT_NAN
    assert encode_sfloat(math.inf) == SFLOAT_POSITIVE_INFINITY
    assert encode_sfloat(-math.inf) == SFLOAT_NEGATIVE_INFINITY
    assert encode_float(math.nan) == FLOAT_NAN
    assert encode_float(math.inf) == FLOAT_POSITIVE_INFINITY
    assert encode_float(-math.inf) == FLOAT_NEGATIVE_INFINITY
    assert encode_sfloat_auto(math.nan) == SFLOAT_NAN
    assert encode_float_auto(-math.inf) == FLOAT_NEGATIVE_INFINITY


def test_auto_encoder_saturates_like_spezi() -> None:
    # SpeziBluetooth MedFloatTests.testLiteralInits: 150000000000 is +infinity as an SFLOAT.
    assert encode_sfloat_auto(150000000000.0) == SFLOAT_POSITIVE_INFINITY
    assert encode_sfloat_auto(-150000000000.0) == SFLOAT_NEGATIVE_INFINITY


def test_auto_encoder_prefers_the_exponents_devices_use() -> None:
    assert encode_sfloat_auto(120.0) == 0x0078  # 120 x 10**0, not 12 x 10**1
    assert encode_sfloat_auto(37.2) == 0xF174  # 372 x 10**-1
    assert encode_float_auto(36.6) == 0xFF00016E  # 366 x 10**-1


def test_explicit_exponent_rounds_half_away_from_zero() -> None:
    assert decode_sfloat(encode_sfloat(36.65)) == 36.7
    assert decode_sfloat(encode_sfloat(-36.65)) == -36.7
    assert decode_float(encode_float(37.125)) == 37.13


@pytest.mark.parametrize("call", [
    lambda: encode_sfloat(5000.0, -1),  # 50000 needs more than 12 bits
    lambda: encode_sfloat(1.0, 8),  # SFLOAT exponents are -8..7
    lambda: encode_float(1.0, 128),  # FLOAT exponents are -128..127
    lambda: encode_sfloat(2047.0, 0),  # 0x07FF with exponent 0 is NaN, not 2047
    lambda: encode_sfloat("12", -1),  # type: ignore[arg-type]
    lambda: decode_sfloat(0x10000),
    lambda: decode_sfloat(-1),
    lambda: decode_float(1 << 32),
    lambda: decode_sfloat(1.5),  # type: ignore[arg-type]
])
def test_misuse_is_a_protocol_error(call: Callable[[], object]) -> None:
    with pytest.raises(ProtocolError):
        call()


def test_readers_name_the_field_and_offset() -> None:
    assert read_sfloat(b"\x00\x65\xF0", 1) == 10.1
    assert read_float(bytes([0xB0, 0x0E, 0x00, 0xFE]), 0) == 37.6  # 3760 x 10**-2
    with pytest.raises(ProtocolError, match=r"systolic: a SFLOAT needs 2 bytes at offset 2"):
        read_sfloat(b"\x00\x01\x02", 2, "systolic")
    with pytest.raises(ProtocolError, match="offset -1"):
        read_float(b"\x00" * 8, -1)


sfloat_raws = st.integers(0, 0xFFFF)
float_raws = st.integers(0, 0xFFFFFFFF)


@given(sfloat_raws)
def test_every_sfloat_value_survives_auto_encoding(raw: int) -> None:
    value = decode_sfloat(raw)
    assert same(decode_sfloat(encode_sfloat_auto(value)), value)


@given(float_raws)
def test_every_float_value_survives_auto_encoding(raw: int) -> None:
    value = decode_float(raw)
    assert same(decode_float(encode_float_auto(value)), value)


@given(st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(10**400), 10**400))
def test_auto_encoders_accept_any_number(value: float) -> None:
    assert 0 <= encode_sfloat_auto(value) <= 0xFFFF
    assert 0 <= encode_float_auto(value) <= 0xFFFFFFFF


@given(st.floats(allow_nan=True, allow_infinity=True), st.integers(-300, 300))
def test_explicit_encoders_raise_only_protocol_errors(value: float, exponent: int) -> None:
    for encode, bits in ((encode_sfloat, 16), (encode_float, 32)):
        try:
            assert 0 <= encode(value, exponent) < 1 << bits
        except ProtocolError:
            pass


@given(st.integers(-(2**40), 2**40) | st.floats() | st.none() | st.text())
def test_decoders_raise_only_protocol_errors(raw: object) -> None:
    for decode in (decode_sfloat, decode_float):
        try:
            decode(raw)  # type: ignore[arg-type]
        except ProtocolError:
            pass


@given(st.binary(max_size=8), st.integers(-4, 12))
def test_readers_raise_only_protocol_errors(data: bytes, offset: int) -> None:
    for read in (read_sfloat, read_float):
        try:
            read(data, offset)
        except ProtocolError:
            pass
