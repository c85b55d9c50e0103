"""A whole remote consultation: station and GP both dial out to a real hub; the GP is a real aiortc peer."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hub.server import Hub
from session.media import InstrumentLeg, MediaDirector
from sim.gp import demo_prescription
from sim.gp_peer import SimGpPeer, of_type
from sim.patient import SimPatient
from sim.seed import DEMO_GP
from tests.conftest import eventually
from tests.remote import GpSocket, Remote, station_with_hub


async def test_a_gp_sees_the_waiting_patient_joins_measures_prescribes_and_ends_through_the_hub(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    async with station_with_hub(tmp_path) as remote, GpSocket(remote.hub) as gp:
        appointment = await remote.crew.book()
        await SimPatient(remote.crew.kiosk, appointment.code).check_in()
        waiting = await gp.waiting_patient()
        assert waiting["station"] == remote.station.config.station.id
        assert waiting["site"] == remote.station.config.place().name
        assert appointment.patient_name not in json.dumps(waiting)

        async def answer(description: dict[str, str]) -> None:
            await gp.send(type="signal", station=waiting["station"], leg="instruments", description=description)

        peer = SimGpPeer(DEMO_GP, answer)
        await peer.start()
        try:
            await gp.send(type="join", station=waiting["station"], session=waiting["session"])
            offer = await gp.receive("signal")
            assert offer["leg"] == "instruments" and offer["description"]["type"] == "offer"
            peer.offer(offer["description"])
            await peer.wait_connected(15)
            joined = await peer.join(waiting["session"])
            assert joined["patient"]["name"] == appointment.patient_name  # peer to peer, never through the hub

            await peer.send("otoscope", on=True)
            await eventually(lambda: peer.frames_received >= 10, within_s=20)

            await peer.send("request_measurement", kind="blood_pressure")
            cuff = await peer.vitals.expect(lambda m: m.get("type") == "reading"
                                            and m["measurement"]["kind"] == "cuff_pressure", 20)
            assert cuff["measurement"]["unit"] == "mmHg" and cuff["stale_after_s"] > 0
            result = await peer.vitals.expect(lambda m: m.get("type") == "reading"
                                              and m["measurement"]["kind"] == "blood_pressure", 30)
            assert result["measurement"]["value"]["systolic"] > result["measurement"]["value"]["diastolic"]

            await peer.send("prescribe", **demo_prescription())
            status = await peer.control.expect(of_type("print_status"), 30)
            assert status["printed"] is True, status
            await peer.send("end")
            await peer.control.expect(of_type("ack", ref="end"), 15)
            await SimPatient(remote.crew.kiosk, appointment.code).leave_with_prescription()
            ended = await peer.control.expect(of_type("ended"), 15)
            assert ended["state"] == "awaiting_cleaning"
            await remote.crew.kiosk.wait_state("awaiting_cleaning")
        finally:
            await peer.stop()
    hub_lines = [r.getMessage() for r in caplog.records if r.name.split(".")[0] == "hub"]
    assert hub_lines and not any(appointment.patient_name in line for line in hub_lines)


@dataclass
class GpInConsultation:
    """A GP who joined through the hub: the hub sockets used so far (the newest carries the signalling)."""

    remote: Remote
    waiting: dict[str, Any]
    sockets: list[GpSocket]
    peer: SimGpPeer

    async def rejoin(self, hub: Hub, **join: Any) -> GpSocket:
        """Log in to `hub` again and join the same session (`join` adds to the message)."""
        again = await GpSocket(hub).__aenter__()
        self.sockets.append(again)
        await again.send(type="join", station=self.waiting["station"], session=self.waiting["session"], **join)
        return again

    async def measures(self) -> None:
        """A reading asked for now comes back over the instruments leg."""
        await self.peer.send("request_measurement", kind="temperature")
        await self.peer.vitals.expect(lambda m: m.get("type") == "reading"
                                      and m["measurement"]["kind"] == "temperature", 30)


@asynccontextmanager
async def gp_in_consultation(remote: Remote) -> AsyncIterator[GpInConsultation]:
    """A patient checked in, and an aiortc GP peer who joined through the hub and is in consultation."""
    appointment = await remote.crew.book()
    await SimPatient(remote.crew.kiosk, appointment.code).check_in()
    first = await GpSocket(remote.hub).__aenter__()
    waiting = await first.waiting_patient()
    sockets = [first]

    async def answer(description: dict[str, str]) -> None:
        await sockets[-1].send(type="signal", station=waiting["station"], leg="instruments", description=description)

    peer = SimGpPeer(DEMO_GP, answer)
    await peer.start()
    try:
        await first.send(type="join", station=waiting["station"], session=waiting["session"])
        peer.offer((await first.receive("signal"))["description"])
        await peer.wait_connected(15)
        await peer.join(waiting["session"])
        await remote.crew.kiosk.wait_state("in_consultation")
        yield GpInConsultation(remote, waiting, sockets, peer)
    finally:
        await peer.stop()
        for socket in sockets:
            await socket.__aexit__()


def media(remote: Remote) -> MediaDirector:
    assert remote.station.calls is not None
    return remote.station.calls.media


async def comes_back_to_the_same_leg(remote: Remote, gp: GpInConsultation, hub: Hub, leg: InstrumentLeg | None) -> None:
    """She joins again naming her leg as still up: the station's leg to her connection is the one she had."""
    (first,) = media(remote).gp_ids
    await gp.rejoin(hub, kept=["instruments"])
    await eventually(lambda: media(remote).gp_ids not in ((first,), ()))
    (second,) = media(remote).gp_ids
    assert leg is not None and media(remote).leg(second) is leg
    await gp.measures()
    assert remote.station.cabin.state.value == "in_consultation" and gp.peer.offers == 1


