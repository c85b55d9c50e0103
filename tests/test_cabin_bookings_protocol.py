"""The hub's booking messages to a station (protocol/hub.py): what they carry, and what they refuse."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import pytest

from protocol.hub import (
    BOOKINGS_PAGE,
    TO_STATION,
    BookingChanged,
    BookingGone,
    Bookings,
    CabinBooking,
    CabinStatus,
    HubProtocolError,
    WaitingRoom,
    dump,
    parse,
)

LIVE = {"code": "K7QXM4PA", "slot_start": "2026-12-07T09:45:00+01:00", "slot_minutes": 30, "site": "NAN231",
        "status": "booked", "patient_name": "Camille Lefèvre", "birth_date": "1968-04-12", "sex": "F",
        "gp": "claire.martin", "gp_name": "Dr Claire Martin"}
CANCELLED = {"code": "K7QXM4PA", "slot_start": "2026-12-07T09:45:00+01:00", "slot_minutes": 30, "site": "NAN231",
             "status": "cancelled"}


def text(**message: object) -> str:
    return json.dumps({"v": 1, **message}, ensure_ascii=False)


def test_a_booking_change_parses_with_an_aware_slot_and_the_patient_while_booked() -> None:
    message = parse(TO_STATION, text(type="booking", booking=LIVE))
    assert isinstance(message, BookingChanged)
    booking = message.booking
    assert booking.slot_start == datetime(2026, 12, 7, 9, 45, tzinfo=timezone(timedelta(hours=1)))
    assert (booking.patient_name, booking.birth_date, booking.sex) == ("Camille Lefèvre", date(1968, 4, 12), "F")
    assert booking.representative is None and booking.gp == "claire.martin"
    assert parse(TO_STATION, dump(message)) == message


def test_a_snapshot_comes_in_pages_and_a_withdrawal_names_only_the_code() -> None:
    page = parse(TO_STATION, text(type="bookings", bookings=[LIVE, {**CANCELLED, "code": "ABCDEFGH"}], more=True))
    assert isinstance(page, Bookings) and page.more and [b.status for b in page.bookings] == ["booked", "cancelled"]
    last = parse(TO_STATION, text(type="bookings", bookings=[]))
    assert isinstance(last, Bookings) and not last.more and last.bookings == ()
    gone = parse(TO_STATION, text(type="booking_gone", code="K7QXM4PA"))
    assert gone == BookingGone(code="K7QXM4PA")


@pytest.mark.parametrize(("booking", "where"), [
    ({**LIVE, "slot_start": "2026-12-07T09:45:00"}, "timezone"),  # a naive slot start
    ({**LIVE, "code": "K7QX-M4PA"}, "code"),  # the stored form only
    ({**LIVE, "code": "K7QXM4P0"}, "code"),  # 0 is not in the alphabet
    ({**LIVE, "status": "no_show"}, "status"),
    ({k: v for k, v in LIVE.items() if k != "birth_date"}, "birth date"),
    ({**CANCELLED, "patient_name": "Camille Lefèvre"}, "no patient data"),
    ({**CANCELLED, "representative": "Jean Lefèvre"}, "no patient data"),
    ({**LIVE, "sex": "X"}, "sex"),
    ({**LIVE, "slot_minutes": 0}, "slot_minutes"),
    ({**LIVE, "phone": "0600000000"}, "phone"),  # nothing more than check-in needs
])
def test_a_booking_the_cabin_should_not_take_is_refused_saying_where(booking: dict[str, object], where: str) -> None:
    with pytest.raises(HubProtocolError, match=where):
        parse(TO_STATION, text(type="booking", booking=booking))


def test_a_page_holds_at_most_BOOKINGS_PAGE_bookings() -> None:  # noqa: N802 (the constant's name)
    with pytest.raises(HubProtocolError, match="bookings"):
        parse(TO_STATION, text(type="bookings", bookings=[LIVE] * (BOOKINGS_PAGE + 1), more=True))
    largest = Bookings(bookings=tuple(CabinBooking.model_validate(
        {**LIVE, "patient_name": "é" * 120, "representative": "é" * 120, "gp_name": "é" * 200}
    ) for _ in range(BOOKINGS_PAGE)))
    assert parse(TO_STATION, dump(largest)) == largest  # within MAX_MESSAGE_BYTES


def test_the_status_names_the_booked_gp_and_the_room_marks_the_claim() -> None:
    status = CabinStatus(site="Nangis", state="waiting_for_doctor", session="s-1", booked_gp="claire.martin")
    assert json.loads(dump(status))["booked_gp"] == "claire.martin"
    room = WaitingRoom.model_validate({"patients": [{"station": "cab-1", "site": "Nangis", "session": "s-1",
                                                     "booked_with": "Dr Claire Martin", "yours": True,
                                                     "claim_until": "2026-12-07T08:55:00+00:00"}]})
    assert room.patients[0].yours and json.loads(dump(room))["patients"][0]["booked_with"] == "Dr Claire Martin"
