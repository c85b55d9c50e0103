"""The coordinator's "Activité" section in Chromium, under the hub's Content-Security-Policy (docs/design.md,
"Activity"): the mobile unit's stop days drawn as SVG bars with the right counts, the table that says the same,
the CSV link, no patient's name; and the phone booking form's regular doctor question, stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from playwright.async_api import Page

from hub.booking.records import BookingView
from hub.server import Hub
from tests.booking import MONDAY, Wall
from tests.browser import chromium, collect_errors, missing_texts
from tests.test_activity_routes import CANARY, a_stop_day, activity_config
from tests.test_hub_desk import COORDINATOR_PASSWORD
from tests.test_hub_desk_browser import BROWSER_MS, log_in


@pytest.fixture
async def hub() -> AsyncIterator[tuple[Hub, list[BookingView]]]:
    wall = Wall()
    hub = Hub(activity_config(None), wall=wall)
    await hub.start()
    try:
        yield hub, await a_stop_day(hub, wall)
    finally:
        await hub.stop()


async def bars(page: Page, chart: str) -> list[int]:
    values = await page.eval_on_selector_all(f"[data-testid={chart}] [data-testid=bar]",
                                            "(rects) => rects.map((r) => Number(r.getAttribute('data-value')))")
    return [int(v) for v in values]


async def widths(page: Page, chart: str) -> list[float]:
    values = await page.eval_on_selector_all(f"[data-testid={chart}] [data-testid=bar]",
                                            "(rects) => rects.map((r) => r.getBoundingClientRect().width)")
    return [float(v) for v in values]


async def test_the_activity_section_draws_the_stop_days_as_bars_and_a_table(
        hub: tuple[Hub, list[BookingView]]) -> None:
    server, made = hub
    async with chromium() as browser:
        page = await (await browser.new_context(accept_downloads=True)).new_page()
        errors = collect_errors(page)
        await log_in(page, server, "anne", COORDINATOR_PASSWORD)
        await page.wait_for_url(f"{server.url}/coordinator", timeout=BROWSER_MS)
        await page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=BROWSER_MS)

        await page.select_option("[data-testid=activity-site]", "CHR180")
        await page.fill("[data-testid=activity-from]", MONDAY.isoformat())
        await page.fill("[data-testid=activity-to]", (MONDAY + timedelta(days=6)).isoformat())
        await page.click("[data-testid=activity-submit]")
        await page.wait_for_selector("[data-testid=activity-result]", state="visible", timeout=BROWSER_MS)

        assert await bars(page, "chart-weeks") == [2]
        assert await bars(page, "chart-stops") == [2, 0, 0]
        assert await bars(page, "chart-no-shows") == [1, 0, 0]
        assert await bars(page, "chart-regular-doctor") == [2, 1]
        stops = await widths(page, "chart-stops")
        assert stops[0] > 0 and stops[1:] == [0, 0]
        low, high = await widths(page, "chart-regular-doctor")
        assert abs(high * 2 - low) < 2  # drawn to scale
        assert "Sancoins" in (await page.text_content("[data-testid=chart-stops]") or "")
        assert await page.get_attribute("[data-testid=chart-stops]", "role") == "img"

        rows = page.locator("[data-testid=activity-row]")
        assert await rows.count() == 3
        first = await rows.nth(0).inner_text()
        assert "Sancoins" in first and "15\u00a0min" in first  # 10 and 20 minutes' waits: median 15
        assert "67\u00a0%" in await page.inner_text("[data-testid=activity-totals]")
        section = await page.inner_text("#activity-result")
        assert CANARY not in section and all(b.code not in section for b in made)

        async with page.expect_download() as started:
            await page.click("[data-testid=activity-csv]")
        download = await started.value
        assert download.suggested_filename == "activite-CHR180-2026-12-07-2026-12-13.csv"
        data = (await download.path()).read_bytes().decode("utf-8-sig")
        assert data.startswith("Jour;Semaine ISO;Lieu;") and CANARY not in data

        await page.click("[data-testid=lang-toggle]")
        await page.wait_for_function("() => document.documentElement.lang === 'en'", timeout=BROWSER_MS)
        assert "Consultations per stop" in await page.inner_text("#activity-result")
        assert "English" not in await page.inner_text("[data-testid=activity-csv]")
        assert "lang=en" in (await page.get_attribute("[data-testid=activity-csv]", "href") or "")
        assert [e for e in errors if "Failed to load resource" not in e] == []
        assert await missing_texts(page) == []


async def test_a_phone_booking_records_the_regular_doctor_answer(hub: tuple[Hub, list[BookingView]]) -> None:
    server, _ = hub
    async with chromium() as browser:
        page = await (await browser.new_context()).new_page()
        await log_in(page, server, "anne", COORDINATOR_PASSWORD)
        await page.wait_for_url(f"{server.url}/coordinator", timeout=BROWSER_MS)
        await page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=BROWSER_MS)
        await page.select_option("[data-testid=search-site]", "CHR180")
        await page.fill("[data-testid=search-from]", (MONDAY + timedelta(days=1)).isoformat())
        await page.click("[data-testid=search-submit]")
        await page.wait_for_selector("[data-testid=slot-row]", timeout=BROWSER_MS)
        await page.locator("[data-testid=slot-book]").first.click()
        await page.fill("[data-testid=book-name]", "Louis Perrin")
        await page.fill("[data-testid=book-birth]", "1949-03-03")
        await page.fill("[data-testid=book-phone]", "06 11 22 33 44")
        await page.select_option("[data-testid=book-regular-doctor]", "no")
        await page.click("[data-testid=book-submit]")
        await page.wait_for_selector("[data-testid=booking]", state="visible", timeout=BROWSER_MS)
        booked = await server.book.find(await page.inner_text("[data-testid=booking-code]"))
        assert booked is not None and booked.regular_doctor is False and booked.site_code == "CHR180"
