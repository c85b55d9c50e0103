"""From GATT health records to the station's typed measurements: values, units and quality flags.

Pure functions, like the parsers they sit on: bytes and an envelope in, a `Measurement` (or
None when the device reports no value) or a `ProtocolError` out. Impossible values are passed
through as they are: the device manager's `validate` turns them into rejected readings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from types import MappingProxyType
from typing import Final, TypedDict

from devices.measurements import (
    BloodPressure,
    CuffPressure,
    Measurement,
    QualityFlag,
    SpO2,
    Temperature,
    TemperatureSite,
    Weight,
)
from drivers import gatt
from drivers.gatt import (
    BloodPressureMeasurement,
    BpStatus,
    DateTime,
    IntermediateCuffPressure,
    PlxContinuous,
    PlxSpotCheck,
    TemperatureMeasurement,
    WeightMeasurement,
)

# At or below this battery level every reading carries QualityFlag.LOW_BATTERY.
LOW_BATTERY_PERCENT: Final = 15

# PLXS 1.0 Device and Sensor Status and Measurement Status bits -> the station's quality flags.
_PLX_FLAGS: Final[Mapping[str, QualityFlag]] = MappingProxyType(
    {
        "sensor_displaced": QualityFlag.FINGER_OUT,
        "sensor_unconnected": QualityFlag.FINGER_OUT,
        "sensor_disconnected": QualityFlag.FINGER_OUT,
        "low_perfusion": QualityFlag.LOW_PERFUSION,
        "erratic_signal": QualityFlag.ERRATIC_SIGNAL,
        "analysis_ongoing": QualityFlag.SEARCHING,
        "calibration_ongoing": QualityFlag.SEARCHING,
        "early_estimate": QualityFlag.EARLY_ESTIMATE,
        "equipment_malfunction": QualityFlag.QUESTIONABLE,
        "signal_processing_irregularity": QualityFlag.QUESTIONABLE,
        "inadequate_signal": QualityFlag.QUESTIONABLE,
        "poor_signal": QualityFlag.QUESTIONABLE,
        "non_pulsatile": QualityFlag.QUESTIONABLE,
        "questionable_pulse": QualityFlag.QUESTIONABLE,
        "sensor_interference": QualityFlag.QUESTIONABLE,
        "unknown_sensor": QualityFlag.QUESTIONABLE,
        "sensor_malfunction": QualityFlag.QUESTIONABLE,
        "unavailable": QualityFlag.QUESTIONABLE,
        "questionable": QualityFlag.QUESTIONABLE,
        "invalid": QualityFlag.QUESTIONABLE,
        "demo": QualityFlag.QUESTIONABLE,
        "test": QualityFlag.QUESTIONABLE,
    }
)


class CommonFields(TypedDict):
    """The keyword arguments every measurement takes besides its value."""

    device_id: str
    model: str
    firmware: str | None
    battery_percent: int | None
    device_time: datetime | None
    host_time: float
    flags: frozenset[QualityFlag]


@dataclass(frozen=True, slots=True)
class Envelope:
    """What every reading from one connected device carries besides its value."""

    device_id: str
    model: str
    host_time: float
    zone: tzinfo
    firmware: str | None = None
    battery_percent: int | None = None

    def fields(self, timestamp: DateTime | None, flags: Iterable[QualityFlag] = ()) -> CommonFields:
        """The common keyword arguments of a measurement, with the low-battery flag added."""
        all_flags = set(flags)
        if self.battery_percent is not None and self.battery_percent <= LOW_BATTERY_PERCENT:
            all_flags.add(QualityFlag.LOW_BATTERY)
        return {
            "device_id": self.device_id,
            "model": self.model,
            "firmware": self.firmware,
            "battery_percent": self.battery_percent,
            "device_time": device_time(timestamp, self.zone),
            "host_time": self.host_time,
            "flags": frozenset(all_flags),
        }


Decoder = Callable[[bytes, Envelope], Measurement | None]


@dataclass(frozen=True, slots=True)
class Channel:
    """One characteristic a driver subscribes to, with the decoder of its values."""

    uuid: int
    name: str
    decode: Decoder
    required: bool = True


def device_time(timestamp: DateTime | None, zone: tzinfo) -> datetime | None:
    """The device's own Date Time in the station's zone (devices keep local time), or None if unknown."""
    moment = timestamp.to_datetime() if timestamp is not None else None
    return moment.replace(tzinfo=zone) if moment is not None else None


def bp_flags(status: BpStatus | None) -> frozenset[QualityFlag]:
    """Quality flags from a Blood Pressure Measurement Status."""
    if status is None:
        return frozenset()
    pairs = (
        (status.body_movement, QualityFlag.BODY_MOVEMENT),
        (status.cuff_too_loose, QualityFlag.CUFF_TOO_LOOSE),
        (status.irregular_pulse, QualityFlag.IRREGULAR_PULSE),
        (status.pulse_rate_range in (1, 2), QualityFlag.PULSE_RATE_OUT_OF_RANGE),
        (status.improper_position, QualityFlag.IMPROPER_POSITION),
    )
    return frozenset(flag for present, flag in pairs if present)


def plx_flags(
    measurement_status: frozenset[str] | None, device_status: frozenset[str] | None
) -> frozenset[QualityFlag]:
    """Quality flags from PLX Measurement Status and Device and Sensor Status names."""
    names = (measurement_status or frozenset()) | (device_status or frozenset())
    return frozenset(_PLX_FLAGS[name] for name in names if name in _PLX_FLAGS)


def temperature(data: bytes, envelope: Envelope) -> Temperature:
    """A Temperature Measurement (0x2A1C) as a Temperature in °C."""
    record = TemperatureMeasurement.parse(data)
    site = TemperatureSite(record.site) if record.site is not None else None
    return Temperature(**envelope.fields(record.timestamp), celsius=record.celsius, site=site)


def blood_pressure(data: bytes, envelope: Envelope) -> BloodPressure:
    """A Blood Pressure Measurement (0x2A35) as a BloodPressure in mmHg, with its status flags."""
    record = BloodPressureMeasurement.parse(data)
    mmhg = record.to_mmhg()
    return BloodPressure(
        **envelope.fields(record.timestamp, bp_flags(record.status)),
        systolic=mmhg.systolic,
        diastolic=mmhg.diastolic,
        mean_arterial=mmhg.mean_arterial,
        pulse_bpm=record.pulse_rate,
    )


def cuff_pressure(data: bytes, envelope: Envelope) -> CuffPressure:
    """An Intermediate Cuff Pressure (0x2A36) as the live CuffPressure in mmHg."""
    record = IntermediateCuffPressure.parse(data)
    fields = envelope.fields(record.timestamp, bp_flags(record.status))
    return CuffPressure(**fields, mmhg=record.current_mmhg)


def spot_check(data: bytes, envelope: Envelope) -> SpO2:
    """A PLX Spot-check (0x2A5E) as an SpO2 reading, PAI as the perfusion index."""
    record = PlxSpotCheck.parse(data)
    flags = plx_flags(record.measurement_status, record.device_status)
    return SpO2(
        **envelope.fields(record.timestamp, flags),
        percent=record.spo2,
        pulse_bpm=record.pulse_rate,
        perfusion_index=record.pai,
    )


def continuous(data: bytes, envelope: Envelope) -> SpO2:
    """A PLX Continuous (0x2A5F) as a live SpO2 reading (normal averaging; it has no time stamp)."""
    record = PlxContinuous.parse(data)
    flags = plx_flags(record.measurement_status, record.device_status)
    return SpO2(
        **envelope.fields(None, flags),
        percent=record.spo2,
        pulse_bpm=record.pulse_rate,
        perfusion_index=record.pai,
    )


def weight(data: bytes, envelope: Envelope) -> Weight | None:
    """A Weight Measurement (0x2A9D) as a Weight in kg, or None when the scale says the weighing failed."""
    record = WeightMeasurement.parse(data)
    kg = record.kg
    if kg is None:
        return None
    return Weight(**envelope.fields(record.timestamp), kg=kg, bmi=record.bmi, height_m=record.height_m)


# What each kind of instrument advertises and what the driver subscribes to.
SERVICES: Final[Mapping[str, int]] = MappingProxyType(
    {
        "thermometer": gatt.HEALTH_THERMOMETER,
        "blood_pressure": gatt.BLOOD_PRESSURE,
        "pulse_oximeter": gatt.PULSE_OXIMETER,
        "scale": gatt.WEIGHT_SCALE,
        "glucometer": gatt.GLUCOSE,
    }
)
CHANNELS: Final[Mapping[str, tuple[Channel, ...]]] = MappingProxyType(
    {
        "thermometer": (Channel(gatt.TEMPERATURE_MEASUREMENT, "Temperature Measurement", temperature),),
        "blood_pressure": (
            Channel(gatt.BLOOD_PRESSURE_MEASUREMENT, "Blood Pressure Measurement", blood_pressure),
            Channel(gatt.INTERMEDIATE_CUFF_PRESSURE, "Intermediate Cuff Pressure", cuff_pressure, required=False),
        ),
        # PLXS requires one of the two measurement characteristics, not both.
        "pulse_oximeter": (
            Channel(gatt.PLX_SPOT_CHECK, "PLX Spot-check Measurement", spot_check, required=False),
            Channel(gatt.PLX_CONTINUOUS, "PLX Continuous Measurement", continuous, required=False),
        ),
        "scale": (Channel(gatt.WEIGHT_MEASUREMENT, "Weight Measurement", weight),),
        # Fetched on request through the RACP, not delivered as it comes: drivers/ble_glucose.py subscribes.
        "glucometer": (),
    }
)
