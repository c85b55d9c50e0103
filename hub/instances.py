"""The other hub instances of a fleet, as this one hears them over the broker (docs/design.md, "A fleet of
hubs").

Each instance owns the connections it accepted: a station's joins and signalling are decided by the
instance its socket is on, a GP's messages are delivered by hers. Every instance publishes, every
`heartbeat_s`, its stations (their last status, who joined them) and its GPs, and each change as it
happens; the others keep that as a replica (`RemoteStation`, the GPs' usernames), from which they build
their own GPs' waiting rooms. A message between a GP and a station on different instances goes to the
owner's own channel. An instance unheard for `dead_after_s` is dead: its replica is dropped, its GPs'
joins released, and its stations, which dial again through the proxy, land on a live instance.

What crosses the broker: station and GP connection ids, cabin states, sessions, usernames, signalling
(SDP and ICE candidates) and booking ids; never a patient's name or a booking's content (an instance told
of a booking change reads it from the shared store).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from hub.broker import Broker, Payload
from hub.config import FleetSection, GpAccount, StationAccount
from protocol.hub import CabinStatus, dump
from runtime.tasks import TaskSet

log = logging.getLogger(__name__)


@dataclass
class RemoteStation:
    """A station connected to another instance, as that instance last described it."""

    account: StationAccount
    instance: str
    connected_at: float  # wall time of its connection: of two, the newer is the station's
    rank: int  # the place of the token it connected with among the station's (a newer token replaces it)
    status: CabinStatus | None
    status_at: float  # the owner's wall time when the status came
    gp: str | None  # the GP connection that joined it, if any


@dataclass
class _Heard:
    """What one other instance last said."""

    at: float  # monotonic
    stations: dict[str, RemoteStation] = field(default_factory=dict)
    described: dict[str, Payload] = field(default_factory=dict)  # each station as last described
    gps: dict[str, str] = field(default_factory=dict)  # GP connection id -> username


class RemoteGp:
    """A GP connected to another instance, as the instance holding her station sees her: what she sends
    arrives from the broker, what she is sent goes back to her instance."""

    def __init__(self, gp_id: str, account: GpAccount, instance: str, instances: Instances) -> None:
        self.id = gp_id
        self.account = account
        self.instance = instance
        self.allowed = frozenset(account.stations)
        self._instances = instances

    def send(self, message: BaseModel) -> None:
        self._instances.to_gp(self.instance, self.id, message)


class LocalHub(Protocol):
    """What the relay does for the instances it hears."""

    def summaries(self) -> list[Payload]:
        """This instance's stations, as `summary()` describes them, for a heartbeat."""

    def gps_connected(self) -> dict[str, str]:
        """This instance's GP connections: id -> username."""

    def deliver_to_gp(self, gp_id: str, text: str) -> None:
        """A message for one of this instance's GPs."""

    def deliver_to_station(self, station_id: str, text: str) -> None:
        """A message for one of this instance's stations."""

    def from_remote_gp(self, gp: RemoteGp, text: str) -> None:
        """A message from another instance's GP for one of this instance's stations."""

    def gp_gone(self, gp_id: str) -> None:
        """Another instance's GP connection closed."""

    def remote_moved(self, before: RemoteStation | None, after: RemoteStation | None) -> None:
        """Another instance's station changed (`before` None: it appeared; `after` None: it left)."""

    def booking_changed(self, booking_id: str) -> None:
        """A booking changed on another instance."""


