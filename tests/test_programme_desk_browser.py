"""The coordinator's "Programme" section in Chromium, under the hub's Content-Security-Policy
(docs/design.md, "The programme of stops"): she changes a stop's hours after seeing which booking the
change cancels, calls its patient from the list, adds a stop and cancels another."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta

import pytest

from hub.booking.records import BookingView
from hub.server import Hub
from tests.booking import MOBILE, MONDAY, VEHICLE_STATION, Wall, at, patient
from tests.browser import chromium, collect_errors, missing_texts
from tests.test_hub_desk import COORDINATOR_PASSWORD
from tests.test_hub_desk_browser import BROWSER_MS, log_in
from tests.test_programme_desk import programme_config

TUESDAY = MONDAY + timedelta(days=1)


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    hub = Hub(programme_config(), wall=Wall())
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()


async def booked_tuesday(hub: Hub, start: str, phone: str) -> BookingView:
    return await hub.book.book(patient(at(TUESDAY, start), site=MOBILE.code, phone=phone), actor="online",
                               channel="online")


async def test_a_coordinator_changes_adds_and_cancels_stops_seeing_whom_each_change_reaches(hub: Hub) -> None:
    await hub.book.publish_session("paul.roux", (VEHICLE_STATION,), at(TUESDAY, "09:00"), at(TUESDAY, "12:00"),
                                   actor="anne")
    await booked_tuesday(hub, "09:00", "06 11 11 11 11")
    lost = await booked_tuesday(hub, "10:30", "06 22 22 22 22")
    async with chromium() as browser:
        page = await (await browser.new_context()).new_page()
        errors = collect_errors(page)
        await log_in(page, hub, "anne", COORDINATOR_PASSWORD)
        await page.wait_for_url(f"{hub.url}/coordinator", timeout=BROWSER_MS)
        await page.wait_for_function("() => document.querySelectorAll('[data-testid=programme-stop]').length === 3",
                                     timeout=BROWSER_MS)
        tuesday = page.locator("[data-testid=programme-stop][data-date='2026-12-08']")
        assert "2 rendez-vous" in await tuesday.inner_text()

        await tuesday.locator("[data-testid=programme-edit]").click()
        assert await page.input_value("[data-testid=programme-hours]") == "09:00-12:00"
        await page.fill("[data-testid=programme-hours]", "09:00-10:00")
        await page.fill("[data-testid=programme-reason]", "le véhicule repart à 10 h")
        await page.click("[data-testid=programme-submit]")
        await page.wait_for_selector("[data-testid=programme-preview]", state="visible", timeout=BROWSER_MS)
        preview = await page.inner_text("[data-testid=programme-preview]")
        assert "annule 1 rendez-vous" in preview and "06 22 22 22 22" in preview
        assert (await hub.book.get(lost.id)).status == "booked"  # type: ignore[union-attr]
        await page.click("[data-testid=programme-confirm]")
        await page.wait_for_selector("[data-testid=programme-hit] li", timeout=BROWSER_MS)
        assert "06 22 22 22 22" in await page.inner_text("[data-testid=programme-hit]")
        assert (await hub.book.get(lost.id)).status == "cancelled"  # type: ignore[union-attr]
        assert hub.book.programme.stop_on(MOBILE.code, TUESDAY).hours[0].end.hour == 10  # type: ignore[union-attr]

        await page.fill("[data-testid=programme-date]", "2026-12-11")
        await page.fill("[data-testid=programme-place]", "Baugy, place de l'église")
        await page.fill("[data-testid=programme-address]", "Place de l'Église, 18800 Baugy")
        await page.fill("[data-testid=programme-hours]", "09:00-12:00, 13:30-16:00")
        await page.click("[data-testid=programme-submit]")
        await page.wait_for_function("() => document.querySelectorAll('[data-testid=programme-stop]').length === 4",
                                     timeout=BROWSER_MS)
        added = hub.book.programme.stop_on(MOBILE.code, date(2026, 12, 11))
        assert added is not None and [str(h) for h in added.hours] == ["09:00-12:00", "13:30-16:00"]

        thursday = page.locator("[data-testid=programme-stop][data-date='2026-12-10']")
        await page.fill("[data-testid=programme-reason]", "panne du véhicule")
        await thursday.locator("[data-testid=programme-cancel]").click()
        await page.wait_for_selector("[data-testid=programme-preview]", state="visible", timeout=BROWSER_MS)
        await page.click("[data-testid=programme-confirm]")
        await page.wait_for_selector("[data-testid=programme-stop][data-date='2026-12-10'][data-status=cancelled]",
                                     timeout=BROWSER_MS)
        assert hub.book.programme.stop_on(MOBILE.code, date(2026, 12, 10)).status == "cancelled"  # type: ignore[union-attr]

        await page.click("[data-testid=lang-toggle]")
        await page.wait_for_function("() => document.documentElement.lang === 'en'", timeout=BROWSER_MS)
        assert "cancelled" in await thursday.inner_text()
        assert [e for e in errors if "Failed to load resource" not in e] == []
        assert await missing_texts(page) == []
