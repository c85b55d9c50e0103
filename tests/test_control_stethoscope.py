"""The stethoscope's control messages (protocol/control.py): `stethoscope` {on} and `auscultate` {point}, strictly."""

from __future__ import annotations

import json
from typing import get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.control import Auscultate, AuscultationPoint, ControlError, StethoscopeSwitch, parse_control

POINTS = get_args(AuscultationPoint)


def msg(**fields: object) -> str:
    return json.dumps({"v": 1, **fields})


def test_the_eight_points_are_the_heart_foci_and_the_lung_fields() -> None:
    assert POINTS == ("aortic", "pulmonary", "tricuspid", "mitral", "lung_upper_left", "lung_upper_right",
                      "lung_lower_left", "lung_lower_right")
    for point in POINTS:
        assert parse_control(msg(type="auscultate", point=point)) == Auscultate(v=1, type="auscultate", point=point)
    assert parse_control(msg(type="stethoscope", on=True)) == StethoscopeSwitch(v=1, type="stethoscope", on=True)
    assert parse_control(msg(type="stethoscope", on=False)).on is False  # type: ignore[union-attr]


@pytest.mark.parametrize("text", [
    msg(type="stethoscope"), msg(type="stethoscope", on=1), msg(type="stethoscope", on="true"),
    msg(type="stethoscope", on=True, gain=3), msg(type="auscultate"), msg(type="auscultate", point="navel"),
    msg(type="auscultate", point="MITRAL"), msg(type="auscultate", point=None), msg(type="auscultate", point=["mitral"]),
])
def test_anything_else_is_a_control_error_with_a_reason(text: str) -> None:
    with pytest.raises(ControlError) as info:
        parse_control(text)
    assert str(info.value) and "Traceback" not in str(info.value)


_VALUES = st.none() | st.booleans() | st.integers() | st.text(max_size=30) | st.sampled_from(POINTS)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["stethoscope", "auscultate"]),
       st.dictionaries(st.sampled_from(["on", "point", "v", "x"]), _VALUES, max_size=3))
def test_garbage_shaped_like_the_stethoscope_messages_never_raises_anything_else(kind: str,
                                                                                fields: dict[str, object]) -> None:
    try:
        parsed = parse_control(json.dumps({"v": 1, "type": kind, **fields}))
    except ControlError as exc:
        assert str(exc)
    else:
        assert isinstance(parsed, StethoscopeSwitch | Auscultate)
