"""The vehicle's station dialled into the vehicle's real hub (docs/design.md, "On board"): the secretary's
messages go the way her desk will send them (`Relay.send_to_station`), the station's answers and
statuses come back over the real WebSocket, and the GP's waiting room lists the called patient by
ticket, never by name."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path

from pydantic import SecretStr

from config.schema import CabinConfig, HubSection
from hub.config import ListenSection, VehicleSection, token_digest
from hub.server import Hub
from protocol.hub import CabinStatus, CallAnswer, CallPatient, QueueBoard, StopState
from protocol.states import CabinState as S
from station.compose import Station
from tests.booking import MONDAY, VEHICLE_STATION, Wall, at, mobile_config, patient
from tests.conftest import eventually, running_station
from tests.test_cabin_bookings import gp_console, on_disk
from tests.test_hub import room_of
from tests.test_on_board import SANCOINS, vehicle_config

TOKEN = "vehicle-cher-1-token-0123456789"


class Desk:
    """The relay's watcher as the secretary's desk will be one: what the vehicle's station said."""

    def __init__(self) -> None:
        self.statuses: list[CabinStatus] = []
        self.answers: list[CallAnswer] = []

    def connected(self, station_id: str) -> None:
        """Nothing to send at a welcome in this test: the test sends the stop itself."""

    def status(self, station_id: str, status: CabinStatus) -> None:
        self.statuses.append(status)

    def answered(self, station_id: str, answer: CallAnswer) -> None:
        self.answers.append(answer)

    def details(self, station_id: str, status: CabinStatus) -> tuple[int | None, str | None]:
        return (12, "renouvellement d'ordonnance") if status.visit == "v12" else (None, None)

    async def answer(self, visit: str) -> CallAnswer:
        await eventually(lambda: any(a.visit == visit for a in self.answers))
        return next(a for a in self.answers if a.visit == visit)

    async def state(self, state: S) -> CabinStatus:
        await eventually(lambda: bool(self.statuses) and self.statuses[-1].state is state)
        return self.statuses[-1]


@asynccontextmanager
async def vehicle_hub(desk: Desk) -> AsyncIterator[Hub]:
    """The vehicle's hub of the Cher unit, both GPs on duty at the Sancoins stop all morning."""
    config = mobile_config(hub=ListenSection(port=0), vehicle=VehicleSection(id="vehicle-cher", site_code="CHR180",
                                                                              station=VEHICLE_STATION))
    stations = tuple(s.model_copy(update={"token_sha256": token_digest(TOKEN)}) if s.id == VEHICLE_STATION else s
                     for s in config.stations)
    hub = Hub(config.model_copy(update={"stations": stations}), wall=Wall())
    hub._relay._watcher = desk
    await hub.start()
    try:
        for gp in ("claire.martin", "paul.roux"):
            await hub.book.publish_session(gp, (VEHICLE_STATION,), at(MONDAY, "09:00"), at(MONDAY, "12:00"),
                                           actor="coordinator")
        yield hub
    finally:
        await hub.stop()


@asynccontextmanager
async def on_board(state_dir: Path, hub: Hub) -> AsyncIterator[Station]:
    """The packaged on-board station dialling `hub`, in real time on the stop's morning."""
    config: CabinConfig = vehicle_config().model_copy(update={"hub": HubSection(
        url=hub.station_url, station_id=VEHICLE_STATION, token=SecretStr(TOKEN))})
    async with running_station(state_dir, config, speed=1.0, start=at(MONDAY, "09:20")) as (station, _):
        assert station.calls is not None
        async with asyncio.timeout(10):
            await station.calls.hub.wait_connected()
        yield station


def send(hub: Hub, message: CallPatient | StopState | QueueBoard) -> None:
    assert hub._relay.send_to_station(VEHICLE_STATION, message)


async def test_the_secretarys_calls_reach_the_vehicles_station_through_its_hub_and_are_answered(
        tmp_path: Path) -> None:
    desk = Desk()
    async with vehicle_hub(desk) as hub, on_board(tmp_path / "state", hub) as station:
        made = await hub.book.book(patient(at(MONDAY, "09:45"), site="CHR180"), actor="secretary", channel="phone")
        minor = await hub.book.book(patient(at(MONDAY, "10:30"), site="CHR180", name="Léa Petit",
                                            birth=date(2010, 3, 1), representative="Marc Petit"),
                                    actor="secretary", channel="phone")
        await on_disk(station, made.code)
        await on_disk(station, minor.code)
        await desk.state(S.CLOSED)
        send(hub, CallPatient(visit="v11", ticket=11, code=made.code))
        assert (await desk.answer("v11")).code == "closed"

        send(hub, StopState(open=True, place=SANCOINS))
        await desk.state(S.READY)
        await hub.book.cancel(minor.code, actor="secretary", reason="the family called")
        await on_disk(station, minor.code, "cancelled")
        send(hub, CallPatient(visit="v13", ticket=13, code=minor.code))
        assert (await desk.answer("v13")).code == "cancelled"

        http, claire = await gp_console(hub, "claire.martin")
        async with http:
            send(hub, CallPatient(visit="v12", ticket=12, code=made.code))
            assert await desk.answer("v12") == CallAnswer(visit="v12", accepted=True)
            waiting = await desk.state(S.WAITING_FOR_DOCTOR)
            assert waiting.visit == "v12" and waiting.session is not None
            [listed] = await room_of(claire, 1)
            assert (listed["ticket"], listed["reason"], listed["session"]) == (12, "renouvellement d'ordonnance",
                                                                              waiting.session)
            assert "Camille" not in json.dumps(listed)

            await station.patient_desk.leave()
            done = await desk.state(S.AWAITING_CLEANING)
            assert done.visit is None and done.session is None
            send(hub, StopState(open=False))
            await eventually(lambda: station.staff_desk.protocol_due() is station.config.closing_cleaning)
