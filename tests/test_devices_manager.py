"""The device manager driving simulated instruments on a sped-up clock."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable, Iterable

import pytest

from config.devices import SimDeviceConfig
from devices.instrument import DeviceConfigError, DeviceHealth, DeviceUnavailable, Instrument, Sink
from devices.manager import DEFAULT_FRESHNESS_S, DeviceManager, ManagerTimings
from devices.measurements import (
    BloodPressure,
    CuffPressure,
    Pleth,
    QualityFlag,
    Reading,
    RejectedReading,
    SpO2,
    Temperature,
    Weight,
)
from devices.subscription import Subscription
from runtime.clock import Clock
from runtime.errors import StationError
from sim.instruments import SimInstrument, make_sim_instrument
from tests.conftest import eventually

SPEED = 1000.0
CABIN = (
    SimDeviceConfig(id="thermometer-1", kind="thermometer", driver="sim", freshness_s=60.0),
    SimDeviceConfig(id="bp-1", kind="blood_pressure", driver="sim"),
    SimDeviceConfig(id="oximeter-1", kind="pulse_oximeter", driver="sim"),
    SimDeviceConfig(id="scale-1", kind="scale", driver="sim"),
)
# Waiting for a required instrument is bounded in clock seconds; these tests run the clock fast.
SHORT_WAIT = ManagerTimings(required_wait_s=100.0, real_floor_s=0.0)


@pytest.fixture
def clock() -> Clock:
    return Clock(speed=SPEED)


def build(
    clock: Clock,
    configs: Iterable[SimDeviceConfig] = CABIN,
    timings: ManagerTimings | None = None,
    seed: int = 7,
) -> DeviceManager:
    rng = random.Random(seed)
    return DeviceManager.from_configs(
        configs, clock, lambda config, sink: make_sim_instrument(config, clock, sink, rng), timings
    )


@pytest.fixture
async def manager(clock: Clock) -> AsyncIterator[DeviceManager]:
    devices = build(clock)
    await devices.start()
    yield devices
    await devices.stop()


def sim(devices: DeviceManager, device_id: str) -> SimInstrument:
    for instrument in devices.instruments:
        if instrument.device_id == device_id:
            assert isinstance(instrument, SimInstrument)
            return instrument
    raise KeyError(device_id)


def health_of(devices: DeviceManager, device_id: str) -> DeviceHealth:
    return next(h for h in devices.health() if h.device_id == device_id)


async def collect_until(
    subscription: Subscription, done: Callable[[Reading], bool], real_timeout: float = 5.0
) -> list[Reading]:
    """Readings up to and including the first one for which `done` is true."""
    readings: list[Reading] = []
    async with asyncio.timeout(real_timeout):
        async for reading in subscription:
            readings.append(reading)
            if done(reading):
                return readings
    raise AssertionError(f"subscription ended after {readings!r}")


async def test_request_temperature_delivers_a_reading(manager: DeviceManager, clock: Clock) -> None:
    subscription = manager.subscribe()
    asked_at = clock.monotonic()
    assert await manager.request("temperature") == "thermometer-1"
    [reading] = await collect_until(subscription, lambda r: isinstance(r, Temperature))
    assert isinstance(reading, Temperature)
    assert reading.device_id == "thermometer-1"
    assert asked_at + 1.5 <= reading.host_time <= clock.monotonic()  # ~2 s of clock time
    assert 36.4 <= reading.celsius <= 37.6
    assert health_of(manager, "thermometer-1").last_reading_host_time == reading.host_time


async def test_blood_pressure_rises_falls_then_gives_the_result(
    manager: DeviceManager, clock: Clock
) -> None:
    subscription = manager.subscribe(maxsize=1000)
    asked_at = clock.monotonic()
    assert await manager.request("blood_pressure") == "bp-1"
    readings = await collect_until(subscription, lambda r: isinstance(r, BloodPressure))
    result = readings[-1]
    assert isinstance(result, BloodPressure)
    cuff = [r.mmhg for r in readings if isinstance(r, CuffPressure)]
    assert len(cuff) == len(readings) - 1
    peak = cuff.index(max(cuff))
    assert 160 <= cuff[peak] <= 180
    assert cuff[: peak + 1] == sorted(cuff[: peak + 1])
    assert cuff[peak:] == sorted(cuff[peak:], reverse=True)
    assert cuff[-1] == 0.0
    assert result.systolic > result.diastolic
    assert result.diastolic < result.mean_arterial < result.systolic
    assert result.pulse_bpm is not None
    assert 25.0 <= result.host_time - asked_at <= 60.0  # ~31 s; slack for a loaded machine


async def test_pulse_oximeter_streams_pleth_and_spo2(manager: DeviceManager, clock: Clock) -> None:
    subscription = manager.subscribe(maxsize=1000)
    asked_at = clock.monotonic()
    assert await manager.request("spo2") == "oximeter-1"
    readings: list[Reading] = []
    async with asyncio.timeout(5.0):
        while sum(isinstance(r, SpO2) for r in readings) < 10:
            readings.append(await subscription.get())
    pleth = [r for r in readings if isinstance(r, Pleth)]
    spo2 = [r for r in readings if isinstance(r, SpO2)]
    assert len(pleth) == 40
    assert all(p.rate_hz == 60.0 and len(p.samples) == 15 for p in pleth)
    assert all(0 <= s <= 100 for p in pleth for s in p.samples)
    assert all(94 <= r.percent <= 99 and r.pulse_bpm for r in spo2)
    # Steps are paced to clock deadlines, so ~10 s is a floor; the ceiling is slack for load.
    assert 10.0 <= spo2[-1].host_time - asked_at <= 20.0


async def test_scale_gives_a_weight(manager: DeviceManager) -> None:
    subscription = manager.subscribe()
    assert await manager.request("weight") == "scale-1"
    [reading] = await collect_until(subscription, lambda r: isinstance(r, Weight))
    assert isinstance(reading, Weight)
    assert reading.kg > 0 and reading.bmi is not None


async def test_disconnected_instrument_is_unavailable(manager: DeviceManager) -> None:
    sim(manager, "thermometer-1").disconnect()
    with pytest.raises(DeviceUnavailable, match="thermometer-1: disconnected"):
        await manager.request("temperature")
    health = health_of(manager, "thermometer-1")
    assert not health.connected
    assert health.last_error == "connection lost"
    assert "thermometer-1" in manager.degraded()

    sim(manager, "thermometer-1").reconnect()
    assert await manager.request("temperature") == "thermometer-1"


async def test_disconnect_mid_measurement_loses_it(manager: DeviceManager, clock: Clock) -> None:
    subscription = manager.subscribe(maxsize=1000)
    await manager.request("blood_pressure")
    await clock.sleep(3.0)
    sim(manager, "bp-1").disconnect()
    await clock.sleep(40.0)
    assert not any(isinstance(r, BloodPressure) for r in drain(subscription))


async def test_request_falls_back_to_another_instrument(clock: Clock) -> None:
    configs = (
        SimDeviceConfig(id="thermometer-1", kind="thermometer", driver="sim"),
        SimDeviceConfig(id="thermometer-2", kind="thermometer", driver="sim"),
    )
    devices = build(clock, configs)
    await devices.start()
    try:
        sim(devices, "thermometer-1").disconnect()
        assert await devices.request("temperature") == "thermometer-2"
    finally:
        await devices.stop()


async def test_impossible_value_arrives_as_rejected(manager: DeviceManager) -> None:
    subscription = manager.subscribe()
    sim(manager, "thermometer-1").garbage()
    await manager.request("temperature")
    [reading] = await collect_until(subscription, lambda r: True)
    assert isinstance(reading, RejectedReading)
    assert reading.rule == "temperature_out_of_range"
    assert reading.device_id == "thermometer-1"

    await manager.request("temperature")  # garbage is one-shot
    [reading] = await collect_until(subscription, lambda r: True)
    assert isinstance(reading, Temperature)


async def test_impossible_spo2_arrives_as_rejected(manager: DeviceManager) -> None:
    subscription = manager.subscribe(maxsize=1000)
    sim(manager, "oximeter-1").garbage()
    await manager.request("spo2")
    readings = await collect_until(subscription, lambda r: not isinstance(r, Pleth))
    rejected = readings[-1]
    assert isinstance(rejected, RejectedReading)
    assert rejected.rule in {"spo2_above_100", "pulse_zero_with_spo2"}


async def test_stalled_instrument_accepts_and_never_answers(
    manager: DeviceManager, clock: Clock
) -> None:
    subscription = manager.subscribe()
    sim(manager, "thermometer-1").stall()
    assert await manager.request("temperature") == "thermometer-1"
    await clock.sleep(30.0)
    assert subscription.qsize() == 0
    assert health_of(manager, "thermometer-1").connected


async def test_low_battery_shows_in_health_and_flags(manager: DeviceManager) -> None:
    subscription = manager.subscribe()
    sim(manager, "scale-1").low_battery(4)
    assert health_of(manager, "scale-1").battery_percent == 4
    await manager.request("weight")
    [reading] = await collect_until(subscription, lambda r: True)
    assert isinstance(reading, Weight)
    assert QualityFlag.LOW_BATTERY in reading.flags
    assert reading.battery_percent == 4


class BrokenInstrument(Instrument):
    """An instrument whose start always fails with `error`, counting its starts and stops."""

    def __init__(self, config: SimDeviceConfig, sink: Sink, error: Exception | None = None) -> None:
        super().__init__(config, sink)
        self.error = error or DeviceConfigError("usb_serial 0001 names an adapter that is not a CMS50")
        self.starts = 0
        self.stops = 0

    async def start(self) -> None:
        self.starts += 1
        raise self.error

    async def stop(self) -> None:
        self.stops += 1

    async def request_measurement(self) -> None:
        raise AssertionError("never asked: it is not connected")

    def health(self) -> DeviceHealth:
        return DeviceHealth(device_id=self.device_id, kind=self.config.kind, connected=False)


async def test_a_configuration_error_is_reported_once_and_never_retried(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    broken = BrokenInstrument(SimDeviceConfig(id="oximeter-1", kind="pulse_oximeter", driver="sim"), print)
    thermometer = make_sim_instrument(CABIN[0], clock, print, random.Random(1))
    devices = DeviceManager([broken, thermometer], clock)
    await devices.start()
    try:
        health = health_of(devices, "oximeter-1")
        assert not health.connected
        assert health.last_error == "configuration: usb_serial 0001 names an adapter that is not a CMS50"
        assert devices.degraded() == ["oximeter-1"]
        assert await devices.request("temperature") == "thermometer-1"
        with pytest.raises(DeviceUnavailable, match="oximeter-1: failed to start: configuration: usb_serial"):
            await devices.request("spo2")
        await clock.sleep(600.0)  # ten minutes of clock: long past any backoff
        assert broken.starts == 1  # never retried
        assert broken.stops == 1  # what the failed start held is released
        told = [r for r in caplog.records if "oximeter-1" in r.getMessage() and r.levelname == "ERROR"]
        assert len(told) == 1 and told[0].exc_info is None  # once, in one line: it is not a bug
    finally:
        await devices.stop()


async def test_a_bug_in_start_is_logged_with_its_traceback(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    broken = BrokenInstrument(SimDeviceConfig(id="scale-1", kind="scale", driver="sim"), print,
                              KeyError("a driver bug"))
    devices = DeviceManager([broken], clock)
    await devices.start()
    try:
        assert "KeyError" in (health_of(devices, "scale-1").last_error or "")
        [record] = [r for r in caplog.records if "scale-1 failed to start" in r.getMessage()]
        assert record.exc_info is not None and record.exc_info[0] is KeyError
    finally:
        await devices.stop()


async def test_an_absent_instrument_starts_degraded_and_connects_when_it_comes(clock: Clock) -> None:
    devices = build(clock, CABIN[:2])
    sim(devices, "bp-1").disconnect()  # out of range when the cabin boots
    await devices.start()  # does not raise: an absent device is not an error of the station
    try:
        assert devices.degraded() == ["bp-1"]
        health = health_of(devices, "bp-1")
        assert not health.connected and health.last_error == "not reachable"
        with pytest.raises(DeviceUnavailable, match="bp-1: disconnected"):
            await devices.request("blood_pressure")
        sim(devices, "bp-1").reconnect()
        await eventually(lambda: devices.degraded() == [])
        assert await devices.request("blood_pressure") == "bp-1"
    finally:
        await devices.stop()


async def test_a_required_instrument_that_does_not_connect_stops_start(clock: Clock) -> None:
    configs = (
        SimDeviceConfig(id="thermometer-1", kind="thermometer", driver="sim", wait_at_start=True),
        SimDeviceConfig(id="scale-1", kind="scale", driver="sim"),
    )
    devices = build(clock, configs, SHORT_WAIT)
    sim(devices, "thermometer-1").disconnect()
    with pytest.raises(StationError, match="required instrument thermometer-1 .thermometer. did not connect "
                                           "within 100 s: not reachable"):
        await devices.start()
    assert not sim(devices, "scale-1").connected  # the others were stopped again
    await devices.stop()


async def test_a_required_instrument_that_connects_in_time_lets_start_finish(clock: Clock) -> None:
    configs = (SimDeviceConfig(id="thermometer-1", kind="thermometer", driver="sim", wait_at_start=True),)
    devices = build(clock, configs, ManagerTimings(required_wait_s=10_000.0, real_floor_s=0.0))
    sim(devices, "thermometer-1").disconnect()
    starting = asyncio.create_task(devices.start())
    await clock.sleep(50.0)
    assert not starting.done()  # waiting for it
    sim(devices, "thermometer-1").reconnect()
    await asyncio.wait_for(starting, 5.0)
    assert devices.degraded() == []
    await devices.stop()


async def test_a_required_instrument_with_a_configuration_error_stops_start_at_once(clock: Clock) -> None:
    broken = BrokenInstrument(SimDeviceConfig(id="oximeter-1", kind="pulse_oximeter", driver="sim", wait_at_start=True),
                              print)
    devices = DeviceManager([broken], clock, ManagerTimings(required_wait_s=10_000.0, real_floor_s=0.0))
    with pytest.raises(DeviceUnavailable, match="required instrument oximeter-1 .pulse_oximeter. cannot start: "
                                                "configuration: usb_serial"):
        await asyncio.wait_for(devices.start(), 5.0)
    assert broken.starts == 1


async def test_stop_is_idempotent_and_closes_subscriptions(clock: Clock) -> None:
    devices = build(clock)
    await devices.start()
    subscription = devices.subscribe()
    await devices.request("blood_pressure")
    await devices.stop()
    await devices.stop()
    assert subscription.closed
    assert [r async for r in subscription] == []
    assert not any(h.connected for h in devices.health())
    with pytest.raises(DeviceUnavailable, match="not started"):
        await devices.request("temperature")


class HangingInstrument(BrokenInstrument):
    """An instrument whose stop never returns, as a wedged USB write would."""

    async def start(self) -> None:
        self.starts += 1

    async def stop(self) -> None:
        await asyncio.Event().wait()


async def test_stop_is_bounded_by_a_hanging_instrument(clock: Clock) -> None:
    hanging = HangingInstrument(SimDeviceConfig(id="scale-1", kind="scale", driver="sim"), print)
    devices = DeviceManager([hanging], clock, ManagerTimings(stop_timeout_s=50.0, real_floor_s=0.0))
    await devices.start()
    started = time.monotonic()
    await devices.stop()
    assert time.monotonic() - started < 1.0  # 50 clock seconds at 1000x


def temperature(host_time: float, device_id: str = "thermometer-1") -> Temperature:
    return Temperature(device_id=device_id, model="sim", host_time=host_time, celsius=36.9)


def drain(subscription: Subscription) -> list[Reading]:
    readings = []
    while (reading := subscription.get_nowait()) is not None:
        readings.append(reading)
    return readings


async def test_full_subscription_drops_oldest(clock: Clock) -> None:
    devices = build(clock)
    slow = devices.subscribe(maxsize=3)
    fast = devices.subscribe(maxsize=100)
    for i in range(10):
        devices.deliver(temperature(float(i)))
    assert slow.qsize() == 3
    assert slow.dropped == 7
    assert [r.host_time for r in drain(slow)] == [7.0, 8.0, 9.0]
    assert fast.qsize() == 10 and fast.dropped == 0

    devices.unsubscribe(slow)
    devices.deliver(temperature(10.0))
    assert slow.qsize() == 0 and slow.closed
    assert fast.qsize() == 11


async def test_freshness_is_the_instrument_s_or_the_default(clock: Clock) -> None:
    devices = build(clock)
    assert devices.freshness_of("thermometer-1") == 60.0
    assert devices.freshness_of("elsewhere") == DEFAULT_FRESHNESS_S


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("ketones", "unknown measurement 'ketones'"),
        ("pleth", "not requested on its own"),
        ("cuff_pressure", "not requested on its own"),
    ],
)
async def test_request_rejects_kinds_nobody_measures(
    manager: DeviceManager, kind: str, message: str
) -> None:
    with pytest.raises(DeviceUnavailable, match=message):
        await manager.request(kind)


async def test_request_without_such_instrument(clock: Clock) -> None:
    devices = build(clock, CABIN[:1])
    await devices.start()
    try:
        with pytest.raises(DeviceUnavailable, match="no scale is configured"):
            await devices.request("weight")
    finally:
        await devices.stop()


async def test_busy_instrument_is_unavailable(manager: DeviceManager) -> None:
    await manager.request("blood_pressure")
    with pytest.raises(DeviceUnavailable, match="busy"):
        await manager.request("blood_pressure")


def test_duplicate_ids_are_refused(clock: Clock) -> None:
    with pytest.raises(StationError, match="thermometer-1"):
        build(clock, (CABIN[0], CABIN[0]))


async def test_a_cancelled_consumer_can_wait_again(clock: Clock) -> None:
    devices = build(clock)
    subscription = devices.subscribe()
    waiting = asyncio.create_task(subscription.get())
    await asyncio.sleep(0)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    again = asyncio.create_task(anext(subscription))
    await asyncio.sleep(0)
    devices.deliver(temperature(37.0))
    reading = await asyncio.wait_for(again, 1.0)
    assert reading.host_time == 37.0
