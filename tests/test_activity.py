"""The activity figures as pure functions, with vectors written beside them (docs/design.md, "Activity"):
percentiles, ISO weeks, a mobile unit's stop days and weeks, waiting times, the regular doctor's share, a fixed
cabin's unknown consultations, and the CSV a French spreadsheet opens."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hub.booking.activity import (
    BookingFact,
    DayRow,
    RegularDoctor,
    VisitFact,
    Waits,
    WeekRow,
    figures,
    iso_week,
    percentile,
    regular_doctor,
    waits,
)
from hub.booking.activity_api import activity_csv, activity_json
from tests.booking import MONDAY, PARIS, at

TUESDAY, THURSDAY, SUNDAY = MONDAY + timedelta(days=1), MONDAY + timedelta(days=3), MONDAY + timedelta(days=6)
PLACES = {MONDAY: "Sancoins", TUESDAY: "Lignières", THURSDAY: "Henrichemont"}


def booking(day: date, hhmm: str, status: str, person: str, regular: bool | None) -> BookingFact:
    return BookingFact(at(day, hhmm), status, person, regular)


def visit(day: date, status: str, arrived: str, called: str | None = None, started: str | None = None) -> VisitFact:
    return VisitFact(day, status, at(day, arrived), at(day, called) if called else None,
                     at(day, started) if started else None)


BOOKINGS = (
    booking(MONDAY, "09:00", "booked", "A", True),
    booking(MONDAY, "09:45", "booked", "B", False),
    booking(MONDAY, "10:30", "no_show", "C", None),
    booking(MONDAY, "11:15", "cancelled", "D", False),  # cancelled: neither a booking held nor a patient
    booking(TUESDAY, "09:00", "booked", "A", None),  # A answered before: that answer stands
    booking(TUESDAY, "09:45", "booked", "E", False),
    booking(MONDAY + timedelta(days=7), "09:00", "booked", "F", False),  # after the range
)
VISITS = (
    visit(MONDAY, "done", "09:00", "09:10", "09:12"),
    visit(MONDAY, "seen", "09:05", "09:30", "09:31"),
    visit(MONDAY, "left", "09:20"),  # gone before being called: no consultation, no wait measured
    visit(TUESDAY, "done", "09:00", "09:04", "09:05"),
)


def test_percentiles_medians_and_weeks_follow_their_definitions() -> None:
    assert percentile([10, 20, 30], 0.9) == 30  # rank ceil(2.7) = 3
    assert percentile(list(range(60, 660, 60)), 0.9) == 540  # ten values: rank 9
    assert percentile([5], 0.9) == 5
    assert waits([]) == Waits(0, None, None)
    assert waits([600.0, 1500.0]) == Waits(2, 1050, 1500)
    assert waits([90.4, 30.0, 60.0]) == Waits(3, 60, 90)
    assert iso_week(MONDAY) == "2026-W50" and iso_week(SUNDAY) == "2026-W50"
    assert iso_week(date(2027, 1, 1)) == "2026-W53" and iso_week(date(2027, 1, 4)) == "2027-W01"


def test_each_patient_counts_once_with_their_latest_answer() -> None:
    assert regular_doctor(BOOKINGS[:6]) == RegularDoctor(patients=4, answered=3, without=2)
    assert RegularDoctor(4, 3, 2).share_without == 0.6667
    assert RegularDoctor(1, 0, 0).share_without is None
    changed = (booking(MONDAY, "09:00", "booked", "A", True), booking(TUESDAY, "09:00", "booked", "A", False))
    assert regular_doctor(changed) == RegularDoctor(1, 1, 1)


def test_a_mobile_units_stop_days_weeks_and_waits() -> None:
    activity = figures("CHR180", MONDAY, SUNDAY, PARIS, BOOKINGS, VISITS, PLACES, "Cabinet mobile", visits_kept=True)
    assert activity.days == (
        DayRow(MONDAY, "2026-W50", "Sancoins", 3, 1, 2, Waits(2, 1050, 1500), Waits(2, 90, 120)),
        DayRow(TUESDAY, "2026-W50", "Lignières", 2, 0, 1, Waits(1, 240, 240), Waits(1, 60, 60)),
        DayRow(THURSDAY, "2026-W50", "Henrichemont", 0, 0, 0, Waits(0, None, None), Waits(0, None, None)),
    )
    assert activity.weeks == (WeekRow("2026-W50", 5, 1, 3),)
    assert (activity.bookings, activity.no_shows, activity.consultations) == (5, 1, 3)
    assert activity.waiting == Waits(3, 600, 1500)
    assert activity.call_to_start == Waits(3, 60, 120)
    assert activity.regular_doctor == RegularDoctor(4, 3, 2)
    body = activity_json(activity)
    assert body["regular_doctor"]["share_without"] == 0.6667
    assert body["days"][0] == {"day": "2026-12-07", "week": "2026-W50", "place": "Sancoins", "bookings": 3,
                               "no_shows": 1, "consultations": 2,
                               "waiting": {"count": 2, "median_s": 1050, "p90_s": 1500},
                               "call_to_start": {"count": 2, "median_s": 90, "p90_s": 120}}


def test_a_fixed_cabins_consultations_are_unknown_and_its_days_are_local() -> None:
    late = BookingFact(datetime(2026, 12, 7, 23, 30, tzinfo=UTC), "booked", "G", None)  # 00:30 on Tuesday in Paris
    cabin = (booking(MONDAY, "09:00", "booked", "A", True), late,
             booking(MONDAY + timedelta(days=8), "09:00", "no_show", "B", False))
    activity = figures("NAN231", MONDAY, MONDAY + timedelta(days=13), PARIS, cabin, (), {}, "Nangis",
                       visits_kept=False)
    assert [(r.day, r.place, r.bookings, r.no_shows, r.consultations) for r in activity.days] == [
        (MONDAY, "Nangis", 1, 0, None), (TUESDAY, "Nangis", 1, 0, None),
        (MONDAY + timedelta(days=8), "Nangis", 1, 1, None)]
    assert activity.weeks == (WeekRow("2026-W50", 2, 0, None), WeekRow("2026-W51", 1, 1, None))
    assert activity.consultations is None and activity.waiting == Waits(0, None, None)
    assert activity_csv(activity) == (
        "\ufeffJour;Semaine ISO;Lieu;Rendez-vous tenus;Absences;Consultations;Attentes mesurées;"
        "Attente médiane (s);Attente 90e centile (s);Appel à début médiane (s);Appel à début 90e centile (s)\r\n"
        "2026-12-07;2026-W50;Nangis;1;0;;0;;;;\r\n"
        "2026-12-08;2026-W50;Nangis;1;0;;0;;;;\r\n"
        "2026-12-15;2026-W51;Nangis;1;1;;0;;;;\r\n")
    assert activity_csv(activity, "en").startswith("\ufeffDay;ISO week;Place;Bookings held;No-shows;")
