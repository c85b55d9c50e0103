"""The waiting room, joins, and the signalling relay between station and GP sockets.

A GP sees and joins only the stations the configuration gives it; a station signals only the GP
connection that joined it. A join lasts until the GP leaves or its socket closes (the station
gets `gp_left`), the station's socket closes (the GP gets `station_offline`), or the station
reports another session. The GP who took a consultation may come back to it, on a new
connection, while the cabin waits within its reconnect grace (`RESUMABLE` states).

A waiting patient whose booking names a GP is that GP's first: for `[booking] claim_minutes` from
the start of the wait, while that GP is online, another GP's join is refused (docs/design.md,
"Bookings at the cabin").

In a fleet (docs/design.md, "A fleet of hubs") the instance a station is connected to decides its joins
and relays its signalling, whichever instance the GP is on: a GP's message for a station elsewhere goes
to that station's instance (`hub.instances`), and what the station sends her comes back the same way.
Waiting rooms list the stations of every instance.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

from aiohttp import WSCloseCode, web

from hub.accounts import AccountDirectory
from hub.booking.feed import BookingFeed
from hub.broker import Payload
from hub.config import GpAccount, HubConfig, StationAccount
from hub.errors import Refusal
from hub.instances import Instances, RemoteGp, RemoteStation, summary
from hub.peers import CLOSE_TIMEOUT_S, GpPeer, Peer, StationPeer, error_reply, open_socket, serve
from hub.store import Store
from hub.store.audit_heads import acknowledged_heads, keep_head
from protocol.hub import (
    FROM_GP,
    FROM_STATION,
    AuditAck,
    AuditHead,
    CabinStatus,
    CallAnswer,
    GpJoin,
    GpLeft,
    GpSignal,
    GpWelcome,
    HubProtocolError,
    IceServer,
    JoinRequest,
    Leave,
    MaintenanceResult,
    SignalToGp,
    SignalToStation,
    StationBack,
    StationHealth,
    StationOffline,
    StationSignal,
    StationWelcome,
    WaitingPatient,
    WaitingRoom,
    parse,
)
from protocol.states import CabinState
from protocol.versioned import Message
from runtime.errors import StationError
from runtime.tasks import TaskSet

if TYPE_CHECKING:
    from hub.maintenance import RemoteMaintenance

log = logging.getLogger(__name__)

RESUMABLE = (CabinState.IN_CONSULTATION, CabinState.RECONNECTING)  # states a consultation goes on in
ROOMS_AFTER_S = 0.02  # waiting rooms go out this long after a change, with every change made meanwhile
_SIGNAL = {"leg", "description", "candidate"}


class StationWatcher(Protocol):
    """What hears of the stations beside the waiting room: on a vehicle's hub, the secretary's desk
    (docs/design.md, "The secretary's desk")."""

    def connected(self, station_id: str) -> None:
        """The station was welcomed (send it what it must know: the stop, the queue)."""

    def status(self, station_id: str, status: CabinStatus) -> None:
        """The station reported its state."""

    def answered(self, station_id: str, answer: CallAnswer) -> None:
        """The station answered a call."""

    def details(self, station_id: str, status: CabinStatus) -> tuple[int | None, str | None]:
        """The ticket and the reason for the visit of the patient waiting at the station, when known."""


def _rank(tokens: tuple[str, ...], account: StationAccount) -> int:
    """The place of the token a connection was made with among the station's tokens (-1: no longer there)."""
    return tokens.index(account.token_sha256) if account.token_sha256 in tokens else -1


def _awaited(status: CabinStatus | None, gp: object | None) -> str | None:
    """The RPPS of the GP a station's consultation goes on for without her connection (none joined), if any."""
    if status is None or gp is not None or status.state not in RESUMABLE or status.session is None:
        return None
    return status.doctor


def _who(room: WaitingRoom) -> list[WaitingPatient]:
    """The room without the waiting times, which grow by themselves: a room is sent again when this changes."""
    return [p.model_copy(update={"waited_s": None}) for p in room.patients]


