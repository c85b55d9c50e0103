"""The instruments leg with two real aiortc peers: otoscope video, vitals, control, network drops."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from config.devices import UvcDeviceConfig
from devices.camera import ExaminationCamera
from devices.stethoscope import Stethoscope
from drivers.camera import GrabberTimings
from drivers.otoscope import Otoscope
from protocol.hub import GpIdentity
from protocol.states import CabinState as S
from runtime.clock import Clock
from session.appointments import Appointment
from session.channel import MessageChannel
from session.media import DirectorTimings, LegTimings, MediaDirector, MediaError, ice_configuration
from sim.camera import SimOtoscopeCamera
from sim.crew import SimCrew
from sim.gp_peer import GpPeerError, SimGpPeer, of_type
from sim.seed import DEMO_GP
from station.compose import Station
from tests.conftest import config_with, eventually, running_station

GP = "gp-1"
# Short limits so that a drop is noticed and renegotiated in a few seconds of real time.
LEG = LegTimings(silence_s=3.0, check_interval_s=0.25, placeholder_period_s=0.5)
DIRECTOR = DirectorTimings(connect_timeout_s=2.0, retry_initial_s=0.5, retry_max_s=1.0)
DIM = 45.0  # mean luma below this is the placeholder (grey 24); the simulated ear canal is far brighter


@dataclass
class Attached:
    """What the director handed to the GP link: each leg's control, vitals and session listener."""

    legs: list[tuple[MessageChannel, object, Callable[[str | None], None]]] = field(default_factory=list)
    identities: list[GpIdentity | None] = field(default_factory=list)

    def __call__(self, control: MessageChannel, vitals: object, on_session: Callable[[str | None], None],
                 identity: GpIdentity | None) -> None:
        self.legs.append((control, vitals, on_session))
        self.identities.append(identity)


def trickled(sdp: str) -> tuple[str, list[dict[str, object]]]:
    """An SDP without its candidates, and the candidates as a browser trickles them."""
    lines = sdp.splitlines()
    mid = next(line.split(":", 1)[1] for line in lines if line.startswith("a=mid:"))
    candidates: list[dict[str, object]] = [{"candidate": line[2:], "sdpMid": mid, "sdpMLineIndex": 0}
                                           for line in lines if line.startswith("a=candidate:")]
    kept = [line for line in lines if not line.startswith(("a=candidate:", "a=end-of-candidates"))]
    return "\r\n".join(kept) + "\r\n", candidates


@asynccontextmanager
async def instruments(attach: Callable[..., None], otoscope: ExaminationCamera | None, *,
                      trickle: list[Exception] | None = None,
                      vouched: GpIdentity | None = None,
                      stethoscope: Stethoscope | None = None) -> AsyncIterator[tuple[MediaDirector, SimGpPeer]]:
    """A media director and a simulated GP, signalling to each other directly as the hub would.

    With `trickle` (a list for the errors), the answer's candidates come separately, as a browser sends them.
    `vouched` is the identity the hub would have given for the GP's connection.
    """

    async def to_gp(gp_id: str, description: dict[str, str]) -> None:
        gp.offer(description)

    async def to_station(answer: dict[str, str]) -> None:
        if trickle is None:
            await director.answer(GP, answer)
            return
        sdp, candidates = trickled(answer["sdp"])
        try:
            await director.candidate(GP, candidates[0])  # one overtakes the answer
            await director.answer(GP, {"type": "answer", "sdp": sdp})
            for candidate in [*candidates[1:], {"candidate": "", "sdpMid": None, "sdpMLineIndex": None}]:
                await director.candidate(GP, candidate)
        except MediaError as exc:
            trickle.append(exc)

    director = MediaDirector(attach, to_gp, otoscope, leg_timings=LEG, timings=DIRECTOR, stethoscope=stethoscope)
    gp = SimGpPeer(DEMO_GP, to_station)
    await director.start()
    await gp.start()
    try:
        await director.gp_joined(GP, vouched)
        yield director, gp
    finally:
        await director.stop()
        await gp.stop()


