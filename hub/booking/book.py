"""The book: bookings made in free slots, cancelled, moved, and the GP sessions and closures slots come
from (docs/design.md, "The book").

Every change runs in one transaction of the hub's store, checks the slot again inside it, and
writes its audit entry (who, what, the booking's id: never a patient's name) and the messages
that tell the patient (`Announce`, into the outbox) in that same transaction; the store's unique
index over live bookings refuses a second booking of one cabin's slot even from another hub
instance. Listeners (the relay, which tells the cabin) hear of each change once it is committed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from config.intervals import Interval
from hub.accounts import AccountDirectory
from hub.booking.programme import Programme, holds
from hub.booking.records import (
    Announce,
    BookingRequest,
    BookingView,
    Channel,
    FreeSlot,
    Listener,
    SessionView,
    person_digest,
)
from hub.booking.slots import Cut, Span, free_slots, grid, intersect, opening
from hub.config import HubConfig, SiteSection
from hub.errors import Refusal
from hub.store import Store
from hub.store.models import AuditEntry, Booking, Closure, Gp, GpSession
from protocol.booking_code import new_code, normalise_code
from protocol.eligibility import Verdict, assess

log = logging.getLogger(__name__)

OLDEST_BIRTH = date(1900, 1, 1)


def _refuse(code: str, message: str, status: int = 422, **details: object) -> Refusal:
    return Refusal(status, code, message, **details)


def _hm(moment: datetime, site: SiteSection) -> str:
    return moment.astimezone(site.zone).strftime("%H:%M")


class Book:
    """The hub's book over its store; `wall` is Unix time."""

    def __init__(self, store: Store, config: HubConfig, wall: Callable[[], float], *, accounts: AccountDirectory,
                 programme: Programme, announce: Announce | None = None) -> None:
        """`accounts` gives the cabins and the GPs (the store's, docs/design.md "Accounts in the store")."""
        self._store = store
        self._config = config
        self.accounts = accounts
        self.programme = programme
        self._wall = wall
        self._announce = announce or (lambda session, booking, kind: None)
        self._listeners: list[Listener] = []
        rules = config.booking
        self.cut = Cut(timedelta(minutes=rules.slot_minutes), timedelta(minutes=rules.cleaning_gap_minutes))
        programme.follow(self)

    def listen(self, listener: Listener) -> None:
        """Call `listener` with every booking made, cancelled or moved, once committed."""
        self._listeners.append(listener)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._wall(), UTC)

    def site(self, code: str) -> SiteSection:
        """The site with `code`, or a 404 refusal."""
        site = self.programme.site(code)
        if site is None:
            raise _refuse("unknown_site", f"there is no site with code {code!r}", 404)
        return site

    # Reading.

    async def free_slots(self, site_code: str, first_day: date, days: int = 1, *,
                         gp: str | None = None) -> list[FreeSlot]:
        """The free slots of a site's cabins on `days` local days from `first_day`, soonest first."""
        site = self.site(site_code)
        now = self.now()
        notice = now + timedelta(minutes=self._config.booking.min_notice_minutes)
        horizon = now + timedelta(days=self._config.booking.horizon_days)
        window = self._window(site, first_day, days)
        slots = await self._store.run(lambda s: self._free(s, site, window, gp))
        return [slot for slot in slots if notice <= slot.start <= horizon]

    async def find(self, code: str) -> BookingView | None:
        """The booking with `code` (typed any way a person types it), if there is one."""
        stored = normalise_code(code)
        if stored is None:
            return None
        row = await self._store.run(lambda s: s.scalar(select(Booking).where(Booking.code == stored)))
        return BookingView.of(row) if row is not None else None

    async def get(self, booking_id: str) -> BookingView | None:
        """The booking with id `booking_id`, if there is one."""
        row = await self._store.run(lambda s: s.get(Booking, booking_id))
        return BookingView.of(row) if row is not None else None

    async def day_list(self, station_id: str, day: date) -> list[BookingView]:
        """A cabin's bookings on a local day of its site, live or not, by time."""
        station = self._station(station_id)
        site = self.site(station[1])
        span = self._window(site, day, 1)

        def read(session: Session) -> list[BookingView]:
            rows = session.scalars(select(Booking).where(
                Booking.station_id == station_id, Booking.slot_start >= span.start, Booking.slot_start < span.end,
            ).order_by(Booking.slot_start))
            return [BookingView.of(r) for r in rows]
        return await self._store.run(read)

    async def upcoming(self, station_id: str, since: datetime) -> list[BookingView]:
        """A cabin's bookings from `since` on, live, cancelled or in conflict: what the cabin keeps for check-in."""
        def read(session: Session) -> list[BookingView]:
            rows = session.scalars(select(Booking).where(
                Booking.station_id == station_id, Booking.slot_end >= since,
                Booking.status.in_(("booked", "cancelled", "conflict")),
            ).order_by(Booking.slot_start))
            return [BookingView.of(r) for r in rows]
        return await self._store.run(read)

    async def sessions(self, start: datetime, end: datetime, *, username: str | None = None) -> list[SessionView]:
        """The GP sessions touching [start, end), of one GP or all."""
        def read(session: Session) -> list[SessionView]:
            query = select(GpSession).where(GpSession.start < end, GpSession.end > start)
            if username is not None:
                query = query.where(GpSession.username == username)
            return [SessionView(r.id, r.username, r.station_id, r.start, r.end, r.created_by)
                    for r in session.scalars(query.order_by(GpSession.start))]
        return await self._store.run(read)

    # Changing.

    async def book(self, request: BookingRequest, *, actor: str, channel: Channel) -> BookingView:
        """Book the slot `request` asks for; a refusal saying why when it cannot be booked."""
        site = self.site(request.site)
        now = self.now()
        self._check_patient(request, site)

        def write(session: Session) -> BookingView:
            slot = self._check_slot(session, site, request.start, now, gp=request.gp, station=request.station)
            if self._future_bookings(session, person_digest(request.patient_name, request.birth_date), now) \
                    >= self._config.booking.max_future_per_person:
                raise _refuse("too_many_bookings", "this person already has as many future bookings as one may "
                              "hold: cancel one to book another", 429)
            row = self._row(request, slot, now, actor, channel)
            session.add(row)
            try:
                session.flush()  # the live-slot index refuses a booking another hub instance just wrote
            except IntegrityError:
                raise self._taken() from None
            return self._changed(session, row, actor, "booking made", "confirmation")
        return self._told(await self._store.run(write))

    async def walk_in(self, request: BookingRequest, *, actor: str) -> BookingView:
        """A patient who came to a mobile unit's stop without booking, registered by the secretary
        (docs/design.md, "The secretary's desk"): booked in `request.station` from now (`request.start` is
        not read), whatever the slots; the age rule as for any booking, a contact optional, no message."""
        site = self.site(request.site)
        now = self.now().replace(microsecond=0)
        station = request.station
        if station is None or self._station(station)[1] != site.code:
            raise _refuse("unknown_station", f"a walk-in is seen in a cabin of {site.name}", 404)
        self._check_age(request, now.astimezone(site.zone).date())
        slot = FreeSlot(station, site.code, now, now + self.cut.slot, ())

        def write(session: Session) -> BookingView:
            row = self._row(request, slot, now, actor, "walk_in")
            session.add(row)
            try:
                session.flush()
            except IntegrityError:
                raise self._taken() from None
            return self._changed(session, row, actor, "walk-in registered", "")
        return self._told(await self._store.run(write))

    async def cancel(self, code: str, *, actor: str, reason: str, birth_date: date | None = None) -> BookingView:
        """Cancel a live booking; with `birth_date` (a patient cancelling), only when it matches."""
        stored = normalise_code(code)

        def write(session: Session) -> BookingView:
            row = self._live(session, stored, birth_date)
            row.status, row.reason = "cancelled", reason
            self._touch(row)
            return self._changed(session, row, actor, "booking cancelled", "cancellation")
        return self._told(await self._store.run(write))

    async def move(self, code: str, start: datetime, *, actor: str, station: str | None = None) -> BookingView:
        """Move a live booking to another free slot of its site, keeping its code; a booking that lost its slot
        when two hubs synchronised ("conflict") is given a new one the same way."""
        stored = normalise_code(code)
        now = self.now()

        def write(session: Session) -> BookingView:
            row = self._live(session, stored, None, also=("conflict",))
            site = self.site(row.site_code)
            row.status = "moving"  # out of the way of its own gap while the new slot is checked
            session.flush()
            slot = self._check_slot(session, site, start, now, gp=row.gp, station=station)
            row.station_id, row.slot_start, row.slot_end = slot.station_id, slot.start, slot.end
            row.status = "booked"
            self._touch(row)
            try:
                session.flush()
            except IntegrityError:
                raise self._taken() from None
            return self._changed(session, row, actor, "booking moved", "moved")
        return self._told(await self._store.run(write))

    async def resend(self, code: str, *, actor: str) -> BookingView:
        """Send a live booking's confirmation again (a coordinator, for a patient who lost it)."""
        stored = normalise_code(code)

        def write(session: Session) -> BookingView:
            row = self._live(session, stored, None)
            return self._changed(session, row, actor, "confirmation resent", "confirmation")
        return await self._store.run(write)

    async def no_show(self, code: str, *, actor: str) -> BookingView:
        """Mark a live booking whose patient did not come."""
        stored = normalise_code(code)

        def write(session: Session) -> BookingView:
            row = self._live(session, stored, None)
            row.status = "no_show"
            self._touch(row)
            return self._changed(session, row, actor, "no-show marked", "")
        return self._told(await self._store.run(write))

    async def publish_session(self, username: str, stations: Sequence[str], start: datetime, end: datetime, *,
                              actor: str) -> list[SessionView]:
        """Put a GP on duty for `stations` from `start` to `end`."""
        if start.tzinfo is None or end.tzinfo is None or end <= start:
            raise _refuse("invalid_session", "a session ends after it starts, both with their time zone")
        if end - start > timedelta(hours=14):
            raise _refuse("invalid_session", "a session lasts 14 hours at most")
        if not stations:
            raise _refuse("invalid_session", "a session covers at least one cabin")
        for station_id in stations:
            self._station(station_id)

        def write(session: Session) -> list[SessionView]:
            gp = session.get(Gp, username)
            if gp is None or not gp.enabled:
                raise _refuse("unknown_gp", f"there is no GP {username!r}", 404)
            clash = session.scalar(select(GpSession).where(
                GpSession.username == username, GpSession.station_id.in_(stations),
                GpSession.start < end, GpSession.end > start))
            if clash is not None:
                raise _refuse("session_overlap", f"{username} is already on duty in {clash.station_id} then", 409)
            rows = [GpSession(username=username, station_id=s, start=start, end=end, created_by=actor)
                    for s in stations]
            session.add_all(rows)
            session.flush()
            for row in rows:
                session.add(AuditEntry(at=self.now(), actor=actor, action="gp session published", subject=str(row.id)))
            return [SessionView(r.id, r.username, r.station_id, r.start, r.end, r.created_by) for r in rows]
        return await self._store.run(write)

    async def withdraw_session(self, session_id: int, *, actor: str, username: str | None = None) -> list[BookingView]:
        """Take a session back (only the GP's own with `username`); the live bookings it leaves without a GP
        on duty, for the coordinator to call."""
        def write(session: Session) -> list[BookingView]:
            row = session.get(GpSession, session_id)
            if row is None or (username is not None and row.username != username):
                raise _refuse("unknown_session", f"there is no session {session_id}", 404)
            session.delete(row)
            session.flush()
            session.add(AuditEntry(at=self.now(), actor=actor, action="gp session withdrawn", subject=str(session_id)))
            hit = session.scalars(select(Booking).where(
                Booking.station_id == row.station_id, Booking.status == "booked",
                Booking.slot_start < row.end, Booking.slot_end > row.start))
            return [BookingView.of(b) for b in hit if not self._staffed(session, b)]
        return await self._store.run(write)

    async def close(self, site_code: str, start: datetime, end: datetime, *, reason: str, actor: str,
                    station: str | None = None) -> list[BookingView]:
        """Close a site (a holiday) or one of its cabins (out of service) from `start` to `end`: the live
        bookings it hits are cancelled and their patients told; they are returned for the coordinator."""
        site = self.site(site_code)
        if station is not None and self._station(station)[1] != site.code:
            raise _refuse("unknown_station", f"cabin {station} is not at {site.name}", 404)
        if start.tzinfo is None or end.tzinfo is None or end <= start:
            raise _refuse("invalid_closure", "a closure ends after it starts, both with their time zone")
        reason = reason.strip()
        if not reason or len(reason) > 200:
            raise _refuse("invalid_closure", "say why, in 200 characters at most")
        cabins = (station,) if station is not None else self.accounts.cabins(site.code)

        def write(session: Session) -> list[BookingView]:
            session.add(Closure(site_code=site.code, station_id=station, start=start, end=end, reason=reason,
                                created_by=actor))
            session.add(AuditEntry(at=self.now(), actor=actor, action="closure added",
                                   subject=f"{station or site.code} {start.isoformat()}/{end.isoformat()}"))
            hit = list(session.scalars(select(Booking).where(
                Booking.station_id.in_(cabins), Booking.status == "booked",
                Booking.slot_start < end, Booking.slot_end > start).order_by(Booking.slot_start)))
            views = []
            for row in hit:
                row.status, row.reason = "cancelled", reason
                self._touch(row)
                views.append(self._changed(session, row, actor, "booking cancelled by a closure", "cancellation"))
            return views
        views = await self._store.run(write)
        for view in views:
            self._told(view)
        return views

    # A stop of a mobile unit changed (hub.booking.programme.StopBookings), inside the programme's transaction.

    def cancel_outside(self, session: Session, site_code: str, day: date, hours: Sequence[Interval] | None, *,
                       actor: str, reason: str) -> list[BookingView]:
        """Cancel the live bookings of the stop on `day` that `hours` no longer hold (all of them when the
        stop is cancelled), their patients told; they are returned for the coordinator to call."""
        site = self.site(site_code)
        views = []
        for row in self._at_stop(session, site, day):
            if not holds(hours or (), day, site.zone, row.slot_start, row.slot_end):
                row.status, row.reason = "cancelled", reason
                self._touch(row)
                views.append(self._changed(session, row, actor, "booking cancelled by a stop change", "cancellation"))
        return views

    def tell_changed(self, session: Session, site_code: str, day: date, *, actor: str) -> list[BookingView]:
        """Tell the patients of the live bookings of the stop on `day` of its new place or hours."""
        return [self._changed(session, row, actor, "stop change told", "stop_changed")
                for row in self._at_stop(session, self.site(site_code), day)]

    async def stop_bookings(self, site_code: str, day: date) -> list[BookingView]:
        """The live bookings of a mobile unit's stop on `day`, by time: whom a change of the stop reaches."""
        site = self.site(site_code)
        return await self._store.run(lambda s: [BookingView.of(r) for r in self._at_stop(s, site, day)])

    def told(self, view: BookingView) -> BookingView:
        """Let the listeners hear of a booking changed in another component's transaction (a stop's change,
        a page applied by synchronisation), once it is committed."""
        return self._told(view)

    def _at_stop(self, session: Session, site: SiteSection, day: date) -> list[Booking]:
        span = self._window(site, day, 1)
        return list(session.scalars(select(Booking).where(
            Booking.site_code == site.code, Booking.status == "booked", Booking.slot_start >= span.start,
            Booking.slot_start < span.end).order_by(Booking.slot_start)))

    # Inside a transaction.

    def _window(self, site: SiteSection, first_day: date, days: int) -> Span:
        start = datetime.combine(first_day, datetime.min.time(), site.zone)
        return Span(start, datetime.combine(first_day + timedelta(days=days), datetime.min.time(), site.zone))

    def _station(self, station_id: str) -> tuple[str, str]:
        """(id, site code) of a cabin standing at a site, or a 404 refusal."""
        account = self.accounts.station(station_id)
        if account is None or account.site_code is None:
            raise _refuse("unknown_station", f"there is no bookable cabin {station_id!r}", 404)
        return account.id, account.site_code

    def _free(self, session: Session, site: SiteSection, window: Span, gp: str | None,
              cabins: Sequence[str] | None = None) -> list[FreeSlot]:
        cabins = self.accounts.cabins(site.code) if cabins is None else cabins
        days = [(window.start + timedelta(days=i)).date() for i in range((window.end - window.start).days + 1)]
        open_ = [span for day in days for span in opening(site, day)]
        reach = Span(window.start - timedelta(days=1), window.end + timedelta(days=1))
        duty = list(session.scalars(select(GpSession).where(  # a disabled GP's sessions give no slot
            GpSession.station_id.in_(cabins), GpSession.start < reach.end, GpSession.end > reach.start,
            GpSession.username.in_(select(Gp.username).where(Gp.enabled)))))
        closed = list(session.scalars(select(Closure).where(
            Closure.site_code == site.code, or_(Closure.station_id.is_(None), Closure.station_id.in_(cabins)),
            Closure.start < reach.end, Closure.end > reach.start)))
        booked = list(session.scalars(select(Booking).where(
            Booking.station_id.in_(cabins), Booking.status == "booked",
            Booking.slot_start < reach.end, Booking.slot_end > reach.start)))
        out: list[FreeSlot] = []
        for cabin in cabins:
            sessions = [s for s in duty if s.station_id == cabin and (gp is None or s.username == gp)]
            for slot in free_slots(
                open_, [Span(s.start, s.end) for s in sessions],
                [Span(c.start, c.end) for c in closed if c.station_id in (None, cabin)],
                [Span(b.slot_start, b.slot_end) for b in booked if b.station_id == cabin],
                self.cut, window.start,
            ):
                if slot.start < window.end:
                    gps = tuple(sorted({s.username for s in sessions if Span(s.start, s.end).holds(slot)}))
                    out.append(FreeSlot(cabin, site.code, slot.start, slot.end, gps))
        return sorted(out, key=lambda f: (f.start, f.station_id))

    def _check_slot(self, session: Session, site: SiteSection, start: datetime, now: datetime, *,
                    gp: str | None, station: str | None) -> FreeSlot:
        """The free slot starting at `start` (in `station`, with `gp` on duty when named), or a refusal
        saying what is wrong with that time."""
        rules = self._config.booking
        if start < now + timedelta(minutes=rules.min_notice_minutes):
            raise _refuse("slot_past", "that time has passed: choose a slot to come")
        if start > now + timedelta(days=rules.horizon_days):
            raise _refuse("slot_too_far", f"slots open {rules.horizon_days} days ahead at most")
        day = start.astimezone(site.zone).date()
        open_ = opening(site, day)
        when = Span(start, start + self.cut.slot)
        if not any(span.holds(when) for span in open_):
            hours = ", ".join(f"{_hm(s.start, site)}-{_hm(s.end, site)}" for s in open_) or "closed"
            raise _refuse("outside_hours", f"{site.name} is not open then ({day:%d/%m/%Y}: {hours})")
        if station is not None and self._station(station)[1] != site.code:
            raise _refuse("unknown_station", f"cabin {station} is not at {site.name}", 404)
        cabins = (station,) if station is not None else self.accounts.cabins(site.code)
        if gp is not None and session.scalar(select(Gp).where(Gp.username == gp, Gp.enabled)) is None:
            raise _refuse("unknown_gp", f"there is no GP {gp!r}", 404)
        free = [f for f in self._free(session, site, self._window(site, day, 1), gp, cabins) if f.start == start]
        if free:
            return free[0]
        self._explain(session, site, day, when, gp, cabins)
        raise self._taken()

    def _explain(self, session: Session, site: SiteSection, day: date, when: Span, gp: str | None,
                 cabins: Sequence[str]) -> None:
        """Why no cabin has a free slot at `when`, when the reason is not that it was taken."""
        window = self._window(site, day, 1)
        duty = [Span(s.start, s.end) for s in session.scalars(select(GpSession).where(
            GpSession.station_id.in_(cabins), GpSession.start < window.end, GpSession.end > window.start,
            GpSession.username.in_(select(Gp.username).where(Gp.enabled)),
            *([GpSession.username == gp] if gp is not None else [])))]
        stretches = intersect(opening(site, day), duty)
        if not any(s.holds(when) for s in stretches):
            who = f"{gp} is not" if gp is not None else "no GP is"
            raise _refuse("no_gp_on_duty", f"{who} on duty at {site.name} at {_hm(when.start, site)}")
        slots = list(grid(stretches, self.cut))
        if not any(s.start == when.start for s in slots):
            before = [s for s in slots if s.start < when.start]
            if before and before[-1].end <= when.start < before[-1].end + self.cut.gap:
                raise _refuse("cleaning_gap", f"{_hm(when.start, site)} falls in the cleaning after the "
                              f"{_hm(before[-1].start, site)} slot: the cabin is disinfected then")
            starts = ", ".join(_hm(s.start, site) for s in slots[:6])
            raise _refuse("not_a_slot", f"slots that day start at {starts}…")
        closed = session.scalar(select(Closure).where(
            Closure.site_code == site.code, or_(Closure.station_id.is_(None), Closure.station_id.in_(cabins)),
            Closure.start < when.end, Closure.end > when.start))
        if closed is not None:
            raise _refuse("closed", f"{site.name} is closed then: {closed.reason}")

    def _taken(self) -> Refusal:
        return _refuse("slot_taken", "that slot was just taken: choose another", 409)

    def _future_bookings(self, session: Session, person: str, now: datetime) -> int:
        return session.scalar(select(func.count()).select_from(Booking).where(
            Booking.person == person, Booking.status == "booked", Booking.slot_start > now)) or 0

    def _live(self, session: Session, code: str | None, birth_date: date | None,
              also: tuple[str, ...] = ()) -> Booking:
        """The booking with `code` (and `birth_date`, when given), live or in one of the statuses `also` names."""
        row = session.scalar(select(Booking).where(Booking.code == code)) if code is not None else None
        if row is None or (birth_date is not None and row.birth_date != birth_date):
            raise _refuse("unknown_booking", "no booking has this code and birth date" if birth_date is not None
                          else "no booking has this code", 404)
        if row.status != "booked" and row.status not in also:
            raise _refuse("not_live", f"this booking is already {row.status.replace('_', ' ')}", 409)
        return row

    def _staffed(self, session: Session, booking: Booking) -> bool:
        slot = Span(booking.slot_start, booking.slot_end)
        query = select(GpSession).where(GpSession.station_id == booking.station_id)
        if booking.gp is not None:
            query = query.where(GpSession.username == booking.gp)
        return any(Span(s.start, s.end).holds(slot) for s in session.scalars(query))

    def _row(self, request: BookingRequest, slot: FreeSlot, now: datetime, actor: str, channel: Channel) -> Booking:
        """A new live booking of `slot` for the patient of `request`."""
        return Booking(
            id=str(uuid.uuid4()), code=new_code(), station_id=slot.station_id, site_code=slot.site_code,
            slot_start=slot.start, slot_end=slot.end, gp=request.gp, patient_name=request.patient_name,
            birth_date=request.birth_date, sex=request.sex, representative=request.representative,
            phone=request.phone, email=request.email, language=request.language,
            person=person_digest(request.patient_name, request.birth_date), status="booked", channel=channel,
            created_at=now, created_by=actor, changed_at=now, reason=None,
            regular_doctor=request.regular_doctor, changed_on=self._config.origin,
        )

    def _check_patient(self, request: BookingRequest, site: SiteSection) -> None:
        self._check_age(request, request.start.astimezone(site.zone).date())
        if request.phone is None and request.email is None:
            raise _refuse("contact_needed", "give a phone number or an e-mail address for the confirmation")

    def _check_age(self, request: BookingRequest, day: date) -> None:
        """The birth date is possible and the age rule allows the patient on `day` (protocol/eligibility.py)."""
        if not OLDEST_BIRTH <= request.birth_date <= day:
            raise _refuse("impossible_birth_date", "that birth date cannot be right: check the day, month and year")
        verdict = assess(request.birth_date, day, request.representative).verdict
        if verdict is Verdict.REFUSED_UNDER_14:
            raise _refuse("under_14", "the cabin sees patients aged 14 and over: under 14, see a GP or a "
                          "paediatrician in person")
        if verdict is Verdict.NEEDS_REPRESENTATIVE:
            raise _refuse("representative_needed", "a patient aged 14 to 17 comes with a legal representative: "
                          "give the representative's name")

    def _touch(self, row: Booking) -> None:
        """The row changed now, on this hub: the newest change wins when hubs synchronise."""
        row.changed_at, row.changed_on = self.now(), self._config.origin

    def _changed(self, session: Session, row: Booking, actor: str, action: str, kind: str) -> BookingView:
        view = BookingView.of(row)
        session.add(AuditEntry(at=self.now(), actor=actor, action=action, subject=row.id))
        if kind:
            self._announce(session, view, kind)
        return view

    def _told(self, view: BookingView) -> BookingView:
        for listener in self._listeners:
            listener(view)
        return view
