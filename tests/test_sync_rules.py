"""The merge rule's pure parts, the documents' codec and what the secretary says (docs/design.md, "A day
without network"), with their test vectors."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest

from hub.store.models import Booking, Stop, Visit
from hub.sync.conflicts import what_to_say
from hub.sync.docs import KINDS, DocError, decode, encode, kind_of
from hub.sync.merge import keeps_slot, newer

T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
T1 = datetime(2026, 12, 7, 8, 0, 1, tzinfo=UTC)


@pytest.mark.parametrize(("incoming", "local", "wins"), [
    ((T1, "department"), (T0, "vehicle-cher"), True),  # the newest change wins
    ((T0, "vehicle-cher"), (T1, "department"), False),
    ((T0, "vehicle-cher"), (T0, "department"), True),  # the same instant: the hub's name decides, alike on both
    ((T0, "department"), (T0, "vehicle-cher"), False),
    ((T0, "department"), (T0, "department"), False),  # the same change again changes nothing
])
def test_the_newest_change_wins_then_the_hubs_name(incoming: tuple[datetime, str], local: tuple[datetime, str],
                                                   wins: bool) -> None:
    row = SimpleNamespace(changed_at=local[0], changed_on=local[1])
    assert newer({"changed_at": incoming[0], "changed_on": incoming[1]}, row) is wins


@pytest.mark.parametrize(("holder", "other", "keeps"), [
    ((T0, "b"), (T1, "a"), True),  # booked first keeps the slot
    ((T1, "a"), (T0, "b"), False),
    ((T0, "a"), (T0, "b"), True),  # the same instant: the lower id
    ((T0, "b"), (T0, "a"), False),
])
def test_the_booking_made_first_keeps_the_slot(holder: tuple[datetime, str], other: tuple[datetime, str],
                                               keeps: bool) -> None:
    row = SimpleNamespace(created_at=holder[0], id=holder[1])
    assert keeps_slot(row, {"created_at": other[0], "id": other[1]}) is keeps
    assert keeps_slot(SimpleNamespace(created_at=other[0], id=other[1]),
                      {"created_at": holder[0], "id": holder[1]}) is not keeps


def test_a_document_carries_the_row_and_comes_back_as_it_was() -> None:
    stop = Stop(site_code="CHR180", day=date(2026, 12, 7), place="Sancoins", address="Place de la Libération",
                hours=["09:00-12:00"], status="planned", opened_at=None, closed_at=None, changed_at=T0,
                changed_on="department")
    kind = kind_of(stop)
    assert kind is KINDS["stops"] and kind.uid(stop) == "CHR180/2026-12-07"
    doc = encode(kind, stop)
    assert doc["day"] == "2026-12-07" and doc["changed_at"] == "2026-12-07T08:00:00+00:00"
    assert decode(kind, doc) == {c.key: getattr(stop, c.key) for c in Stop.__table__.columns}


def test_a_visits_reason_never_leaves_its_hub() -> None:
    visit = Visit(id="v1", booking_id="b1", site_code="CHR180", day=date(2026, 12, 7), ticket=3, position=3,
                  reason="douleur thoracique", status="waiting", arrived_at=T0, called_at=None, started_at=None,
                  ended_at=None, created_by="sophie", changed_at=T0, changed_on="vehicle-cher")
    doc = encode(KINDS["visits"], visit)
    assert "reason" not in doc and "douleur" not in str(doc)


@pytest.mark.parametrize(("change", "message"), [
    ({"slot_start": "2026-12-07T09:00:00"}, "bookings: slot_start is a moment with its offset"),
    ({"slot_start": None}, "bookings: slot_start is missing"),
    ({"birth_date": "12/04/1968"}, "bookings: birth_date is a day written YYYY-MM-DD"),
    ({"regular_doctor": "yes"}, "bookings: regular_doctor is true or false"),
    ({"code": 42}, "bookings: code is a text"),
])
def test_a_wrong_document_is_refused_naming_the_field(change: dict[str, object], message: str) -> None:
    booking = Booking(id="b1", code="ABCD2345", station_id="vehicle-cher-1", site_code="CHR180", slot_start=T0,
                      slot_end=T1, gp=None, patient_name="Camille Lefèvre", birth_date=date(1968, 4, 12), sex="F",
                      representative=None, phone=None, email="c@example.org", language="fr", person="x",
                      status="booked", channel="phone", created_at=T0, created_by="sophie", changed_at=T0,
                      reason=None, regular_doctor=None, changed_on="vehicle-cher")
    doc = {**encode(KINDS["bookings"], booking), **change}
    with pytest.raises(DocError) as refused:
        decode(KINDS["bookings"], doc)
    assert str(refused.value) == message


def test_what_the_secretary_says_names_the_lost_slot_and_the_next_free_one() -> None:
    assert what_to_say("fr", "lundi 7 décembre 2026 à 09:00", "Sancoins", "lundi 7 décembre 2026 à 11:15") == (
        "Votre rendez-vous du lundi 7 décembre 2026 à 09:00 (Sancoins) n'a pas pu être gardé : le créneau avait déjà "
        "été réservé pendant une coupure du réseau. Nous pouvons vous recevoir le lundi 7 décembre 2026 à 11:15, "
        "au même arrêt.")
    assert what_to_say("en", "Monday 7 December 2026 at 09:00", "Sancoins", None) == (
        "Your appointment on Monday 7 December 2026 at 09:00 (Sancoins) could not be kept: the slot had already been "
        "booked while the network was down. There is no room left at this stop that day: offer another day of the "
        "programme.")
    assert what_to_say("de", "x", "y", None).startswith("Votre rendez-vous du x (y)")
