"""The public booking page reads the programme from the store (docs/design.md, "The programme of stops"):
a mobile unit's next stops with their place, date and hours and whether a free slot is left, a stop
added shown, a cancelled one gone; in the API and in Chromium."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import aiohttp
from sqlalchemy.engine import URL

from hub.booking.programme import stop_section
from hub.server import Hub
from tests.booking import MONDAY, at, patient
from tests.test_hub_public_booking import call, public_hub
from tests.test_hub_public_booking_page import phone, visible

TUESDAY = MONDAY + timedelta(days=1)
FRIDAY = MONDAY + timedelta(days=4)


async def bus_stops(http: aiohttp.ClientSession, hub: Hub) -> list[dict[str, Any]]:
    status, body, _ = await call(http, hub, "GET", "/api/public/sites")
    assert status == 200
    return list(next(s for s in body["sites"] if s["code"] == "BUS77")["stops"])


async def add_friday(hub: Hub) -> None:
    await hub.book.programme.add_stop("BUS77", stop_section(FRIDAY, "Longueville, place de la gare",
                                                            "Place de la Gare, 77650 Longueville", ["09:00-12:00"]),
                                      actor="anne")


async def test_the_next_stops_say_whether_a_slot_is_left_and_a_cancelled_one_is_gone(
        http: aiohttp.ClientSession, store_url: URL) -> None:
    async with public_hub(store_url) as hub:
        await hub.book.publish_session("claire.martin", ("cabin-bus-1",), at(TUESDAY, "09:00"), at(TUESDAY, "09:30"),
                                       actor="anne")
        await add_friday(hub)
        assert [(s["date"], s["place"], s["bookable"]) for s in await bus_stops(http, hub)] == [
            ("2026-12-08", "Provins, parking du marché", True),
            ("2026-12-11", "Longueville, place de la gare", False)]  # no GP on duty that day yet
        await hub.book.book(patient(at(TUESDAY, "09:00"), site="BUS77"), actor="online booking", channel="online")
        assert [s["bookable"] for s in await bus_stops(http, hub)] == [False, False]  # its one slot is taken
        await hub.book.programme.cancel_stop("BUS77", TUESDAY, actor="anne", reason="panne")
        stops = await bus_stops(http, hub)
    assert [(s["date"], s["hours"], s["address"]) for s in stops] == [
        ("2026-12-11", ["09:00-12:00"], "Place de la Gare, 77650 Longueville")]


async def test_the_page_shows_a_full_stop_without_its_button_and_a_new_stop_to_book() -> None:
    async with public_hub() as hub:
        await hub.book.publish_session("claire.martin", ("cabin-bus-1",), at(FRIDAY, "09:00"), at(FRIDAY, "12:00"),
                                       actor="anne")
        await add_friday(hub)
        async with phone(hub) as (page, errors, violations):
            await page.click('[data-testid="start"]')
            await page.fill('[data-testid="site-search"]', "provins")
            await visible(page, "full-BUS77-2026-12-08")
            assert "Complet" in await page.inner_text('[data-testid="full-BUS77-2026-12-08"]')
            assert await page.is_disabled('[data-testid="stop-BUS77-2026-12-08"]')
            assert not await page.is_visible('[data-testid="full-BUS77-2026-12-11"]')
            await page.click('[data-testid="stop-BUS77-2026-12-11"]')
            await visible(page, "slot-09:00")
            assert "Place de la Gare, 77650 Longueville" in await page.inner_text("#slot-address")
            assert violations == []
            assert [e for e in errors if "Failed to load resource" not in e] == []
