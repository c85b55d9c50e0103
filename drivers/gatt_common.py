"""Pieces the GATT health records share: a bounds-checked reader, field packers, Date Time, flag names.

Every error raised here is a ``ProtocolError`` whose message names the record, the field and the offset.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Final

from drivers.errors import ProtocolError
from drivers.ieee11073 import decode_float, decode_sfloat, encode_float_auto, encode_sfloat_auto

# Date Time (0x2A08), GATT Specification Supplement: the valid range of each part; 0 means unknown
# for year, month and day.
_DATE_TIME_PARTS: Final = (
    ("year", 2, range(1582, 10000)),
    ("month", 1, range(1, 13)),
    ("day", 1, range(1, 32)),
    ("hours", 1, range(0, 24)),
    ("minutes", 1, range(0, 60)),
    ("seconds", 1, range(0, 60)),
)
_MAY_BE_UNKNOWN: Final = frozenset({"year", "month", "day"})


def _as_bytes(data: object, record: str) -> bytes:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ProtocolError(f"{record}: expected bytes, got {type(data).__name__}")
    return bytes(data)


class Reader:
    """A cursor over one payload; each read names its field so a short payload says what is missing."""

    __slots__ = ("_data", "_offset", "record")

    def __init__(self, data: bytes, record: str) -> None:
        self._data = _as_bytes(data, record)
        self._offset = 0
        self.record = record

    @property
    def offset(self) -> int:
        """Where the next field starts."""
        return self._offset

    def take(self, size: int, field: str) -> bytes:
        """The next ``size`` bytes, or a ProtocolError naming ``field`` when the payload is too short."""
        start = self._offset
        if start + size > len(self._data):
            raise ProtocolError(f"{self.record}: {field} needs {size} byte(s) at offset {start}, "
                                f"but the payload is {len(self._data)} byte(s) long")
        self._offset = start + size
        return self._data[start:self._offset]

    def rest(self) -> bytes:
        """Every byte not read yet."""
        rest, self._offset = self._data[self._offset:], len(self._data)
        return rest

    def uint(self, size: int, field: str) -> int:
        """A little-endian unsigned integer of ``size`` bytes."""
        return int.from_bytes(self.take(size, field), "little")

    def sfloat(self, field: str) -> float:
        """An IEEE-11073 16-bit SFLOAT."""
        return decode_sfloat(self.uint(2, field))

    def float32(self, field: str) -> float:
        """An IEEE-11073 32-bit FLOAT."""
        return decode_float(self.uint(4, field))

    def date_time(self, field: str) -> DateTime:
        """A 7-byte Date Time whose parts are checked against their ranges."""
        values: dict[str, int] = {}
        for name, size, valid in _DATE_TIME_PARTS:
            at = self._offset
            value = self.uint(size, f"{field} {name}")
            if value not in valid and not (value == 0 and name in _MAY_BE_UNKNOWN):
                raise ProtocolError(f"{self.record}: {field} {name} {value} at offset {at} is outside "
                                    f"{valid.start}..{valid.stop - 1}")
            values[name] = value
        return DateTime(**values)

    def finish(self) -> None:
        """Check that nothing follows the last field."""
        extra = len(self._data) - self._offset
        if extra:
            raise ProtocolError(f"{self.record}: {extra} unexpected byte(s) at offset {self._offset} "
                                f"after the last field")


def pack_uint(value: int, size: int, field: str) -> bytes:
    """``value`` as ``size`` little-endian bytes, or a ProtocolError naming ``field`` when it does not fit."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << (8 * size):
        raise ProtocolError(f"{field} {value!r} does not fit an unsigned {8 * size}-bit field")
    return value.to_bytes(size, "little")


def pack_sfloat(value: float) -> bytes:
    """``value`` as an SFLOAT, exact whenever an SFLOAT can hold it."""
    return encode_sfloat_auto(value).to_bytes(2, "little")


def pack_float(value: float) -> bytes:
    """``value`` as a FLOAT, exact whenever a FLOAT can hold it."""
    return encode_float_auto(value).to_bytes(4, "little")


@dataclass(frozen=True, slots=True)
class DateTime:
    """Date Time (0x2A08): device wall-clock time, no zone; year, month or day 0 means unknown."""

    year: int
    month: int
    day: int
    hours: int = 0
    minutes: int = 0
    seconds: int = 0

    SIZE: ClassVar[int] = 7

    @classmethod
    def parse(cls, data: bytes) -> DateTime:
        """Decode a 7-byte Date Time characteristic value."""
        reader = Reader(data, "Date Time")
        value = reader.date_time("date time")
        reader.finish()
        return value

    @classmethod
    def from_datetime(cls, moment: datetime) -> DateTime:
        """The Date Time of a wall-clock moment (any time zone is dropped, as the device would)."""
        return cls(moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)

    def __bytes__(self) -> bytes:
        return b"".join(pack_uint(getattr(self, name), size, f"date time {name}")
                        for name, size, _ in _DATE_TIME_PARTS)

    def to_datetime(self) -> datetime | None:
        """The naive local datetime, or None when year, month or day is unknown or the date does not exist."""
        if not (self.year and self.month and self.day):
            return None
        try:
            return datetime(self.year, self.month, self.day, self.hours, self.minutes, self.seconds)
        except ValueError:  # 31 February: every part in range, the date still impossible
            return None


def bits_to_names(value: int, names: Mapping[int, str]) -> frozenset[str]:
    """The names of the set bits that ``names`` knows (bit number -> name); reserved bits are dropped."""
    return frozenset(name for bit, name in names.items() if value >> bit & 1)


def names_to_bits(flags: Iterable[str], names: Mapping[int, str], field: str) -> int:
    """The integer with the named bits set, or a ProtocolError for a name ``names`` does not have."""
    bits = {name: bit for bit, name in names.items()}
    value = 0
    for name in flags:
        if name not in bits:
            raise ProtocolError(f"{field}: unknown flag {name!r}; known: {', '.join(sorted(bits))}")
        value |= 1 << bits[name]
    return value


def _json_number(value: float) -> float | str | None:
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def to_jsonable(value: object) -> object:
    """JSON-ready: records as objects plus json_extras(), Date Time as ISO (else its parts), NaN null, ±inf "inf"."""
    if isinstance(value, DateTime):
        moment = value.to_datetime()
        if moment is not None:
            return moment.isoformat()
        return {name: (getattr(value, name) or None) if name in _MAY_BE_UNKNOWN else getattr(value, name)
                for name, _, _ in _DATE_TIME_PARTS}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        result = {field.name: to_jsonable(getattr(value, field.name)) for field in dataclasses.fields(value)}
        extras = getattr(value, "json_extras", None)
        if callable(extras):
            result.update({key: to_jsonable(item) for key, item in extras().items()})
        return result
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return _json_number(value)
    if isinstance(value, frozenset | set):
        return sorted(to_jsonable(item) for item in value)  # type: ignore[type-var]
    if isinstance(value, Mapping):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [to_jsonable(item) for item in value]
    return repr(value)
