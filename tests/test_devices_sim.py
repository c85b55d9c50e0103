"""The simulated instruments on their own: factory, determinism, faults, lifecycle."""

from __future__ import annotations

import asyncio
import random

import pytest

from config.schema import DeviceConfig
from devices.instrument import DeviceUnavailable
from devices.measurements import Measurement, QualityFlag, Temperature
from runtime.clock import Clock
from sim.instruments import (
    SimBloodPressure,
    SimInstrument,
    SimOtoscope,
    SimPulseOximeter,
    SimScale,
    SimThermometer,
    make_sim_instrument,
)

THERMOMETER = DeviceConfig(id="thermometer-1", kind="thermometer", model="TH-1")


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
        ("otoscope", SimOtoscope),
    ],
)
def test_factory_picks_the_class_by_kind(clock: Clock, kind: str, cls: type[SimInstrument]) -> None:
    config = DeviceConfig.model_validate({"id": f"{kind}-1", "kind": kind})
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


async def test_disconnected_at_boot_cannot_start(clock: Clock) -> None:
    thermometer = make_sim_instrument(THERMOMETER, clock, print, random.Random(0))
    thermometer.disconnect()
    with pytest.raises(DeviceUnavailable, match="not reachable"):
        await thermometer.start()
    thermometer.reconnect()
    await thermometer.start()
    assert thermometer.health().connected
    await thermometer.stop()


async def test_request_before_start_is_refused(clock: Clock) -> None:
    thermometer = make_sim_instrument(THERMOMETER, clock, print, random.Random(0))
    with pytest.raises(DeviceUnavailable):
        await thermometer.request_measurement()


async def test_stop_cancels_a_measurement_and_is_idempotent(clock: Clock) -> None:
    readings: asyncio.Queue[Measurement] = asyncio.Queue()
    config = DeviceConfig(id="bp-1", kind="blood_pressure")
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


async def test_otoscope_connects_and_gives_no_readings(clock: Clock) -> None:
    readings: asyncio.Queue[Measurement] = asyncio.Queue()
    config = DeviceConfig(id="otoscope-1", kind="otoscope")
    otoscope = make_sim_instrument(config, clock, readings.put_nowait, random.Random(0))
    await otoscope.start()
    assert otoscope.health().connected
    await otoscope.request_measurement()
    await clock.sleep(10.0)
    assert readings.empty()
    await otoscope.stop()
