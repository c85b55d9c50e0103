"""The otoscope instrument on the simulated camera: capture on request, guidance, snapshot, health."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from config.devices import UvcDeviceConfig
from devices.camera import FrameMetrics, Guidance
from devices.instrument import DeviceUnavailable
from devices.manager import DeviceManager
from drivers.camera import CameraError, GrabberTimings
from drivers.discovery import Locator, WatchTarget
from drivers.uvc_camera import UvcCamera, parse_source, source_present
from runtime.clock import Clock
from sim.camera import CameraFault, SimCamera
from tests.conftest import eventually

FAST = GrabberTimings(open_timeout_s=2.0, read_timeout_s=0.5, reopen_initial_s=0.05, reopen_max_s=0.3, frame_timeout_s=1.0)


def config(port: str | None = None, **extra: object) -> UvcDeviceConfig:
    return UvcDeviceConfig.model_validate({"id": "otoscope-1", "kind": "otoscope", "driver": "uvc",
                                           "model": "sim otoscope", "port": port, **extra})


@pytest.fixture
async def otoscope(camera: SimCamera) -> AsyncIterator[UvcCamera]:
    scope = UvcCamera(config(camera.url), print, Clock(), timings=FAST, analysis_interval_s=0.05)
    await scope.start()
    try:
        yield scope
    finally:
        await scope.stop()


def test_constructor_does_no_io() -> None:
    scope = UvcCamera(config("/dev/video42"), print, Clock())
    assert not scope.health().connected and not scope.capturing
    by_usb = UvcCamera(config(None, usb_vendor=0x1BCF), print, Clock())  # found later, through sysfs
    assert not by_usb.health().connected


def test_ports_and_presence() -> None:
    assert parse_source("0") == 0 and parse_source(" 2 ") == 2
    assert parse_source("/dev/video0") == "/dev/video0"
    assert source_present("http://127.0.0.1:1/x.mjpg")  # a URL is tried, not checked
    assert not source_present("/dev/video97") and not source_present(97)


async def test_the_self_test_of_a_missing_camera_fails_at_once_saying_why() -> None:
    clock = Clock()
    manager = DeviceManager.from_configs([config("/dev/video97")], clock,
                                         lambda c, sink: UvcCamera(config("/dev/video97"), sink, clock))
    await manager.start()
    try:
        result = await manager.self_test("otoscope-1")  # not "no reading in time", 90 s later
    finally:
        await manager.stop()
    assert not result.ok
    assert result.detail == "/dev/video97 is missing (unplugged, or wrong port in the configuration)"


async def test_a_missing_camera_starts_and_says_what_was_looked_for(tmp_path: Path) -> None:
    scope = UvcCamera(config("/dev/video97"), print, Clock())
    await scope.start()  # an absent camera is no reason to fail: it is shown, and waited for
    health = scope.health()
    assert not health.connected and health.last_error == (
        "/dev/video97 is missing (unplugged, or wrong port in the configuration)")
    target = WatchTarget("otoscope-1", "video4linux", usb_vendor=0x1BCF, usb_product=0x2C99, usb_serial="OTO-1")
    located = UvcCamera(config(None, usb_vendor=0x1BCF), print, Clock(),
                       locator=Locator(target, sysfs_root=tmp_path / "sys", dev_root=tmp_path / "dev"))
    await located.start()
    assert located.health().last_error == "no USB 1bcf:2c99 serial OTO-1 plugged in"
    await located.request_measurement()  # the capture keeps looking for it, and says so
    await eventually(lambda: located.camera_health().failures > 0)
    assert located.camera_health().last_error == "no USB 1bcf:2c99 serial OTO-1 plugged in"
    await located.stop()
    await scope.stop()


async def test_capture_is_off_until_requested(otoscope: UvcCamera, camera: SimCamera) -> None:
    assert otoscope.health().connected and not otoscope.capturing
    await asyncio.sleep(0.2)
    assert camera.connections == 0 and otoscope.metrics() is None and otoscope.guidance() is None
    await otoscope.request_measurement()
    assert otoscope.capturing
    await eventually(lambda: otoscope.guidance() == "ok")
    metrics = otoscope.metrics()
    assert metrics is not None and (metrics.width, metrics.height) == (640, 480)
    health = otoscope.health()
    assert health.connected and health.kind == "otoscope" and health.last_reading_host_time is not None
    await otoscope.capture_off()
    assert not otoscope.capturing and otoscope.guidance() is None
    await otoscope.capture_off()


async def test_guidance_follows_the_picture(otoscope: UvcCamera, camera: SimCamera) -> None:
    heard: list[Guidance] = []

    def listen(advice: Guidance, metrics: FrameMetrics) -> None:
        heard.append(advice)

    otoscope.subscribe_guidance(listen)
    await otoscope.capture_on()
    await eventually(lambda: otoscope.guidance() == "ok")
    camera.inject(CameraFault.SHAKE)
    await eventually(lambda: otoscope.guidance() == "hold_still")
    camera.clear()
    camera.inject(CameraFault.BLUR)
    await eventually(lambda: otoscope.guidance() == "hold_still")
    camera.clear()
    camera.inject(CameraFault.DARK)
    await eventually(lambda: otoscope.guidance() == "too_dark")
    camera.clear()
    await eventually(lambda: otoscope.guidance() == "ok")
    await eventually(lambda: heard[-2:] == ["ok", "ok"])  # told after every analysed frame, not only on change
    changes = [a for i, a in enumerate(heard) if i == 0 or heard[i - 1] != a]
    assert changes[0] == "ok" and "hold_still" in changes and "too_dark" in changes and changes[-1] == "ok"


async def test_a_failing_listener_does_not_stop_the_guidance(otoscope: UvcCamera) -> None:
    def broken(advice: Guidance, metrics: FrameMetrics) -> None:
        raise RuntimeError("kiosk gone")

    otoscope.subscribe_guidance(broken)
    await otoscope.capture_on()
    await eventually(lambda: otoscope.guidance() == "ok")
    await asyncio.sleep(0.2)
    assert otoscope.health().connected


async def test_snapshot_switches_the_camera_on_and_gives_a_jpeg(otoscope: UvcCamera) -> None:
    jpeg = await otoscope.snapshot()
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape == (480, 640, 3)
    assert otoscope.capturing


async def test_frames_give_a_video_track_its_own_cursor(otoscope: UvcCamera) -> None:
    await otoscope.capture_on()
    cursor = otoscope.frames()
    first = await cursor.next(timeout_s=5.0)
    second = await cursor.next(timeout_s=5.0)
    assert second.seq > first.seq and cursor.delivered == 2
    await otoscope.capture_off()
    with pytest.raises(CameraError):
        await cursor.next(timeout_s=1.0)


async def test_disconnect_shows_in_health_and_recovers(otoscope: UvcCamera, camera: SimCamera) -> None:
    await otoscope.capture_on()
    await eventually(lambda: otoscope.guidance() == "ok")
    camera.inject(CameraFault.DISCONNECT)
    await eventually(lambda: not otoscope.health().connected)
    health = otoscope.health()
    assert health.last_error is not None
    assert otoscope.guidance() is None and otoscope.metrics() is None  # nothing stale looks current
    with pytest.raises(CameraError):
        await otoscope.snapshot()  # within frame_timeout_s: no frame, a clear error
    camera.clear()
    await eventually(lambda: otoscope.health().connected and otoscope.guidance() == "ok")
    assert otoscope.camera_health().failures == 0


async def test_unplug_news_from_the_watcher(otoscope: UvcCamera) -> None:
    otoscope.device_changed(None)
    health = otoscope.health()
    assert not health.connected and health.last_error == "unplugged"
    otoscope.device_changed("/dev/video0")
    health = otoscope.health()
    assert health.connected and health.last_error is None


async def test_requests_need_a_started_otoscope(camera: SimCamera) -> None:
    scope = UvcCamera(config(camera.url), print, Clock(), timings=FAST)
    with pytest.raises(DeviceUnavailable, match="not started"):
        await scope.request_measurement()
    await scope.start()
    await scope.start()
    await scope.request_measurement()
    await scope.stop()
    await scope.stop()
    assert not scope.capturing and not scope.health().connected
