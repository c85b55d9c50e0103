"""Session units: the age rule, the appointment book, booking codes and the check-in desk."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from config.schema import CheckInRules
from runtime.clock import PARIS
from runtime.storage import Database
from session.appointments import Appointment, AppointmentBook, AppointmentError, normalise_code
from session.checkin import CheckInDesk, CheckInRefused, Refusal
from session.eligibility import Verdict, age_on, assess

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
    [("ab12cd", "AB12CD"), (" AB12-CD ", "AB12CD"), ("ab 12 cd", "AB12CD"), ("ABCD", "ABCD"),
     ("A" * 12, "A" * 12), ("", None), ("ABC", None), ("A" * 13, None), ("AB12C!", None),
     ("ÀB12CD", None), ("ab_12cd", None), ("\x00ABCD", None)],
)
def test_normalise_code(raw: str, code: str | None) -> None:
    assert normalise_code(raw) == code


# --- the appointment book ----------------------------------------------------------------------------

SLOT = datetime(2026, 11, 30, 10, 0, tzinfo=PARIS)
SITE = "NAN231"
NAME = "Jeanne Zorglubovitch"


def appointment(code: str = "AB12CD", *, slot: datetime = SLOT, site: str = SITE, name: str = NAME) -> Appointment:
    return Appointment(code=code, patient_name=name, birth_date=date(1980, 5, 17), sex="F",
                       slot_start=slot, slot_minutes=30, site=site, gp="Dr Quentin Wxyzabc")


@pytest.fixture
async def book(db: Database) -> AppointmentBook:
    b = AppointmentBook(db)
    await b.start()
    return b


def disk_bytes(db: Database) -> bytes:
    parts = [db.path, db.path.with_name(db.path.name + "-wal"), db.path.with_name(db.path.name + "-journal")]
    return b"".join(p.read_bytes() for p in parts if p.exists())


async def test_add_and_find(book: AppointmentBook) -> None:
    appt = appointment()
    await book.add(appt)
    found = await book.find("AB12CD")
    assert found == appt
    assert await book.find("ZZZZ99") is None


async def test_add_refuses_a_duplicate_code(book: AppointmentBook) -> None:
    await book.add(appointment())
    with pytest.raises(AppointmentError):
        await book.add(appointment(name="Someone Else"))


@pytest.mark.parametrize("code", ["ab12cd", "AB-12CD", "A!"])
async def test_add_refuses_a_code_not_in_normal_form(book: AppointmentBook, code: str) -> None:
    with pytest.raises(AppointmentError):
        await book.add(appointment(code))


async def test_add_refuses_a_naive_slot(book: AppointmentBook) -> None:
    with pytest.raises(AppointmentError):
        await book.add(appointment(slot=SLOT.replace(tzinfo=None)))


async def test_consume_wipes_personal_data_from_the_disk(book: AppointmentBook, db: Database) -> None:
    await book.add(appointment())
    await book.add(appointment("KEEP01", name="Other Patientname"))
    assert NAME.encode() in disk_bytes(db)  # the search works before the wipe
    used = SLOT - timedelta(minutes=5)
    await book.consume("AB12CD", used, "session-1")
    data = disk_bytes(db)
    assert NAME.encode() not in data
    assert b"Zorglubovitch" not in data
    assert b"Other Patientname" in data  # only the consumed appointment is wiped
    found = await book.find("AB12CD")
    assert found is not None
    assert found.used_at == used.isoformat()
    assert (found.patient_name, found.sex, found.gp) == ("", "", "")
    assert (found.slot_start, found.site) == (SLOT, SITE)


async def test_consumed_name_stays_gone_after_more_writes_and_a_restart(tmp_path: Path) -> None:
    database = Database(tmp_path)
    await database.start()
    b = AppointmentBook(database)
    await b.start()
    await b.add(appointment())
    await b.consume("AB12CD", SLOT, "s1")
    await b.add(appointment("NEXT01", name="Next Person"))
    await database.stop()
    assert NAME.encode() not in disk_bytes(database)


# --- the check-in desk -------------------------------------------------------------------------------

RULES = CheckInRules()  # 15 min early, 10 min late, 5 wrong codes, 60 s pause


@dataclass
class Desk:
    desk: CheckInDesk
    book: AppointmentBook

    async def refused(self, code: str, now: datetime = SLOT, mono: float = 0.0) -> CheckInRefused:
        with pytest.raises(CheckInRefused) as info:
            await self.desk.verify(code, now, mono)
        return info.value


@pytest.fixture
async def desk(book: AppointmentBook) -> Desk:
    await book.add(appointment("AB12CD"))
    await book.add(appointment("AB12CE"))
    await book.add(appointment("CHE001", site="CHE132"))
    await book.add(appointment("USED01"))
    await book.consume("USED01", SLOT - timedelta(minutes=1), "old-session")
    return Desk(CheckInDesk(book, RULES, SITE), book)


def test_default_rules_are_the_ones_tested() -> None:
    assert (RULES.early_minutes, RULES.late_minutes, RULES.max_wrong_codes, RULES.pause_s) == (15, 10, 5, 60.0)


@pytest.mark.parametrize("offset", [-15, -1, 0, 5, 10])
async def test_accepted_in_the_window(desk: Desk, offset: int) -> None:
    appt = await desk.desk.verify("ab12-cd", SLOT + timedelta(minutes=offset), 0.0)
    assert appt.code == "AB12CD" and appt.patient_name == NAME


async def test_window_in_another_time_zone(desk: Desk) -> None:

    appt = await desk.desk.verify("AB12CD", SLOT.astimezone(UTC) - timedelta(minutes=15), 0.0)
    assert appt.code == "AB12CD"


async def test_too_early(desk: Desk) -> None:
    err = await desk.refused("AB12CD", SLOT - timedelta(minutes=16))
    assert err.reason is Refusal.TOO_EARLY
    assert err.opens_at == SLOT - timedelta(minutes=15)  # the refusal says from when the code works
    assert f"{SLOT - timedelta(minutes=15):%H:%M}" in str(err)
    err = await desk.refused("AB12CD", SLOT - timedelta(minutes=15, seconds=1))
    assert err.reason is Refusal.TOO_EARLY


async def test_too_late(desk: Desk) -> None:
    err = await desk.refused("AB12CD", SLOT + timedelta(minutes=11))
    assert err.reason is Refusal.TOO_LATE
    err = await desk.refused("AB12CD", SLOT + timedelta(minutes=10, seconds=1))
    assert err.reason is Refusal.TOO_LATE


async def test_wrong_site(desk: Desk) -> None:
    err = await desk.refused("CHE001")
    assert err.reason is Refusal.WRONG_SITE
    assert "CHE132" in str(err)


async def test_already_used(desk: Desk) -> None:
    assert (await desk.refused("USED01")).reason is Refusal.ALREADY_USED


@pytest.mark.parametrize("code", ["ZZZZ99", "", "!!", "A" * 40])
async def test_unknown_code(desk: Desk, code: str) -> None:
    err = await desk.refused(code)
    assert err.reason is Refusal.UNKNOWN_CODE
    assert err.retry_after_s == 0.0


async def wrong_codes(desk: Desk, n: int, mono: float) -> None:
    for i in range(n):
        assert (await desk.refused(f"WRONG{i}", mono=mono)).reason is Refusal.UNKNOWN_CODE


async def test_five_wrong_codes_pause_check_in(desk: Desk) -> None:
    await wrong_codes(desk, 5, mono=100.0)
    err = await desk.refused("AB12CD", mono=100.0)  # a correct code during the pause
    assert err.reason is Refusal.PAUSED
    assert err.retry_after_s == pytest.approx(60.0)
    assert desk.desk.paused_for(100.0) == pytest.approx(60.0)
    err = await desk.refused("AB12CD", mono=159.0)
    assert err.reason is Refusal.PAUSED and err.retry_after_s == pytest.approx(1.0)
    assert desk.desk.paused_for(160.0) == 0.0
    appt = await desk.desk.verify("AB12CD", SLOT, 160.0)
    assert appt.code == "AB12CD"


async def test_a_pause_does_not_count_attempts_made_during_it(desk: Desk) -> None:
    await wrong_codes(desk, 5, mono=0.0)
    for _ in range(10):
        assert (await desk.refused("WRONG9", mono=30.0)).reason is Refusal.PAUSED
    assert desk.desk.paused_for(60.0) == 0.0
    # After the pause the count starts again from zero: four wrong codes do not pause.
    await wrong_codes(desk, 4, mono=61.0)
    assert (await desk.desk.verify("AB12CD", SLOT, 61.0)).code == "AB12CD"


async def test_four_wrong_codes_do_not_pause(desk: Desk) -> None:
    await wrong_codes(desk, 4, mono=0.0)
    assert (await desk.desk.verify("AB12CD", SLOT, 0.0)).code == "AB12CD"


async def test_a_correct_code_resets_the_wrong_code_count(desk: Desk) -> None:
    await wrong_codes(desk, 4, mono=0.0)
    await desk.desk.verify("AB12CD", SLOT, 0.0)
    await wrong_codes(desk, 4, mono=0.0)
    assert desk.desk.paused_for(0.0) == 0.0
    assert (await desk.desk.verify("AB12CE", SLOT, 0.0)).code == "AB12CE"
    await wrong_codes(desk, 5, mono=0.0)
    assert desk.desk.paused_for(0.0) == pytest.approx(60.0)


async def test_an_already_used_code_does_not_reset_the_wrong_code_count(desk: Desk) -> None:
    # Someone holding an old printed code could otherwise guess forever, four codes at a time.
    await wrong_codes(desk, 4, mono=0.0)
    assert (await desk.refused("USED01", mono=0.0)).reason is Refusal.ALREADY_USED
    await wrong_codes(desk, 1, mono=0.0)
    assert desk.desk.paused_for(0.0) > 0
