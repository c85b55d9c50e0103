"""The hub's book on SQLite and PostgreSQL (docs/design.md, "The book"): slots from hours, sessions and
the cleaning gap; bookings, cancellations, moves and closures; races and bad input."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from hub.booking.book import Book
from hub.errors import Refusal
from hub.store.models import AuditEntry, Booking
from protocol.booking_code import CODE_ALPHABET, CODE_LENGTH
from runtime.errors import StationError
from tests.booking import MONDAY, at, open_book, patient

pytestmark = pytest.mark.usefixtures("store_url")


async def on_duty(book: Book, gp: str = "claire.martin", stations: tuple[str, ...] = ("cabin-nangis-1",),
                  start: str = "09:00", end: str = "12:30") -> None:
    await book.publish_session(gp, stations, at(MONDAY, start), at(MONDAY, end), actor="coordinator")


async def count(book: Book) -> int:
    return await book._store.run(lambda s: s.scalar(select(func.count()).select_from(Booking)) or 0)


async def test_slots_are_cut_from_hours_and_sessions_with_the_cleaning_gap_after_each(store_url: URL) -> None:
    async with open_book(store_url) as book:
        assert await book.free_slots("NAN231", MONDAY) == []  # open, but no GP on duty
        await on_duty(book)
        slots = await book.free_slots("NAN231", MONDAY)
    assert [s.start for s in slots] == [at(MONDAY, t) for t in ("09:00", "09:45", "10:30", "11:15", "12:00")]
    assert all(s.end - s.start == timedelta(minutes=30) and s.gps == ("claire.martin",) for s in slots)


async def test_a_booking_takes_its_slot_and_gives_a_readable_code(store_url: URL) -> None:
    async with open_book(store_url) as book:
        await on_duty(book)
        booked = await book.book(patient(at(MONDAY, "09:45")), actor="online", channel="online")
        assert len(booked.code) == CODE_LENGTH and set(booked.code) <= set(CODE_ALPHABET)
        assert booked.station_id == "cabin-nangis-1" and booked.status == "booked"
        assert at(MONDAY, "09:45") not in [s.start for s in await book.free_slots("NAN231", MONDAY)]
        assert (await book.find(booked.code[:4].lower() + "-" + booked.code[4:])) == booked


async def test_fifty_bookings_at_once_for_one_slot_give_exactly_one(store_url: URL) -> None:
    async with open_book(store_url) as book:
        await on_duty(book)
        results = await asyncio.gather(*(
            book.book(patient(at(MONDAY, "10:30"), name=f"Patient {n}"), actor="online", channel="online")
            for n in range(50)), return_exceptions=True)
        made = [r for r in results if not isinstance(r, BaseException)]
        refused = [r for r in results if isinstance(r, Refusal)]
        assert len(made) == 1 and len(refused) == 49
        assert {(r.status, r.code) for r in refused} == {(409, "slot_taken")}
        assert await count(book) == 1


@pytest.mark.parametrize(("start", "fields", "code"), [
    ("07:30", {}, "slot_past"),
    ("08:30", {}, "outside_hours"),
    ("12:45", {}, "outside_hours"),
    ("09:35", {}, "cleaning_gap"),
    ("09:10", {}, "not_a_slot"),
    ("14:00", {}, "no_gp_on_duty"),
    ("09:00", {"birth": date(2031, 1, 1)}, "impossible_birth_date"),
    ("09:00", {"birth": date(1899, 12, 31)}, "impossible_birth_date"),
    ("09:00", {"birth": date(2013, 1, 1)}, "under_14"),
    ("09:00", {"birth": date(2010, 1, 1)}, "representative_needed"),
    ("09:00", {"email": None}, "contact_needed"),
    ("09:00", {"gp": "paul.roux"}, "no_gp_on_duty"),
    ("09:00", {"gp": "nobody"}, "unknown_gp"),
])
async def test_bad_requests_are_refused_saying_why_and_change_nothing(store_url: URL, start: str,
                                                                     fields: dict[str, object], code: str) -> None:
    async with open_book(store_url) as book:
        await on_duty(book)
        with pytest.raises(Refusal) as refused:
            await book.book(patient(at(MONDAY, start), **fields), actor="online", channel="online")
        assert refused.value.code == code and str(refused.value)
        assert await count(book) == 0


async def test_a_minor_with_a_representative_is_booked(store_url: URL) -> None:
    async with open_book(store_url) as book:
        await on_duty(book)
        booked = await book.book(patient(at(MONDAY, "09:00"), birth=date(2010, 1, 1), representative="Anne Lefèvre"),
                                 actor="online", channel="online")
        assert booked.representative == "Anne Lefèvre"


async def test_a_person_holds_a_limited_number_of_future_bookings(store_url: URL) -> None:
    async with open_book(store_url) as book:
        await on_duty(book)
        for start in ("09:00", "09:45"):
            await book.book(patient(at(MONDAY, start)), actor="online", channel="online")
        with pytest.raises(Refusal) as refused:  # the same person, typed differently
            await book.book(patient(at(MONDAY, "10:30"), name="  CAMILLE   lefevre "), actor="online", channel="online")
        assert refused.value.code == "too_many_bookings"


async def test_a_patient_cancels_with_the_code_and_birth_date_and_the_slot_is_free_again(store_url: URL) -> None:
    async with open_book(store_url) as book:
        await on_duty(book)
        booked = await book.book(patient(at(MONDAY, "09:00")), actor="online", channel="online")
        with pytest.raises(Refusal) as refused:
            await book.cancel(booked.code, actor="online", reason="patient", birth_date=date(1968, 4, 13))
        assert refused.value.code == "unknown_booking"
        cancelled = await book.cancel(booked.code, actor="online", reason="patient", birth_date=date(1968, 4, 12))
        assert cancelled.status == "cancelled"
        assert at(MONDAY, "09:00") in [s.start for s in await book.free_slots("NAN231", MONDAY)]
        with pytest.raises(Refusal) as again:
            await book.cancel(booked.code, actor="online", reason="patient")
        assert again.value.code == "not_live"


async def test_a_booking_moves_keeping_its_code_and_its_gap(store_url: URL) -> None:
    async with open_book(store_url) as book:
        await on_duty(book)
        first = await book.book(patient(at(MONDAY, "09:00")), actor="online", channel="online")
        await book.book(patient(at(MONDAY, "10:30"), name="Jérôme Durand"), actor="online", channel="online")
        with pytest.raises(Refusal) as refused:
            await book.move(first.code, at(MONDAY, "10:30"), actor="coordinator")
        assert refused.value.code == "slot_taken"
        moved = await book.move(first.code, at(MONDAY, "11:15"), actor="coordinator")
        assert (moved.code, moved.slot_start) == (first.code, at(MONDAY, "11:15"))
        assert [s.start for s in await book.free_slots("NAN231", MONDAY)] == [at(MONDAY, t)
                                                                             for t in ("09:00", "09:45", "12:00")]


async def test_a_closure_removes_slots_and_cancels_the_bookings_it_hits(store_url: URL) -> None:
    async with open_book(store_url) as book:
        await on_duty(book, stations=("cabin-nangis-1", "cabin-nangis-2"))
        hit = await book.book(patient(at(MONDAY, "09:45"), station="cabin-nangis-2"), actor="online", channel="online")
        spared = await book.book(patient(at(MONDAY, "09:45"), name="Inès Moreau"), actor="online", channel="online")
        assert spared.station_id == "cabin-nangis-1"
        cancelled = await book.close("NAN231", at(MONDAY, "09:00"), at(MONDAY, "11:00"), reason="cabin out of service",
                                     actor="coordinator", station="cabin-nangis-2")
        assert [(b.id, b.status, b.reason) for b in cancelled] == [(hit.id, "cancelled", "cabin out of service")]
        free = {(s.station_id, s.start) for s in await book.free_slots("NAN231", MONDAY)}
        assert ("cabin-nangis-2", at(MONDAY, "09:00")) not in free
        assert ("cabin-nangis-2", at(MONDAY, "11:15")) in free and ("cabin-nangis-1", at(MONDAY, "09:00")) in free
        actions = await book._store.run(lambda s: [e.action for e in s.scalars(select(AuditEntry))])
        assert "booking cancelled by a closure" in actions and "closure added" in actions


async def test_the_store_itself_refuses_a_second_live_booking_of_a_slot(store_url: URL) -> None:
    """What a second hub instance racing on the same database meets: the unique index over live bookings."""
    async with open_book(store_url) as book:
        await on_duty(book)
        first = await book.book(patient(at(MONDAY, "09:00")), actor="online", channel="online")

        def second(session: Session) -> None:
            row = session.get(Booking, first.id)
            assert row is not None
            session.add(Booking(**{c.key: getattr(row, c.key) for c in Booking.__table__.columns} | {
                "id": "another-instance", "code": "ZZZZ2222"}))
        with pytest.raises(StationError, match="failed"):
            await book._store.run(second)
        await book.cancel(first.code, actor="online", reason="patient")
        await book._store.run(second)  # a cancelled booking holds no slot
        assert await count(book) == 2
