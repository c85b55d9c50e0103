"""The station's copy of the hub's bookings (session/appointments.py) on a real state database, and the
station's connection taking a snapshot in pages over a real WebSocket (station/hub_client.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from pydantic import SecretStr

from config.schema import CheckInRules, HubSection
from hygiene.audit import AuditTrail
from protocol.booking_code import CODE_ALPHABET
from protocol.hub import BOOKINGS_PAGE, Bookings, CabinBooking, StationWelcome, dump
from runtime.clock import PARIS, Clock
from runtime.storage import Database
from session.appointments import Appointment, AppointmentBook
from session.checkin import CheckInDesk, CheckInRefused, Refusal
from station.hub_client import HubClient

NOW = datetime(2026, 12, 7, 9, 40, tzinfo=PARIS)
NAME = "Zéphyrine Canarybird"


def booking(code: str, start: datetime = NOW + timedelta(minutes=5), **fields: object) -> CabinBooking:
    values: dict[str, object] = {"code": code, "slot_start": start, "slot_minutes": 30, "site": "NAN231",
                                 "status": "booked", "patient_name": NAME, "birth_date": date(1961, 4, 2),
                                 "sex": "F", "gp": "claire.martin", "gp_name": "Dr Claire Martin", **fields}
    return CabinBooking.model_validate(values)


def cancelled(code: str, start: datetime = NOW + timedelta(minutes=5)) -> CabinBooking:
    return CabinBooking(code=code, slot_start=start, slot_minutes=30, site="NAN231", status="cancelled")


@pytest.fixture
async def audit(db: Database) -> AsyncIterator[AuditTrail]:
    trail = AuditTrail(db)
    await trail.start()
    yield trail
    await trail.stop()


def book_of(db: Database, audit: AuditTrail, clock: Clock | None = None) -> AppointmentBook:
    return AppointmentBook(db, audit=audit, clock=clock or Clock(start=NOW, speed=1e-6), rules=CheckInRules())


def on_disk(state_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in state_dir.glob("cabin.sqlite3*"))


async def test_a_snapshot_replaces_the_hubs_rows_and_leaves_used_codes_and_local_ones_alone(
        db: Database, audit: AuditTrail) -> None:
    book = book_of(db, audit)
    local = Appointment(code="SMPT2345", patient_name="Sim Patient", birth_date=date(1970, 1, 1), sex="M",
                        slot_start=NOW, slot_minutes=20, site="NAN231", gp="Dr Sim")
    await book.add(local)
    await book.replace((booking("USED2345"), booking("GNNE2345"), booking("KEPT2345")))
    await book.consume("USED2345", NOW, "s-1")
    closed = NOW - timedelta(hours=2)  # its check-in window has closed: not taken
    await book.replace((booking("USED2345"), booking("KEPT2345", representative="Jean Canarybird"),
                        booking("NEW23456"), booking("PAST2345", start=closed)))
    used = await book.find("USED2345")
    assert used is not None and used.used_at and used.patient_name == "" and used.gp_username == ""
    assert await book.find("GNNE2345") is None and await book.find("PAST2345") is None
    kept = await book.find("KEPT2345")
    assert kept is not None and kept.representative == "Jean Canarybird" and kept.gp_username == "claire.martin"
    assert await book.find("NEW23456") is not None
    assert await book.find("SMPT2345") == local  # the simulator's, not the hub's

    await book.withdraw("KEPT2345")  # moved to another cabin
    await book.withdraw("USED2345")  # a used code stays used
    assert await book.find("KEPT2345") is None and await book.find("USED2345") is not None


async def test_a_cancellation_wipes_the_patient_and_is_refused_without_counting_as_a_guess(
        db: Database, audit: AuditTrail) -> None:
    book = book_of(db, audit)
    await book.apply(booking("CNCX2345"))
    assert NAME.encode() in on_disk(db.path.parent)
    await book.apply(cancelled("CNCX2345"))
    row = await book.find("CNCX2345")
    assert row is not None and row.status == "cancelled" and row.patient_name == "" and row.birth_date == date.min
    assert NAME.encode() not in on_disk(db.path.parent)

    rules = CheckInRules()
    desk = CheckInDesk(book, rules, "NAN231", db=db, audit=audit)
    await desk.start()
    for _ in range(rules.max_wrong_codes + 1):
        with pytest.raises(CheckInRefused) as refused:
            await desk.verify("cncx-2345", NOW)
        assert refused.value.reason is Refusal.CANCELLED
    assert desk.paused_for(NOW) == 0
    await book.apply(booking("CNCX2345"))  # booked again on the hub (a move back cannot, but a resync can)
    assert (await desk.verify("CNCX2345", NOW)).patient_name == NAME


async def test_cancelled_rows_go_with_the_no_shows_once_their_window_closed(db: Database, audit: AuditTrail) -> None:
    clock = Clock(start=NOW, speed=1e-6)
    book = book_of(db, audit, clock)
    await book.apply(cancelled("CNCX2345"))
    await book.apply(booking("NSHW2345"))
    assert await book.delete_no_shows() == 0
    later = book_of(db, audit, Clock(start=NOW + timedelta(hours=1), speed=1e-6))
    assert await later.delete_no_shows() == 1
    assert await book.find("CNCX2345") is None and await book.find("NSHW2345") is None
    details = {e.event: json.loads(e.detail) for e in await audit.entries()}
    assert details == {"no_shows_deleted": {"count": 1}, "cancelled_bookings_deleted": {"count": 1}}


class Sink:
    """Records what the station's connection hands to the appointment book."""

    def __init__(self) -> None:
        self.snapshots: list[tuple[CabinBooking, ...]] = []

    async def replace(self, bookings: tuple[CabinBooking, ...]) -> None:
        self.snapshots.append(bookings)

    async def apply(self, booking: CabinBooking) -> None:
        raise AssertionError("no change was sent")

    async def withdraw(self, code: str) -> None:
        raise AssertionError("no change was sent")


