"""The secretary's reception at a mobile unit's stop, on the vehicle's hub (docs/design.md, "The secretary's
desk"): the stop's day, the patients welcomed (a visit each, with a ticket number and the reason for the
visit), walk-ins, the waiting order, "next patient" to the cabin on board, and what the cabin answers.

The visits of the day are kept in the hub's store and read into memory after each change, so that the
relay's questions (`details`, for the GP's waiting room) never wait on the store; changes run one at a
time (one vehicle, one hub). The reason for the visit stays on this hub and is wiped when the visit ends.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Protocol, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hub.booking.book import Book
from hub.booking.programme import StopView
from hub.booking.records import BookingRequest, BookingView
from hub.config import HubConfig, SiteSection
from hub.errors import Refusal
from hub.mobile.visits import (
    IN_CABIN,
    VisitView,
    board,
    ends_visit,
    in_cabin,
    next_position,
    next_ticket,
    reordered,
    waiting,
)
from hub.store import Store
from hub.store.models import AuditEntry, Visit
from protocol.hub import CabinStatus, CallAnswer, CallPatient, StopState
from protocol.states import CabinState
from protocol.versioned import Message
from runtime.tasks import TaskSet

log = logging.getLogger(__name__)

REFUSED_STATUS = {"cancelled": "booking_cancelled", "conflict": "booking_conflict", "no_show": "booking_no_show"}
CALL_ANSWER_S = 30.0  # real seconds the cabin has to answer a call before the patient is back in the queue


T = TypeVar("T")


class Stations(Protocol):
    """What the reception needs of the relay: send to the station, tell the GPs their rooms changed."""

    def online(self, station_id: str) -> bool: ...

    def send_to_station(self, station_id: str, message: Message) -> bool: ...

    def refresh_rooms(self) -> None: ...


@dataclass(frozen=True)
class Answer:
    """The cabin's last answer to a call, for the secretary."""

    visit: str
    ticket: int | None
    accepted: bool
    code: str | None
    message: str | None


@dataclass(frozen=True)
class Day:
    """The stop's day as the desk shows it."""

    site_code: str
    day: date
    stop: StopView | None
    bookings: list[BookingView]
    visits: list[VisitView]
    online: bool
    cabin: CabinStatus | None
    answer: Answer | None


