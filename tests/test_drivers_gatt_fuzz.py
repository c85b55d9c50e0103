"""GATT health records: every flag combination round-trips, and no input raises anything but ProtocolError."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.errors import ProtocolError
from drivers.gatt import (
    DECODERS,
    DEVICE_STATUS,
    MEASUREMENT_STATUS,
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
    decode_to_json,
    utf8_string,
)
from drivers.ieee11073 import decode_float, decode_sfloat


def canon(value: object) -> object:
    """A comparable form of a record in which NaN equals NaN."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return type(value).__name__, tuple(canon(getattr(value, f.name)) for f in dataclasses.fields(value))
    if isinstance(value, tuple):
        return tuple(canon(item) for item in value)
    return value


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


# Values as a device can send them: decoded from every possible raw code, NaN and infinities included.
sfloats = st.integers(0, 0xFFFF).map(decode_sfloat)
floats32 = st.integers(0, 0xFFFFFFFF).map(decode_float)
u8 = st.integers(0, 0xFF)
date_times = st.builds(DateTime, st.just(0) | st.integers(1582, 9999), st.integers(0, 12), st.integers(0, 31),
                       st.integers(0, 23), st.integers(0, 59), st.integers(0, 59))
bp_status = st.builds(BpStatus, st.booleans(), st.booleans(), st.booleans(), st.integers(0, 3), st.booleans())
measurement_status = st.frozensets(st.sampled_from(sorted(MEASUREMENT_STATUS.values())))
device_status = st.frozensets(st.sampled_from(sorted(DEVICE_STATUS.values())))
pairs = st.tuples(sfloats, sfloats)


def _plx_features(features: int) -> st.SearchStrategy[PlxFeatures]:
    return st.builds(PlxFeatures, st.just(features), st.integers(0, 0xFFFF) if features & 1 else st.none(),
                     st.integers(0, 0xFFFFFF) if features & 2 else st.none())


def _weight(imperial: bool) -> st.SearchStrategy[WeightMeasurement]:
    per_height = 10 if imperial else 1000
    bmi_height = optional(st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF)))
    return st.builds(
        lambda raw, stamp, user, extra: WeightMeasurement(
            raw, imperial, stamp, user, None if extra is None else extra[0] / 10,
            None if extra is None else extra[1] / per_height),
        optional(st.integers(0, 0xFFFE)), optional(date_times), optional(u8), bmi_height)


RECORDS: dict[str, st.SearchStrategy[Any]] = {
    "date_time": date_times,
    "temperature": st.builds(TemperatureMeasurement, floats32, st.booleans(), optional(date_times), optional(u8)),
    "blood_pressure": st.builds(BloodPressureMeasurement, sfloats, sfloats, sfloats, st.booleans(),
                                optional(date_times), optional(sfloats), optional(u8), optional(bp_status)),
    "cuff": st.builds(IntermediateCuffPressure, sfloats, st.booleans(), optional(date_times), optional(sfloats),
                      optional(u8), optional(bp_status)),
    "bp_feature": st.builds(BloodPressureFeature, st.integers(0, 0xFFFF)),
    "spot_check": st.builds(PlxSpotCheck, sfloats, sfloats, optional(date_times), optional(measurement_status),
                            optional(device_status), optional(sfloats), st.booleans()),
    "continuous": st.builds(PlxContinuous, sfloats, sfloats, optional(pairs), optional(pairs),
                            optional(measurement_status), optional(device_status), optional(sfloats)),
    "plx_features": st.integers(0, 0xFFFF).flatmap(_plx_features),
    "weight": st.booleans().flatmap(_weight),
    "weight_feature": st.builds(WeightScaleFeature, st.booleans(), st.booleans(), st.booleans(),
                                st.integers(0, 15), st.integers(0, 7)),
}


@pytest.mark.parametrize("kind", sorted(RECORDS))
@given(data=st.data())
def test_records_round_trip(kind: str, data: st.DataObject) -> None:
    record = data.draw(RECORDS[kind])
    parsed = type(record).parse(bytes(record))
    assert canon(parsed) == canon(record)
    assert bytes(parsed) == bytes(record)


# Each flag-bearing record: the size of its mandatory part, then (flag bit, size of what that bit adds).
_STAMP = bytes(DateTime(2024, 2, 29, 23, 59, 58))
FLAG_LAYOUTS: dict[str, tuple[Callable[[bytes], Any], int, list[tuple[int, int]]]] = {
    "temperature": (TemperatureMeasurement.parse, 4, [(0, 0), (1, 7), (2, 1)]),
    "blood_pressure": (BloodPressureMeasurement.parse, 6, [(0, 0), (1, 7), (2, 2), (3, 1), (4, 2)]),
    "cuff": (IntermediateCuffPressure.parse, 6, [(0, 0), (1, 7), (2, 2), (3, 1), (4, 2)]),
    "spot_check": (PlxSpotCheck.parse, 4, [(0, 7), (1, 2), (2, 3), (3, 2), (4, 0)]),
    "continuous": (PlxContinuous.parse, 4, [(0, 4), (1, 4), (2, 2), (3, 3), (4, 2)]),
    "weight": (WeightMeasurement.parse, 2, [(0, 0), (1, 7), (2, 1), (3, 4)]),
}