class Instances:
    """The fleet as this instance hears it: a replica of every other instance's stations and GPs, and the
    routes to them. Without a broker (a hub alone) it holds nothing and routes nowhere."""

    def __init__(self, fleet: FleetSection, port: Callable[[], int], local: LocalHub,
                 station: Callable[[str], StationAccount | None], gp: Callable[[str], GpAccount | None]) -> None:
        """`port` is the hub's listening port, which names the instance when [fleet] gives no name; `station`
        and `gp` find accounts by station id and username."""
        self._fleet = fleet
        self._port = port
        self._local = local
        self._station_account = station
        self._gp_account = gp
        self._broker: Broker | None = None
        self._heard: dict[str, _Heard] = {}
        self._remote_gps: dict[str, RemoteGp] = {}
        self._tasks = TaskSet("instances", log)

    @property
    def name(self) -> str:
        """This instance's name in the fleet."""
        return self._broker.instance if self._broker is not None else (self._fleet.instance or "alone")

    async def start(self) -> None:
        """Join the fleet's broker, if any, and start the heartbeat (once the hub listens: its port may name it)."""
        if self._fleet.broker_url is None or self._broker is not None:
            return
        name = self._fleet.instance or f"{socket.gethostname()}-{self._port()}"
        broker = Broker(self._fleet.broker_url, name, self._heard_message)
        await broker.start()
        self._broker = broker
        self._tasks.spawn(self._beat(), "fleet-heartbeat")
        log.info("hub instance %s joined the fleet's broker", name)

    async def stop(self) -> None:
        """Leave the fleet: the others forget this instance's stations and GPs at once."""
        await self._tasks.cancel_all(2.0)
        broker, self._broker = self._broker, None
        if broker is not None:
            await broker.stop(farewell={"op": "bye"})
        self._heard.clear()
        self._remote_gps.clear()

    # What the relay asks of the fleet.

    def station(self, station_id: str) -> RemoteStation | None:
        """The station, connected to another instance (the newest connection of those heard), or None."""
        found = [h.stations[station_id] for h in self._heard.values() if station_id in h.stations]
        return max(found, key=lambda s: s.connected_at) if found else None

    def stations(self) -> list[RemoteStation]:
        """Every station connected to another instance (each once: its newest connection)."""
        newest: dict[str, RemoteStation] = {}
        for heard in self._heard.values():
            for sid, station in heard.stations.items():
                if sid not in newest or station.connected_at > newest[sid].connected_at:
                    newest[sid] = station
        return list(newest.values())

    def alive(self, instance: str) -> bool:
        """Whether `instance` was heard within the last one and a half heartbeats: it holds its connections."""
        heard = self._heard.get(instance)
        return heard is not None and time.monotonic() - heard.at < 1.5 * self._fleet.heartbeat_s

    def gp_online(self, username: str) -> bool:
        """Whether a GP with `username` is connected to another instance."""
        return any(username in heard.gps.values() for heard in self._heard.values())

    def changed(self, station: Payload) -> None:
        """One of this instance's stations changed (its `summary()`): tell the others now."""
        if self._broker is not None:
            self._broker.broadcast({"op": "station", "station": station})

    def left(self, station_id: str, connected_at: float) -> None:
        """One of this instance's station connections closed."""
        if self._broker is not None:
            self._broker.broadcast({"op": "station_gone", "sid": station_id, "connected_at": connected_at})

    def gps_changed(self) -> None:
        """A GP connected to or left this instance."""
        if self._broker is not None:
            self._broker.broadcast({"op": "gps", "gps": self._local.gps_connected()})

    def gp_left(self, gp_id: str) -> None:
        """One of this instance's GP connections closed: the instances holding her stations release them."""
        if self._broker is not None:
            self._broker.broadcast({"op": "gp_gone", "gp": gp_id, "gps": self._local.gps_connected()})

    def to_gp(self, instance: str, gp_id: str, message: BaseModel) -> None:
        if self._broker is not None:
            self._broker.send(instance, {"op": "to_gp", "gp": gp_id, "text": dump(message)})

    def from_gp(self, instance: str, gp_id: str, username: str, text: str) -> None:
        """A local GP's message for a station on `instance`."""
        if self._broker is not None:
            self._broker.send(instance, {"op": "from_gp", "gp": gp_id, "username": username, "text": text})

    def to_station(self, instance: str, station_id: str, message: BaseModel) -> None:
        if self._broker is not None:
            self._broker.send(instance, {"op": "to_station", "sid": station_id, "text": dump(message)})

    def booking_changed(self, booking_id: str) -> None:
        """A booking changed on this instance: the others send it to their stations too."""
        if self._broker is not None:
            self._broker.broadcast({"op": "booking", "id": booking_id})

    # What the fleet tells this instance.

    async def _beat(self) -> None:
        assert self._broker is not None
        while True:
            self._broker.broadcast({"op": "state", "stations": self._local.summaries(),
                                    "gps": self._local.gps_connected()})
            self._bury(time.monotonic())
            await asyncio.sleep(self._fleet.heartbeat_s)

    def _bury(self, now: float) -> None:
        """Forget the instances unheard for `dead_after_s`."""
        for name in [n for n, h in self._heard.items() if now - h.at > self._fleet.dead_after_s]:
            log.warning("hub instance %s is silent for %.1f s: its stations and GPs are forgotten",
                        name, self._fleet.dead_after_s)
            self._forget(name)

    def _forget(self, name: str) -> None:
        heard = self._heard.get(name)
        if heard is None:
            return
        before = {sid: self.station(sid) for sid in heard.stations}  # as the fleet had it, maybe elsewhere
        del self._heard[name]
        for gp_id in [g for g, remote in self._remote_gps.items() if remote.instance == name]:
            self._drop_gp(gp_id)
        for sid, was in before.items():
            now = self.station(sid)
            if was is not now:
                self._local.remote_moved(was, now)

    def _heard_message(self, payload: Payload) -> None:
        sender = str(payload.get("from"))
        op = payload.get("op")
        if op == "bye":
            log.info("hub instance %s left the fleet", sender)
            self._forget(sender)
            return
        heard = self._heard.setdefault(sender, _Heard(at=time.monotonic()))
        heard.at = time.monotonic()
        if op == "state":
            self._state(sender, heard, payload)
        elif op == "station":
            self._station_changed(sender, heard, payload["station"])
        elif op == "station_gone":
            self._station_gone(heard, str(payload["sid"]), float(payload["connected_at"]))
        elif op in ("gps", "gp_gone"):
            heard.gps = {str(k): str(v) for k, v in payload["gps"].items()}
            if op == "gp_gone":
                self._drop_gp(str(payload["gp"]))
        elif op == "to_gp":
            self._local.deliver_to_gp(str(payload["gp"]), str(payload["text"]))
        elif op == "to_station":
            self._local.deliver_to_station(str(payload["sid"]), str(payload["text"]))
        elif op == "from_gp":
            gp = self._remote(sender, str(payload["gp"]), str(payload["username"]))
            if gp is not None:
                self._local.from_remote_gp(gp, str(payload["text"]))
        elif op == "booking":
            self._local.booking_changed(str(payload["id"]))

    def _state(self, sender: str, heard: _Heard, payload: Payload) -> None:
        heard.gps = {str(k): str(v) for k, v in payload["gps"].items()}
        listed: set[str] = set()
        for station in payload["stations"]:
            listed.add(str(station["sid"]))
            self._station_changed(sender, heard, station)
        for sid in [s for s in heard.stations if s not in listed]:
            self._station_gone(heard, sid, heard.stations[sid].connected_at)
        for gp_id in [g for g, remote in self._remote_gps.items() if remote.instance == sender and g not in heard.gps]:
            self._drop_gp(gp_id)

    def _station_changed(self, sender: str, heard: _Heard, described: dict[str, Any]) -> None:
        sid = str(described["sid"])
        if heard.described.get(sid) == described and sid in heard.stations:
            return  # a heartbeat repeating what was heard
        account = self._station_account(sid)
        if account is None:
            return  # a station this instance does not know yet (its accounts reload soon)
        try:
            status = CabinStatus.model_validate(described["status"]) if described["status"] is not None else None
        except ValidationError:
            log.warning("hub instance %s described station %s with an invalid status: ignored", sender, sid)
            return
        after = RemoteStation(account=account, instance=sender, connected_at=float(described["connected_at"]),
                              rank=int(described["rank"]), status=status, status_at=float(described["status_at"]),
                              gp=str(described["gp"]) if described["gp"] is not None else None)
        before = self.station(sid)
        heard.stations[sid], heard.described[sid] = after, described
        self._local.remote_moved(before, self.station(sid))

    def _station_gone(self, heard: _Heard, sid: str, connected_at: float) -> None:
        mine = heard.stations.get(sid)
        if mine is None or mine.connected_at != connected_at:
            return
        before = self.station(sid)
        del heard.stations[sid], heard.described[sid]
        self._local.remote_moved(before, self.station(sid))

    def _remote(self, instance: str, gp_id: str, username: str) -> RemoteGp | None:
        known = self._remote_gps.get(gp_id)
        if known is not None:
            return known
        account = self._gp_account(username)
        if account is None:
            log.warning("hub instance %s relayed a message of unknown GP %s: ignored", instance, username)
            return None
        gp = RemoteGp(gp_id, account, instance, self)
        self._remote_gps[gp_id] = gp
        return gp

    def _drop_gp(self, gp_id: str) -> None:
        if self._remote_gps.pop(gp_id, None) is not None:
            self._local.gp_gone(gp_id)


def summary(sid: str, connected_at: float, rank: int, status: CabinStatus | None, status_at: float,
            gp: str | None) -> Payload:
    """How an instance describes one of its stations to the others."""
    return {"sid": sid, "connected_at": connected_at, "rank": rank,
            "status": status.model_dump(mode="json") if status else None, "status_at": status_at, "gp": gp}

