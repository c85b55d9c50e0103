"""The simulated instruments on their own: factory, determinism, faults, lifecycle."""

from __future__ import annotations

import asyncio
import random

import pytest
from pydantic import ValidationError

from config.devices import SimDeviceConfig
from devices.instrument import DeviceUnavailable
from devices.measurements import Height, Measurement, QualityFlag, Temperature
from runtime.clock import Clock
from sim.instruments import (
    SimBloodPressure,
    SimGlucometer,
    SimInstrument,
    SimPulseOximeter,
    SimScale,
    SimStadiometerInstrument,
    SimThermometer,
    make_sim_instrument,
)

THERMOMETER = SimDeviceConfig(id="thermometer-1", kind="thermometer", driver="sim", model="TH-1")


@pytest.fixture
def clock() -> Clock:
    return Clock(speed=1000.0)


async def next_reading(readings: asyncio.Queue[Measurement]) -> Measurement:
    async with asyncio.timeout(5.0):
        return await readings.get()


@pytest.mark.parametrize(
    ("kind", "cls"),
    [
        ("thermometer", SimThermometer),
        ("blood_pressure", SimBloodPressure),
        ("pulse_oximeter", SimPulseOximeter),
        ("scale", SimScale),
        ("stadiometer", SimStadiometerInstrument),
        ("glucometer", SimGlucometer),
    ],
)
def test_factory_picks_the_class_by_kind(clock: Clock, kind: str, cls: type[SimInstrument]) -> None:
    config = SimDeviceConfig.model_validate({"id": f"{kind}-1", "kind": kind, "driver": "sim"})
    instrument = make_sim_instrument(config, clock, print, random.Random(0))
    assert type(instrument) is cls
    assert instrument.config is config
    assert not instrument.health().connected  # constructors do no I/O


async def test_same_seed_gives_the_same_readings(clock: Clock) -> None:
    values = []
    for _ in range(2):
        readings: asyncio.Queue[Measurement] = asyncio.Queue()
        rng = random.Random(42)
        thermometer = make_sim_instrument(THERMOMETER, clock, readings.put_nowait, rng)
        await thermometer.start()
        await thermometer.request_measurement()
        reading = await next_reading(readings)
        assert isinstance(reading, Temperature)
        values.append((reading.celsius, reading.battery_percent, reading.model))
        await thermometer.stop()
    assert values[0] == values[1]
    assert values[0][2] == "TH-1"


async def test_reading_carries_device_identity_and_times(clock: Clock) -> None:
    readings: asyncio.Queue[Measurement] = asyncio.Queue()
    thermometer = make_sim_instrument(THERMOMETER, clock, readings.put_nowait, random.Random(3))
    await thermometer.start()
    await thermometer.request_measurement()
    reading = await next_reading(readings)
    assert reading.firmware == thermometer.health().firmware
    assert reading.device_time is not None and reading.device_time.tzinfo is not None
    assert reading.host_time <= clock.monotonic()
    await thermometer.stop()


async def test_disconnected_at_boot_starts_and_connects_when_back_in_range(clock: Clock) -> None:
    thermometer = make_sim_instrument(THERMOMETER, clock, print, random.Random(0))
    thermometer.disconnect()
    await thermometer.start()  # an absent device is no reason to fail: it is shown, and waited for
    health = thermometer.health()
    assert not health.connected and health.last_error == "not reachable"
    with pytest.raises(DeviceUnavailable, match="disconnected"):
        await thermometer.request_measurement()
    thermometer.reconnect()
    health = thermometer.health()
    assert health.connected and health.last_error is None
    await thermometer.stop()


async def test_request_before_start_is_refused(clock: Clock) -> None:
    thermometer = make_sim_instrument(THERMOMETER, clock, print, random.Random(0))
    with pytest.raises(DeviceUnavailable):
        await thermometer.request_measurement()


async def test_stop_cancels_a_measurement_and_is_idempotent(clock: Clock) -> None:
    readings: asyncio.Queue[Measurement] = asyncio.Queue()
    config = SimDeviceConfig(id="bp-1", kind="blood_pressure", driver="sim")
    monitor = make_sim_instrument(config, clock, readings.put_nowait, random.Random(0))
    await monitor.start()
    await monitor.request_measurement()
    await clock.sleep(2.0)
    await monitor.stop()
    await monitor.stop()
    count = readings.qsize()
    await clock.sleep(40.0)
    assert readings.qsize() == count  # nothing after stop
    assert not monitor.health().connected


async def test_injected_flags_apply_to_the_next_reading_only(clock: Clock) -> None:
    readings: asyncio.Queue[Measurement] = asyncio.Queue()
    thermometer = make_sim_instrument(THERMOMETER, clock, readings.put_nowait, random.Random(0))
    await thermometer.start()
    thermometer.inject_flags(QualityFlag.IMPROPER_POSITION)
    await thermometer.request_measurement()
    assert (await next_reading(readings)).flags == {QualityFlag.IMPROPER_POSITION}
    await thermometer.request_measurement()
    assert (await next_reading(readings)).flags == frozenset()
    await thermometer.stop()


async def test_a_failing_sink_does_not_break_the_instrument(clock: Clock) -> None:
    calls: list[Measurement] = []

    def sink(measurement: Measurement) -> None:
        calls.append(measurement)
        raise RuntimeError("consumer bug")

    thermometer = make_sim_instrument(THERMOMETER, clock, sink, random.Random(0))
    await thermometer.start()
    for _ in range(2):
        await thermometer.request_measurement()
        await clock.sleep(5.0)
    assert len(calls) == 2
    assert thermometer.health().last_reading_host_time == calls[-1].host_time
    await thermometer.stop()


def test_the_otoscope_has_no_in_process_stand_in() -> None:
    # It is simulated behind the real "uvc" driver (sim/camera.py), so images go through OpenCV.
    with pytest.raises(ValidationError, match="driver 'sim' serves thermometer or blood_pressure or "
                                              "pulse_oximeter or scale or glucometer or stadiometer, not 'otoscope'"):
        SimDeviceConfig.model_validate({"id": "otoscope-1", "kind": "otoscope", "driver": "sim"})


async def test_the_stadiometer_stand_in_gives_one_plausible_height(clock: Clock) -> None:
    config = SimDeviceConfig(id="stadiometer-1", kind="stadiometer", driver="sim")
    readings: asyncio.Queue[Measurement] = asyncio.Queue()
    instrument = make_sim_instrument(config, clock, readings.put_nowait, random.Random(0))
    await instrument.start()
    await instrument.request_measurement()
    height = await next_reading(readings)
    assert isinstance(height, Height) and 1.5 <= height.metres <= 1.95
    await instrument.stop()
