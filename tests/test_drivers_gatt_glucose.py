"""Glucose service records and the Record Access Control Point: public vectors, round trips, garbage.

Vectors: NordicSemiconductor/Android-BLE-Library, ble-common/src/test/java/no/nordicsemi/android/ble/common/
callback/glucose/GlucoseMeasurementDataCallbackTest.java, GlucoseMeasurementContextDataCallbackTest.java,
GlucoseFeatureDataCallbackTest.java and callback/RecordAccessControlPointDataCallbackTest.java; field tables
from the Bluetooth SIG Glucose Service 1.0 and Glucose Profile 1.0 specifications.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.errors import ProtocolError
from drivers.gatt import DateTime, bytes_from_hex, decode_to_json
from drivers.gatt_common import pack_sfloat
from drivers.gatt_glucose import FEATURES, SENSOR_STATUS, GlucoseContext, GlucoseFeature, GlucoseMeasurement
from drivers.gatt_racp import (
    RacpCode,
    RacpOp,
    RacpOperator,
    RacpRecordCount,
    RacpRequest,
    RacpResponse,
    parse_racp,
)
from drivers.ieee11073 import decode_sfloat

# GlucoseMeasurementDataCallbackTest.onGlucoseMeasurementReceived: every field present, kg/L.
NORDIC_MEASUREMENT = bytes([0b011011, 1, 0, 0xE3, 0x07, 2, 27, 11, 10, 30, 0xFB, 0xFF, 30, 0, 0x12, 0b101, 0b1])
# ...onInvalidDataReceived: the time offset flag is set but the payload stops short of the status.
NORDIC_SHORT = bytes([0b011011, 0, 0, 0xE2, 0x07, 4, 26, 11, 9, 30, 30, 0, 0x12, 0b101, 0b1])


def test_nordic_measurement_vector() -> None:
    record = GlucoseMeasurement.parse(NORDIC_MEASUREMENT)
    assert record.sequence == 1
    assert record.base_time == DateTime(2019, 2, 27, 11, 10, 30)
    assert record.time_offset_min == -5
    assert record.time == datetime(2019, 2, 27, 11, 5, 30)  # Nordic: minute 5 once the offset applies
    assert record.concentration == 30.0 and not record.mol_per_l
    assert (record.sample_type_name, record.sample_location_name) == ("capillary_plasma", "finger")
    assert record.status is not None and "battery_low" in record.status  # status value 261
    assert "general_device_fault" not in record.status
    assert record.context_follows
    assert bytes(record) == NORDIC_MEASUREMENT


def test_nordic_short_measurement_is_a_protocol_error_naming_the_field() -> None:
    with pytest.raises(ProtocolError, match="sensor status needs 2 byte"):
        GlucoseMeasurement.parse(NORDIC_SHORT)


def test_units_become_mg_dl() -> None:
    base = DateTime(2026, 12, 5, 8, 30, 0)
    kg_per_l = GlucoseMeasurement(7, base, None, 0.00105, False, 1, 1)  # 105 mg/dL as a meter sends it in kg/L
    mol_per_l = GlucoseMeasurement(8, base, None, 0.0058, True, 1, 1)  # 5.8 mmol/L
    assert kg_per_l.mg_dl == pytest.approx(105.0)
    assert mol_per_l.mg_dl == pytest.approx(104.4928)
    assert GlucoseMeasurement.parse(bytes(kg_per_l)).mg_dl == pytest.approx(105.0)


def _nordic_context() -> bytes:
    """GlucoseMeasurementContextDataCallbackTest.onGlucoseMeasurementContextReceived_full, byte by byte."""
    return (bytes([0xFF, 0, 0, 0xB3, 3]) + pack_sfloat(100.0) + bytes([4, 0x12, 60, 0, 50, 4])
            + pack_sfloat(123.4) + pack_sfloat(34.5))


def test_nordic_full_context_vector() -> None:
    context = GlucoseContext.parse(_nordic_context())
    extras = context.json_extras()
    assert context.sequence == 0 and context.extended_flags == 0xB3
    assert extras["carbohydrate_name"] == "dinner" and context.carbohydrate_kg == 100.0
    assert context.meal_name == "casual"
    assert (extras["tester_name"], extras["health_name"]) == ("health_care_professional", "minor_issues")
    assert (context.exercise_s, context.exercise_intensity) == (60, 50)
    assert extras["medication_name"] == "long_acting_insulin" and context.medication_liters
    assert context.medication_amount == pytest.approx(123.4) and context.hba1c == 34.5
    assert bytes(context) == _nordic_context()


def test_nordic_empty_and_short_context_vectors() -> None:
    # _empty: flags 0 and sequence 1 in a 17-byte buffer; a context with no field is three bytes long.
    assert GlucoseContext.parse(bytes([0, 1, 0])) == GlucoseContext(1)
    with pytest.raises(ProtocolError, match="unexpected byte"):
        GlucoseContext.parse(bytes([0, 1, 0]) + bytes(14))
    with pytest.raises(ProtocolError, match="Glucose Measurement Context"):  # onInvalidDataReceived: 5 bytes
        GlucoseContext.parse(bytes([0xFF, 0, 0, 0xB3, 3]))


def test_nordic_feature_vector() -> None:
    feature = GlucoseFeature.parse(bytes([0b1111_0000, 0b0000_0011]))
    assert feature.features == {"strip_type_error", "result_high_low", "temperature_high_low", "read_interrupt",
                                "general_device_fault", "time_fault"}
    with pytest.raises(ProtocolError):
        GlucoseFeature.parse(b"")


@pytest.mark.parametrize(("data", "request_op", "code"), [
    ([6, 0, 1, 1], RacpOp.REPORT_STORED_RECORDS, RacpCode.SUCCESS),
    ([6, 0, 12, 2], 12, RacpCode.OP_CODE_NOT_SUPPORTED),
    ([6, 0, 1, 3], RacpOp.REPORT_STORED_RECORDS, RacpCode.INVALID_OPERATOR),
    ([6, 0, 2, 4], RacpOp.DELETE_STORED_RECORDS, RacpCode.OPERATOR_NOT_SUPPORTED),
    ([6, 0, 1, 5], RacpOp.REPORT_STORED_RECORDS, RacpCode.INVALID_OPERAND),
    ([6, 0, 1, 6], RacpOp.REPORT_STORED_RECORDS, RacpCode.NO_RECORDS_FOUND),
    ([6, 0, 3, 7], RacpOp.ABORT_OPERATION, RacpCode.ABORT_UNSUCCESSFUL),
    ([6, 0, 2, 8], RacpOp.DELETE_STORED_RECORDS, RacpCode.PROCEDURE_NOT_COMPLETED),
    ([6, 0, 2, 9], RacpOp.DELETE_STORED_RECORDS, RacpCode.OPERAND_NOT_SUPPORTED),
])
def test_nordic_racp_response_codes(data: list[int], request_op: int, code: RacpCode) -> None:
    response = parse_racp(bytes(data))
    assert response == RacpResponse(request_op, code)
    assert bytes(response) == bytes(data)


def test_nordic_racp_counts_and_invalid_values() -> None:
    assert parse_racp(bytes([5, 0, 2, 1])) == RacpRecordCount(258)  # GLS: a u16
    assert parse_racp(bytes([5, 0, 1])) == RacpRecordCount(1)
    assert parse_racp(bytes([5, 0, 4, 3, 2, 1])) == RacpRecordCount(16909060)
    assert bytes(RacpRecordCount(258)) == bytes([5, 0, 2, 1])
    for invalid in ([5, 0, 3, 2, 1], [1], [6, 1, 1], [6, 0, 1, 10], [9, 0]):  # Nordic's invalid cases and RFU codes
        with pytest.raises(ProtocolError, match="Record Access Control Point"):
            parse_racp(bytes(invalid))


def test_racp_requests_the_collector_writes() -> None:
    assert bytes(RacpRequest.report_last_record()) == bytes([1, 6])
    assert bytes(RacpRequest.report_all_records()) == bytes([1, 1])
    assert bytes(RacpRequest.report_number_of_records()) == bytes([4, 1])
    assert parse_racp(bytes([1, 6])) == RacpRequest(RacpOp.REPORT_STORED_RECORDS, RacpOperator.LAST_RECORD)


def test_racp_report_records_from_a_sequence_number() -> None:
    # GLS 1.0 §3.6.2: op 1, operator 3 (>=), filter type 0x01 (sequence number), u16 little-endian; the same
    # bytes as Nordic's RecordAccessControlPointData.reportStoredRecordsGreaterThenOrEqualTo(258)
    # (ble-common/src/main/java/no/nordicsemi/android/ble/common/data/RecordAccessControlPointData.java).
    request = RacpRequest.report_records_from(258)
    assert bytes(request) == bytes([1, 3, 1, 2, 1])
    assert parse_racp(bytes([1, 3, 1, 2, 1])) == request
    assert request.json_extras() == {"op": "report_stored_records", "operator": "greater_or_equal", "operand": "010201"}
    with pytest.raises(ProtocolError, match="sequence number 65536 does not fit"):
        RacpRequest.report_records_from(0x10000)


def test_decode_to_json_names_the_fields() -> None:
    value = decode_to_json(0x2A18, bytes_from_hex(NORDIC_MEASUREMENT.hex()))["value"]
    assert isinstance(value, dict)
    assert value["time"] == "2019-02-27T11:05:30" and value["sample_location_name"] == "finger"
    racp = decode_to_json(0x2A52, bytes([6, 0, 1, 6]))["value"]
    assert racp == {"request": "report_stored_records", "code": "no records found"}


sfloats = st.integers(0, 0xFFFF).map(decode_sfloat)
date_times = st.builds(DateTime, st.integers(1582, 9999), st.integers(1, 12), st.integers(1, 28),
                       st.integers(0, 23), st.integers(0, 59), st.integers(0, 59))
nibbles = st.integers(0, 15)


def _measurement(has_value: bool) -> st.SearchStrategy[GlucoseMeasurement]:
    value = sfloats if has_value else st.none()
    code = nibbles if has_value else st.none()
    return st.builds(GlucoseMeasurement, st.integers(0, 0xFFFF), date_times, st.none() | st.integers(-0x8000, 0x7FFF),
                     value, st.booleans(), code, code,
                     st.none() | st.frozensets(st.sampled_from(sorted(SENSOR_STATUS.values()))), st.booleans())


def _pair(first: st.SearchStrategy[Any], second: st.SearchStrategy[Any]) -> st.SearchStrategy[tuple[Any, Any]]:
    return st.just((None, None)) | st.tuples(first, second)


contexts = st.builds(
    lambda seq, ext, carb, meal, tester, exercise, med, liters, hba1c: GlucoseContext(
        seq, ext, *carb, meal, *tester, *exercise, *med, liters, hba1c),
    st.integers(0, 0xFFFF), st.none() | st.integers(0, 0xFF), _pair(st.integers(0, 0xFF), sfloats),
    st.none() | st.integers(0, 0xFF), _pair(nibbles, nibbles), _pair(st.integers(0, 0xFFFF), st.integers(0, 0xFF)),
    _pair(st.integers(0, 0xFF), sfloats), st.booleans(), st.none() | sfloats)
RECORDS = {
    "measurement": st.booleans().flatmap(_measurement),
    "context": contexts,
    "feature": st.builds(GlucoseFeature, st.frozensets(st.sampled_from(sorted(FEATURES.values())))),
}


def _same(a: object, b: object) -> bool:
    return json.dumps(decode_like(a), sort_keys=True) == json.dumps(decode_like(b), sort_keys=True)


def decode_like(record: object) -> object:
    """A comparable form of a record in which NaN equals NaN."""
    fields = getattr(record, "__dataclass_fields__", {})
    return {name: _plain(getattr(record, name)) for name in fields}


def _plain(value: object) -> object:
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, float) and math.isinf(value):
        return str(value)
    if isinstance(value, frozenset):
        return sorted(value)
    if isinstance(value, DateTime):
        return bytes(value).hex()
    return value


@pytest.mark.parametrize("kind", sorted(RECORDS))
@given(data=st.data())
def test_records_round_trip(kind: str, data: st.DataObject) -> None:
    record = data.draw(RECORDS[kind])
    parsed = type(record).parse(bytes(record))
    assert _same(parsed, record)
    assert bytes(parsed) == bytes(record)


@pytest.mark.parametrize("parse", [GlucoseMeasurement.parse, GlucoseContext.parse, GlucoseFeature.parse, parse_racp])
@given(data=st.binary(max_size=24))
def test_garbage_raises_only_protocol_errors(parse: Any, data: bytes) -> None:
    try:
        parse(data)
    except ProtocolError:
        pass


def test_encoders_refuse_fields_that_do_not_travel_together() -> None:
    with pytest.raises(ProtocolError, match="travel"):
        bytes(GlucoseMeasurement(1, DateTime(2026, 1, 1), sample_type=1))
    with pytest.raises(ProtocolError, match="4-bit"):
        bytes(GlucoseMeasurement(1, DateTime(2026, 1, 1), None, 0.001, False, 16, 1))
    with pytest.raises(ProtocolError, match="travel together"):
        bytes(GlucoseContext(1, carbohydrate=1))
