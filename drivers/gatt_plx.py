"""Pulse Oximeter Service (0x1822): PLX Spot-check (0x2A5E), PLX Continuous (0x2A5F), PLX Features (0x2A60)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from drivers.errors import ProtocolError
from drivers.gatt_common import DateTime, Reader, bits_to_names, names_to_bits, pack_sfloat, pack_uint

# PLXS 1.0, Measurement Status (u16): bits 0-4 are reserved.
MEASUREMENT_STATUS: Final[dict[int, str]] = {
    5: "measurement_ongoing",
    6: "early_estimate",
    7: "validated",
    8: "fully_qualified",
    9: "from_storage",
    10: "demo",
    11: "test",
    12: "calibration_ongoing",
    13: "unavailable",
    14: "questionable",
    15: "invalid",
}

# PLXS 1.0, Device and Sensor Status (u24): bits 16-23 are reserved.
DEVICE_STATUS: Final[dict[int, str]] = {
    0: "extended_display_update",
    1: "equipment_malfunction",
    2: "signal_processing_irregularity",
    3: "inadequate_signal",
    4: "poor_signal",
    5: "low_perfusion",
    6: "erratic_signal",
    7: "non_pulsatile",
    8: "questionable_pulse",
    9: "analysis_ongoing",
    10: "sensor_interference",
    11: "sensor_unconnected",
    12: "unknown_sensor",
    13: "sensor_displaced",
    14: "sensor_malfunction",
    15: "sensor_disconnected",
}

# PLXS 1.0, PLX Features: Supported Features (u16), bits 8-15 reserved.
PLX_FEATURES: Final[dict[int, str]] = {
    0: "measurement_status",
    1: "device_status",
    2: "spot_check_storage",
    3: "spot_check_timestamp",
    4: "fast",
    5: "slow",
    6: "pai",
    7: "multiple_bonds",
}

# PLXS 1.0, PLX Spot-check Measurement flags; bits 5-7 reserved.
_SPOT_TIMESTAMP: Final = 0x01
_SPOT_STATUS: Final = 0x02
_SPOT_DEVICE: Final = 0x04
_SPOT_PAI: Final = 0x08
_SPOT_CLOCK_NOT_SET: Final = 0x10

# PLXS 1.0, PLX Continuous Measurement flags; bits 5-7 reserved.
_CONT_FAST: Final = 0x01
_CONT_SLOW: Final = 0x02
_CONT_STATUS: Final = 0x04
_CONT_DEVICE: Final = 0x08
_CONT_PAI: Final = 0x10


def _status(reader: Reader, present: bool) -> frozenset[str] | None:
    return bits_to_names(reader.uint(2, "measurement status"), MEASUREMENT_STATUS) if present else None


def _device(reader: Reader, present: bool) -> frozenset[str] | None:
    return bits_to_names(reader.uint(3, "device and sensor status"), DEVICE_STATUS) if present else None


def _tail(status: frozenset[str] | None, device: frozenset[str] | None, pai: float | None) -> list[bytes]:
    parts = []
    if status is not None:
        parts.append(pack_uint(names_to_bits(status, MEASUREMENT_STATUS, "measurement status"), 2,
                               "measurement status"))
    if device is not None:
        parts.append(pack_uint(names_to_bits(device, DEVICE_STATUS, "device and sensor status"), 3,
                               "device and sensor status"))
    if pai is not None:
        parts.append(pack_sfloat(pai))
    return parts


def _tail_flags(status: object, device: object, pai: object, bits: tuple[int, int, int]) -> int:
    return sum(bit for bit, value in zip(bits, (status, device, pai), strict=True) if value is not None)


@dataclass(frozen=True, slots=True)
class PlxSpotCheck:
    """PLX Spot-check Measurement (0x2A5E): one SpO2 (%) and pulse rate (bpm) reading."""

    spo2: float
    pulse_rate: float
    timestamp: DateTime | None = None
    measurement_status: frozenset[str] | None = None
    device_status: frozenset[str] | None = None
    pai: float | None = None
    clock_not_set: bool = False

    @classmethod
    def parse(cls, data: bytes) -> PlxSpotCheck:
        """Decode a PLX Spot-check Measurement value."""
        reader = Reader(data, "PLX Spot-check Measurement")
        flags = reader.uint(1, "flags")
        spo2 = reader.sfloat("SpO2")
        pulse_rate = reader.sfloat("pulse rate")
        timestamp = reader.date_time("time stamp") if flags & _SPOT_TIMESTAMP else None
        status = _status(reader, bool(flags & _SPOT_STATUS))
        device = _device(reader, bool(flags & _SPOT_DEVICE))
        pai = reader.sfloat("PAI") if flags & _SPOT_PAI else None
        reader.finish()
        return cls(spo2, pulse_rate, timestamp, status, device, pai, bool(flags & _SPOT_CLOCK_NOT_SET))

    def __bytes__(self) -> bytes:
        flags = _tail_flags(self.measurement_status, self.device_status, self.pai,
                            (_SPOT_STATUS, _SPOT_DEVICE, _SPOT_PAI))
        flags |= (_SPOT_TIMESTAMP if self.timestamp is not None else 0)
        flags |= (_SPOT_CLOCK_NOT_SET if self.clock_not_set else 0)
        parts = [pack_uint(flags, 1, "flags"), pack_sfloat(self.spo2), pack_sfloat(self.pulse_rate)]
        if self.timestamp is not None:
            parts.append(bytes(self.timestamp))
        parts += _tail(self.measurement_status, self.device_status, self.pai)
        return b"".join(parts)


def _pair(reader: Reader, present: bool, name: str) -> tuple[float, float] | None:
    if not present:
        return None
    return reader.sfloat(f"SpO2 {name}"), reader.sfloat(f"pulse rate {name}")


def _pack_pair(pair: tuple[float, float] | None, name: str) -> list[bytes]:
    if pair is None:
        return []
    if not isinstance(pair, tuple) or len(pair) != 2:
        raise ProtocolError(f"SpO2/pulse rate {name} must be a (spo2, pulse_rate) pair, got {pair!r}")
    return [pack_sfloat(pair[0]), pack_sfloat(pair[1])]


@dataclass(frozen=True, slots=True)
class PlxContinuous:
    """PLX Continuous Measurement (0x2A5F): normal SpO2 and pulse, optional fast and slow (SpO2, pulse) pairs."""

    spo2: float
    pulse_rate: float
    fast: tuple[float, float] | None = None
    slow: tuple[float, float] | None = None
    measurement_status: frozenset[str] | None = None
    device_status: frozenset[str] | None = None
    pai: float | None = None

    @classmethod
    def parse(cls, data: bytes) -> PlxContinuous:
        """Decode a PLX Continuous Measurement value."""
        reader = Reader(data, "PLX Continuous Measurement")
        flags = reader.uint(1, "flags")
        spo2 = reader.sfloat("SpO2")
        pulse_rate = reader.sfloat("pulse rate")
        fast = _pair(reader, bool(flags & _CONT_FAST), "fast")
        slow = _pair(reader, bool(flags & _CONT_SLOW), "slow")
        status = _status(reader, bool(flags & _CONT_STATUS))
        device = _device(reader, bool(flags & _CONT_DEVICE))
        pai = reader.sfloat("PAI") if flags & _CONT_PAI else None
        reader.finish()
        return cls(spo2, pulse_rate, fast, slow, status, device, pai)

    def __bytes__(self) -> bytes:
        flags = _tail_flags(self.measurement_status, self.device_status, self.pai,
                            (_CONT_STATUS, _CONT_DEVICE, _CONT_PAI))
        flags |= (_CONT_FAST if self.fast is not None else 0) | (_CONT_SLOW if self.slow is not None else 0)
        parts = [pack_uint(flags, 1, "flags"), pack_sfloat(self.spo2), pack_sfloat(self.pulse_rate)]
        parts += _pack_pair(self.fast, "fast") + _pack_pair(self.slow, "slow")
        parts += _tail(self.measurement_status, self.device_status, self.pai)
        return b"".join(parts)

    def json_extras(self) -> dict[str, object]:
        """Derived values for ``cabin decode``: the pairs as objects."""
        return {name: None if pair is None else {"spo2": pair[0], "pulse_rate": pair[1]}
                for name, pair in (("fast", self.fast), ("slow", self.slow))}


@dataclass(frozen=True, slots=True)
class PlxFeatures:
    """PLX Features (0x2A60): supported features, then the status bits the device can report."""

    features: int
    measurement_status_support: int | None = None
    device_status_support: int | None = None

    @classmethod
    def parse(cls, data: bytes) -> PlxFeatures:
        """Decode a PLX Features value (2, 4, 5 or 7 bytes)."""
        reader = Reader(data, "PLX Features")
        features = reader.uint(2, "supported features")
        # The support fields follow only when features bits 0 and 1 say so.
        status = reader.uint(2, "measurement status support") if features & 0x01 else None
        device = reader.uint(3, "device and sensor status support") if features & 0x02 else None
        reader.finish()
        return cls(features, status, device)

    def __bytes__(self) -> bytes:
        parts = [pack_uint(self.features, 2, "supported features")]
        for bit, value, size, name in ((0, self.measurement_status_support, 2, "measurement status support"),
                                       (1, self.device_status_support, 3, "device and sensor status support")):
            present = isinstance(self.features, int) and bool(self.features >> bit & 1)
            if present != (value is not None):
                raise ProtocolError(f"PLX Features: {name} must be given exactly when features bit {bit} is set")
            if value is not None:
                parts.append(pack_uint(value, size, name))
        return b"".join(parts)

    @property
    def supported(self) -> frozenset[str]:
        """The names of the supported features."""
        return bits_to_names(self.features, PLX_FEATURES)

    def json_extras(self) -> dict[str, object]:
        """Derived values for ``cabin decode``: the bit fields as names."""
        status = self.measurement_status_support
        device = self.device_status_support
        return {
            "supported": self.supported,
            "measurement_status_supported": None if status is None else bits_to_names(status, MEASUREMENT_STATUS),
            "device_status_supported": None if device is None else bits_to_names(device, DEVICE_STATUS),
        }
