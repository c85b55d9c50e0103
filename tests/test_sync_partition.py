"""The partition test (docs/design.md, "A day without network"): a vehicle's hub and the department's hub,
the vehicle's link to it through a TCP proxy the test cuts. Bookings made on both sides while cut (online
on the department, by phone on the vehicle), one slot taken on both; the link back, or cut again in the
middle of the synchronisation's answer; after it, both hubs hold the same bookings, the slot kept by the
one booked first, the other in conflict, told to its patient and listed for the secretary."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.engine import URL

from hub.config import (
    SCRYPT_MIN_N,
    CoordinatorAccount,
    HubConfig,
    ListenSection,
    StoreSection,
    UpstreamSection,
    VehicleAccount,
    VehicleSection,
    hash_password,
    token_digest,
)
from hub.server import Hub
from hub.store.models import AuditEntry, Booking, OutboxMessage, SyncPeer
from hub.sync.uplink import SyncFailed
from tests.booking import MONDAY, VEHICLE_STATION, Wall, at, mobile_config, patient
from tests.proxy import CuttableLink

VEHICLE = "vehicle-cher"
SYNC_TOKEN = "vehicle-cher-sync-token-0123456789"
PASSWORD = "phone line"


def people(username: str, secretary: bool) -> CoordinatorAccount:
    return CoordinatorAccount(username=username, name=username.title(), role="secretary" if secretary else "coordinator",
                              site_code="CHR180" if secretary else None,
                              password_hash=hash_password(PASSWORD, n=SCRYPT_MIN_N, p=1))


def department_config(url: URL) -> HubConfig:
    return mobile_config(hub=ListenSection(port=0), store=StoreSection(url=url.render_as_string(hide_password=False)),
                         vehicles=(VehicleAccount(id=VEHICLE, site_code="CHR180",
                                                  token_sha256=token_digest(SYNC_TOKEN)),),
                         coordinators=(people("anne", secretary=False),))


def vehicle_config(state: Path, upstream_port: int) -> HubConfig:
    upstream = UpstreamSection(url=f"http://127.0.0.1:{upstream_port}", token=SecretStr(SYNC_TOKEN), interval_s=3600,
                               timeout_s=10)
    return mobile_config(hub=ListenSection(port=0), store=StoreSection(url=f"sqlite:///{state / 'vehicle.sqlite3'}"),
                         vehicle=VehicleSection(id=VEHICLE, site_code="CHR180", station=VEHICLE_STATION,
                                                upstream=upstream),
                         coordinators=(people("sophie", secretary=True),))


@asynccontextmanager
async def two_hubs(store_url: URL, tmp_path: Path, wall: Wall) -> AsyncIterator[tuple[Hub, Hub, CuttableLink]]:
    """The department's hub on `store_url`, the vehicle's on SQLite, the vehicle's link through the proxy."""
    department = Hub(department_config(store_url), wall=wall)
    await department.start()
    link = CuttableLink("127.0.0.1", department.port)
    await link.start()
    vehicle = Hub(vehicle_config(tmp_path, link.port), wall=wall)
    try:
        await vehicle.start()
        try:
            yield department, vehicle, link
        finally:
            await vehicle.stop()
    finally:
        await link.stop()
        await department.stop()


async def bookings(hub: Hub) -> set[tuple[str, str, str, str, str]]:
    rows = await hub.book._store.run(lambda s: list(s.scalars(select(Booking))))
    return {(r.id, r.status, r.station_id, r.slot_start.isoformat(), r.channel) for r in rows}


async def cursors(hub: Hub, peer: str) -> tuple[int, int]:
    row = await hub.book._store.run(lambda s: s.get(SyncPeer, peer))
    assert row is not None
    return row.sent, row.received


async def count(hub: Hub, *where: Any, of: Any = AuditEntry) -> int:
    return await hub.book._store.run(lambda s: s.scalar(select(func.count()).select_from(of).where(*where)) or 0)


async def conflicts(hub: Hub, username: str) -> dict[str, Any]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(hub.url + "/api/login", json={"username": username, "password": PASSWORD},
                             headers={"Origin": hub.origin}) as response:
            assert response.status == 200, await response.text()
        async with http.get(hub.url + "/api/sync/conflicts") as response:
            assert response.status == 200, await response.text()
            body: dict[str, Any] = await response.json()
            return body


@pytest.mark.parametrize("cut_in_the_middle", [False, True], ids=["link_back", "cut_mid_sync"])
async def test_bookings_made_on_both_sides_while_cut_meet_by_the_rule(
        store_url: URL, tmp_path: Path, cut_in_the_middle: bool) -> None:
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
        wall.now += 600  # the secretary takes the call ten minutes later, without network
        lost = await vehicle.book.book(patient(slots[0], site="CHR180", name="Chloé Phone", phone="06 11 22 33 44"),
                                       actor="sophie", channel="phone")
        kept = await vehicle.book.book(patient(slots[1], site="CHR180", name="Denis Phone", phone="06 55 66 77 88"),
                                       actor="sophie", channel="phone")
        vehicle_audit = await count(vehicle, AuditEntry.origin.is_(None))

        link.restore()
        if cut_in_the_middle:
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
        # every audit entry of the vehicle's reached the department once, however often pages were sent
        assert await count(department, AuditEntry.origin == VEHICLE) == await count(
            vehicle, AuditEntry.origin.is_(None)) >= vehicle_audit
        told = [await count(department, OutboxMessage.booking_id == lost.id, OutboxMessage.kind == "cancellation",
                            OutboxMessage.channel == channel, of=OutboxMessage) for channel in ("email", "sms")]
        assert told == [1, 1]  # the department tells the patient, once by each way she gave
        assert await count(vehicle, OutboxMessage.kind == "cancellation", of=OutboxMessage) == 0

        for hub, username in ((department, "anne"), (vehicle, "sophie")):
            listed = (await conflicts(hub, username))["conflicts"]
            assert [(c["code"], c["patient_name"], c["channel"]) for c in listed] == [
                (lost.code, "Chloé Phone", "phone")]
            assert listed[0]["suggested_start"] == at(MONDAY, "11:15").isoformat()
            assert listed[0]["place"].endswith("Sancoins, place de la Libération")
            assert "réservé pendant une coupure du réseau" in listed[0]["what_to_say"]
