"""The CMS50 driver against the pty simulator, through pyserial and the device manager, faults included."""

from __future__ import annotations

import logging
import os
import pty
import random
import tty
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from config.devices import Cms50DeviceConfig
from devices.instrument import DeviceUnavailable
from devices.manager import DeviceManager
from devices.measurements import Pleth, QualityFlag, Reading, RejectedReading, SpO2
from devices.subscription import Subscription
from drivers import cms50
from drivers.cms50_oximeter import Cms50Oximeter, Cms50Timings
from drivers.discovery import Locator, WatchTarget
from drivers.serial_link import SerialLink
from runtime.clock import Clock
from sim.serial_devices import SimCms50
from tests.serial_rig import drain, on_pty, only, wait_until

SPEED = 10.0  # 60 Hz of clock time is 600 packets a real second; 2 s of silence is 0.2 s real


@pytest.fixture
def clock() -> Clock:
    return Clock(speed=SPEED)


@asynccontextmanager
async def rig(
    clock: Clock, timings: Cms50Timings | None = None
) -> AsyncIterator[tuple[SimCms50, DeviceManager, Subscription]]:
    """A started simulator, and a manager with one started CMS50 oximeter on its pty."""
    sim = SimCms50(clock, rng=random.Random(7))

    def config(path: str) -> Cms50DeviceConfig:
        return Cms50DeviceConfig(id="oximeter-1", kind="pulse_oximeter", driver="cms50", port=path, wait_at_start=True)

    async with on_pty(sim, clock, config, lambda c, sink: Cms50Oximeter(c, clock, sink, timings=timings),
                      10_000) as (manager, subscription):
        yield sim, manager, subscription


def oximeter(manager: DeviceManager) -> Cms50Oximeter:
    return only(manager, Cms50Oximeter)


class Collector:
    """Drains a subscription into `readings` each time a wait condition polls it."""

    def __init__(self, subscription: Subscription) -> None:
        self.subscription = subscription
        self.readings: list[Reading] = []

    def count(self, kind: type) -> int:
        self.readings += drain(self.subscription)
        return sum(isinstance(r, kind) for r in self.readings)

    def take(self) -> list[Reading]:
        self.readings += drain(self.subscription)
        taken, self.readings = self.readings, []
        return taken


def samples_of(readings: list[Reading]) -> int:
    return sum(len(r.samples) for r in readings if isinstance(r, Pleth))


async def test_streams_pleth_and_spo2_into_a_subscriber(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="drivers.cms50_oximeter")
    async with rig(clock) as (sim, manager, subscription):
        collector = Collector(subscription)
        await wait_until(lambda: collector.count(SpO2) >= 3)
        readings = collector.take()
        pleth = [r for r in readings if isinstance(r, Pleth)]
        spo2 = [r for r in readings if isinstance(r, SpO2)]
        assert pleth and spo2 and not any(isinstance(r, RejectedReading) for r in readings)
        assert all(len(r.samples) == 10 and r.rate_hz == 60.0 for r in pleth)
        assert all(0 <= s <= 127 for r in pleth for s in r.samples)
        assert max(s for r in pleth for s in r.samples) > 60  # a pulse wave, not a flat line
        for reading in spo2:
            assert 94 <= reading.percent <= 99 and reading.pulse_bpm is not None and 55 <= reading.pulse_bpm <= 95
            assert reading.perfusion_index is not None and reading.flags == frozenset()
        assert {r.device_id for r in readings} == {"oximeter-1"}
        assert {r.model for r in pleth + spo2} == {"Contec CMS50D+"}
        times = [r.host_time for r in readings]
        assert times == sorted(times)
        health = manager.health()[0]
        assert health.connected and health.last_error is None
        assert health.last_reading_host_time == times[-1]
        assert "oximeter oximeter-1: the device identifies itself as CMS50D+" in caplog.messages
        assert sim.commands[:2] == [cms50.START_REALTIME, cms50.DEVICE_ID]
        await wait_until(lambda: cms50.KEEPALIVE in sim.commands)  # every 5 s of clock time


async def test_every_emitted_sample_arrives_despite_garbage_mid_stream(clock: Clock) -> None:
    async with rig(clock) as (sim, manager, subscription):
        await wait_until(lambda: sim.emitted >= 60)
        for _ in range(5):
            sim.inject_garbage(b"\xff\xfe\x7f\x13\x80\x80\x01\x85")  # unknown types, a cut-short packet
            await clock.sleep(0.2)
        sim.max_samples = sim.emitted + 120  # stop the stream at a known count
        await wait_until(lambda: sim.emitted == sim.max_samples)
        delivered = 0

        def caught_up() -> bool:
            nonlocal delivered
            delivered += samples_of(drain(subscription))
            return delivered >= sim.emitted - sim.emitted % 10

        await wait_until(caught_up)
        assert delivered == sim.emitted - sim.emitted % 10  # a partial chunk waits for its 10th sample
        instrument = oximeter(manager)
        assert instrument.garbage_bytes >= 5 * 8
        health = manager.health()[0]
        assert health.connected and health.last_error is not None and "garbage" in health.last_error