def _payload(flags: int, mandatory: int, layout: list[tuple[int, int]]) -> bytes:
    filler = bytes(range(0x31, 0x31 + 64))  # arbitrary but valid SFLOAT/FLOAT/status/user bytes
    body = bytearray([flags]) + filler[:mandatory]
    for bit, size in layout:
        if flags >> bit & 1:
            body += _STAMP if size == 7 else filler[:size]
    return bytes(body)


@pytest.mark.parametrize("kind", sorted(FLAG_LAYOUTS))
def test_every_flag_combination(kind: str) -> None:
    parse, mandatory, layout = FLAG_LAYOUTS[kind]
    defined = sum(1 << bit for bit, _ in layout)
    for flags in range(256):
        payload = _payload(flags, mandatory, layout)
        record = parse(payload)
        encoded = bytes(record)
        # Reserved flag bits are ignored on the way in and never sent on the way out.
        assert encoded[0] == flags & defined, (kind, flags)
        assert len(encoded) == len(payload)
        assert canon(parse(encoded)) == canon(record)
        for cut in range(len(payload)):
            with pytest.raises(ProtocolError):
                parse(payload[:cut])
        with pytest.raises(ProtocolError, match="unexpected byte"):
            parse(payload + b"\x00")


@pytest.mark.parametrize("features", [0x0000, 0x0001, 0x0002, 0x0003, 0xFFFC, 0xFFFF])
def test_plx_features_every_presence_combination(features: int) -> None:
    size = 2 + (2 if features & 1 else 0) + (3 if features & 2 else 0)
    payload = features.to_bytes(2, "little") + bytes(range(1, size - 1))
    record = PlxFeatures.parse(payload)
    assert bytes(record) == payload
    for cut in range(size):
        with pytest.raises(ProtocolError):
            PlxFeatures.parse(payload[:cut])
    with pytest.raises(ProtocolError):
        PlxFeatures.parse(payload + b"\x00")


PARSERS: dict[str, Callable[[bytes], object]] = {
    "date_time": DateTime.parse,
    "temperature": TemperatureMeasurement.parse,
    "blood_pressure": BloodPressureMeasurement.parse,
    "cuff": IntermediateCuffPressure.parse,
    "bp_feature": BloodPressureFeature.parse,
    "spot_check": PlxSpotCheck.parse,
    "continuous": PlxContinuous.parse,
    "plx_features": PlxFeatures.parse,
    "weight": WeightMeasurement.parse,
    "weight_feature": WeightScaleFeature.parse,
    "battery": battery_level,
    "utf8": utf8_string,
}


@pytest.mark.parametrize("kind", sorted(PARSERS))
@given(data=st.binary(max_size=40))
def test_arbitrary_bytes_raise_only_protocol_errors(kind: str, data: bytes) -> None:
    try:
        PARSERS[kind](data)
    except ProtocolError:
        pass


@pytest.mark.parametrize("kind", sorted(RECORDS))
@given(data=st.data())
def test_damaged_payloads_raise_only_protocol_errors(kind: str, data: st.DataObject) -> None:
    record = data.draw(RECORDS[kind])
    payload = bytearray(bytes(record))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(payload)))
        action = data.draw(st.sampled_from(["cut", "insert", "replace"]))
        if action == "cut":
            del payload[at:]
        elif action == "insert":
            payload.insert(at, data.draw(u8))
        elif at < len(payload):
            payload[at] = data.draw(u8)
    try:
        type(record).parse(bytes(payload))
    except ProtocolError:
        pass


@pytest.mark.parametrize("kind", sorted(PARSERS))
@pytest.mark.parametrize("bad", [None, "1e8a00", 12, [1, 2, 3]])
def test_non_bytes_are_protocol_errors(kind: str, bad: object) -> None:
    with pytest.raises(ProtocolError):
        PARSERS[kind](bad)  # type: ignore[arg-type]


def test_bytes_like_inputs_are_accepted() -> None:
    payload = bytes([0x00, 0xBD, 0xF0, 0x0B, 0x00, 0x9F, 0xF0])
    expected = BloodPressureMeasurement.parse(payload)
    assert BloodPressureMeasurement.parse(bytearray(payload)) == expected  # type: ignore[arg-type]
    assert BloodPressureMeasurement.parse(memoryview(payload)) == expected  # type: ignore[arg-type]


@given(st.sampled_from(sorted(DECODERS)) | st.integers(-10, 0x20000), st.binary(max_size=32))
def test_decode_to_json_raises_only_protocol_errors(uuid: int, data: bytes) -> None:
    try:
        result = decode_to_json(uuid, data)
    except ProtocolError:
        return
    assert result["characteristic"] == f"{uuid:04x}"
    json.dumps(result, allow_nan=False)


@pytest.mark.parametrize("kind", sorted(RECORDS))
@given(data=st.data())
def test_decode_to_json_of_every_valid_record(kind: str, data: st.DataObject) -> None:
    record = data.draw(RECORDS[kind])
    uuid = next(number for number, decoder in DECODERS.items()
                if getattr(decoder, "__self__", None) is type(record))
    json.dumps(decode_to_json(uuid, bytes(record)), allow_nan=False)
