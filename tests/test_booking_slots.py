"""Slot cutting as pure functions (hub/booking/slots.py; docs/design.md, "The book")."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from pydantic import ValidationError

from hub.booking.slots import Cut, Span, free_slots, grid, intersect, keeps_gap, merge, opening
from hub.config import SiteSection, StopSection
from tests.booking import MONDAY, SITES, WEEKDAY_HOURS, at

CUT = Cut(timedelta(minutes=30), timedelta(minutes=15))


def span(day: date, start: str, end: str) -> Span:
    return Span(at(day, start), at(day, end))


def test_a_site_opens_on_its_weekdays_in_its_own_time_zone() -> None:
    nangis = SITES[0]
    assert opening(nangis, MONDAY) == [span(MONDAY, "09:00", "12:30"), span(MONDAY, "13:30", "17:00")]
    assert opening(nangis, MONDAY + timedelta(days=6)) == []  # Sunday
    assert opening(nangis, MONDAY)[0].start.utcoffset() == timedelta(hours=1)  # CET in December


def test_on_the_night_clocks_go_forward_local_hours_stay_local() -> None:
    spring = date(2027, 3, 29)  # the Monday after the change to CEST
    first = opening(SITES[0], spring)[0]
    assert (first.start.hour, first.start.utcoffset()) == (9, timedelta(hours=2))


def test_a_mobile_unit_is_open_only_at_its_stops() -> None:
    unit = SiteSection(code="CHR18", name="Cabinet médical mobile", town="Cher", stops=(
        StopSection(date=MONDAY, place="Place de l'Église", address="Place de l'Église, 18160 Lignières",
                    hours=("09:30-12:00",)),))
    assert opening(unit, MONDAY) == [span(MONDAY, "09:30", "12:00")]
    assert opening(unit, MONDAY + timedelta(days=1)) == []
    assert unit.mobile and not SITES[0].mobile


@pytest.mark.parametrize("fields", [
    {"hours": {"mon": ("09:00-12:00", "11:00-13:00")}},  # overlapping
    {"hours": {"lun": ("09:00-12:00",)}},  # not a day
    {"hours": {"mon": ("12:00-09:00",)}},  # closes before it opens
    {"hours": {"mon": ("9h-12h",)}},
    {"timezone": "Europe/Nowhere"},
    {"address": ""},  # a fixed site needs its street address
])
def test_a_wrong_site_is_refused_when_the_file_is_read(fields: dict[str, object]) -> None:
    values: dict[str, object] = {"code": "NAN231", "name": "Nangis", "town": "Nangis", "address": "13 bd Voltaire",
                                 "hours": WEEKDAY_HOURS.model_dump(), **fields}
    with pytest.raises(ValidationError):
        SiteSection.model_validate(values)


def test_spans_merge_and_intersect() -> None:
    a = [span(MONDAY, "09:00", "10:00"), span(MONDAY, "10:00", "11:00"), span(MONDAY, "13:00", "14:00")]
    assert merge(a) == [span(MONDAY, "09:00", "11:00"), span(MONDAY, "13:00", "14:00")]
    b = [span(MONDAY, "10:30", "13:30")]
    assert intersect(a, b) == [span(MONDAY, "10:30", "11:00"), span(MONDAY, "13:00", "13:30")]


def test_the_grid_leaves_the_cleaning_gap_after_every_slot_and_no_slot_overruns() -> None:
    slots = list(grid([span(MONDAY, "09:00", "10:40")], CUT))
    assert slots == [span(MONDAY, "09:00", "09:30"), span(MONDAY, "09:45", "10:15")]


def test_a_free_slot_keeps_the_gap_from_a_booking_off_the_grid() -> None:
    booked = [span(MONDAY, "09:50", "10:20")]  # made under an older session that began at 09:05
    assert not keeps_gap(span(MONDAY, "09:45", "10:15"), booked, CUT.gap)
    assert not keeps_gap(span(MONDAY, "10:30", "11:00"), booked, CUT.gap)  # 10 minutes to clean: too short
    assert keeps_gap(span(MONDAY, "10:35", "11:05"), booked, CUT.gap)
    free = free_slots([span(MONDAY, "09:00", "12:30")], [span(MONDAY, "09:00", "12:30")], [], booked, CUT,
                      at(MONDAY, "08:00"))
    assert [s.start for s in free] == [at(MONDAY, t) for t in ("09:00", "11:15", "12:00")]


def test_closures_and_the_past_remove_slots() -> None:
    open_ = duty = [span(MONDAY, "09:00", "12:30")]
    free = free_slots(open_, duty, [span(MONDAY, "10:00", "11:00")], [], CUT, at(MONDAY, "09:30"))
    assert [s.start for s in free] == [at(MONDAY, t) for t in ("11:15", "12:00")]
