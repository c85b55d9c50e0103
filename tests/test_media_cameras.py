"""Two examination cameras on one instruments leg (docs/design.md, "Examination cameras"): a simulated station
with its otoscope and its dermatoscope (found by USB identity on the simulated bus), and an aiortc GP."""

from __future__ import annotations

import base64
from pathlib import Path

import cv2
import numpy as np

from sim.camera import CameraFault
from sim.gp_peer import of_type
from tests.conftest import config_with, eventually, running_station
from tests.test_media import instruments, joined

SKIN = 82.0  # mean luma: the dermatoscope's disc of skin is above, the otoscope's ear canal below


async def test_the_gp_switches_between_the_two_cameras_on_one_video_track(state_dir: Path) -> None:
    async with (running_station(state_dir, speed=1.0) as (station, crew),
                instruments(station.gp_link.attach, station.hardware.cameras) as (director, gp)):
        cameras = station.hardware.cameras
        otoscope, dermatoscope = cameras.get("otoscope"), cameras.get("dermatoscope")
        await gp.wait_connected()
        session = await joined(station, crew, gp)

        await gp.send("camera", camera="dermatoscope", on=True)
        ack = await gp.control.expect(of_type("ack", ref="camera"))
        assert ack == {**ack, "camera": "dermatoscope", "on": True, "device": "dermatoscope-1"}
        await eventually(lambda: (gp.frame_brightness or 0) > SKIN and gp.frame_size == (640, 480), within_s=10)
        guidance = await gp.vitals.expect(of_type("guidance", camera="dermatoscope"))
        assert guidance["session"] == session and guidance["advice"] == "ok" and guidance["glare"] < 0.02

        assert station.rig is not None
        station.rig.cameras["dermatoscope-1"].inject(CameraFault.GLARE)  # pressed on dry skin: the light reflects
        await gp.vitals.expect(of_type("guidance", camera="dermatoscope", advice="glare"), timeout_s=10)

        await gp.send("otoscope", on=True)  # an older console's message: the otoscope, and the other goes off
        assert (await gp.control.expect(of_type("ack", ref="otoscope")))["camera"] == "otoscope"
        assert otoscope.capturing and not dermatoscope.capturing
        await eventually(lambda: 0 < (gp.frame_brightness or 255) < SKIN, within_s=10)
        await gp.vitals.expect(of_type("guidance", camera="otoscope"))
        leg = director.leg("gp-1")
        assert leg is not None and leg.track.frames_sent > 0

        await gp.send("end")
        await gp.control.expect(of_type("ack", ref="end"))
        await crew.kiosk.post("/api/leave")
        await gp.control.expect(of_type("ended", session=session))
        await eventually(lambda: cameras.on() is None)  # both rest between patients


async def test_a_snapshot_of_each_camera_names_it(state_dir: Path) -> None:
    async with (running_station(state_dir, speed=1.0) as (station, crew),
                instruments(station.gp_link.attach, station.hardware.cameras) as (director, gp)):
        await gp.wait_connected()
        session = await joined(station, crew, gp)
        means = {}
        for camera in ("dermatoscope", "otoscope"):
            await gp.send("snapshot", camera=camera)
            ack = await gp.control.expect(of_type("ack", ref="snapshot", camera=camera), timeout_s=15)
            parts = [await gp.vitals.expect(of_type("snapshot", id=ack["id"], index=i)) for i in range(ack["count"])]
            assert all(p["camera"] == camera and p["session"] == session for p in parts)
            jpeg = base64.b64decode("".join(p["data"] for p in parts))
            image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            assert image.shape == (480, 640, 3)
            means[camera] = float(image.mean())
            assert station.hardware.cameras.on() is station.hardware.cameras.get(camera)
        assert means["dermatoscope"] > means["otoscope"] + 15


async def test_a_cabin_without_a_dermatoscope_says_so(state_dir: Path) -> None:
    base = config_with()
    config = base.model_copy(update={"devices": tuple(d for d in base.devices if d.kind != "dermatoscope")})
    async with (running_station(state_dir, config, speed=1.0) as (station, crew),
                instruments(station.gp_link.attach, station.hardware.cameras) as (director, gp)):
        await gp.wait_connected()
        await joined(station, crew, gp)
        for message in ({"type": "camera", "on": True}, {"type": "snapshot"}):
            await gp.send(str(message["type"]), camera="dermatoscope", **{k: v for k, v in message.items()
                                                                         if k != "type"})
            error = await gp.control.expect(of_type("error"))
            assert error["code"] == "instrument_unavailable" and error["message"] == "this cabin has no dermatoscope"
            assert error["kind"] == "dermatoscope"
        assert not station.hardware.cameras.get("otoscope").capturing  # nothing else was switched