@asynccontextmanager
async def small_otoscope() -> AsyncIterator[Otoscope]:
    camera = SimOtoscopeCamera(width=320, height=240, fps=15.0)
    await camera.start()
    config = UvcDeviceConfig(id="otoscope-1", kind="otoscope", driver="uvc", port=camera.url)
    timings = GrabberTimings(open_timeout_s=2.0, read_timeout_s=0.5, reopen_initial_s=0.05, frame_timeout_s=2.0)
    scope = Otoscope(config, print, Clock(), timings=timings)
    await scope.start()
    try:
        yield scope
    finally:
        await scope.stop()
        await camera.stop()


async def test_the_gp_sees_the_otoscope_only_while_in_consultation() -> None:
    attached = Attached()
    async with small_otoscope() as scope, instruments(attached, scope) as (director, gp):
        await eventually(lambda: len(attached.legs) == 1, within_s=10)
        await eventually(lambda: gp.frames_received >= 1)
        assert gp.frame_brightness is not None and gp.frame_brightness < DIM  # the placeholder: otoscope off
        await scope.capture_on()
        seen = gp.frames_received
        await eventually(lambda: gp.frames_received >= seen + 2, within_s=5)
        assert gp.frame_brightness is not None and gp.frame_brightness < DIM  # not this GP's patient yet
        on_session = attached.legs[0][2]
        on_session("s-1")
        await eventually(lambda: (gp.frame_brightness or 0) > DIM and gp.frame_size == (320, 240), within_s=5)
        seen = gp.frames_received
        await eventually(lambda: gp.frames_received >= seen + 15, within_s=5)  # the camera's pace, not 1/s
        await scope.capture_off()
        await eventually(lambda: (gp.frame_brightness or 255) < DIM, within_s=5)
        leg = director.leg(GP)
        assert leg is not None and leg.track.frames_sent >= 15 and leg.track.placeholders_sent >= 2


async def test_trickled_candidates_connect_the_leg() -> None:
    attached, problems = Attached(), list[Exception]()
    async with instruments(attached, None, trickle=problems) as (director, gp):
        await gp.wait_connected()
        await eventually(lambda: len(attached.legs) == 1 and gp.frames_received >= 1, within_s=10)
        assert gp.offers == 1 and problems == []
        leg = director.leg(GP)
        assert leg is not None
        with pytest.raises(MediaError, match="ICE candidate"):
            await leg.add_candidate({"candidate": "candidate:garbage", "sdpMid": "0"})
        with pytest.raises(MediaError, match="not waiting for an answer"):
            await director.answer(GP, {"type": "answer", "sdp": "v=0"})


def test_ice_servers_are_checked() -> None:
    config = ice_configuration([{"urls": "stun:stun.example.org"},
                                {"urls": ["turn:turn.example.org"], "username": "u", "credential": "p"}])
    assert [s.urls for s in config.iceServers or []] == [["stun:stun.example.org"], ["turn:turn.example.org"]]
    assert ice_configuration([]).iceServers == []  # not None: aiortc would reach for a public STUN server
    for wrong in ({"urls": []}, {"urls": 3}, {"username": "u"}, {"urls": "stun:x", "credential": 5}):
        with pytest.raises(MediaError, match="ICE server #1"):
            ice_configuration([wrong])


def otoscope_of(station: Station) -> Otoscope:
    return next(i for i in station.devices.instruments if isinstance(i, Otoscope))


async def waiting_patient(station: Station, crew: SimCrew) -> None:
    appointment = Appointment(code="K7QXM4PA", patient_name="Alix Bernard", birth_date=date(1970, 1, 1), sex="F",
                              slot_start=station.clock.now() + timedelta(minutes=2), slot_minutes=20,
                              site=station.config.station.site, gp=DEMO_GP.name)
    await station.book.add(appointment)
    await crew.kiosk.post("/api/checkin", {"code": "K7QXM4PA"})
    await crew.kiosk.post("/api/identity", {"confirm": True})
    await crew.kiosk.post("/api/consent", {"accepted": True})
    assert station.cabin.state is S.WAITING_FOR_DOCTOR


async def joined(station: Station, crew: SimCrew, gp: SimGpPeer) -> str:
    await waiting_patient(station, crew)
    waiting = await gp.control.expect(of_type("waiting"))
    reply = await gp.join(str(waiting["session"]))
    assert reply["patient"] == {"name": "Alix Bernard", "age": 56, "birth_year": 1970, "sex": "F"}
    assert station.cabin.state is S.IN_CONSULTATION
    return str(waiting["session"])