async def test_the_snapshot_is_taken_whole_once_its_last_page_came_and_a_cut_one_is_dropped() -> None:
    codes = [f"ABCD{CODE_ALPHABET[n // 31]}{CODE_ALPHABET[n % 31]}22" for n in range(BOOKINGS_PAGE + 10)]
    snapshot = [booking(code) for code in codes]
    connections = 0

    async def serve(request: web.Request) -> web.WebSocketResponse:
        nonlocal connections
        connections += 1
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(dump(StationWelcome(station="cabin-nangis-1")))
        await ws.send_str(dump(Bookings(bookings=tuple(snapshot[:BOOKINGS_PAGE]), more=True)))
        if connections == 1:  # cut off after the first page
            await ws.close()
            return ws
        await ws.send_str(dump(Bookings(bookings=tuple(snapshot[BOOKINGS_PAGE:]))))
        async for _ in ws:
            pass
        return ws

    app = web.Application()
    app.router.add_get("/ws/station", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    sink = Sink()

    async def ignore(*_: object) -> None:
        return None

    config = HubSection(url=f"ws://127.0.0.1:{port}/ws/station", station_id="cabin-nangis-1",
                        token=SecretStr("a-station-token-0123456789"))
    client = HubClient(config, Clock(speed=1000.0), on_gp_join=ignore, on_signal=ignore, on_gp_left=ignore,
                       bookings=sink)
    await client.start()
    try:
        async with asyncio.timeout(10):
            while not sink.snapshots:
                await asyncio.sleep(0.01)
    finally:
        await client.stop()
        await runner.cleanup()
    assert connections == 2
    assert [[b.code for b in s] for s in sink.snapshots] == [codes]


async def test_a_booking_sent_in_utc_is_read_and_refused_in_the_cabins_time(db: Database, audit: AuditTrail) -> None:
    """The hub sends times in UTC; the kiosk says 09:45, never 08:45, to a patient in Paris."""
    book = book_of(db, audit)
    await book.apply(booking("UTCX2345", NOW.astimezone(UTC) + timedelta(minutes=35)))
    found = await book.find("UTCX2345")
    assert found is not None and found.slot_start.tzinfo is PARIS and f"{found.slot_start:%H:%M}" == "10:15"
    desk = CheckInDesk(book, CheckInRules(), "NAN231", db=db, audit=audit)
    await desk.start()
    with pytest.raises(CheckInRefused, match="check-in opens at 10:00$"):
        await desk.verify("UTCX2345", NOW)