class Reception:
    """One vehicle's stop: its visits, its waiting list and its cabin (the `StationWatcher` of the relay)."""

    def __init__(self, store: Store, book: Book, config: HubConfig, wall: Callable[[], float]) -> None:
        assert config.vehicle is not None, "a reception runs on a vehicle's hub"
        self._store = store
        self._book = book
        self._config = config
        self._wall = wall
        self.site_code = config.vehicle.site_code
        self.station = config.vehicle.station
        self._relay: Stations | None = None
        self._visits: tuple[VisitView, ...] = ()
        self._day: date | None = None
        self._cabin: CabinStatus | None = None
        self._current: str | None = None  # the visit the cabin reported last, while a patient is in it
        self._answer: Answer | None = None
        self._told: StopState | None = None  # the stop's state the cabin was last sent
        book.programme.listen(self._programme_read)
        self.answer_s = CALL_ANSWER_S  # real seconds a call waits for the cabin's answer
        self._lock = asyncio.Lock()
        self._tasks = TaskSet("reception", log)

    def attach(self, relay: Stations) -> None:
        """The relay the station connects to (made after the reception, which it is given as its watcher)."""
        self._relay = relay

    async def start(self) -> None:
        """Read the day's visits (the store open by then)."""
        await self._reload()

    async def stop(self) -> None:
        """Stop handling the cabin's reports; idempotent."""
        await self._tasks.cancel_all()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._wall(), UTC)

    @property
    def site(self) -> SiteSection:
        return self._book.site(self.site_code)

    def today(self) -> date:
        """The local date at the vehicle's site."""
        return self.now().astimezone(self.site.zone).date()

    # Reading.

    async def day(self) -> Day:
        """Today's stop, its bookings in the vehicle's cabin, the visits, the cabin's state and last answer."""
        if self._day != self.today():
            async with self._lock:
                await self._reload()
        day = self.today()
        bookings = await self._book.day_list(self.station, day)
        return Day(self.site_code, day, self._book.programme.stop_on(self.site_code, day), bookings, list(self._visits),
                   self._online(), self._cabin, self._answer)

    # The secretary's acts: each one at a time, audited with her username.

    async def welcome(self, code: str, birth_date: date, reason: str, *, actor: str) -> VisitView:
        """A booked patient arrives: the birth date they give must be the booking's; a visit at the end."""
        booking = await self._book.find(code)
        if booking is None:
            raise Refusal(404, "unknown_booking", "no booking has this code")
        if booking.birth_date != birth_date:
            raise Refusal(422, "identity_mismatch", "this birth date is not the booking's: check the identity")
        if booking.status in REFUSED_STATUS:
            raise Refusal(409, REFUSED_STATUS[booking.status], f"this booking is {booking.status.replace('_', ' ')}")
        if booking.station_id != self.station or booking.slot_start.astimezone(self.site.zone).date() != self.today():
            raise Refusal(409, "other_day", "this booking is for another day or place: see its date with the patient")
        async with self._lock:
            self._check_open()
            return await self._add_visit(booking, reason, actor)

    async def walk_in(self, request: BookingRequest, reason: str, *, actor: str) -> tuple[BookingView, VisitView]:
        """A patient without a booking: booked on the spot in the vehicle's cabin, then welcomed."""
        async with self._lock:
            self._check_open()
            here = request.model_copy(update={"site": self.site_code, "station": self.station, "start": self.now()})
            booking = await self._book.walk_in(here, actor=actor)
            return booking, await self._add_visit(booking, reason, actor)

    async def reorder(self, order: list[str], *, actor: str) -> None:
        """Put the waiting visits in `order` (each named once)."""
        async with self._lock:
            places = reordered(self._visits, order)

            def write(session: Session) -> None:
                for visit_id, place in places.items():
                    self._row(session, visit_id).position = place
                self._audit(session, actor, "waiting order changed", self.site_code)
            await self._write(write)

    async def set_reason(self, visit_id: str, reason: str, *, actor: str) -> VisitView:
        """Correct the reason for a visit not over yet."""
        async with self._lock:
            def write(session: Session) -> VisitView:
                row = self._row(session, visit_id, "waiting", *IN_CABIN)
                row.reason = reason
                self._audit(session, actor, "visit reason changed", visit_id)
                return VisitView.of(row)
            return await self._write(write)

    async def left(self, visit_id: str, *, actor: str) -> VisitView:
        """The patient went away before being seen."""
        async with self._lock:
            def write(session: Session) -> VisitView:
                row = self._row(session, visit_id, "waiting", "called")
                row.status, row.reason, row.ended_at = "left", "", self.now()
                self._audit(session, actor, "visitor left", visit_id)
                return VisitView.of(row)
            return await self._write(write)

    async def no_show(self, code: str, *, actor: str) -> BookingView:
        """A booked patient who did not come today."""
        found = await self._book.find(code)
        if found is None or found.station_id != self.station:
            raise Refusal(404, "unknown_booking", "no booking of this stop has this code")
        if any(v.booking_id == found.id for v in self._visits):
            raise Refusal(409, "already_welcomed", "this patient was welcomed today")
        return await self._book.no_show(code, actor=actor)

    async def call_next(self, *, actor: str) -> VisitView:
        """Send the first waiting patient to the doctor: the cabin checks them in (`call`)."""
        async with self._lock:
            self._check_open()
            if not self._online():
                raise Refusal(409, "cabin_offline", "the cabin is not connected to the vehicle's hub")
            busy = in_cabin(self._visits)
            if busy is not None:
                raise Refusal(409, "cabin_busy", f"ticket {busy.ticket} is still with the doctor")
            queue = waiting(self._visits)
            if not queue:
                raise Refusal(409, "nobody_waiting", "nobody is waiting")
            booking = await self._book.get(queue[0].booking_id)
            if booking is None or booking.status != "booked":
                raise Refusal(409, "not_live", f"ticket {queue[0].ticket}'s booking is no longer live")

            def write(session: Session) -> VisitView:
                row = self._row(session, queue[0].id, "waiting")
                row.status, row.called_at = "called", self.now()
                self._audit(session, actor, "patient called", row.id)
                return VisitView.of(row)
            called = await self._write(write)
            self._answer = None
            if self._relay is None or not self._relay.send_to_station(
                    self.station, CallPatient(visit=called.id, ticket=called.ticket, code=booking.code)):
                await self._mark(called.id, ("called",), status="waiting", called_at=None)
                raise Refusal(409, "cabin_offline", "the cabin is not connected to the vehicle's hub")
            self._tasks.spawn(self._unanswered(called.id, called.ticket), "reception-call")
            return called

    async def set_open(self, open_: bool, *, actor: str) -> StopView:
        """Open or close today's stop, and tell the cabin."""
        async with self._lock:
            stop = await self._book.programme.set_open(self.site_code, self.today(), open_, actor=actor)
            self._tell_stop()
            return stop

    # The cabin (the relay's StationWatcher).

    def connected(self, station_id: str) -> None:
        if station_id == self.station:
            self._told = None  # a new connection hears it again
            self._tell_stop()
            self._send(board(self._visits))

    def status(self, station_id: str, status: CabinStatus) -> None:
        if station_id == self.station:
            self._cabin = status
            self._tasks.spawn(self._cabin_moved(status), "reception-status")

    def answered(self, station_id: str, answer: CallAnswer) -> None:
        if station_id == self.station:
            self._tasks.spawn(self._cabin_answered(answer), "reception-answer")

    def details(self, station_id: str, status: CabinStatus) -> tuple[int | None, str | None]:
        visit = next((v for v in self._visits if v.id == status.visit), None)
        if station_id != self.station or visit is None:
            return None, None
        return visit.ticket, visit.reason or None

    async def _cabin_moved(self, status: CabinStatus) -> None:
        """In consultation: the visit is seen; out of the patient's states: it is done, its reason wiped."""
        async with self._lock:
            if status.visit is not None and not ends_visit(status.state):
                self._current = status.visit
                if status.state == CabinState.IN_CONSULTATION:
                    await self._mark(status.visit, ("called",), status="seen", started_at=self.now())
            elif ends_visit(status.state):
                ending, self._current = self._current, None
                for visit in self._visits:
                    if visit.status == "seen" or (visit.id == ending and visit.status in IN_CABIN):
                        await self._mark(visit.id, IN_CABIN, status="done", ended_at=self.now(), reason="")

    async def _unanswered(self, visit_id: str, ticket: int) -> None:
        """A call the cabin has not answered in `answer_s` (the link dropped, its handler failed): the patient
        is back in its place in the queue, and the secretary is told to call again."""
        await asyncio.sleep(self.answer_s)
        async with self._lock:
            if self._answer is not None and self._answer.visit == visit_id:
                return
            if any(v.id == visit_id and v.status == "called" for v in self._visits):
                log.warning("the cabin did not answer the call of visit %s in %.0f s", visit_id, self.answer_s)
                self._answer = Answer(visit_id, ticket, False, "no_answer", "the cabin did not answer: call again")
                await self._mark(visit_id, ("called",), status="waiting", called_at=None)

    async def _cabin_answered(self, answer: CallAnswer) -> None:
        """The cabin checked the patient in, or refused: the visit is back to waiting, the secretary sees why."""
        async with self._lock:
            visit = next((v for v in self._visits if v.id == answer.visit), None)
            self._answer = Answer(answer.visit, visit.ticket if visit else None, answer.accepted, answer.code,
                                  answer.message)
            if not answer.accepted:
                log.info("the cabin refused visit %s: %s", answer.visit, answer.code)
                await self._mark(answer.visit, ("called",), status="waiting", called_at=None)

    # Inside.

    async def _mark(self, visit_id: str, statuses: tuple[str, ...], **changes: object) -> None:
        """Change a visit the cabin reported, when it is in one of `statuses` (else nothing)."""
        def write(session: Session) -> None:
            row = session.get(Visit, visit_id)
            if row is not None and row.status in statuses:
                for name, value in changes.items():
                    setattr(row, name, value)
                row.changed_at, row.changed_on = self.now(), self._config.origin
        await self._write(write)

    async def _add_visit(self, booking: BookingView, reason: str, actor: str) -> VisitView:
        if any(v.booking_id == booking.id and v.status != "left" for v in self._visits):
            raise Refusal(409, "already_welcomed", "this patient is already welcomed")
        now, day = self.now(), self.today()

        def write(session: Session) -> VisitView:
            row = Visit(id=str(uuid.uuid4()), booking_id=booking.id, site_code=self.site_code, day=day,
                        ticket=next_ticket(self._visits), position=next_position(self._visits), reason=reason,
                        status="waiting", arrived_at=now, called_at=None, started_at=None, ended_at=None,
                        created_by=actor, changed_at=now, changed_on=self._config.origin)
            session.add(row)
            self._audit(session, actor, "patient welcomed", row.id)
            return VisitView.of(row)
        return await self._write(write)

    def _row(self, session: Session, visit_id: str, *statuses: str) -> Visit:
        """Today's visit `visit_id`, in one of `statuses` when given; else a refusal."""
        row = session.get(Visit, visit_id)
        if row is None or row.site_code != self.site_code or row.day != self.today():
            raise Refusal(404, "unknown_visit", "no visit of today has this id")
        if statuses and row.status not in statuses:
            raise Refusal(409, "visit_" + row.status, f"this visit is {row.status}")
        row.changed_at, row.changed_on = self.now(), self._config.origin
        return row

    def _audit(self, session: Session, actor: str, action: str, subject: str) -> None:
        session.add(AuditEntry(at=self.now(), actor=actor, action=action, subject=subject))

    async def _write(self, write: Callable[[Session], T]) -> T:
        """Run `write` in one transaction, then read the day again and tell the cabin and the GPs."""
        result = await self._store.run(write)
        await self._reload()
        self._send(board(self._visits))
        if self._relay is not None:
            self._relay.refresh_rooms()
        return result

    async def _reload(self) -> None:
        """Read today's visits; on a new day (and at start), first wipe the reasons the earlier days' visits
        still hold (a visit never ended: the patient left unseen, the cabin was offline at the end)."""
        day, new_day = self.today(), self._day != self.today()

        def read(session: Session) -> tuple[VisitView, ...]:
            if new_day:
                session.execute(update(Visit).where(Visit.site_code == self.site_code, Visit.day < day,
                                                    Visit.reason != "").values(reason=""))
            rows = session.scalars(select(Visit).where(Visit.site_code == self.site_code, Visit.day == day)
                                   .order_by(Visit.ticket))
            return tuple(VisitView.of(r) for r in rows)
        self._visits, self._day = await self._store.run(read), day

    def _check_open(self) -> None:
        stop = self._book.programme.stop_on(self.site_code, self.today())
        if stop is None or not stop.open:
            raise Refusal(409, "stop_closed", "open today's stop first")

    def _programme_read(self) -> None:
        """The programme changed (a coordinator moved today's stop, or synchronisation brought it): the cabin
        hears the stop's place again, the prescriptions' place of consultation."""
        self._tell_stop()

    def _tell_stop(self) -> None:
        """Send the cabin today's stop state, when it differs from what it was last sent."""
        stop = self._book.programme.stop_on(self.site_code, self.today())
        state = StopState(open=stop is not None and stop.open, place=stop.place if stop is not None else None)
        if state != self._told and self._relay is not None and self._relay.send_to_station(self.station, state):
            self._told = state

    def _online(self) -> bool:
        return self._relay is not None and self._relay.online(self.station)

    def _send(self, message: Message) -> None:
        if self._relay is not None:
            self._relay.send_to_station(self.station, message)
