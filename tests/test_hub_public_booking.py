"""The public booking API over real HTTP (docs/design.md, "The public booking page"): sites, free times
merged across cabins, bookings and cancellations with no account, every refusal as its JSON error,
and the limits per client address; on SQLite and PostgreSQL where the store is touched."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import URL

from hub.booking.public import PAGE_DIR, booking_request, merged_slots, public_site
from hub.booking.records import FreeSlot
from hub.config import (
    HubConfig,
    ListenSection,
    LoginSection,
    PublicSection,
    SiteSection,
    StationAccount,
    StopSection,
    StoreSection,
    token_digest,
)
from hub.errors import Refusal
from hub.server import Hub
from hub.store.models import AuditEntry, Booking
from runtime.clock import Clock
from tests.booking import MONDAY, SITES, Wall, at, booking_config
from tests.test_hub import FakeTime

CLIENT = "203.0.113.5"
OTHER_CLIENT = "203.0.113.6"
MOBILE = SiteSection(code="BUS77", name="Bus santé du Provinois", town="Provins", stops=(
    StopSection(date=MONDAY - timedelta(days=7), place="Gouaix, place de l'Église", address="1 place de l'Église, 77114 Gouaix",
                hours=("09:00-12:00",)),
    StopSection(date=MONDAY + timedelta(days=1), place="Provins, parking du marché", address="2 rue du Marché, 77160 Provins",
                hours=("09:00-12:00", "13:30-16:00")),
))


def public_config(store_url: URL | None = None, **public: int) -> HubConfig:
    """The booking tests' sites and cabins, a mobile unit with a cabin of its own, behind a proxy at 127.0.0.1."""
    config = booking_config(hub=ListenSection(port=0), login=LoginSection(trusted_proxies=("127.0.0.1",)),
                            public=PublicSection(**public),
                            store=StoreSection(url=store_url.render_as_string(hide_password=False)) if store_url
                            else StoreSection())
    bus = StationAccount(id="cabin-bus-1", site="Bus", token_sha256=token_digest("bus-token"), site_code="BUS77")
    return HubConfig.model_validate(config.model_dump() | {"sites": (*config.sites, MOBILE),
                                                          "stations": (*config.stations, bus)})


@asynccontextmanager
async def public_hub(store_url: URL | None = None, *, fake_time: FakeTime | None = None,
                     **public: int) -> AsyncIterator[Hub]:
    """A started hub with claire on duty in Nangis' first cabin and paul in its second, Monday 09:00-12:30."""
    hub = Hub(public_config(store_url, **public), clock=Clock(source=fake_time or FakeTime()), wall=Wall())
    await hub.start()
    try:
        for gp, cabin in (("claire.martin", "cabin-nangis-1"), ("paul.roux", "cabin-nangis-2")):
            await hub.book.publish_session(gp, (cabin,), at(MONDAY, "09:00"), at(MONDAY, "12:30"), actor="coordinator")
        yield hub
    finally:
        await hub.stop()


def form(start: datetime, **fields: Any) -> dict[str, Any]:
    """What the page sends for an adult with an e-mail address."""
    return {"site": "NAN231", "start": start.isoformat(), "patient_name": "Camille Lefèvre", "birth_date": "1968-04-12",
            "sex": "F", "email": "camille@example.org", "language": "fr", "terms_accepted": True, **fields}


async def call(http: aiohttp.ClientSession, hub: Hub, method: str, path: str, body: Any = None, *,
               client: str = CLIENT) -> tuple[int, dict[str, Any], Any]:
    async with http.request(method, hub.url + path, json=body, headers={"X-Forwarded-For": client}) as response:
        return response.status, await response.json(), response.headers


async def rows(hub: Hub) -> tuple[int, list[tuple[str, str, str]]]:
    """How many bookings the store holds, and its audit trail (actor, action, subject) beyond the import."""
    def read(session: Any) -> tuple[int, list[tuple[str, str, str]]]:
        count = session.scalar(select(func.count()).select_from(Booking)) or 0
        trail = [(e.actor, e.action, e.subject) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
                 if e.actor not in ("hub configuration", "coordinator")]
        return count, trail
    return await hub._store.run(read)


