"""The secretary's desk on a vehicle's hub, over SQLite and PostgreSQL (docs/design.md, "The secretary's
desk"): who may use it, the stop opened and closed, patients welcomed (their identity checked), walk-ins,
the waiting order, "next patient" to a station stand-in and what it answers, no-shows, phone bookings."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.engine import URL

from hub.server import Hub
from hub.store.models import AuditEntry, Visit
from tests.booking import MONDAY, at
from tests.mobile import VEHICLE_TOKEN, cabin, call, log_in, vehicle_hub
from tests.test_hub import receive

API = "/api/desk"


@pytest.fixture
async def hub(store_url: URL) -> AsyncIterator[Hub]:
    async with vehicle_hub(store_url) as hub:
        yield hub


@pytest.fixture
async def desk(hub: Hub, http: aiohttp.ClientSession) -> aiohttp.ClientSession:
    """The secretary's logged-in client."""
    await log_in(http, hub, "sophie")
    return http


def phone(start: str, **fields: Any) -> dict[str, Any]:
    return {"site": "CHR180", "start": at(MONDAY, start).isoformat(), "patient_name": "Camille Lefèvre",
            "birth_date": "1968-04-12", "sex": "F", "phone": "06 12 34 56 78", "regular_doctor": False, **fields}


WALK_IN = {"patient_name": "Jean Morel", "birth_date": "1950-02-01", "sex": "M", "regular_doctor": None,
           "reason": "toux depuis une semaine"}


async def station(hub: Hub) -> aiohttp.ClientWebSocketResponse:
    """The vehicle's station stand-in, welcomed."""
    session = aiohttp.ClientSession()
    ws = await session.ws_connect(hub.station_url, headers={"Authorization": f"Bearer {VEHICLE_TOKEN}"})
    ws._stand_in_session = session  # type: ignore[attr-defined]  # closed with the socket by `hang_up`
    await receive(ws, "welcome")
    return ws


async def board(ws: aiohttp.ClientWebSocketResponse, waiting: list[int], called: int | None = None) -> None:
    """Read the station's `queue` messages (a whole board each, after every change) until one shows this."""
    expected = {"v": 1, "type": "queue", "waiting": waiting, **({"called": called} if called else {})}
    while await receive(ws, "queue") != expected:
        pass


async def hang_up(ws: aiohttp.ClientWebSocketResponse) -> None:
    await ws.close()
    await ws._stand_in_session.close()  # type: ignore[attr-defined]


@pytest.mark.usefixtures("store_url")
async def test_only_the_vehicles_secretary_uses_the_desk_and_she_not_the_coordinators(
        hub: Hub, http: aiohttp.ClientSession) -> None:
    async with aiohttp.ClientSession() as stranger:
        assert (await call(stranger, hub, "GET", f"{API}/day"))[0] == 401
    for username in ("anne", "claire.martin"):
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
            await log_in(other, hub, username)
            status, body = await call(other, hub, "POST", f"{API}/stop", {"open": True})
            assert (status, body["error"]) == (403, "not_a_secretary")
    await log_in(http, hub, "sophie")
    assert (await call(http, hub, "GET", "/api/me"))[1] == {
        "role": "secretary", "username": "sophie", "name": "Sophie Secrétaire"}
    status, body = await call(http, hub, "GET", "/api/coordinator/sites")
    assert (status, body["error"]) == (403, "not_a_coordinator")
    status, body = await call(http, hub, "GET", "/api/sessions")
    assert (status, body["error"]) == (403, "not_a_gp")
    async with http.get(hub.url + "/desk") as page:
        assert page.status == 200 and "script-src 'self'" in page.headers["Content-Security-Policy"]


