"""The hub's FHIR API for booking platforms and the GPs' iCalendar feeds, on SQLite and PostgreSQL
(docs/design.md, "FHIR and iCalendar"): every resource in and out validated with fhir.resources,
refusals as OperationOutcome that change nothing, bearer tokens, feeds without patients' names."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.location import Location
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.practitionerrole import PractitionerRole
from fhir.resources.R4B.schedule import Schedule
from fhir.resources.R4B.slot import Slot
from icalendar import Calendar
from sqlalchemy import func, select
from sqlalchemy.engine import URL

from hub.accounts import AccountDirectory
from hub.booking.book import Book
from hub.booking.fhir import BOOKING_CODE, IDNPS, MAX_FHIR_BODY_BYTES, SlotSearch, fhir_id, slot_id
from hub.booking.ical import feed_token
from hub.booking.records import FreeSlot
from hub.config import CalendarSection, FhirClient, ListenSection, StoreSection, token_digest
from hub.errors import Refusal
from hub.server import Hub
from hub.store import Store
from hub.store.models import AuditEntry, Booking
from tests.booking import MONDAY, PARIS, Wall, at, booking_config, patient

TOKEN = "sas-platform-token-0123456789abcdef"
OTHER_TOKEN = "another-platform-token-0123456789"
SECRET = "calendar-secret-0123456789abcdef0123"
SLOT_0900 = "cabin-nangis-1.202612070800"  # Monday 09:00 in Paris, 08:00 UTC
CLAIRE_RPPS = "10101010100"
TICK = timedelta(microseconds=1)


@pytest.fixture
async def hub(store_url: URL) -> AsyncIterator[Hub]:
    config = booking_config(
        hub=ListenSection(port=0), store=StoreSection(url=store_url.render_as_string(hide_password=False)),
        fhir_clients=(FhirClient(name="sas-platform", token_sha256=token_digest(TOKEN)),
                      FhirClient(name="other", token_sha256=token_digest(OTHER_TOKEN))),
        calendar=CalendarSection(secret=SECRET),
    )
    server = Hub(config, wall=Wall())
    await server.start()
    await on_duty(server.book)
    yield server
    await server.stop()


async def on_duty(book: Book) -> None:
    await book.publish_session("claire.martin", ("cabin-nangis-1",), at(MONDAY, "09:00"), at(MONDAY, "12:30"),
                               actor="coordinator")
    await book.publish_session("paul.roux", ("cabin-nangis-2", "cabin-chelles-1"), at(MONDAY, "13:30"),
                               at(MONDAY, "17:00"), actor="coordinator")


async def call(http: aiohttp.ClientSession, hub: Hub, method: str, path: str, body: object = None, *,
               token: str | None = TOKEN, content_type: str = "application/fhir+json",
               raw: bytes | None = None) -> tuple[int, Any, str]:
    """(status, JSON body, content type) of a FHIR request."""
    headers = {"Content-Type": content_type} | ({"Authorization": f"Bearer {token}"} if token else {})
    data = raw if raw is not None else json.dumps(body).encode() if body is not None else None
    async with http.request(method, f"{hub.url}/fhir/r4/{path}", data=data, headers=headers) as response:
        return response.status, await response.json(content_type=None), response.content_type


def appointment(slot: str = SLOT_0900, *, birth: str = "1968-04-12", **extra: object) -> dict[str, Any]:
    return {
        "resourceType": "Appointment", "status": "booked", "slot": [{"reference": f"Slot/{slot}"}],
        "contained": [{"resourceType": "Patient", "id": "p1", "name": [{"family": "Lefèvre", "given": ["Camille"]}],
                       "birthDate": birth, "gender": "female",
                       "telecom": [{"system": "email", "value": "camille@example.org"}]}],
        "participant": [{"actor": {"reference": "#p1"}, "status": "accepted"}], **extra,
    }


async def counts(hub: Hub) -> tuple[int, int]:
    """How many bookings and audit entries the store holds."""
    def read(session: Any) -> tuple[int, int]:
        return (session.scalar(select(func.count()).select_from(Booking)) or 0,
                session.scalar(select(func.count()).select_from(AuditEntry)) or 0)
    return await hub.book._store.run(read)


def slot_keys(bundle: Bundle) -> set[tuple[str, datetime]]:
    return {(e.resource.schedule.reference, e.resource.start) for e in bundle.entry or []
            if isinstance(e.resource, Slot)}


MONDAY_WINDOW = "start=ge2026-12-07T00:00:00%2B01:00&start=le2026-12-07T23:59:00%2B01:00"


def test_ids_and_search_windows_follow_fhir() -> None:
    assert fhir_id("cabin-nangis-1") == "cabin-nangis-1"
    assert fhir_id("cabin_nangis:1").startswith("h-")
    assert len(fhir_id("x" * 64)) == 26 and fhir_id("a.b") != "a.b"
    assert slot_id(FreeSlot("cabin-nangis-1", "NAN231", at(MONDAY, "09:45"), at(MONDAY, "10:15"), ())) \
        == "cabin-nangis-1.202612070845"
    config = booking_config()
    accounts = AccountDirectory(Store(URL.create("sqlite")), config, Wall())  # no account: no search narrowed
    now, horizon = at(MONDAY, "08:00"), timedelta(days=28)
    cases = {
        "": (now, now + horizon),
        "start=ge2026-12-08": (at(date(2026, 12, 8), "00:00"), now + horizon),
        "start=eq2026-12-08": (at(date(2026, 12, 8), "00:00"), at(date(2026, 12, 9), "00:00") - TICK),
        "start=gt2026-12-08&start=lt2026-12-10": (at(date(2026, 12, 9), "00:00"),
                                                  at(date(2026, 12, 10), "00:00") - TICK),
        "start=le2026-12-07T10:00:00%2B01:00": (now, at(MONDAY, "10:00")),
    }
    for query, window in cases.items():
        params = [(p.split("=", 1)[0], p.split("=", 1)[1].replace("%2B", "+")) for p in query.split("&") if p]
        assert SlotSearch.of(params, config, accounts).window(PARIS, now, horizon) == window, query
    assert feed_token(SECRET, "claire.martin") == feed_token(SECRET, "claire.martin") != feed_token(SECRET, "paul.roux")
    assert feed_token(SECRET, "claire.martin") != feed_token(SECRET[::-1], "claire.martin")


async def test_every_resource_the_api_gives_validates_with_the_fhir_library(hub: Hub,
                                                                             http: aiohttp.ClientSession) -> None:
    for kind, model in (("Location", Location), ("Schedule", Schedule), ("PractitionerRole", PractitionerRole)):
        status, body, content_type = await call(http, hub, "GET", kind)
        assert (status, content_type) == (200, "application/fhir+json")
        bundle = Bundle.model_validate(body)
        assert bundle.entry and all(isinstance(e.resource, model) for e in bundle.entry)
        first = bundle.entry[0].resource
        status, single, _ = await call(http, hub, "GET", f"{kind}/{first.id}")
        assert status == 200 and model.model_validate(single) == first
    _, body, _ = await call(http, hub, "GET", f"PractitionerRole/{CLAIRE_RPPS}")
    role = PractitionerRole.model_validate(body)
    assert role.practitioner.identifier.system == IDNPS and role.practitioner.identifier.value == "8" + CLAIRE_RPPS
    assert role.practitioner.display == "Dr Claire"
    assert "01 99" not in json.dumps(body) and "Mairie" not in json.dumps(body)  # her phone and address stay out
    _, body, _ = await call(http, hub, "GET", "Location/NAN231")
    assert Location.model_validate(body).identifier[0].value == "NAN231"
    _, body, _ = await call(http, hub, "GET", "Schedule/cabin-nangis-1")
    actors = [a.reference for a in Schedule.model_validate(body).actor]
    assert actors == ["Location/NAN231", "PractitionerRole/10101010100", "PractitionerRole/10101010101"]
    status, body, _ = await call(http, hub, "GET", "Location/NOWHERE")
    assert status == 404 and OperationOutcome.model_validate(body).issue[0].code == "not-found"


async def test_a_slot_search_gives_exactly_the_books_free_slots(hub: Hub, http: aiohttp.ClientSession) -> None:
    await hub.book.book(patient(at(MONDAY, "09:45")), actor="online", channel="online")
    expected = {(f"Schedule/{f.station_id}", f.start)
                for site in ("NAN231", "CHE132") for f in await hub.book.free_slots(site, MONDAY)}
    status, body, _ = await call(http, hub, "GET", f"Slot?{MONDAY_WINDOW}")
    bundle = Bundle.model_validate(body)
    assert status == 200 and bundle.type == "searchset" and slot_keys(bundle) == expected
    assert bundle.total == len(expected) and ("Schedule/cabin-nangis-1", at(MONDAY, "09:45")) not in expected

    by_gp = f"schedule.actor:PractitionerRole.practitioner.identifier={IDNPS}|8{CLAIRE_RPPS}"
    _, body, _ = await call(http, hub, "GET", f"Slot?{MONDAY_WINDOW}&{by_gp}")
    by_claire = Bundle.model_validate(body)
    assert slot_keys(by_claire) == {
        (f"Schedule/{f.station_id}", f.start) for f in await hub.book.free_slots("NAN231", MONDAY, gp="claire.martin")}

    _, body, _ = await call(http, hub, "GET", f"Slot?{MONDAY_WINDOW}&schedule.actor=Location/CHE132"
                                               "&_include=Slot:schedule&_include:iterate=Schedule:actor")
    bundle = Bundle.model_validate(body)
    assert slot_keys(bundle) == {k for k in expected if k[0] == "Schedule/cabin-chelles-1"} != set()
    included = {(e.resource.get_resource_type(), e.resource.id) for e in bundle.entry or [] if e.search.mode == "include"}
    assert included == {("Schedule", "cabin-chelles-1"), ("Location", "CHE132"),
                        ("PractitionerRole", "10101010100"), ("PractitionerRole", "10101010101")}

    _, body, _ = await call(http, hub, "GET", "Slot?start=ge2026-12-07T12:00:00%2B01:00&start=lt2026-12-07&"
                                              "schedule=Schedule/cabin-nangis-1")
    assert Bundle.model_validate(body).total == 0  # a window that ends before it starts
    _, body, _ = await call(http, hub, "GET", f"Slot?{MONDAY_WINDOW}&_count=5&"
                                              f"schedule.actor:Practitioner.identifier=8{CLAIRE_RPPS}")
    assert slot_keys(Bundle.model_validate(body)) == slot_keys(by_claire)  # _count is not kept: ignored
    async with http.get(f"{hub.url}/fhir/r4/Slot?_count=5", headers={"Authorization": f"Bearer {TOKEN}",
                                                                    "Prefer": "handling=strict"}) as response:
        assert response.status == 400
        assert "_count" in OperationOutcome.model_validate(await response.json(content_type=None)).issue[0].diagnostics
    status, body, _ = await call(http, hub, "GET", "Slot?start=ge2026-12-07T09:00")  # no time zone
    assert status == 400 and OperationOutcome.model_validate(body).issue[0].code == "structure"


async def test_an_appointment_books_its_slot_on_the_fhir_channel(hub: Hub, http: aiohttp.ClientSession) -> None:
    status, body, content_type = await call(http, hub, "POST", "Appointment",
                                            appointment(participant=[
                                                {"actor": {"reference": "#p1"}, "status": "accepted"},
                                                {"actor": {"reference": f"PractitionerRole/{CLAIRE_RPPS}"},
                                                 "status": "accepted"}]))
    assert (status, content_type) == (201, "application/fhir+json")
    made = Appointment.model_validate(body)
    assert made.status == "booked" and made.identifier[0].system == BOOKING_CODE
    assert made.start == at(MONDAY, "09:00") and made.slot[0].reference == f"Slot/{SLOT_0900}"
    booking = await hub.book.find(made.identifier[0].value)
    assert booking is not None and booking.id == made.id
    assert (booking.channel, booking.created_by, booking.gp) == ("fhir", "fhir:sas-platform", "claire.martin")
    assert (booking.patient_name, booking.birth_date, booking.sex) == ("Camille Lefèvre", date(1968, 4, 12), "F")
    assert booking.regular_doctor is None  # no generalPractitioner: no answer
    actors = await hub.book._store.run(lambda s: list(s.scalars(select(AuditEntry.actor).where(
        AuditEntry.subject == booking.id))))
    assert actors == ["fhir:sas-platform"]
    _, body, _ = await call(http, hub, "GET", f"Slot?{MONDAY_WINDOW}&schedule=Schedule/cabin-nangis-1")
    assert ("Schedule/cabin-nangis-1", at(MONDAY, "09:00")) not in slot_keys(Bundle.model_validate(body))
    status, body, _ = await call(http, hub, "GET", f"Appointment/{made.id}")
    assert status == 200 and Appointment.model_validate(body) == made


async def test_a_patients_general_practitioner_answers_the_regular_doctor_question(
        hub: Hub, http: aiohttp.ClientSession) -> None:
    resource = appointment()
    resource["contained"][0]["generalPractitioner"] = [{"display": "Dr Martin, Sancoins"}]
    status, body, _ = await call(http, hub, "POST", "Appointment", resource)
    assert status == 201, body
    booking = await hub.book.find(Appointment.model_validate(body).identifier[0].value)
    assert booking is not None and booking.regular_doctor is True


async def test_an_appointment_is_cancelled_by_put_or_patch_by_the_platform_that_made_it(
        hub: Hub, http: aiohttp.ClientSession) -> None:
    _, first, _ = await call(http, hub, "POST", "Appointment", appointment())
    _, second, _ = await call(http, hub, "POST", "Appointment", appointment("cabin-nangis-1.202612070845",
                                                                            birth="1971-02-03"))
    for token in (OTHER_TOKEN, TOKEN):  # another platform cannot see it, let alone cancel it
        status, body, _ = await call(http, hub, "PUT", f"Appointment/{first['id']}", token=token,
                                     body=first | {"status": "cancelled", "cancelationReason": {"text": "ill"}})
        assert status == (404 if token == OTHER_TOKEN else 200)
    assert Appointment.model_validate(body).status == "cancelled"
    cancelled = await hub.book.get(first["id"])
    assert cancelled is not None and (cancelled.status, cancelled.reason) == ("cancelled", "ill")

    patch = [{"op": "replace", "path": "/status", "value": "cancelled"}]
    status, body, _ = await call(http, hub, "PATCH", f"Appointment/{second['id']}", patch,
                                 content_type="application/json-patch+json")
    assert status == 200 and Appointment.model_validate(body).status == "cancelled"
    status, body, _ = await call(http, hub, "PATCH", f"Appointment/{second['id']}", patch,
                                 content_type="application/json-patch+json")
    assert status == 409 and OperationOutcome.model_validate(body).issue[0].code == "conflict"
    status, body, _ = await call(http, hub, "PUT", f"Appointment/{first['id']}", first | {"status": "noshow"})
    assert status == 422 and OperationOutcome.model_validate(body).issue[0].expression == ["Appointment.status"]


def _oversized() -> bytes:
    return json.dumps(appointment(comment="x" * MAX_FHIR_BODY_BYTES)).encode()


@pytest.mark.parametrize(("raw", "status", "expression"), [
    (b"{not json", 400, None),
    (json.dumps({"resourceType": "Patient", "id": "p"}).encode(), 400, "Appointment.resourceType"),
    (json.dumps(appointment() | {"slot": []}).encode(), 422, "Appointment.slot"),
    (json.dumps(appointment("cabin-nangis-1.202612070630")).encode(), 422, "Appointment.slot[0]"),  # 07:30: past
    (json.dumps(appointment(birth="2013-06-01")).encode(), 422, "Appointment.contained[0].birthDate"),  # aged 13
    (json.dumps(appointment(birth="1968-13-01")).encode(), 400, "Appointment.contained[0].birthDate"),
    (json.dumps(appointment("nowhere-1.202612070800")).encode(), 404, "Appointment.slot[0]"),
    (json.dumps(appointment("cabin-nangis-1.202612070845") | {"status": "proposed"}).encode(), 422,
     "Appointment.status"),
    (_oversized(), 413, None),
    (_oversized() * 3, 413, None),  # beyond the hub's own cap too
])
async def test_bad_appointments_get_an_operation_outcome_and_change_nothing(
        hub: Hub, http: aiohttp.ClientSession, raw: bytes, status: int, expression: str | None) -> None:
    before = await counts(hub)
    got, body, content_type = await call(http, hub, "POST", "Appointment", raw=raw)
    assert (got, content_type) == (status, "application/fhir+json")
    issue = OperationOutcome.model_validate(body).issue[0]
    assert issue.severity == "error" and issue.diagnostics
    if expression is not None:
        assert issue.expression == [expression]
    assert await counts(hub) == before


async def test_a_taken_slot_is_a_conflict(hub: Hub, http: aiohttp.ClientSession) -> None:
    await hub.book.book(patient(at(MONDAY, "09:00"), station="cabin-nangis-1"), actor="online", channel="online")
    before = await counts(hub)
    status, body, _ = await call(http, hub, "POST", "Appointment", appointment())
    outcome = OperationOutcome.model_validate(body)
    assert status == 409 and outcome.issue[0].code == "conflict" and outcome.issue[0].details.text == "slot_taken"
    assert await counts(hub) == before


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", f"Basic {TOKEN}"])
async def test_no_or_a_wrong_token_is_refused(hub: Hub, http: aiohttp.ClientSession, authorization: str | None) -> None:
    before = await counts(hub)
    headers = {"Content-Type": "application/fhir+json"} | ({"Authorization": authorization} if authorization else {})
    for method, path, data in (("GET", "Slot", None), ("POST", "Appointment", json.dumps(appointment()))):
        async with http.request(method, f"{hub.url}/fhir/r4/{path}", data=data, headers=headers) as response:
            assert response.status == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
            assert OperationOutcome.model_validate(await response.json(content_type=None)).issue[0].code == "login"
    assert await counts(hub) == before


async def test_a_gp_calendar_holds_her_sessions_and_bookings_without_names(hub: Hub,
                                                                          http: aiohttp.ClientSession) -> None:
    await call(http, hub, "POST", "Appointment", appointment())
    await hub.book.book(patient(at(MONDAY, "10:30"), name="Dominique Zebulon", email="dz@example.org"),
                        actor="online", channel="online")
    async with http.post(f"{hub.url}/api/login", json={"username": "claire.martin", "password": "secret"},
                         headers={"Origin": hub.origin}) as response:
        assert response.status == 200
    async with http.get(f"{hub.url}/api/me") as response:
        url = (await response.json())["ical_url"]
    assert url.startswith(f"{hub.origin}/ical/claire.martin/") and url.endswith(".ics")
    async with http.get(url) as response:
        assert response.status == 200 and response.content_type == "text/calendar"
        text = await response.text()
    assert "Lefèvre" not in text and "Zebulon" not in text and "camille" not in text and "1968" not in text
    events = Calendar.from_ical(text).walk("VEVENT")
    found = sorted((str(e["SUMMARY"]), e.decoded("DTSTART").astimezone(UTC)) for e in events)
    assert found == [("Consultation", at(MONDAY, "09:00").astimezone(UTC)),
                     ("Consultation", at(MONDAY, "10:30").astimezone(UTC)),
                     ("Permanence en cabine — cabin-nangis-1, Centre médico-social de Nangis",
                      at(MONDAY, "09:00").astimezone(UTC))]
    assert all("Nangis" in str(e["LOCATION"]) for e in events)

    paul = url.replace("claire.martin", "paul.roux")  # her token does not open his feed
    for wrong in (url[:-8] + "AAAA.ics", paul, url.replace("claire.martin", "nobody")):
        async with http.get(wrong) as response:
            assert response.status == 404


async def test_the_book_takes_its_cabins_and_gps_from_the_stores_accounts(hub: Hub,
                                                                         http: aiohttp.ClientSession) -> None:
    """docs/design.md, "Accounts in the store": a cabin created through the accounts is bookable; a GP disabled
    there is no longer listed (desk, FHIR), nor bookable, and her calendar feed is gone."""
    await hub.accounts.add_station("cabin-nangis-3", "Nangis", "NAN231", by="tess")
    await hub.book.publish_session("paul.roux", ("cabin-nangis-3",), at(MONDAY, "09:00"), at(MONDAY, "12:30"),
                                   actor="coordinator")
    booked = await hub.book.book(patient(at(MONDAY, "09:00"), station="cabin-nangis-3"), actor="coordinator",
                                 channel="phone")
    assert booked.station_id == "cabin-nangis-3"
    status, schedules, _ = await call(http, hub, "GET", "Schedule")
    assert status == 200 and "cabin-nangis-3" in {e["resource"]["id"] for e in schedules["entry"]}

    await hub.accounts.add_staff("anne", "a long passphrase", "Anne Coordinatrice", "coordinator", None, by="tess")
    async with http.post(f"{hub.url}/api/login", json={"username": "anne", "password": "a long passphrase"},
                         headers={"Origin": hub.origin}) as response:
        assert response.status == 200
    claire_feed = f"{hub.url}/ical/claire.martin/{feed_token(SECRET, 'claire.martin')}.ics"
    async with http.get(claire_feed) as response:
        assert response.status == 200

    await hub.accounts.set_enabled("gp", "claire.martin", False, by="tess")
    async with http.get(f"{hub.url}/api/coordinator/sites") as response:
        assert [g["username"] for g in (await response.json())["gps"]] == ["paul.roux"]
    status, roles, _ = await call(http, hub, "GET", "PractitionerRole")
    assert status == 200 and CLAIRE_RPPS not in {e["resource"]["id"] for e in roles["entry"]}
    assert (await call(http, hub, "GET", f"PractitionerRole/{CLAIRE_RPPS}"))[0] == 404
    assert not [s for s in await hub.book.free_slots("NAN231", MONDAY) if s.station_id == "cabin-nangis-1"]
    with pytest.raises(Refusal, match="no GP"):
        await hub.book.book(patient(at(MONDAY, "09:30"), gp="claire.martin"), actor="coordinator", channel="phone")
    async with http.get(claire_feed) as response:
        assert response.status == 404
