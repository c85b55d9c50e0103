"""The coordinator's "Programme" routes over a real hub (docs/design.md, "The programme of stops"): the
mobile unit's stops read, the bookings a change reaches shown before it is made, stops added, changed
and cancelled under the console's guards, refusals changing nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy.engine import URL

from hub.config import SCRYPT_MIN_N, CoordinatorAccount, ListenSection, StoreSection, hash_password
from hub.server import Hub
from tests.booking import MOBILE, MONDAY, VEHICLE_STATION, Wall, at, mobile_config
from tests.test_hub_desk import COORDINATOR_PASSWORD, audit, call, log_in

API = "/api/coordinator/programme"
TUESDAY = MONDAY + timedelta(days=1)
STOP = f"{API}/stops/{MOBILE.code}/{TUESDAY.isoformat()}"


def programme_config(url: URL | None = None) -> Any:
    """mobile_config with the coordinator "anne"."""
    return mobile_config(
        hub=ListenSection(port=0),
        store=StoreSection(url=url.render_as_string(hide_password=False)) if url is not None else StoreSection(),
        coordinators=(CoordinatorAccount(username="anne", name="Anne Coordinatrice",
                                         password_hash=hash_password(COORDINATOR_PASSWORD, n=SCRYPT_MIN_N, p=1)),))


@pytest.fixture
async def hub(store_url: URL) -> AsyncIterator[Hub]:
    hub = Hub(programme_config(store_url), wall=Wall())
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()


async def book_tuesday(http: aiohttp.ClientSession, hub: Hub, start: str, phone: str) -> dict[str, Any]:
    status, body = await call(http, hub, "POST", "/api/coordinator/bookings", {
        "site": MOBILE.code, "start": at(TUESDAY, start).isoformat(), "patient_name": "Camille Lefèvre",
        "birth_date": "1968-04-12", "sex": "F", "phone": phone})
    assert status == 200, body
    return dict(body["booking"])


async def test_a_coordinator_sees_what_new_hours_would_cancel_then_changes_them(
        hub: Hub, http: aiohttp.ClientSession) -> None:
    await log_in(http, hub, "anne")
    await hub.book.publish_session("paul.roux", (VEHICLE_STATION,), at(TUESDAY, "09:00"), at(TUESDAY, "12:00"),
                                   actor="anne")
    kept = await book_tuesday(http, hub, "09:00", "06 11 11 11 11")
    lost = await book_tuesday(http, hub, "10:30", "06 22 22 22 22")
    status, programme = await call(http, hub, "GET", f"{API}?site={MOBILE.code}")
    assert status == 200 and [(s["date"], s["bookings"]) for s in programme["stops"]] == [
        ("2026-12-07", 0), ("2026-12-08", 2), ("2026-12-10", 0)]
    status, preview = await call(http, hub, "GET", f"{API}/affected?site={MOBILE.code}&date=2026-12-08"
                                                   "&hours=09:00-10:00")
    assert (status, [b["code"] for b in preview["cancelled"]], preview["told"]) == (200, [lost["code"]], 1)
    assert (await hub.book.get(lost["id"])).status == "booked"  # type: ignore[union-attr]
    status, done = await call(http, hub, "POST", f"{STOP}/change",
                              {"hours": "09:00-10:00", "reason": "the vehicle leaves at ten"})
    assert status == 200, done
    assert done["stop"]["hours"] == ["09:00-10:00"] and done["told"] == 1
    assert [(b["code"], b["phone"], b["status"]) for b in done["cancelled"]] == [
        (lost["code"], "06 22 22 22 22", "cancelled")]
    assert (await hub.book.get(kept["id"])).status == "booked"  # type: ignore[union-attr]
    assert ("anne", "stop changed") in await audit(hub)


async def test_a_coordinator_adds_and_cancels_stops_and_bad_input_changes_nothing(
        hub: Hub, http: aiohttp.ClientSession) -> None:
    await log_in(http, hub, "anne")
    friday = {"site": MOBILE.code, "date": "2026-12-11", "place": "Baugy, place de l'église",
              "address": "Place de l'Église, 18800 Baugy", "hours": ["09:00-12:00"]}
    status, added = await call(http, hub, "POST", f"{API}/stops", friday)
    assert (status, added["stop"]["status"], added["stop"]["date"]) == (200, "planned", "2026-12-11")
    for body, code in [(friday, "stop_exists"), ({**friday, "date": "2026-12-12", "hours": ["12:00-09:00"]},
                                                 "invalid_stop"),
                       ({**friday, "site": "NAN231", "date": "2026-12-12"}, "not_mobile"),
                       ({**friday, "date": "2026-12-01"}, "stop_past")]:
        status, refused = await call(http, hub, "POST", f"{API}/stops", body)
        assert (status >= 400, refused["error"]) == (True, code)
    status, refused = await call(http, hub, "POST", f"{STOP}/cancel", {"reason": ""})
    assert (status, refused["fields"]) == (422, ["reason"])
    before = await audit(hub)
    async with http.post(hub.url + f"{STOP}/cancel", json={"reason": "x"}) as response:  # not from the console
        assert response.status == 403
    assert await audit(hub) == before
    status, cancelled = await call(http, hub, "POST", f"{STOP}/cancel", {"reason": "the vehicle broke down"})
    assert (status, cancelled["stop"]["status"], cancelled["cancelled"]) == (200, "cancelled", [])
    status, programme = await call(http, hub, "GET", f"{API}?site={MOBILE.code}")
    assert [(s["date"], s["status"]) for s in programme["stops"]] == [
        ("2026-12-07", "planned"), ("2026-12-08", "cancelled"), ("2026-12-10", "planned"), ("2026-12-11", "planned")]
    assert [a for a in await audit(hub) if a[1].startswith("stop ")][-2:] == [
        ("anne", "stop added"), ("anne", "stop cancelled")]


async def test_a_gp_cannot_change_the_programme(hub: Hub, http: aiohttp.ClientSession) -> None:
    await log_in(http, hub, "claire.martin")
    status, _ = await call(http, hub, "GET", f"{API}?site={MOBILE.code}")
    assert status == 403
    status, _ = await call(http, hub, "POST", f"{STOP}/cancel", {"reason": "no"})
    assert status == 403
    assert hub.book.programme.stop_on(MOBILE.code, TUESDAY).status == "planned"  # type: ignore[union-attr]