# Pure parts.

def test_free_slots_of_several_cabins_are_shown_once_each_with_every_gp_on_duty() -> None:
    nangis = SITES[0]
    nine, ten = at(MONDAY, "09:00"), at(MONDAY, "09:45")
    free = [FreeSlot("cabin-nangis-1", "NAN231", nine, nine + timedelta(minutes=30), ("claire.martin",)),
            FreeSlot("cabin-nangis-2", "NAN231", nine, nine + timedelta(minutes=30), ("paul.roux", "gone.gp")),
            FreeSlot("cabin-nangis-2", "NAN231", ten, ten + timedelta(minutes=30), ("paul.roux",))]
    names = {"claire.martin": "Dr Claire", "paul.roux": "Dr Paul"}
    assert [(s.start, s.date, s.time, s.end_time, [g.id for g in s.gps]) for s in merged_slots(free, nangis, names)] == [
        ("2026-12-07T09:00:00+01:00", "2026-12-07", "09:00", "09:30", ["claire.martin", "paul.roux"]),
        ("2026-12-07T09:45:00+01:00", "2026-12-07", "09:45", "10:15", ["paul.roux"]),
    ]


def test_a_mobile_unit_shows_its_stops_from_today_and_a_site_its_hours_in_week_order() -> None:
    bus = public_site(MOBILE, MONDAY)
    assert bus.mobile and [s.date for s in bus.stops] == ["2026-12-08"] and bus.hours == {}
    nangis = public_site(SITES[0], MONDAY)
    assert list(nangis.hours) == ["mon", "tue", "wed", "thu", "fri"] and nangis.stops == ()
    assert nangis.address == "13 boulevard Voltaire, 77370 Nangis"


@pytest.mark.parametrize(("body", "code"), [
    ({"terms_accepted": False}, "terms_not_accepted"),
    ({"terms_accepted": "yes"}, "terms_not_accepted"),
    ({"terms_accepted": None}, "terms_not_accepted"),
    ({"station": "cabin-nangis-2"}, "invalid_booking"),
    ({"sex": "X"}, "invalid_booking"),
    ({"birth_date": "12/04/1968"}, "invalid_booking"),
    ({"regular_doctor": "perhaps"}, "invalid_booking"),
])
def test_a_form_is_refused_without_the_terms_or_with_a_field_it_cannot_hold(body: dict[str, Any], code: str) -> None:
    with pytest.raises(Refusal) as refused:
        booking_request(form(at(MONDAY, "09:00"), **body))
    assert refused.value.code == code
    assert "12/04/1968" not in str(refused.value) and "Lefèvre" not in str(refused.value)


def test_blank_optional_fields_are_left_out() -> None:
    request = booking_request(form(at(MONDAY, "09:00"), gp="", representative=" ", phone=""))
    assert (request.gp, request.representative, request.phone) == (None, None, None)


def test_the_regular_doctor_question_is_optional_and_answered_yes_no_or_null() -> None:
    assert booking_request(form(at(MONDAY, "09:00"))).regular_doctor is None
    assert booking_request(form(at(MONDAY, "09:00"), regular_doctor=False)).regular_doctor is False
    assert booking_request(form(at(MONDAY, "09:00"), regular_doctor=None)).regular_doctor is None


# Over HTTP.

