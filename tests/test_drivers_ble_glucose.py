"""The glucometer end to end: the Bumble Glucose peripheral, bleak on the simulated backend, the real driver
fetching the last record through the Record Access Control Point, and the device manager's subscriber."""

from __future__ import annotations

from datetime import timedelta

import pytest

from config.devices import BleDeviceConfig
from devices.instrument import DeviceUnavailable
from devices.measurements import Glucose, GlucoseMeal, RejectedReading
from drivers.ble import BleTimings
from drivers.ble_glucose import NO_NEW_RECORD, NO_RECORDS, BleGlucometer, GlucoseTimings
from drivers.gatt import DateTime, GlucoseMeasurement
from sim.ble.glucometer import SimGlucometer
from sim.ble.peripheral import Fault
from tests.test_drivers_ble import Bench, assert_envelope, cabin, until

GLUCOMETER = BleDeviceConfig(id="glucometer-1", kind="glucometer", driver="ble")  # found by its service 0x1808
FAST_RETRY = BleTimings(scan_s=4.0, retry_initial_s=1.0, retry_max_s=8.0)


def parts(bench: Bench) -> tuple[SimGlucometer, BleGlucometer]:
    meter, instrument = bench.peripheral("glucometer-1"), bench.instrument("glucometer-1")
    assert isinstance(meter, SimGlucometer) and isinstance(instrument, BleGlucometer)
    return meter, instrument


async def test_the_last_record_arrives_with_its_meal_context() -> None:
    async with cabin(GLUCOMETER) as bench:
        meter, instrument = parts(bench)
        meter.take_reading()  # an older test, from before this consultation
        meter.mg_dl, meter.meal = 142.0, 2  # postprandial
        assert await bench.manager.request("glucose") == "glucometer-1"
        reading = await bench.next(Glucose)
        assert reading.mg_dl == pytest.approx(142.0)
        assert reading.mmol_l == pytest.approx(7.88, abs=0.01)
        assert (reading.meal, reading.sequence) == (GlucoseMeal.POSTPRANDIAL, 2)
        assert (reading.sample_type, reading.sample_location) == ("capillary_whole_blood", "finger")
        assert_envelope(reading, bench, "glucometer-1", "SIM-GL500")
        assert reading.to_json()["mmol_l"] == 7.88
        assert instrument.health().connected and instrument.health().battery_percent == 87


async def test_a_record_without_context_has_no_meal_and_is_never_sent_twice() -> None:
    async with cabin(GLUCOMETER) as bench:
        meter, instrument = parts(bench)
        meter.meal = None
        assert len(meter.records) == 0
        await bench.manager.request("glucose")
        reading = await bench.next(Glucose)
        assert reading.meal is None and reading.sequence == 1
        instrument._on_request = None  # a real meter: no simulated patient tests again before this request
        with pytest.raises(DeviceUnavailable, match=NO_NEW_RECORD):
            await instrument.request_measurement()


async def test_an_old_record_is_never_taken_for_this_patients() -> None:
    async with cabin(GLUCOMETER) as bench:
        meter, instrument = parts(bench)
        two_hours_ago = DateTime.from_datetime(bench.clock.now() - timedelta(hours=2))
        meter.records.append((GlucoseMeasurement(1, two_hours_ago, 0, 0.00098, False, 1, 1), None))  # never fetched
        instrument._on_request = None  # this patient has not tested yet
        with pytest.raises(DeviceUnavailable, match="120 min old: take one, then ask again"):
            await instrument.request_measurement()


async def test_an_empty_memory_says_take_one_then_ask_again() -> None:
    async with cabin(GLUCOMETER) as bench:
        meter, _ = parts(bench)
        meter.inject(Fault.NO_RECORDS)
        with pytest.raises(DeviceUnavailable, match=NO_RECORDS):
            await bench.manager.request("glucose")
        assert await bench.collect(0.3) == []


async def test_a_silent_record_access_control_point_times_out_with_a_clear_message() -> None:
    async with cabin(GLUCOMETER) as bench:
        meter, instrument = parts(bench)
        instrument._glucose_timings = GlucoseTimings(racp_s=1.0)
        meter.inject(Fault.STALL)
        with pytest.raises(DeviceUnavailable, match="did not answer the record request within 1.0 s"):
            await instrument.request_measurement()
        meter.clear(Fault.STALL)
        await instrument.request_measurement()  # the link stayed up: the next request works
        assert isinstance(await bench.next(Glucose), Glucose)


async def test_disconnect_mid_procedure_ends_the_request_then_it_reconnects() -> None:
    async with cabin(GLUCOMETER, timings=FAST_RETRY) as bench:
        meter, instrument = parts(bench)
        meter.away_s = 3.0
        meter.inject(Fault.DISCONNECT)
        with pytest.raises(DeviceUnavailable, match="disconnected during the record transfer|is not connected"):
            await instrument.request_measurement()
        await until(lambda: not instrument.health().connected)
        await until(lambda: instrument.health().connected, within=10.0)
        await bench.manager.request("glucose")
        assert (await bench.next(Glucose)).sequence == 2


async def test_a_garbled_record_is_counted_and_never_becomes_a_reading() -> None:
    async with cabin(GLUCOMETER) as bench:
        meter, instrument = parts(bench)
        meter.inject(Fault.GARBAGE)
        with pytest.raises(DeviceUnavailable, match="no readable record"):
            await instrument.request_measurement()
        assert "malformed Glucose Measurement" in (instrument.health().last_error or "")
        meter.clear(Fault.GARBAGE)
        await bench.manager.request("glucose")
        assert (await bench.next(Glucose)).sequence == 2


async def test_an_impossible_value_becomes_a_rejected_reading() -> None:
    async with cabin(GLUCOMETER) as bench:
        meter, _ = parts(bench)
        meter.inject(Fault.OUT_OF_RANGE)
        await bench.manager.request("glucose")
        rejected = await bench.next(RejectedReading)
        assert rejected.rule == "glucose_out_of_range"