async def test_disconnect_is_reported_and_the_driver_reconnects(clock: Clock) -> None:
    async with rig(clock) as (sim, manager, subscription):
        await wait_until(lambda: manager.health()[0].connected)
        sim.disconnect()
        await wait_until(lambda: not manager.health()[0].connected)
        await wait_until(lambda: "missing" in (manager.health()[0].last_error or ""))
        assert manager.degraded() == ["oximeter-1"]
        with pytest.raises(DeviceUnavailable, match="disconnected"):
            await manager.request("spo2")
        drain(subscription)
        sim.reconnect()  # a fresh pty behind the same path; the device waits for A1 again
        await wait_until(lambda: manager.health()[0].connected)
        await wait_until(lambda: any(isinstance(r, Pleth) for r in drain(subscription)))
        assert manager.degraded() == []


async def test_stall_makes_it_silent_then_it_recovers(clock: Clock) -> None:
    async with rig(clock) as (sim, manager, _subscription):
        await wait_until(lambda: manager.health()[0].connected)
        sim.stall()
        await wait_until(lambda: not manager.health()[0].connected)
        assert manager.health()[0].last_error == "no data for 2 s"
        sim.stall(False)
        await wait_until(lambda: manager.health()[0].connected)


async def test_finger_out_gives_flagged_readings_and_no_spo2(clock: Clock) -> None:
    async with rig(clock) as (sim, manager, subscription):
        collector = Collector(subscription)
        await wait_until(lambda: collector.count(SpO2) > 0)
        sim.finger_out()
        await clock.sleep(0.5)
        drain(subscription)
        await clock.sleep(1.5)
        out = drain(subscription)
        assert out and all(isinstance(r, Pleth) and QualityFlag.FINGER_OUT in r.flags for r in out)
        assert manager.health()[0].connected  # the device is there; the finger is not
        sim.finger_out(False)  # back in: the device searches for ~2 s, then measures again
        collector.take()
        await wait_until(lambda: collector.count(SpO2) > 0)
        back = collector.take()
        assert any(isinstance(r, Pleth) and QualityFlag.SEARCHING in r.flags for r in back)
        assert [r.flags for r in back if isinstance(r, SpO2)][-1] == frozenset()


async def test_out_of_range_values_become_rejected_readings(clock: Clock) -> None:
    async with rig(clock) as (sim, _manager, subscription):
        collector = Collector(subscription)
        sim.out_of_range()
        await wait_until(lambda: collector.count(RejectedReading) > 0)
        rejected = [r for r in collector.take() if isinstance(r, RejectedReading)]
        assert rejected[0].rule == "spo2_above_100" and rejected[0].device_id == "oximeter-1"
        assert not any(isinstance(r, SpO2) for r in drain(subscription))


async def test_request_makes_sure_streaming_is_on(clock: Clock) -> None:
    async with rig(clock) as (sim, manager, _subscription):
        await wait_until(lambda: manager.health()[0].connected)
        starts = sim.commands.count(cms50.START_REALTIME)
        assert await manager.request("spo2") == "oximeter-1"
        await wait_until(lambda: sim.commands.count(cms50.START_REALTIME) == starts + 1)


async def test_simulator_answers_commands_as_v7_says(clock: Clock) -> None:
    sim = SimCms50(clock, identifier="SIM-1")
    await sim.start()
    link = SerialLink(sim.path, cms50.BAUDRATE)
    framer = cms50.Framer()
    packets: list[bytes] = []
    link.receive(lambda data: packets.extend(framer.feed(data)))
    try:
        await link.open()
        await link.write(cms50.command(cms50.DEVICE_ID))  # AA: the identifier in a 0x04 packet
        await wait_until(lambda: bool(packets))
        assert cms50.parse_device_id(packets[0]) == "SIM-1" and not sim.streaming
        await link.write(cms50.command(0xB0))  # unsupported here: feedback (command, reason 05)
        await wait_until(lambda: len(packets) == 2)
        assert cms50.restore(packets[1]) == bytes((0xB0, cms50.REASON_UNSUPPORTED))
        await link.write(cms50.command(cms50.KEEPALIVE))  # AF: no answer
        await link.write(cms50.command(cms50.START_REALTIME))
        await wait_until(lambda: len(packets) > 20)
        assert all(p[0] == cms50.REALTIME for p in packets[2:])
        await link.write(cms50.command(cms50.STOP_REALTIME))
        await wait_until(lambda: not sim.streaming)
        assert sim.commands == [0xAA, 0xB0, 0xAF, 0xA1, 0xA2]
    finally:
        await link.close()
        await sim.stop()


