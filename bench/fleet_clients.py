"""bench.fleet's light clients: a station and a GP each reduced to their WebSocket to the hub, speaking
protocol/hub.py's messages, so that hundreds of them fit in one process (docs/design.md, "A fleet of hubs").

A station reports a patient waiting for a doctor, takes joins and sends every signal back to the GP that
sent it; it dials again whenever its socket closes. A GP logs in, joins one of its waiting stations and
times signals there and back. A watcher is a GP given every station, who counts the waiting room."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import aiohttp

from protocol.hub import (
    TO_GP,
    TO_STATION,
    CabinStatus,
    Candidate,
    GpSignal,
    GpWelcome,
    JoinRequest,
    SignalToGp,
    SignalToStation,
    StationSignal,
    StationWelcome,
    WaitingRoom,
    dump,
    parse,
)
from protocol.states import CabinState
from runtime.tasks import TaskSet

RETRY_S = 0.1  # between two dials of a station whose socket closed


class LightStation:
    """One cabin with a patient waiting, on one WebSocket; it dials `url` again whenever it closes."""

    def __init__(self, http: aiohttp.ClientSession, url: str, station_id: str, token: str, tasks: TaskSet) -> None:
        self.station_id = station_id
        self.session = f"s-{station_id}"
        self.connected = asyncio.Event()
        self.welcomes = 0
        self._http, self._url, self._token, self._tasks = http, url, token, tasks
        self._since = datetime.now(UTC).isoformat()

    def start(self) -> None:
        """Dial, and keep dialling, in the background."""
        self._tasks.spawn(self._run(), name=f"station {self.station_id}")

    async def _run(self) -> None:
        while True:
            try:
                async with self._http.ws_connect(self._url, headers={"Authorization": f"Bearer {self._token}"},
                                                 heartbeat=None) as ws:
                    await self._serve(ws)
            except (TimeoutError, aiohttp.ClientError, OSError):
                pass
            self.connected.clear()
            await asyncio.sleep(RETRY_S)

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for frame in ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                break
            message = parse(TO_STATION, frame.data)
            if isinstance(message, StationWelcome):
                await ws.send_str(dump(CabinStatus(
                    site="Fleet", state=CabinState.WAITING_FOR_DOCTOR, session=self.session, since=self._since,
                    waited_s=0.0)))
                self.welcomes += 1
                self.connected.set()
            elif isinstance(message, SignalToStation):
                await ws.send_str(dump(StationSignal(gp=message.gp, leg=message.leg,
                                                     candidate=message.candidate,
                                                     description=message.description)))


class LightGp:
    """One GP's console reduced to its socket: logs in at `base`, joins, times signals there and back."""

    def __init__(self, http: aiohttp.ClientSession, base: str, origin: str, username: str, password: str) -> None:
        self.username = username
        self.room: set[str] = set()  # the stations whose patient waits, as the last waiting room said
        self.room_changed = asyncio.Event()
        self._http, self._base, self._origin, self._password = http, base, origin, password
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._echoes: asyncio.Queue[SignalToGp] = asyncio.Queue()
        self._welcomed = asyncio.Event()

    async def connect(self, tasks: TaskSet) -> None:
        """Log in (the cookie lands in this GP's own session) and open the socket."""
        headers = {"Origin": self._origin}
        async with self._http.post(f"{self._base}/api/login", json={"username": self.username,
                                   "password": self._password}, headers=headers) as response:
            if response.status != 200:
                raise RuntimeError(f"GP {self.username} could not log in: {response.status} {await response.text()}")
        self._ws = await self._http.ws_connect(self._base.replace("http", "ws", 1) + "/ws/gp", headers=headers,
                                               heartbeat=None)
        tasks.spawn(self._read(self._ws), name=f"gp {self.username}")
        await asyncio.wait_for(self._welcomed.wait(), 30)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for frame in ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                break
            message = parse(TO_GP, frame.data)
            if isinstance(message, GpWelcome):
                self._welcomed.set()
            elif isinstance(message, WaitingRoom):
                self.room = {p.station for p in message.patients}
                self.room_changed.set()
            elif isinstance(message, SignalToGp):
                self._echoes.put_nowait(message)

    async def join(self, station: str, session: str) -> None:
        """Take the patient waiting at `station` (once it is in this GP's waiting room)."""
        assert self._ws is not None
        while station not in self.room:
            self.room_changed.clear()
            await asyncio.wait_for(self.room_changed.wait(), 30)
        await self._ws.send_str(dump(JoinRequest(station=station, session=session)))

    async def ping(self, station: str, count: int) -> list[float]:
        """`count` signals to the joined station, one after another: each one's time there and back, in seconds."""
        assert self._ws is not None
        times = []
        for n in range(count):
            began = time.perf_counter()
            await self._ws.send_str(dump(GpSignal(station=station, leg="instruments",
                                                  candidate=Candidate(candidate=f"bench {n}"))))
            while True:
                echo = await asyncio.wait_for(self._echoes.get(), 30)
                if echo.candidate is not None and echo.candidate.candidate == f"bench {n}":
                    break
            times.append(time.perf_counter() - began)
        return times

    async def close(self) -> None:
        """Close the socket."""
        if self._ws is not None:
            await self._ws.close()

