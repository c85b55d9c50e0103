"""Health Thermometer Service (0x1809): the Temperature Measurement characteristic (0x2A1C)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from drivers.gatt_common import DateTime, Reader, pack_float, pack_uint

# HTS 1.0 and the GATT Specification Supplement (GSS), Temperature Measurement: flags; bits 3-7 reserved.
_FAHRENHEIT: Final = 0x01
_TIMESTAMP: Final = 0x02
_TYPE: Final = 0x04

# HTS 1.0 / GSS Temperature Type; the names match devices.measurements.TemperatureSite.
TEMPERATURE_TYPES: Final[dict[int, str]] = {
    1: "armpit",
    2: "body",
    3: "ear",
    4: "finger",
    5: "gastrointestinal",
    6: "mouth",
    7: "rectum",
    8: "toe",
    9: "tympanum",
}


@dataclass(frozen=True, slots=True)
class TemperatureMeasurement:
    """Temperature Measurement (0x2A1C): a FLOAT in °C or °F, with optional time stamp and body site."""

    value: float
    fahrenheit: bool = False
    timestamp: DateTime | None = None
    temperature_type: int | None = None

    @classmethod
    def parse(cls, data: bytes) -> TemperatureMeasurement:
        """Decode a Temperature Measurement value."""
        reader = Reader(data, "Temperature Measurement")
        flags = reader.uint(1, "flags")
        value = reader.float32("temperature")
        timestamp = reader.date_time("time stamp") if flags & _TIMESTAMP else None
        temperature_type = reader.uint(1, "temperature type") if flags & _TYPE else None
        reader.finish()
        return cls(value, bool(flags & _FAHRENHEIT), timestamp, temperature_type)

    def __bytes__(self) -> bytes:
        flags = (_FAHRENHEIT if self.fahrenheit else 0) | (_TIMESTAMP if self.timestamp is not None else 0)
        flags |= _TYPE if self.temperature_type is not None else 0
        parts = [pack_uint(flags, 1, "flags"), pack_float(self.value)]
        if self.timestamp is not None:
            parts.append(bytes(self.timestamp))
        if self.temperature_type is not None:
            parts.append(pack_uint(self.temperature_type, 1, "temperature type"))
        return b"".join(parts)

    @property
    def celsius(self) -> float:
        """The temperature in degrees Celsius."""
        return (self.value - 32.0) * 5.0 / 9.0 if self.fahrenheit else self.value

    @property
    def site(self) -> str | None:
        """The body site name, or None when absent or a reserved code."""
        return None if self.temperature_type is None else TEMPERATURE_TYPES.get(self.temperature_type)

    def json_extras(self) -> dict[str, object]:
        """Derived values for ``cabin decode``."""
        return {"celsius": self.celsius, "site": self.site}