async def test_sites_give_addresses_hours_and_a_mobile_units_next_stops(http: aiohttp.ClientSession) -> None:
    async with public_hub() as hub:
        status, body, _ = await call(http, hub, "GET", "/api/public/sites")
    assert status == 200
    sites = {s["code"]: s for s in body["sites"]}
    assert list(sites) == ["NAN231", "CHE132", "BUS77"]
    assert sites["CHE132"]["address"] == "25 avenue du Gendarme Castermant, 77500 Chelles"
    assert sites["NAN231"]["hours"]["mon"] == ["09:00-12:30", "13:30-17:00"]
    assert sites["BUS77"]["stops"] == [{"date": "2026-12-08", "place": "Provins, parking du marché",
                                        "address": "2 rue du Marché, 77160 Provins", "hours": ["09:00-12:00", "13:30-16:00"],
                                        "bookable": False}]
    assert "cabin" not in json.dumps(body)


async def test_free_times_are_merged_across_cabins_and_never_show_a_booking(
        http: aiohttp.ClientSession, store_url: URL) -> None:
    async with public_hub(store_url) as hub:
        assert (await call(http, hub, "POST", "/api/public/bookings", form(at(MONDAY, "09:45"), gp="paul.roux")))[0] == 201
        status, body, _ = await call(http, hub, "GET", "/api/public/slots?site=NAN231&day=2026-12-07&days=1")
        assert status == 200 and body["today"] == body["first_day"] == "2026-12-07" and body["next_day"] == "2026-12-08"
        times = {s["time"]: [g["id"] for g in s["gps"]] for s in body["slots"]}
        assert times == {"09:00": ["claire.martin", "paul.roux"], "09:45": ["claire.martin"],
                         "10:30": ["claire.martin", "paul.roux"], "11:15": ["claire.martin", "paul.roux"],
                         "12:00": ["claire.martin", "paul.roux"]}
        assert body["slots"][0]["gps"][0]["name"] == "Dr Claire"
        assert "Lefèvre" not in json.dumps(body) and "camille" not in json.dumps(body)
        status, paul, _ = await call(http, hub, "GET", "/api/public/slots?site=NAN231&gp=paul.roux")
        assert [s["time"] for s in paul["slots"]] == ["09:00", "10:30", "11:15", "12:00"] and paul["days"] == 7
        for query, code in (("site=NOPE99", "unknown_site"), ("site=NAN231&day=07/12/2026", "bad_request"),
                            ("site=NAN231&days=60", "bad_request"), ("site=NAN231&gp=nobody", "unknown_gp")):
            assert (await call(http, hub, "GET", f"/api/public/slots?{query}"))[1]["error"] == code


async def test_a_patient_books_gets_a_grouped_code_and_the_trail_names_online_booking(
        http: aiohttp.ClientSession, store_url: URL) -> None:
    async with public_hub(store_url) as hub:
        status, body, _ = await call(http, hub, "POST", "/api/public/bookings", form(at(MONDAY, "10:30"), gp="claire.martin"))
        assert status == 201
        assert re.fullmatch(r"[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}", body["code"])
        assert body["site"] == {"code": "NAN231", "name": "Centre médico-social de Nangis"}
        assert (body["address"], body["date"], body["time"], body["end_time"], body["gp"]) == (
            "13 boulevard Voltaire, 77370 Nangis", "2026-12-07", "10:30", "11:00", "Dr Claire")
        assert body["patient_name"] == "Camille Lefèvre"  # the one reply that carries it back
        booked = await hub.book.find(body["code"])
        assert booked is not None and (booked.channel, booked.created_by, booked.station_id) == (
            "online", "online booking", "cabin-nangis-1")
        count, trail = await rows(hub)
        assert count == 1 and trail == [("online booking", "booking made", booked.id)]


