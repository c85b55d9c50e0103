"""Opening periods of a fixed site (weekly hours) or a mobile unit (programme of stops)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from config.intervals import Interval
from config.schema import MobileUnit, Site

# How far ahead to look for the next opening: a year covers any sane programme.
HORIZON_DAYS = 366


@dataclass(frozen=True)
class Period:
    """One opening period: start included, end excluded, at a place."""

    start: datetime
    end: datetime
    place: str


class Schedule:
    """When and where the cabin is open."""

    def __init__(self, place: Site | MobileUnit, zone: ZoneInfo) -> None:
        self._place = place
        self._zone = zone

    def periods(self, from_day: date) -> Iterator[Period]:
        """Opening periods in order, starting on `from_day`, up to a year ahead."""
        place = self._place
        if isinstance(place, MobileUnit):
            for stop in sorted(place.stops, key=lambda s: s.date):
                if from_day <= stop.date < from_day + timedelta(days=HORIZON_DAYS):
                    yield from self._day(stop.date, stop.hours, stop.place)
            return
        for offset in range(HORIZON_DAYS):
            day = from_day + timedelta(days=offset)
            yield from self._day(day, place.hours.on(day.weekday()), place.address)

    def _day(self, day: date, intervals: tuple[Interval, ...], where: str) -> Iterator[Period]:
        for interval in intervals:
            start = datetime.combine(day, interval.start, self._zone)
            end = datetime.combine(day, interval.end, self._zone)
            yield Period(start, end, where)

    def current(self, now: datetime) -> Period | None:
        """The period open at `now`, if any."""
        for period in self.periods(now.astimezone(self._zone).date()):
            if period.start > now:
                return None
            if now < period.end:
                return period
        return None

    def is_open(self, now: datetime) -> bool:
        """Whether the cabin is open at `now`."""
        return self.current(now) is not None

    def next_opening(self, now: datetime) -> Period | None:
        """The first period starting after `now`, or None when the programme has ended."""
        return next((p for p in self.periods(now.astimezone(self._zone).date()) if p.start > now), None)
