"""Where slots come from, as pure functions of a site's hours, GP sessions, closures and the bookings
already made (docs/design.md, "The book").

A cabin's slots are cut from each stretch of time its site is open *and* a GP is on duty for it:
a slot, then the cleaning gap, then the next slot, from the start of the stretch. A slot is free
when no closure touches it and it keeps a full cleaning gap from every live booking of its cabin
on both sides, so the book never offers two slots that cleaning cannot fit between, even when
bookings made under older sessions sit off the grid.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from hub.config import SiteSection


@dataclass(frozen=True, order=True)
class Span:
    """From `start` (included) to `end` (excluded), both aware."""

    start: datetime
    end: datetime

    def overlaps(self, other: Span) -> bool:
        return self.start < other.end and other.start < self.end

    def holds(self, other: Span) -> bool:
        return self.start <= other.start and other.end <= self.end


@dataclass(frozen=True)
class Cut:
    """How slots are cut: their length and the cleaning gap after each."""

    slot: timedelta
    gap: timedelta


def opening(site: SiteSection, day: date) -> list[Span]:
    """When `site` is open on `day` (its local date): its weekly hours, or a mobile unit's stop that day."""
    if site.mobile:
        stop = site.stop_on(day)
        hours = stop.hours if stop is not None else ()
    else:
        hours = site.hours.on(day.weekday())
    return [Span(datetime.combine(day, i.start, site.zone), datetime.combine(day, i.end, site.zone)) for i in hours]


def merge(spans: Iterable[Span]) -> list[Span]:
    """The union of `spans`, as sorted spans that neither overlap nor touch."""
    merged: list[Span] = []
    for span in sorted(spans):
        if merged and span.start <= merged[-1].end:
            merged[-1] = Span(merged[-1].start, max(merged[-1].end, span.end))
        else:
            merged.append(span)
    return merged


def intersect(a: Iterable[Span], b: Iterable[Span]) -> list[Span]:
    """Where both unions of spans hold."""
    left, right = merge(a), merge(b)
    out: list[Span] = []
    i = j = 0
    while i < len(left) and j < len(right):
        start, end = max(left[i].start, right[j].start), min(left[i].end, right[j].end)
        if start < end:
            out.append(Span(start, end))
        if left[i].end < right[j].end:
            i += 1
        else:
            j += 1
    return out


def grid(stretches: Iterable[Span], cut: Cut) -> Iterator[Span]:
    """The slots cut from each stretch: slot, gap, slot... from its start, each slot wholly inside it."""
    step = cut.slot + cut.gap
    for stretch in stretches:
        start = stretch.start
        while start + cut.slot <= stretch.end:
            yield Span(start, start + cut.slot)
            start += step


def keeps_gap(slot: Span, booked: Iterable[Span], gap: timedelta) -> bool:
    """Whether `slot` leaves a full cleaning gap before and after every booked slot of its cabin."""
    return all(slot.end + gap <= b.start or b.end + gap <= slot.start for b in booked)


def free_slots(open_: Iterable[Span], on_duty: Iterable[Span], closed: Iterable[Span], booked: Iterable[Span],
               cut: Cut, after: datetime) -> list[Span]:
    """One cabin's free slots starting after `after`: cut from where it is open and staffed, none touching
    a closure, each keeping the cleaning gap from every booking."""
    closed, booked = list(closed), list(booked)
    return [slot for slot in grid(intersect(open_, on_duty), cut)
            if slot.start >= after and not any(slot.overlaps(c) for c in closed)
            and keeps_gap(slot, booked, cut.gap)]