async def test_refusals_come_as_their_json_error_and_write_nothing(http: aiohttp.ClientSession, store_url: URL) -> None:
    nine = at(MONDAY, "09:00")
    cases = [
        (form(nine, terms_accepted=False), 422, "terms_not_accepted"),
        ({k: v for k, v in form(nine).items() if k != "terms_accepted"}, 422, "terms_not_accepted"),
        (form(nine, birth_date="2013-01-01"), 422, "under_14"),
        (form(nine, birth_date="2010-01-01"), 422, "representative_needed"),
        (form(nine, birth_date="2010-01-01", representative="  "), 422, "representative_needed"),
        (form(nine, email=None), 422, "contact_needed"),
        (form(at(MONDAY, "09:35")), 422, "cleaning_gap"),
        (form(at(MONDAY, "14:00")), 422, "no_gp_on_duty"),
        (form(nine, station="cabin-nangis-2"), 422, "invalid_booking"),
        (form(nine) | {"start": "tomorrow"}, 422, "invalid_booking"),
        ([1, 2], 400, "bad_request"),
    ]
    async with public_hub(store_url, bookings_per_address_per_hour=100) as hub:
        for body, status, code in cases:
            answer = await call(http, hub, "POST", "/api/public/bookings", body)
            assert (answer[0], answer[1]["error"]) == (status, code)
            assert "Lefèvre" not in json.dumps(answer[1]) and "camille@" not in json.dumps(answer[1])
        assert await rows(hub) == (0, [])
        async with http.post(hub.url + "/api/public/bookings", data="site=NAN231") as response:
            assert response.status == 415
        async with http.post(hub.url + "/api/public/bookings", json=form(nine),
                             headers={"Origin": "https://elsewhere.example"}) as response:
            assert response.status == 403
        async with http.post(hub.url + "/api/public/bookings", json=form(nine, patient_name="x" * 20_000)) as response:
            assert response.status == 413
        assert await rows(hub) == (0, [])


async def test_a_slot_just_taken_is_refused_as_such(http: aiohttp.ClientSession, store_url: URL) -> None:
    async with public_hub(store_url) as hub:
        for name in ("Camille Lefèvre", "Jérôme Durand"):
            assert (await call(http, hub, "POST", "/api/public/bookings", form(at(MONDAY, "09:45"), patient_name=name)))[0] == 201
        status, body, _ = await call(http, hub, "POST", "/api/public/bookings",
                                     form(at(MONDAY, "09:45"), patient_name="Inès Moreau"))
        assert (status, body["error"]) == (409, "slot_taken") and "Moreau" not in json.dumps(body)


async def test_a_patient_cancels_with_the_code_and_birth_date_only(http: aiohttp.ClientSession, store_url: URL) -> None:
    async with public_hub(store_url) as hub:
        code = (await call(http, hub, "POST", "/api/public/bookings", form(at(MONDAY, "09:00"))))[1]["code"]
        status, body, _ = await call(http, hub, "POST", "/api/public/cancel", {"code": code, "birth_date": "1968-04-13"})
        assert (status, body["error"]) == (404, "unknown_booking")
        assert (await hub.book.find(code)).status == "booked"  # type: ignore[union-attr]
        for bad in ({"code": code}, {"code": 12, "birth_date": "1968-04-12"}, {"code": code, "birth_date": "12/04/1968"}):
            assert (await call(http, hub, "POST", "/api/public/cancel", bad))[1]["error"] == "bad_request"
        status, body, _ = await call(http, hub, "POST", "/api/public/cancel",
                                     {"code": code.lower().replace("-", " "), "birth_date": "1968-04-12"})
        assert status == 200 and body == {"code": code, "status": "cancelled", "site": "Centre médico-social de Nangis",
                                          "date": "2026-12-07", "time": "09:00"}
        again = await call(http, hub, "POST", "/api/public/cancel", {"code": code, "birth_date": "1968-04-12"})
        assert (again[0], again[1]["error"]) == (409, "not_live")
        _, trail = await rows(hub)
        assert [(actor, action) for actor, action, _ in trail] == [("online booking", "booking made"),
                                                                   ("online booking", "booking cancelled")]