async def test_a_gp_whose_hub_connection_drops_keeps_her_leg_and_comes_back_to_it(tmp_path: Path) -> None:
    """Only signalling crosses the hub: her leg goes on while her console dials again, and is hers again under
    her new connection, without a new offer (docs/design.md, "A fleet of hubs")."""
    async with station_with_hub(tmp_path) as remote, gp_in_consultation(remote) as gp:
        (first,) = media(remote).gp_ids
        leg = media(remote).leg(first)
        await gp.sockets[0].__aexit__()  # her connection to the hub is gone, not her link to the cabin
        await gp.measures()
        assert remote.station.cabin.state.value == "in_consultation"
        await comes_back_to_the_same_leg(remote, gp, remote.hub, leg)


async def test_a_gp_who_leaves_has_her_leg_closed_at_once(tmp_path: Path) -> None:
    async with station_with_hub(tmp_path) as remote, gp_in_consultation(remote) as gp:
        await gp.sockets[0].send(type="leave", station=gp.waiting["station"])
        await eventually(lambda: media(remote).gp_ids == ())
        await remote.crew.kiosk.wait_state("reconnecting")  # the cabin waits for her within its grace


async def test_a_gp_whose_link_drops_too_comes_back_on_a_fresh_leg(tmp_path: Path) -> None:
    async with station_with_hub(tmp_path) as remote, gp_in_consultation(remote) as gp:
        await gp.sockets[0].__aexit__()
        await gp.peer.stop()  # her network is gone: the leg drops, the cabin waits within its grace
        await remote.crew.kiosk.wait_state("reconnecting")
        again = await gp.rejoin(remote.hub)
        assert (await again.receive("signal"))["description"]["type"] == "offer"


async def test_a_hub_restart_mid_consultation_keeps_the_consultation_and_its_leg(tmp_path: Path) -> None:
    """The hub goes down and comes back on its port: the leg goes on meanwhile, both sides dial in again, and
    the GP comes back to the same session and leg."""
    async with station_with_hub(tmp_path) as remote, gp_in_consultation(remote) as gp:
        (first,) = media(remote).gp_ids
        leg = media(remote).leg(first)
        await remote.hub.stop()
        await gp.measures()
        config = remote.hub.config
        restarted = Hub(config.model_copy(update={"hub": config.hub.model_copy(update={"port": remote.hub.port})}))
        await restarted.start()
        try:
            assert remote.station.calls is not None
            await remote.station.calls.hub.wait_connected()
            await comes_back_to_the_same_leg(remote, gp, restarted, leg)
        finally:
            await restarted.stop()
