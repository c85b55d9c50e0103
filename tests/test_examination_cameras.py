"""The cabin's examination cameras (devices/cameras.py): two simulated cameras through OpenCV, one on at a time."""

from __future__ import annotations

from collections.abc import AsyncIterator

import cv2
import numpy as np
import pytest

from config.devices import UvcDeviceConfig
from devices.camera import CameraKind, FrameMetrics, Guidance
from devices.cameras import ExaminationCameras, NoSuchCamera
from devices.instrument import DeviceConfigError
from drivers.camera import GrabberTimings
from drivers.uvc_camera import UvcCamera
from runtime.clock import Clock
from sim.camera import CameraFault, SimCamera
from sim.skin import SkinLesionScene
from tests.conftest import eventually

FAST = GrabberTimings(open_timeout_s=2.0, read_timeout_s=0.5, reopen_initial_s=0.05, reopen_max_s=0.3,
                      frame_timeout_s=2.0)


def camera_on(port: str, kind: CameraKind, device_id: str | None = None) -> UvcCamera:
    config = UvcDeviceConfig(id=device_id or f"{kind}-1", kind=kind, driver="uvc", port=port)
    return UvcCamera(config, print, Clock(), timings=FAST, analysis_interval_s=0.05)


@pytest.fixture
async def pair() -> AsyncIterator[tuple[ExaminationCameras, dict[str, SimCamera]]]:
    stand_ins = {"otoscope": SimCamera(width=320, height=240),
                 "dermatoscope": SimCamera(scene=SkinLesionScene(320, 240))}
    for stand_in in stand_ins.values():
        await stand_in.start()
    cameras = [camera_on(stand_ins["otoscope"].url, "otoscope"),
               camera_on(stand_ins["dermatoscope"].url, "dermatoscope")]
    for camera in cameras:
        await camera.start()
    try:
        yield ExaminationCameras(cameras), stand_ins
    finally:
        for camera in cameras:
            await camera.stop()
        for stand_in in stand_ins.values():
            await stand_in.stop()


async def test_switching_one_camera_on_switches_the_other_off(
        pair: tuple[ExaminationCameras, dict[str, SimCamera]]) -> None:
    cameras, _ = pair
    otoscope, dermatoscope = cameras.get("otoscope"), cameras.get("dermatoscope")
    assert cameras.kinds == ("otoscope", "dermatoscope") and cameras.on() is None
    await cameras.switch("otoscope", True)
    assert cameras.on() is otoscope
    await cameras.switch("dermatoscope", True)
    assert cameras.on() is dermatoscope and not otoscope.capturing
    frame = await dermatoscope.frames().next(5.0)
    assert frame.image.shape == (240, 320, 3)
    await cameras.switch("otoscope", False)  # switching off the one that is off changes nothing
    assert cameras.on() is dermatoscope
    await cameras.rest()
    assert cameras.on() is None and not dermatoscope.capturing


async def test_a_snapshot_of_each_comes_from_its_own_camera(
        pair: tuple[ExaminationCameras, dict[str, SimCamera]]) -> None:
    cameras, _ = pair
    pictures = {}
    for kind in ("dermatoscope", "otoscope"):
        camera, jpeg = await cameras.snapshot(kind)
        assert cameras.on() is camera and camera.device_id == f"{kind}-1"
        pictures[kind] = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert not cameras.get("dermatoscope").capturing
    # Skin fills the dermatoscope's disc of light; the ear canal is darker and redder.
    assert pictures["dermatoscope"].shape == pictures["otoscope"].shape == (240, 320, 3)
    assert pictures["dermatoscope"].mean() > pictures["otoscope"].mean() + 15


async def test_guidance_names_the_camera_and_glare_shows(
        pair: tuple[ExaminationCameras, dict[str, SimCamera]]) -> None:
    cameras, stand_ins = pair
    heard: list[tuple[CameraKind, Guidance]] = []

    def listen(kind: CameraKind, advice: Guidance, metrics: FrameMetrics) -> None:
        heard.append((kind, advice))

    unsubscribe = cameras.subscribe_guidance(listen)
    await cameras.switch("dermatoscope", True)
    await eventually(lambda: ("dermatoscope", "ok") in heard, within_s=5)
    stand_ins["dermatoscope"].inject(CameraFault.GLARE)  # pressed on dry skin: the light reflects
    await eventually(lambda: ("dermatoscope", "glare") in heard, within_s=5)
    unsubscribe()
    assert all(kind == "dermatoscope" for kind, _ in heard)


async def test_one_camera_of_each_kind_and_a_missing_one_is_named() -> None:
    first, second = camera_on("/dev/video97", "otoscope"), camera_on("/dev/video98", "otoscope", "otoscope-2")
    with pytest.raises(DeviceConfigError, match="otoscope-1 is the cabin's otoscope already"):
        ExaminationCameras([first, second])
    with pytest.raises(NoSuchCamera, match="this cabin has no dermatoscope"):
        await ExaminationCameras([first]).switch("dermatoscope", True)
    assert len(ExaminationCameras()) == 0 and ExaminationCameras().on() is None
