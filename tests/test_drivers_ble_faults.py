"""Every simulator fault through the real BLE path: the device recovers, nothing stale looks current,
and health says what happened."""

from __future__ import annotations

import asyncio
import logging
from typing import ClassVar

import pytest
from bleak.exc import BleakError

from config.devices import BleDeviceConfig
from devices.measurements import (
    BloodPressure,
    CuffPressure,
    QualityFlag,
    Reading,
    RejectedReading,
    SpO2,
    Temperature,
    Weight,
)
from drivers.ble import BleInstrument, BleTimings
from runtime.clock import Clock
from sim.ble.backend import SimBleakScanner
from sim.ble.peripheral import LOW_BATTERY_LEVEL, Fault
from tests.test_drivers_ble import (
    BLOOD_PRESSURE,
    OXIMETER,
    SCALE,
    SPEED,
    THERMOMETER,
    cabin,
    until,
)

FAST_RETRY = BleTimings(scan_s=4.0, retry_initial_s=1.0, retry_max_s=8.0, answer_s=20.0)


async def test_disconnect_mid_measurement_then_reconnect_and_measure_again() -> None:
    async with cabin(BLOOD_PRESSURE, timings=FAST_RETRY) as bench:
        monitor = bench.peripheral("bp-1")
        instrument = bench.instrument("bp-1")
        monitor.away_s = 4.0
        monitor.inject(Fault.DISCONNECT)
        await bench.manager.request("blood_pressure")
        await until(lambda: not instrument.health().connected)
        health = instrument.health()
        assert health.last_error == "connection lost"
        assert bench.manager.degraded() == ["bp-1"]
        # The cuff readings sent before the drop arrived; the result never did.
        before = await bench.collect(0.5)
        assert before and all(isinstance(r, CuffPressure) for r in before)
        await until(lambda: instrument.health().connected)
        assert instrument.health().last_error is None
        await bench.manager.request("blood_pressure")
        result = await bench.next(BloodPressure)
        assert (result.systolic, result.diastolic) == (122, 78)


async def test_garbage_is_counted_reported_and_the_link_stays_up() -> None:
    async with cabin(THERMOMETER) as bench:
        thermometer = bench.peripheral("thermometer-1")
        instrument = bench.instrument("thermometer-1")
        thermometer.inject(Fault.GARBAGE)
        await bench.manager.request("temperature")
        await until(lambda: (instrument.health().last_error or "").endswith("; 1 so far"))
        health = instrument.health()
        assert health.connected
        assert health.last_error is not None and "malformed Temperature Measurement" in health.last_error
        assert health.last_reading_host_time is None
        assert await bench.collect(0.2) == []
        await until(lambda: not thermometer.measuring)
        thermometer.clear(Fault.GARBAGE)
        await bench.manager.request("temperature")
        reading = await bench.next(Temperature)
        assert reading.celsius == pytest.approx(36.8)
        assert (instrument.health().last_error or "").endswith("; 1 so far")  # counted once, kept until reconnect


async def test_garbage_from_every_kind_of_device_never_becomes_a_reading() -> None:
    async with cabin(THERMOMETER, BLOOD_PRESSURE, OXIMETER, SCALE) as bench:
        for device_id in ("thermometer-1", "bp-1", "oximeter-1", "scale-1"):
            bench.peripheral(device_id).inject(Fault.GARBAGE)
        for kind in ("temperature", "blood_pressure", "spo2", "weight"):
            await bench.manager.request(kind)
        for device_id in ("thermometer-1", "bp-1", "oximeter-1", "scale-1"):
            await until(lambda d=device_id: (bench.instrument(d).health().last_error or "").endswith("; 1 so far"))  # type: ignore[misc]
            assert bench.instrument(device_id).health().connected
        finals = [r for r in await bench.collect(0.2) if isinstance(r, Temperature | BloodPressure | Weight)]
        assert finals == []


async def test_stall_presents_no_stale_value_as_current() -> None:
    async with cabin(THERMOMETER.model_copy(update={"freshness_s": 30.0}), timings=FAST_RETRY) as bench:
        instrument = bench.instrument("thermometer-1")
        await bench.manager.request("temperature")
        first = await bench.next(Temperature)
        assert bench.clock.monotonic() - first.host_time <= bench.manager.freshness_of("thermometer-1")
        bench.peripheral("thermometer-1").inject(Fault.STALL)
        await bench.manager.request("temperature")  # accepted: the link is up
        assert await bench.collect(25.0 / SPEED) == []  # nothing new, and the old value is not re-sent
        health = instrument.health()
        assert health.connected
        assert health.last_reading_host_time == first.host_time
        assert health.last_error == "no reading within 20.0 s of the request"
        await until(lambda: bench.clock.monotonic() - first.host_time > bench.manager.freshness_of("thermometer-1"))
        bench.peripheral("thermometer-1").clear(Fault.STALL)
        await bench.manager.request("temperature")
        fresh = await bench.next(Temperature)
        assert fresh.host_time > first.host_time
        assert bench.clock.monotonic() - fresh.host_time <= bench.manager.freshness_of("thermometer-1")