async def test_a_morning_at_the_stop_from_welcome_to_the_end_of_the_consultation(
        hub: Hub, desk: aiohttp.ClientSession) -> None:
    ws = await station(hub)
    try:
        assert (await receive(ws, "stop")) == {"v": 1, "type": "stop", "open": False,
                                               "place": "Sancoins, place de la Libération"}
        status, body = await call(desk, hub, "POST", f"{API}/welcome", {"code": "X", "birth_date": "1968-04-12",
                                                                       "reason": "fièvre"})
        assert (status, body["error"]) == (404, "unknown_booking")
        status, made = await call(desk, hub, "POST", f"{API}/bookings", phone("10:30"))
        assert status == 200 and made["booking"]["channel"] == "phone", made
        code = made["booking"]["code"]
        welcome = {"code": code, "birth_date": "1968-04-12", "reason": "fièvre et maux de gorge"}
        status, body = await call(desk, hub, "POST", f"{API}/welcome", welcome)
        assert (status, body["error"]) == (409, "stop_closed")

        status, body = await call(desk, hub, "POST", f"{API}/stop", {"open": True})
        assert status == 200 and body["day"]["stop"]["open"] is True
        assert (await receive(ws, "stop"))["open"] is True
        status, body = await call(desk, hub, "POST", f"{API}/welcome", {**welcome, "birth_date": "1968-04-13"})
        assert (status, body["error"]) == (422, "identity_mismatch")
        status, body = await call(desk, hub, "POST", f"{API}/welcome", welcome)
        assert status == 200 and body["visit"]["ticket"] == 1 and body["visit"]["status"] == "waiting"
        first = body["visit"]["id"]
        status, body = await call(desk, hub, "POST", f"{API}/welcome", welcome)
        assert (status, body["error"]) == (409, "already_welcomed")

        status, body = await call(desk, hub, "POST", f"{API}/walk-in", {**WALK_IN, "birth_date": "2014-01-01"})
        assert (status, body["error"]) == (422, "under_14")
        status, body = await call(desk, hub, "POST", f"{API}/walk-in", WALK_IN)
        assert status == 200 and body["booking"]["channel"] == "walk_in" and body["visit"]["ticket"] == 2, body
        walk_in, walk_in_code = body["visit"]["id"], body["booking"]["code"]
        assert (await receive(ws, "booking"))["booking"]["code"] == walk_in_code  # the cabin hears of it
        assert [(v["ticket"], v["booking"]["patient_name"]) for v in body["day"]["visits"]] == [
            (1, "Camille Lefèvre"), (2, "Jean Morel")]

        status, body = await call(desk, hub, "POST", f"{API}/queue", {"order": [walk_in]})
        assert (status, body["error"]) == (409, "queue_changed")
        status, body = await call(desk, hub, "POST", f"{API}/queue", {"order": [walk_in, first]})
        assert status == 200
        await board(ws, [2, 1])

        status, body = await call(desk, hub, "POST", f"{API}/next", {})
        assert status == 200 and body["visit"]["ticket"] == 2 and body["visit"]["status"] == "called"
        assert (await receive(ws, "call")) == {"v": 1, "type": "call", "visit": walk_in, "ticket": 2,
                                               "code": walk_in_code}
        status, body = await call(desk, hub, "POST", f"{API}/next", {})
        assert (status, body["error"]) == (409, "cabin_busy")

        await ws.send_str(json.dumps({"v": 1, "type": "call_answer", "visit": walk_in, "accepted": False,
                                      "code": "cabin_not_ready", "message": "the cabin is being cleaned"}))
        await board(ws, [2, 1])  # back to waiting, first in line
        day = (await call(desk, hub, "GET", f"{API}/day"))[1]["day"]
        assert day["answer"] == {"visit": walk_in, "ticket": 2, "accepted": False, "code": "cabin_not_ready",
                                 "message": "the cabin is being cleaned"}

        await call(desk, hub, "POST", f"{API}/next", {})
        await receive(ws, "call")
        await ws.send_str(json.dumps({"v": 1, "type": "call_answer", "visit": walk_in, "accepted": True}))
        await ws.send_str(cabin("in_consultation", walk_in, "s-1"))
        await board(ws, [1], called=2)
        await ws.send_str(cabin("in_consultation", walk_in, "s-1"))  # handled once the first reports are
        await receive(ws, "queue")
        visits = {v["id"]: v for v in (await call(desk, hub, "GET", f"{API}/day"))[1]["day"]["visits"]}
        assert visits[walk_in]["status"] == "seen" and visits[walk_in]["started_at"] is not None
        await ws.send_str(cabin("awaiting_cleaning"))
        await receive(ws, "queue")
        visits = {v["id"]: v for v in (await call(desk, hub, "GET", f"{API}/day"))[1]["day"]["visits"]}
        assert visits[walk_in]["status"] == "done" and visits[walk_in]["reason"] == ""
        assert visits[first]["status"] == "waiting"
    finally:
        await hang_up(ws)
    actions = await hub.book._store.run(lambda s: [(r.actor, r.action, r.subject) for r in s.scalars(
        select(AuditEntry).where(AuditEntry.actor == "sophie").order_by(AuditEntry.id))])
    assert [a for _, a, _ in actions][:4] == ["booking made", "stop opened", "patient welcomed", "walk-in registered"]
    assert not any("Morel" in subject or "Lefèvre" in subject for _, _, subject in actions)


