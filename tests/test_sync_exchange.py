"""The journal and the exchange on running hubs, SQLite and PostgreSQL for the department (docs/design.md,
"A day without network"): what is journaled and when, what `POST /api/sync` refuses, a page applied twice,
a visit's reason, GP sessions withdrawn, stations' audit chain heads that go back."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.engine import URL

from hub.config import ListenSection, StoreSection
from hub.errors import Refusal
from hub.server import Hub
from hub.store.accounts import import_accounts
from hub.store.audit_heads import keep_head
from hub.store.models import Booking, Gp, GpSession, StationAuditHead, SyncJournal, SyncPeer, Visit
from hub.sync.exchange import read_page
from hub.sync.uplink import SyncFailed
from tests.booking import MONDAY, VEHICLE_STATION, Wall, at, booking_config, mobile_config, patient
from tests.sync import PASSWORD, SYNC_TOKEN, VEHICLE, count, department_config, people, two_hubs

NOW = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)


async def journal(hub: Hub) -> list[tuple[str, str, str]]:
    rows = await hub.book._store.run(lambda s: list(s.scalars(select(SyncJournal).order_by(SyncJournal.seq))))
    return [(r.kind, r.scope, r.origin) for r in rows]


async def push(http: aiohttp.ClientSession, hub: Hub, body: object, **headers: str) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {SYNC_TOKEN}", **headers}
    data = body if isinstance(body, str) else None
    async with http.post(hub.url + "/api/sync", json=None if data else body, data=data, headers=headers) as response:
        return response.status, await response.json()


async def test_every_change_is_journaled_in_its_transaction_and_a_refused_one_is_not(
        store_url: URL, tmp_path: Path) -> None:
    async with two_hubs(store_url, tmp_path, Wall()) as (department, vehicle, link):
        link.cut()
        await vehicle.book.publish_session("paul.roux", [VEHICLE_STATION], at(MONDAY, "09:00"), at(MONDAY, "12:00"),
                                           actor="sophie")
        before = len(await journal(vehicle))
        booking = await vehicle.book.book(patient(at(MONDAY, "09:00"), site="CHR180"), actor="sophie",
                                          channel="phone")
        assert sorted((await journal(vehicle))[before:]) == [("audit", "CHR180", ""), ("bookings", "CHR180", "")]
        with pytest.raises(Refusal):
            await vehicle.book.book(patient(at(MONDAY, "09:00"), site="CHR180", name="Other Person"),
                                    actor="sophie", channel="phone")
        assert len(await journal(vehicle)) == before + 2
        await vehicle.book.cancel(booking.code, actor="sophie", reason="she called back")
        assert sorted((await journal(vehicle))[before + 2:]) == [("audit", "CHR180", ""), ("bookings", "CHR180", "")]

    plain = Hub(booking_config(hub=ListenSection(port=0)), wall=Wall())
    await plain.start()
    try:
        await plain.book.publish_session("paul.roux", ["cabin-nangis-1"], at(MONDAY, "09:00"), at(MONDAY, "12:00"),
                                         actor="paul.roux")
        await plain.book.book(patient(at(MONDAY, "09:00")), actor="public", channel="online")
        assert await journal(plain) == []  # a hub that synchronises with no one keeps no journal
    finally:
        await plain.stop()


async def test_the_department_refuses_what_is_not_a_vehicles_page_and_changes_nothing(
        store_url: URL, tmp_path: Path, http: aiohttp.ClientSession) -> None:
    async with two_hubs(store_url, tmp_path, Wall()) as (department, vehicle, link):
        link.cut()
        await vehicle.book.publish_session("paul.roux", [VEHICLE_STATION], at(MONDAY, "09:00"), at(MONDAY, "12:00"),
                                           actor="sophie")
        await vehicle.book.book(patient(at(MONDAY, "09:00"), site="CHR180"), actor="sophie", channel="phone")
        page = await vehicle.book._store.run(lambda s: read_page(s, 0, not_from="department", scope=None))
        body = {"docs": [d.model_dump(mode="json") for d in page.docs], "through": page.through, "applied": 0}
        before = await journal(department)

        status, answer = await push(http, department, body, Authorization="Bearer not-the-token")
        assert (status, answer["error"]) == (401, "unauthorized")
        status, answer = await push(http, department, body, Origin=department.origin)
        assert (status, answer["error"]) == (403, "forbidden_origin")
        status, answer = await push(http, department, "{not json")
        assert (status, answer["error"]) == (400, "bad_request")
        status, answer = await push(http, department, {**body, "through": -1})
        assert (status, answer["error"]) == (422, "invalid_request")
        wrong = [{**d, "row": {**d["row"], "slot_start": "09:00"}} if d["kind"] == "bookings" else d
                 for d in body["docs"]]
        status, answer = await push(http, department, {**body, "docs": wrong})
        assert (status, answer["error"]) == (422, "invalid_document")
        assert answer["message"] == "bookings: slot_start is a moment with its offset"
        assert await journal(department) == before  # each refusal changed nothing
        elsewhere = [{**d, "row": {**d["row"], "site_code": "NAN231", "station_id": "cabin-nangis-1"}}
                     if d["kind"] == "bookings" else d for d in body["docs"]]
        status, answer = await push(http, department, {**body, "docs": elsewhere})
        assert status == 200
        assert await count(department, of=Booking) == 0  # a vehicle writes only at its own site
        assert ("bookings", "CHR180", VEHICLE) not in await journal(department)

        nangis = await department.book.publish_session("claire.martin", ["cabin-nangis-1"], at(MONDAY, "09:00"),
                                                       at(MONDAY, "12:00"), actor="anne")
        theirs = await department.book.book(patient(at(MONDAY, "09:00")), actor="public", channel="online")
        uid = await department.book._store.run(lambda s: s.get(GpSession, nangis[0].id).uid)
        mine = next(d for d in body["docs"] if d["kind"] == "bookings")
        hijack = [{"kind": "gp_sessions", "uid": uid, "row": None},
                  {**mine, "uid": theirs.id, "row": {**mine["row"], "id": theirs.id, "changed_at": "2027-01-01T00:00Z"}}]
        status, answer = await push(http, department, {**body, "docs": hijack})
        assert status == 200  # neither another site's session withdrawn, nor its booking taken over
        assert await count(department, GpSession.station_id == "cabin-nangis-1", of=GpSession) == 1
        assert await department.book.get(theirs.id) == theirs


async def test_a_page_applied_twice_changes_nothing_and_a_visits_reason_stays_on_board(
        store_url: URL, tmp_path: Path, http: aiohttp.ClientSession) -> None:
    async with two_hubs(store_url, tmp_path, Wall()) as (department, vehicle, link):
        link.cut()
        await vehicle.book.publish_session("paul.roux", [VEHICLE_STATION], at(MONDAY, "09:00"), at(MONDAY, "12:00"),
                                           actor="sophie")
        booking = await vehicle.book.book(patient(at(MONDAY, "09:00"), site="CHR180"), actor="sophie",
                                          channel="phone")
        await vehicle.book._store.run(lambda s: s.add(Visit(
            id=str(uuid.uuid4()), booking_id=booking.id, site_code="CHR180", day=MONDAY, ticket=1, position=1,
            reason="douleur au genou", status="waiting", arrived_at=NOW, called_at=None, started_at=None,
            ended_at=None, created_by="sophie", changed_at=NOW, changed_on=VEHICLE)))
        page = await vehicle.book._store.run(lambda s: read_page(s, 0, not_from="department", scope=None))
        body = {"docs": [d.model_dump(mode="json") for d in page.docs], "through": page.through, "applied": 0}
        assert "douleur" not in str(body)

        status, first = await push(http, department, body)
        assert status == 200 and first["acknowledged"] == page.through
        held = await journal(department)
        status, again = await push(http, department, body)
        assert status == 200 and again == first
        assert await journal(department) == held  # nothing changed, nothing journaled
        visits = await department.book._store.run(lambda s: list(s.scalars(select(Visit))))
        assert [(v.booking_id, v.ticket, v.reason) for v in visits] == [(booking.id, 1, "")]
        assert await count(department, of=Booking) == 1


async def test_withdrawn_sessions_follow_and_a_stations_head_never_goes_back(
        store_url: URL, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with two_hubs(store_url, tmp_path, Wall()) as (department, vehicle, _link):
        assert vehicle.sync.uplink is not None
        sessions = await department.book.publish_session("claire.martin", [VEHICLE_STATION], at(MONDAY, "09:00"),
                                                         at(MONDAY, "12:00"), actor="anne")
        await department.book._store.run(lambda s: keep_head(s, VEHICLE_STATION, 9, "h9", NOW))
        await vehicle.sync.uplink.synchronise()
        assert await count(vehicle, of=GpSession) == 1
        assert await vehicle.book._store.run(lambda s: s.get(StationAuditHead, VEHICLE_STATION).seq) == 9

        await department.book.withdraw_session(sessions[0].id, actor="anne")
        await vehicle.book._store.run(lambda s: keep_head(s, VEHICLE_STATION, 7, "h7", NOW))
        with caplog.at_level(logging.WARNING, logger="hub.sync.merge"):
            await vehicle.sync.uplink.synchronise()
        assert await count(vehicle, of=GpSession) == 0
        assert await department.book._store.run(lambda s: s.get(StationAuditHead, VEHICLE_STATION).seq) == 9
        assert f"station {VEHICLE_STATION}'s audit chain head from {VEHICLE} goes back (7, here 9): refused" \
            in caplog.text


async def test_conflicts_are_listed_for_a_secretarys_site_or_a_coordinator_and_no_one_else(
        tmp_path: Path, http: aiohttp.ClientSession) -> None:
    config = department_config(URL.create("sqlite", database=str(tmp_path / "hub.sqlite3")))
    hub = Hub(config.model_copy(update={"coordinators": (people("anne", False), people("sophie", True))}),
              wall=Wall())
    await hub.start()
    try:
        await hub.book.publish_session("claire.martin", [VEHICLE_STATION, "cabin-nangis-1"], at(MONDAY, "09:00"),
                                       at(MONDAY, "12:00"), actor="anne")
        lost = [await hub.book.book(patient(at(MONDAY, "09:00"), site=site, name=name), actor="public",
                                    channel="online") for site, name in (("CHR180", "Eve Mobile"), ("NAN231", "Fred Fixe"))]
        await hub.book._store.run(lambda s: [setattr(s.get(Booking, b.id), "status", "conflict") for b in lost])

        async def listed(username: str, password: str, query: str = "") -> tuple[int, Any]:
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:
                async with client.post(hub.url + "/api/login", json={"username": username, "password": password},
                                       headers={"Origin": hub.origin}) as response:
                    assert response.status == 200
                async with client.get(hub.url + "/api/sync/conflicts" + query) as response:
                    body = await response.json()
                    return response.status, sorted(c["patient_name"] for c in body["conflicts"]) \
                        if "conflicts" in body else body["error"]

        assert await listed("sophie", PASSWORD) == (200, ["Eve Mobile"])  # her site only
        assert await listed("sophie", PASSWORD, "?site=NAN231") == (200, ["Eve Mobile"])
        assert await listed("anne", PASSWORD) == (200, ["Eve Mobile", "Fred Fixe"])
        assert await listed("anne", PASSWORD, "?site=NAN231") == (200, ["Fred Fixe"])
        assert await listed("claire.martin", "secret") == (403, "not_a_coordinator")
        async with http.get(hub.url + "/api/sync/conflicts") as response:
            assert response.status == 401
    finally:
        await hub.stop()


async def test_bookings_stored_before_the_department_synchronised_reach_the_vehicle(store_url: URL,
                                                                                   tmp_path: Path) -> None:
    wall = Wall()
    before = mobile_config(hub=ListenSection(port=0), store=StoreSection(url=store_url.render_as_string(
        hide_password=False)))
    alone = Hub(before, wall=wall)  # the department's hub before it had [[vehicles]]: it journals nothing
    await alone.start()
    try:
        await alone.book.publish_session("claire.martin", [VEHICLE_STATION], at(MONDAY, "09:00"), at(MONDAY, "12:00"),
                                         actor="anne")
        early = await alone.book.book(patient(at(MONDAY, "09:00"), site="CHR180", name="Eve Early"),
                                      actor="public", channel="online")
    finally:
        await alone.stop()
    async with two_hubs(store_url, tmp_path, wall) as (_, vehicle, _link):
        assert vehicle.sync.uplink is not None
        await vehicle.sync.uplink.synchronise()
        held = await vehicle.book.get(early.id)
        assert held is not None and held.status == "booked" and held.patient_name == "Eve Early"
        assert [s.start for s in await vehicle.book.free_slots("CHR180", MONDAY)][0] == at(MONDAY, "09:45")


async def test_a_row_naming_a_gp_the_vehicle_does_not_list_holds_the_page_back_rather_than_losing_it(
        store_url: URL, tmp_path: Path) -> None:
    async with two_hubs(store_url, tmp_path, Wall()) as (department, vehicle, _link):
        assert vehicle.sync.uplink is not None
        await department.book.publish_session("claire.martin", [VEHICLE_STATION], at(MONDAY, "09:00"),
                                              at(MONDAY, "12:00"), actor="anne")
        await vehicle.book._store.run(lambda s: s.delete(s.get(Gp, "claire.martin")))  # not in the vehicle's accounts
        with pytest.raises(SyncFailed, match="GP claire.martin, which this hub's accounts do not hold"):
            await vehicle.sync.uplink.synchronise()
        assert await count(vehicle, of=GpSession) == 0
        assert await count(vehicle, SyncPeer.received > 0, of=SyncPeer) == 0  # nothing acknowledged, nothing lost
        await vehicle.book._store.run(lambda s: import_accounts(s, vehicle.config, NOW))  # her entry back in its file
        await vehicle.sync.uplink.synchronise()
        assert await count(vehicle, of=GpSession) == 1


async def test_a_stop_opened_offline_and_its_hours_changed_meanwhile_both_hold(store_url: URL, tmp_path: Path) -> None:
    wall = Wall()
    async with two_hubs(store_url, tmp_path, wall) as (department, vehicle, link):
        assert vehicle.sync.uplink is not None
        link.cut()
        await vehicle.book.programme.set_open("CHR180", MONDAY, True, actor="sophie")  # the secretary, offline
        wall.now += 600
        await department.book.programme.change_stop("CHR180", MONDAY, actor="anne", reason="marché",
                                                    hours=["09:00-11:00"])  # the coordinator, ten minutes later
        link.restore()
        await vehicle.sync.uplink.synchronise()
        for hub in (department, vehicle):
            stop = hub.book.programme.stop_on("CHR180", MONDAY)
            assert stop is not None and stop.open and [str(h) for h in stop.hours] == ["09:00-11:00"]
