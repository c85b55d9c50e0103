"""Blood Pressure Service (0x1810): Blood Pressure Measurement (0x2A35), Intermediate Cuff Pressure (0x2A36)
and Blood Pressure Feature (0x2A49)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, NamedTuple

from drivers.errors import ProtocolError
from drivers.gatt_common import DateTime, Reader, bits_to_names, pack_sfloat, pack_uint

# BLS 1.0 / GSS, Blood Pressure Measurement flags (shared by Intermediate Cuff Pressure); bits 5-7 reserved.
_KPA: Final = 0x01
_TIMESTAMP: Final = 0x02
_PULSE: Final = 0x04
_USER: Final = 0x08
_STATUS: Final = 0x10

# 1 mmHg = 133.322387415 Pa (BIPM conventional value); the kPa unit is 1000 Pa.
MMHG_PER_KPA: Final = 1000.0 / 133.322387415

# Measurement Status bits 3-4, the pulse rate range detection flags.
PULSE_RATE_RANGES: Final[dict[int, str]] = {0: "in_range", 1: "above_upper_limit", 2: "below_lower_limit",
                                            3: "reserved"}


# Blood Pressure Feature bits (BLS 1.0 bits 0-5; BLS 1.1 adds 6-8).
BP_FEATURES: Final[dict[int, str]] = {
    0: "body_movement_detection",
    1: "cuff_fit_detection",
    2: "irregular_pulse_detection",
    3: "pulse_rate_range_detection",
    4: "measurement_position_detection",
    5: "multiple_bonds",
    6: "e2e_crc",
    7: "user_data_service",
    8: "user_facing_time",
}


@dataclass(frozen=True, slots=True)
class BpStatus:
    """Blood pressure Measurement Status (u16): bits 0-2 and 5 are flags, bits 3-4 the pulse rate range."""

    body_movement: bool = False
    cuff_too_loose: bool = False
    irregular_pulse: bool = False
    pulse_rate_range: int = 0
    improper_position: bool = False

    @classmethod
    def from_int(cls, value: int) -> BpStatus:
        """Decode the 16-bit field; reserved bits 6-15 are ignored."""
        return cls(bool(value & 0x01), bool(value & 0x02), bool(value & 0x04), (value >> 3) & 0x03,
                   bool(value & 0x20))

    def __int__(self) -> int:
        if isinstance(self.pulse_rate_range, bool) or self.pulse_rate_range not in PULSE_RATE_RANGES:
            raise ProtocolError(f"measurement status pulse_rate_range {self.pulse_rate_range!r} is outside 0..3")
        flags = (self.body_movement, self.cuff_too_loose, self.irregular_pulse, False, False, self.improper_position)
        return sum(1 << bit for bit, flag in enumerate(flags) if flag) | self.pulse_rate_range << 3

    def json_extras(self) -> dict[str, object]:
        """Derived values for ``cabin decode``."""
        return {"pulse_rate_range_name": PULSE_RATE_RANGES.get(self.pulse_rate_range)}


class PressureMmHg(NamedTuple):
    """Systolic, diastolic and mean arterial pressure in mmHg."""

    systolic: float
    diastolic: float
    mean_arterial: float


class _Tail(NamedTuple):
    """The optional fields that follow the compound value."""

    timestamp: DateTime | None
    pulse_rate: float | None
    user_id: int | None
    status: BpStatus | None


def _read(data: bytes, record: str, names: tuple[str, str, str]) -> tuple[bool, tuple[float, ...], _Tail]:
    reader = Reader(data, record)
    flags = reader.uint(1, "flags")
    compound = tuple(reader.sfloat(name) for name in names)
    timestamp = reader.date_time("time stamp") if flags & _TIMESTAMP else None
    pulse_rate = reader.sfloat("pulse rate") if flags & _PULSE else None
    user_id = reader.uint(1, "user id") if flags & _USER else None
    status = BpStatus.from_int(reader.uint(2, "measurement status")) if flags & _STATUS else None
    reader.finish()
    return bool(flags & _KPA), compound, _Tail(timestamp, pulse_rate, user_id, status)


def _write(kpa: bool, compound: tuple[float, float, float], tail: _Tail) -> bytes:
    flags = (_KPA if kpa else 0) | (_TIMESTAMP if tail.timestamp is not None else 0)
    flags |= (_PULSE if tail.pulse_rate is not None else 0) | (_USER if tail.user_id is not None else 0)
    flags |= _STATUS if tail.status is not None else 0
    parts = [pack_uint(flags, 1, "flags"), *(pack_sfloat(value) for value in compound)]
    if tail.timestamp is not None:
        parts.append(bytes(tail.timestamp))
    if tail.pulse_rate is not None:
        parts.append(pack_sfloat(tail.pulse_rate))
    if tail.user_id is not None:
        parts.append(pack_uint(tail.user_id, 1, "user id"))
    if tail.status is not None:
        parts.append(pack_uint(int(tail.status), 2, "measurement status"))
    return b"".join(parts)


def _mmhg(value: float, kpa: bool) -> float:
    return value * MMHG_PER_KPA if kpa else value


@dataclass(frozen=True, slots=True)
class BloodPressureMeasurement:
    """Blood Pressure Measurement (0x2A35): systolic, diastolic and mean arterial pressure in mmHg or kPa."""

    systolic: float
    diastolic: float
    mean_arterial: float
    kpa: bool = False
    timestamp: DateTime | None = None
    pulse_rate: float | None = None
    user_id: int | None = None
    status: BpStatus | None = None

    @classmethod
    def parse(cls, data: bytes) -> BloodPressureMeasurement:
        """Decode a Blood Pressure Measurement value (7 to 19 bytes)."""
        kpa, (systolic, diastolic, mean), tail = _read(data, "Blood Pressure Measurement",
                                                       ("systolic", "diastolic", "mean arterial pressure"))
        return cls(systolic, diastolic, mean, kpa, *tail)

    def __bytes__(self) -> bytes:
        tail = _Tail(self.timestamp, self.pulse_rate, self.user_id, self.status)
        return _write(self.kpa, (self.systolic, self.diastolic, self.mean_arterial), tail)

    def to_mmhg(self) -> PressureMmHg:
        """The three pressures in mmHg, converted from kPa when the device sent kPa."""
        return PressureMmHg(_mmhg(self.systolic, self.kpa), _mmhg(self.diastolic, self.kpa),
                            _mmhg(self.mean_arterial, self.kpa))

    def json_extras(self) -> dict[str, object]:
        """Derived values for ``cabin decode``."""
        return {"mmhg": self.to_mmhg()._asdict()}


@dataclass(frozen=True, slots=True)
class IntermediateCuffPressure:
    """Intermediate Cuff Pressure (0x2A36): the live cuff pressure while the cuff inflates or deflates."""

    current_pressure: float
    kpa: bool = False
    timestamp: DateTime | None = None
    pulse_rate: float | None = None
    user_id: int | None = None
    status: BpStatus | None = None

    @classmethod
    def parse(cls, data: bytes) -> IntermediateCuffPressure:
        """Decode an Intermediate Cuff Pressure value; the two unused SFLOATs are skipped whatever they hold."""
        # Same layout as 0x2A35; the spec says the diastolic and MAP slots carry NaN, some cuffs send 0.
        kpa, (current, _, _), tail = _read(data, "Intermediate Cuff Pressure",
                                           ("current cuff pressure", "unused diastolic", "unused mean arterial"))
        return cls(current, kpa, *tail)

    def __bytes__(self) -> bytes:
        tail = _Tail(self.timestamp, self.pulse_rate, self.user_id, self.status)
        return _write(self.kpa, (self.current_pressure, math.nan, math.nan), tail)

    @property
    def current_mmhg(self) -> float:
        """The cuff pressure in mmHg."""
        return _mmhg(self.current_pressure, self.kpa)

    def json_extras(self) -> dict[str, object]:
        """Derived values for ``cabin decode``."""
        return {"current_mmhg": self.current_mmhg}


@dataclass(frozen=True, slots=True)
class BloodPressureFeature:
    """Blood Pressure Feature (0x2A49): a u16 of supported detections."""

    features: int

    @classmethod
    def parse(cls, data: bytes) -> BloodPressureFeature:
        """Decode the 2-byte feature field."""
        reader = Reader(data, "Blood Pressure Feature")
        features = reader.uint(2, "features")
        reader.finish()
        return cls(features)

    def __bytes__(self) -> bytes:
        return pack_uint(self.features, 2, "features")

    @property
    def supported(self) -> frozenset[str]:
        """The names of the supported features."""
        return bits_to_names(self.features, BP_FEATURES)

    def json_extras(self) -> dict[str, object]:
        """Derived values for ``cabin decode``."""
        return {"supported": self.supported}
