"""A simulated station connected to a real hub on 127.0.0.1, and a GP's hub connection, for tests; the booking
test hub that the packaged station's cabin dials."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from pydantic import SecretStr

from config.loader import load_config
from config.schema import CabinConfig, HubSection
from hub.config import IceSection, ListenSection, demo_hub_config, token_digest
from hub.server import Hub
from sim.crew import SimCrew
from sim.seed import DEMO_GP
from station.compose import Station
from tests.booking import MONDAY, Wall, at, booking_config
from tests.conftest import running_station

GP_LOGIN = "demo"
GP_PASSWORD = "a demo password"
CABIN = "cabin-nangis-1"
TOKEN = "cabin-nangis-1-token-0123456789"
CHECK_IN_AT = at(MONDAY, "09:40")  # the station's clock: check-in for the 09:45 slot is open


@dataclass
class Remote:
    """A hub, a station dialled in to it, and the station's simulated crew."""

    hub: Hub
    station: Station
    crew: SimCrew


@asynccontextmanager
async def station_with_hub(state_dir: Path, config: CabinConfig | None = None, *,
                           speed: float = 1.0, ice: IceSection | None = None) -> AsyncIterator[Remote]:
    """A started hub (one station, the demo GP, its `[ice]` section if given) and the simulated station
    connected to it."""
    config = config or load_config()
    token = secrets.token_urlsafe(32)
    # The hub's record of its GP is the simulated GP's identity: the station holds joins to it.
    identity = DEMO_GP
    hub_config = demo_hub_config(config.station.id, config.place().name, token, GP_LOGIN, GP_PASSWORD,
                                 identity=identity)
    hub = Hub(hub_config if ice is None else hub_config.model_copy(update={"ice": ice}))
    await hub.start()
    try:
        section = HubSection(url=hub.station_url, station_id=config.station.id, token=SecretStr(token))
        async with running_station(state_dir, config.model_copy(update={"hub": section}), speed=speed) as (
            station, crew,
        ):
            assert station.calls is not None
            async with asyncio.timeout(10):
                await station.calls.hub.wait_connected()
            yield Remote(hub, station, crew)
    finally:
        await hub.stop()


@asynccontextmanager
async def booking_hub(wall: Wall, **overrides: object) -> AsyncIterator[Hub]:
    """A hub with the booking test sites and cabins (tests/booking.py, `overrides` to its configuration), CABIN's
    token TOKEN; claire.martin and paul.roux on duty in all three all morning."""
    config = booking_config(hub=ListenSection(port=0), **overrides)
    stations = tuple(s.model_copy(update={"token_sha256": token_digest(TOKEN)}) if s.id == CABIN else s
                     for s in config.stations)
    hub = Hub(config.model_copy(update={"stations": stations}), wall=wall)
    await hub.start()
    try:
        for gp in ("claire.martin", "paul.roux"):
            await hub.book.publish_session(gp, (CABIN, "cabin-nangis-2", "cabin-chelles-1"),
                                           at(MONDAY, "09:00"), at(MONDAY, "12:30"),
                                           actor="coordinator")
        yield hub
    finally:
        await hub.stop()


def dialling(hub: Hub) -> CabinConfig:
    """The packaged station configuration (CABIN at NAN231) dialling `hub`."""
    section = HubSection(url=hub.station_url, station_id=CABIN, token=SecretStr(TOKEN))
    return load_config().model_copy(update={"hub": section})


class GpSocket:
    """A GP logged in to the hub with its WebSocket open: what the console does, without a browser."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._pending: list[dict[str, Any]] = []
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> GpSocket:
        async with self._http.post(f"{self._hub.url}/api/login", json={"username": GP_LOGIN, "password": GP_PASSWORD},
                                   headers={"Origin": self._hub.origin}) as response:
            assert response.status == 200, await response.text()
        self._ws = await self._http.ws_connect(f"{self._hub.url}/ws/gp", origin=self._hub.origin)
        self._reader = asyncio.get_running_loop().create_task(self._read())  # reading also answers pings
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.wait([self._reader])
        if self._ws is not None:
            await self._ws.close()
        await self._http.close()

    async def _read(self) -> None:
        assert self._ws is not None
        async for message in self._ws:
            if message.type is aiohttp.WSMsgType.TEXT:
                self._inbox.put_nowait(json.loads(message.data))

    async def send(self, **message: Any) -> None:
        """Send one message to the hub."""
        assert self._ws is not None
        await self._ws.send_str(json.dumps({"v": 1, **message}))

    async def receive(self, kind: str, within_s: float = 15.0) -> dict[str, Any]:
        """The next message of `kind` (others are kept for later)."""
        for index, message in enumerate(self._pending):
            if message["type"] == kind:
                return self._pending.pop(index)
        async with asyncio.timeout(within_s):
            while True:
                message = await self._inbox.get()
                if message["type"] == kind:
                    return dict(message)
                self._pending.append(message)

    async def waiting_patient(self) -> dict[str, Any]:
        """The first patient of the first non-empty waiting room."""
        while True:
            room = await self.receive("waiting_room")
            if room["patients"]:
                return dict(room["patients"][0])
