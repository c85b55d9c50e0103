"""The fleet page in Chromium, under the hub's Content-Security-Policy (docs/design.md, "The fleet view"): a
simulated cabin dialled in to a real hub runs out of paper, and the coordinator sees the alert on the
fleet page within seconds; a new roll clears it. The cabins never heard of are alerts too; a technician
whose login ends is sent back to the login page."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from pydantic import SecretStr

from config.loader import load_config
from config.schema import HubSection
from hub.config import token_digest
from hub.server import Hub
from station.compose import Station
from tests.browser import chromium, collect_errors, missing_texts
from tests.conftest import running_station
from tests.test_fleet import fleet_config
from tests.test_hub_desk import COORDINATOR_PASSWORD
from tests.test_hub_desk_browser import BROWSER_MS, log_in

CABIN = "cabin-nangis-1"
TOKEN = "cabin-nangis-1-token-0123456789"
ALERT_MS = 10_000  # "within seconds": the station looks every 0.5 s and the page polls every 3 s


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    config = fleet_config()
    stations = tuple(s.model_copy(update={"token_sha256": token_digest(TOKEN)}) if s.id == CABIN else s
                     for s in config.stations)
    server = Hub(config.model_copy(update={"stations": stations}))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@asynccontextmanager
async def cabin(hub: Hub, state_dir: Path) -> AsyncIterator[Station]:
    """The simulated CABIN in real time, looking at its health every 0.5 s, connected to `hub`."""
    section = HubSection(url=hub.station_url, station_id=CABIN, token=SecretStr(TOKEN), health_probe_s=0.5)
    config = load_config().model_copy(update={"hub": section})
    async with running_station(state_dir, config, speed=1.0) as (station, _):
        assert station.calls is not None
        async with asyncio.timeout(10):
            await station.calls.hub.wait_connected()
        yield station


async def test_a_paper_out_at_a_simulated_cabin_appears_on_the_fleet_page_within_seconds(hub: Hub,
                                                                                        tmp_path: Path) -> None:
    async with cabin(hub, tmp_path) as station, chromium() as browser:
        assert station.rig is not None
        page = await (await browser.new_context()).new_page()
        errors = collect_errors(page)
        await log_in(page, hub, "anne", COORDINATOR_PASSWORD)
        await page.wait_for_url(f"{hub.url}/coordinator", timeout=BROWSER_MS)
        await page.click("[data-testid=fleet-link]")
        await page.wait_for_url(f"{hub.url}/fleet", timeout=BROWSER_MS)
        await page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=BROWSER_MS)
        tile = f"[data-testid=cabin-tile][data-station={CABIN}]"
        await page.wait_for_selector(f"{tile}[data-state=ready]", timeout=BROWSER_MS)
        # The two other cabins never reported: critical alerts, and their tiles say so.
        silent = "[data-testid=alert][data-kind=never_reported][data-severity=critical]"
        assert await page.locator("[data-testid=alert]").count() == await page.locator(silent).count() == 2
        assert "aucun rapport reçu" in await page.locator(silent).first.inner_text()
        assert await page.locator("[data-testid=cabin-tile][data-state=unknown][data-severity=critical]").count() == 2

        station.rig.printer.paper_out = True
        alert = f"[data-testid=alert][data-kind=paper_out][data-station={CABIN}]"
        await page.wait_for_selector(alert, timeout=ALERT_MS)
        assert "plus de papier" in await page.inner_text(alert)
        assert await page.get_attribute(tile, "data-severity") == "critical"
        await page.click(tile)
        await page.wait_for_selector("[data-testid=detail]", state="visible", timeout=BROWSER_MS)
        assert await page.inner_text("[data-testid=detail-printer]") == "plus de papier"
        assert await page.locator("[data-testid=device-row]").count() == len(station.devices.health())
        assert await page.is_hidden("[data-testid=maintenance]")  # a coordinator's panel has no maintenance

        station.rig.printer.paper_out = False  # a new roll
        await page.wait_for_selector(alert, state="detached", timeout=ALERT_MS)
        await page.click("[data-testid=lang-toggle]")
        assert await page.inner_text("[data-testid=detail-printer]") == "printer ready"
        assert await missing_texts(page) == []
        assert [e for e in errors if "Failed to load resource" not in e] == []  # the login page's /api/me: 401


PAINTED = """(id) => {
  const canvas = document.getElementById(id);
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  return pixels.some((value, i) => i % 4 === 3 && value > 0);
}"""


async def test_a_technicians_login_opens_the_fleet_page_and_a_cabins_history_is_drawn(hub: Hub,
                                                                                      tmp_path: Path) -> None:
    async with cabin(hub, tmp_path), chromium() as browser:
        page = await (await browser.new_context()).new_page()
        errors = collect_errors(page)
        await log_in(page, hub, "tom", COORDINATOR_PASSWORD)
        await page.wait_for_url(f"{hub.url}/fleet", timeout=BROWSER_MS)
        await page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=BROWSER_MS)
        assert await page.is_hidden("[data-testid=coordinator-link]")
        await page.click(f"[data-testid=cabin-tile][data-station={CABIN}][data-state=ready]", timeout=BROWSER_MS)
        await page.wait_for_selector("[data-testid=detail]", state="visible", timeout=BROWSER_MS)
        for chart in ("chart-lag", "chart-battery", "chart-states"):
            await page.wait_for_function(PAINTED, arg=chart, timeout=BROWSER_MS)
        # The technician's remote maintenance, on the real page: the cabin's diagnostics come back.
        await page.click("[data-testid=maintenance] [data-action=diagnostics]", timeout=BROWSER_MS)
        await page.wait_for_selector("[data-testid=maintenance] [data-role=devices]", timeout=BROWSER_MS)
        assert await missing_texts(page) == []
        assert [e for e in errors if "Failed to load resource" not in e] == []


async def test_a_technician_whose_login_ended_is_sent_back_to_the_login_page(hub: Hub) -> None:
    async with chromium() as browser:
        context = await browser.new_context()
        page = await context.new_page()
        errors = collect_errors(page)
        await log_in(page, hub, "tom", COORDINATOR_PASSWORD)
        await page.wait_for_url(f"{hub.url}/fleet", timeout=BROWSER_MS)
        await page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=BROWSER_MS)
        await page.click("[data-testid=cabin-tile][data-station=cabin-chelles-1]")
        await page.wait_for_selector("[data-testid=maintenance] [data-action=diagnostics]", timeout=BROWSER_MS)
        # She logs out in another tab: the page's next poll is refused (401) and sends her to log in again.
        other = await context.new_page()
        await other.goto(f"{hub.url}/fleet")
        assert await other.evaluate("async () => (await fetch('/api/logout', {method: 'POST'})).status") == 200
        await page.wait_for_url(f"{hub.url}/", timeout=BROWSER_MS)
        await page.wait_for_selector("[data-testid=login-username]", state="visible", timeout=BROWSER_MS)
        assert [e for e in errors if "Failed to load resource" not in e] == []  # the refused polls: 401
