"""The glucometer end to end: the Bumble Glucose peripheral, bleak on the simulated backend, the real driver
learning the meter's newest record, then waiting for the one the patient takes after the request, and the
device manager's subscriber."""

from __future__ import annotations

from datetime import timedelta

import pytest

from config.devices import BleDeviceConfig
from devices.instrument import DeviceUnavailable
from devices.measurements import Glucose, GlucoseMeal, RejectedReading
from drivers.ble import BleTimings
from drivers.ble_glucose import BleGlucometer, GlucoseTimings, no_new_record
from drivers.gatt import DateTime, GlucoseMeasurement
from drivers.gatt_racp import RacpRequest
from sim.ble.glucometer import SimGlucometer
from sim.ble.peripheral import Fault
from tests.test_drivers_ble import Bench, assert_envelope, cabin, until

GLUCOMETER = BleDeviceConfig(id="glucometer-1", kind="glucometer", driver="ble")  # found by its service 0x1808
SHORT_WAIT = GLUCOMETER.model_copy(update={"request_timeout_s": 20.0})  # 0.8 real seconds at the bench's speed
FAST_RETRY = BleTimings(scan_s=4.0, retry_initial_s=1.0, retry_max_s=8.0)


def parts(bench: Bench) -> tuple[SimGlucometer, BleGlucometer]:
    meter, instrument = bench.peripheral("glucometer-1"), bench.instrument("glucometer-1")
    assert isinstance(meter, SimGlucometer) and isinstance(instrument, BleGlucometer)
    return meter, instrument


async def glucose_readings(bench: Bench, seconds: float) -> list[Glucose]:
    return [reading for reading in await bench.collect(seconds) if isinstance(reading, Glucose)]


async def test_the_record_taken_after_the_request_arrives_with_its_meal_context() -> None:
    async with cabin(GLUCOMETER) as bench:
        meter, instrument = parts(bench)
        meter.take_reading()  # an older test, from before this consultation
        meter.mg_dl, meter.meal = 142.0, 2  # postprandial
        assert await bench.manager.request("glucose") == "glucometer-1"
        assert meter.records[-1][0].sequence == 1  # accepted before the patient pricks
        reading = await bench.next(Glucose)
        assert reading.mg_dl == pytest.approx(142.0)
        assert reading.mmol_l == pytest.approx(7.88, abs=0.01)
        assert (reading.meal, reading.sequence) == (GlucoseMeal.POSTPRANDIAL, 2)
        assert (reading.sample_type, reading.sample_location) == ("capillary_whole_blood", "finger")
        assert_envelope(reading, bench, "glucometer-1", "SIM-GL500")
        assert reading.to_json()["mmol_l"] == 7.88
        assert meter.requests[0] == RacpRequest.report_last_record()  # the baseline: record #1
        assert instrument.health().connected and instrument.health().battery_percent == 87
        assert await glucose_readings(bench, 0.3) == []


async def test_a_record_from_before_the_request_is_never_delivered() -> None:
    async with cabin(SHORT_WAIT) as bench:
        meter, instrument = parts(bench)
        meter.take_reading()  # the previous patient pricked, nobody asked
        instrument._on_request = None  # this patient does not test
        await bench.manager.request("glucose")
        assert await glucose_readings(bench, 1.5) == []
        await until(lambda: instrument.health().last_error == no_new_record(20.0))
        assert RacpRequest.report_records_from(2) in meter.requests  # asked again: ">= #2", GLS 1.0 §3.6.2
        await bench.manager.request("glucose")
        meter.press()  # now the patient tests
        assert (await bench.next(Glucose)).sequence == 2
        assert await glucose_readings(bench, 0.3) == []


async def test_a_meter_that_never_notifies_on_its_own_is_asked_again_until_the_record_is_there() -> None:
    async with cabin(GLUCOMETER) as bench:
        meter, _ = parts(bench)
        meter.notifies_new_records, meter.meal = False, None
        await bench.manager.request("glucose")
        reading = await bench.next(Glucose)
        assert reading.meal is None and reading.sequence == 1
        assert RacpRequest.report_records_from(0) in meter.requests  # an empty meter: every record is new


async def test_a_meter_whose_clock_runs_slow_is_read_by_its_sequence_number() -> None:
    async with cabin(GLUCOMETER) as bench:
        meter, instrument = parts(bench)
        meter.take_reading()
        instrument._on_request = None
        await bench.manager.request("glucose")
        two_hours_ago = DateTime.from_datetime(bench.clock.now() - timedelta(hours=2))
        meter.records.append((GlucoseMeasurement(2, two_hours_ago, 0, 0.00098, False, 1, 1), None))
        reading = await bench.next(Glucose)
        assert reading.sequence == 2 and reading.mg_dl == pytest.approx(98.0)


async def test_a_new_request_ends_the_wait_of_the_previous_one() -> None:
    async with cabin(GLUCOMETER) as bench:
        meter, instrument = parts(bench)
        instrument._on_request = None
        await bench.manager.request("glucose")
        await bench.manager.request("glucose")
        meter.press()
        assert (await bench.next(Glucose)).sequence == 1
        assert await glucose_readings(bench, 0.5) == []  # delivered once, not once per request


async def test_an_empty_memory_ends_the_wait_with_a_clear_reason() -> None:
    async with cabin(SHORT_WAIT) as bench:
        meter, instrument = parts(bench)
        meter.inject(Fault.NO_RECORDS)
        await bench.manager.request("glucose")
        assert await glucose_readings(bench, 1.5) == []
        await until(lambda: instrument.health().last_error == no_new_record(20.0))


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
        assert (await bench.next(Glucose)).sequence == 1


async def test_a_disconnect_while_waiting_ends_the_wait() -> None:
    async with cabin(GLUCOMETER, timings=FAST_RETRY) as bench:
        meter, instrument = parts(bench)
        meter.prick_s = 1000.0  # the patient is slow
        await bench.manager.request("glucose")
        waiting = instrument._waiting
        assert waiting is not None and not waiting.done()
        await meter.stop()
        await until(lambda: waiting.done())
        assert waiting.cancelled()


async def test_a_garbled_record_is_counted_and_never_becomes_a_reading() -> None:
    async with cabin(GLUCOMETER) as bench:
        meter, instrument = parts(bench)
        meter.take_reading()
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
