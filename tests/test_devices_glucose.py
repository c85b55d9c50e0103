"""The Glucose reading: canonical mg/dL with mmol/L beside it, its validation rule, its in-process stand-in."""

from __future__ import annotations

import asyncio
import random

import pytest

from config.devices import SimDeviceConfig
from devices.measurements import Glucose, GlucoseMeal, Measurement
from devices.validation import validate
from runtime.clock import Clock
from sim.instruments import SimGlucometer, make_sim_instrument

COMMON = {"device_id": "glucometer-1", "model": "GL-1", "host_time": 1.0}


def test_to_json_carries_mg_dl_mmol_l_and_the_context() -> None:
    reading = Glucose(**COMMON, mg_dl=126.0, sample_type="capillary_plasma", sample_location="finger",
                      meal=GlucoseMeal.FASTING, sequence=12)
    data = reading.to_json()
    assert (data["kind"], data["value"], data["unit"], data["mmol_l"]) == ("glucose", 126.0, "mg/dL", 6.99)
    assert (data["meal"], data["sample_location"], data["sequence"]) == ("fasting", "finger", 12)
    assert validate(reading) is None


@pytest.mark.parametrize("mg_dl", [0.0, -5.0, 1000.0, 3_000_000.0])
def test_impossible_values_are_rejected(mg_dl: float) -> None:
    rejected = validate(Glucose(**COMMON, mg_dl=mg_dl))
    assert rejected is not None and rejected.rule == "glucose_out_of_range"
    assert "value" not in rejected.to_json()


def test_nan_is_rejected_as_not_finite() -> None:
    rejected = validate(Glucose(**COMMON, mg_dl=float("nan")))
    assert rejected is not None and rejected.rule == "not_finite"


async def test_the_in_process_stand_in_answers_a_request_with_a_numbered_record() -> None:
    config = SimDeviceConfig(id="glucometer-1", kind="glucometer", driver="sim")
    readings: asyncio.Queue[Measurement] = asyncio.Queue()
    meter = make_sim_instrument(config, Clock(speed=1000.0), readings.put_nowait, random.Random(1))
    assert isinstance(meter, SimGlucometer)
    await meter.start()
    try:
        for sequence in (1, 2):
            await meter.request_measurement()
            async with asyncio.timeout(5.0):
                reading = await readings.get()
            assert isinstance(reading, Glucose) and reading.sequence == sequence
            assert validate(reading) is None and reading.meal is GlucoseMeal.PREPRANDIAL
    finally:
        await meter.stop()
