"""The partition test (docs/design.md, "A day without network"): a vehicle's hub and the department's hub,
the vehicle's link to it through a TCP proxy the test cuts. Bookings made on both sides while cut (online
on the department, by phone on the vehicle), one slot taken on both; the link back, or cut again in the
middle of the synchronisation's answer; after it, both hubs hold the same bookings, the slot kept by the
one booked first, the other in conflict, told to its patient and listed for the secretary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy.engine import URL

from hub.booking.records import BookingView
from hub.server import Hub
from hub.store.models import AuditEntry, OutboxMessage
from hub.sync.exchange import PAGE
from hub.sync.uplink import SyncFailed
from tests.booking import MONDAY, NOW, VEHICLE_STATION, Wall, at, patient
from tests.sync import PASSWORD, VEHICLE, bookings, count, cursors, two_hubs


async def conflicts(hub: Hub, username: str) -> dict[str, Any]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(hub.url + "/api/login", json={"username": username, "password": PASSWORD},
                             headers={"Origin": hub.origin}) as response:
            assert response.status == 200, await response.text()
        async with http.get(hub.url + "/api/sync/conflicts") as response:
            assert response.status == 200, await response.text()
            body: dict[str, Any] = await response.json()
            return body


@pytest.mark.parametrize("how", ["link_back", "cut_mid_sync", "busy_week"])
async def test_bookings_made_on_both_sides_while_cut_meet_by_the_rule(store_url: URL, tmp_path: Path, how: str) -> None:
    """link_back: the link comes back; cut_mid_sync: the first synchronisation's answer is cut after 300 bytes;
    busy_week: the vehicle's first page holds no booking, so the vehicle meets the collision first and the
    department learns of the conflict from it."""
    wall = Wall()
    async with two_hubs(store_url, tmp_path, wall) as (department, vehicle, link):
        assert vehicle.sync.uplink is not None
        uplink = vehicle.sync.uplink
        await department.book.publish_session("claire.martin", [VEHICLE_STATION], at(MONDAY, "09:00"),
                                              at(MONDAY, "12:00"), actor="anne")
        await uplink.synchronise()
        slots = [s.start for s in await vehicle.book.free_slots("CHR180", MONDAY)]
        assert slots[:3] == [at(MONDAY, "09:00"), at(MONDAY, "09:45"), at(MONDAY, "10:30")]

        link.cut()
        with pytest.raises(SyncFailed):
            await uplink.synchronise()
        online = await department.book.book(patient(slots[0], site="CHR180", name="Anne Online"), actor="public",
                                            channel="online")
        await department.book.book(patient(slots[2], site="CHR180", name="Bruno Online"), actor="public",
                                   channel="online")
        if how == "busy_week":
            await vehicle.book._store.run(lambda s: s.add_all(AuditEntry(
                at=NOW, actor="sophie", action="visit welcomed", subject=str(n)) for n in range(PAGE + 50)))
        wall.now += 600  # the secretary takes the call ten minutes later, without network
        lost = await vehicle.book.book(patient(slots[0], site="CHR180", name="Chloé Phone", phone="06 11 22 33 44"),
                                       actor="sophie", channel="phone")
        kept = await vehicle.book.book(patient(slots[1], site="CHR180", name="Denis Phone", phone="06 55 66 77 88"),
                                       actor="sophie", channel="phone")
        vehicle_audit = await count(vehicle, AuditEntry.origin.is_(None))

        heard: list[BookingView] = []
        vehicle.book.listen(heard.append)  # as the feed that tells the cabin on board does
        link.restore()
        if how == "cut_mid_sync":
            sent_before = (await cursors(vehicle, "department"))[0]
            link.cut_response_after(300)
            with pytest.raises(SyncFailed):
                await uplink.synchronise()
            assert link.cuts == 1
            assert (await cursors(vehicle, "department"))[0] == sent_before  # the vehicle never heard the answer
            assert (await cursors(department, VEHICLE))[1] > sent_before  # though the department applied the page
        await uplink.synchronise()
        assert (await uplink.synchronise()).sent == 0  # nothing left either way

        held = await bookings(department)
        assert held == await bookings(vehicle)
        assert len(held) == 4
        statuses = {booking_id: status for booking_id, status, *_ in held}
        assert statuses[online.id] == "booked" and statuses[kept.id] == "booked"
        assert statuses[lost.id] == "conflict"
        assert sorted(statuses.values()) == ["booked", "booked", "booked", "conflict"]
        decided = [await count(hub, AuditEntry.action == "booking in conflict", AuditEntry.origin.is_(None))
                   for hub in (department, vehicle)]
        assert decided == ([0, 1] if how == "busy_week" else [1, 1])  # each hub applies the rule where they meet
        assert {(v.id, v.status) for v in heard} >= {(online.id, "booked"), (lost.id, "conflict")}
        # every audit entry of the vehicle's reached the department once, however often pages were sent
        assert await count(department, AuditEntry.origin == VEHICLE) == await count(
            vehicle, AuditEntry.origin.is_(None)) >= vehicle_audit
        told = [await count(department, OutboxMessage.booking_id == lost.id, OutboxMessage.kind == "cancellation",
                            OutboxMessage.channel == channel, of=OutboxMessage) for channel in ("email", "sms")]
        assert told == [1, 1]  # the department tells the patient, once by each way she gave
        assert await count(vehicle, OutboxMessage.kind == "cancellation", of=OutboxMessage) == 0
        unsent = [await count(vehicle, OutboxMessage.booking_id == b.id, OutboxMessage.sent_at.is_(None),
                              of=OutboxMessage) for b in (lost, kept)]
        assert unsent[0] == 0 < unsent[1]  # the confirmation written on board for the lost slot is never sent

        for hub, username in ((department, "anne"), (vehicle, "sophie")):
            listed = (await conflicts(hub, username))["conflicts"]
            assert [(c["code"], c["patient_name"], c["channel"]) for c in listed] == [
                (lost.code, "Chloé Phone", "phone")]
            assert listed[0]["suggested_start"] == at(MONDAY, "11:15").isoformat()
            assert listed[0]["place"].endswith("Sancoins, place de la Libération")
            assert "réservé pendant une coupure du réseau" in listed[0]["what_to_say"]
