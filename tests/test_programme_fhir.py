"""A mobile unit's stops in the FHIR API, on SQLite and PostgreSQL (docs/design.md, "The programme of
stops"): a Location per stop part of the unit's, a Schedule per cabin and stop whose planning horizon is
the stop's day, that day's Slots pointing at it, a search by the stop's Location or Schedule, and a
Slot found there booked as any other; a cancelled stop is no longer published."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta

import aiohttp
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.location import Location
from fhir.resources.R4B.schedule import Schedule
from fhir.resources.R4B.slot import Slot
from sqlalchemy.engine import URL

from hub.booking.fhir_stops import day_id, split_day_id
from hub.config import FhirClient, ListenSection, StoreSection, token_digest
from hub.server import Hub
from tests.booking import MOBILE, MONDAY, VEHICLE_STATION, Wall, at, mobile_config
from tests.test_hub_fhir import TOKEN, appointment, call

TUESDAY = MONDAY + timedelta(days=1)
STOP = "CHR180-20261208"  # the Tuesday stop's Location
SCHEDULE = f"{VEHICLE_STATION}-20261208"


@pytest.fixture
async def hub(store_url: URL) -> AsyncIterator[Hub]:
    config = mobile_config(hub=ListenSection(port=0),
                           store=StoreSection(url=store_url.render_as_string(hide_password=False)),
                           fhir_clients=(FhirClient(name="sas-platform", token_sha256=token_digest(TOKEN)),))
    server = Hub(config, wall=Wall())
    await server.start()
    for day in (TUESDAY, date(2026, 12, 10)):
        await server.book.publish_session("paul.roux", (VEHICLE_STATION,), at(day, "09:00"), at(day, "12:00"),
                                          actor="coordinator")
    yield server
    await server.stop()


def test_a_stops_ids_carry_its_day() -> None:
    assert day_id("CHR180", TUESDAY) == STOP and split_day_id(STOP) == ("CHR180", TUESDAY)
    assert split_day_id("vehicle-cher-1-20261208") == ("vehicle-cher-1", TUESDAY)
    assert split_day_id("CHR180") is None and split_day_id("CHR180-20261332") is None


async def test_each_stop_is_a_location_part_of_the_unit_with_a_schedule_for_its_day(
        hub: Hub, http: aiohttp.ClientSession) -> None:
    status, body, _ = await call(http, hub, "GET", f"Location/{STOP}")
    stop = Location.model_validate(body)
    assert status == 200 and stop.name == "Lignières, parking de la salle des fêtes"
    assert stop.address.text == "Rue de la Salle des Fêtes, 18160 Lignières"  # type: ignore[union-attr]
    assert stop.partOf.reference == "Location/CHR180"  # type: ignore[union-attr]
    status, body, _ = await call(http, hub, "GET", f"Schedule/{SCHEDULE}")
    schedule = Schedule.model_validate(body)
    assert status == 200 and schedule.planningHorizon is not None
    assert (schedule.planningHorizon.start, schedule.planningHorizon.end) == (at(TUESDAY, "00:00"),
                                                                              at(MONDAY + timedelta(days=2), "00:00"))
    assert [a.reference for a in schedule.actor] == [f"Location/{STOP}", "PractitionerRole/10101010100",
                                                     "PractitionerRole/10101010101"]
    status, body, _ = await call(http, hub, "GET", "Location")
    ids = [e.resource.id for e in Bundle.model_validate(body).entry or []]
    assert {"NAN231", "CHR180", "CHR180-20261207", STOP, "CHR180-20261210"} <= set(ids)


async def test_a_search_by_the_stops_location_gives_that_days_slots_on_its_schedule_and_books_one(
        hub: Hub, http: aiohttp.ClientSession) -> None:
    status, body, _ = await call(http, hub, "GET", f"Slot?schedule.actor=Location/{STOP}"
                                                   "&_include=Slot:schedule&_include=Schedule:actor:Location")
    bundle = Bundle.model_validate(body)
    slots = [e.resource for e in bundle.entry or [] if isinstance(e.resource, Slot)]
    free = await hub.book.free_slots(MOBILE.code, TUESDAY)
    assert status == 200 and [s.start for s in slots] == [f.start for f in free]
    assert {s.schedule.reference for s in slots} == {f"Schedule/{SCHEDULE}"}
    included = {(e.resource.get_resource_type(), e.resource.id) for e in bundle.entry or [] if e.search.mode == "include"}
    assert included == {("Schedule", SCHEDULE), ("Location", STOP), ("Location", "CHR180")}
    status, body, _ = await call(http, hub, "GET", f"Slot?schedule=Schedule/{SCHEDULE}")
    assert [e.resource.id for e in Bundle.model_validate(body).entry or []] == [s.id for s in slots]

    status, made, _ = await call(http, hub, "POST", "Appointment", appointment(str(slots[0].id)))
    assert status == 201, made
    booked = await hub.book.get(made["id"])
    assert booked is not None and (booked.site_code, booked.slot_start) == (MOBILE.code, at(TUESDAY, "09:00"))


async def test_a_cancelled_stop_is_no_longer_published(hub: Hub, http: aiohttp.ClientSession) -> None:
    await hub.book.programme.cancel_stop(MOBILE.code, TUESDAY, actor="anne", reason="panne")
    status, _, _ = await call(http, hub, "GET", f"Location/{STOP}")
    assert status == 404
    status, body, _ = await call(http, hub, "GET", f"Slot?schedule.actor=Location/{STOP}")
    assert status == 200 and not Bundle.model_validate(body).entry
    status, body, _ = await call(http, hub, "GET", "Slot?schedule.actor=Location/CHR180")
    assert {e.resource.schedule.reference for e in Bundle.model_validate(body).entry or []} == {
        f"Schedule/{VEHICLE_STATION}-20261210"}