async def test_simulator_stops_30_s_after_the_last_start(clock: Clock) -> None:
    clock.set_speed(50.0)
    sim = SimCms50(clock)
    await sim.start()
    link = SerialLink(sim.path, cms50.BAUDRATE)
    try:
        await link.open()
        await link.write(cms50.command(cms50.START_REALTIME))
        await wait_until(lambda: sim.streaming)
        await clock.sleep(25.0)
        assert sim.streaming
        await clock.sleep(6.0)
        assert not sim.streaming
        emitted = sim.emitted
        await clock.sleep(1.0)
        assert sim.emitted == emitted
        assert 29 * 60 <= emitted <= 31 * 60
    finally:
        await link.close()
        await sim.stop()


async def test_driver_keeps_the_stream_going_past_30_s(clock: Clock) -> None:
    clock.set_speed(25.0)
    async with rig(clock, Cms50Timings(silence_s=5.0)) as (sim, manager, _subscription):
        await wait_until(lambda: manager.health()[0].connected)
        start = clock.monotonic()
        await clock.sleep(40.0)
        assert manager.health()[0].connected
        assert sim.commands.count(cms50.START_REALTIME) >= 3  # on connect, then every 15 s
        assert sim.emitted >= (clock.monotonic() - start - 2.0) * 60


async def test_a_missing_port_does_not_fail_start_and_is_named_in_health(clock: Clock) -> None:
    config = Cms50DeviceConfig(id="oximeter-1", kind="pulse_oximeter", driver="cms50", port="/nonexistent/ttyUSB9")
    instrument = Cms50Oximeter(config, clock, lambda m: None)
    await instrument.start()  # it keeps trying in the background
    health = instrument.health()
    assert not health.connected
    assert health.last_error == "/nonexistent/ttyUSB9 is missing (unplugged, or wrong port in the configuration)"
    with pytest.raises(DeviceUnavailable, match="ttyUSB9 is missing"):
        await instrument.request_measurement()
    await instrument.stop()
    await instrument.stop()


async def test_a_usb_identity_that_is_not_plugged_in_is_named_in_health(clock: Clock, tmp_path: Path) -> None:
    config = Cms50DeviceConfig(id="oximeter-1", kind="pulse_oximeter", driver="cms50", usb_vendor=0x10C4,
                               usb_product=0xEA60, usb_serial="0001")
    target = WatchTarget.from_config("oximeter-1", config)
    instrument = Cms50Oximeter(config, clock, print, locator=Locator(target, sysfs_root=tmp_path / "sys",
                                                                     dev_root=tmp_path / "dev"))
    await instrument.start()
    assert instrument.health().last_error == "no USB 10c4:ea60 serial 0001 plugged in"
    await instrument.stop()


async def test_stop_is_idempotent(clock: Clock) -> None:
    async with rig(clock) as (sim, manager, _subscription):
        await wait_until(lambda: manager.health()[0].connected)
        instrument = oximeter(manager)
        await instrument.stop()
        await instrument.stop()
        assert not instrument.health().connected
        await wait_until(lambda: cms50.STOP_REALTIME in sim.commands)


async def test_readings_leave_in_the_order_the_packets_came(clock: Clock) -> None:
    # The 60th sample completes a waveform chunk and carries the second's SpO2: the chunk goes first.
    async with rig(clock) as (_sim, _manager, subscription):
        collector = Collector(subscription)
        await wait_until(lambda: collector.count(SpO2) >= 1)
        readings = collector.take()
        first_spo2 = next(i for i, r in enumerate(readings) if isinstance(r, SpO2))
        assert isinstance(readings[first_spo2 - 1], Pleth)
        assert samples_of(readings[:first_spo2]) == 60  # the chunk that ends the first second came first


async def test_a_burst_of_packets_gives_its_readings_in_packet_order(clock: Clock) -> None:
    # 120 packets in one read (a busy machine catching up): the SpO2 of the 60th sample must come
    # right after that sample's waveform, before the 61st sample's, never deferred past them.
    master, slave = pty.openpty()
    tty.setraw(slave)
    readings: list[Reading] = []
    config = Cms50DeviceConfig(id="oximeter-1", kind="pulse_oximeter", driver="cms50", port=os.ttyname(slave))
    instrument = Cms50Oximeter(config, clock, readings.append, pleth_chunk=1)
    try:
        await instrument.start()
        sample = cms50.RealtimeSample(signal_strength=8, pleth=50, pulse=70, spo2=97, pi=3.0)
        os.write(master, bytes(sample) * 120)
        await wait_until(lambda: len(readings) >= 122)
        kinds = [type(r).__name__ for r in readings]
        assert kinds == ["Pleth"] * 60 + ["SpO2"] + ["Pleth"] * 60 + ["SpO2"]
    finally:
        await instrument.stop()
        os.close(slave)
        os.close(master)
