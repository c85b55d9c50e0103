"""A mobile unit's programme of stops, kept in the hub's store (docs/design.md, "The programme of stops").

The hub's file gives each mobile unit's first programme: at each start, a stop of the file that the
store does not hold yet (its site and date) is added; a stop the store holds is the store's from
then on. The programme is read once into memory and after each change, so that cutting slots never
waits on the store: `site(code)` is the site as the book sees it, a mobile unit with the stops still
planned in the store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.intervals import Interval, intervals
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
        return site.model_copy(update={"stops": tuple(s.section for s in self.stops(code) if s.status == "planned")})

    def sites(self) -> list[SiteSection]:
        """Every site, as `site` gives it."""
        return [s for s in (self.site(site.code) for site in self._config.sites) if s is not None]

    async def set_open(self, site_code: str, day: date, open_: bool, *, actor: str) -> StopView:
        """Open the day's stop (the secretary is ready to welcome patients) or close it; a refusal when
        there is no planned stop that day, or it is already so."""
        now = self.now()

        def write(session: Session) -> StopView:
            row = session.get(Stop, (site_code, day))
            if row is None or row.status != "planned":
                raise Refusal(404, "no_stop", f"{site_code} has no stop planned on {day:%d/%m/%Y}")
            if open_ and row.opened_at is not None and row.closed_at is None:
                raise Refusal(409, "stop_open", "the stop is already open")
            if not open_ and (row.opened_at is None or row.closed_at is not None):
                raise Refusal(409, "stop_not_open", "the stop is not open")
            if open_:
                row.opened_at, row.closed_at = now, None
            else:
                row.closed_at = now
            row.changed_at, row.changed_on = now, self._config.origin
            session.add(AuditEntry(at=now, actor=actor, action="stop opened" if open_ else "stop closed",
                                   subject=f"{site_code} {day}"))
            return StopView.of(row)
        view = await self._store.run(write)
        await self.reload()
        return view
