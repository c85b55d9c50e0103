"""The hub: stations and GP consoles both dial out to it; it keeps the waiting room and relays signalling.

This module is the HTTP application: the route table, the guards every request passes (origin,
authentication, the JSON error replies), TLS and the server's lifecycle. What the routes do lives
beside it: `hub.auth` (logins, station tokens), `hub.relay` (the waiting room, joins and the
signalling relay), `hub.peers` (one WebSocket each), `hub.errors` (refusals), `hub.booking` (the
book and its pages and APIs), `hub.notify` (the outbox of messages to patients).

HTTP: `GET /` and `/static/...` serve the GP console (`hub/console/`), `/ui/...` what it shares with
the kiosk page (`ui/web/`: the DOM helper and the i18n runtime); `POST /api/login` sets the
`cabin_gp` session cookie (a login that still needs its second factor until `POST /api/totp/verify`,
or `/api/totp/enrol` then `/api/totp/confirm`), `POST /api/logout` ends it, `GET /api/me` says who
is logged in (a GP's `{role: "gp", username, name, identity, stations: [{id, site, online}],
ice_servers, ice_transport_policy, ical_url}`, ical_url her calendar feed's secret URL or null; a coordinator's
`{role: "coordinator", username, name}`, a secretary's the same with role "secretary"). `/book/` and
`/api/public/...` are the public booking page (`hub.booking.public`); `/coordinator` the coordinator's
console (`hub/coordinator_page/`) over `/api/coordinator/...` (`hub.booking.desk`; the programme of stops
`hub.booking.programme_desk`, the activity figures `hub.booking.activity_api`); on a vehicle's hub, `/desk`
the secretary's desk (`hub/desk_page/`) over `/api/desk/...` (`hub.mobile.desk`); a GP
publishes her sessions through `/api/sessions` (`hub.booking.duty`); `/fhir/r4/...` is the book for booking platforms
(`hub.booking.fhir`, bearer tokens), `/ical/<username>/<token>.ics` a GP's calendar feed
(`hub.booking.ical`). `POST /api/sync` takes a vehicle's hub's changes (a `[[vehicles]]` token) and
`GET /api/sync/conflicts` lists the bookings that lost their slot then (`hub.sync`). `/fleet` is the
fleet page for coordinators and technicians over `/api/fleet/...` (`hub.fleet.service`), `GET /metrics`
the Prometheus metrics (`hub.fleet.metrics`). `/accounts` is the technicians' accounts page over
`/api/accounts/...` (`hub.accounts_api`; the accounts themselves, from the store, are `hub.accounts`).
WebSockets (messages of `protocol/hub.py`): `/ws/gp` needs the cookie and the hub's public origin;
`/ws/station` needs `Authorization: Bearer <station token>` and no browser Origin. The hub's logs
carry station, GP, session and booking ids, never a patient's name, a token or a password
(docs/design.md, data and security).
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy import text

from hub.accounts import AccountDirectory
from hub.accounts_api import AccountsApi
from hub.auth import Logins, display_name
from hub.booking.activity_api import ActivityApi
from hub.booking.book import Book
from hub.booking.desk import CoordinatorDesk
from hub.booking.duty import GpDuty
from hub.booking.feed import BookingFeed
from hub.booking.fhir import FhirApi
from hub.booking.ical import CalendarFeeds
from hub.booking.programme import Programme
from hub.booking.programme_desk import ProgrammeDesk
from hub.booking.public import PublicBooking
from hub.config import GpAccount, HubConfig
from hub.errors import Refusal, error_response
from hub.files import static_file
from hub.fleet.metrics import HubFigures, Metrics
from hub.fleet.service import FleetView
from hub.maintenance import RemoteMaintenance
from hub.mobile.desk import SecretaryDesk
from hub.mobile.reception import Reception
from hub.notify.outbox import Outbox
from hub.notify.senders import configured_senders
from hub.peers import CLOSE_TIMEOUT_S
from hub.relay import Relay
from hub.store import Store
from hub.store.accounts import import_accounts
from hub.sync.service import Synchronisation
from hub.totp import TotpStore
from runtime.clock import Clock
from runtime.errors import StationError
from ui import URL_PREFIX, WEB_DIR

log = logging.getLogger(__name__)

CONSOLE_DIR = Path(__file__).resolve().parent / "console"
COORDINATOR_DIR = Path(__file__).resolve().parent / "coordinator_page"
DESK_DIR = Path(__file__).resolve().parent / "desk_page"
MAX_BODY_BYTES = 16 * 1024  # a login is the largest body the hub takes

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Hub:
    """The hub server: GP logins, the waiting room, joins and signalling relay."""

    def __init__(self, config: HubConfig, *, clock: Clock | None = None, console_dir: Path = CONSOLE_DIR,
                 wall: Callable[[], float] = time.time) -> None:
        """`wall` is real Unix time, for TURN credentials' expiries, TOTP codes and the audit trail."""
        self._config = config
        self._console_dir = console_dir
        self.port = config.hub.port
        self._wall = wall
        self._store = Store(config.store_url())
        self._programme = Programme(self._store, config, wall)
        self._outbox = Outbox(self._store, config, wall, lambda: self.origin, configured_senders(config),
                              programme=self._programme)
        self.accounts = AccountDirectory(self._store, config, wall)
        self.book = Book(self._store, config, wall, accounts=self.accounts, programme=self._programme,
                         announce=self._outbox.announce)
        self._fhir = FhirApi(self.book, config, lambda: self.origin)
        self._calendars = CalendarFeeds(self.book, config)
        clock = clock or Clock()
        self._public = PublicBooking(self.book, config, clock.monotonic)
        # On a vehicle's hub, the secretary's reception hears of the cabin (docs/design.md, "The secretary's desk").
        self._reception = Reception(self._store, self.book, config, wall) if config.vehicle is not None else None
        # Technicians' remote runs (docs/design.md, "Remote maintenance"), sent through the relay built next.
        self._maintenance = RemoteMaintenance(self._store, self.accounts, wall,
                                              send=lambda sid, message: self._relay.send_to_station(sid, message),
                                              online=lambda sid: self._relay.online(sid))
        self._relay = Relay(config, self._store, wall, port=lambda: self.port, accounts=self.accounts,
                            feed=BookingFeed(self.book), watcher=self._reception,
                            health=lambda sid, health: self.fleet.report(sid, health), maintenance=self._maintenance)
        self.book.listen(lambda view: self._relay.booking_committed(view.id))
        if self._reception is not None:
            self._reception.attach(self._relay)
        self._logins = Logins(config, clock, secure_cookie=self.origin.startswith("https:"),
                              on_logout=self._relay.logged_out,
                              totp=TotpStore(self._store, wall) if config.durable_store else None,
                              issuer=urlsplit(self.origin).hostname or "cabin hub", accounts=self.accounts,
                              store=self._store)
        self._accounts_api = AccountsApi(self.accounts, self._logins, config)
        self._desk = CoordinatorDesk(self.book, self._logins, config)
        self._programme_desk = ProgrammeDesk(self.book, self._logins, config)
        self._duty = GpDuty(self.book, self._logins, config)
        self._activity = ActivityApi(self._store, self._programme, self._logins)
        # The stations' health, the fleet page and /metrics (docs/design.md, "The fleet view").
        self.fleet = FleetView(self._store, config, self._logins, wall, accounts=self.accounts)
        self.metrics = Metrics(self.fleet, self._figures, config.monitoring, wall)
        self._secretary = (SecretaryDesk(self._reception, self.book, self._logins, config)
                           if self._reception is not None else None)
        self.sync = Synchronisation(self._store, config, wall, book=self.book, announce=self._outbox.announce,
                                    logins=self._logins)
        self._runner: web.AppRunner | None = None

    def _routes(self) -> list[web.AbstractRouteDef]:
        """Every URL the hub serves."""
        return [
            web.get("/", self._console_index),
            web.get("/static/{path:.+}", self._console_file),
            web.static(URL_PREFIX, WEB_DIR, append_version=False),  # what the console shares with the kiosk page
            web.post("/api/login", self._from_console(self._logins.login)),
            web.post("/api/totp/enrol", self._from_console(self._logins.enrolment)),
            web.post("/api/totp/confirm", self._from_console(self._logins.confirm)),
            web.post("/api/totp/verify", self._from_console(self._logins.verify)),
            web.post("/api/logout", self._logins.logout),
            web.get("/api/me", self._me),
            web.get("/api/health", self._health),
            web.get("/ws/gp", self._gp_socket),
            web.get("/ws/station", self._station_socket),
            *self._fhir.routes(),  # booking platforms (docs/design.md, "FHIR and iCalendar")
            *self._calendars.routes(),
            *self._public.routes(),  # the public booking page and its API
            web.get("/coordinator", self._coordinator_index),
            web.get("/coordinator/{path:.+}", self._coordinator_file),
            *self._desk.routes(self._from_console),
            *self._programme_desk.routes(self._from_console),
            *self._duty.routes(self._from_console),
            *self._activity.routes(),  # the activity figures and their CSV (docs/design.md, "Activity")
            *self._desk_routes(),
            *self.sync.routes(),  # docs/design.md, "A day without network"
            *self.fleet.routes(),  # docs/design.md, "The fleet view"
            *self.metrics.routes(),
            *self._maintenance.routes(self._from_console, self._logins),
            *self._accounts_api.routes(self._from_console),  # docs/design.md, "Accounts in the store"
        ]

    def _figures(self) -> HubFigures:
        """This instance's own figures for its metrics."""
        stations, gps, waiting, joined = self._relay.figures()
        return HubFigures(stations=stations, gps=gps, waiting=waiting, joined=joined, relayed=self._relay.relayed)

    def _desk_routes(self) -> list[web.AbstractRouteDef]:
        """The secretary's desk and its API, on a vehicle's hub only."""
        if self._secretary is None:
            return []
        return [web.get("/desk", self._desk_index), web.get("/desk/{path:.+}", self._desk_file),
                *self._secretary.routes(self._from_console)]

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
        """Open the store, import the accounts of the hub's file into it, bind and serve."""
        if self._runner is not None:
            return
        await self._store.start()
        try:
            await self.sync.start()
            await self._import_accounts()
            await self.accounts.start()
            await self._programme.start()
            await self._relay.start()
            if self._reception is not None:
                await self._reception.start()
            await self._logins.start()
            await self._outbox.start()
            await self.fleet.start()
        except BaseException:
            await self.fleet.stop()
            await self._logins.stop()
            await self.accounts.stop()
            await self.sync.stop()
            await self._store.stop()
            raise
        app = web.Application(middlewares=[self._guard], client_max_size=MAX_BODY_BYTES)
        app.on_response_prepare.append(self._headers)
        app.add_routes(self._routes())
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=CLOSE_TIMEOUT_S)
        await runner.setup()
        hub = self._config.hub
        try:
            site = web.TCPSite(runner, hub.host, hub.port, ssl_context=self._ssl_context())
            await site.start()
        except (OSError, ssl.SSLError) as exc:
            await runner.cleanup()
            await self.fleet.stop()
            await self._outbox.stop()
            await self._logins.stop()
            await self.accounts.stop()
            await self.sync.stop()
            await self._store.stop()
            raise StationError(f"cannot serve the hub on {hub.host}:{hub.port}: {exc}") from exc
        self._runner = runner
        self.port = runner.addresses[0][1]
        log.info("hub listening on %s (origin %s)", self.url, self.origin)
        try:
            await self._relay.join_fleet()
        except StationError:
            await self.stop()
            raise
        await self.sync.connect()

    async def stop(self) -> None:
        """Close every WebSocket and the server; idempotent."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        await self.sync.stop()
        await self._relay.stop()
        await self._maintenance.stop()
        if self._reception is not None:
            await self._reception.stop()
        await runner.cleanup()
        await self.fleet.stop()
        await self._outbox.stop()
        await self._logins.stop()
        await self.accounts.stop()
        await self._store.stop()

    async def _import_accounts(self) -> None:
        """The first import: the file's accounts the store lacks (docs/design.md, "Accounts in the store")."""
        at = datetime.fromtimestamp(self._wall(), UTC)
        changes = await self._store.run(lambda session: import_accounts(session, self._config, at))
        for change in changes:
            log.info("hub store: %s (from the hub's file)", change)

    def _ssl_context(self) -> ssl.SSLContext | None:
        hub = self._config.hub
        if hub.tls_cert is None or hub.tls_key is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(hub.tls_cert, hub.tls_key)
        return context

    # The guards every request passes.

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if request.method == "POST" and origin is not None and origin != self.origin:
            return error_response(403, "forbidden_origin", f"requests must come from {self.origin}")
        try:
            await self._logins.recall(request)
            return await handler(request)
        except web.HTTPException:
            raise
        except Refusal as exc:
            return error_response(exc.status, exc.code, str(exc), **exc.details)
        except StationError as exc:  # the store not answering: the client may try again
            log.warning("hub request %s: %s", request.path, exc)
            return error_response(503, "store_unavailable", "the hub's store does not answer: try again in a moment")
        except Exception:
            log.exception("hub request %s failed", request.path)
            return error_response(500, "internal", "something went wrong in the hub")

    @property
    def content_security_policy(self) -> str:
        """The console's CSP: its own files only, its socket to this origin, camera snapshots as
        blob: images, no inline script or style, never framed (docs/design.md, "Data and security")."""
        socket = "ws" + self.origin.removeprefix("http")
        return "; ".join((
            "default-src 'self'", "script-src 'self'", "style-src 'self'", f"connect-src 'self' {socket}",
            "img-src 'self' data: blob:", "media-src 'self' blob:", "object-src 'none'", "base-uri 'none'",
            "form-action 'self'", "frame-ancestors 'none'",
        ))

    async def _headers(self, request: web.Request, response: web.StreamResponse) -> None:
        response.headers["Content-Security-Policy"] = self.content_security_policy
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        if request.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"

    def _from_console(self, handler: Handler) -> Handler:
        """`handler`, for requests from the console's own page (its Origin) with a JSON body; any other
        is refused before a password or code is checked."""
        async def guarded(request: web.Request) -> web.StreamResponse:
            if request.headers.get("Origin") != self.origin:
                raise Refusal(403, "forbidden_origin", f"use the hub's pages at {self.origin}")
            if request.content_type != "application/json":
                raise Refusal(415, "unsupported_media_type", "send JSON (Content-Type: application/json)")
            return await handler(request)
        return guarded

    # The GP console's files and its bootstrap.

    async def _console_index(self, request: web.Request) -> web.StreamResponse:
        return static_file(self._console_dir, "index.html", "the GP console")

    async def _console_file(self, request: web.Request) -> web.StreamResponse:
        return static_file(self._console_dir, request.match_info["path"], "the GP console")

    async def _coordinator_index(self, request: web.Request) -> web.StreamResponse:
        return static_file(COORDINATOR_DIR, "index.html", "the coordinator's console")

    async def _coordinator_file(self, request: web.Request) -> web.StreamResponse:
        return static_file(COORDINATOR_DIR, request.match_info["path"], "the coordinator's console")

    async def _desk_index(self, request: web.Request) -> web.StreamResponse:
        return static_file(DESK_DIR, "index.html", "the secretary's desk")

    async def _desk_file(self, request: web.Request) -> web.StreamResponse:
        return static_file(DESK_DIR, request.match_info["path"], "the secretary's desk")

    async def _health(self, request: web.Request) -> web.StreamResponse:
        """The proxy's health check: 200 while this instance serves (its store answering), 503 otherwise; with
        this instance's name and how many stations and GP consoles it holds (counts only)."""
        try:
            await self._store.run(lambda session: session.execute(text("SELECT 1")))
        except StationError as exc:
            return error_response(503, "unavailable", f"the hub's store does not answer: {exc}")
        stations, gps, _, _ = self._relay.figures()
        return web.json_response({"ok": True, "instance": self._relay.instance, "stations": stations, "gps": gps})

    async def _me(self, request: web.Request) -> web.StreamResponse:
        _, account = self._logins.account(request)
        if not isinstance(account, GpAccount):
            return web.json_response({"role": account.role, "username": account.username,
                                      "name": display_name(account)})
        sites = {s.id: s.site for s in self.accounts.stations}
        return web.json_response({
            "role": "gp",
            "username": account.username,
            "name": account.identity.name,
            "identity": account.identity.model_dump(),
            "stations": [{"id": s, "site": sites[s], "online": self._relay.online(s)} for s in account.stations
                         if s in sites],
            "ice_servers": [s.model_dump(exclude_none=True) for s in self._relay.ice_servers(account.username)],
            "ice_transport_policy": self._config.ice.transport_policy,
            "ical_url": self._calendars.url(self.origin, account.username),
        })

    # The WebSockets: who may open them.

    async def _gp_socket(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Origin") != self.origin:
            raise Refusal(403, "forbidden_origin", f"the GP console must be opened from {self.origin}")
        login_key, account = self._logins.session(request)
        return await self._relay.gp_socket(request, account, login_key)

    async def _station_socket(self, request: web.Request) -> web.StreamResponse:
        if "Origin" in request.headers:
            raise Refusal(403, "forbidden_origin", "stations do not connect from a browser")
        account = self.accounts.station_account(request.headers.get("Authorization", ""), request.remote)
        await self.accounts.connected(account)
        return await self._relay.station_socket(request, account)
