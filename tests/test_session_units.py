"""Session units: the age rule, the appointment book, booking codes and the check-in desk."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from config.schema import CheckInRules
from hygiene.audit import AuditTrail
from protocol.booking_code import CODE_ALPHABET, display_code, new_code, normalise_code
from protocol.eligibility import Verdict, age_on, assess
from runtime.clock import PARIS, Clock
from runtime.storage import Database
from session.appointments import Appointment, AppointmentBook, AppointmentError
from session.checkin import CheckInDesk, CheckInRefused, Refusal

# --- eligibility ---------------------------------------------------------------------------------

TODAY = date(2026, 11, 30)


def test_age_the_day_before_the_18th_birthday() -> None:
    birth = date(2008, 12, 1)
    assert age_on(birth, TODAY) == 17
    assert age_on(birth, date(2026, 12, 1)) == 18


@pytest.mark.parametrize(
    ("today", "age"),
    [(date(2026, 2, 28), 17), (date(2026, 3, 1), 18), (date(2024, 2, 28), 15), (date(2024, 2, 29), 16),
     (date(2028, 2, 28), 19), (date(2028, 2, 29), 20)],
)
def test_age_of_a_29_february_birth(today: date, age: int) -> None:
    assert age_on(date(2008, 2, 29), today) == age


def test_adult_alone_is_allowed() -> None:
    e = assess(date(1980, 5, 17), TODAY)
    assert (e.age, e.verdict) == (46, Verdict.ALLOWED)


def test_seventeen_needs_a_representative() -> None:
    e = assess(date(2008, 12, 1), TODAY)
    assert (e.age, e.verdict) == (17, Verdict.NEEDS_REPRESENTATIVE)
    assert assess(date(2008, 12, 1), TODAY, "Marie Dupont").verdict is Verdict.ALLOWED


def test_eighteen_today_is_an_adult() -> None:
    assert assess(date(2008, 11, 30), TODAY).verdict is Verdict.ALLOWED


def test_exactly_fourteen_with_a_representative() -> None:
    birth = date(2012, 11, 30)
    assert assess(birth, TODAY).verdict is Verdict.NEEDS_REPRESENTATIVE
    e = assess(birth, TODAY, "Paul Martin")
    assert (e.age, e.verdict) == (14, Verdict.ALLOWED)


def test_thirteen_is_refused_even_with_a_representative() -> None:
    birth = date(2012, 12, 1)  # 14 tomorrow
    for rep in (None, "", "Paul Martin"):
        e = assess(birth, TODAY, rep)
        assert (e.age, e.verdict) == (13, Verdict.REFUSED_UNDER_14)


@pytest.mark.parametrize("rep", [None, "", "   ", "\t\n"])
def test_minor_with_an_empty_representative_is_not_allowed(rep: str | None) -> None:
    assert assess(date(2010, 1, 1), TODAY, rep).verdict is Verdict.NEEDS_REPRESENTATIVE


# --- booking codes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [("ab23cdef", "AB23CDEF"), (" AB23-CDEF ", "AB23CDEF"), ("ab 23 cd ef", "AB23CDEF"), ("k7qx-m4pa", "K7QXM4PA"),
     ("", None), ("AB23CDE", None), ("AB23CDEFG", None), ("AB23CDE!", None), ("ÀB23CDEF", None),
     ("ab_23cdef", None), ("\x00AB23CDE", None), ("123456", None), ("AB23CDE\n", None),
     # 0/O and 1/I/L are not in the alphabet: a code holding one was mistyped, nothing is guessed
     ("AB23CDE0", None), ("AB23CDEO", None), ("AB23CDE1", None), ("AB23CDEI", None), ("AB23CDEL", None)],
)
def test_normalise_code(raw: str, code: str | None) -> None:
    assert normalise_code(raw) == code


def test_generated_codes_are_eight_unambiguous_characters() -> None:
    assert set(CODE_ALPHABET).isdisjoint("0O1IL") and len(set(CODE_ALPHABET)) == len(CODE_ALPHABET) == 31
    codes = [new_code() for _ in range(2000)]
    assert all(len(code) == 8 and set(code) <= set(CODE_ALPHABET) for code in codes)
    assert all(normalise_code(code) == code for code in codes)
    assert len(set(codes)) == len(codes)
    assert set("".join(codes)) == set(CODE_ALPHABET)  # every symbol is drawn


def test_a_code_is_shown_in_groups_and_taken_back_as_shown() -> None:
    assert display_code("K7QXM4PA") == "K7QX-M4PA"
    code = new_code()
    assert normalise_code(display_code(code).lower()) == code


# --- the appointment book ----------------------------------------------------------------------------

SLOT = datetime(2026, 11, 30, 10, 0, tzinfo=PARIS)
SITE = "NAN231"
NAME = "Jeanne Zorglubovitch"
RULES = CheckInRules()  # 15 min early, 10 min late, 5 wrong codes, 60 s pause doubling up to 900 s
CODE, CODE2, OTHER_SITE, USED = "AB23CDEF", "AB23CDEG", "CHE23XYZ", "USED2345"


def appointment(code: str = CODE, *, slot: datetime = SLOT, site: str = SITE, name: str = NAME) -> Appointment:
    return Appointment(code=code, patient_name=name, birth_date=date(1980, 5, 17), sex="F",
                       slot_start=slot, slot_minutes=30, site=site, gp="Dr Quentin Wxyzabc")


async def started_trail(db: Database) -> AuditTrail:
    trail = AuditTrail(db)
    await trail.start()
    return trail


@pytest.fixture
async def audit(db: Database) -> AuditTrail:
    return await started_trail(db)


@pytest.fixture
async def book(db: Database, audit: AuditTrail) -> AsyncIterator[AppointmentBook]:
    b = AppointmentBook(db, audit=audit, clock=Clock(start=SLOT), rules=RULES)
    await b.start()
    yield b
    await b.stop()


def disk_bytes(db: Database) -> bytes:
    parts = [db.path, db.path.with_name(db.path.name + "-wal"), db.path.with_name(db.path.name + "-journal")]
    return b"".join(p.read_bytes() for p in parts if p.exists())


async def test_add_and_find(book: AppointmentBook) -> None:
    appt = appointment()
    await book.add(appt)
    found = await book.find(CODE)
    assert found == appt
    assert await book.find("ZZZZ9999") is None


async def test_add_refuses_a_duplicate_code(book: AppointmentBook) -> None:
    await book.add(appointment())
    with pytest.raises(AppointmentError):
        await book.add(appointment(name="Someone Else"))


@pytest.mark.parametrize("code", ["ab23cdef", "AB23-CDEF", "A!", "123456", "AB23CDE0"])
async def test_add_refuses_a_code_not_in_normal_form(book: AppointmentBook, code: str) -> None:
    with pytest.raises(AppointmentError):
        await book.add(appointment(code))


async def test_add_refuses_a_naive_slot(book: AppointmentBook) -> None:
    with pytest.raises(AppointmentError):
        await book.add(appointment(slot=SLOT.replace(tzinfo=None)))


async def test_consume_wipes_personal_data_from_the_disk(book: AppointmentBook, db: Database) -> None:
    await book.add(appointment())
    await book.add(appointment("KEEP2345", name="Other Patientname"))
    assert NAME.encode() in disk_bytes(db)  # the search works before the wipe
    used = SLOT - timedelta(minutes=5)
    await book.consume(CODE, used, "session-1")
    data = disk_bytes(db)
    assert NAME.encode() not in data
    assert b"Zorglubovitch" not in data
    assert b"Other Patientname" in data  # only the consumed appointment is wiped
    found = await book.find(CODE)
    assert found is not None
    assert found.used_at == used.isoformat()
    assert (found.patient_name, found.sex, found.gp) == ("", "", "")
    assert (found.slot_start, found.site) == (SLOT, SITE)


async def test_consumed_name_stays_gone_after_more_writes_and_a_restart(tmp_path: Path) -> None:
    database = Database(tmp_path)
    await database.start()
    b = AppointmentBook(database, audit=await started_trail(database), clock=Clock(start=SLOT), rules=RULES)
    await b.start()
    await b.add(appointment())
    await b.consume(CODE, SLOT, "s1")
    await b.add(appointment("NEXT2345", name="Next Person"))
    await b.stop()
    await database.stop()
    assert NAME.encode() not in disk_bytes(database)


async def test_a_no_show_is_deleted_once_the_check_in_window_closed(tmp_path: Path) -> None:
    database = Database(tmp_path)
    await database.start()
    audit = await started_trail(database)
    closes = SLOT + timedelta(minutes=RULES.late_minutes)
    b = AppointmentBook(database, audit=audit, clock=Clock(start=SLOT), rules=RULES)
    await b.start()
    await b.add(appointment(name="Noshow Quimperlé"))
    await b.add(appointment(CODE2, slot=SLOT + timedelta(hours=1), name="Later Patientname"))
    await b.add(appointment(USED))
    await b.consume(USED, SLOT, "s1")
    await b.stop()
    await database.stop()
    # The station starts again just after the window closed: the no-show's booking goes, name and all.
    await database.start()
    b = AppointmentBook(database, audit=audit, clock=Clock(start=closes + timedelta(seconds=1)), rules=RULES)
    await b.start()
    try:
        assert await b.find(CODE) is None
        assert await b.find(CODE2) is not None  # its window is still to come
        assert await b.find(USED) is not None  # a used code stays, so that it cannot be used twice
        assert b"Noshow Quimperl" not in disk_bytes(database)
        entries = [e for e in await audit.entries() if e.event == "no_shows_deleted"]
        assert [json.loads(e.detail) for e in entries] == [{"count": 1}]
        assert await b.delete_no_shows() == 0  # nothing more, and no empty entry
        assert len([e for e in await audit.entries() if e.event == "no_shows_deleted"]) == 1
    finally:
        await b.stop()
        await database.stop()


async def test_no_shows_are_deleted_on_a_schedule(tmp_path: Path) -> None:
    database = Database(tmp_path)
    await database.start()
    clock = Clock(start=SLOT, speed=1000.0)  # a sweep every 60 clock seconds: every 60 ms
    b = AppointmentBook(database, audit=await started_trail(database), clock=clock, rules=RULES)
    await b.start()
    try:
        await b.add(appointment(slot=SLOT - timedelta(minutes=RULES.late_minutes) + timedelta(seconds=30)))
        assert await b.find(CODE) is not None  # its window is still open: kept at start
        deadline = clock.monotonic() + 600
        while await b.find(CODE) is not None:
            assert clock.monotonic() < deadline, "the no-show's booking was not deleted by a sweep"
            await clock.sleep(10)
    finally:
        await b.stop()
        await database.stop()


# --- the check-in desk -------------------------------------------------------------------------------


@dataclass
class Desk:
    desk: CheckInDesk
    book: AppointmentBook
    audit: AuditTrail

    async def refused(self, code: str, now: datetime = SLOT) -> CheckInRefused:
        with pytest.raises(CheckInRefused) as info:
            await self.desk.verify(code, now)
        return info.value


def check_in_desk(book: AppointmentBook, db: Database, audit: AuditTrail) -> CheckInDesk:
    return CheckInDesk(book, RULES, SITE, db=db, audit=audit)


@pytest.fixture
async def desk(book: AppointmentBook, db: Database, audit: AuditTrail) -> Desk:
    await book.add(appointment(CODE))
    await book.add(appointment(CODE2))
    await book.add(appointment(OTHER_SITE, site="CHE132"))
    await book.add(appointment(USED))
    await book.consume(USED, SLOT - timedelta(minutes=1), "old-session")
    desk = check_in_desk(book, db, audit)
    await desk.start()
    return Desk(desk, book, audit)


def test_default_rules_are_the_ones_tested() -> None:
    assert (RULES.early_minutes, RULES.late_minutes, RULES.max_wrong_codes, RULES.pause_s) == (15, 10, 5, 60.0)
    assert (RULES.max_pause_s, RULES.forget_after_s) == (900.0, 3600.0)


def test_a_longest_pause_shorter_than_the_first_is_refused() -> None:
    with pytest.raises(ValueError, match="max_pause_s"):
        CheckInRules(pause_s=120, max_pause_s=60)


@pytest.mark.parametrize("offset", [-15, -1, 0, 5, 10])
async def test_accepted_in_the_window(desk: Desk, offset: int) -> None:
    appt = await desk.desk.verify("ab23-cdef", SLOT + timedelta(minutes=offset))
    assert appt.code == CODE and appt.patient_name == NAME


async def test_window_in_another_time_zone(desk: Desk) -> None:
    appt = await desk.desk.verify(CODE, SLOT.astimezone(UTC) - timedelta(minutes=15))
    assert appt.code == CODE


async def test_too_early(desk: Desk) -> None:
    err = await desk.refused(CODE, SLOT - timedelta(minutes=16))
    assert err.reason is Refusal.TOO_EARLY
    assert err.opens_at == SLOT - timedelta(minutes=15)  # the refusal says from when the code works
    assert f"{SLOT - timedelta(minutes=15):%H:%M}" in str(err)
    err = await desk.refused(CODE, SLOT - timedelta(minutes=15, seconds=1))
    assert err.reason is Refusal.TOO_EARLY


async def test_too_late(desk: Desk) -> None:
    err = await desk.refused(CODE, SLOT + timedelta(minutes=11))
    assert err.reason is Refusal.TOO_LATE
    err = await desk.refused(CODE, SLOT + timedelta(minutes=10, seconds=1))
    assert err.reason is Refusal.TOO_LATE


async def test_wrong_site(desk: Desk) -> None:
    err = await desk.refused(OTHER_SITE)
    assert err.reason is Refusal.WRONG_SITE
    assert "CHE132" in str(err)


async def test_already_used(desk: Desk) -> None:
    assert (await desk.refused(USED)).reason is Refusal.ALREADY_USED


@pytest.mark.parametrize("code", ["ZZZZ9999", "", "!!", "A" * 40])
async def test_unknown_code(desk: Desk, code: str) -> None:
    err = await desk.refused(code)
    assert err.reason is Refusal.UNKNOWN_CODE
    assert err.retry_after_s == 0.0


async def wrong_codes(desk: Desk, n: int, now: datetime = SLOT) -> None:
    for i in range(n):
        assert (await desk.refused(f"WRONG{i}", now)).reason is Refusal.UNKNOWN_CODE


def at(seconds: float) -> datetime:
    return SLOT + timedelta(seconds=seconds)


async def test_five_wrong_codes_pause_check_in(desk: Desk) -> None:
    await wrong_codes(desk, 5, at(0))
    err = await desk.refused(CODE, at(0))  # a correct code during the pause
    assert err.reason is Refusal.PAUSED
    assert err.retry_after_s == pytest.approx(60.0)
    assert desk.desk.paused_for(at(0)) == pytest.approx(60.0)
    err = await desk.refused(CODE, at(59))
    assert err.reason is Refusal.PAUSED and err.retry_after_s == pytest.approx(1.0)
    assert desk.desk.paused_for(at(60)) == 0.0
    assert (await desk.desk.verify(CODE, at(60))).code == CODE


async def test_each_pause_lasts_twice_as_long_up_to_the_longest(desk: Desk) -> None:
    lengths, t = [], 0.0
    for _ in range(7):
        await wrong_codes(desk, 5, at(t))
        lengths.append(desk.desk.paused_for(at(t)))
        t += lengths[-1]
    assert lengths == [60.0, 120.0, 240.0, 480.0, 900.0, 900.0, 900.0]


async def test_a_pause_does_not_count_attempts_made_during_it(desk: Desk) -> None:
    await wrong_codes(desk, 5, at(0))
    for _ in range(10):
        assert (await desk.refused("WRONG99", at(30))).reason is Refusal.PAUSED
    assert desk.desk.paused_for(at(60)) == 0.0
    # After the pause the count starts again from zero: four wrong codes do not pause.
    await wrong_codes(desk, 4, at(61))
    assert (await desk.desk.verify(CODE, at(61))).code == CODE


async def test_a_valid_code_does_not_reset_the_count_only_a_confirmed_check_in_does(desk: Desk) -> None:
    await wrong_codes(desk, 4)
    assert (await desk.desk.verify(CODE2, SLOT)).code == CODE2  # not confirmed: the count stays at 4
    await wrong_codes(desk, 1)
    assert desk.desk.paused_for(SLOT) == pytest.approx(60.0)
    await desk.desk.confirmed(at(60))
    await wrong_codes(desk, 4, at(60))
    assert desk.desk.paused_for(at(60)) == 0.0


async def test_this_is_not_me_counts_as_a_wrong_code(desk: Desk) -> None:
    await wrong_codes(desk, 4)
    assert (await desk.desk.verify(CODE2, SLOT)).code == CODE2
    await desk.desk.not_me(SLOT)
    assert desk.desk.paused_for(SLOT) == pytest.approx(60.0)


async def test_an_already_used_code_does_not_reset_the_wrong_code_count(desk: Desk) -> None:
    # Someone holding an old printed code could otherwise guess forever, four codes at a time.
    await wrong_codes(desk, 4)
    assert (await desk.refused(USED)).reason is Refusal.ALREADY_USED
    assert desk.desk.paused_for(SLOT) > 0


async def test_the_count_is_forgotten_after_a_quiet_hour(desk: Desk) -> None:
    await wrong_codes(desk, 4)
    await wrong_codes(desk, 1, at(RULES.forget_after_s))
    assert desk.desk.paused_for(at(RULES.forget_after_s)) == 0.0
    details = [json.loads(e.detail) for e in await desk.audit.entries() if e.event == "wrong_codes"]
    assert [d["count"] for d in details] == [4]  # the forgotten run is audited once


async def test_a_clock_set_back_does_not_lengthen_a_pause(desk: Desk) -> None:
    await wrong_codes(desk, 5, at(0))
    back = at(-86400)  # the wall clock went back a day after the pause started
    assert desk.desk.paused_for(back) == RULES.max_pause_s
    assert (await desk.refused(CODE, back)).reason is Refusal.PAUSED
    later = back + timedelta(seconds=RULES.max_pause_s)
    assert desk.desk.paused_for(later) == 0.0
    assert (await desk.refused("WRONG99", later)).reason is Refusal.UNKNOWN_CODE


async def test_the_pause_survives_a_restart(tmp_path: Path) -> None:
    database = Database(tmp_path)
    await database.start()
    audit = await started_trail(database)
    b = AppointmentBook(database, audit=audit, clock=Clock(start=SLOT), rules=RULES)
    await b.start()
    desk = check_in_desk(b, database, audit)
    await desk.start()
    for i in range(RULES.max_wrong_codes):
        with pytest.raises(CheckInRefused):
            await desk.verify(f"WRONG{i}", SLOT)
    await b.stop()
    await database.stop()

    await database.start()
    b = AppointmentBook(database, audit=audit, clock=Clock(start=SLOT), rules=RULES)
    await b.start()
    desk = check_in_desk(b, database, audit)
    await desk.start()
    try:
        assert desk.paused_for(at(10)) == pytest.approx(50.0)
        with pytest.raises(CheckInRefused) as info:
            await desk.verify("WRONG99", at(10))
        assert info.value.reason is Refusal.PAUSED
    finally:
        await b.stop()
        await database.stop()


async def test_two_hundred_wrong_codes_write_a_bounded_number_of_audit_rows(desk: Desk) -> None:
    t = 0.0
    for i in range(200):  # as fast as they come, and waiting out every pause
        with pytest.raises(CheckInRefused):
            await desk.desk.verify(f"WRONG{i}", at(t))
        t += desk.desk.paused_for(at(t)) if i % 2 else 0.0
    entries = [e for e in await desk.audit.entries() if e.event == "wrong_codes"]
    assert 0 < len(entries) <= 200 // RULES.max_wrong_codes
    details = [json.loads(e.detail) for e in entries]
    assert sum(d["count"] for d in details) + sum(d["while_paused"] for d in details) <= 200
    assert details[0]["reasons"] == {"unknown_code": RULES.max_wrong_codes} and details[0]["pause_s"] == 60.0
    assert not [e for e in await desk.audit.entries() if e.event == "code_refused"]
