"""Bluetooth SIG GATT health services: UUIDs, the record parsers and encoders, and a JSON decoder.

The records live in one module per service (``gatt_hts``, ``gatt_bps``, ``gatt_plx``, ``gatt_wss``) and are
re-exported here, so ``from drivers.gatt import BloodPressureMeasurement`` is the one import callers need.
Each record has ``parse(data)`` (pure: bytes in, record out, or ``ProtocolError``) and ``__bytes__`` (the
encoder the simulators send), with ``parse(bytes(record)) == record``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from drivers.errors import ProtocolError
from drivers.gatt_bps import (
    BloodPressureFeature,
    BloodPressureMeasurement,
    BpStatus,
    IntermediateCuffPressure,
    PressureMmHg,
)
from drivers.gatt_common import DateTime, Reader, to_jsonable
from drivers.gatt_glucose import GlucoseContext, GlucoseFeature, GlucoseMeasurement
from drivers.gatt_hts import TEMPERATURE_TYPES, TemperatureMeasurement
from drivers.gatt_plx import DEVICE_STATUS, MEASUREMENT_STATUS, PlxContinuous, PlxFeatures, PlxSpotCheck
from drivers.gatt_racp import parse_racp
from drivers.gatt_wss import WeightMeasurement, WeightScaleFeature

__all__ = [
    "BATTERY", "BATTERY_LEVEL", "BLOOD_PRESSURE", "BLOOD_PRESSURE_FEATURE", "BLOOD_PRESSURE_MEASUREMENT",
    "DATE_TIME", "DECODERS", "DEVICE_INFORMATION", "DEVICE_STATUS", "FIRMWARE_REVISION", "HEALTH_THERMOMETER",
    "INTERMEDIATE_CUFF_PRESSURE", "MANUFACTURER_NAME", "MEASUREMENT_STATUS", "MODEL_NUMBER", "NAMES",
    "PLX_CONTINUOUS", "PLX_FEATURES", "PLX_SPOT_CHECK", "PULSE_OXIMETER", "SERIAL_NUMBER", "TEMPERATURE_MEASUREMENT",
    "TEMPERATURE_TYPES", "WEIGHT_MEASUREMENT", "WEIGHT_SCALE", "WEIGHT_SCALE_FEATURE",
    "BloodPressureFeature", "BloodPressureMeasurement", "BpStatus", "DateTime", "IntermediateCuffPressure",
    "PlxContinuous", "PlxFeatures", "PlxSpotCheck", "PressureMmHg", "TemperatureMeasurement",
    "WeightMeasurement", "WeightScaleFeature",
    "GLUCOSE", "GLUCOSE_FEATURE", "GLUCOSE_MEASUREMENT", "GLUCOSE_MEASUREMENT_CONTEXT",
    "RECORD_ACCESS_CONTROL_POINT", "GlucoseContext", "GlucoseFeature", "GlucoseMeasurement",
    "battery_level", "bytes_from_hex", "decode_to_json", "parse_uuid16", "utf8_string", "uuid16",
]

# Bluetooth SIG Assigned Numbers: GATT services and characteristics.
HEALTH_THERMOMETER: Final = 0x1809
DEVICE_INFORMATION: Final = 0x180A
BATTERY: Final = 0x180F
BLOOD_PRESSURE: Final = 0x1810
WEIGHT_SCALE: Final = 0x181D
PULSE_OXIMETER: Final = 0x1822

DATE_TIME: Final = 0x2A08
BATTERY_LEVEL: Final = 0x2A19
TEMPERATURE_MEASUREMENT: Final = 0x2A1C
MODEL_NUMBER: Final = 0x2A24
SERIAL_NUMBER: Final = 0x2A25
FIRMWARE_REVISION: Final = 0x2A26
MANUFACTURER_NAME: Final = 0x2A29
BLOOD_PRESSURE_MEASUREMENT: Final = 0x2A35
INTERMEDIATE_CUFF_PRESSURE: Final = 0x2A36
BLOOD_PRESSURE_FEATURE: Final = 0x2A49
PLX_SPOT_CHECK: Final = 0x2A5E
PLX_CONTINUOUS: Final = 0x2A5F
PLX_FEATURES: Final = 0x2A60
WEIGHT_MEASUREMENT: Final = 0x2A9D
WEIGHT_SCALE_FEATURE: Final = 0x2A9E
# The Glucose service (docs/design.md "The glucometer").
GLUCOSE: Final = 0x1808
GLUCOSE_MEASUREMENT: Final = 0x2A18
GLUCOSE_MEASUREMENT_CONTEXT: Final = 0x2A34
GLUCOSE_FEATURE: Final = 0x2A51
RECORD_ACCESS_CONTROL_POINT: Final = 0x2A52

# Core Specification Vol 3 Part B §2.5.1: a 16-bit UUID sits in the Bluetooth Base UUID.
_BASE_SUFFIX: Final = "-0000-1000-8000-00805f9b34fb"
_UUID_TEXT: Final = re.compile(r"(?:0x)?([0-9a-f]{4})|0000([0-9a-f]{4})" + re.escape(_BASE_SUFFIX))


def uuid16(number: int) -> str:
    """The full 128-bit UUID string of a 16-bit assigned number, e.g. 0x2A35 -> "00002a35-0000-1000-…"."""
    if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= 0xFFFF:
        raise ProtocolError(f"16-bit UUID {number!r} is outside 0x0000..0xFFFF")
    return f"0000{number:04x}{_BASE_SUFFIX}"


def parse_uuid16(text: str) -> int:
    """The 16-bit number in "2a35", "0x2A35" or "00002a35-0000-1000-8000-00805f9b34fb"."""
    match = _UUID_TEXT.fullmatch(text.strip().lower()) if isinstance(text, str) else None
    if match is None:
        raise ProtocolError(f"{text!r} is not a 16-bit Bluetooth UUID (try 2a35 or 0x2A35)")
    return int(match.group(1) or match.group(2), 16)


def bytes_from_hex(text: str) -> bytes:
    """Bytes from hex as captures print it: "1e8a00", "1E 8A 00", "1e:8a:00" or "0x1e8a00"."""
    cleaned = re.sub(r"[\s:\-_]", "", text) if isinstance(text, str) else ""
    cleaned = cleaned[2:] if cleaned.lower().startswith("0x") else cleaned
    if not cleaned or not re.fullmatch(r"(?:[0-9a-fA-F]{2})+", cleaned):
        raise ProtocolError(f"{text!r} is not an even number of hex digits")
    return bytes.fromhex(cleaned)


def battery_level(data: bytes) -> int:
    """Battery Level (0x2A19): one byte, 0-100 percent."""
    reader = Reader(data, "Battery Level")
    level = reader.uint(1, "battery level")
    reader.finish()
    if level > 100:
        raise ProtocolError(f"Battery Level: {level} at offset 0 is above 100 percent")
    return level


def utf8_string(data: bytes) -> str:
    """A Device Information string (model, serial, firmware, manufacturer): UTF-8, trailing NULs dropped."""
    raw = Reader(data, "UTF-8 string").rest()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"UTF-8 string: invalid UTF-8 at offset {exc.start}") from exc
    # Some firmware pads the value with C string terminators; they are not part of the name.
    return text.rstrip("\x00")


DECODERS: Final[dict[int, Callable[[bytes], object]]] = {
    DATE_TIME: DateTime.parse,
    BATTERY_LEVEL: battery_level,
    TEMPERATURE_MEASUREMENT: TemperatureMeasurement.parse,
    MODEL_NUMBER: utf8_string,
    SERIAL_NUMBER: utf8_string,
    FIRMWARE_REVISION: utf8_string,
    MANUFACTURER_NAME: utf8_string,
    BLOOD_PRESSURE_MEASUREMENT: BloodPressureMeasurement.parse,
    INTERMEDIATE_CUFF_PRESSURE: IntermediateCuffPressure.parse,
    BLOOD_PRESSURE_FEATURE: BloodPressureFeature.parse,
    PLX_SPOT_CHECK: PlxSpotCheck.parse,
    PLX_CONTINUOUS: PlxContinuous.parse,
    PLX_FEATURES: PlxFeatures.parse,
    WEIGHT_MEASUREMENT: WeightMeasurement.parse,
    WEIGHT_SCALE_FEATURE: WeightScaleFeature.parse,
    GLUCOSE_MEASUREMENT: GlucoseMeasurement.parse,
    GLUCOSE_MEASUREMENT_CONTEXT: GlucoseContext.parse,
    GLUCOSE_FEATURE: GlucoseFeature.parse,
    RECORD_ACCESS_CONTROL_POINT: parse_racp,
}

NAMES: Final[dict[int, str]] = {
    HEALTH_THERMOMETER: "health_thermometer",
    DEVICE_INFORMATION: "device_information",
    BATTERY: "battery",
    BLOOD_PRESSURE: "blood_pressure",
    WEIGHT_SCALE: "weight_scale",
    PULSE_OXIMETER: "pulse_oximeter",
    DATE_TIME: "date_time",
    BATTERY_LEVEL: "battery_level",
    TEMPERATURE_MEASUREMENT: "temperature_measurement",
    MODEL_NUMBER: "model_number",
    SERIAL_NUMBER: "serial_number",
    FIRMWARE_REVISION: "firmware_revision",
    MANUFACTURER_NAME: "manufacturer_name",
    BLOOD_PRESSURE_MEASUREMENT: "blood_pressure_measurement",
    INTERMEDIATE_CUFF_PRESSURE: "intermediate_cuff_pressure",
    BLOOD_PRESSURE_FEATURE: "blood_pressure_feature",
    PLX_SPOT_CHECK: "plx_spot_check",
    PLX_CONTINUOUS: "plx_continuous",
    PLX_FEATURES: "plx_features",
    WEIGHT_MEASUREMENT: "weight_measurement",
    WEIGHT_SCALE_FEATURE: "weight_scale_feature",
    GLUCOSE: "glucose",
    GLUCOSE_MEASUREMENT: "glucose_measurement",
    GLUCOSE_MEASUREMENT_CONTEXT: "glucose_measurement_context",
    GLUCOSE_FEATURE: "glucose_feature",
    RECORD_ACCESS_CONTROL_POINT: "record_access_control_point",
}


def decode_to_json(uuid16: int, data: bytes) -> dict[str, object]:
    """Decode one characteristic value to a JSON-ready dict: every field, ISO datetimes, NaN as null."""
    decoder = DECODERS.get(uuid16) if isinstance(uuid16, int) else None
    if decoder is None:
        known = ", ".join(f"{number:04x}" for number in sorted(DECODERS))
        name = f"{uuid16:04x}" if isinstance(uuid16, int) else repr(uuid16)
        raise ProtocolError(f"no decoder for characteristic {name}; known: {known}")
    value = to_jsonable(decoder(data))
    return {
        "characteristic": f"{uuid16:04x}",
        "name": NAMES[uuid16],
        "value": value,
    }
