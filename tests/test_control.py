"""The GP's control messages (session/control.py): strict parsing, ControlError for anything else."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from protocol.control import (
    MAX_MESSAGE_BYTES,
    CameraSwitch,
    ControlError,
    End,
    Join,
    OtoscopeSwitch,
    Prescribe,
    Reprint,
    RequestMeasurement,
    Snapshot,
    parse_control,
)
from protocol.versioned import encode

GP = {"name": "Dr Claire Martin", "rpps": "10101010101", "address": "1 rue de la Paix, 75002 Paris",
      "phone": "01 99 00 00 01"}
MEDICATION = {"name": "Paracétamol 500 mg", "dosage": "1 comprimé 3 fois par jour", "duration": "5 jours",
              "quantity": "1 boîte"}
RX_ID = "0b7d2f6e-1c1a-4f0e-9a51-6f0e3c7a9b12"


def msg(**fields: object) -> str:
    return json.dumps({"v": 1, **fields}, ensure_ascii=False)


def refused(text: str | bytes) -> str:
    with pytest.raises(ControlError) as info:
        parse_control(text)
    message = str(info.value)
    assert message and "Traceback" not in message
    return message


# --- valid messages --------------------------------------------------------------------------------


def test_join() -> None:
    m = parse_control(msg(type="join", session="s-1", gp=GP))
    assert isinstance(m, Join)
    assert (m.session, m.gp.name, m.gp.rpps, m.gp.qualification) == ("s-1", GP["name"], GP["rpps"], "Médecin généraliste")


@pytest.mark.parametrize("kind", ["temperature", "blood_pressure", "spo2", "weight"])
def test_request_measurement(kind: str) -> None:
    m = parse_control(msg(type="request_measurement", kind=kind))
    assert isinstance(m, RequestMeasurement) and m.kind == kind


def test_prescribe_full() -> None:
    m = parse_control(msg(type="prescribe", id=RX_ID, medications=[{**MEDICATION, "renewals": 2}],
                          examinations=["NFS", "CRP"], referral="Cardiologue", weight_kg=72.5))
    assert isinstance(m, Prescribe)
    assert m.medications[0].name == MEDICATION["name"] and m.medications[0].renewals == 2
    assert m.examinations == ("NFS", "CRP")
    assert (m.referral, m.weight_kg) == ("Cardiologue", 72.5)


def test_prescribe_empty_defaults() -> None:
    m = parse_control(msg(type="prescribe", id=RX_ID))
    assert isinstance(m, Prescribe)
    assert (m.medications, m.examinations, m.referral, m.weight_kg) == ((), (), None, None)


def test_prescribe_carries_its_id_and_the_gps_confirmation() -> None:
    m = parse_control(msg(type="prescribe", id=RX_ID, confirm_additional=True))
    assert isinstance(m, Prescribe) and (m.id, m.confirm_additional) == (RX_ID, True)
    plain = parse_control(msg(type="prescribe", id=RX_ID))
    assert isinstance(plain, Prescribe) and plain.confirm_additional is False and plain.same_content(m)
    other = parse_control(msg(type="prescribe", id=RX_ID, referral="Cardiologue"))
    assert isinstance(other, Prescribe) and not other.same_content(plain)


def test_a_prescribe_without_an_id_is_refused_with_a_reason_an_old_console_understands() -> None:
    assert refused(msg(type="prescribe", medications=[MEDICATION])) == (
        "prescribe: a prescription needs an id (this GP console is out of date: reload the page)")


@pytest.mark.parametrize("ident", ["", "x", RX_ID.upper(), RX_ID + "0", RX_ID.replace("-", ""), 7, None])
def test_a_prescription_id_is_a_uuid(ident: object) -> None:
    assert "prescribe.id" in refused(msg(type="prescribe", id=ident))


def test_the_confirmation_is_a_real_boolean() -> None:
    assert "confirm_additional" in refused(msg(type="prescribe", id=RX_ID, confirm_additional="yes"))


def test_reprint_and_end() -> None:
    m = parse_control(msg(type="reprint", job=3))
    assert isinstance(m, Reprint) and m.job == 3
    assert isinstance(parse_control(msg(type="end")), End)


def test_bytes_are_accepted() -> None:
    assert isinstance(parse_control(msg(type="end").encode("utf-8")), End)


def test_encode_round_trips() -> None:
    assert isinstance(parse_control(encode("request_measurement", kind="spo2")), RequestMeasurement)
    assert json.loads(encode("end")) == {"v": 1, "type": "end"}


def test_messages_are_frozen() -> None:
    m = parse_control(msg(type="reprint", job=3))
    with pytest.raises(ValidationError):
        m.job = 4  # type: ignore[misc]


# --- invalid messages ------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "{", "not json", "{'v': 1}", b"\xff\xfe\xfd", b"\x80abc"])
def test_invalid_json(text: str | bytes) -> None:
    assert "JSON" in refused(text)


@pytest.mark.parametrize("text", ["[]", "1", '"end"', "null", '[{"v":1,"type":"end"}]'])
def test_not_an_object(text: str) -> None:
    assert "object" in refused(text)


@pytest.mark.parametrize("version", [None, 0, 2, "1", [1]])
def test_missing_or_unsupported_version(version: object) -> None:
    data: dict[str, object] = {"type": "end"}
    if version is not None:
        data["v"] = version
    assert "version" in refused(json.dumps(data))


def test_boolean_version_is_unsupported() -> None:
    refused('{"v": true, "type": "end"}')


@pytest.mark.parametrize("text", [msg(type="dance"), msg(), msg(type=None), msg(type=1)])
def test_unknown_or_missing_type(text: str) -> None:
    refused(text)


def test_unknown_field() -> None:
    assert "colour" in refused(msg(type="end", colour="red"))
    assert "gp.mood" in refused(msg(type="join", session="s", gp={**GP, "mood": "happy"}))


@pytest.mark.parametrize("rpps", ["123", "1010101010A", "101010101010", "", 10101010101, None])
def test_wrong_rpps(rpps: object) -> None:
    assert "rpps" in refused(msg(type="join", session="s", gp={**GP, "rpps": rpps}))


def test_rpps_with_non_ascii_digits_is_refused() -> None:
    refused(msg(type="join", session="s", gp={**GP, "rpps": "\u0661\u0660" * 5 + "\u0661"}))  # Arabic-Indic


@pytest.mark.parametrize("kind", ["otoscope", "ketones", "", None, "GLUCOSE"])
def test_measurement_kind_not_allowed(kind: object) -> None:
    assert "kind" in refused(msg(type="request_measurement", kind=kind))


@pytest.mark.parametrize(
    "text",
    [msg(type="reprint", job=0), msg(type="reprint", job="x"), msg(type="prescribe", id=RX_ID, weight_kg=-1),
     msg(type="prescribe", id=RX_ID, medications=[{**MEDICATION, "renewals": 13}]),
     msg(type="prescribe", id=RX_ID, examinations=[""]), msg(type="join", session="", gp=GP),
     msg(type="join", session="s"), msg(type="prescribe", id=RX_ID, medications="x")],
)
def test_wrong_values(text: str) -> None:
    refused(text)


def test_oversize_message() -> None:
    text = msg(type="prescribe", id=RX_ID, referral="x" * 10, pad=" " * MAX_MESSAGE_BYTES)
    assert "too large" in refused(text)
    assert "too large" in refused(text.encode("utf-8"))


def test_message_just_under_the_limit_is_parsed() -> None:
    base = msg(type="end")
    text = base[:-1] + " " * (MAX_MESSAGE_BYTES - len(base)) + "}"
    assert len(text.encode("utf-8")) == MAX_MESSAGE_BYTES
    assert isinstance(parse_control(text), End)


def test_oversize_is_measured_in_utf8_bytes() -> None:
    meds = [{**MEDICATION, "name": "é" * 300} for _ in range(120)]
    text = msg(type="prescribe", id=RX_ID, medications=meds)
    assert len(text) < MAX_MESSAGE_BYTES < len(text.encode("utf-8"))
    assert "too large" in refused(text)


def test_deeply_nested_json_is_a_control_error() -> None:
    depth = 20_000
    text = "[" * depth + "]" * depth
    assert len(text) < MAX_MESSAGE_BYTES
    refused(text)


# --- anything at all: a message or a ControlError ---------------------------------------------------


def _parse_or_control_error(text: str | bytes) -> None:
    try:
        result = parse_control(text)
    except ControlError as exc:
        assert str(exc)
    else:
        assert isinstance(result, Join | RequestMeasurement | Prescribe | Reprint | End)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text(text: str) -> None:
    _parse_or_control_error(text)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes(data: bytes) -> None:
    _parse_or_control_error(data)


_KEYS = st.sampled_from(["v", "type", "session", "gp", "name", "rpps", "address", "phone", "qualification",
                         "kind", "medications", "dosage", "duration", "quantity", "renewals", "examinations",
                         "referral", "weight_kg", "job", "id", "confirm_additional", "x"])
_LEAVES = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20)
    | st.sampled_from([1, "join", "request_measurement", "prescribe", "reprint", "end", "spo2", "10101010101"])
)
_JSON = st.recursive(
    _LEAVES,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(_KEYS | st.text(max_size=5), children, max_size=6),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None)
@given(_JSON)
def test_arbitrary_json_values(value: object) -> None:
    _parse_or_control_error(json.dumps(value))


@settings(max_examples=100, deadline=None)
@given(type_=st.sampled_from(["join", "request_measurement", "prescribe", "reprint", "end"]),
       fields=st.dictionaries(_KEYS, _JSON, max_size=6))
def test_arbitrary_fields_of_a_known_type(type_: str, fields: dict[str, object]) -> None:
    _parse_or_control_error(json.dumps({**fields, "v": 1, "type": type_}))


def test_a_camera_switch_names_its_camera() -> None:
    switch = parse_control(msg(type="camera", camera="dermatoscope", on=True))
    assert isinstance(switch, CameraSwitch) and switch.camera == "dermatoscope" and switch.on is True
    shot = parse_control(msg(type="snapshot", camera="dermatoscope"))
    assert isinstance(shot, Snapshot) and shot.camera == "dermatoscope"


def test_an_older_consoles_camera_messages_still_mean_the_otoscope() -> None:
    switch = parse_control(msg(type="otoscope", on=False))
    assert isinstance(switch, OtoscopeSwitch) and switch.camera == "otoscope" and switch.on is False
    shot = parse_control(msg(type="snapshot"))
    assert isinstance(shot, Snapshot) and shot.camera == "otoscope"


@pytest.mark.parametrize("fields", [
    {"type": "camera", "on": True},  # which camera?
    {"type": "camera", "camera": "stethoscope", "on": True},
    {"type": "camera", "camera": "dermatoscope", "on": "yes"},
    {"type": "camera", "camera": "dermatoscope"},
    {"type": "snapshot", "camera": "Dermatoscope"},
    {"type": "otoscope", "camera": "dermatoscope", "on": True},  # the old message has no camera to pick
])
def test_wrong_camera_messages_are_refused(fields: dict[str, object]) -> None:
    refused(msg(**fields))