async def test_low_battery_is_notified_and_flags_readings() -> None:
    async with cabin(SCALE) as bench:
        instrument = bench.instrument("scale-1")
        bench.peripheral("scale-1").inject(Fault.LOW_BATTERY)
        await until(lambda: instrument.health().battery_percent == LOW_BATTERY_LEVEL)
        await bench.manager.request("weight")
        reading = await bench.next(Weight)
        assert reading.battery_percent == LOW_BATTERY_LEVEL
        assert QualityFlag.LOW_BATTERY in reading.flags
        bench.peripheral("scale-1").clear(Fault.LOW_BATTERY)
        await until(lambda: instrument.health().battery_percent == 87)


@pytest.mark.parametrize(
    ("config", "kind", "rule"),
    [
        (THERMOMETER, "temperature", "temperature_out_of_range"),
        (BLOOD_PRESSURE, "blood_pressure", "systolic_below_diastolic"),
        (OXIMETER, "spo2", "spo2_above_100"),
        (SCALE, "weight", "weight_not_positive"),
    ],
)
async def test_out_of_range_values_become_rejected_readings(config: BleDeviceConfig, kind: str, rule: str) -> None:
    async with cabin(config) as bench:
        bench.peripheral(config.id).inject(Fault.OUT_OF_RANGE)
        await bench.manager.request(kind)
        rejected = await bench.next(RejectedReading)
        assert rejected.rule == rule
        assert str(rejected.original.kind) == kind
        assert "value" not in rejected.to_json()


async def test_finger_out_sets_flags_and_shows_no_number() -> None:
    async with cabin(OXIMETER) as bench:
        bench.peripheral("oximeter-1").inject(Fault.FINGER_OUT)
        await bench.manager.request("spo2")
        readings: list[Reading] = [await bench.next((SpO2, RejectedReading)) for _ in range(5)]  # 4 live, 1 spot
        assert all(isinstance(r, RejectedReading) and r.rule == "not_finite" for r in readings)
        for reading in readings:
            assert isinstance(reading, RejectedReading)
            assert {QualityFlag.FINGER_OUT, QualityFlag.QUESTIONABLE} <= reading.original.flags
        oximeter = bench.peripheral("oximeter-1")
        oximeter.clear(Fault.FINGER_OUT)
        await until(lambda: not oximeter.measuring)  # a press during a measurement is ignored, as on the device
        await bench.manager.request("spo2")
        good = await bench.next(SpO2)
        assert good.percent == 97 and QualityFlag.FINGER_OUT not in good.flags


async def test_faults_switch_at_run_time_without_restarting() -> None:
    async with cabin(OXIMETER) as bench:
        oximeter = bench.peripheral("oximeter-1")
        oximeter.inject(Fault.STALL, Fault.LOW_BATTERY)
        assert oximeter.faults == {Fault.STALL, Fault.LOW_BATTERY}
        oximeter.clear()
        assert oximeter.faults == set() and oximeter.battery == 87
        await asyncio.sleep(0)
        await bench.manager.request("spo2")
        assert isinstance(await bench.next(SpO2), SpO2)


class FailingScanner(SimBleakScanner):
    """A scanner backend that fails to start with `error`, as a missing adapter or a bug would."""

    error: ClassVar[BaseException] = RuntimeError()

    async def start(self) -> None:
        raise type(self).error


@pytest.mark.parametrize(
    ("error", "with_traceback"),
    [
        pytest.param(BleakError("org.bluez.Error.NotReady"), False, id="a radio failure: one line"),
        pytest.param(TimeoutError(), False, id="a timeout: one line"),
        pytest.param(KeyError("advertisement"), True, id="a bug: its traceback"),
    ],
)
async def test_expected_failures_are_one_line_and_a_bug_shows_its_traceback(
    caplog: pytest.LogCaptureFixture, error: BaseException, with_traceback: bool
) -> None:
    scanner = type("Scanner", (FailingScanner,), {"error": error})
    instrument = BleInstrument(THERMOMETER, print, Clock(), scanner_backend=scanner,
                               timings=BleTimings(retry_initial_s=3600.0, retry_max_s=3600.0))
    await instrument.start()  # an unreachable device never makes start() raise
    try:
        health = instrument.health()
        assert not health.connected and type(error).__name__ in (health.last_error or "")
        told = [r for r in caplog.records if r.name == "drivers.ble" and r.levelno >= logging.WARNING]
        assert len(told) == 1 and (told[0].exc_info is not None) is with_traceback
    finally:
        await instrument.stop()
