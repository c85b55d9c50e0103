"""The stethoscope end to end: a station on the simulator (FIFO -> alsa-lib -> track -> Opus) to an aiortc GP.

The simulated chest writes heart sounds at a known rate; the GP's aiortc peer decodes what
comes over loopback and the test finds the rate again in it. The control messages switch the
stethoscope and show the patient where to place it, only in consultation, only to the joined GP.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np

from protocol.states import CabinState as S
from session.auscultation import Auscultation
from session.stethoscope_track import OPUS_BITRATE
from sim.body_sounds import SoundSettings, heart_rate_bpm
from station.compose import Station
from tests.conftest import config_with, eventually, running_station
from tests.test_media import instruments, joined, otoscope_of, waiting_patient


def auscultation_of(station: Station) -> Auscultation:
    return station.auscultation


async def test_the_gp_hears_the_simulated_heart_at_its_rate_only_while_the_stethoscope_is_on(
        state_dir: Path) -> None:
    async with (running_station(state_dir, speed=1.0) as (station, crew),
                instruments(station.gp_link.attach, otoscope_of(station),
                            stethoscope=station.hardware.stethoscope) as (director, gp)):
        rig = station.rig
        assert rig is not None and rig.stethoscope is not None
        rig.stethoscope.configure(SoundSettings(kind="heart", heart_rate_bpm=84.0, murmur=True))
        await gp.wait_connected()
        await joined(station, crew, gp)
        await eventually(lambda: gp.audio_frames_received >= 25, within_s=10)  # silence flows while off
        assert not np.any(gp.audio(0.4))

        await gp.send("stethoscope", on=True)
        ack = await gp.control.expect(lambda m: m.get("ref") == "stethoscope")
        assert ack == {"v": 1, "type": "ack", "ref": "stethoscope", "on": True, "device": "stethoscope"}
        leg = director.leg("gp-1")
        assert leg is not None and leg.audio.encoder.bit_rate == OPUS_BITRATE >= 128_000
        heard = gp.audio_frames_received
        await eventually(lambda: gp.audio_frames_received >= heard + 400, within_s=15)  # 8 s of sound
        sound = gp.audio(8.0)
        assert np.abs(sound).max() > 3000
        assert abs(heart_rate_bpm(sound) - 84.0) <= 3.0

        rig.stethoscope.configure(SoundSettings(kind="lungs"))  # broadband: the encoder uses its bitrate
        await asyncio.sleep(1.5)
        encoded, began = leg.audio.bytes_encoded, time.monotonic()
        await asyncio.sleep(3.0)
        kbits = (leg.audio.bytes_encoded - encoded) * 8 / (time.monotonic() - began) / 1000
        assert 110 <= kbits <= 160  # about 128 kbit/s: aiortc's own encoder would give 96 at most

        await gp.send("stethoscope", on=False)
        await gp.control.expect(lambda m: m.get("ref") == "stethoscope" and m.get("on") is False)
        assert station.hardware.stethoscope is not None and not station.hardware.stethoscope.listening
        heard = gp.audio_frames_received
        await eventually(lambda: gp.audio_frames_received >= heard + 30, within_s=5)
        assert np.abs(gp.audio(0.2)).max() < 50  # silence again (past the codec's fading tail), RTP still flowing


async def test_auscultation_points_show_until_off_and_go_when_the_consultation_ends(state_dir: Path) -> None:
    async with (running_station(state_dir, speed=1.0) as (station, crew),
                instruments(station.gp_link.attach, otoscope_of(station),
                            stethoscope=station.hardware.stethoscope) as (director, gp)):
        await gp.wait_connected()
        await waiting_patient(station, crew)
        waiting = await gp.control.expect(lambda m: m.get("type") == "waiting")
        await gp.send("auscultate", point="mitral")
        refused = await gp.control.expect(lambda m: m.get("type") == "error")
        assert refused["code"] == "not_joined"
        await gp.join(str(waiting["session"]))

        await gp.send("auscultate", point="aortic")
        assert (await gp.control.expect(lambda m: m.get("ref") == "auscultate"))["point"] == "aortic"
        await crew.kiosk.wait_for(lambda v: (v.get("session") or {}).get("auscultation") == {"point": "aortic"})
        await gp.send("auscultate", point="lung_lower_left")
        await gp.control.expect(lambda m: m.get("ref") == "auscultate" and m.get("point") == "lung_lower_left")
        assert auscultation_of(station).point == "lung_lower_left"
        await gp.send("auscultate", point="navel")
        bad = await gp.control.expect(lambda m: m.get("type") == "error")
        assert bad["code"] == "invalid_message"

        await gp.send("stethoscope", on=True)
        await gp.control.expect(lambda m: m.get("ref") == "stethoscope" and m.get("on") is True)
        await gp.send("stethoscope", on=False)
        await gp.control.expect(lambda m: m.get("ref") == "stethoscope" and m.get("on") is False)
        assert auscultation_of(station).point is None  # off: the guidance goes

        await gp.send("auscultate", point="mitral")
        await gp.control.expect(lambda m: m.get("ref") == "auscultate" and m.get("point") == "mitral")
        await gp.send("request_measurement", kind="temperature")  # the patient now takes a temperature
        await gp.control.expect(lambda m: m.get("ref") == "request_measurement")
        await eventually(lambda: auscultation_of(station).point is None)
        await gp.send("auscultate", point="mitral")
        await gp.control.expect(lambda m: m.get("ref") == "auscultate" and m.get("point") == "mitral")
        await gp.send("stethoscope", on=True)
        await gp.control.expect(lambda m: m.get("ref") == "stethoscope" and m.get("on") is True)
        await gp.send("end")
        await gp.control.expect(lambda m: m.get("ref") == "end")
        stethoscope = station.hardware.stethoscope
        assert stethoscope is not None
        await eventually(lambda: not stethoscope.listening and auscultation_of(station).point is None)
        view = await crew.kiosk.current()
        assert view["state"] != S.IN_CONSULTATION.value and (view.get("session") or {}).get("auscultation") is None


async def test_a_disconnected_stethoscope_is_refused_then_found_again(state_dir: Path) -> None:
    async with (running_station(state_dir, speed=1.0) as (station, crew),
                instruments(station.gp_link.attach, otoscope_of(station),
                            stethoscope=station.hardware.stethoscope) as (director, gp)):
        rig, stethoscope = station.rig, station.hardware.stethoscope
        assert rig is not None and rig.stethoscope is not None and stethoscope is not None
        await gp.wait_connected()
        await joined(station, crew, gp)
        await gp.send("stethoscope", on=True)
        await gp.control.expect(lambda m: m.get("ref") == "stethoscope" and m.get("on") is True)
        await eventually(lambda: stethoscope.health().connected and stethoscope.chunks_captured > 10)

        rig.unplug("stethoscope")  # the FIFO closes and goes: the capture fails and retries
        await eventually(lambda: not stethoscope.health().connected, within_s=5)
        assert stethoscope.health().last_error
        await gp.send("stethoscope", on=True)
        refused = await gp.control.expect(lambda m: m.get("type") == "error")
        assert refused["code"] == "instrument_unavailable" and refused["kind"] == "stethoscope"

        rig.plug("stethoscope")
        await eventually(lambda: stethoscope.health().connected and stethoscope.health().last_error is None,
                         within_s=10)
        assert rig.stethoscope.connections >= 2
        heard = gp.audio_frames_received
        await eventually(lambda: gp.audio_frames_received >= heard + 50, within_s=5)
        assert np.abs(gp.audio(0.5)).max() > 1000  # the sound is back


async def test_a_cabin_without_a_stethoscope_says_so(state_dir: Path) -> None:
    base = config_with()
    config = base.model_copy(update={"devices": tuple(d for d in base.devices if d.kind != "stethoscope")})
    async with (running_station(state_dir, config, speed=1.0) as (station, crew),
                instruments(station.gp_link.attach, otoscope_of(station)) as (director, gp)):
        assert station.hardware.stethoscope is None
        await gp.wait_connected()
        await joined(station, crew, gp)
        for kind, fields in (("stethoscope", {"on": True}), ("auscultate", {"point": "mitral"})):
            await gp.send(kind, **fields)
            error = await gp.control.expect(lambda m: m.get("type") == "error")
            assert error["code"] == "instrument_unavailable" and "no stethoscope" in error["message"]
        await eventually(lambda: gp.audio_frames_received >= 10)  # silence still flows
