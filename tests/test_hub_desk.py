"""The coordinator's console API and GPs' own sessions, on a running hub over SQLite and PostgreSQL
(docs/design.md, "The coordinator's console"): who may use which route, booking by phone, cancel,
move, no-show, the day list, closures and the bookings they hit, GP sessions published and withdrawn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pyotp
import pytest
from sqlalchemy import select
from sqlalchemy.engine import URL

from hub.config import SCRYPT_MIN_N, CoordinatorAccount, ListenSection, LoginSection, StoreSection, hash_password
from hub.server import Hub
from hub.store import Store
from hub.store.accounts import import_accounts
from hub.store.models import AuditEntry, Coordinator
from tests.booking import MONDAY, NOW, Wall, at, booking_config

COORDINATOR_PASSWORD = "phone line"
API = "/api/coordinator"


def desk_config(url: URL | None = None) -> Any:
    """booking_config's sites, cabins and GPs, with the coordinator "anne" (password COORDINATOR_PASSWORD)."""
    return booking_config(
        hub=ListenSection(port=0),
        store=StoreSection(url=url.render_as_string(hide_password=False)) if url is not None else StoreSection(),
        coordinators=(CoordinatorAccount(username="anne", name="Anne Coordinatrice",
                                         password_hash=hash_password(COORDINATOR_PASSWORD, n=SCRYPT_MIN_N, p=1)),))


@pytest.fixture
async def hub(request: pytest.FixtureRequest) -> AsyncIterator[Hub]:
    url = request.getfixturevalue("store_url") if "store_url" in request.fixturenames else None
    hub = Hub(desk_config(url), wall=Wall())
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()


