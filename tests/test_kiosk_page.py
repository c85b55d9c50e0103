"""The kiosk page in Debian's Chromium against a running simulated station."""

from __future__ import annotations

from pathlib import Path

from tests.browser import chromium, collect_errors
from tests.conftest import running_station
from tests.kiosk import in_state


async def test_the_page_renders_the_station_view_in_french_then_english(tmp_path: Path) -> None:
    async with running_station(tmp_path) as (station, _crew), chromium() as browser:
        page = await browser.new_page()
        errors = collect_errors(page)
        await page.goto(station.kiosk.entry_url)
        await in_state(page, "ready")
        assert await page.text_content("#state-title") == "Bienvenue"
        assert await page.text_content("#site-name") == station.config.place().name
        await page.click("#language")
        assert await page.text_content("#state-title") == "Welcome"
        assert await page.get_attribute("html", "lang") == "en"
        assert errors == []
