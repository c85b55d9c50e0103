"""The activity routes on a running hub over SQLite and PostgreSQL (docs/design.md, "Activity"): a coordinator
gets the mobile unit's figures as JSON and as a CSV file, a GP and a secretary are refused,
and neither answer carries a patient's name, code, phone or e-mail."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy.engine import URL

from hub.booking.records import BookingView
from hub.config import SCRYPT_MIN_N, CoordinatorAccount, ListenSection, StoreSection, hash_password
from hub.server import Hub
from hub.store.models import Visit
from tests.booking import MONDAY, VEHICLE_STATION, Wall, at, mobile_config, patient
from tests.test_hub_desk import COORDINATOR_PASSWORD

CANARY = "Zéphyrine Canarinette"
CANARY_PHONE = "06 98 76 54 32"
CANARY_EMAIL = "zephyrine@example.org"
API = "/api/coordinator/activity"
TUESDAY = MONDAY + timedelta(days=1)


def activity_config(url: URL | None) -> Any:
    """The mobile unit's hub with the coordinator "anne" and the unit's secretary "sophie"."""
    password = hash_password(COORDINATOR_PASSWORD, n=SCRYPT_MIN_N, p=1)
    return mobile_config(
        hub=ListenSection(port=0),
        store=StoreSection(url=url.render_as_string(hide_password=False)) if url is not None else StoreSection(),
        coordinators=(CoordinatorAccount(username="anne", name="Anne Coordinatrice", password_hash=password),
                      CoordinatorAccount(username="sophie", name="Sophie Secrétaire", password_hash=password,
                                         role="secretary", site_code="CHR180")))


async def a_stop_day(hub: Hub, wall: Wall) -> list[BookingView]:
    """Monday's stop at Sancoins: three bookings (one a no-show, one cancelled), two consultations with their
    times, and Tuesday's stop with one booking; the canary's name, phone and e-mail on every booking."""
    await hub.book.publish_session("claire.martin", [VEHICLE_STATION], at(MONDAY, "09:00"), at(MONDAY, "12:00"),
                                   actor="anne")
    await hub.book.publish_session("claire.martin", [VEHICLE_STATION], at(TUESDAY, "09:00"), at(TUESDAY, "12:00"),
                                   actor="anne")
    made = []
    for day, hhmm, answer, birth in ((MONDAY, "09:00", False, date(1950, 1, 2)), (MONDAY, "09:45", True, date(1951, 1, 2)),
                                     (MONDAY, "10:30", False, date(1952, 1, 2)), (MONDAY, "11:15", None, date(1953, 1, 2)),
                                     (TUESDAY, "09:00", None, date(1954, 1, 2))):
        request = patient(at(day, hhmm), site="CHR180", name=CANARY, birth=birth, phone=CANARY_PHONE,
                          email=CANARY_EMAIL, regular_doctor=answer)
        made.append(await hub.book.book(request, actor="anne", channel="phone"))
    await hub.book.cancel(made[3].code, actor="anne", reason="the patient called")
    wall.now = at(MONDAY, "12:30").timestamp()
    await hub.book.no_show(made[2].code, actor="anne")

    def visits(session: Any) -> None:
        for booking, arrived, called, started in ((made[0], "08:55", "09:05", "09:06"),
                                                  (made[1], "09:40", "10:00", "10:02")):
            session.add(Visit(id=str(uuid.uuid4()), booking_id=booking.id, site_code="CHR180", day=MONDAY,
                              ticket=1, position=1, reason="", status="done", arrived_at=at(MONDAY, arrived),
                              called_at=at(MONDAY, called), started_at=at(MONDAY, started), ended_at=None,
                              created_by="sophie", changed_at=at(MONDAY, started), changed_on="department"))
    await hub.book._store.run(visits)
    return made


@pytest.fixture
async def hub(store_url: URL) -> AsyncIterator[tuple[Hub, Wall]]:
    wall = Wall()
    hub = Hub(activity_config(store_url), wall=wall)
    await hub.start()
    try:
        yield hub, wall
    finally:
        await hub.stop()


async def log_in(hub: Hub, username: str, password: str = COORDINATOR_PASSWORD) -> aiohttp.ClientSession:
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http.post(hub.url + "/api/login", json={"username": username, "password": password},
                         headers={"Origin": hub.origin}) as response:
        assert response.status == 200, await response.text()
    return http


def no_patient_data(text: str, bookings: list[BookingView]) -> None:
    for secret in (CANARY, "Zéphyrine", "Canarinette", CANARY_PHONE, CANARY_EMAIL, "1950-01-02",
                   *(b.code for b in bookings), *(b.id for b in bookings)):
        assert secret not in text


async def test_a_coordinator_reads_the_figures_as_json_and_csv_without_a_name(hub: tuple[Hub, Wall]) -> None:
    server, wall = hub
    made = await a_stop_day(server, wall)
    query = f"?site=CHR180&from={MONDAY}&to={MONDAY + timedelta(days=6)}"
    async with await log_in(server, "anne") as http:
        async with http.get(server.url + API + query) as response:
            assert response.status == 200
            text = await response.text()
            body = await response.json()
        async with http.get(server.url + API + ".csv" + query) as response:
            assert response.status == 200 and response.content_type == "text/csv" and response.charset == "utf-8"
            assert response.headers["Content-Disposition"] == \
                'attachment; filename="activite-CHR180-2026-12-07-2026-12-13.csv"'
            data = await response.read()
    no_patient_data(text, made)
    assert body["totals"]["bookings"] == 4 and body["totals"]["no_shows"] == 1
    assert body["totals"]["consultations"] == 2
    assert body["totals"]["waiting"] == {"count": 2, "median_s": 900, "p90_s": 1200}
    assert body["totals"]["call_to_start"] == {"count": 2, "median_s": 90, "p90_s": 120}
    assert body["regular_doctor"] == {"patients": 4, "answered": 3, "without": 2, "share_without": 0.6667}
    assert [(d["day"], d["place"], d["bookings"], d["consultations"]) for d in body["days"]] == [
        ("2026-12-07", "Sancoins, place de la Libération", 3, 2),
        ("2026-12-08", "Lignières, parking de la salle des fêtes", 1, 0),
        ("2026-12-10", "Henrichemont, place Henri IV", 0, 0)]
    assert body["weeks"] == [{"week": "2026-W50", "bookings": 4, "no_shows": 1, "consultations": 2}]

    assert data.startswith("\ufeff".encode())
    csv_text = data.decode("utf-8-sig")
    no_patient_data(csv_text, made)
    rows = list(csv.reader(io.StringIO(csv_text), delimiter=";"))
    assert rows[0][:3] == ["Jour", "Semaine ISO", "Lieu"] and len(rows) == 4
    assert rows[1] == ["2026-12-07", "2026-W50", "Sancoins, place de la Libération", "3", "1", "2", "2", "900", "1200",
                       "90", "120"]


async def test_only_coordinators_read_the_figures_and_bad_ranges_are_refused(hub: tuple[Hub, Wall]) -> None:
    server, _ = hub
    async with await log_in(server, "claire.martin", "secret") as gp:
        for path in (API, API + ".csv"):
            async with gp.get(f"{server.url}{path}?site=CHR180") as response:
                assert (response.status, (await response.json())["error"]) == (403, "not_a_coordinator")
    async with aiohttp.ClientSession() as stranger, stranger.get(f"{server.url}{API}?site=CHR180") as response:
        assert response.status == 401
    async with await log_in(server, "sophie") as secretary, secretary.get(f"{server.url}{API}?site=CHR180") as response:
        assert (response.status, (await response.json())["error"]) == (403, "not_a_coordinator")
    async with await log_in(server, "anne") as http:
        async with http.get(f"{server.url}{API}?site=CHR180") as response:
            body = await response.json()
            assert response.status == 200 and body["to"] == MONDAY.isoformat() and body["from"] == "2026-11-10"
        for query, status, error in (("site=XXX999", 404, "unknown_site"),
                                     ("site=NAN231&from=2026-12-08&to=2026-12-07", 400, "bad_request"),
                                     ("site=NAN231&from=2025-01-01&to=2026-12-07", 400, "bad_request"),
                                     ("site=NAN231&from=yesterday", 400, "bad_request")):
            async with http.get(f"{server.url}{API}?{query}") as response:
                assert (response.status, (await response.json())["error"]) == (status, error), query
        async with http.get(f"{server.url}{API}?site=NAN231&from=2026-12-07&to=2026-12-07") as response:
            body = await response.json()
            assert body["visits_kept"] is False and body["totals"]["consultations"] is None and body["days"] == []
