"""The hub: stations and GP consoles both dial out to it; it keeps the waiting room and relays signalling.

HTTP: `GET /` and `/static/...` serve the GP console (`hub/console/`); `POST /api/login`
sets the `cabin_gp` session cookie, `POST /api/logout` ends it, `GET /api/me` says who is
logged in (`{username, name, identity, stations: [{id, site, online}], ice_servers}`).
WebSockets (messages of `protocol/hub.py`): `/ws/gp` needs the cookie and the hub's
public origin; `/ws/station` needs `Authorization: Bearer <station token>` and no browser
Origin. A GP sees and joins only the stations the configuration gives it; a station signals
only the GP connection that joined it. The hub never receives a patient's name, and its logs
carry station, GP and session ids, never a token or a password (DESIGN.md §7).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import secrets
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import WSCloseCode, WSMsgType, web
from pydantic import BaseModel

from hub.config import GpAccount, HubConfig, StationAccount, decoy_hash, token_digest, verify_password
from protocol.hub import (
    FROM_GP,
    FROM_STATION,
    MAX_MESSAGE_BYTES,
    CabinStatus,
    ErrorMessage,
    GpJoin,
    GpLeft,
    GpSignal,
    GpWelcome,
    HubProtocolError,
    IceServer,
    JoinRequest,
    SignalToGp,
    SignalToStation,
    StationOffline,
    StationSignal,
    StationWelcome,
    WaitingPatient,
    WaitingRoom,
    dump,
    parse,
)
from protocol.states import CabinState
from runtime.clock import Clock
from runtime.errors import StationError
from ui import URL_PREFIX, WEB_DIR

log = logging.getLogger(__name__)

COOKIE = "cabin_gp"
HEARTBEAT_S = 20.0
CLOSE_TIMEOUT_S = 2.0
OUTBOX_SIZE = 1024
MAX_LOGINS = 1000
MAX_LIMITER_KEYS = 10_000
SCRYPT_SLOTS = 2  # scrypt verifications at once: each holds tens of MiB
CONSOLE_DIR = Path(__file__).resolve().parent / "console"
RESUMABLE = (CabinState.IN_CONSULTATION, CabinState.RECONNECTING)  # states a consultation goes on in

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_SIGNAL = {"leg", "description", "candidate"}


class _Refusal(StationError):
    """A request or message the hub refuses, with a stable code for the error reply."""

    def __init__(self, status: int, code: str, message: str, **details: object) -> None:
        super().__init__(message)
        self.status, self.code, self.details = status, code, details


class LoginLimiter:
    """Login failures per key (a username, an address) within a sliding window."""

    def __init__(self, window_s: float, now: Callable[[], float]) -> None:
        self._window_s = window_s
        self._now = now
        self._failures: dict[str, deque[float]] = {}

    def retry_after(self, key: str, limit: int) -> float:
        """Seconds until `key` may try again: 0 while it has fewer than `limit` recent failures."""
        failures = self._recent(key)
        if len(failures) < limit:
            return 0.0
        return failures[len(failures) - limit] + self._window_s - self._now()

    def fail(self, *keys: str) -> None:
        """Count one failure against each key."""
        if len(self._failures) >= MAX_LIMITER_KEYS:
            for stale in [k for k in self._failures if not self._recent(k)]:
                del self._failures[stale]
            while len(self._failures) >= MAX_LIMITER_KEYS:  # still full: forget the oldest keys
                del self._failures[next(iter(self._failures))]
        for key in keys:
            self._failures.setdefault(key, deque()).append(self._now())

    def clear(self, key: str) -> None:
        """Forget the failures of `key` (after a successful login)."""
        self._failures.pop(key, None)

    def _recent(self, key: str) -> deque[float]:
        failures = self._failures.get(key, deque())
        while failures and failures[0] <= self._now() - self._window_s:
            failures.popleft()
        return failures


@dataclass
class _Login:
    account: GpAccount
    expires: float


class _Peer:
    """One WebSocket with a bounded outbox drained by its own writer task, so no peer blocks another."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self._outbox: asyncio.Queue[str | None] = asyncio.Queue(OUTBOX_SIZE)
        self._writer = asyncio.get_running_loop().create_task(self._write())
        self._kicked = False
        self._reason = ""

    def send(self, message: BaseModel) -> None:
        """Queue a message; a peer too slow to drain its outbox is disconnected."""
        if self._kicked:
            return
        if self._outbox.full():
            log.warning("a hub peer is not reading its messages; disconnecting it")
            self.kick("too slow")
            return
        self._outbox.put_nowait(dump(message))

    def kick(self, reason: str) -> None:
        """Close the connection, dropping what is still queued."""
        self._kicked = True
        self._reason = reason
        while not self._outbox.empty():
            self._outbox.get_nowait()
        self._outbox.put_nowait(None)

    async def close(self) -> None:
        """Stop the writer; the socket itself is closed by its handler or by kick()."""
        self._writer.cancel()
        await asyncio.wait([self._writer])

    async def _write(self) -> None:
        while (text := await self._outbox.get()) is not None:
            try:
                await self.ws.send_str(text)
            except ConnectionError:
                return
        await self.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=self._reason.encode())


