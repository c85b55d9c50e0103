"""GATT health records: published vectors with their hand decoding, derived values, errors, JSON."""

from __future__ import annotations

import json
import math
from datetime import datetime

import pytest

from drivers import gatt
from drivers.errors import ProtocolError
from drivers.gatt import (
    BloodPressureFeature,
    BloodPressureMeasurement,
    BpStatus,
    DateTime,
    IntermediateCuffPressure,
    PlxContinuous,
    PlxFeatures,
    PlxSpotCheck,
    TemperatureMeasurement,
    WeightMeasurement,
    WeightScaleFeature,
    battery_level,
    bytes_from_hex,
    decode_to_json,
    parse_uuid16,
    utf8_string,
    uuid16,
)

# ---- Date Time: Nordic Android-BLE-Library DateTimeDataCallbackTest ----


def test_date_time_nordic_today() -> None:
    # E2 07 = 2018, 04 = April, 0x11 = 17, 0x0F = 15 h, 0x33 = 51 min, 00 s
    value = DateTime.parse(bytes([0xE2, 0x07, 4, 17, 15, 51, 0]))
    assert value == DateTime(2018, 4, 17, 15, 51, 0)
    assert value.to_datetime() == datetime(2018, 4, 17, 15, 51, 0)


def test_date_time_nordic_date_not_known() -> None:
    # year 0, month 0, day 0 = unknown; 18:26:32
    value = DateTime.parse(bytes([0x00, 0x00, 0, 0, 18, 26, 32]))
    assert value == DateTime(0, 0, 0, 18, 26, 32)
    assert value.to_datetime() is None


