"""The serial stadiometer against its pty simulator, through pyserial and the device manager, faults included."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from pydantic import ValidationError

from config.devices import StadiometerDeviceConfig
from config.loader import default_config_path, load_config
from devices.instrument import DeviceUnavailable
from devices.manager import DeviceManager
from devices.measurements import Height, Reading
from devices.subscription import Subscription
from drivers.stadiometer_serial import SerialStadiometer, StadiometerTimings
from runtime.clock import Clock
from sim.stadiometer import JITTER_MM, SimStadiometer
from tests.serial_rig import drain, on_pty, only, wait_until
from tests.test_devices_usb import cabin, within

SPEED = 10.0  # the simulator prints 60 lines a real second
TIMINGS = StadiometerTimings(silence_s=0.5, first_attempt_s=2.0)


@asynccontextmanager
async def rig(mode: str = "distance") -> AsyncIterator[tuple[SimStadiometer, DeviceManager, Subscription]]:
    """A started simulator with nobody under it, and a manager with one started stadiometer on its pty."""
    clock = Clock(speed=SPEED)
    sim = SimStadiometer(clock, mode="height" if mode == "height" else "distance", mount_height_mm=2300,
                         rng=random.Random(3))

    def config(path: str) -> StadiometerDeviceConfig:
        return StadiometerDeviceConfig(id="stadiometer-1", kind="stadiometer", driver="stadiometer_serial",
                                       port=path, mode=sim.mode, mount_height_mm=2300, hold_s=0.3,
                                       wait_at_start=True)

    async with on_pty(sim, clock, config, lambda c, sink: SerialStadiometer(c, clock, sink, timings=TIMINGS),
                      1000) as (manager, subscription):
        yield sim, manager, subscription


def instrument(manager: DeviceManager) -> SerialStadiometer:
    return only(manager, SerialStadiometer)


async def next_height(subscription: Subscription, seconds: float = 5.0) -> Height:
    readings: list[Reading] = []

    def arrived() -> bool:
        readings.extend(drain(subscription))
        return bool(readings)

    await wait_until(arrived, seconds)
    assert isinstance(readings[0], Height), readings
    return readings[0]


@pytest.mark.parametrize("mode", ["distance", "height"])
async def test_a_patient_stepping_in_is_measured_once(mode: str) -> None:
    async with rig(mode) as (sim, manager, subscription):
        await wait_until(lambda: manager.health()[0].connected)
        await asyncio.sleep(0.6)  # real seconds: twice the hold
        assert drain(subscription) == []  # nobody under the sensor: no reading
        sim.step_in(1752)
        height = await next_height(subscription)
        assert abs(height.metres * 1000 - 1752) <= JITTER_MM
        assert height.device_id == "stadiometer-1" and height.to_json()["unit"] == "m"
        await asyncio.sleep(0.9)
        assert drain(subscription) == []  # still standing: one measurement, not one a second
        assert await manager.request("height") == "stadiometer-1"
        again = await next_height(subscription)  # asked again: the same stance gives a new reading
        assert abs(again.metres * 1000 - 1752) <= JITTER_MM and again.host_time > height.host_time


async def test_garbage_on_the_line_is_counted_and_measuring_goes_on() -> None:
    async with rig() as (sim, manager, subscription):
        await wait_until(lambda: manager.health()[0].connected)
        for _ in range(5):
            sim.inject_garbage(b"HRXL-MaxSonar-WRL\rR17\xff\x00R123456\r")
            await asyncio.sleep(0.01)
        sim.step_in(1630)
        height = await next_height(subscription)
        assert abs(height.metres * 1000 - 1630) <= JITTER_MM
        assert instrument(manager).garbage_bytes >= 5 * 20
        health = manager.health()[0]
        assert health.connected and "garbage" in (health.last_error or "")


async def test_unplugged_it_is_reported_then_measures_again_once_replugged() -> None:
    async with rig() as (sim, manager, subscription):
        await wait_until(lambda: manager.health()[0].connected)
        sim.disconnect()
        await wait_until(lambda: not manager.health()[0].connected)
        await wait_until(lambda: "missing" in (manager.health()[0].last_error or ""))
        with pytest.raises(DeviceUnavailable, match="stadiometer-1"):
            await manager.request("height")
        sim.reconnect()
        await wait_until(lambda: manager.health()[0].connected)
        sim.step_in(1815)
        assert abs((await next_height(subscription)).metres * 1000 - 1815) <= JITTER_MM


async def test_a_stalled_sensor_is_silent_then_recovers() -> None:
    async with rig() as (sim, manager, _subscription):
        await wait_until(lambda: manager.health()[0].connected)
        sim.stall()
        await wait_until(lambda: not manager.health()[0].connected)
        assert manager.health()[0].last_error == "no valid line for 0.5 s"
        sim.stall(False)
        await wait_until(lambda: manager.health()[0].connected)


def test_a_head_top_sensor_without_its_mount_height_is_refused() -> None:
    with pytest.raises(ValidationError, match='mode "distance" needs mount_height_mm'):
        StadiometerDeviceConfig(id="stadiometer-1", kind="stadiometer", driver="stadiometer_serial", port="/dev/x")


async def test_found_by_usb_identity_measured_unplugged_and_replugged(tmp_path: Path) -> None:
    packaged = 'port = "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_0001-if00-port0"'
    text = default_config_path().read_text(encoding="utf-8")
    assert text.count(packaged) == 1
    path = tmp_path / "usb.toml"
    path.write_text(text.replace(packaged, 'usb_vendor = 0x0403\nusb_product = 0x6001\nusb_serial = "ROD1"'),
                    encoding="utf-8")
    config = load_config(path)
    config = config.model_copy(update={"devices": tuple(d for d in config.devices if d.id == "stadiometer-1")})
    async with cabin(config, Clock()) as (rig, hardware):
        devices = hardware.devices
        readings = devices.subscribe(maxsize=100)
        await within(5.0, lambda: devices.degraded() == [])
        assert hardware.watcher.present().get("stadiometer-1") == str(rig.dev_root / "ttyUSB0")
        assert await devices.request("height") == "stadiometer-1"
        assert isinstance(await next_height(readings), Height)  # the rig's patient stands under it
        rig.unplug("stadiometer-1")
        await within(5.0, lambda: "no USB 0403:6001 serial ROD1" in (devices.health()[0].last_error or ""))
        rig.plug("stadiometer-1")
        await within(5.0, lambda: devices.health()[0].connected)
