"""Opening hours: weekly sites and the mobile unit's programme (config/hours.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from config.hours import Schedule
from config.loader import load_config
from config.schema import MobileUnit
from runtime.clock import PARIS

CONFIG = load_config()


def schedule(code: str) -> Schedule:
    place = CONFIG.mobile if CONFIG.mobile and CONFIG.mobile.code == code else next(
        s for s in CONFIG.sites if s.code == code
    )
    assert place is not None
    return Schedule(place, PARIS)


def at(y: int, mo: int, d: int, h: int, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, us, tzinfo=PARIS)


# 2026-11-30 is a Monday.
MON, TUE, WED, THU, FRI, SAT, SUN = (date(2026, 11, 30) + timedelta(days=i) for i in range(7))


def on(day: date, h: int, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    return at(day.year, day.month, day.day, h, mi, s, us)


@pytest.mark.parametrize(
    ("day", "h", "mi", "open_"),
    [
        (MON, 10, 0, True), (MON, 12, 30, False), (MON, 15, 0, True), (MON, 8, 59, False), (MON, 17, 30, False),
        (TUE, 10, 0, False), (WED, 10, 0, True), (WED, 15, 0, False), (THU, 15, 0, True),
        (FRI, 10, 0, False), (SAT, 10, 0, False), (SUN, 10, 0, False),
    ],
)
def test_nangis_open_inside_intervals_only(day: date, h: int, mi: int, open_: bool) -> None:
    assert schedule("NAN231").is_open(on(day, h, mi)) is open_


def test_boundaries_start_included_end_excluded() -> None:
    nangis = schedule("NAN231")
    assert not nangis.is_open(on(MON, 8, 59, 59, 999999))
    assert nangis.is_open(on(MON, 9, 0))
    assert nangis.is_open(on(MON, 11, 59, 59, 999999))
    assert not nangis.is_open(on(MON, 12, 0))
    assert nangis.is_open(on(MON, 13, 30))
    assert not nangis.is_open(on(MON, 17, 0))


def test_current_period_reports_its_bounds_and_place() -> None:
    period = schedule("NAN231").current(on(MON, 14, 0))
    assert period is not None
    assert (period.start, period.end) == (on(MON, 13, 30), on(MON, 17, 0))
    assert "Nangis" in period.place


def test_a_time_in_another_zone_is_compared_as_an_instant() -> None:
    # 08:30 UTC is 09:30 in Paris in winter.
    assert schedule("NAN231").is_open(datetime(2026, 11, 30, 8, 30, tzinfo=UTC))
    assert not schedule("NAN231").is_open(datetime(2026, 11, 30, 7, 30, tzinfo=UTC))


def test_nangis_next_opening_from_friday_evening_is_monday_morning() -> None:
    period = schedule("NAN231").next_opening(on(FRI - timedelta(days=7), 18, 0))
    assert period is not None
    assert period.start == on(MON, 9, 0)


def test_next_opening_during_an_open_period_is_the_following_period() -> None:
    nangis = schedule("NAN231")
    assert nangis.next_opening(on(MON, 10, 0)).start == on(MON, 13, 30)  # type: ignore[union-attr]
    assert nangis.next_opening(on(MON, 13, 30)).start == on(WED, 9, 0)  # type: ignore[union-attr]


def test_chelles_thursday_afternoon_is_closed() -> None:
    chelles = schedule("CHE132")
    assert chelles.is_open(on(THU, 12, 15))
    assert not chelles.is_open(on(THU, 12, 30))
    assert not chelles.is_open(on(THU, 14, 0))
    assert chelles.is_open(on(WED, 14, 0))
    assert chelles.is_open(on(FRI, 14, 0))
    assert chelles.next_opening(on(THU, 12, 45)).start == on(FRI, 9, 0)  # type: ignore[union-attr]


def test_moret_open_weekdays_closed_weekend() -> None:
    moret = schedule("MSL123")
    for day in (MON, TUE, WED, THU, FRI):
        assert moret.is_open(on(day, 9, 0)) and moret.is_open(on(day, 16, 59))
        assert not moret.is_open(on(day, 12, 0)) and not moret.is_open(on(day, 13, 29))
    assert not moret.is_open(on(SAT, 10, 0)) and not moret.is_open(on(SUN, 10, 0))


# --- the mobile unit -------------------------------------------------------------------------------


def mobile() -> tuple[Schedule, MobileUnit]:
    unit = CONFIG.mobile
    assert unit is not None
    return Schedule(unit, PARIS), unit


def test_mobile_open_only_on_a_stop() -> None:
    sched, unit = mobile()
    stops = sorted(unit.stops, key=lambda s: s.date)
    first = stops[0]
    start = first.hours[0].start
    opening = at(first.date.year, first.date.month, first.date.day, start.hour, start.minute)
    assert sched.is_open(opening)
    period = sched.current(opening)
    assert period is not None and period.place == first.place
    # The day after the first stop (not itself a stop) is closed, at the same hour.
    day_after = first.date + timedelta(days=1)
    assert day_after not in {s.date for s in stops}
    assert not sched.is_open(opening + timedelta(days=1))


def test_mobile_next_opening_between_stops_is_the_next_stop() -> None:
    sched, unit = mobile()
    first, second = sorted(unit.stops, key=lambda s: s.date)[:2]
    evening = at(first.date.year, first.date.month, first.date.day, 20, 0)
    period = sched.next_opening(evening)
    assert period is not None
    assert period.start.date() == second.date
    assert period.start.time() == second.hours[0].start
    assert period.place == second.place


def test_mobile_before_the_programme_next_opening_is_the_first_stop() -> None:
    sched, unit = mobile()
    first = min(unit.stops, key=lambda s: s.date)
    period = sched.next_opening(at(2026, 6, 1, 12, 0))
    assert period is not None and period.start.date() == first.date


def test_mobile_after_the_last_stop_has_no_next_opening() -> None:
    sched, unit = mobile()
    last = max(unit.stops, key=lambda s: s.date)
    late = at(last.date.year, last.date.month, last.date.day, 23, 0)
    assert not sched.is_open(late)
    assert sched.next_opening(late) is None
    assert sched.next_opening(late + timedelta(days=30)) is None
    assert list(sched.periods(last.date + timedelta(days=1))) == []


# --- daylight saving time (Europe/Paris, 2026-03-29 and 2026-10-25) -------------------------------


@pytest.mark.parametrize(
    ("monday", "utc_hour"),
    [
        (date(2026, 3, 23), 8),   # before the spring change: UTC+1
        (date(2026, 3, 30), 7),   # after: UTC+2
        (date(2026, 10, 19), 7),  # before the autumn change: UTC+2
        (date(2026, 10, 26), 8),  # after: UTC+1
    ],
)
def test_dst_weeks_still_open_at_nine_local(monday: date, utc_hour: int) -> None:
    nangis = schedule("NAN231")
    nine_local = datetime(monday.year, monday.month, monday.day, utc_hour, 0, tzinfo=UTC)
    assert nangis.is_open(nine_local)
    assert not nangis.is_open(nine_local - timedelta(microseconds=1))
    # From the Friday before the change, the next opening is Monday 09:00 local.
    friday = monday - timedelta(days=3)
    period = nangis.next_opening(at(friday.year, friday.month, friday.day, 18, 0))
    assert period is not None
    assert period.start == nine_local
    assert period.start.astimezone(PARIS).hour == 9
