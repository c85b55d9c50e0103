"""USB-only instruments on the simulator, through the real discovery path: a simulated USB bus
(a sysfs tree and /dev in a temporary directory), the device watcher, the locators, the drivers.

The configuration names the oximeter and the otoscope by USB identity only. The rig hangs a tty
node (its /dev entry a link to the CMS50 simulator's pty) and a video node (its /dev entry a
link to the simulated camera's MJPEG pipe) under USB devices with those identities.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from config.devices import Cms50DeviceConfig, UvcDeviceConfig
from config.loader import default_config_path, load_config
from config.schema import CabinConfig
from devices.measurements import SpO2
from devices.subscription import Subscription
from drivers.cms50_oximeter import Cms50Oximeter
from runtime.clock import Clock
from sim.rig import SimRig
from station.diagnosis import device_report
from station.hardware import Hardware

OXIMETER_PORT = 'port = "/dev/serial/by-id/usb-Silicon_Labs_CP2102_USB_to_UART_Bridge_Controller_0001-if00-port0"'
OTOSCOPE_PORT = 'port = "/dev/video0"'


def usb_only(tmp_path: Path) -> CabinConfig:
    """The packaged file with the oximeter and the otoscope named by USB identity, loaded as `cabin run` would."""
    text = default_config_path().read_text(encoding="utf-8")
    text = text.replace(OXIMETER_PORT, 'usb_vendor = 0x10c4\nusb_product = 0xea60\nusb_serial = "0001"')
    text = text.replace(OTOSCOPE_PORT, "usb_vendor = 0x1bcf\nusb_product = 0x2c99")
    path = tmp_path / "usb.toml"
    path.write_text(text, encoding="utf-8")
    config = load_config(path)
    found_by_usb = tuple(d for d in config.devices if isinstance(d, Cms50DeviceConfig | UvcDeviceConfig))
    assert [d.port for d in found_by_usb] == [None, None, None]  # the dermatoscope is by USB identity already
    return config.model_copy(update={"devices": found_by_usb})  # the BLE instruments are tested elsewhere


@asynccontextmanager
async def cabin(config: CabinConfig, clock: Clock, *, unplugged: tuple[str, ...] = ()
                ) -> AsyncIterator[tuple[SimRig, Hardware]]:
    rig = SimRig(clock, config)
    await rig.start()
    for device_id in unplugged:
        rig.unplug(device_id)
    hardware = Hardware(config, clock, rig=rig)
    try:
        await hardware.start()
        yield rig, hardware
    finally:
        await hardware.stop()
        await rig.stop()


async def within(seconds: float, condition: Callable[[], bool]) -> float:
    """Wait, in real time, until `condition` holds; return how long it took."""
    began = time.monotonic()
    while not condition():
        assert time.monotonic() - began < seconds, f"not within {seconds} s"
        await asyncio.sleep(0.01)
    return time.monotonic() - began


async def spo2_from(subscription: Subscription, device_id: str) -> SpO2:
    async with asyncio.timeout(5.0):
        async for reading in subscription:
            if isinstance(reading, SpO2) and reading.device_id == device_id:
                return reading
    raise AssertionError("the subscription ended")


async def test_usb_only_oximeter_and_otoscope_work_through_discovery(tmp_path: Path) -> None:
    clock = Clock()
    async with cabin(usb_only(tmp_path), clock) as (rig, hardware):
        assert hardware.watcher.present().get("oximeter-1") == str(rig.dev_root / "ttyUSB0")
        assert hardware.watcher.present().get("otoscope-1") == str(rig.dev_root / "video0")
        devices = hardware.devices
        readings = devices.subscribe(maxsize=1000)
        await within(5.0, lambda: devices.degraded() == [])
        assert await devices.request("spo2") == "oximeter-1"
        reading = await spo2_from(readings, "oximeter-1")
        assert 94 <= reading.percent <= 99
        camera = hardware.cameras.get("otoscope")
        await camera.capture_on()
        frame = await camera.frames().next(timeout_s=10.0)
        assert frame.image.shape == (480, 640, 3)  # the simulated ear canal, through OpenCV and the pipe
        await camera.capture_off()


async def test_a_device_plugged_in_after_start_is_opened_at_once_despite_a_long_backoff(tmp_path: Path) -> None:
    clock = Clock(speed=100.0)  # the oximeter's backoff (0.5 s doubling to 5 s of clock) grows in ~0.1 s
    async with cabin(usb_only(tmp_path), clock, unplugged=("oximeter-1",)) as (rig, hardware):
        oximeter = next(i for i in hardware.devices.instruments if isinstance(i, Cms50Oximeter))
        assert oximeter.health().last_error == "no USB 10c4:ea60 serial 0001 plugged in"
        await asyncio.sleep(0.3)  # attempt after attempt fail: the backoff reaches its limit
        clock.set_speed(0.001)  # from now on each wait between attempts lasts 5000 real seconds
        await asyncio.sleep(0.2)  # the short wait in progress ends; a long one begins
        assert not oximeter.health().connected
        rows = {row["device_id"]: row for row in await device_report(hardware, skip_tests="not asked")}
        assert rows["oximeter-1"]["transport"] == "serial by USB identity, not plugged in"
        rig.plug("oximeter-1")
        await within(2.0, lambda: oximeter.health().connected)  # not 5000 s: the watcher's news woke it
        assert hardware.watcher.present().get("oximeter-1") == str(rig.dev_root / "ttyUSB0")
        rows = {row["device_id"]: row for row in await device_report(hardware, skip_tests="not asked")}
        assert rows["oximeter-1"]["transport"] == f"serial by USB identity, at {rig.dev_root / 'ttyUSB0'}"


async def test_a_camera_plugged_in_while_capturing_gives_frames(tmp_path: Path) -> None:
    async with cabin(usb_only(tmp_path), Clock(), unplugged=("otoscope-1",)) as (rig, hardware):
        camera = hardware.cameras.get("otoscope")
        health = next(h for h in hardware.devices.health() if h.device_id == "otoscope-1")
        assert not health.connected and health.last_error == "no USB 1bcf:2c99 plugged in"
        await camera.capture_on()
        await asyncio.sleep(0.5)  # it looks for the camera, and waits between looks
        rig.plug("otoscope-1")
        frame = await camera.frames().next(timeout_s=5.0)
        assert frame.image.shape == (480, 640, 3)
        await within(2.0, lambda: hardware.watcher.present().get("otoscope-1") is not None)
        rig.unplug("otoscope-1")
        await within(5.0, lambda: not camera.health().connected)  # the stream breaks first
        await within(2.0, lambda: camera.health().last_error == "unplugged")  # then the watcher says why


async def test_an_oximeter_unplugged_and_plugged_back_reconnects(tmp_path: Path) -> None:
    async with cabin(usb_only(tmp_path), Clock()) as (rig, hardware):
        oximeter = next(i for i in hardware.devices.instruments if isinstance(i, Cms50Oximeter))
        await within(5.0, lambda: oximeter.health().connected)
        rig.unplug("oximeter-1")
        await within(5.0, lambda: not oximeter.health().connected)
        await within(5.0, lambda: oximeter.health().last_error == "no USB 10c4:ea60 serial 0001 plugged in")
        rig.plug("oximeter-1")
        await within(2.0, lambda: oximeter.health().connected)


@pytest.mark.parametrize("device_id", ["badge_reader", "entry_lock"])
async def test_accessories_by_usb_identity(tmp_path: Path, device_id: str) -> None:
    text = default_config_path().read_text(encoding="utf-8")
    ports = {"badge_reader": 'port = "/dev/serial/by-id/usb-1a86_USB_Serial-if00-port0"',
             "entry_lock": 'port = "/dev/serial/by-id/usb-1a86_USB2.0-Serial-if00-port0"'}
    serial = {"badge_reader": "BADGE", "entry_lock": "RELAY"}[device_id]
    path = tmp_path / "accessory.toml"
    path.write_text(text.replace(ports[device_id], f'usb_vendor = 0x1a86\nusb_product = 0x7523\nusb_serial = "{serial}"'),
                    encoding="utf-8")
    config = load_config(path)
    config = config.model_copy(update={"devices": ()})
    async with cabin(config, Clock(), unplugged=(device_id,)) as (rig, hardware):
        accessory = hardware.badge_reader if device_id == "badge_reader" else hardware.entry_lock
        assert accessory is not None
        await accessory.start()
        try:
            assert accessory.health().last_error == f"no USB 1a86:7523 serial {serial} plugged in"
            rig.plug(device_id)
            await within(2.0, lambda: accessory.health().connected)
        finally:
            await accessory.stop()
