"""Weight Scale Service (0x181D): Weight Measurement (0x2A9D) and Weight Scale Feature (0x2A9E)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from drivers.errors import ProtocolError
from drivers.gatt_common import DateTime, Reader, pack_uint

# WSS 1.0 / GSS Weight Measurement flags; bits 4-7 reserved.
_IMPERIAL: Final = 0x01
_TIMESTAMP: Final = 0x02
_USER: Final = 0x04
_BMI_HEIGHT: Final = 0x08

# GSS Weight Measurement field units: weight 0.005 kg or 0.01 lb, BMI 0.1 kg/m2, height 0.001 m or 0.1 in.
# Division by the inverse keeps each decoded value the correctly rounded decimal (raw 4640 -> 23.2 kg).
_PER_KG: Final = 200
_PER_LB: Final = 100
_PER_BMI: Final = 10
_PER_M: Final = 1000
_PER_IN: Final = 10
KG_PER_LB: Final = 0.45359237
M_PER_IN: Final = 0.0254
WEIGHT_UNSUCCESSFUL: Final = 0xFFFF

# WSS 1.0 / GSS Weight Scale Feature, bits 3-6: weight resolution code -> (kg, lb); 0 = not specified.
WEIGHT_RESOLUTIONS: Final[dict[int, tuple[float, float]]] = {
    1: (0.5, 1.0),
    2: (0.2, 0.5),
    3: (0.1, 0.2),
    4: (0.05, 0.1),
    5: (0.02, 0.05),
    6: (0.01, 0.02),
    7: (0.005, 0.01),
}
# Bits 7-9: height resolution code -> (m, in); 0 = not specified.
HEIGHT_RESOLUTIONS: Final[dict[int, tuple[float, float]]] = {
    1: (0.01, 1.0),
    2: (0.005, 0.5),
    3: (0.001, 0.1),
}


def _scaled(value: float, per_unit: int, field: str, size: int = 2) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise ProtocolError(f"{field} {value!r} is not a finite number")
    try:
        raw = round(value * per_unit)
    except OverflowError as exc:
        raise ProtocolError(f"{field} {value!r} is not a finite number") from exc
    return pack_uint(raw, size, field)


@dataclass(frozen=True, slots=True)
class WeightMeasurement:
    """Weight Measurement (0x2A9D): raw weight in 0.005 kg or 0.01 lb steps, None when the weighing failed."""

    weight_raw: int | None
    imperial: bool = False
    timestamp: DateTime | None = None
    user_id: int | None = None
    bmi: float | None = None
    height: float | None = None

    @classmethod
    def parse(cls, data: bytes) -> WeightMeasurement:
        """Decode a Weight Measurement value (3 to 15 bytes)."""
        reader = Reader(data, "Weight Measurement")
        flags = reader.uint(1, "flags")
        raw = reader.uint(2, "weight")
        timestamp = reader.date_time("time stamp") if flags & _TIMESTAMP else None
        user_id = reader.uint(1, "user id") if flags & _USER else None
        bmi = height = None
        if flags & _BMI_HEIGHT:
            bmi = reader.uint(2, "BMI") / _PER_BMI
            height = reader.uint(2, "height") / (_PER_IN if flags & _IMPERIAL else _PER_M)
        reader.finish()
        weight_raw = None if raw == WEIGHT_UNSUCCESSFUL else raw
        return cls(weight_raw, bool(flags & _IMPERIAL), timestamp, user_id, bmi, height)

    @classmethod
    def from_kg(cls, kg: float, timestamp: DateTime | None = None, user_id: int | None = None,
                bmi: float | None = None, height_m: float | None = None) -> WeightMeasurement:
        """An SI measurement of ``kg`` rounded to the 5 g step, as a simulated scale would send it."""
        raw = int.from_bytes(_scaled(kg, _PER_KG, "weight"), "little")
        return cls(raw, False, timestamp, user_id, bmi, height_m)

    def __bytes__(self) -> bytes:
        if (self.bmi is None) != (self.height is None):
            raise ProtocolError("Weight Measurement: BMI and height travel together; give both or neither")
        if self.weight_raw == WEIGHT_UNSUCCESSFUL:
            raise ProtocolError("Weight Measurement: weight_raw 0xFFFF means unsuccessful; use None")
        flags = (_IMPERIAL if self.imperial else 0) | (_TIMESTAMP if self.timestamp is not None else 0)
        flags |= (_USER if self.user_id is not None else 0) | (_BMI_HEIGHT if self.bmi is not None else 0)
        raw = WEIGHT_UNSUCCESSFUL if self.weight_raw is None else self.weight_raw
        parts = [pack_uint(flags, 1, "flags"), pack_uint(raw, 2, "weight")]
        if self.timestamp is not None:
            parts.append(bytes(self.timestamp))
        if self.user_id is not None:
            parts.append(pack_uint(self.user_id, 1, "user id"))
        if self.bmi is not None and self.height is not None:
            parts.append(_scaled(self.bmi, _PER_BMI, "BMI"))
            parts.append(_scaled(self.height, _PER_IN if self.imperial else _PER_M, "height"))
        return b"".join(parts)

    @property
    def weight(self) -> float | None:
        """The weight in the device's unit (kg or lb), or None when the weighing failed."""
        if self.weight_raw is None:
            return None
        return self.weight_raw / (_PER_LB if self.imperial else _PER_KG)

    @property
    def kg(self) -> float | None:
        """The weight in kilograms, or None when the weighing failed."""
        weight = self.weight
        if weight is None or not self.imperial:
            return weight
        return weight * KG_PER_LB

    @property
    def height_m(self) -> float | None:
        """The height in metres, or None when absent."""
        if self.height is None or not self.imperial:
            return self.height
        return self.height * M_PER_IN

    def json_extras(self) -> dict[str, object]:
        """Derived values for ``cabin decode``."""
        return {"weight": self.weight, "kg": self.kg, "height_m": self.height_m}