async def test_control_round_trips_and_readings_go_on_vitals(state_dir: Path) -> None:
    async with (running_station(state_dir, speed=1.0) as (station, crew),
                instruments(station.gp_link.attach, otoscope_of(station)) as (director, gp)):
        await gp.wait_connected()
        session = await joined(station, crew, gp)
        pleth = await gp.vitals.expect(lambda m: m["type"] == "reading" and m["measurement"]["kind"] == "pleth")
        assert pleth["session"] == session and pleth["stale_after_s"] == 120 and pleth["measurement"]["rate_hz"] == 60
        await gp.send("request_measurement", kind="temperature")
        ack = await gp.control.expect(of_type("ack", ref="request_measurement"))
        assert ack["device"] == "thermometer-1"
        reading = await gp.vitals.expect(lambda m: m["type"] == "reading" and m["measurement"]["kind"] == "temperature")
        assert reading["stale_after_s"] == 600 and reading["measurement"]["unit"] == "°C"
        assert gp.control.counts["reading"] == 0  # readings never take the control channel

        await gp.send("otoscope", on=True)
        assert (await gp.control.expect(of_type("ack", ref="otoscope")))["on"] is True
        await eventually(lambda: (gp.frame_brightness or 0) > DIM and gp.frame_size == (640, 480), within_s=10)
        guidance = await gp.vitals.expect(of_type("guidance", session=session))
        assert guidance["advice"] in ("ok", "hold_still") and guidance["brightness"] > 30

        await gp.send("snapshot")
        ack = await gp.control.expect(of_type("ack", ref="snapshot"))
        parts = [await gp.vitals.expect(of_type("snapshot", id=ack["id"], index=i)) for i in range(ack["count"])]
        assert all(len(p["data"]) <= 32 * 1024 and p["mime"] == "image/jpeg" for p in parts)
        jpeg = base64.b64decode("".join(p["data"] for p in parts))
        assert len(jpeg) == ack["bytes"]
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (480, 640, 3)

        await gp.send("otoscope", on=False)
        await gp.control.expect(of_type("ack", ref="otoscope", on=False))
        assert not otoscope_of(station).capturing
        await gp.send("end")
        await gp.control.expect(of_type("state", session=session, state="wrapping_up"))  # it comes before the ack
        await gp.control.expect(of_type("ack", ref="end"))


async def test_bad_control_messages_get_errors_and_break_nothing(state_dir: Path) -> None:
    async with (running_station(state_dir, speed=1.0) as (station, crew),
                instruments(station.gp_link.attach, otoscope_of(station)) as (director, gp)):
        await gp.wait_connected()
        await waiting_patient(station, crew)
        session = str((await gp.control.expect(of_type("waiting")))["session"])
        refusals = {
            "{not json": "invalid_message",
            json.dumps({"v": 1, "type": "prescribe", "id": str(uuid.uuid4())}): "not_joined",  # before join
            json.dumps({"v": 1, "type": "prescribe", "medications": []}): "invalid_message",  # an old console: no id
            json.dumps({"v": 1, "type": "otoscope", "on": True}): "not_joined",
            json.dumps({"v": 1, "type": "otoscope", "on": "yes"}): "invalid_message",
            json.dumps({"v": 1, "type": "snapshot", "size": 3}): "invalid_message",
            json.dumps({"v": 2, "type": "end"}): "invalid_message",
            json.dumps({"v": 1, "type": "end", "pad": "x" * 100_000}): "invalid_message",  # oversized
        }
        for text, code in refusals.items():
            await gp.send_raw(text)
            error = await gp.control.expect(of_type("error"))
            assert error["code"] == code, (text[:40], error)
            assert "Traceback" not in error["message"]
        await gp.send_raw(b"\xff\xfe binary")
        assert (await gp.control.expect(of_type("error")))["code"] == "invalid_message"
        await gp.join(session)  # the channel and the cabin are still fine
        assert station.cabin.state is S.IN_CONSULTATION