async def call(http: aiohttp.ClientSession, hub: Hub, method: str, path: str,
               body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    async with http.request(method, hub.url + path, json=body, headers={"Origin": hub.origin}) as response:
        return response.status, await response.json()


async def log_in(http: aiohttp.ClientSession, hub: Hub, username: str) -> None:
    password = COORDINATOR_PASSWORD if username == "anne" else "secret"
    status, body = await call(http, hub, "POST", "/api/login", {"username": username, "password": password})
    assert status == 200, body


def phone_booking(start: str, **fields: Any) -> dict[str, Any]:
    return {"site": "NAN231", "start": at(MONDAY, start).isoformat(), "patient_name": "Camille Lefèvre",
            "birth_date": "1968-04-12", "sex": "F", "phone": "06 12 34 56 78", **fields}


async def audit(hub: Hub) -> list[tuple[str, str]]:
    rows = await hub.book._store.run(lambda s: list(s.scalars(select(AuditEntry).order_by(AuditEntry.id))))
    return [(r.actor, r.action) for r in rows]


async def on_duty(http: aiohttp.ClientSession, hub: Hub) -> None:
    """anne enters claire.martin on duty at Nangis's first cabin, Monday morning."""
    status, body = await call(http, hub, "POST", f"{API}/sessions", {
        "gp": "claire.martin", "date": MONDAY.isoformat(), "from": "09:00", "to": "12:30",
        "stations": ["cabin-nangis-1"]})
    assert status == 200, body


async def test_a_gp_cannot_use_the_coordinator_routes_nor_a_coordinator_the_gp_ones(
        hub: Hub, http: aiohttp.ClientSession) -> None:
    await log_in(http, hub, "claire.martin")
    assert (await call(http, hub, "GET", f"{API}/sites"))[1]["error"] == "not_a_coordinator"
    status, body = await call(http, hub, "POST", f"{API}/bookings", phone_booking("09:00"))
    assert (status, body["error"]) == (403, "not_a_coordinator")
    assert (await call(http, hub, "GET", "/api/me"))[1]["role"] == "gp"

    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as desk:
        await log_in(desk, hub, "anne")
        assert (await call(desk, hub, "GET", "/api/me"))[1] == {
            "role": "coordinator", "username": "anne", "name": "Anne Coordinatrice"}
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await desk.ws_connect(f"{hub.url}/ws/gp", origin=hub.origin)
        assert refused.value.status == 403
        status, body = await call(desk, hub, "GET", "/api/sessions")
        assert (status, body["error"]) == (403, "not_a_gp")
        status, body = await call(desk, hub, "GET", f"{API}/sites")
        assert status == 200 and [s["code"] for s in body["sites"]] == ["NAN231", "CHE132"]
        assert [c["id"] for c in body["sites"][0]["cabins"]] == ["cabin-nangis-1", "cabin-nangis-2"]

    async with aiohttp.ClientSession() as stranger:
        assert (await call(stranger, hub, "GET", f"{API}/sites"))[0] == 401


async def test_a_coordinator_gives_her_second_factor_before_her_console_opens(
        tmp_path: Path, http: aiohttp.ClientSession) -> None:
    wall = Wall()
    config = desk_config().model_copy(update={"login": LoginSection(state_dir=tmp_path / "hub", require_totp=True)})
    hub = Hub(config, wall=wall)
    await hub.start()
    try:
        status, body = await call(http, hub, "POST", "/api/login", {"username": "anne", "password": COORDINATOR_PASSWORD})
        assert (status, body["next"]) == (200, "enrol")
        status, body = await call(http, hub, "GET", f"{API}/sites")
        assert (status, body["error"]) == (401, "second_factor")
        status, enrolment = await call(http, hub, "POST", "/api/totp/enrol", {})
        app = pyotp.TOTP(enrolment["secret"].replace(" ", ""))
        assert (await call(http, hub, "POST", "/api/totp/confirm", {"code": app.at(wall.now)}))[0] == 200
        assert (await call(http, hub, "GET", f"{API}/sites"))[0] == 200
    finally:
        await hub.stop()


async def test_a_coordinator_logs_in_through_the_same_limits_as_a_gp(hub: Hub, http: aiohttp.ClientSession) -> None:
    for _ in range(hub.config.login.max_failures):
        status, _ = await call(http, hub, "POST", "/api/login", {"username": "anne", "password": "wrong"})
        assert status == 401
    status, body = await call(http, hub, "POST", "/api/login", {"username": "anne", "password": COORDINATOR_PASSWORD})
    assert (status, body["error"]) == (429, "rate_limited")


@pytest.mark.usefixtures("store_url")
async def test_a_coordinator_books_by_phone_finds_it_by_its_code_and_resends_it(
        hub: Hub, http: aiohttp.ClientSession) -> None:
    await log_in(http, hub, "anne")
    await on_duty(http, hub)
    status, body = await call(http, hub, "GET", f"{API}/slots?from={MONDAY.isoformat()}&days=2")
    assert status == 200 and body["slots"][0] == {
        "station": "cabin-nangis-1", "site": "NAN231", "start": at(MONDAY, "09:00").isoformat(),
        "end": at(MONDAY, "09:30").isoformat(), "gps": ["claire.martin"]}
    assert (await call(http, hub, "GET", f"{API}/slots?from={MONDAY.isoformat()}&site=CHE132"))[1]["slots"] == []
    assert (await call(http, hub, "GET", f"{API}/slots?from={MONDAY.isoformat()}&gp=paul.roux"))[1]["slots"] == []

    status, body = await call(http, hub, "POST", f"{API}/bookings", phone_booking("09:45"))
    assert status == 200, body
    booking = body["booking"]
    assert booking["channel"] == "phone" and booking["created_by"] == "anne" and booking["status"] == "booked"
    assert booking["code_grouped"] == f"{booking['code'][:4]}-{booking['code'][4:]}"
    status, found = await call(http, hub, "GET", f"{API}/bookings/{booking['code_grouped'].lower()}")
    assert status == 200 and found["booking"] == booking
    assert (await call(http, hub, "POST", f"{API}/bookings/{booking['code']}/resend", {}))[0] == 200
    assert ("anne", "booking made") in await audit(hub) and ("anne", "confirmation resent") in await audit(hub)

    status, body = await call(http, hub, "POST", f"{API}/bookings", phone_booking("09:45", patient_name="Jo"))
    assert (status, body["error"]) == (409, "slot_taken")
    status, body = await call(http, hub, "POST", f"{API}/bookings", phone_booking("10:30", birth_date="2015-01-01"))
    assert (status, body["error"]) == (422, "under_14")
    status, body = await call(http, hub, "POST", f"{API}/bookings", phone_booking("10:30", sex="X"))
    assert (status, body["error"], body["fields"]) == (422, "invalid_request", ["sex"])
    assert (await call(http, hub, "GET", f"{API}/bookings/XXXX-2222"))[0] == 404


@pytest.mark.usefixtures("store_url")
async def test_a_coordinator_moves_marks_a_no_show_cancels_and_reads_each_cabins_day(
        hub: Hub, http: aiohttp.ClientSession) -> None:
    await log_in(http, hub, "anne")
    await on_duty(http, hub)
    first = (await call(http, hub, "POST", f"{API}/bookings", phone_booking("09:00")))[1]["booking"]
    second = (await call(http, hub, "POST", f"{API}/bookings",
                         phone_booking("09:45", patient_name="Luc Moreau", birth_date="1950-02-03")))[1]["booking"]

    status, body = await call(http, hub, "POST", f"{API}/bookings/{first['code']}/move",
                              {"start": at(MONDAY, "11:15").isoformat()})
    assert status == 200 and body["booking"]["start"] == at(MONDAY, "11:15").isoformat()
    assert body["booking"]["code"] == first["code"]
    status, body = await call(http, hub, "POST", f"{API}/bookings/{first['code']}/move",
                              {"start": at(MONDAY, "09:45").isoformat()})
    assert (status, body["error"]) == (409, "slot_taken")
    assert (await call(http, hub, "POST", f"{API}/bookings/{second['code']}/no-show", {}))[1]["booking"]["status"] \
        == "no_show"
    status, body = await call(http, hub, "POST", f"{API}/bookings/{first['code']}/cancel", {"reason": " "})
    assert (status, body["fields"]) == (422, ["reason"])
    status, body = await call(http, hub, "POST", f"{API}/bookings/{first['code']}/cancel",
                              {"reason": "the patient called"})
    assert status == 200 and body["booking"]["status"] == "cancelled"
    assert body["booking"]["reason"] == "the patient called"
    status, body = await call(http, hub, "POST", f"{API}/bookings/{first['code']}/cancel", {"reason": "again"})
    assert (status, body["error"]) == (409, "not_live")

    status, day = await call(http, hub, "GET", f"{API}/day?site=NAN231&date={MONDAY.isoformat()}")
    assert status == 200 and [c["id"] for c in day["cabins"]] == ["cabin-nangis-1", "cabin-nangis-2"]
    assert [(b["start"], b["patient_name"], b["status"]) for b in day["cabins"][0]["bookings"]] == [
        (at(MONDAY, "09:45").isoformat(), "Luc Moreau", "no_show"),
        (at(MONDAY, "11:15").isoformat(), "Camille Lefèvre", "cancelled")]
    assert day["cabins"][1]["bookings"] == []
    assert [a for a in await audit(hub) if a[0] == "anne"] == [
        ("anne", "gp session published"), ("anne", "booking made"), ("anne", "booking made"),
        ("anne", "booking moved"), ("anne", "no-show marked"), ("anne", "booking cancelled")]
    assert (await call(http, hub, "GET", f"{API}/day?site=NOPE&date={MONDAY.isoformat()}"))[0] == 404
    assert (await call(http, hub, "GET", f"{API}/day?site=NAN231&date=monday"))[0] == 400


@pytest.mark.usefixtures("store_url")
async def test_a_closure_cancels_the_bookings_it_hits_and_gives_their_phone_numbers(
        hub: Hub, http: aiohttp.ClientSession) -> None:
    await log_in(http, hub, "anne")
    await on_duty(http, hub)
    hit = (await call(http, hub, "POST", f"{API}/bookings", phone_booking("10:30")))[1]["booking"]
    status, body = await call(http, hub, "POST", f"{API}/closures", {
        "site": "NAN231", "station": "cabin-nangis-1", "from": MONDAY.isoformat(), "to": MONDAY.isoformat(),
        "from_time": "10:00", "to_time": "12:00", "reason": "cabin out of service"})
    assert status == 200, body
    assert [(b["code"], b["phone"], b["status"]) for b in body["bookings"]] == [
        (hit["code"], "06 12 34 56 78", "cancelled")]
    status, slots = await call(http, hub, "GET", f"{API}/slots?from={MONDAY.isoformat()}&site=NAN231")
    assert [s["start"] for s in slots["slots"]] == [at(MONDAY, t).isoformat() for t in ("09:00", "12:00")]
    status, body = await call(http, hub, "POST", f"{API}/closures", {
        "site": "NAN231", "from": MONDAY.isoformat(), "to": MONDAY.isoformat(), "reason": ""})
    assert (status, body["fields"]) == (422, ["reason"])
    assert ("anne", "closure added") in await audit(hub)


@pytest.mark.usefixtures("store_url")
async def test_a_session_the_coordinator_withdraws_lists_the_bookings_left_without_a_gp(
        hub: Hub, http: aiohttp.ClientSession) -> None:
    await log_in(http, hub, "anne")
    await on_duty(http, hub)
    left = (await call(http, hub, "POST", f"{API}/bookings", phone_booking("09:00")))[1]["booking"]
    status, listed = await call(http, hub, "GET", f"{API}/sessions?from={MONDAY.isoformat()}&site=NAN231&days=7")
    assert status == 200 and [(s["gp"], s["station"], s["start"], s["created_by"]) for s in listed["sessions"]] == [
        ("claire.martin", "cabin-nangis-1", at(MONDAY, "09:00").isoformat(), "anne")]
    assert (await call(http, hub, "GET", f"{API}/sessions?from={MONDAY.isoformat()}&site=CHE132"))[1]["sessions"] == []
    status, body = await call(http, hub, "POST", f"{API}/sessions/{listed['sessions'][0]['id']}/withdraw", {})
    assert status == 200 and [(b["code"], b["phone"], b["status"]) for b in body["bookings"]] == [
        (left["code"], "06 12 34 56 78", "booked")]
    assert ("anne", "gp session withdrawn") in await audit(hub)


@pytest.mark.usefixtures("store_url")
async def test_a_gp_publishes_and_withdraws_her_own_sessions(hub: Hub, http: aiohttp.ClientSession) -> None:
    await log_in(http, hub, "claire.martin")
    status, body = await call(http, hub, "POST", "/api/sessions", {
        "date": MONDAY.isoformat(), "from": "13:30", "to": "17:00", "stations": ["cabin-nangis-1", "cabin-nangis-2"]})
    assert status == 200, body
    assert [(s["station"], s["start"], s["gp"]) for s in body["sessions"]] == [
        ("cabin-nangis-1", at(MONDAY, "13:30").isoformat(), "claire.martin"),
        ("cabin-nangis-2", at(MONDAY, "13:30").isoformat(), "claire.martin")]
    status, mine = await call(http, hub, "GET", "/api/sessions")
    assert [s["id"] for s in mine["sessions"]] == [s["id"] for s in body["sessions"]]
    assert [c["id"] for c in mine["cabins"]] == ["cabin-chelles-1", "cabin-nangis-1", "cabin-nangis-2"]  # by id
    assert ("claire.martin", "gp session published") in await audit(hub)

    status, refused = await call(http, hub, "POST", "/api/sessions", {
        "date": MONDAY.isoformat(), "from": "14:00", "to": "15:00", "stations": ["cabin-nangis-1"]})
    assert (status, refused["error"]) == (409, "session_overlap")
    status, refused = await call(http, hub, "POST", "/api/sessions", {
        "date": MONDAY.isoformat(), "from": "07:00", "to": "08:30", "stations": ["cabin-chelles-1"]})
    assert (status, refused["error"]) == (422, "invalid_session")  # it has begun
    status, refused = await call(http, hub, "POST", "/api/sessions", {
        "date": MONDAY.isoformat(), "from": "9h", "to": "12:00", "stations": ["cabin-chelles-1"]})
    assert status == 400

    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as paul:
        await log_in(paul, hub, "paul.roux")
        status, refused = await call(paul, hub, "POST", f"/api/sessions/{body['sessions'][0]['id']}/withdraw", {})
        assert (status, refused["error"]) == (404, "unknown_session")  # not his

    status, done = await call(http, hub, "POST", f"/api/sessions/{body['sessions'][0]['id']}/withdraw", {})
    assert (status, done) == (200, {"left_without_gp": 0})
    assert [s["station"] for s in (await call(http, hub, "GET", "/api/sessions"))[1]["sessions"]] == ["cabin-nangis-2"]
    assert ("claire.martin", "gp session withdrawn") in await audit(hub)


async def test_a_gp_publishes_only_for_the_cabins_she_is_given(http: aiohttp.ClientSession) -> None:
    config = desk_config()
    claire = config.gps[0].model_copy(update={"stations": ("cabin-nangis-1",)})
    hub = Hub(config.model_copy(update={"gps": (claire, *config.gps[1:])}), wall=Wall())
    await hub.start()
    try:
        await log_in(http, hub, "claire.martin")
        status, body = await call(http, hub, "POST", "/api/sessions", {
            "date": MONDAY.isoformat(), "from": "09:00", "to": "12:00", "stations": ["cabin-chelles-1"]})
        assert (status, body["error"]) == (403, "not_given")
        assert (await call(http, hub, "GET", "/api/sessions"))[1]["sessions"] == []
    finally:
        await hub.stop()


async def test_coordinators_are_imported_from_the_hubs_file_once(store_url: URL) -> None:
    store = Store(store_url)
    await store.start()
    try:
        config = desk_config()
        assert "coordinator added anne" in await store.run(lambda s: import_accounts(s, config, NOW))
        assert await store.run(lambda s: import_accounts(s, config, NOW)) == []  # the same file again
        renamed = config.model_copy(update={"coordinators": (config.coordinators[0].model_copy(
            update={"name": "Anne Martin"}),)})
        assert await store.run(lambda s: import_accounts(s, renamed, NOW)) == []  # the store wins
        gone = config.model_copy(update={"coordinators": ()})
        assert await store.run(lambda s: import_accounts(s, gone, NOW)) == []
        rows = await store.run(lambda s: [(c.username, c.name, c.enabled) for c in s.scalars(select(Coordinator))])
        assert rows == [("anne", config.coordinators[0].name, True)]
    finally:
        await store.stop()
