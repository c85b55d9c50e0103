"""The station's one authenticated connection to the hub (`hub/server.py`).

The cabin sits behind NAT, so the station dials out: `ws(s)://.../ws/station` with its token
as a Bearer header, and keeps dialling with exponential backoff (and jitter, so that cabins do
not all come back at once after a hub restart) for as long as it runs. It holds the cabin's
latest status and sends it again after every reconnection (a waiting patient's wait counted on
to that moment by the station's clock), so the hub's waiting room is right whatever the order
of events. Messages from the hub reach the station's handlers in order,
from one task, so a slow handler never stops the connection from answering heartbeats.

It keeps the audit chain's latest head too, sent like the status (again after every
reconnection), and hands the hub's acknowledgements to `on_audit_ack` (docs/design.md, "The
audit chain"); and so the cabin's latest health report (docs/design.md, "The fleet view").

It hands the cabin's bookings to `bookings` (the appointment book): the pages of the snapshot the
hub sends after each welcome, once the last has come, as one set to `replace`; then each change
(docs/design.md, "Bookings at the cabin"). A snapshot cut off by a dropped connection is dropped.

A technician's `maintenance` runs go to `on_maintenance` (`station/remote_maintenance.py`), each
in a task of its own so that a self-test does not hold up the other messages, and its result goes
back to the hub (docs/design.md, "Remote maintenance").

A GP who left the consultation goes to `on_gp_left`; one whose hub connection closed, to `on_gp_gone`
(the same handler when none is given): her media legs may go on. When the station's own connection drops
the hub forgets which GP joined: the client then calls `on_gp_gone` for every GP it had been told of, so
the station sees the same thing the hub does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Protocol

import aiohttp

from config.schema import HubSection
from protocol.hub import (
    MAX_MESSAGE_BYTES,
    TO_STATION,
    AuditAck,
    AuditHead,
    BookingChanged,
    BookingGone,
    Bookings,
    CabinBooking,
    CabinStatus,
    CallAnswer,
    CallPatient,
    ErrorMessage,
    GpJoin,
    GpLeft,
    HubProtocolError,
    IceServer,
    IceTransportPolicy,
    Maintenance,
    MaintenanceResult,
    QueueBoard,
    SignalToStation,
    StationHealth,
    StationSignal,
    StationWelcome,
    StopState,
    dump,
    parse,
)
from runtime.backoff import Backoff
from runtime.clock import Clock
from runtime.errors import StationError
from runtime.tasks import TaskSet

log = logging.getLogger(__name__)

HEARTBEAT_S = 20.0
CONNECT_TIMEOUT_S = 15.0
CLOSE_TIMEOUT_S = 2.0
INBOX_SIZE = 256

GpJoinHandler = Callable[[GpJoin], Awaitable[None]]
SignalHandler = Callable[[SignalToStation], Awaitable[None]]
GpLeftHandler = Callable[[str], Awaitable[None]]
AuditAckHandler = Callable[[AuditAck], Awaitable[None]]
OnBoard = CallPatient | StopState | QueueBoard  # the mobile office's messages (docs/design.md, "The mobile office")
OnBoardHandler = Callable[[OnBoard], Awaitable[None]]
MaintenanceHandler = Callable[[Maintenance], Awaitable[MaintenanceResult]]
Inbound = (GpJoin | SignalToStation | GpLeft | AuditAck | BookingChanged | BookingGone | OnBoard | Maintenance
           | tuple[CabinBooking, ...])


class BookingSink(Protocol):
    """Where the hub's bookings for this cabin go (session/appointments.py's AppointmentBook)."""

    async def replace(self, bookings: tuple[CabinBooking, ...]) -> None: ...
    async def apply(self, booking: CabinBooking) -> None: ...
    async def withdraw(self, code: str) -> None: ...

# What a refusal of the hub means for the technician reading the station's log.
REFUSALS = {
    401: ": this station's token is not the hub's (see [hub] token, or a rotation the station missed)",
    409: ": another connection with this station's token is live at the hub (a copied token, or the "
         "station's previous connection not yet timed out)",
}


class HubOffline(StationError):
    """The station is not connected to the hub right now."""


class HubClient:
    """Keeps the station connected to its hub and routes the hub's messages to the station's handlers."""

    def __init__(self, config: HubSection, clock: Clock, *, on_gp_join: GpJoinHandler, on_signal: SignalHandler,
                 on_gp_left: GpLeftHandler, on_gp_gone: GpLeftHandler | None = None,
                 on_audit_ack: AuditAckHandler | None = None,
                 bookings: BookingSink | None = None, on_board: OnBoardHandler | None = None,
                 on_maintenance: MaintenanceHandler | None = None, backoff_s: float = 1.0, max_backoff_s: float = 60.0,
                 rng: random.Random | None = None) -> None:
        self._config = config
        self._clock = clock
        self._on_gp_join = on_gp_join
        self._on_signal = on_signal
        self._on_gp_left = on_gp_left
        self._on_gp_gone = on_gp_gone or on_gp_left
        self._on_audit_ack = on_audit_ack
        self._bookings = bookings
        self._on_board = on_board
        self._on_maintenance = on_maintenance
        self._snapshot: list[CabinBooking] = []  # the pages of this connection's snapshot so far
        # Jitter: after a hub restart, every cabin of the fleet must not dial at the same instant.
        self._backoff = Backoff(backoff_s, max_backoff_s, jitter=0.5, rng=rng)
        self._status: CabinStatus | None = None
        self._status_made = 0.0  # clock.monotonic() when the latest status was given
        self._audit_head: AuditHead | None = None
        self._health: StationHealth | None = None
        self._ice: tuple[IceServer, ...] = ()
        self._ice_policy: IceTransportPolicy = "all"
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._welcomed = asyncio.Event()
        self._gps: set[str] = set()  # GP connections the hub has told of and not yet of their leaving
        self._inbox: asyncio.Queue[Inbound] = asyncio.Queue(INBOX_SIZE)
        self._session: aiohttp.ClientSession | None = None
        self._tasks = TaskSet("hub", log)

    @property
    def connected(self) -> bool:
        """Whether the hub has welcomed this station on a connection that is still open."""
        return self._welcomed.is_set()

    @property
    def ice_servers(self) -> tuple[IceServer, ...]:
        """The STUN and TURN servers from the hub's latest welcome (empty before the first)."""
        return self._ice

    @property
    def ice_transport_policy(self) -> IceTransportPolicy:
        """"relay" when the hub's latest welcome says every media leg goes through TURN, "all" otherwise."""
        return self._ice_policy

    async def start(self) -> None:
        """Start dialling the hub in the background; returns at once."""
        if self._session is not None:
            return
        self._session = aiohttp.ClientSession()
        self._tasks.spawn(self._run(), "connection")
        self._tasks.spawn(self._dispatch(), "dispatch")

    async def stop(self) -> None:
        """Close the connection and stop dialling; idempotent."""
        await self._tasks.cancel_all(CONNECT_TIMEOUT_S)
        self._welcomed.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def wait_connected(self) -> None:
        """Wait until the hub has welcomed the station (wrap in asyncio.timeout to bound it)."""
        await self._welcomed.wait()

    async def send_status(self, status: CabinStatus) -> None:
        """Tell the hub the cabin's state now, or after the next reconnection if offline."""
        self._status, self._status_made = status, self._clock.monotonic()
        with contextlib.suppress(HubOffline):
            await self._send(dump(status))

    async def send_audit_head(self, head: AuditHead) -> None:
        """Tell the hub the audit chain's head now, or after the next reconnection if offline."""
        self._audit_head = head
        with contextlib.suppress(HubOffline):
            await self._send(dump(head))

    async def send_health(self, health: StationHealth) -> None:
        """Tell the hub the cabin's health now, or after the next reconnection if offline."""
        self._health = health
        with contextlib.suppress(HubOffline):
            await self._send(dump(health))

    def _status_now(self, status: CabinStatus) -> CabinStatus:
        """The latest status as it stands now: a patient's wait has gone on while the hub was away."""
        if status.waited_s is None:
            return status
        aged = status.waited_s + max(0.0, self._clock.monotonic() - self._status_made)
        return status.model_copy(update={"waited_s": aged})

    async def send_answer(self, answer: CallAnswer) -> None:
        """Answer the secretary's call; HubOffline when not connected (the desk then sees no answer)."""
        await self._send(dump(answer))

    async def send_signal(self, signal: StationSignal) -> None:
        """Relay signalling to a GP through the hub; HubOffline when not connected."""
        await self._send(dump(signal))

    async def _send(self, text: str) -> None:
        ws = self._ws
        if ws is None or ws.closed or not self.connected:
            raise HubOffline("the station is not connected to the hub")
        try:
            await ws.send_str(text)
        except (ConnectionError, aiohttp.ClientError) as exc:
            raise HubOffline(f"the hub connection dropped while sending: {exc}") from exc

    async def _run(self) -> None:
        outage = False
        while True:
            try:
                await self._connect(outage)
                reason = "the hub closed the connection"
            except aiohttp.WSServerHandshakeError as exc:
                reason = f"the hub refused the connection (HTTP {exc.status}{REFUSALS.get(exc.status, '')})"
            except (aiohttp.ClientError, OSError, TimeoutError, HubProtocolError) as exc:
                reason = str(exc) or type(exc).__name__
            except Exception as exc:  # a bug must not end the station's only way to its GPs
                log.exception("hub connection failed unexpectedly")
                reason = type(exc).__name__
            was_connected = self.connected
            if was_connected:
                self._backoff.reset()
                outage = False
            await self._lost()
            if not outage:
                log.warning("%s the hub at %s: %s; retrying in the background",
                            "lost" if was_connected else "cannot reach", self._config.url, reason)
                outage = True
            await self._backoff.pause(self._clock)

    async def _connect(self, outage: bool) -> None:
        """One connection: dial, wait for the welcome, resend the status, read until it closes."""
        assert self._session is not None
        headers = {"Authorization": f"Bearer {self._config.token.get_secret_value()}"}
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            ws = await self._session.ws_connect(
                self._config.url, headers=headers, heartbeat=HEARTBEAT_S, max_msg_size=MAX_MESSAGE_BYTES,
                timeout=aiohttp.ClientWSTimeout(ws_close=CLOSE_TIMEOUT_S),
            )
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                first = await ws.receive()
            welcome = parse(TO_STATION, first.data) if first.type is aiohttp.WSMsgType.TEXT else None
            if not isinstance(welcome, StationWelcome):
                raise HubProtocolError("the hub did not start with a welcome")
            self._welcome(welcome)
            self._snapshot = []
            self._ws = ws
            self._welcomed.set()
            log.info("connected to the hub%s as station %s", " again" if outage else "", welcome.station)
            if self._status is not None:
                await ws.send_str(dump(self._status_now(self._status)))
            if self._audit_head is not None:
                await ws.send_str(dump(self._audit_head))
            if self._health is not None:
                await ws.send_str(dump(self._health))
            async for msg in ws:
                if msg.type is aiohttp.WSMsgType.TEXT:
                    await self._receive(msg.data)
                elif msg.type is aiohttp.WSMsgType.ERROR:
                    raise ConnectionError(f"hub connection broken: {msg.data}")
        finally:
            self._ws = None
            await ws.close()

    def _welcome(self, welcome: StationWelcome) -> None:
        if welcome.station != self._config.station_id:
            log.warning("the hub knows this station's token as %s, not %s: check [hub] station_id",
                        welcome.station, self._config.station_id)
        self._ice = welcome.ice_servers
        self._ice_policy = welcome.ice_transport_policy or "all"

    async def _receive(self, text: str) -> None:
        try:
            message = parse(TO_STATION, text)
        except HubProtocolError as exc:
            log.warning("the hub sent an invalid message: %s", exc)
            return
        if isinstance(message, StationWelcome):
            self._welcome(message)
        elif isinstance(message, ErrorMessage):
            log.warning("the hub refused a message: %s (%s)", message.message, message.code)
        elif isinstance(message, Bookings):
            self._snapshot.extend(message.bookings)
            if not message.more:
                await self._inbox.put(tuple(self._snapshot))
                self._snapshot = []
        else:
            if isinstance(message, GpJoin):
                self._gps.add(message.gp)
            elif isinstance(message, GpLeft):
                self._gps.discard(message.gp)
            await self._inbox.put(message)

    async def _lost(self) -> None:
        """The connection is over: the hub has released every GP, and the station hears of it (their media legs
        go on while up: they come back to them through the hub they reach next)."""
        self._welcomed.clear()
        for gp in sorted(self._gps):
            await self._inbox.put(GpLeft(gp=gp))
        self._gps.clear()

    async def _dispatch(self) -> None:
        while True:
            message = await self._inbox.get()
            try:
                if isinstance(message, GpJoin):
                    await self._on_gp_join(message)
                elif isinstance(message, SignalToStation):
                    await self._on_signal(message)
                elif isinstance(message, AuditAck):
                    if self._on_audit_ack is not None:
                        await self._on_audit_ack(message)
                elif isinstance(message, GpLeft):
                    await (self._on_gp_left if message.left else self._on_gp_gone)(message.gp)
                elif isinstance(message, CallPatient | StopState | QueueBoard):
                    if self._on_board is not None:
                        await self._on_board(message)
                elif isinstance(message, Maintenance):
                    self._tasks.spawn(self._maintain(message), f"maintenance-{message.run}")
                else:
                    await self._booking(message)
            except Exception:
                log.exception("the station's handler of the hub's %s message failed",
                              "bookings" if isinstance(message, tuple) else message.type)

    async def _maintain(self, run: Maintenance) -> None:
        """Do a technician's run and send its result; a station that does no remote maintenance says so."""
        if self._on_maintenance is None:
            result = MaintenanceResult(run=run.run, action=run.action, ok=False, code="failed",
                                       error="this station does no remote maintenance")
        else:
            result = await self._on_maintenance(run)
        try:
            await self._send(dump(result))
        except HubOffline as exc:
            log.warning("the result of maintenance run %s is not sent: %s", run.run, exc)

    async def _booking(self, message: BookingChanged | BookingGone | tuple[CabinBooking, ...]) -> None:
        if self._bookings is None:
            return
        if isinstance(message, BookingChanged):
            await self._bookings.apply(message.booking)
        elif isinstance(message, BookingGone):
            await self._bookings.withdraw(message.code)
        else:
            await self._bookings.replace(message)
