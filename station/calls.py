"""The station's side of a remote consultation: its hub link, the instruments legs, the kiosk's call.

`CallRelay` owns the `HubClient` (the station's one authenticated connection, dialled out)
and the `MediaDirector` (one aiortc instruments leg per GP connection). It tells the hub the
cabin's state, so a waiting patient appears in GPs' waiting rooms (by session id and site,
never by name); offers an instruments leg to a GP the hub sends; and relays the face-to-face
leg's signalling between the kiosk page and that GP. The face leg starts once the cabin is in
consultation (the GP has joined on the control channel) and the page hangs up by itself when
the consultation is over. A GP whose hub connection closes keeps her legs that are up; back through any
hub instance, she takes them back instead of setting them up again (docs/design.md, "A fleet of hubs").
It also reports the audit chain's head to the hub, and keeps the hub's acknowledgement beside the trail
(docs/design.md, "The audit chain").
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from pydantic import ValidationError

from hygiene.audit import ChainHead
from protocol.hub import AuditAck, AuditHead, CabinStatus, CallAnswer, GpJoin, SignalToStation, StationSignal
from protocol.states import CabinState
from runtime.errors import StationError
from runtime.tasks import TaskSet
from session.events import CabinEvent, StateChanged
from session.media import MediaDirector, MediaError
from station.hub_client import HubClient, HubOffline

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from config.schema import HubSection
    from devices.cameras import ExaminationCameras
    from devices.stethoscope import Stethoscope
    from hygiene.audit import AuditTrail
    from runtime.clock import Clock
    from session.appointments import AppointmentBook
    from session.core import CabinCore
    from session.gp_link import GpLink
    from station.hub_client import MaintenanceHandler, OnBoard
    from station.kiosk import KioskServer

    OnBoardHandler = Callable[[OnBoard], Awaitable[CallAnswer | None]]

log = logging.getLogger(__name__)

CALL_STATES = (CabinState.IN_CONSULTATION, CabinState.RECONNECTING)
AUDIT_HEAD_S = 60.0  # how often the audit chain's head is looked at, and sent to the hub if it moved on


class CallRelay:
    """Connects one cabin to its hub: status out, GPs in, media legs set up and relayed."""

    def __init__(self, config: HubSection, cabin: CabinCore, clock: Clock, gp_link: GpLink, kiosk: KioskServer,
                 cameras: ExaminationCameras | None, site_name: str, audit: AuditTrail,
                 book: AppointmentBook | None = None, on_board: OnBoardHandler | None = None,
                 stethoscope: Stethoscope | None = None, on_maintenance: MaintenanceHandler | None = None) -> None:
        """`on_board`: the vehicle's station (docs/design.md, "On board") acts on the secretary's messages
        and never starts a face-to-face leg; `stethoscope` sounds on the instruments legs; `on_maintenance`
        answers a technician's remote runs (docs/design.md, "Remote maintenance")."""
        self._cabin = cabin
        self._audit = audit
        self._clock = clock
        self._kiosk = kiosk
        self._site_name = site_name
        self._on_board = on_board
        self.hub = HubClient(config, clock, on_gp_join=self._gp_join, on_signal=self._signal,
                             on_gp_left=self._gp_left, on_gp_gone=self._gp_gone, on_audit_ack=self._audit_ack,
                             bookings=book,
                             on_board=self._from_desk if on_board is not None else None,
                             on_maintenance=on_maintenance)
        self.media = MediaDirector(gp_link.attach, self._send_offer, cameras, stethoscope=stethoscope,
                                   on_orphan_lost=self._orphan_lost)
        self._face_gp: str | None = None  # the GP connection the kiosk's camera goes to
        self._status_changed = asyncio.Event()
        self._tasks = TaskSet("calls", log)
        self._unsubscribe: Callable[[], object] | None = None

    async def start(self) -> None:
        """Dial the hub, accept GPs, and follow the cabin; idempotent."""
        if self._unsubscribe is not None:
            return
        await self.media.start()
        await self.hub.start()
        self._unsubscribe = self._cabin.subscribe(self._on_event)
        self._kiosk.listen_to_page(self._from_page)
        self._tasks.spawn(self._publish(), "hub-status")
        self._tasks.spawn(self._report_audit(), "audit-head")
        self._status_changed.set()

    async def stop(self) -> None:
        """Hang up, close every leg and the hub connection; idempotent."""
        await self._tasks.cancel_all()
        self._kiosk.listen_to_page(None)
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._face_gp is not None:
            self._face_gp = None
            self._kiosk.tell_pages({"type": "hangup"})
        await self.media.stop()
        await self.hub.stop()

    def _status(self) -> CabinStatus:
        cabin = self._cabin.snapshot()
        c = cabin.consultation
        since = c.waiting_since.isoformat() if c is not None and c.waiting_since is not None else None
        # How long by the station's clock (the simulator's may run elsewhere than the GP's browser's).
        waited = (max(0.0, (self._clock.now() - c.waiting_since).total_seconds())
                  if c is not None and c.waiting_since is not None else None)
        # The consultation's GP is the identity the hub vouched for on the leg (GpLink.attach).
        doctor = c.gp.rpps if c is not None and c.gp is not None and cabin.state in CALL_STATES else None
        # The GP the booking names has the first claim on the waiting patient (docs/design.md, "Bookings at
        # the cabin").
        booked = (c.appointment.gp_username or None
                  if c is not None and c.appointment is not None and cabin.state is CabinState.WAITING_FOR_DOCTOR
                  else None)
        return CabinStatus(site=self._site_name, state=cabin.state, session=c.session if c is not None else None,
                           since=since, waited_s=waited, doctor=doctor, booked_gp=booked,
                           visit=c.visit if c is not None else None)

    async def _publish(self) -> None:
        """The one sender of the cabin's status: the latest state, after every change."""
        while True:
            await self._status_changed.wait()
            self._status_changed.clear()
            await self.hub.send_status(self._status())

    async def _report_audit(self) -> None:
        """The audit chain's head to the hub: at start, then every AUDIT_HEAD_S when it has moved on."""
        sent: ChainHead | None = None
        while True:
            try:
                head = await self._audit.head()
            except StationError as exc:
                log.warning("the audit chain's head is not reported to the hub: %s", exc)
            else:
                if head is not None and head != sent:
                    await self.hub.send_audit_head(AuditHead(seq=head.seq, hash=head.hash))
                    sent = head
            await self._clock.sleep(AUDIT_HEAD_S)

    async def _audit_ack(self, ack: AuditAck) -> None:
        try:
            await self._audit.acknowledged(ChainHead(ack.seq, ack.hash))
        except (OSError, StationError) as exc:
            log.warning("the hub's acknowledgement of audit entry %s is not kept: %s", ack.seq, exc)

    def _on_event(self, event: CabinEvent) -> None:
        if not isinstance(event, StateChanged):
            return
        self._status_changed.set()
        if event.state is CabinState.IN_CONSULTATION and event.source is not CabinState.RECONNECTING:
            self._call()
        if event.source in CALL_STATES and event.state not in CALL_STATES:
            self._face_gp = None  # the call is over: the kiosk page hangs up by itself
            self._tasks.spawn(self.media.drop_orphans(), "drop-orphaned-legs")

    async def _from_desk(self, message: OnBoard) -> None:
        """The secretary's desk, through the hub: a call is answered, whatever its outcome."""
        assert self._on_board is not None
        answer = await self._on_board(message)
        if answer is None:
            return
        try:
            await self.hub.send_answer(answer)
        except HubOffline as exc:
            log.warning("the answer to the call for visit %s is not sent: %s", answer.visit, exc)

    def _call(self) -> None:
        if self._face_gp is None or self._on_board is not None or self._cabin.state not in CALL_STATES:
            return
        servers = [server.model_dump(exclude_none=True) for server in self.hub.ice_servers]
        self._kiosk.tell_pages({"type": "call", "ice_servers": servers,
                                "ice_transport_policy": self.hub.ice_transport_policy})

    async def _gp_join(self, message: GpJoin) -> None:
        c = self._cabin.consultation
        if c is None or c.session != message.session:
            log.warning("GP %s asked for session %s, which is not this cabin's", message.gp, message.session)
            return
        # Legs kept only for the consultation's own GP, as the control channel knows her.
        kept = set(message.kept or ()) if c.gp is not None and c.gp.rpps == message.identity.rpps else set()
        previous = self._face_gp
        if previous is not None:
            # The same GP back, on a new hub connection or the same one: the legs still up on both sides go on
            # (docs/design.md, "A fleet of hubs"); the others are set up again.
            if "instruments" in kept and self.media.rebind(previous, message.gp):
                log.info("GP %s is back as %s: the instruments leg goes on", previous, message.gp)
            elif previous != message.gp:
                await self.media.gp_left(previous)
        self._face_gp = message.gp
        self.media.set_ice_servers([server.model_dump(exclude_none=True) for server in self.hub.ice_servers],
                                   self.hub.ice_transport_policy)
        await self.media.gp_joined(message.gp, message.identity)
        if previous is None or "face" not in kept:
            self._call()  # a GP coming back without her call gets the patient's camera again

    async def _send_offer(self, gp: str, description: dict[str, str]) -> None:
        await self.hub.send_signal(StationSignal.model_validate(
            {"type": "signal", "gp": gp, "leg": "instruments", "description": description}))

    async def _signal(self, message: SignalToStation) -> None:
        if message.leg == "instruments":
            try:
                if message.description is not None:
                    await self.media.answer(message.gp, message.description.model_dump())
                elif message.candidate is not None:
                    await self.media.candidate(message.gp, message.candidate.model_dump(exclude_none=True))
            except MediaError as exc:
                log.warning("instruments signal from GP %s not used: %s", message.gp, exc)
            return
        if message.gp != self._face_gp:
            log.warning("face signal from GP %s, who is not in this cabin's call", message.gp)
            return
        relayed: dict[str, object] = {"type": "signal", "leg": "face"}
        if message.description is not None:
            relayed["description"] = message.description.model_dump()
        if message.candidate is not None:
            relayed["candidate"] = message.candidate.model_dump(exclude_none=True)
        self._kiosk.tell_pages(relayed)

    async def _gp_left(self, gp: str) -> None:
        """The GP left the consultation: her legs close, the kiosk hangs up."""
        await self.media.gp_left(gp)
        self._hang_up(gp)

    async def _gp_gone(self, gp: str) -> None:
        """The GP's hub connection closed: during the consultation what is up of her legs goes on until it drops,
        or she comes back to it (docs/design.md, "A fleet of hubs"); otherwise it is as if she left."""
        if self._cabin.state in CALL_STATES:
            await self.media.orphan(gp)
        else:
            await self._gp_left(gp)

    def _orphan_lost(self, gp: str) -> None:
        """A leg kept for a GP whose hub connection closed has dropped: she is gone, the kiosk hangs up."""
        self._hang_up(gp)

    def _hang_up(self, gp: str) -> None:
        if gp == self._face_gp:
            self._face_gp = None
            self._kiosk.tell_pages({"type": "hangup"})

    async def _from_page(self, message: dict[str, object]) -> None:
        if message.get("type") == "ready":
            self._call()
            return
        if self._face_gp is None:
            return
        try:
            signal = StationSignal.model_validate({**message, "gp": self._face_gp})
        except ValidationError as exc:
            log.warning("kiosk page sent a signal the hub would refuse: %s", exc.errors()[0]["msg"])
            return
        try:
            await self.hub.send_signal(signal)
        except HubOffline as exc:
            log.warning("face signal not relayed: %s", exc)