@dataclass(frozen=True, slots=True)
class WeightScaleFeature:
    """Weight Scale Feature (0x2A9E): a u32 of supported options and resolution codes."""

    timestamp_supported: bool = False
    multiple_users_supported: bool = False
    bmi_supported: bool = False
    weight_resolution: int = 0
    height_resolution: int = 0

    @classmethod
    def parse(cls, data: bytes) -> WeightScaleFeature:
        """Decode the 4-byte feature field; reserved bits 10-31 are ignored."""
        reader = Reader(data, "Weight Scale Feature")
        value = reader.uint(4, "features")
        reader.finish()
        return cls(bool(value & 0x01), bool(value & 0x02), bool(value & 0x04), value >> 3 & 0x0F, value >> 7 & 0x07)

    def __bytes__(self) -> bytes:
        for name, code, limit in (("weight_resolution", self.weight_resolution, 0x0F),
                                  ("height_resolution", self.height_resolution, 0x07)):
            if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code <= limit:
                raise ProtocolError(f"Weight Scale Feature: {name} {code!r} is outside 0..{limit}")
        value = sum(1 << bit for bit, flag in enumerate(
            (self.timestamp_supported, self.multiple_users_supported, self.bmi_supported)) if flag)
        return pack_uint(value | self.weight_resolution << 3 | self.height_resolution << 7, 4, "features")

    @property
    def weight_resolution_kg(self) -> float | None:
        """The weight resolution in kg, or None when not specified (or a reserved code)."""
        step = WEIGHT_RESOLUTIONS.get(self.weight_resolution)
        return None if step is None else step[0]

    @property
    def weight_resolution_lb(self) -> float | None:
        """The weight resolution in lb, or None when not specified (or a reserved code)."""
        step = WEIGHT_RESOLUTIONS.get(self.weight_resolution)
        return None if step is None else step[1]

    @property
    def height_resolution_m(self) -> float | None:
        """The height resolution in metres, or None when not specified (or a reserved code)."""
        step = HEIGHT_RESOLUTIONS.get(self.height_resolution)
        return None if step is None else step[0]

    @property
    def height_resolution_in(self) -> float | None:
        """The height resolution in inches, or None when not specified (or a reserved code)."""
        step = HEIGHT_RESOLUTIONS.get(self.height_resolution)
        return None if step is None else step[1]

    def json_extras(self) -> dict[str, object]:
        """Derived values for ``cabin decode``."""
        return {"weight_resolution_kg": self.weight_resolution_kg, "weight_resolution_lb": self.weight_resolution_lb,
                "height_resolution_m": self.height_resolution_m, "height_resolution_in": self.height_resolution_in}