class Relay:
    """The connected GPs and stations: who waits, who joined whom, and the signalling between them."""

    def __init__(self, config: HubConfig, store: Store, wall: Callable[[], float], *, port: Callable[[], int],
                 accounts: AccountDirectory, feed: BookingFeed | None = None, watcher: StationWatcher | None = None,
                 health: Callable[[str, StationHealth], None] | None = None,
                 maintenance: RemoteMaintenance | None = None) -> None:
        """`wall` is real Unix time: coturn checks TURN credentials' expiries against its own clock;
        `port` the hub's listening port (it names the instance in a fleet); `accounts` are the GPs and
        stations; `feed` sends each station its bookings; `health` takes stations' health reports
        (docs/design.md, "The fleet view"); `maintenance` keeps the stations' maintenance results."""
        self._config = config
        self._accounts = accounts
        accounts.on_change.append(self._accounts_changed)
        self._feed = feed
        self._watcher = watcher
        self._health = health
        self.relayed = 0  # signalling messages relayed, for the hub's metrics
        self._maintenance = maintenance
        self._store = store
        self._wall = wall
        self._tasks = TaskSet("hub", log)
        self._gps: dict[str, GpPeer] = {}
        self._stations: dict[str, StationPeer] = {}
        # (session, RPPS) of the GP each station's consultation was taken by, kept across either side's
        # reconnection: only that GP may come back to it, whichever of their logins they use.
        self._doctors: dict[str, tuple[str, str]] = {}
        # Each station's last acknowledged audit chain head, loaded from the store by start() and
        # written back before it is acknowledged (docs/design.md, "The audit chain").
        self._audit_heads: dict[str, AuditHead] = {}
        self._rooms_due: asyncio.TimerHandle | None = None
        self._instances = Instances(config.fleet, port, self, station=accounts.station, gp=accounts.gp)

    @property
    def instance(self) -> str:
        """This hub's name in its fleet ("alone" without one)."""
        return self._instances.name

    def figures(self) -> tuple[int, int, int, int]:
        """(stations connected, GPs connected, patients waiting for a GP, stations a GP joined) at this instance,
        for its metrics."""
        waiting = sum(1 for s in self._stations.values() if s.gp is None and s.status is not None
                      and s.status.state == CabinState.WAITING_FOR_DOCTOR)
        joined = sum(1 for s in self._stations.values() if s.gp is not None)
        return len(self._stations), len(self._gps), waiting, joined

    def online(self, station_id: str) -> bool:
        """Whether the station is connected now, to this instance or another of the fleet."""
        return station_id in self._stations or self._instances.station(station_id) is not None

    def send_to_station(self, station_id: str, message: Message) -> bool:
        """Send `message` to a connected station, on whichever instance; False when it is not connected."""
        station = self._stations.get(station_id)
        if station is not None:
            station.send(message)
            return True
        remote = self._instances.station(station_id)
        if remote is None:
            return False
        self._instances.to_station(remote.instance, station_id, message)
        return True

    def booking_committed(self, booking_id: str) -> None:
        """A booking changed on this instance: the fleet's other instances send it to their stations too."""
        self._instances.booking_changed(booking_id)

    def refresh_rooms(self) -> None:
        """Send the GPs their waiting rooms again where they changed (a ticket or reason changed)."""
        self._refresh_rooms()

    def ice_servers(self, user: str) -> tuple[IceServer, ...]:
        """The ICE servers for a GP or a station, TURN credentials valid from now."""
        return self._config.ice.servers_for(user, self._wall())

    def logged_out(self, login_key: str) -> None:
        """A login ended: close the GP sockets opened with it."""
        for gp in [gp for gp in self._gps.values() if gp.login_key == login_key]:
            gp.kick("logged out")

    async def start(self) -> None:
        """Take the audit heads acknowledged before, from the store (opened by then)."""
        heads = await self._store.run(acknowledged_heads)
        self._audit_heads = {sid: AuditHead(seq=seq, hash=hash_) for sid, (seq, hash_) in heads.items()}

    async def join_fleet(self) -> None:
        """Join the fleet's broker, if the hub has one; once the hub listens (its port may name the instance)."""
        await self._instances.start()

    async def stop(self) -> None:
        """Leave the fleet, close every socket and stop their writers; idempotent and bounded."""
        await self._instances.stop()
        if self._rooms_due is not None:
            self._rooms_due.cancel()
            self._rooms_due = None
        peers: list[Peer] = [*self._gps.values(), *self._stations.values()]
        await asyncio.gather(*(p.close(WSCloseCode.GOING_AWAY, b"hub stopping") for p in peers))
        if self._feed is not None:
            await self._feed.stop()
        await self._tasks.cancel_all(CLOSE_TIMEOUT_S)

    # GP consoles.

    async def gp_socket(self, request: web.Request, account: GpAccount, login_key: str) -> web.StreamResponse:
        """Serve a logged-in GP's console socket until it closes; its joins end with it."""
        ws = open_socket(self._config.hub.heartbeat_s)
        await ws.prepare(request)
        gp = GpPeer(ws, account, login_key)
        gp.start(self._tasks)
        self._gps[gp.id] = gp
        self._instances.gps_changed()
        log.info("GP %s connected as %s", account.username, gp.id)
        gp.send(GpWelcome(gp=gp.id, name=account.identity.name, ice_servers=self.ice_servers(account.username),
                          ice_transport_policy=self._config.ice.policy,
                          on_board=True if self._config.vehicle is not None else None))
        self._refresh_rooms()
        try:
            await serve(gp, lambda text: self._from_gp(gp, text))
        finally:
            del self._gps[gp.id]
            for station in [s for s in self._stations.values() if s.gp is gp]:
                self._release(station)
            self._instances.gp_left(gp.id)
            await gp.stop()
            self._refresh_rooms()
            log.info("GP connection %s closed", gp.id)
        return ws

    def _from_gp(self, gp: GpPeer, text: str) -> None:
        message = parse(FROM_GP, text)
        if message.station in gp.allowed and message.station not in self._stations:
            remote = self._instances.station(message.station)
            if remote is not None:  # its instance decides
                self._instances.from_gp(remote.instance, gp.id, gp.account.username, text)
                return
        self._gp_message(gp, message)

    def from_remote_gp(self, gp: RemoteGp, text: str) -> None:
        """A message from a GP on another instance for a station on this one; refusals go back to her."""
        try:
            self._gp_message(gp, parse(FROM_GP, text))
        except HubProtocolError as exc:
            gp.send(error_reply("bad_message", str(exc)))
        except Refusal as exc:
            log.warning("GP %s (on instance %s) refused: %s", gp.id, gp.instance, exc)
            gp.send(error_reply(exc.code, str(exc)))

    def _gp_message(self, gp: GpPeer | RemoteGp, message: JoinRequest | GpSignal | Leave) -> None:
        if isinstance(message, JoinRequest):
            self._join(gp, message)
            return
        station = self._station_for(gp, message.station)
        if station.gp is not gp:
            raise Refusal(409, "not_joined", f"you have not joined station {message.station}")
        if isinstance(message, GpSignal):
            station.send(SignalToStation(gp=gp.id, **message.model_dump(include=_SIGNAL)))
            self.relayed += 1
        else:
            log.info("GP %s left station %s", gp.id, message.station)
            self._release(station, left=True)
            self._refresh_rooms()

    def _station_for(self, gp: GpPeer | RemoteGp, station_id: str) -> StationPeer:
        """The GP's station, online; the same refusal for a station that exists and one that does not."""
        if station_id not in gp.allowed:
            raise Refusal(403, "not_yours", f"station {station_id} is not one of yours")
        station = self._stations.get(station_id)
        if station is None:
            raise Refusal(409, "offline", f"station {station_id} is not connected to the hub")
        return station

    def _join(self, gp: GpPeer | RemoteGp, request: JoinRequest) -> None:
        station = self._station_for(gp, request.station)
        status = station.status
        # The GP who took a consultation may come back to it (a new connection after a network
        # drop) while the cabin waits for them within its reconnect grace.
        resuming = (status is not None and status.state in RESUMABLE
                    and self._doctors.get(station.account.id) == (request.session, gp.account.identity.rpps))
        waiting = status is not None and status.state == CabinState.WAITING_FOR_DOCTOR
        if status is None:  # connected again a moment ago: its status comes next, and `station_back` after it
            raise Refusal(409, "offline", f"station {request.station} has not said where it is yet")
        if status.session != request.session or not (waiting or resuming):
            raise Refusal(409, "not_waiting", f"station {request.station} has no patient waiting as {request.session}")
        if station.gp is gp:
            raise Refusal(409, "already_joined", f"you have already joined station {request.station}")
        claim = self._claim(station) if not resuming else None
        if claim is not None and claim[0] != gp.account.username:
            raise Refusal(409, "claimed", f"booked with {self._gp_name(claim[0])}, who has the first claim "
                          f"until {self._local(station, claim[1]):%H:%M}")
        if station.gp is not None:
            if not resuming:
                raise Refusal(409, "taken", "another GP has taken this patient")
            self._release(station)  # the GP's previous connection, not yet seen dead
        station.gp, station.session = gp, request.session
        self._doctors[station.account.id] = (request.session, gp.account.identity.rpps)
        station.send(GpJoin(gp=gp.id, session=request.session, identity=gp.account.identity,
                            kept=request.kept if resuming else None))
        log.info("GP %s (%s) %s station %s, session %s", gp.id, gp.account.username,
                 "is back on" if resuming else "joined", request.station, request.session)
        self._publish(station)
        self._refresh_rooms()

    def _release(self, station: StationPeer, *, left: bool = False) -> None:
        """The station's GP is gone (`left`: she left the consultation, not only the hub): tell the station."""
        if station.gp is not None:
            station.send(GpLeft(gp=station.gp.id, left=True if left else None))
            station.gp = None
            self._publish(station)

    def _publish(self, station: StationPeer) -> None:
        """Tell the fleet's other instances what changed at one of this instance's stations."""
        if self._stations.get(station.account.id) is station:
            self._instances.changed(self._summary(station))

    def _summary(self, station: StationPeer) -> Payload:
        return summary(station.account.id, station.connected_at, _rank(self._accounts.tokens(station.account.id),
                                                                      station.account),
                       station.status, station.status_at, station.gp.id if station.gp is not None else None)

    def _accounts_changed(self) -> None:
        """A station disabled, or whose token was removed, is disconnected at once (docs/design.md, "Accounts in
        the store"); a GP's sockets are closed by her logins ending."""
        valid = {s.token_sha256 for s in self._accounts.stations}
        for station in [s for s in self._stations.values() if s.account.token_sha256 not in valid]:
            log.warning("station %s: its account was disabled or its token removed: disconnected", station.account.id)
            station.kick("this station's account was disabled")

    def _claim(self, station: StationPeer | RemoteStation) -> tuple[str, datetime] | None:
        """(username, until when) of the GP with the first claim on the station's waiting patient, if any:
        the GP the booking names, given that station and online, within `claim_minutes` of the wait's start."""
        status = station.status
        if status is None or status.booked_gp is None or status.state != CabinState.WAITING_FOR_DOCTOR:
            return None
        username = status.booked_gp
        account = self._accounts.gp(username)
        if account is None or station.account.id not in account.stations:
            return None
        if not any(g.account.username == username for g in self._gps.values()) and not self._instances.gp_online(
                username):
            return None
        started = station.status_at - (status.waited_s or 0.0)  # by the hub's clock
        until = datetime.fromtimestamp(started, UTC) + timedelta(minutes=self._config.booking.claim_minutes)
        return (username, until) if datetime.fromtimestamp(self._wall(), UTC) < until else None

    def _gp_name(self, username: str) -> str:
        return self._accounts.gp_names().get(username, username)

    def _local(self, station: StationPeer | RemoteStation, moment: datetime) -> datetime:
        """`moment` in the time zone of the station's site (UTC for a station standing at none), to the
        minute after: a claim said to last until 10:10 does not end before."""
        site = self._config.site(station.account.site_code) if station.account.site_code else None
        rounded = (moment + timedelta(seconds=59)).replace(second=0, microsecond=0)
        return rounded.astimezone(site.zone if site is not None else ZoneInfo("UTC"))

    def _waiting(self, station: StationPeer | RemoteStation, now: float) -> WaitingPatient:
        """The station's waiting patient as every GP's room lists it (`yours` is set per GP)."""
        status = station.status
        assert status is not None and status.session is not None
        claim = self._claim(station)
        ticket, reason = (self._watcher.details(station.account.id, status) if self._watcher is not None
                          else (None, None))
        # The hub's label for the station, not the site the station names (which it could choose).
        return WaitingPatient(
            station=station.account.id, site=station.account.site, session=status.session, since=status.since,
            waited_s=None if status.waited_s is None else status.waited_s + max(0.0, now - station.status_at),
            booked_with=self._gp_name(status.booked_gp) if status.booked_gp is not None else None,
            claim_until=claim[1].isoformat() if claim is not None else None, ticket=ticket, reason=reason or None)

    def _refresh_rooms(self) -> None:
        """Send the GPs their waiting rooms soon: what changes within ROOMS_AFTER_S (a burst of cabins dialling
        again, a heartbeat's news from another instance) makes one room per GP, not one per change."""
        if self._rooms_due is None:
            self._rooms_due = asyncio.get_running_loop().call_later(ROOMS_AFTER_S, self._send_rooms)

    def _send_rooms(self) -> None:
        """Push each GP its waiting room (only its stations' untaken waiting patients, the ones booked with
        the GP first) when it changed."""
        self._rooms_due = None
        now = self._wall()
        stations: list[StationPeer | RemoteStation] = [*self._stations.values()]
        stations += [s for s in self._instances.stations() if s.account.id not in self._stations]
        waiting = [(self._waiting(s, now), s.status.booked_gp if s.status is not None else None)
                   for s in stations
                   if s.gp is None and s.status is not None and s.status.session is not None
                   and s.status.state == CabinState.WAITING_FOR_DOCTOR]
        for gp in self._gps.values():
            mine = [p.model_copy(update={"yours": True if booked == gp.account.username else None})
                    for p, booked in waiting if p.station in gp.allowed]
            room = WaitingRoom(patients=tuple(sorted(mine, key=lambda p: (not p.yours, p.since or "", p.station))))
            if gp.room is None or _who(room) != _who(gp.room):
                gp.room = room
                gp.send(room)

    # Stations.

    async def station_socket(self, request: web.Request, account: StationAccount) -> web.StreamResponse:
        """Serve an authenticated station's socket until it closes; while one is open, another is refused.

        Only a connection made with the station's next token (a rotation, docs/design.md, the hub)
        replaces the open one; a station whose network dropped is let in again once the hub's
        heartbeat has found its old socket dead.
        """
        previous = self._admit(account, request.remote)
        ws = open_socket(self._config.hub.heartbeat_s)
        station = StationPeer(ws, account, request.remote, self._wall())
        self._stations[account.id] = station  # before any await: a connection racing this one is refused
        if previous is not None:
            self._gone(previous)
            previous.kick("replaced by a connection with the station's next token")
        moved = self._instances.station(account.id)  # its connection to another instance, dead or not yet seen so
        if moved is not None and moved.gp is not None and moved.gp in self._gps:
            self._gps[moved.gp].send(StationOffline(station=account.id))  # she asks again, here
        station.start(self._tasks)
        try:
            await ws.prepare(request)
            log.info("station %s connected from %s", account.id, request.remote)
            self._publish(station)
            station.send(StationWelcome(station=account.id, ice_servers=self.ice_servers(account.id),
                                        ice_transport_policy=self._config.ice.policy))
            if self._feed is not None:
                self._feed.connected(station)
            if self._watcher is not None:
                self._watcher.connected(account.id)
            await serve(station, lambda text: self._from_station(station, text))
        finally:
            if self._feed is not None:
                self._feed.disconnected(station)
            if self._stations.get(account.id) is station:
                del self._stations[account.id]
                self._gone(station)
                self._instances.left(account.id, station.connected_at)
                self._refresh_rooms()
            await station.stop()
            log.info("station %s disconnected", account.id)
        return ws

    def _admit(self, account: StationAccount, remote: str | None) -> StationPeer | None:
        """The open connection that one with `account`'s token replaces (None when there is none), or a refusal.

        A token older than the one the station last connected with is retired by the accounts
        (`AccountDirectory.connected`) and refused before this. Only a connection with a newer token replaces
        an open one, here or on another live instance of the fleet: a stolen token does not push the station off.
        """
        sid = account.id
        tokens = self._accounts.tokens(sid)
        if account.token_sha256 not in tokens:  # retired or removed while this connection was being checked
            raise Refusal(401, "unauthorized", "this token is no longer the station's")
        rank = tokens.index(account.token_sha256)
        previous = self._stations.get(sid)
        if previous is not None and rank <= _rank(tokens, previous.account):
            log.warning("station %s: a second connection with its token, from %s, refused: it is connected from %s",
                        sid, remote, previous.remote)
            raise Refusal(409, "already_connected", f"station {sid} is already connected: another connection "
                          "with its token is refused until that one closes or stops answering pings")
        elsewhere = self._instances.station(sid)
        if (previous is None and elsewhere is not None and self._instances.alive(elsewhere.instance)
                and rank <= elsewhere.rank):
            log.warning("station %s: a second connection with its token, from %s, refused: it is connected through "
                        "hub instance %s", sid, remote, elsewhere.instance)
            raise Refusal(409, "already_connected", f"station {sid} is already connected through another hub "
                          "instance: another connection with its token is refused until that one closes")
        return previous

    @staticmethod
    def _gone(station: StationPeer) -> None:
        """The station's connection is over: its GP hears so and is released."""
        if station.gp is not None:
            station.gp.send(StationOffline(station=station.account.id))
            station.gp = None

    def _from_station(self, station: StationPeer, text: str) -> None:
        sid = station.account.id
        message = parse(FROM_STATION, text)
        if isinstance(message, CabinStatus):
            if station.status is None or station.status.state != message.state:
                log.info("station %s is %s (session %s)", sid, message.state, message.session)
            was = _awaited(station.status, station.gp)
            station.status, station.status_at = message, self._wall()
            self._learn_doctor(station, message)
            if station.gp is not None and message.session not in (None, station.session):
                log.info("station %s moved on to session %s: GP %s released", sid, message.session, station.gp.id)
                self._release(station, left=True)
            self._call_back(sid, was, _awaited(station.status, station.gp))
            self._publish(station)
            if self._watcher is not None:
                self._watcher.status(sid, message)
            self._refresh_rooms()
        elif isinstance(message, StationSignal):
            gp = station.gp
            if gp is None or gp.id != message.gp:
                raise Refusal(409, "not_joined", f"GP connection {message.gp} has not joined this station")
            gp.send(SignalToGp(station=sid, **message.model_dump(include=_SIGNAL)))
            self.relayed += 1
        elif isinstance(message, AuditHead):
            ack = self._audit_head(sid, message)
            self._tasks.spawn(self._acknowledge(station, ack), f"audit-head-{sid}")
        elif isinstance(message, CallAnswer):
            if self._watcher is not None:
                self._watcher.answered(sid, message)
        elif isinstance(message, StationHealth):
            if self._health is not None:
                self._health(sid, message)
        elif isinstance(message, MaintenanceResult):
            if self._maintenance is not None:
                self._maintenance.result(sid, message)
        else:
            log.warning("station %s reported an error: %s", sid, message.code)

    def _audit_head(self, sid: str, head: AuditHead) -> AuditAck:
        """Acknowledge a station's audit chain head, unless it goes back on the one acknowledged before."""
        known = self._audit_heads.get(sid)
        if known is not None and (head.seq < known.seq or (head.seq == known.seq and head.hash != known.hash)):
            log.warning("station %s's audit trail went back from entry %s to %s: entries deleted or rewritten",
                        sid, known.seq, head.seq)
            raise Refusal(409, "audit_head_back", f"the hub acknowledged entry {known.seq} of this audit trail "
                          f"({known.hash[:16]}...); entry {head.seq} ({head.hash[:16]}...) goes back on it")
        self._audit_heads[sid] = head
        return AuditAck(seq=head.seq, hash=head.hash)

    async def _acknowledge(self, station: StationPeer, ack: AuditAck) -> None:
        """Keep the head in the store, then acknowledge it: an acknowledged head outlives a hub restart.
        A store that cannot keep it gets no acknowledgement: the station sends a head again at its
        next entry or its next connection."""
        at = datetime.fromtimestamp(self._wall(), UTC)
        sid = station.account.id
        try:
            await self._store.run(lambda session: keep_head(session, sid, ack.seq, ack.hash, at))
        except StationError as exc:
            log.warning("station %s's audit head %s is not acknowledged: %s", sid, ack.seq, exc)
            return
        station.send(ack)

    def _learn_doctor(self, station: StationPeer, status: CabinStatus) -> None:
        """After a hub restart, who took a consultation still going on comes from its station.

        Only a GP given that station can be named, and the hub's own record wins: a station
        can let no one else into its consultation.
        """
        sid = station.account.id
        known = self._doctors.get(sid)
        if (status.doctor is None or status.session is None or status.state not in RESUMABLE
                or (known is not None and known[0] == status.session)):
            return
        if any(account.identity.rpps == status.doctor and sid in account.stations for account in self._accounts.gps):
            self._doctors[sid] = (status.session, status.doctor)
            log.info("station %s reports GP %s on session %s", sid, status.doctor, status.session)

    # The fleet's other instances (hub.instances calls these).

    def summaries(self) -> list[Payload]:
        """This instance's stations, as its heartbeat describes them."""
        return [self._summary(s) for s in self._stations.values()]

    def gps_connected(self) -> dict[str, str]:
        """This instance's GP connections: id -> username."""
        return {gp.id: gp.account.username for gp in self._gps.values()}

    def deliver_to_gp(self, gp_id: str, text: str) -> None:
        """A message for one of this instance's GPs, from a station on another instance."""
        gp = self._gps.get(gp_id)
        if gp is not None:
            gp.send_text(text)

    def deliver_to_station(self, station_id: str, text: str) -> None:
        """A message for one of this instance's stations, from another instance."""
        station = self._stations.get(station_id)
        if station is not None:
            station.send_text(text)

    def gp_gone(self, gp_id: str) -> None:
        """A GP connection on another instance closed (or its instance died): release her stations here."""
        for station in [s for s in self._stations.values() if s.gp is not None and s.gp.id == gp_id]:
            self._release(station)
        self._refresh_rooms()

    def remote_moved(self, before: RemoteStation | None, after: RemoteStation | None) -> None:
        """A station of another instance changed. A GP of this instance joined to it hears that it went
        offline when its connection ended or moved (she asks again, and resumes, as after any drop); a
        connection here older than one on another instance is the station's past one, and is closed."""
        moved = before is not None and (after is None or after.connected_at != before.connected_at)
        if before is not None and moved and before.account.id not in self._stations:  # here: told on connecting
            gp = self._gps.get(before.gp) if before.gp is not None else None
            if gp is not None:
                gp.send(StationOffline(station=before.account.id))
        if after is not None:
            same = before is not None and before.connected_at == after.connected_at
            self._call_back(after.account.id, _awaited(before.status, before.gp) if same and before else None,
                            _awaited(after.status, after.gp))
        local = self._stations.get(after.account.id) if after is not None else None
        if after is not None and local is not None and after.connected_at > local.connected_at:
            log.warning("station %s connected again through hub instance %s: its connection here is closed",
                        after.account.id, after.instance)
            local.kick("the station connected again through another hub instance")
        self._refresh_rooms()

    def _call_back(self, station_id: str, was: str | None, now: str | None) -> None:
        """A station's consultation now goes on without its GP's connection (`now`, her RPPS; `was` before):
        her consoles on this instance hear that the station is back, and ask to come back to it."""
        if now is None or now == was:
            return
        for gp in self._gps.values():
            if gp.account.identity.rpps == now and station_id in gp.allowed:
                gp.send(StationBack(station=station_id))

    def booking_changed(self, booking_id: str) -> None:
        """A booking changed on another instance: send it to this instance's stations."""
        if self._feed is not None:
            self._feed.changed_elsewhere(booking_id)
