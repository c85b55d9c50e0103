"""A mobile unit's programme of stops, kept in the hub's store (docs/design.md, "The programme of stops").

The hub's file gives each mobile unit's first programme: at each start, a stop of the file that the
store does not hold yet (its site and date) is added; a stop the store holds is the store's from
then on. The programme is read once into memory and after each change, so that cutting slots never
waits on the store: `site(code)` is the site as the book sees it, a mobile unit with the stops still
planned in the store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import Protocol

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from config.intervals import Interval, intervals
from hub.booking.records import BookingView
from hub.config import HubConfig, SiteSection, StopSection
from hub.errors import Refusal
from hub.store import Store
from hub.store.models import AuditEntry, Stop

log = logging.getLogger(__name__)

IMPORTER = "hub configuration"


@dataclass(frozen=True)
class StopView:
    """One stop as the store keeps it."""

    site_code: str
    day: date
    place: str
    address: str
    hours: tuple[Interval, ...]
    status: str  # "planned" or "cancelled"
    opened_at: datetime | None
    closed_at: datetime | None
    changed_at: datetime

    @staticmethod
    def of(row: Stop) -> StopView:
        return StopView(row.site_code, row.day, row.place, row.address, intervals(row.hours), row.status,
                        row.opened_at, row.closed_at, row.changed_at)

    @property
    def section(self) -> StopSection:
        """The stop as a site's programme holds it."""
        return StopSection(date=self.day, place=self.place, address=self.address, hours=self.hours)

    @property
    def open(self) -> bool:
        """Whether the secretary has opened the stop and not yet closed it."""
        return self.opened_at is not None and self.closed_at is None


class StopBookings(Protocol):
    """What a change of the programme asks of the book (hub.booking.book.Book), inside its transaction."""

    def cancel_outside(self, session: Session, site_code: str, day: date, hours: Sequence[Interval] | None, *,
                       actor: str, reason: str) -> list[BookingView]: ...

    def tell_changed(self, session: Session, site_code: str, day: date, *, actor: str) -> list[BookingView]: ...

    def told(self, view: BookingView) -> BookingView: ...


@dataclass(frozen=True)
class StopChange:
    """A stop added, changed or cancelled, the live bookings it cancelled (to call: they hold the phone
    numbers) and those whose patients were told of the new place or hours."""

    stop: StopView
    cancelled: tuple[BookingView, ...] = ()
    told: tuple[BookingView, ...] = ()


def holds(hours: Sequence[Interval], day: date, zone: tzinfo, start: datetime, end: datetime) -> bool:
    """Whether a slot from `start` to `end` lies within one of a stop's `hours` on `day` (local to `zone`)."""
    return any(datetime.combine(day, i.start, zone) <= start and end <= datetime.combine(day, i.end, zone)
               for i in hours)


def stop_section(day: date, place: str, address: str, hours: Sequence[str | Interval]) -> StopSection:
    """A stop as typed by a coordinator, checked as the hub's file is; a 422 refusal saying what is wrong."""
    try:
        return StopSection.model_validate({"date": day, "place": place, "address": address, "hours": hours})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise Refusal(422, "invalid_stop", problems) from None


def import_stops(session: Session, config: HubConfig, at: datetime) -> list[str]:
    """Add the file's stops the store does not hold yet; what was added, as "stop added SITE DAY" lines."""
    held = {(row.site_code, row.day) for row in session.scalars(select(Stop))}
    added: list[str] = []
    for site in config.sites:
        for stop in site.stops:
            if (site.code, stop.date) in held:
                continue
            session.add(Stop(site_code=site.code, day=stop.date, place=stop.place, address=stop.address,
                             hours=[str(i) for i in stop.hours], status="planned", opened_at=None, closed_at=None,
                             changed_at=at, changed_on=config.origin))
            session.add(AuditEntry(at=at, actor=IMPORTER, action="stop added", subject=f"{site.code} {stop.date}"))
            added.append(f"stop added {site.code} {stop.date}")
    return added