async def test_the_gps_waiting_room_shows_the_ticket_and_the_reason(hub: Hub, desk: aiohttp.ClientSession) -> None:
    await call(desk, hub, "POST", f"{API}/stop", {"open": True})
    visit = (await call(desk, hub, "POST", f"{API}/walk-in", WALK_IN))[1]["visit"]["id"]
    ws = await station(hub)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as gp:
        await log_in(gp, hub, "claire.martin")
        console = await gp.ws_connect(f"{hub.url}/ws/gp", origin=hub.origin)
        try:
            assert (await receive(console, "welcome"))["on_board"] is True
            await ws.send_str(cabin("waiting_for_doctor", visit, "s-2"))
            while not (room := (await receive(console, "waiting_room"))["patients"]):
                pass
            assert (room[0]["ticket"], room[0]["reason"]) == (1, "toux depuis une semaine")
            status, _ = await call(desk, hub, "POST", f"{API}/visits/{visit}/reason", {"reason": "toux et fièvre"})
            assert status == 200
            assert (await receive(console, "waiting_room"))["patients"][0]["reason"] == "toux et fièvre"
        finally:
            await console.close()
            await hang_up(ws)


async def test_refused_welcomes_no_shows_visitors_who_left_and_phone_bookings_of_her_site(
        hub: Hub, desk: aiohttp.ClientSession) -> None:
    await call(desk, hub, "POST", f"{API}/stop", {"open": True})
    codes = [(await call(desk, hub, "POST", f"{API}/bookings", phone(start, patient_name=name)))[1]["booking"]["code"]
             for start, name in (("09:00", "Camille Lefèvre"), ("09:45", "Lina Petit"), ("10:30", "Hugo Blanc"))]
    status, body = await call(desk, hub, "POST", f"{API}/bookings", {**phone("11:15"), "site": "NAN231"})
    assert (status, body["error"]) == (403, "not_your_site")
    status, body = await call(desk, hub, "POST", f"{API}/bookings/{codes[0]}/cancel", {"reason": "grippe"})
    assert status == 200 and body["booking"]["status"] == "cancelled"
    status, body = await call(desk, hub, "POST", f"{API}/welcome", {"code": codes[0], "birth_date": "1968-04-12",
                                                                   "reason": "x"})
    assert (status, body["error"]) == (409, "booking_cancelled")
    status, body = await call(desk, hub, "POST", f"{API}/bookings/{codes[1]}/no-show", {})
    assert status == 200 and [b["status"] for b in body["day"]["bookings"]] == ["cancelled", "no_show", "booked"]
    status, body = await call(desk, hub, "POST", f"{API}/welcome", {"code": codes[1], "birth_date": "1968-04-12",
                                                                   "reason": "x"})
    assert (status, body["error"]) == (409, "booking_no_show")

    slots = (await call(desk, hub, "GET", f"{API}/slots?from={MONDAY.isoformat()}"))[1]["slots"]
    assert slots and all(s["site"] == "CHR180" for s in slots)
    status, body = await call(desk, hub, "POST", f"{API}/bookings/{codes[2]}/move", {"start": slots[-1]["start"]})
    assert status == 200 and body["booking"]["start"] == slots[-1]["start"]
    stops = (await call(desk, hub, "GET", f"{API}/stops"))[1]["stops"]
    assert [s["date"] for s in stops] == ["2026-12-07", "2026-12-08", "2026-12-10"]

    visit = (await call(desk, hub, "POST", f"{API}/welcome", {"code": codes[2], "birth_date": "1968-04-12",
                                                             "reason": "contrôle"}))[1]["visit"]["id"]
    status, body = await call(desk, hub, "POST", f"{API}/visits/{visit}/left", {})
    assert status == 200 and body["visit"]["status"] == "left" and body["visit"]["reason"] == ""
    status, body = await call(desk, hub, "POST", f"{API}/next", {})
    assert (status, body["error"]) == (409, "cabin_offline")
    status, body = await call(desk, hub, "POST", f"{API}/stop", {"open": False})
    assert status == 200 and body["day"]["stop"]["open"] is False


