"""The coordinator's console and a GP's sessions in Chromium, under the hub's Content-Security-Policy
(docs/design.md, "The coordinator's console"): a coordinator logs in on the console's page, is sent to
her own, enters a GP session, books by phone, reads the code and cancels it; a GP publishes a session
on her console and withdraws it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from playwright.async_api import Page

from hub.server import Hub
from tests.booking import MONDAY, Wall, at
from tests.browser import chromium, collect_errors, missing_texts
from tests.test_hub_desk import COORDINATOR_PASSWORD, desk_config

BROWSER_MS = 30_000  # generous, for a loaded CI machine


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    hub = Hub(desk_config(), wall=Wall())
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()


async def log_in(page: Page, hub: Hub, username: str, password: str) -> None:
    await page.goto(hub.url)
    await page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=BROWSER_MS)
    await page.fill("[data-testid=login-username]", username)
    await page.fill("[data-testid=login-password]", password)
    await page.click("[data-testid=login-submit]")


async def test_a_coordinator_enters_a_session_books_by_phone_reads_the_code_and_cancels(hub: Hub) -> None:
    async with chromium() as browser:
        page = await (await browser.new_context()).new_page()
        errors = collect_errors(page)
        await log_in(page, hub, "anne", COORDINATOR_PASSWORD)
        await page.wait_for_url(f"{hub.url}/coordinator", timeout=BROWSER_MS)
        await page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=BROWSER_MS)
        assert await page.inner_text("[data-testid=who]") == "Anne Coordinatrice"

        await page.select_option("[data-testid=session-gp]", "claire.martin")
        await page.select_option("[data-testid=session-site]", "NAN231")
        await page.fill("[data-testid=session-date]", MONDAY.isoformat())
        await page.fill("[data-testid=session-from]", "09:00")
        await page.fill("[data-testid=session-to]", "12:30")
        await page.check("[data-testid=session-cabin][value=cabin-nangis-1]")
        await page.click("[data-testid=session-submit]")
        await page.wait_for_selector("[data-testid=session-row]", timeout=BROWSER_MS)

        await page.fill("[data-testid=search-from]", MONDAY.isoformat())
        await page.click("[data-testid=search-submit]")
        await page.wait_for_selector("[data-testid=slot-row]", timeout=BROWSER_MS)
        assert await page.locator("[data-testid=slot-row]").count() == 5
        await page.locator("[data-testid=slot-book]").nth(1).click()  # 09:45
        await page.fill("[data-testid=book-name]", "Camille Lefèvre")
        await page.fill("[data-testid=book-birth]", "1968-04-12")
        await page.fill("[data-testid=book-phone]", "06 12 34 56 78")
        await page.click("[data-testid=book-submit]")
        await page.wait_for_selector("[data-testid=booking]", state="visible", timeout=BROWSER_MS)
        code = await page.inner_text("[data-testid=booking-code]")
        assert re.fullmatch(r"[2-9A-Z]{4}-[2-9A-Z]{4}", code)
        booked = await hub.book.find(code)
        assert booked is not None and booked.slot_start == at(MONDAY, "09:45")
        assert (booked.channel, booked.created_by, booked.phone) == ("phone", "anne", "06 12 34 56 78")
        assert await page.locator("[data-testid=slot-row]").count() == 4  # the search shows it taken

        await page.fill("[data-testid=day-date]", MONDAY.isoformat())
        await page.click("[data-testid=day-submit]")
        await page.wait_for_selector("[data-testid=day-row]", timeout=BROWSER_MS)
        assert code in await page.inner_text("[data-testid=day-row]")

        await page.fill("[data-testid=cancel-reason]", "the patient called to cancel")
        await page.click("[data-testid=cancel-submit]")
        await page.wait_for_function(
            "() => document.getElementById('booking').dataset.status === 'cancelled'", timeout=BROWSER_MS)
        assert await page.inner_text("[data-testid=booking-status]") == "Annulée"
        cancelled = await hub.book.find(code)
        assert cancelled is not None and cancelled.status == "cancelled"
        assert cancelled.reason == "the patient called to cancel"

        await page.click("[data-testid=lang-toggle]")
        await page.wait_for_function("() => document.documentElement.lang === 'en'", timeout=BROWSER_MS)
        assert await page.inner_text("[data-testid=booking-status]") == "Cancelled"
        assert [e for e in errors if "Failed to load resource" not in e] == []
        assert await missing_texts(page) == []


async def test_a_gp_publishes_a_session_on_her_console_and_withdraws_it(hub: Hub) -> None:
    async with chromium() as browser:
        page = await (await browser.new_context()).new_page()
        errors = collect_errors(page)
        await log_in(page, hub, "claire.martin", "secret")
        await page.wait_for_function("() => document.getElementById('hub-status').dataset.state === 'open'",
                                     timeout=BROWSER_MS)
        await page.wait_for_selector("[data-testid=sessions-cabin]", timeout=BROWSER_MS)
        assert await page.is_visible("[data-testid=sessions-empty]")
        await page.fill("[data-testid=sessions-date]", MONDAY.isoformat())
        await page.fill("[data-testid=sessions-from]", "13:30")
        await page.fill("[data-testid=sessions-to]", "17:00")
        await page.check("[data-testid=sessions-cabin][value=cabin-chelles-1]")
        await page.click("[data-testid=sessions-submit]")
        await page.wait_for_selector("[data-testid=sessions-row]", timeout=BROWSER_MS)
        row = await page.inner_text("[data-testid=sessions-row]")
        assert "13:30" in row and "17:00" in row and "Chelles" in row
        published = await hub.book.sessions(at(MONDAY, "00:00"), at(MONDAY, "00:00") + timedelta(days=1))
        assert [(s.username, s.station_id, s.start, s.created_by) for s in published] == [
            ("claire.martin", "cabin-chelles-1", at(MONDAY, "13:30"), "claire.martin")]

        await page.click("[data-testid=sessions-submit]")  # the same session again
        await page.wait_for_selector("[data-testid=sessions-error]", state="visible", timeout=BROWSER_MS)
        await page.click("[data-testid=sessions-withdraw]")
        await page.wait_for_selector("[data-testid=sessions-empty]", state="visible", timeout=BROWSER_MS)
        assert await hub.book.sessions(at(MONDAY, "00:00"), at(MONDAY, "00:00") + timedelta(days=1)) == []
        assert [e for e in errors if "Failed to load resource" not in e] == []
        assert await missing_texts(page) == []