async def test_a_short_network_drop_resumes_the_same_consultation(state_dir: Path) -> None:
    async with (running_station(state_dir, config_with(reconnect_grace_s=30), speed=1.0) as (station, crew),
                instruments(station.gp_link.attach, otoscope_of(station)) as (director, gp)):
        await gp.wait_connected()
        session = await joined(station, crew, gp)
        gp.drop_network()
        await eventually(lambda: station.cabin.state is S.RECONNECTING, within_s=10)
        await eventually(lambda: gp.offers >= 3, within_s=10)  # offers go unanswered meanwhile
        gp.restore_network()
        rejoined = await gp.control.expect(of_type("joined"), timeout_s=15)  # the GP re-sends join on the new leg
        assert rejoined["session"] == session
        await eventually(lambda: station.cabin.state is S.IN_CONSULTATION)
        assert station.cabin.consultation is not None and station.cabin.consultation.session == session
        reading = await gp.vitals.expect(lambda m: m["type"] == "reading")
        assert reading["session"] == session


async def test_a_drop_past_the_grace_ends_the_consultation(state_dir: Path) -> None:
    async with (running_station(state_dir, config_with(reconnect_grace_s=3), speed=1.0) as (station, crew),
                instruments(station.gp_link.attach, otoscope_of(station)) as (director, gp)):
        await gp.wait_connected()
        await joined(station, crew, gp)
        await gp.send("otoscope", on=True)
        await gp.control.expect(of_type("ack", ref="otoscope"))
        gp.drop_network()
        await eventually(lambda: station.cabin.state is S.RECONNECTING, within_s=10)
        await eventually(lambda: station.cabin.state is S.AWAITING_CLEANING, within_s=10)
        assert (await station.store.load()).cleaning_required
        await eventually(lambda: not otoscope_of(station).capturing)  # the camera rests between patients


async def test_a_clean_hang_up_is_renegotiated(state_dir: Path) -> None:
    async with (running_station(state_dir, config_with(reconnect_grace_s=30), speed=1.0) as (station, crew),
                instruments(station.gp_link.attach, otoscope_of(station)) as (director, gp)):
        await gp.wait_connected()
        session = await joined(station, crew, gp)
        await gp.hang_up()
        rejoined = await gp.control.expect(of_type("joined"), timeout_s=15)
        assert rejoined["session"] == session and gp.offers == 2
        await eventually(lambda: station.cabin.state is S.IN_CONSULTATION)


async def test_a_cabin_without_an_otoscope_says_so(state_dir: Path) -> None:
    base = config_with()
    config = base.model_copy(update={"devices": tuple(d for d in base.devices if d.kind != "otoscope")})
    async with (running_station(state_dir, config, speed=1.0) as (station, crew),
                instruments(station.gp_link.attach, None) as (director, gp)):
        await gp.wait_connected()
        await joined(station, crew, gp)
        for message in ({"on": True}, None):
            await (gp.send("otoscope", **message) if message else gp.send("snapshot"))
            error = await gp.control.expect(of_type("error"))
            assert error["code"] == "instrument_unavailable" and "no otoscope" in error["message"]
        await eventually(lambda: gp.frames_received >= 1)  # the placeholder still flows


async def test_the_prescriber_is_who_the_hub_logged_in_not_who_the_console_says(state_dir: Path) -> None:
    record = DEMO_GP.model_copy(update={"name": "Dr Hélène Garnier-Roy", "phone": "01 99 00 45 68"})
    async with (running_station(state_dir, speed=1.0) as (station, crew),
                instruments(station.gp_link.attach, otoscope_of(station), vouched=record) as (director, gp)):
        await gp.wait_connected()
        await joined(station, crew, gp)
        assert station.cabin.consultation is not None and station.cabin.consultation.gp == record


async def test_a_console_claiming_another_rpps_than_its_login_is_refused(state_dir: Path) -> None:
    someone_else = DEMO_GP.model_copy(update={"rpps": "10000000042"})
    async with (running_station(state_dir, speed=1.0) as (station, crew),
                instruments(station.gp_link.attach, otoscope_of(station), vouched=someone_else) as (director, gp)):
        await gp.wait_connected()
        await waiting_patient(station, crew)
        waiting = await gp.control.expect(of_type("waiting"))
        with pytest.raises(GpPeerError, match="not logged in as that GP"):
            await gp.join(str(waiting["session"]))
        assert station.cabin.state is S.WAITING_FOR_DOCTOR