async def test_a_burst_of_bookings_from_one_address_is_limited_and_another_address_still_books(
        http: aiohttp.ClientSession, store_url: URL) -> None:
    fake_time = FakeTime()
    async with public_hub(store_url, fake_time=fake_time, bookings_per_address_per_hour=3) as hub:
        burst = await asyncio.gather(*(
            call(http, hub, "POST", "/api/public/bookings", form(at(MONDAY, t), patient_name=f"Patient {t}"))
            for t in ("09:00", "09:45", "10:30", "11:15", "12:00", "10:30")))
        assert sorted(body.get("error", str(status)) for status, body, _ in burst) == ["201"] * 3 + ["rate_limited"] * 3
        assert all(headers["Retry-After"] == "3600" == str(body["retry_after_s"])
                   for status, body, headers in burst if status == 429)
        other = await call(http, hub, "POST", "/api/public/bookings", form(at(MONDAY, "12:00"), patient_name="Léa Petit"),
                           client=OTHER_CLIENT)
        assert other[0] == 201
        fake_time.now += 3600
        assert (await call(http, hub, "POST", "/api/public/bookings",
                           form(at(MONDAY, "11:15"), patient_name="Paul Martin")))[0] == 201  # a cabin is free then


async def test_wrong_cancellations_count_against_the_address_and_a_right_one_does_not(
        http: aiohttp.ClientSession, store_url: URL) -> None:
    async with public_hub(store_url, failed_cancels_per_address_per_hour=2) as hub:
        first = (await call(http, hub, "POST", "/api/public/bookings", form(at(MONDAY, "09:00"))))[1]["code"]
        second = (await call(http, hub, "POST", "/api/public/bookings", form(at(MONDAY, "09:45"))))[1]["code"]
        assert (await call(http, hub, "POST", "/api/public/cancel", {"code": first, "birth_date": "1968-04-12"}))[0] == 200
        assert (await call(http, hub, "POST", "/api/public/cancel", {"code": "ZZZZ-ZZZZ", "birth_date": "1968-04-12"}))[0] == 404
        assert (await call(http, hub, "POST", "/api/public/cancel", {"code": second, "birth_date": "1990-01-01"}))[0] == 404
        status, body, headers = await call(http, hub, "POST", "/api/public/cancel", {"code": second, "birth_date": "1968-04-12"})
        assert (status, body["error"]) == (429, "rate_limited") and int(headers["Retry-After"]) > 0
        assert (await hub.book.find(second)).status == "booked"  # type: ignore[union-attr]
        assert (await call(http, hub, "POST", "/api/public/cancel", {"code": second, "birth_date": "1968-04-12"},
                           client=OTHER_CLIENT))[0] == 200


async def test_look_ups_are_limited_per_address_per_minute(http: aiohttp.ClientSession) -> None:
    fake_time = FakeTime()
    async with public_hub(fake_time=fake_time, reads_per_address_per_minute=2) as hub:
        assert (await call(http, hub, "GET", "/api/public/sites"))[0] == 200
        assert (await call(http, hub, "GET", "/api/public/slots?site=NAN231"))[0] == 200
        status, _, headers = await call(http, hub, "GET", "/api/public/sites")
        assert status == 429 and headers["Retry-After"] == "60"
        assert (await call(http, hub, "GET", "/api/public/sites", client=OTHER_CLIENT))[0] == 200
        fake_time.now += 60
        assert (await call(http, hub, "GET", "/api/public/sites"))[0] == 200


async def test_the_page_is_served_under_the_hubs_policy(http: aiohttp.ClientSession) -> None:
    async with public_hub() as hub:
        async with http.get(hub.url + "/book", allow_redirects=False) as response:
            assert response.status == 302 and response.headers["Location"] == "/book/"
        async with http.get(hub.url + "/book/") as response:
            assert response.status == 200 and "script-src 'self'" in response.headers["Content-Security-Policy"]
            assert 'src="/book/booking.js"' in await response.text()
        async with http.get(hub.url + "/book/%2e%2e/%2e%2e/server.py") as response:
            assert response.status == 404
        async with http.get(hub.url + "/book/i18n/en.json") as response:
            assert response.status == 200
    catalogues = [json.loads((PAGE_DIR / "i18n" / f"{code}.json").read_text()) for code in ("fr", "en")]
    assert set(catalogues[0]) == set(catalogues[1])