class _GpPeer(_Peer):
    def __init__(self, ws: web.WebSocketResponse, account: GpAccount, login_key: str) -> None:
        super().__init__(ws)
        self.id = f"gp-{secrets.token_hex(8)}"
        self.account = account
        self.login_key = login_key
        self.allowed = frozenset(account.stations)
        self.room: WaitingRoom | None = None


class _StationPeer(_Peer):
    def __init__(self, ws: web.WebSocketResponse, account: StationAccount) -> None:
        super().__init__(ws)
        self.account = account
        self.status: CabinStatus | None = None
        self.gp: _GpPeer | None = None  # the GP connection that joined this station...
        self.session: str | None = None  # ...for this session


def _error(status: int, code: str, message: str, **details: object) -> web.Response:
    return web.json_response({"error": code, "message": message, **details}, status=status)


def _reply(code: str, message: str) -> ErrorMessage:
    return ErrorMessage(code=code, message=message[:1000])


class Hub:
    """The hub server: GP logins, the waiting room, joins and signalling relay."""

    def __init__(self, config: HubConfig, *, clock: Clock | None = None, console_dir: Path = CONSOLE_DIR,
                 wall: Callable[[], float] = time.time) -> None:
        self._config = config
        self._clock = clock or Clock()
        self._console_dir = console_dir
        self._wall = wall  # real Unix time: coturn checks TURN expiries against its own clock
        self.port = config.hub.port
        self._accounts = {gp.username: gp for gp in config.gps}
        self._limiter = LoginLimiter(config.login.window_s, self._clock.monotonic)
        self._logins: dict[str, _Login] = {}
        self._gps: dict[str, _GpPeer] = {}
        self._stations: dict[str, _StationPeer] = {}
        # (session, RPPS) of the GP each station's consultation was taken by, kept across either side's
        # reconnection: only that GP may come back to it, whichever of their logins they use.
        self._doctors: dict[str, tuple[str, str]] = {}
        self._decoy: str | None = None
        self._scrypt_slots: asyncio.Semaphore | None = None
        self._runner: web.AppRunner | None = None

    @property
    def config(self) -> HubConfig:
        """The configuration the hub was built with."""
        return self._config

    @property
    def url(self) -> str:
        """The base URL the hub listens at."""
        scheme = "https" if self._config.hub.tls_cert else "http"
        return f"{scheme}://{self._config.hub.host}:{self.port}"

    @property
    def origin(self) -> str:
        """The origin the GP console must come from: the configured public origin, or `url`."""
        return self._config.hub.public_origin or self.url

    @property
    def station_url(self) -> str:
        """The WebSocket URL stations dial, as the hub sees itself (`ws://` or `wss://`)."""
        return "ws" + self.url.removeprefix("http") + "/ws/station"

    async def start(self) -> None:
        """Bind and serve."""
        if self._runner is not None:
            return
        like = self._config.gps[0].password_hash if self._config.gps else None
        self._decoy = await asyncio.to_thread(decoy_hash, like)
        self._scrypt_slots = asyncio.Semaphore(SCRYPT_SLOTS)
        app = web.Application(middlewares=[self._guard], client_max_size=16 * 1024)
        app.on_response_prepare.append(self._headers)
        app.add_routes([
            web.get("/", self._index),
            web.get("/static/{path:.+}", self._static),
            web.static(URL_PREFIX, WEB_DIR, append_version=False),
            web.post("/api/login", self._login),
            web.post("/api/logout", self._logout),
            web.get("/api/me", self._me),
            web.get("/ws/gp", self._gp_socket),
            web.get("/ws/station", self._station_socket),
        ])
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=CLOSE_TIMEOUT_S)
        await runner.setup()
        hub = self._config.hub
        try:
            site = web.TCPSite(runner, hub.host, hub.port, ssl_context=self._ssl_context())
            await site.start()
        except (OSError, ssl.SSLError) as exc:
            await runner.cleanup()
            raise StationError(f"cannot serve the hub on {hub.host}:{hub.port}: {exc}") from exc
        self._runner = runner
        self.port = runner.addresses[0][1]
        log.info("hub listening on %s (origin %s)", self.url, self.origin)

    async def stop(self) -> None:
        """Close every WebSocket and the server; idempotent."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        peers: list[_Peer] = [*self._gps.values(), *self._stations.values()]
        await asyncio.gather(*(p.ws.close(code=WSCloseCode.GOING_AWAY, message=b"hub stopping") for p in peers),
                             return_exceptions=True)
        await runner.cleanup()
        self._logins.clear()

    def _ssl_context(self) -> ssl.SSLContext | None:
        hub = self._config.hub
        if hub.tls_cert is None or hub.tls_key is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(hub.tls_cert, hub.tls_key)
        return context

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if request.method == "POST" and origin is not None and origin != self.origin:
            return _error(403, "forbidden_origin", f"requests must come from {self.origin}")
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except _Refusal as exc:
            return _error(exc.status, exc.code, str(exc), **exc.details)
        except Exception:
            log.exception("hub request %s failed", request.path)
            return _error(500, "internal", "something went wrong in the hub")

    @staticmethod
    async def _headers(request: web.Request, response: web.StreamResponse) -> None:
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        if request.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"

    # The GP console's files.

    async def _index(self, request: web.Request) -> web.StreamResponse:
        return self._file("index.html")

    async def _static(self, request: web.Request) -> web.StreamResponse:
        return self._file(request.match_info["path"])

    def _file(self, relative: str) -> web.StreamResponse:
        root = self._console_dir.resolve()
        path = (root / relative).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            raise _Refusal(404, "not_found", "no such file in the GP console")
        return web.FileResponse(path)

    # Logins.

    async def _login(self, request: web.Request) -> web.StreamResponse:
        username, password = await self._credentials(request)
        address = request.remote or "unknown"
        self._check_rate(username, address)
        account = self._accounts.get(username)
        assert self._scrypt_slots is not None and self._decoy is not None
        async with self._scrypt_slots:
            ok = await asyncio.to_thread(verify_password, password, account.password_hash if account else self._decoy)
        if account is None or not ok:
            self._limiter.fail(f"user:{username}", f"addr:{address}")
            log.warning("failed login for %s from %s", username if account else "an unknown username", address)
            raise _Refusal(401, "bad_login", "wrong username or password")
        self._limiter.clear(f"user:{username}")
        token = secrets.token_urlsafe(32)
        self._remember(token_digest(token), account)
        response = web.json_response({"name": account.identity.name})
        response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/",
                            secure=self.origin.startswith("https:"), max_age=int(self._config.login.session_ttl_s))
        log.info("GP %s logged in from %s", username, address)
        return response

    @staticmethod
    async def _credentials(request: web.Request) -> tuple[str, str]:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError) as exc:
            raise _Refusal(400, "bad_request", "the body is not JSON") from exc
        username = body.get("username") if isinstance(body, dict) else None
        password = body.get("password") if isinstance(body, dict) else None
        if not isinstance(username, str) or not isinstance(password, str) or len(username) > 64 or len(password) > 1024:
            raise _Refusal(400, "bad_request", "send {\"username\": ..., \"password\": ...} as text")
        return username.strip().lower(), password

    def _check_rate(self, username: str, address: str) -> None:
        login = self._config.login
        wait = max(self._limiter.retry_after(f"user:{username}", login.max_failures),
                   self._limiter.retry_after(f"addr:{address}", login.max_failures_per_address))
        if wait > 0:
            log.warning("login from %s refused: too many failures", address)
            raise _Refusal(429, "rate_limited", "too many failed logins; try again later",
                           retry_after_s=math.ceil(wait))

    def _remember(self, key: str, account: GpAccount) -> None:
        now = self._clock.monotonic()
        for stale in [k for k, v in self._logins.items() if v.expires <= now]:
            del self._logins[stale]
        while len(self._logins) >= MAX_LOGINS:
            del self._logins[next(iter(self._logins))]
        self._logins[key] = _Login(account, now + self._config.login.session_ttl_s)

    def _session(self, request: web.Request) -> tuple[str, GpAccount]:
        """The login key and account of the request's cookie, or a 401 refusal."""
        token = request.cookies.get(COOKIE)
        key = token_digest(token) if token else ""
        login = self._logins.get(key)
        if login is None or login.expires <= self._clock.monotonic():
            self._logins.pop(key, None)
            raise _Refusal(401, "unauthorized", "log in first")
        return key, login.account

    async def _logout(self, request: web.Request) -> web.StreamResponse:
        token = request.cookies.get(COOKIE)
        key = token_digest(token) if token else ""
        if self._logins.pop(key, None) is not None:
            for gp in [gp for gp in self._gps.values() if gp.login_key == key]:
                gp.kick("logged out")
        response = web.json_response({"ok": True})
        response.del_cookie(COOKIE, path="/")
        return response

    async def _me(self, request: web.Request) -> web.StreamResponse:
        _, account = self._session(request)
        sites = {s.id: s.site for s in self._config.stations}
        return web.json_response({
            "username": account.username,
            "name": account.identity.name,
            "identity": account.identity.model_dump(),
            "stations": [{"id": s, "site": sites[s], "online": s in self._stations} for s in account.stations],
            "ice_servers": [s.model_dump(exclude_none=True) for s in self._ice(account.username)],
        })

    def _ice(self, user: str) -> tuple[IceServer, ...]:
        return self._config.ice.servers_for(user, self._wall())

    # GP consoles.

    async def _gp_socket(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Origin") != self.origin:
            raise _Refusal(403, "forbidden_origin", f"the GP console must be opened from {self.origin}")
        login_key, account = self._session(request)
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, max_msg_size=MAX_MESSAGE_BYTES, timeout=CLOSE_TIMEOUT_S)
        await ws.prepare(request)
        gp = _GpPeer(ws, account, login_key)
        self._gps[gp.id] = gp
        log.info("GP %s connected as %s", account.username, gp.id)
        gp.send(GpWelcome(gp=gp.id, name=account.identity.name, ice_servers=self._ice(account.username)))
        self._refresh_rooms()
        try:
            await self._serve(gp, f"GP {gp.id}", lambda text: self._from_gp(gp, text))
        finally:
            del self._gps[gp.id]
            for station in self._joined_by(gp):
                self._release(station)
            await gp.close()
            self._refresh_rooms()
            log.info("GP connection %s closed", gp.id)
        return ws

    @staticmethod
    async def _serve(peer: _Peer, name: str, handle: Callable[[str], None]) -> None:
        """Read messages until the socket closes; each invalid or refused one gets an error reply and a log line."""
        async for msg in peer.ws:
            if msg.type is WSMsgType.ERROR:  # an oversized frame, or a broken connection: aiohttp closes it
                log.warning("%s: connection closed: %s", name, msg.data)
                break
            try:
                if msg.type is not WSMsgType.TEXT:
                    raise HubProtocolError("binary frame refused: messages are JSON text")
                handle(msg.data)
            except HubProtocolError as exc:
                log.warning("%s sent an invalid message: %s", name, str(exc)[:200])
                peer.send(_reply("bad_message", str(exc)))
            except _Refusal as exc:
                log.warning("%s refused: %s", name, exc)
                peer.send(_reply(exc.code, str(exc)))
            except Exception:  # a bug must not take the connection down with it
                log.exception("%s: a message could not be handled", name)
                peer.send(_reply("internal", "the hub could not handle this message"))

    def _from_gp(self, gp: _GpPeer, text: str) -> None:
        message = parse(FROM_GP, text)
        if isinstance(message, JoinRequest):
            self._join(gp, message)
            return
        station = self._station_for(gp, message.station)
        if station.gp is not gp:
            raise _Refusal(409, "not_joined", f"you have not joined station {message.station}")
        if isinstance(message, GpSignal):
            station.send(SignalToStation(gp=gp.id, **message.model_dump(include=_SIGNAL)))
        else:
            log.info("GP %s left station %s", gp.id, message.station)
            self._release(station)
            self._refresh_rooms()

    def _station_for(self, gp: _GpPeer, station_id: str) -> _StationPeer:
        """The GP's station, online; the same refusal for a station that exists and one that does not."""
        if station_id not in gp.allowed:
            raise _Refusal(403, "not_yours", f"station {station_id} is not one of yours")
        station = self._stations.get(station_id)
        if station is None:
            raise _Refusal(409, "offline", f"station {station_id} is not connected to the hub")
        return station

    def _join(self, gp: _GpPeer, request: JoinRequest) -> None:
        station = self._station_for(gp, request.station)
        status = station.status
        # The GP who took a consultation may come back to it (a new connection after a network
        # drop) while the cabin waits for them within its reconnect grace.
        resuming = (status is not None and status.state in RESUMABLE
                    and self._doctors.get(station.account.id) == (request.session, gp.account.identity.rpps))
        waiting = status is not None and status.state == CabinState.WAITING_FOR_DOCTOR
        if status is None or status.session != request.session or not (waiting or resuming):
            raise _Refusal(409, "not_waiting", f"station {request.station} has no patient waiting as {request.session}")
        if station.gp is gp:
            raise _Refusal(409, "already_joined", f"you have already joined station {request.station}")
        if station.gp is not None:
            if not resuming:
                raise _Refusal(409, "taken", "another GP has taken this patient")
            self._release(station)  # the GP's previous connection, not yet seen dead
        station.gp, station.session = gp, request.session
        self._doctors[station.account.id] = (request.session, gp.account.identity.rpps)
        station.send(GpJoin(gp=gp.id, session=request.session, identity=gp.account.identity))
        log.info("GP %s (%s) %s station %s, session %s", gp.id, gp.account.username,
                 "is back on" if resuming else "joined", request.station, request.session)
        self._refresh_rooms()

    def _learn_doctor(self, station: _StationPeer, status: CabinStatus) -> None:
        """After a hub restart, who took a consultation still going on comes from its station.

        Only a GP given that station can be named, and the hub's own record wins: a station
        can let no one else into its consultation.
        """
        sid = station.account.id
        known = self._doctors.get(sid)
        if (status.doctor is None or status.session is None or status.state not in RESUMABLE
                or (known is not None and known[0] == status.session)):
            return
        accounts = self._accounts.values()
        if any(account.identity.rpps == status.doctor and sid in account.stations for account in accounts):
            self._doctors[sid] = (status.session, status.doctor)
            log.info("station %s reports GP %s on session %s", sid, status.doctor, status.session)

    def _joined_by(self, gp: _GpPeer) -> list[_StationPeer]:
        return [s for s in self._stations.values() if s.gp is gp]

    @staticmethod
    def _release(station: _StationPeer) -> None:
        """The station's GP is gone: tell the station."""
        if station.gp is not None:
            station.send(GpLeft(gp=station.gp.id))
            station.gp = None

    def _refresh_rooms(self) -> None:
        """Push each GP its waiting room (only its stations' untaken waiting patients) when it changed."""
        waiting = sorted(
            (WaitingPatient(station=s.account.id, site=s.status.site, session=s.status.session, since=s.status.since)
             for s in self._stations.values()
             if s.gp is None and s.status is not None and s.status.session is not None
             and s.status.state == CabinState.WAITING_FOR_DOCTOR),
            key=lambda p: (p.since or "", p.station),
        )
        for gp in self._gps.values():
            room = WaitingRoom(patients=tuple(p for p in waiting if p.station in gp.allowed))
            if room != gp.room:
                gp.room = room
                gp.send(room)

    # Stations.

    async def _station_socket(self, request: web.Request) -> web.StreamResponse:
        if "Origin" in request.headers:
            raise _Refusal(403, "forbidden_origin", "stations do not connect from a browser")
        account = self._station_account(request.headers.get("Authorization", ""))
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, max_msg_size=MAX_MESSAGE_BYTES, timeout=CLOSE_TIMEOUT_S)
        await ws.prepare(request)
        station = _StationPeer(ws, account)
        previous = self._stations.get(account.id)
        self._stations[account.id] = station
        if previous is not None:
            log.warning("station %s connected again: closing its previous connection", account.id)
            self._gone(previous)
            previous.kick("replaced by a newer connection")
        log.info("station %s connected from %s", account.id, request.remote)
        station.send(StationWelcome(station=account.id, ice_servers=self._ice(account.id)))
        try:
            await self._serve(station, f"station {account.id}", lambda text: self._from_station(station, text))
        finally:
            if self._stations.get(account.id) is station:
                del self._stations[account.id]
                self._gone(station)
                self._refresh_rooms()
            await station.close()
            log.info("station %s disconnected", account.id)
        return ws

    def _station_account(self, authorization: str) -> StationAccount:
        scheme, _, token = authorization.partition(" ")
        digest = token_digest(token.strip()) if scheme.lower() == "bearer" else ""
        found = None
        for account in self._config.stations:  # every digest compared, in constant time
            if hmac.compare_digest(digest, account.token_sha256):
                found = account
        if found is None:
            raise _Refusal(401, "unauthorized", "a station connects with 'Authorization: Bearer <its token>'")
        return found

    @staticmethod
    def _gone(station: _StationPeer) -> None:
        """The station's connection is over: its GP hears so and is released."""
        if station.gp is not None:
            station.gp.send(StationOffline(station=station.account.id))
            station.gp = None

    def _from_station(self, station: _StationPeer, text: str) -> None:
        sid = station.account.id
        message = parse(FROM_STATION, text)
        if isinstance(message, CabinStatus):
            if station.status is None or station.status.state != message.state:
                log.info("station %s is %s (session %s)", sid, message.state, message.session)
            station.status = message
            self._learn_doctor(station, message)
            if station.gp is not None and message.session not in (None, station.session):
                log.info("station %s moved on to session %s: GP %s released", sid, message.session, station.gp.id)
                self._release(station)
            self._refresh_rooms()
        elif isinstance(message, StationSignal):
            gp = station.gp
            if gp is None or gp.id != message.gp:
                raise _Refusal(409, "not_joined", f"GP connection {message.gp} has not joined this station")
            gp.send(SignalToGp(station=sid, **message.model_dump(include=_SIGNAL)))
        else:
            log.warning("station %s reported an error: %s", sid, message.code)