async def test_a_call_the_cabin_never_answers_puts_the_patient_back_in_the_queue(
        hub: Hub, desk: aiohttp.ClientSession) -> None:
    assert hub._reception is not None
    hub._reception.answer_s = 0.2  # real seconds: the station stand-in never answers
    ws = await station(hub)
    try:
        await call(desk, hub, "POST", f"{API}/stop", {"open": True})
        visit = (await call(desk, hub, "POST", f"{API}/walk-in", WALK_IN))[1]["visit"]["id"]
        status, _ = await call(desk, hub, "POST", f"{API}/next", {})
        assert status == 200
        await receive(ws, "call")
        await board(ws, [1])  # back to waiting once the call went unanswered
        day = (await call(desk, hub, "GET", f"{API}/day"))[1]["day"]
        assert day["answer"]["code"] == "no_answer" and day["visits"][0]["id"] == visit
        assert day["visits"][0]["status"] == "waiting"
    finally:
        await hang_up(ws)
    status, body = await call(desk, hub, "POST", f"{API}/next", {})  # the cabin gone: said, and nobody called
    assert (status, body["error"]) == (409, "cabin_offline")


async def test_the_reasons_of_a_past_days_visits_are_wiped_the_next_day(hub: Hub, desk: aiohttp.ClientSession) -> None:
    await call(desk, hub, "POST", f"{API}/stop", {"open": True})
    await call(desk, hub, "POST", f"{API}/walk-in", WALK_IN)  # left waiting when the day ended
    hub._wall.now += 24 * 3600  # type: ignore[attr-defined]  # Tuesday, the Lignières stop
    await call(desk, hub, "GET", f"{API}/day")
    reasons = await hub.book._store.run(lambda s: [v.reason for v in s.scalars(select(Visit))])
    assert reasons == [""]


async def test_a_change_of_todays_place_reaches_the_cabin_for_its_prescriptions(
        hub: Hub, desk: aiohttp.ClientSession) -> None:
    ws = await station(hub)
    try:
        await receive(ws, "stop")
        await call(desk, hub, "POST", f"{API}/stop", {"open": True})
        assert (await receive(ws, "stop"))["place"] == "Sancoins, place de la Libération"
        await hub.book.programme.change_stop("CHR180", MONDAY, actor="anne", reason="travaux",
                                             place="Sancoins, parking du marché")
        assert await receive(ws, "stop") == {"v": 1, "type": "stop", "open": True, "place": "Sancoins, parking du marché"}
    finally:
        await hang_up(ws)
