"""IEEE 11073-20601 SFLOAT (16-bit) and FLOAT (32-bit) numbers, as the Bluetooth health services carry them.

A value is ``mantissa x 10**exponent`` with both parts signed (two's complement): SFLOAT has a 4-bit
exponent over a 12-bit mantissa, FLOAT an 8-bit exponent over a 24-bit mantissa (IEEE 11073-20601 MDER
SFLOAT-Type and FLOAT-Type, as restated by the HL7 PHD implementation guide page "Mder FLOATs and SFLOATs"
and the Bluetooth PHD transcoding white paper). Five mantissas with a
zero exponent are reserved: NaN, NRes (not at this resolution), +INF, -INF and one reserved code.
NaN, NRes and the reserved code decode to ``math.nan``, the infinities to ``±math.inf``.
Every error this module raises is a ``ProtocolError``.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

from drivers.errors import ProtocolError

# The special values (MDER): these mantissas with a zero exponent.
SFLOAT_NAN: Final = 0x07FF
SFLOAT_NRES: Final = 0x0800
SFLOAT_POSITIVE_INFINITY: Final = 0x07FE
SFLOAT_NEGATIVE_INFINITY: Final = 0x0802
SFLOAT_RESERVED: Final = 0x0801
FLOAT_NAN: Final = 0x007FFFFF
FLOAT_NRES: Final = 0x00800000
FLOAT_POSITIVE_INFINITY: Final = 0x007FFFFE
FLOAT_NEGATIVE_INFINITY: Final = 0x00800002
FLOAT_RESERVED: Final = 0x00800001


class _Format:
    """The shape of one of the two number types and its special codes."""

    __slots__ = ("name", "mantissa_bits", "exponent_bits", "size", "mantissa_mask", "exponent_range",
                 "nan", "positive_infinity", "negative_infinity", "specials")

    def __init__(self, name: str, mantissa_bits: int, exponent_bits: int, nan: int, nres: int,
                 positive_infinity: int, negative_infinity: int, reserved: int) -> None:
        self.name = name
        self.mantissa_bits = mantissa_bits
        self.exponent_bits = exponent_bits
        self.size = (mantissa_bits + exponent_bits) // 8
        self.mantissa_mask = (1 << mantissa_bits) - 1
        half = 1 << (exponent_bits - 1)
        self.exponent_range = range(-half, half)
        self.nan = nan
        self.positive_infinity = positive_infinity
        self.negative_infinity = negative_infinity
        self.specials: dict[int, float] = {
            nan: math.nan, nres: math.nan, reserved: math.nan,
            positive_infinity: math.inf, negative_infinity: -math.inf,
        }


_SFLOAT: Final = _Format("SFLOAT", 12, 4, SFLOAT_NAN, SFLOAT_NRES, SFLOAT_POSITIVE_INFINITY,
                         SFLOAT_NEGATIVE_INFINITY, SFLOAT_RESERVED)
_FLOAT: Final = _Format("FLOAT", 24, 8, FLOAT_NAN, FLOAT_NRES, FLOAT_POSITIVE_INFINITY,
                        FLOAT_NEGATIVE_INFINITY, FLOAT_RESERVED)


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


def _scale(mantissa: int, exponent: int) -> float:
    # Integer arithmetic, then one correctly rounded division: 1234 x 10**-2 gives exactly 12.34.
    power: int = 10 ** abs(exponent)
    return float(mantissa * power) if exponent >= 0 else mantissa / power


def _decode(raw: int, fmt: _Format) -> float:
    bits = fmt.mantissa_bits + fmt.exponent_bits
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw < 1 << bits:
        raise ProtocolError(f"{fmt.name} raw value {raw!r} is not an unsigned {bits}-bit integer")
    mantissa_bits = raw & fmt.mantissa_mask
    exponent_bits = raw >> fmt.mantissa_bits
    if exponent_bits == 0 and mantissa_bits in fmt.specials:
        return fmt.specials[mantissa_bits]
    return _scale(_signed(mantissa_bits, fmt.mantissa_bits), _signed(exponent_bits, fmt.exponent_bits))


def decode_sfloat(raw: int) -> float:
    """The value of a 16-bit SFLOAT given as an unsigned integer (already assembled little-endian)."""
    return _decode(raw, _SFLOAT)


def decode_float(raw: int) -> float:
    """The value of a 32-bit FLOAT given as an unsigned integer (already assembled little-endian)."""
    return _decode(raw, _FLOAT)


def _read(data: bytes, offset: int, fmt: _Format, field: str) -> float:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ProtocolError(f"{field}: expected bytes, got {type(data).__name__}")
    chunk = bytes(data[offset:offset + fmt.size]) if isinstance(offset, int) and offset >= 0 else b""
    if len(chunk) != fmt.size:
        raise ProtocolError(f"{field}: a {fmt.name} needs {fmt.size} bytes at offset {offset}, "
                            f"the payload has {len(data)}")
    return _decode(int.from_bytes(chunk, "little"), fmt)


def read_sfloat(data: bytes, offset: int, field: str = "SFLOAT") -> float:
    """The SFLOAT stored little-endian at ``offset``; ``field`` names it in the error when bytes are missing."""
    return _read(data, offset, _SFLOAT, field)


def read_float(data: bytes, offset: int, field: str = "FLOAT") -> float:
    """The FLOAT stored little-endian at ``offset``; ``field`` names it in the error when bytes are missing."""
    return _read(data, offset, _FLOAT, field)


def _as_float(value: float, fmt: _Format) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProtocolError(f"cannot encode {value!r} as a {fmt.name}: not a number")
    try:
        return float(value)
    except OverflowError:  # an int beyond the float range
        return math.inf if value > 0 else -math.inf


def _special_code(value: float, fmt: _Format) -> int | None:
    if math.isnan(value):
        return fmt.nan
    if math.isinf(value):
        return fmt.positive_infinity if value > 0 else fmt.negative_infinity
    return None


def _fits(mantissa: int, exponent: int, fmt: _Format) -> bool:
    half = 1 << (fmt.mantissa_bits - 1)
    if not -half <= mantissa < half or exponent not in fmt.exponent_range:
        return False
    # With a zero exponent the five special mantissas mean something else.
    return exponent != 0 or (mantissa & fmt.mantissa_mask) not in fmt.specials


def _pack(mantissa: int, exponent: int, fmt: _Format) -> int:
    exponent_mask = (1 << fmt.exponent_bits) - 1
    return ((exponent & exponent_mask) << fmt.mantissa_bits) | (mantissa & fmt.mantissa_mask)


def _rounded_mantissa(value: float, exponent: int) -> int:
    # repr() is the shortest decimal that reads back as this float, so 123.45 rounds as the decimal 123.45.
    return int(Decimal(repr(value)).scaleb(-exponent).to_integral_value(rounding=ROUND_HALF_UP))


def _encode(value: float, exponent: int, fmt: _Format) -> int:
    value = _as_float(value, fmt)
    special = _special_code(value, fmt)
    if special is not None:
        return special
    if isinstance(exponent, bool) or not isinstance(exponent, int) or exponent not in fmt.exponent_range:
        raise ProtocolError(f"{fmt.name} exponent {exponent!r} is outside "
                            f"{fmt.exponent_range.start}..{fmt.exponent_range.stop - 1}")
    mantissa = _rounded_mantissa(value, exponent)
    if not _fits(mantissa, exponent, fmt):
        raise ProtocolError(f"{value!r} does not fit a {fmt.name} with exponent {exponent} "
                            f"(mantissa {mantissa} needs more than {fmt.mantissa_bits} bits)")
    return _pack(mantissa, exponent, fmt)


def encode_sfloat(value: float, exponent: int = -1) -> int:
    """The SFLOAT code of ``value`` rounded (half away from zero) at ``exponent``; nan and ±inf give their codes."""
    return _encode(value, exponent, _SFLOAT)


def encode_float(value: float, exponent: int = -2) -> int:
    """The FLOAT code of ``value`` rounded (half away from zero) at ``exponent``; nan and ±inf give their codes."""
    return _encode(value, exponent, _FLOAT)


def _exact(value: float, fmt: _Format) -> int | None:
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)  # finite values only reach here
    mantissa = int("".join(map(str, digits))) * (-1 if sign else 1)
    top = fmt.exponent_range.stop - 1
    if exponent > top:  # 1e10 as an SFLOAT is 1000 x 10**7
        mantissa, exponent = mantissa * 10 ** (exponent - top), top
    # Devices send 120 mmHg as 120 x 10**0, not 12 x 10**1: prefer the smallest exponent down to zero.
    while exponent > 0 and _fits(mantissa * 10, exponent - 1, fmt):
        mantissa, exponent = mantissa * 10, exponent - 1
    return _pack(mantissa, exponent, fmt) if _fits(mantissa, exponent, fmt) else None


def _encode_auto(value: float, fmt: _Format) -> int:
    value = _as_float(value, fmt)
    special = _special_code(value, fmt)
    if special is not None:
        return special
    exact = _exact(value, fmt)
    if exact is not None:
        return exact
    # No exact form: the smallest exponent whose rounded mantissa fits keeps the most precision.
    digits = len(str(1 << (fmt.mantissa_bits - 1)))
    first = max(fmt.exponent_range.start, Decimal(repr(value)).adjusted() - digits)
    for exponent in range(first, fmt.exponent_range.stop):
        mantissa = _rounded_mantissa(value, exponent)
        if _fits(mantissa, exponent, fmt):
            return _pack(mantissa, exponent, fmt)
    return fmt.positive_infinity if value > 0 else fmt.negative_infinity


def encode_sfloat_auto(value: float) -> int:
    """The SFLOAT code that keeps the most precision: exact when one exists, else rounded; too large gives ±INF."""
    return _encode_auto(value, _SFLOAT)


def encode_float_auto(value: float) -> int:
    """The FLOAT code that keeps the most precision: exact when one exists, else rounded; too large gives ±INF."""
    return _encode_auto(value, _FLOAT)
