"""Activity figures for the department and the CPTS (docs/design.md, "Activity"): consultations per stop day and
per ISO week, no-shows, waiting times and the share of patients without a regular doctor, for one site over a
range of its local days.

The figures are pure functions of `BookingFact`s and `VisitFact`s (`figures`), with test vectors in
tests/test_activity.py; `read_facts` is the one store read, of the columns the figures need: never a patient's
name, code, phone or e-mail. A visit "done" or "seen" is a consultation. A fixed cabin keeps no visits and the
station does not tell the hub when a code is used, so a cabin's consultations are unknown (None): the hub counts
its bookings held and its no-shows.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.store.models import Booking, Visit

CONSULTED = frozenset({"seen", "done"})  # a visit the doctor began is a consultation
HELD = frozenset({"booked", "no_show"})  # a booking held to its day: not cancelled, not lost in a conflict
MAX_RANGE_DAYS = 366


@dataclass(frozen=True)
class BookingFact:
    """What the figures need of a booking: no name, no code, no contact. `person` is the book's digest of the
    patient's name and birth date, to count each patient once."""

    slot_start: datetime
    status: str
    person: str
    regular_doctor: bool | None


@dataclass(frozen=True)
class VisitFact:
    """What the figures need of a visit: its day, status and times."""

    day: date
    status: str
    arrived_at: datetime
    called_at: datetime | None
    started_at: datetime | None


@dataclass(frozen=True)
class Waits:
    """A set of waits in whole seconds: how many, their median and their 90th percentile (None when empty)."""

    count: int
    median_s: int | None
    p90_s: int | None


@dataclass(frozen=True)
class DayRow:
    """One local day of a site: a mobile unit's stop day with its place, or a cabin's day with bookings."""

    day: date
    week: str
    place: str
    bookings: int
    no_shows: int
    consultations: int | None
    waiting: Waits  # arrival to call
    call_to_start: Waits


@dataclass(frozen=True)
class WeekRow:
    """One ISO week (as "2026-W50") of a site."""

    week: str
    bookings: int
    no_shows: int
    consultations: int | None


@dataclass(frozen=True)
class RegularDoctor:
    """The answers to "do you have a regular doctor?", once per patient (their latest booking's answer)."""

    patients: int
    answered: int
    without: int

    @property
    def share_without(self) -> float | None:
        """The share without a regular doctor over the patients who answered."""
        return round(self.without / self.answered, 4) if self.answered else None


@dataclass(frozen=True)
class Activity:
    """A site's figures over `first` to `last` (its local days, both included)."""

    site: str
    first: date
    last: date
    visits_kept: bool  # False: a fixed cabin's consultations are unknown to the hub
    days: tuple[DayRow, ...]
    weeks: tuple[WeekRow, ...]
    bookings: int
    no_shows: int
    consultations: int | None
    waiting: Waits
    call_to_start: Waits
    regular_doctor: RegularDoctor


def iso_week(day: date) -> str:
    """The ISO 8601 week of `day`, as "2026-W50"."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile: the smallest value with at least `share` of `values` at or below it."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(share * len(ordered))) - 1]


def waits(seconds: Iterable[float]) -> Waits:
    """The count, median and 90th percentile (nearest rank) of some waits, rounded to whole seconds."""
    values = list(seconds)
    if not values:
        return Waits(0, None, None)
    return Waits(len(values), round(statistics.median(values)), round(percentile(values, 0.9)))


def _spans(visits: Iterable[VisitFact]) -> tuple[Waits, Waits]:
    """Arrival to call, and call to the consultation's start, over the visits that have both ends."""
    visits = list(visits)
    waiting = [(v.called_at - v.arrived_at).total_seconds() for v in visits if v.called_at is not None]
    started = [(v.started_at - v.called_at).total_seconds() for v in visits
               if v.called_at is not None and v.started_at is not None]
    return waits(waiting), waits(started)