@pytest.mark.parametrize("data", [b"", bytes([0xE2, 0x07, 4, 17, 15, 51])])
def test_date_time_nordic_too_short(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        DateTime.parse(data)


def test_date_time_im97mori_february_31_parses_but_is_no_datetime() -> None:
    # im97mori AndroidBLEUtil WeightMeasurementTest.test_constructor103: 9999-02-31 is kept as sent.
    value = DateTime.parse(bytes([0x0F, 0x27, 2, 31, 0, 0, 0]))  # 0x270F = 9999
    assert (value.year, value.month, value.day) == (9999, 2, 31)
    assert value.to_datetime() is None


@pytest.mark.parametrize(("data", "message"), [
    (bytes([0xE2, 0x07, 13, 1, 0, 0, 0]), "month 13 at offset 2"),
    (bytes([0xE2, 0x07, 1, 32, 0, 0, 0]), "day 32 at offset 3"),
    (bytes([0xE2, 0x07, 1, 1, 24, 0, 0]), "hours 24 at offset 4"),
    (bytes([0xE2, 0x07, 1, 1, 0, 60, 0]), "minutes 60 at offset 5"),
    (bytes([0xE2, 0x07, 1, 1, 0, 0, 60]), "seconds 60 at offset 6"),
    (bytes([0x01, 0x00, 1, 1, 0, 0, 0]), "year 1 at offset 0"),
])
def test_date_time_out_of_range_parts(data: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        DateTime.parse(data)


# ---- Temperature Measurement ----


def test_temperature_nordic_vector() -> None:
    # Nordic TemperatureMeasurementDataCallbackTest:
    # 06 flags: bit1 time stamp, bit2 type, Celsius
    # B0 0E 00 FE FLOAT: mantissa 0x000EB0 = 3760, exponent 0xFE = -2 -> 37.60 °C
    # DC 07 0C 05 0B 32 1B: 2012-12-05 11:50:27; 04 type = finger
    data = bytes([0x06, 0xB0, 0x0E, 0x00, 0xFE, 0xDC, 0x07, 0x0C, 0x05, 0x0B, 0x32, 0x1B, 0x04])
    value = TemperatureMeasurement.parse(data)
    assert value == TemperatureMeasurement(37.6, False, DateTime(2012, 12, 5, 11, 50, 27), 4)
    assert value.celsius == 37.6
    assert value.site == "finger"
    # Re-encoded with the shortest exact mantissa: 376 x 10**-1 (78 01 00 FF), same value.
    assert bytes(value) == bytes([0x06, 0x78, 0x01, 0x00, 0xFF]) + data[5:]
    assert TemperatureMeasurement.parse(bytes(value)) == value


def test_temperature_nordic_invalid_missing_type() -> None:
    # The same bytes without the type byte that flag bit 2 promises.
    data = bytes([0x06, 0xB0, 0x0E, 0x00, 0xFE, 0xDC, 0x07, 0x0C, 0x05, 0x0B, 0x32, 0x1B])
    with pytest.raises(ProtocolError, match="temperature type needs 1 byte"):
        TemperatureMeasurement.parse(data)


def test_temperature_zephyr_peripheral_ht() -> None:
    # Zephyr samples/bluetooth/peripheral_ht hts.c: htm[0] = 0 (Celsius), le24 mantissa = temperature x 100,
    # htm[4] = (uint8_t)-2. Its first simulated reading is 21 °C: mantissa 2100 = 0x000834.
    value = TemperatureMeasurement.parse(bytes([0x00, 0x34, 0x08, 0x00, 0xFE]))
    assert value == TemperatureMeasurement(21.0)
    # The older sample sent mantissa = temperature with exponent 0: 0x15 = 21.
    assert TemperatureMeasurement.parse(bytes([0x00, 0x15, 0x00, 0x00, 0x00])) == value


def test_temperature_fahrenheit_to_celsius() -> None:
    value = TemperatureMeasurement(98.6, fahrenheit=True)
    assert value.celsius == pytest.approx(37.0)
    assert TemperatureMeasurement.parse(bytes(value)) == value
    assert bytes(value)[0] == 0x01


# ---- Blood Pressure Measurement: Nordic BloodPressureMeasurementDataCallbackTest ----

BP_FULL = bytes([0x1E, 0x8A, 0x00, 0x58, 0x00, 0x78, 0x00, 0x00, 0x00, 0x04, 0x11, 0x14, 0x29, 0x3B, 0x3C, 0x00,
                 0x01, 0x27, 0x00])
BP_SOME = bytes([0x15, 0xBD, 0xF0, 0x0B, 0x00, 0x9F, 0xF0, 0x3C, 0x00, 0x12, 0x00])
BP_MINIMAL = bytes([0x00, 0xBD, 0xF0, 0x0B, 0x00, 0x9F, 0xF0])


def test_bp_nordic_full() -> None:
    # 1E flags: time stamp, pulse, user id, status; mmHg
    # 8A 00 = 138, 58 00 = 88, 78 00 = 120 (SFLOAT, exponent 0)
    # 00 00 04 11 14 29 3B: year unknown, April 17, 20:41:59
    # 3C 00 pulse 60; 01 user 1; 27 00 status 0b100111: body movement, cuff loose, irregular, range 0, position
    value = BloodPressureMeasurement.parse(BP_FULL)
    status = BpStatus(body_movement=True, cuff_too_loose=True, irregular_pulse=True, pulse_rate_range=0,
                      improper_position=True)
    assert value == BloodPressureMeasurement(138.0, 88.0, 120.0, False, DateTime(0, 4, 17, 20, 41, 59), 60.0, 1,
                                             status)
    assert value.timestamp is not None and value.timestamp.to_datetime() is None
    assert value.to_mmhg() == (138.0, 88.0, 120.0)
    assert bytes(value) == BP_FULL


def test_bp_nordic_some() -> None:
    # 15 flags: kPa, pulse, status
    # BD F0: exponent -1, mantissa 0x0BD = 189 -> 18.9 kPa; 0B 00 = 11; 9F F0 = 159 x 10**-1 = 15.9
    # 3C 00 pulse 60; 12 00 status 0b010010: cuff too loose, pulse range 0b10 = below lower limit
    value = BloodPressureMeasurement.parse(BP_SOME)
    assert value == BloodPressureMeasurement(18.9, 11.0, 15.9, True, None, 60.0, None,
                                             BpStatus(cuff_too_loose=True, pulse_rate_range=2))
    mmhg = value.to_mmhg()
    assert mmhg.systolic == pytest.approx(141.76, abs=0.01)  # 18.9 kPa x 7.50062
    assert mmhg.diastolic == pytest.approx(82.51, abs=0.01)
    assert bytes(value) == BP_SOME


def test_bp_nordic_minimal() -> None:
    # 00 flags: mmHg, nothing optional; 18.9, 11, 15.9
    value = BloodPressureMeasurement.parse(BP_MINIMAL)
    assert value == BloodPressureMeasurement(18.9, 11.0, 15.9)
    assert bytes(value) == BP_MINIMAL


@pytest.mark.parametrize(("data", "message"), [
    (bytes([1, 2, 3, 4, 5, 6]), "mean arterial pressure needs 2 byte"),  # Nordic onInvalidDataReceived_toShort
    (bytes([3, 2, 3, 4, 5, 6, 7]), "time stamp year needs 2 byte.* at offset 7"),  # ..._noTimestamp
    (BP_MINIMAL + b"\x00", "1 unexpected byte"),
])
def test_bp_nordic_invalid(data: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        BloodPressureMeasurement.parse(data)


# ---- Intermediate Cuff Pressure: Nordic IntermediateCuffPressureDataCallbackTest ----


def test_icp_nordic_full() -> None:
    # Flags 1E; 04 00 = 4 mmHg current; the two unused SFLOATs are 0 here (the spec says NaN);
    # then the same tail as the full BP vector.
    data = bytes([0x1E, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x11, 0x14, 0x29, 0x3B, 0x3C, 0x00,
                  0x01, 0x27, 0x00])
    value = IntermediateCuffPressure.parse(data)
    assert value.current_pressure == 4.0
    assert (value.kpa, value.pulse_rate, value.user_id) == (False, 60.0, 1)
    assert value.status == BpStatus(True, True, True, 0, True)
    assert IntermediateCuffPressure.parse(bytes(value)) == value
    # Re-encoded, the unused slots carry NaN (07 FF) as the spec asks.
    assert bytes(value)[3:7] == bytes([0xFF, 0x07, 0xFF, 0x07])


def test_icp_nordic_some_and_minimal() -> None:
    # 15 flags kPa, pulse, status; 6F F0 = 111 x 10**-1 = 11.1 kPa
    some = IntermediateCuffPressure.parse(bytes([0x15, 0x6F, 0xF0, 0x00, 0x00, 0x00, 0x00, 0x3C, 0x0, 0x12, 0x0]))
    assert some == IntermediateCuffPressure(11.1, True, None, 60.0, None, BpStatus(cuff_too_loose=True,
                                                                                   pulse_rate_range=2))
    assert some.current_mmhg == pytest.approx(83.26, abs=0.01)
    # 00 flags; D7 F0 = 215 x 10**-1 = 21.5 mmHg
    assert IntermediateCuffPressure.parse(bytes([0x00, 0xD7, 0xF0, 0, 0, 0, 0])) == IntermediateCuffPressure(21.5)


def test_icp_ignores_whatever_the_unused_slots_hold() -> None:
    nan_slots = bytes([0x00, 0xD7, 0xF0, 0xFF, 0x07, 0xFF, 0x07])
    garbage_slots = bytes([0x00, 0xD7, 0xF0, 0x12, 0x34, 0x56, 0x78])
    assert IntermediateCuffPressure.parse(nan_slots) == IntermediateCuffPressure.parse(garbage_slots)


@pytest.mark.parametrize("data", [bytes([1, 2, 3, 4, 5, 6]), bytes([3, 2, 3, 4, 5, 6, 7])])
def test_icp_nordic_invalid(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        IntermediateCuffPressure.parse(data)


def test_bp_feature() -> None:
    # SpeziBluetooth BloodPressureFeature: bits 0 body movement ... 5 multiple bonds, 8 user facing time.
    value = BloodPressureFeature.parse(bytes([0x21, 0x01]))  # 0x0121: bits 0, 5, 8
    assert value.supported == {"body_movement_detection", "multiple_bonds", "user_facing_time"}
    assert bytes(value) == bytes([0x21, 0x01])


# ---- PLX: SpeziBluetooth PLXTests ----


def test_plx_spot_check_spezi() -> None:
    # 0F flags: time stamp, measurement status, device status, PAI
    # AC F3 = 0xF3AC: exponent -1, mantissa 940 -> 94.0 %; BE F5 = 0xF5BE: 1470 x 10**-1 = 147 bpm
    # E8 07 0B 1D 17 08 39: 2024-11-29 23:08:57
    # 20 40: bits 5 measurement ongoing, 14 questionable
    # 22 00 00: bits 1 equipment malfunction, 5 low perfusion; 66 E3 = 0xE366: 870 x 10**-2 = 8.7 PAI
    data = bytes([15, 172, 243, 190, 245, 232, 7, 11, 29, 23, 8, 57, 32, 64, 34, 0, 0, 102, 227])
    value = PlxSpotCheck.parse(data)
    assert value == PlxSpotCheck(94.0, 147.0, DateTime(2024, 11, 29, 23, 8, 57),
                                 frozenset({"measurement_ongoing", "questionable"}),
                                 frozenset({"equipment_malfunction", "low_perfusion"}), 8.7, False)
    assert PlxSpotCheck.parse(bytes(value)) == value


def test_plx_continuous_spezi_full() -> None:
    # 1F flags: fast, slow, status, device status, PAI
    # DE F3 = 990 x 10**-1 = 99 %; CA F3 = 97 bpm; fast: CA F3 = 97 %, 5A F5 = 1370 x 10**-1 = 137 bpm
    # slow: D4 F3 = 98 %, B2 F2 = 690 x 10**-1 = 69 bpm; 20 01: bits 5 ongoing, 8 fully qualified
    # 00 00 00: no device status bits; 7A E3 = 890 x 10**-2 = 8.9
    data = bytes([31, 222, 243, 202, 243, 202, 243, 90, 245, 212, 243, 178, 242, 32, 1, 0, 0, 0, 122, 227])
    value = PlxContinuous.parse(data)
    assert value == PlxContinuous(99.0, 97.0, (97.0, 137.0), (98.0, 69.0),
                                  frozenset({"measurement_ongoing", "fully_qualified"}), frozenset(), 8.9)
    assert PlxContinuous.parse(bytes(value)) == value


def test_plx_continuous_spezi_simple() -> None:
    # 1C flags: status, device status, PAI; 5F 00 = 95 %; 5A 00 = 90 bpm; 20 00 ongoing; 00 00 00; 57 F0 = 8.7
    value = PlxContinuous.parse(bytes([28, 95, 0, 90, 0, 32, 0, 0, 0, 0, 87, 240]))
    assert value == PlxContinuous(95.0, 90.0, None, None, frozenset({"measurement_ongoing"}), frozenset(), 8.7)
    assert bytes(value) == bytes([28, 95, 0, 90, 0, 32, 0, 0, 0, 0, 87, 240])


def test_plx_continuous_spezi_very_simple() -> None:
    # Two encodings of 100 % and 90 bpm: 64 00 / 5A 00 (exponent 0) and E8 F3 / 84 F3 (1000 and 900 x 10**-1).
    expected = PlxContinuous(100.0, 90.0)
    assert PlxContinuous.parse(bytes([0, 100, 0, 90, 0])) == expected
    assert PlxContinuous.parse(bytes([0, 232, 243, 132, 243])) == expected


def test_plx_features_spezi() -> None:
    # A3 00 = 0x00A3: bits 0 measurement status support, 1 device status support, 5 slow, 7 multiple bonds
    # 40 10 = 0x1040: bits 6 early estimate, 12 calibration ongoing
    # 80 01 00 = 0x000180: bits 7 non-pulsatile, 8 questionable pulse
    data = bytes([163, 0, 64, 16, 128, 1, 0])
    value = PlxFeatures.parse(data)
    assert value == PlxFeatures(0x00A3, 0x1040, 0x000180)
    assert value.supported == {"measurement_status", "device_status", "slow", "multiple_bonds"}
    assert bytes(value) == data
    extras = value.json_extras()
    assert extras["measurement_status_supported"] == {"early_estimate", "calibration_ongoing"}
    assert extras["device_status_supported"] == {"non_pulsatile", "questionable_pulse"}


def test_plx_reserved_status_bits_are_dropped() -> None:
    # Measurement status bits 0-4 and device status bits 16-23 are reserved.
    value = PlxSpotCheck.parse(bytes([0x06, 0x62, 0x00, 0x48, 0x00, 0x1F, 0x00, 0x00, 0x00, 0xFF]))
    assert value.measurement_status == frozenset()
    assert value.device_status == frozenset()


def test_plx_spot_check_clock_not_set() -> None:
    value = PlxSpotCheck.parse(bytes([0x10, 0x62, 0x00, 0x48, 0x00]))  # 98 %, 72 bpm, flag bit 4
    assert value == PlxSpotCheck(98.0, 72.0, clock_not_set=True)
    assert bytes(value) == bytes([0x10, 0x62, 0x00, 0x48, 0x00])


# ---- Weight Measurement ----


@pytest.mark.parametrize(("data", "kg"), [
    # StanfordSpezi SpeziKt WeightDataConverterTest: 06 flags (time stamp, user id), 20 12 = 0x1220 = 4640
    # x 0.005 kg = 23.2 kg, time stamp all zero (unknown), user 1.
    (bytes([6, 32, 18, 0, 0, 0, 0, 0, 0, 0, 1]), 23.2),
    # 10 0E = 0x0E10 = 3600 x 0.005 = 18.0 kg
    (bytes([6, 16, 14, 0, 0, 0, 0, 0, 0, 0, 1]), 18.0),
])
def test_weight_spezikt(data: bytes, kg: float) -> None:
    value = WeightMeasurement.parse(data)
    assert value.kg == kg
    assert (value.imperial, value.user_id, value.timestamp) == (False, 1, DateTime(0, 0, 0))
    assert bytes(value) == data


def test_weight_spezikt_imperial() -> None:
    # SpeziKt WeightMeasurementMapperTest: 01 flags imperial, 30 75 = 0x7530 = 30000 x 0.01 lb = 300 lb
    value = WeightMeasurement.parse(bytes([0x01, 0x30, 0x75]))
    assert value.weight == 300.0
    assert value.kg == pytest.approx(136.0777, abs=1e-4)  # 300 x 0.45359237


def test_weight_unsuccessful() -> None:
    # im97mori WeightMeasurementTest.test_constructor002: 00 FF FF, the WSS "measurement unsuccessful" value.
    value = WeightMeasurement.parse(bytes([0x00, 0xFF, 0xFF]))
    assert value.weight_raw is None and value.kg is None
    assert bytes(value) == bytes([0x00, 0xFF, 0xFF])


def test_weight_with_bmi_and_height() -> None:
    # SpeziBluetooth WeightScaleTests uses weight 123, BMI 230, height 1760 (raw units); here as GSS bytes:
    # 08 flags BMI+height; 7B 00 = 123 x 0.005 = 0.615 kg; E6 00 = 230 x 0.1 = 23.0; E0 06 = 1760 x 0.001 = 1.76 m
    data = bytes([0x08, 0x7B, 0x00, 0xE6, 0x00, 0xE0, 0x06])
    value = WeightMeasurement.parse(data)
    assert value == WeightMeasurement(123, False, None, None, 23.0, 1.76)
    assert (value.kg, value.height_m) == (0.615, 1.76)
    assert bytes(value) == data
    # Imperial: height in 0.1 in steps, 0x02BC = 700 -> 70.0 in = 1.778 m
    imperial = WeightMeasurement.parse(bytes([0x09, 0x10, 0x27, 0xE6, 0x00, 0xBC, 0x02]))
    assert (imperial.weight, imperial.height) == (100.0, 70.0)
    assert imperial.height_m == pytest.approx(1.778)


def test_weight_from_kg() -> None:
    value = WeightMeasurement.from_kg(72.4, user_id=2)
    assert value.weight_raw == 14480 and value.kg == 72.4
    assert WeightMeasurement.parse(bytes(value)) == value


def test_weight_scale_feature() -> None:
    # SpeziBluetooth testWeightScaleFeatureStrings: time stamp + multiple users + BMI is rawValue 0x07.
    value = WeightScaleFeature.parse(bytes([0x07, 0, 0, 0]))
    assert value == WeightScaleFeature(True, True, True, 0, 0)
    assert value.weight_resolution_kg is None and value.height_resolution_m is None
    # Spezi's WeightScaleFeature(weightResolution: .resolution20g (5), heightResolution: .resolution10mm (1)):
    # 5 << 3 | 1 << 7 = 0xA8
    resolved = WeightScaleFeature.parse(bytes([0xA8, 0, 0, 0]))
    assert (resolved.weight_resolution, resolved.height_resolution) == (5, 1)
    assert (resolved.weight_resolution_kg, resolved.weight_resolution_lb) == (0.02, 0.05)
    assert (resolved.height_resolution_m, resolved.height_resolution_in) == (0.01, 1.0)
    assert bytes(resolved) == bytes([0xA8, 0, 0, 0])


@pytest.mark.parametrize(("code", "kg", "lb"), [
    (1, 0.5, 1.0), (2, 0.2, 0.5), (3, 0.1, 0.2), (4, 0.05, 0.1), (5, 0.02, 0.05), (6, 0.01, 0.02),
    (7, 0.005, 0.01), (8, None, None), (15, None, None),
])
def test_weight_resolution_codes(code: int, kg: float | None, lb: float | None) -> None:
    value = WeightScaleFeature(weight_resolution=code)
    assert (value.weight_resolution_kg, value.weight_resolution_lb) == (kg, lb)


# ---- Battery and Device Information ----


def test_battery_nordic() -> None:
    # Nordic BatteryLevelDataCallbackTest
    assert battery_level(bytes([0x64])) == 100
    assert battery_level(bytes([0x0F])) == 15
    with pytest.raises(ProtocolError, match="unexpected byte"):
        battery_level(bytes([0x64, 0x00]))  # too long
    with pytest.raises(ProtocolError, match="101 at offset 0"):
        battery_level(bytes([0x65]))  # above 100
    with pytest.raises(ProtocolError):
        battery_level(b"")


def test_utf8_strings() -> None:
    assert utf8_string(b"Nordic Semiconductor") == "Nordic Semiconductor"
    assert utf8_string("Thermomètre".encode()) == "Thermomètre"
    assert utf8_string(b"1.2.3\x00\x00") == "1.2.3"  # C-string padding dropped
    assert utf8_string(b"") == ""
    with pytest.raises(ProtocolError, match="offset 2"):
        utf8_string(b"ab\xff")


# ---- Encoders refuse what they cannot send ----


@pytest.mark.parametrize("record", [
    WeightMeasurement(100, bmi=23.0),  # BMI without height
    WeightMeasurement(0xFFFF),  # the unsuccessful marker is None, not a weight
    WeightMeasurement(0x10000),
    PlxFeatures(0x0001),  # bit 0 promises measurement status support
    PlxFeatures(0x0000, 0x0020),
    PlxSpotCheck(98.0, 72.0, measurement_status=frozenset({"no_such_flag"})),
    BloodPressureMeasurement(120.0, 80.0, 93.0, user_id=256),
    BloodPressureMeasurement(120.0, 80.0, 93.0, status=BpStatus(pulse_rate_range=4)),
    TemperatureMeasurement(37.0, temperature_type=300),
    WeightScaleFeature(weight_resolution=16),
    DateTime(70000, 1, 1),
])
def test_encoders_raise_protocol_errors(record: object) -> None:
    with pytest.raises(ProtocolError):
        bytes(record)  # type: ignore[call-overload]


# ---- UUIDs, hex and JSON ----


def test_uuids() -> None:
    assert uuid16(gatt.BLOOD_PRESSURE_MEASUREMENT) == "00002a35-0000-1000-8000-00805f9b34fb"
    assert uuid16(gatt.HEALTH_THERMOMETER) == "00001809-0000-1000-8000-00805f9b34fb"
    assert parse_uuid16("2a35") == parse_uuid16("0x2A35") == 0x2A35
    assert parse_uuid16("00002A35-0000-1000-8000-00805F9B34FB") == 0x2A35
    for bad in ("2a3", "zzzz", "00002a35-0000-1000-8000-000000000000"):
        with pytest.raises(ProtocolError):
            parse_uuid16(bad)
    with pytest.raises(ProtocolError):
        uuid16(0x10000)


def test_constants_match_the_assigned_numbers() -> None:
    assert (gatt.HEALTH_THERMOMETER, gatt.BLOOD_PRESSURE, gatt.PULSE_OXIMETER, gatt.WEIGHT_SCALE, gatt.BATTERY,
            gatt.DEVICE_INFORMATION) == (0x1809, 0x1810, 0x1822, 0x181D, 0x180F, 0x180A)
    assert (gatt.TEMPERATURE_MEASUREMENT, gatt.BLOOD_PRESSURE_MEASUREMENT, gatt.INTERMEDIATE_CUFF_PRESSURE,
            gatt.BLOOD_PRESSURE_FEATURE, gatt.PLX_SPOT_CHECK, gatt.PLX_CONTINUOUS, gatt.PLX_FEATURES,
            gatt.WEIGHT_MEASUREMENT, gatt.WEIGHT_SCALE_FEATURE, gatt.BATTERY_LEVEL, gatt.MODEL_NUMBER,
            gatt.SERIAL_NUMBER, gatt.FIRMWARE_REVISION, gatt.MANUFACTURER_NAME) == (
        0x2A1C, 0x2A35, 0x2A36, 0x2A49, 0x2A5E, 0x2A5F, 0x2A60, 0x2A9D, 0x2A9E, 0x2A19, 0x2A24, 0x2A25, 0x2A26,
        0x2A29)


def test_bytes_from_hex() -> None:
    assert bytes_from_hex("1e 8a:00-58") == bytes([0x1E, 0x8A, 0x00, 0x58])
    assert bytes_from_hex("0x1E8A") == bytes([0x1E, 0x8A])
    for bad in ("", "1", "zz", "1e8"):
        with pytest.raises(ProtocolError):
            bytes_from_hex(bad)


def test_decode_to_json_bp() -> None:
    result = decode_to_json(0x2A35, BP_FULL)
    assert result["characteristic"] == "2a35"
    assert result["name"] == "blood_pressure_measurement"
    value = result["value"]
    assert isinstance(value, dict)
    assert (value["systolic"], value["diastolic"], value["mean_arterial"], value["kpa"]) == (138.0, 88.0, 120.0,
                                                                                             False)
    # Year unknown: no ISO string, the parts with unknown ones as null.
    assert value["timestamp"] == {"year": None, "month": 4, "day": 17, "hours": 20, "minutes": 41, "seconds": 59}
    assert value["status"]["pulse_rate_range_name"] == "in_range"
    assert value["mmhg"] == {"systolic": 138.0, "diastolic": 88.0, "mean_arterial": 120.0}
    json.dumps(result, allow_nan=False)


def test_decode_to_json_iso_time_nan_and_infinity() -> None:
    # Spot-check with NaN SpO2 (07 FF) and +INF pulse (07 FE), time stamp 2024-11-29 23:08:57
    data = bytes([0x01, 0xFF, 0x07, 0xFE, 0x07, 232, 7, 11, 29, 23, 8, 57])
    value = decode_to_json(0x2A5E, data)["value"]
    assert isinstance(value, dict)
    assert value["spo2"] is None
    assert value["pulse_rate"] == "inf"
    assert value["timestamp"] == "2024-11-29T23:08:57"
    assert math.isnan(PlxSpotCheck.parse(data).spo2)


def test_decode_to_json_other_kinds() -> None:
    assert decode_to_json(0x2A19, b"\x57")["value"] == 87
    assert decode_to_json(0x2A29, b"Omron\x00")["value"] == "Omron"
    features = decode_to_json(0x2A60, bytes([163, 0, 64, 16, 128, 1, 0]))["value"]
    assert isinstance(features, dict)
    assert features["supported"] == ["device_status", "measurement_status", "multiple_bonds", "slow"]
    with pytest.raises(ProtocolError, match="no decoder for characteristic"):
        decode_to_json(0x2A00, b"")
