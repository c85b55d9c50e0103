"""Measurement JSON shapes and the physiological validation rules."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import pytest

from devices.measurements import (
    BloodPressure,
    CuffPressure,
    Height,
    Measurement,
    MeasurementKind,
    Pleth,
    QualityFlag,
    RejectedReading,
    SpO2,
    Temperature,
    TemperatureSite,
    Weight,
)
from devices.validation import validate

DEVICE_TIME = datetime(2025, 3, 6, 9, 30, 15, tzinfo=UTC)


def common(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "device_id": "dev-1",
        "model": "M1",
        "host_time": 12.5,
        "firmware": "1.2",
        "battery_percent": 80,
        "device_time": DEVICE_TIME,
        "flags": frozenset({QualityFlag.LOW_BATTERY, QualityFlag.BODY_MOVEMENT}),
    }
    fields.update(overrides)
    return fields


def test_temperature_json() -> None:
    reading = Temperature(**common(), celsius=37.2, site=TemperatureSite.TYMPANUM)
    data = reading.to_json()
    assert data["kind"] == "temperature" == reading.kind
    assert (data["value"], data["unit"], data["site"]) == (37.2, "°C", "tympanum")
    assert data["device_id"] == "dev-1"
    assert data["device_time"] == "2025-03-06T09:30:15+00:00"
    assert data["host_time"] == 12.5
    assert data["flags"] == ["body_movement", "low_battery"]  # sorted
    assert (data["firmware"], data["battery_percent"], data["model"]) == ("1.2", 80, "M1")
    json.dumps(data)


def test_blood_pressure_json_value_is_an_object() -> None:
    reading = BloodPressure(**common(), systolic=121, diastolic=79, mean_arterial=93, pulse_bpm=64)
    data = reading.to_json()
    assert data["kind"] == "blood_pressure"
    assert data["value"] == {"systolic": 121, "diastolic": 79, "mean_arterial": 93}
    assert (data["unit"], data["pulse_bpm"]) == ("mmHg", 64)


@pytest.mark.parametrize(
    ("reading", "kind", "value", "unit", "extra"),
    [
        (CuffPressure(**common(), mmhg=150.5), "cuff_pressure", 150.5, "mmHg", {}),
        (
            SpO2(**common(), percent=97, pulse_bpm=70, perfusion_index=3.1),
            "spo2",
            97,
            "%",
            {"pulse_bpm": 70, "perfusion_index": 3.1},
        ),
        (
            Pleth(**common(), samples=(1, 2, 3), rate_hz=60.0),
            "pleth",
            [1, 2, 3],
            "a.u.",
            {"rate_hz": 60.0},
        ),
        (
            Weight(**common(), kg=70.0, bmi=22.9, height_m=1.75),
            "weight",
            70.0,
            "kg",
            {"bmi": 22.9, "height_m": 1.75, "height_source": "scale"},
        ),
        (Height(**common(), metres=1.752), "height", 1.752, "m", {}),
    ],
)
def test_single_valued_json(
    reading: Measurement, kind: str, value: object, unit: str, extra: dict[str, object]
) -> None:
    data = reading.to_json()
    assert (data["kind"], data["value"], data["unit"]) == (kind, value, unit)
    assert MeasurementKind(data["kind"]) is reading.kind
    for key, expected in extra.items():
        assert data[key] == expected
    json.dumps(data)


def test_optional_fields_serialise_as_null() -> None:
    data = Temperature(device_id="t", model="", host_time=1.0, celsius=36.8).to_json()
    assert data["device_time"] is None
    assert data["site"] is None
    assert data["flags"] == []
    assert data["battery_percent"] is None


def test_measurements_are_frozen() -> None:
    reading = Temperature(**common(), celsius=36.8)
    with pytest.raises(AttributeError):
        reading.celsius = 40.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("reading", "rule"),
    [
        (SpO2(**common(), percent=100.5, pulse_bpm=70), "spo2_above_100"),
        (SpO2(**common(), percent=127, pulse_bpm=70), "spo2_above_100"),
        (SpO2(**common(), percent=-1, pulse_bpm=70), "spo2_below_0"),
        (SpO2(**common(), percent=97, pulse_bpm=0), "pulse_zero_with_spo2"),
        (SpO2(**common(), percent=97, pulse_bpm=-5), "pulse_negative"),
        (SpO2(**common(), percent=math.nan, pulse_bpm=70), "not_finite"),
        (
            BloodPressure(**common(), systolic=70, diastolic=90, mean_arterial=80),
            "systolic_below_diastolic",
        ),
        (Temperature(**common(), celsius=24.9), "temperature_out_of_range"),
        (Temperature(**common(), celsius=45.1), "temperature_out_of_range"),
        (Temperature(**common(), celsius=math.inf), "not_finite"),
        (Weight(**common(), kg=0.0), "weight_not_positive"),
        (Weight(**common(), kg=-2.5), "weight_not_positive"),
        (Pleth(**common(), samples=(1,), rate_hz=0.0), "rate_not_positive"),
        (Height(**common(), metres=0.39), "height_out_of_range"),
        (Height(**common(), metres=2.51), "height_out_of_range"),
    ],
)
def test_validate_rejects(reading: Measurement, rule: str) -> None:
    rejected = validate(reading)
    assert isinstance(rejected, RejectedReading)
    assert rejected.rule == rule
    assert rejected.reason
    assert rejected.original is reading
    assert rejected.device_id == reading.device_id
    assert rejected.host_time == reading.host_time


@pytest.mark.parametrize(
    "reading",
    [
        SpO2(**common(), percent=100, pulse_bpm=70),
        SpO2(**common(), percent=97, pulse_bpm=None),
        BloodPressure(**common(), systolic=120, diastolic=120, mean_arterial=120),
        BloodPressure(**common(), systolic=120, diastolic=80, mean_arterial=93),
        Temperature(**common(), celsius=25.0),
        Temperature(**common(), celsius=45.0),
        Temperature(**common(), celsius=36.9),
        Weight(**common(), kg=0.4),
        CuffPressure(**common(), mmhg=0.0),
        Pleth(**common(), samples=(), rate_hz=60.0),
        Height(**common(), metres=0.4),
        Height(**common(), metres=2.5),
    ],
)
def test_validate_accepts(reading: Measurement) -> None:
    assert validate(reading) is None


def test_rejected_json_carries_reason_but_no_value() -> None:
    rejected = validate(SpO2(**common(), percent=104, pulse_bpm=70))
    assert rejected is not None
    data = rejected.to_json()
    assert data["kind"] == "rejected"
    assert data["measurement_kind"] == "spo2"
    assert data["rule"] == "spo2_above_100"
    assert "104" in data["reason"]
    assert "value" not in data
    assert data["device_id"] == "dev-1"
    assert data["host_time"] == 12.5
    json.dumps(data)
