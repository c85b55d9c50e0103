"""BMI from the measured height: the pure rule, and its arrival at the GP and the kiosk in a running consultation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devices.measurements import Height, RejectedReading, Weight
from protocol.versioned import encode
from session import bmi
from session.channel import LocalChannel
from session.events import ReadingTaken
from tests.conftest import config_with, running_station
from tests.test_cabin_flows import admit, gp_joins

STAMP: dict[str, Any] = {"device_id": "x", "model": "m", "host_time": 1.0}


def taken(reading: Weight | Height | RejectedReading) -> ReadingTaken:
    return ReadingTaken("s-1", reading, 600.0)


def test_bmi_is_weight_over_height_squared_to_one_decimal() -> None:
    assert bmi.bmi(72.4, 1.752) == 23.6  # 72.4 / 3.069504 = 23.587
    assert bmi.bmi(50.0, 1.5) == 22.2
    with pytest.raises(ValueError):
        bmi.bmi(0.0, 1.7)


def test_a_weight_after_a_measured_height_gets_its_bmi_and_says_so() -> None:
    scale = Weight(**STAMP, kg=80.0, bmi=26.1, height_m=1.75)  # the height typed into the scale
    readings = {"height": taken(Height(**STAMP, metres=1.80))}
    weight = bmi.with_measured_height(scale, readings)
    assert isinstance(weight, Weight)
    assert (weight.bmi, weight.height_m, weight.height_measured) == (24.7, 1.80, True)
    assert weight.to_json()["height_source"] == "measured" and scale.to_json()["height_source"] == "scale"
    assert bmi.with_measured_height(scale, {}) is scale  # no height measured: the scale's own, untouched


def test_a_weight_before_the_height_is_given_again_with_the_new_bmi() -> None:
    readings = {"weight": taken(Weight(**STAMP, kg=80.0))}
    height = taken(Height(**STAMP, metres=1.60))
    readings["height"] = height
    again = bmi.weight_again(height, readings)
    assert again is not None and isinstance(again.reading, Weight)
    assert (again.reading.bmi, again.reading.height_measured, again.fresh_for_s) == (31.2, True, 600.0)
    assert bmi.weight_again(readings["weight"], readings) is None  # a weight alone sends nothing again


def test_rejected_readings_take_no_part() -> None:
    bad_weight = Weight(**STAMP, kg=-3.0)
    readings = {"height": taken(Height(**STAMP, metres=1.7))}
    assert bmi.with_measured_height(bad_weight, readings) is bad_weight
    rejected = RejectedReading("height_out_of_range", "3.1 m", Height(**STAMP, metres=3.1))
    assert bmi.weight_again(taken(rejected), {"weight": taken(Weight(**STAMP, kg=70.0))}) is None


async def reading_of(gp: LocalChannel, kind: str) -> dict[str, Any]:
    """The next `reading` message of `kind` on the GP's channel."""
    while True:
        message = json.loads(await gp.recv())
        if message["type"] == "reading" and message["measurement"]["kind"] == kind:
            return dict(message["measurement"])


async def test_the_gp_and_the_kiosk_see_the_bmi_of_the_measured_height(state_dir: Path) -> None:
    async with running_station(state_dir, config_with(consultation_max_s=7200), speed=200.0) as (station, crew):
        await admit(station, crew)
        await crew.kiosk.post("/api/consent", {"accepted": True})
        gp, _ = await gp_joins(station)
        await gp.send(encode("request_measurement", kind="weight"))
        scale = await reading_of(gp, "weight")
        assert scale["height_source"] == "scale"  # the simulated scale sends its own height and BMI
        await gp.send(encode("request_measurement", kind="height"))
        height = await reading_of(gp, "height")
        assert 1.5 <= height["value"] <= 1.95 and height["unit"] == "m"
        weight = await reading_of(gp, "weight")  # the same weight again, with the BMI of the measured height
        assert weight["host_time"] == scale["host_time"] and weight["value"] == scale["value"]
        assert weight["height_source"] == "measured" and weight["height_m"] == height["value"]
        assert weight["bmi"] == round(scale["value"] / height["value"] ** 2, 1)
        view = await crew.kiosk.wait_for(
            lambda v: any(r["kind"] == "weight" and r["height_source"] == "measured" for r in v["session"]["readings"]))
        [shown] = [r for r in view["session"]["readings"] if r["kind"] == "weight"]
        assert shown["bmi"] == weight["bmi"]
