"""A mobile unit's programme changed by a coordinator (docs/design.md, "The programme of stops"): each
change one transaction with its audit entry, the patients booked at the stop told of a new place or
hours, the bookings new hours or a cancelled stop no longer hold cancelled and returned to call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.engine import URL

from hub.booking.book import Book
from hub.booking.programme import stop_section
from hub.errors import Refusal
from hub.store import Store
from hub.store.models import AuditEntry, OutboxMessage, Stop
from tests.booking import MOBILE, MONDAY, VEHICLE_STATION, at, mobile_config, patient
from tests.test_hub_notify import PHONE, ics_of, notifying, rows

TUESDAY = MONDAY + timedelta(days=1)
FRIDAY = MONDAY + timedelta(days=4)
NEW_PLACE = "Lignières, place du champ de foire"


@asynccontextmanager
async def mobile_book(url: URL) -> AsyncIterator[tuple[Book, Store]]:
    """A book with the outbox writing its messages, a GP on duty in the vehicle on Tuesday and Friday."""
    async with notifying(url, [], config=mobile_config()) as (book, _, store):
        for day in (TUESDAY, FRIDAY):
            await book.publish_session("paul.roux", (VEHICLE_STATION,), at(day, "09:00"), at(day, "17:00"),
                                       actor="coordinator")
        yield book, store


async def audit(store: Store) -> list[tuple[str, str, str]]:
    return await store.run(lambda s: [(e.actor, e.action, e.subject) for e in s.scalars(
        select(AuditEntry).order_by(AuditEntry.id))])


async def test_a_new_place_tells_each_patient_with_the_ics_updated_under_the_same_uid(store_url: URL) -> None:
    async with mobile_book(store_url) as (book, store):
        first = await book.book(patient(at(TUESDAY, "09:00"), site=MOBILE.code, phone=PHONE), actor="online",
                                channel="online")
        second = await book.book(patient(at(TUESDAY, "10:30"), site=MOBILE.code, name="Jean Dupont",
                                         language="en"), actor="online", channel="online")
        change = await book.programme.change_stop(MOBILE.code, TUESDAY, place=NEW_PLACE, actor="nadia",
                                                  reason="unused")
        notices = [r for r in await rows(store) if r.kind == "stop_changed"]
        stop = await store.run(lambda s: s.get(Stop, (MOBILE.code, TUESDAY)))
        trail = await audit(store)
    assert [b.id for b in change.told] == [first.id, second.id] and change.cancelled == ()
    assert book.programme.stop_on(MOBILE.code, TUESDAY).place == NEW_PLACE  # type: ignore[union-attr]
    assert stop is not None and stop.changed_on == "department" and stop.place == NEW_PLACE
    assert ("nadia", "stop changed", f"{MOBILE.code} {TUESDAY}") in trail
    assert [(n.booking_id, n.channel) for n in notices] == [(first.id, "email"), (first.id, "sms"),
                                                             (second.id, "email")]
    mail, text, english = notices
    assert f"Où : Cabinet médical mobile du Cher – {NEW_PLACE}" in mail.body and "maintenu" in mail.subject
    assert "RDV maintenu, halte modifiée" in text.body
    assert english.subject.startswith("Place or hours changed, appointment kept on Tuesday 8 December 2026")
    event = ics_of(mail).events[0]
    assert (event["UID"], event["SEQUENCE"], event.decoded("DTSTART")) == (first.id, 1, at(TUESDAY, "09:00"))
    assert NEW_PLACE in str(event["SUMMARY"])
    assert all("Camille" not in line[2] and "Jean" not in line[2] for line in trail)


async def test_new_hours_cancel_the_bookings_they_no_longer_hold_and_tell_the_others(store_url: URL) -> None:
    async with mobile_book(store_url) as (book, store):
        kept = await book.book(patient(at(TUESDAY, "09:00"), site=MOBILE.code), actor="online", channel="online")
        lost = await book.book(patient(at(TUESDAY, "11:15"), site=MOBILE.code, name="Jean Dupont", phone=PHONE),
                               actor="online", channel="online")
        change = await book.programme.change_stop(MOBILE.code, TUESDAY, hours=["09:00-10:30"], actor="nadia",
                                                  reason="the stop ends at 10:30")
        messages = {(r.booking_id, r.kind, r.channel): r for r in await rows(store)}
        slots = await book.free_slots(MOBILE.code, TUESDAY)
        still = await book.get(kept.id)
    [cancelled] = change.cancelled
    assert (cancelled.id, cancelled.status, cancelled.reason, cancelled.phone) == (
        lost.id, "cancelled", "the stop ends at 10:30", PHONE)
    assert [b.id for b in change.told] == [kept.id]
    notice = messages[(lost.id, "cancellation", "email")]
    assert "Motif : the stop ends at 10:30" in notice.body and "Lignières, parking de la salle des fêtes" in notice.body
    assert ics_of(notice)["METHOD"] == "CANCEL" and (lost.id, "cancellation", "sms") in messages
    assert (kept.id, "stop_changed", "email") in messages and (lost.id, "stop_changed", "email") not in messages
    assert [s.start for s in slots] == [at(TUESDAY, "09:45")]
    assert still is not None and still.status == "booked"


async def test_a_cancelled_stop_cancels_its_bookings_and_can_be_planned_again(store_url: URL) -> None:
    heard: list[str] = []
    async with mobile_book(store_url) as (book, store):
        book.listen(lambda view: heard.append(view.status))
        booked = await book.book(patient(at(TUESDAY, "09:00"), site=MOBILE.code, phone=PHONE), actor="online",
                                 channel="online")
        change = await book.programme.cancel_stop(MOBILE.code, TUESDAY, actor="nadia", reason="the vehicle broke down")
        assert [(b.id, b.status, b.phone) for b in change.cancelled] == [(booked.id, "cancelled", PHONE)]
        assert change.stop.status == "cancelled" and heard == ["booked", "cancelled"]
        assert book.programme.site(MOBILE.code).stop_on(TUESDAY) is None  # type: ignore[union-attr]
        assert await book.free_slots(MOBILE.code, TUESDAY) == []
        again = await book.programme.add_stop(MOBILE.code, stop_section(TUESDAY, NEW_PLACE, "Rue du Champ de Foire, "
                                                                        "18160 Lignières", ["13:30-16:30"]),
                                              actor="nadia")
        slots = await book.free_slots(MOBILE.code, TUESDAY)
        kinds = [r.kind for r in await rows(store) if r.booking_id == booked.id and r.channel == "sms"]
    assert again.stop.status == "planned" and again.stop.hours[0].start.hour == 13
    assert slots and slots[0].start == at(TUESDAY, "13:30")
    assert kinds == ["confirmation", "cancellation"]


async def test_a_new_stop_opens_its_day_for_booking(store_url: URL) -> None:
    async with mobile_book(store_url) as (book, store):
        assert await book.free_slots(MOBILE.code, FRIDAY) == []
        added = await book.programme.add_stop(MOBILE.code, stop_section(FRIDAY, "Baugy, place de l'église",
                                                                        "Place de l'Église, 18800 Baugy",
                                                                        ["09:00-12:00"]), actor="nadia")
        slots = await book.free_slots(MOBILE.code, FRIDAY)
        trail = await audit(store)
    assert added.stop.day == FRIDAY and slots[0].start == at(FRIDAY, "09:00")
    assert ("nadia", "stop added", f"{MOBILE.code} {FRIDAY}") in trail


@pytest.mark.parametrize("change, code", [
    ("add_existing", "stop_exists"), ("add_past", "stop_past"), ("fixed_site", "not_mobile"),
    ("bad_hours", "invalid_stop"), ("unchanged", "unchanged"), ("no_stop", "no_stop"),
])
async def test_refused_changes_change_nothing(store_url: URL, change: str, code: str) -> None:
    async with mobile_book(store_url) as (book, store):
        await book.book(patient(at(TUESDAY, "09:00"), site=MOBILE.code), actor="online", channel="online")
        before = (await audit(store), len(await rows(store)), book.programme.stops(MOBILE.code))
        programme = book.programme
        with pytest.raises(Refusal) as refused:
            if change == "add_existing":
                await programme.add_stop(MOBILE.code, stop_section(TUESDAY, "x", "y", ["09:00-10:00"]), actor="n")
            elif change == "add_past":
                await programme.add_stop(MOBILE.code, stop_section(date(2026, 12, 4), "x", "y", ["09:00-10:00"]),
                                         actor="n")
            elif change == "fixed_site":
                await programme.cancel_stop("NAN231", TUESDAY, actor="n", reason="r")
            elif change == "bad_hours":
                await programme.change_stop(MOBILE.code, TUESDAY, hours=["12:00-09:00"], actor="n", reason="r")
            elif change == "unchanged":
                await programme.change_stop(MOBILE.code, TUESDAY, place="Lignières, parking de la salle des fêtes",
                                            actor="n", reason="r")
            else:
                await programme.cancel_stop(MOBILE.code, date(2026, 12, 9), actor="n", reason="r")
        assert refused.value.code == code
        assert (await audit(store), len(await rows(store)), programme.stops(MOBILE.code)) == before
        assert await store.run(lambda s: s.scalar(select(OutboxMessage.kind).order_by(OutboxMessage.id.desc()))) \
            == "confirmation"