class Programme:
    """The mobile units' stops: imported from the hub's file at start, read from memory, changed in the store."""

    def __init__(self, store: Store, config: HubConfig, wall: Callable[[], float]) -> None:
        self._store = store
        self._config = config
        self._wall = wall
        self._stops: dict[str, tuple[StopView, ...]] = {}
        self._units: dict[str, SiteSection] = {}  # each mobile unit with its planned stops, made at each reading
        self._bookings: StopBookings | None = None
        self._listeners: list[Callable[[], None]] = []

    def listen(self, listener: Callable[[], None]) -> None:
        """Call `listener` each time the programme has been read again (after any change, here or synchronised)."""
        self._listeners.append(listener)

    def follow(self, bookings: StopBookings) -> None:
        """Let `bookings` (the book) cancel and tell the bookings a change of the programme reaches."""
        self._bookings = bookings

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._wall(), UTC)

    async def start(self) -> None:
        """Import the file's new stops (the store open by then) and read the programme."""
        for line in await self._store.run(lambda session: import_stops(session, self._config, self.now())):
            log.info("hub store: %s (from the hub's file)", line)
        await self.reload()

    async def stop(self) -> None:
        """Nothing runs in the background; here for the components' shape."""

    async def reload(self) -> None:
        """Read the programme again from the store (after a change made elsewhere: synchronisation)."""
        def read(session: Session) -> dict[str, tuple[StopView, ...]]:
            by_site: dict[str, list[StopView]] = {}
            for row in session.scalars(select(Stop).order_by(Stop.site_code, Stop.day)):
                by_site.setdefault(row.site_code, []).append(StopView.of(row))
            return {code: tuple(views) for code, views in by_site.items()}
        self._stops = await self._store.run(read)
        self._units = {site.code: site.model_copy(update={"stops": tuple(
            s.section for s in self.stops(site.code) if s.status == "planned")}) for site in self._config.sites
            if site.mobile}
        for listener in self._listeners:
            listener()

    def stops(self, site_code: str) -> tuple[StopView, ...]:
        """Every stop of a mobile unit the store holds, planned or cancelled, by date."""
        return self._stops.get(site_code, ())

    def stop_on(self, site_code: str, day: date) -> StopView | None:
        """The mobile unit's stop on `day` (its local date), planned or cancelled, if there is one."""
        return next((s for s in self.stops(site_code) if s.day == day), None)

    def site(self, code: str) -> SiteSection | None:
        """The [[sites]] entry with `code`, a mobile unit with the stops planned in the store."""
        site = self._config.site(code)
        if site is None or not site.mobile:
            return site
        return self._units.get(code, site.model_copy(update={"stops": ()}))  # nothing read yet: no stop

    def site_in(self, session: Session, code: str, moment: datetime) -> SiteSection | None:
        """`site(code)` with its stop on the day of `moment` as `session` holds it: a message written inside
        the transaction that changes the stop tells of the stop as changed."""
        site = self.site(code)
        if site is None or not site.mobile:
            return site
        day = moment.astimezone(site.zone).date()
        row = session.get(Stop, (code, day))
        stops = [s for s in site.stops if s.date != day]
        if row is not None and row.status == "planned":
            stops.append(StopView.of(row).section)
        return site.model_copy(update={"stops": tuple(sorted(stops, key=lambda s: s.date))})

    def sites(self) -> list[SiteSection]:
        """Every site, as `site` gives it."""
        return [s for s in (self.site(site.code) for site in self._config.sites) if s is not None]

    async def set_open(self, site_code: str, day: date, open_: bool, *, actor: str) -> StopView:
        """Open the day's stop (the secretary is ready to welcome patients) or close it; a refusal when
        there is no planned stop that day, or it is already so. Opening a stop closes one left open on an
        earlier day: it has ended (the station on board calls for its full cleaning)."""
        now = self.now()

        def write(session: Session) -> StopView:
            row = session.get(Stop, (site_code, day))
            if row is None or row.status != "planned":
                raise Refusal(404, "no_stop", f"{site_code} has no stop planned on {day:%d/%m/%Y}")
            if open_ and row.opened_at is not None and row.closed_at is None:
                raise Refusal(409, "stop_open", "the stop is already open")
            if not open_ and (row.opened_at is None or row.closed_at is not None):
                raise Refusal(409, "stop_not_open", "the stop is not open")
            left_open = session.scalars(select(Stop).where(
                Stop.site_code == site_code, Stop.day < day, Stop.opened_at.is_not(None), Stop.closed_at.is_(None)))
            for stop in [*left_open, row] if open_ else [row]:
                opening = stop is row and open_
                stop.opened_at, stop.closed_at = (now, None) if opening else (stop.opened_at, now)
                stop.changed_at, stop.changed_on = now, self._config.origin
                session.add(AuditEntry(at=now, actor=actor, action="stop opened" if opening else "stop closed",
                                       subject=f"{site_code} {stop.day}"))
            return StopView.of(row)
        view = await self._store.run(write)
        await self.reload()
        return view

    # Changing the programme (docs/design.md, "The programme of stops").

    async def add_stop(self, site_code: str, stop: StopSection, *, actor: str) -> StopChange:
        """Add a stop (or plan again a cancelled one on that day); a refusal when one is planned that day."""
        now = self.now()
        self._unit(site_code, stop.date)

        def write(session: Session) -> StopChange:
            row = session.get(Stop, (site_code, stop.date))
            if row is not None and row.status == "planned":
                raise Refusal(409, "stop_exists", f"{site_code} already has a stop on {stop.date:%d/%m/%Y}")
            if row is None:
                row = Stop(site_code=site_code, day=stop.date)
                session.add(row)
            row.place, row.address, row.hours = stop.place, stop.address, [str(i) for i in stop.hours]
            row.status, row.opened_at, row.closed_at = "planned", None, None
            return StopChange(self._audit(session, row, now, actor, "stop added"))
        return await self._changed(write)

    async def change_stop(self, site_code: str, day: date, *, actor: str, reason: str, place: str | None = None,
                          address: str | None = None, hours: Sequence[str] | None = None) -> StopChange:
        """Change a planned stop's place, address or hours: the bookings the new hours no longer hold are
        cancelled with `reason`, the others told of the change."""
        now = self.now()
        self._unit(site_code, day)

        def write(session: Session) -> StopChange:
            row = self._planned(session, site_code, day)
            old = StopView.of(row).section
            new = stop_section(day, place if place is not None else old.place,
                               address if address is not None else old.address,
                               hours if hours is not None else old.hours)
            if new == old:
                raise Refusal(422, "unchanged", "the stop already has this place, address and hours")
            cancelled = self._need_bookings().cancel_outside(session, site_code, day, new.hours, actor=actor,
                                                             reason=reason)
            row.place, row.address, row.hours = new.place, new.address, [str(i) for i in new.hours]
            view = self._audit(session, row, now, actor, "stop changed")
            session.flush()
            told = self._need_bookings().tell_changed(session, site_code, day, actor=actor)
            return StopChange(view, tuple(cancelled), tuple(told))
        return await self._changed(write)

    async def cancel_stop(self, site_code: str, day: date, *, actor: str, reason: str) -> StopChange:
        """Cancel a planned stop that is not open: its live bookings are cancelled with `reason`, their
        patients told."""
        now = self.now()
        self._unit(site_code, day)

        def write(session: Session) -> StopChange:
            row = self._planned(session, site_code, day)
            if row.opened_at is not None and row.closed_at is None:
                raise Refusal(409, "stop_open", "the stop is open: the secretary closes it first")
            cancelled = self._need_bookings().cancel_outside(session, site_code, day, None, actor=actor,
                                                             reason=reason)
            row.status = "cancelled"
            return StopChange(self._audit(session, row, now, actor, "stop cancelled"), tuple(cancelled))
        return await self._changed(write)

    def _unit(self, site_code: str, day: date) -> SiteSection:
        """The mobile unit `site_code`, when `day` has not passed there; else a refusal."""
        site = self._config.site(site_code)
        if site is None or not site.mobile:
            raise Refusal(404, "not_mobile", f"there is no mobile unit with code {site_code!r}")
        if day < self.now().astimezone(site.zone).date():
            raise Refusal(422, "stop_past", f"{day:%d/%m/%Y} has passed: the programme changes from today on")
        return site

    def _planned(self, session: Session, site_code: str, day: date) -> Stop:
        row = session.get(Stop, (site_code, day))
        if row is None or row.status != "planned":
            raise Refusal(404, "no_stop", f"{site_code} has no stop planned on {day:%d/%m/%Y}")
        return row

    def _need_bookings(self) -> StopBookings:
        if self._bookings is None:
            raise RuntimeError("the programme changes only with a book following it (Programme.follow)")
        return self._bookings

    def _audit(self, session: Session, row: Stop, now: datetime, actor: str, action: str) -> StopView:
        row.changed_at, row.changed_on = now, self._config.origin
        session.add(AuditEntry(at=now, actor=actor, action=action, subject=f"{row.site_code} {row.day}"))
        session.flush()
        return StopView.of(row)

    async def _changed(self, write: Callable[[Session], StopChange]) -> StopChange:
        """Run `write` in one transaction, read the programme again, then let the book's listeners hear
        of each booking it changed (the cabins' feed)."""
        change = await self._store.run(write)
        await self.reload()
        if self._bookings is not None:
            for view in change.cancelled:
                self._bookings.told(view)
        return change
