"""The pure mapping from GATT health records to measurements: units, device time and quality flags."""

from __future__ import annotations

import math
from datetime import datetime

import pytest

from devices.measurements import QualityFlag, TemperatureSite
from devices.validation import validate
from drivers.ble_records import (
    CHANNELS,
    LOW_BATTERY_PERCENT,
    Envelope,
    blood_pressure,
    bp_flags,
    continuous,
    cuff_pressure,
    plx_flags,
    spot_check,
    temperature,
    weight,
)
from drivers.errors import ProtocolError
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
from runtime.clock import PARIS

ENVELOPE = Envelope(device_id="dev-1", model="M1", host_time=12.5, zone=PARIS, firmware="2.0", battery_percent=80)
STAMP = DateTime(2026, 11, 30, 9, 5, 0)


def test_temperature_in_fahrenheit_becomes_celsius_with_site_and_zoned_device_time() -> None:
    # 0x2A1C flags 0x07: Fahrenheit, time stamp, type; 98.6 °F; type 9 tympanum.
    data = bytes(TemperatureMeasurement(98.6, True, STAMP, 9))
    reading = temperature(data, ENVELOPE)
    assert reading.celsius == pytest.approx(37.0)
    assert reading.site is TemperatureSite.TYMPANUM
    assert reading.device_time == datetime(2026, 11, 30, 9, 5, tzinfo=PARIS)
    assert (reading.device_id, reading.model, reading.firmware, reading.battery_percent, reading.host_time) == (
        "dev-1", "M1", "2.0", 80, 12.5,
    )


def test_unknown_device_date_gives_no_device_time() -> None:
    data = bytes(TemperatureMeasurement(37.0, False, DateTime(0, 0, 0), None))
    reading = temperature(data, ENVELOPE)
    assert reading.device_time is None and reading.site is None


def test_blood_pressure_in_kpa_becomes_mmhg() -> None:
    # 16.0 / 10.7 / 12.4 kPa = 120.0 / 80.3 / 93.0 mmHg.
    data = bytes(BloodPressureMeasurement(16.0, 10.7, 12.4, True, None, 70.0))
    reading = blood_pressure(data, ENVELOPE)
    assert reading.systolic == pytest.approx(120.0, abs=0.1)
    assert reading.diastolic == pytest.approx(80.3, abs=0.1)
    assert reading.pulse_bpm == 70.0


@pytest.mark.parametrize(
    ("status", "flags"),
    [
        (BpStatus(), set()),
        (BpStatus(body_movement=True), {QualityFlag.BODY_MOVEMENT}),
        (BpStatus(cuff_too_loose=True), {QualityFlag.CUFF_TOO_LOOSE}),
        (BpStatus(irregular_pulse=True), {QualityFlag.IRREGULAR_PULSE}),
        (BpStatus(pulse_rate_range=1), {QualityFlag.PULSE_RATE_OUT_OF_RANGE}),
        (BpStatus(pulse_rate_range=2), {QualityFlag.PULSE_RATE_OUT_OF_RANGE}),
        (BpStatus(pulse_rate_range=3), set()),  # reserved
        (BpStatus(improper_position=True), {QualityFlag.IMPROPER_POSITION}),
    ],
)
def test_blood_pressure_status_bits_become_flags(status: BpStatus, flags: set[QualityFlag]) -> None:
    assert bp_flags(status) == flags
    data = bytes(BloodPressureMeasurement(120.0, 80.0, 93.0, status=status))
    assert blood_pressure(data, ENVELOPE).flags == flags


def test_cuff_pressure_is_the_first_sfloat() -> None:
    reading = cuff_pressure(bytes(IntermediateCuffPressure(142.0)), ENVELOPE)
    assert reading.mmhg == 142.0 and validate(reading) is None


def test_plx_status_names_become_flags() -> None:
    assert plx_flags(None, None) == frozenset()
    assert plx_flags(frozenset({"early_estimate", "validated"}), frozenset({"low_perfusion"})) == {
        QualityFlag.EARLY_ESTIMATE,
        QualityFlag.LOW_PERFUSION,
    }
    assert plx_flags(frozenset(), frozenset({"sensor_displaced", "erratic_signal"})) == {
        QualityFlag.FINGER_OUT,
        QualityFlag.ERRATIC_SIGNAL,
    }


def test_spot_check_and_continuous_map_to_spo2() -> None:
    spot = spot_check(bytes(PlxSpotCheck(98.0, 61.0, STAMP, frozenset({"questionable"}), None, 2.5)), ENVELOPE)
    assert (spot.percent, spot.pulse_bpm, spot.perfusion_index) == (98.0, 61.0, 2.5)
    assert spot.flags == {QualityFlag.QUESTIONABLE} and spot.device_time is not None
    live = continuous(bytes(PlxContinuous(95.0, 80.0)), ENVELOPE)
    assert (live.percent, live.pulse_bpm, live.device_time) == (95.0, 80.0, None)


def test_finger_out_nan_values_are_rejected_downstream_with_their_flags() -> None:
    data = bytes(PlxSpotCheck(math.nan, math.nan, None, None, frozenset({"sensor_disconnected"})))
    reading = spot_check(data, ENVELOPE)
    assert QualityFlag.FINGER_OUT in reading.flags
    rejected = validate(reading)
    assert rejected is not None and rejected.rule == "not_finite"


def test_weight_with_bmi_and_height_and_a_failed_weighing() -> None:
    reading = weight(bytes(WeightMeasurement.from_kg(80.0, None, None, 26.1, 1.75)), ENVELOPE)
    assert reading is not None
    assert (reading.kg, reading.bmi, reading.height_m) == (80.0, 26.1, 1.75)
    assert weight(bytes(WeightMeasurement(None)), ENVELOPE) is None  # raw 0xFFFF: unsuccessful


def test_low_battery_flag_at_the_threshold() -> None:
    low = Envelope("d", "m", 0.0, PARIS, battery_percent=LOW_BATTERY_PERCENT)
    assert QualityFlag.LOW_BATTERY in temperature(bytes(TemperatureMeasurement(37.0)), low).flags
    ok = Envelope("d", "m", 0.0, PARIS, battery_percent=LOW_BATTERY_PERCENT + 1)
    assert temperature(bytes(TemperatureMeasurement(37.0)), ok).flags == frozenset()


@pytest.mark.parametrize("channel", [c for channels in CHANNELS.values() for c in channels], ids=lambda c: c.name)
@pytest.mark.parametrize("data", [b"", b"\xff", b"\x02\x00\x00"])
def test_every_channel_turns_bad_bytes_into_protocol_error(channel: object, data: bytes) -> None:
    with pytest.raises(ProtocolError):
        channel.decode(data, ENVELOPE)  # type: ignore[attr-defined]