def regular_doctor(bookings: Iterable[BookingFact]) -> RegularDoctor:
    """Each patient once, with the answer of their latest held booking that has one."""
    answers: dict[str, bool | None] = {}
    for booking in sorted(bookings, key=lambda b: b.slot_start):
        if booking.status in HELD:
            answer = booking.regular_doctor
            answers[booking.person] = answer if answer is not None else answers.get(booking.person)
    answered = [a for a in answers.values() if a is not None]
    return RegularDoctor(len(answers), len(answered), answered.count(False))


def _day_row(day: date, place: str, bookings: Sequence[BookingFact], visits: Sequence[VisitFact],
             visits_kept: bool) -> DayRow:
    waiting, call_to_start = _spans(visits)
    consultations = sum(v.status in CONSULTED for v in visits) if visits_kept else None
    return DayRow(day, iso_week(day), place, sum(b.status in HELD for b in bookings),
                  sum(b.status == "no_show" for b in bookings), consultations, waiting, call_to_start)


def _week_rows(days: Sequence[DayRow]) -> tuple[WeekRow, ...]:
    weeks: dict[str, list[DayRow]] = {}
    for row in days:
        weeks.setdefault(row.week, []).append(row)
    return tuple(WeekRow(week, sum(r.bookings for r in rows), sum(r.no_shows for r in rows),
                         _total(r.consultations for r in rows)) for week, rows in sorted(weeks.items()))


def _total(counts: Iterable[int | None]) -> int | None:
    """The sum of known counts; None when a cabin's are unknown."""
    values = [c for c in counts if c is not None]
    return sum(values) if values else None


def figures(site: str, first: date, last: date, zone: tzinfo, bookings: Sequence[BookingFact],
            visits: Sequence[VisitFact], places: dict[date, str], default_place: str, *,
            visits_kept: bool) -> Activity:
    """A site's activity from its bookings and visits of `first` to `last`. `places`: a mobile unit's stop days
    and their places (each a row, even with nothing booked); a cabin has a row per day with bookings or visits,
    at `default_place`. A booking counts on its slot's local day; a visit on its own day."""
    by_day: dict[date, list[BookingFact]] = {}
    for booking in bookings:
        by_day.setdefault(booking.slot_start.astimezone(zone).date(), []).append(booking)
    visits_by_day: dict[date, list[VisitFact]] = {}
    for visit in visits:
        visits_by_day.setdefault(visit.day, []).append(visit)
    shown = {d for d in (*places, *by_day, *visits_by_day) if first <= d <= last}
    rows = tuple(_day_row(d, places.get(d, default_place), by_day.get(d, []), visits_by_day.get(d, []), visits_kept)
                 for d in sorted(shown))
    kept = [b for d, day_bookings in by_day.items() if first <= d <= last for b in day_bookings]
    waiting, call_to_start = _spans(v for v in visits if first <= v.day <= last)
    consultations = sum(r.consultations or 0 for r in rows) if visits_kept else None
    return Activity(site, first, last, visits_kept, rows, _week_rows(rows), sum(r.bookings for r in rows),
                    sum(r.no_shows for r in rows), consultations, waiting, call_to_start, regular_doctor(kept))


def read_facts(session: Session, site: str, first: date, last: date,
               zone: tzinfo) -> tuple[list[BookingFact], list[VisitFact]]:
    """The site's bookings with a slot on `first` to `last` (local days) and its visits of those days, reading
    only the columns the figures use."""
    start = datetime.combine(first, time(), zone)
    end = datetime.combine(last + timedelta(days=1), time(), zone)
    bookings = [BookingFact(*row) for row in session.execute(
        select(Booking.slot_start, Booking.status, Booking.person, Booking.regular_doctor)
        .where(Booking.site_code == site, Booking.slot_start >= start, Booking.slot_start < end)
        .order_by(Booking.slot_start))]
    visits = [VisitFact(*row) for row in session.execute(
        select(Visit.day, Visit.status, Visit.arrived_at, Visit.called_at, Visit.started_at)
        .where(Visit.site_code == site, Visit.day >= first, Visit.day <= last)
        .order_by(Visit.day, Visit.arrived_at))]
    return bookings, visits
