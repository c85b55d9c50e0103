"""The kiosk page across a station restart, the inactivity warning, and the technician's screen."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from runtime.clock import PARIS
from sim.badges import TECHNICIAN_BADGE
from sim.patient import KioskClient
from tests.browser import chromium, missing_texts
from tests.conftest import running_station
from tests.kiosk import (
    BROWSER_MS,
    book,
    enabled,
    enter_code,
    in_state,
    kiosk_station,
    open_kiosk,
    quick_config,
    shot,
    small_targets,
    tap,
)
from tests.processes import free_port


async def test_after_a_restart_the_old_key_is_void_and_the_new_start_shows_the_cleaning_lockout(
        tmp_path: Path) -> None:
    """A restarted station has a new key: the open page stays disconnected (its cookie is void)
    until the browser opens the new start page, as the kiosk unit does (PartOf= the station's)."""
    port = free_port()
    async with chromium() as browser:
        async with kiosk_station(tmp_path / "state", port=port) as station:
            await book(station, "PQ3E4K59")
            page = await open_kiosk(browser, station.kiosk.entry_url)
            client = KioskClient(station.kiosk.entry_url)
            await client.start()
            try:
                await client.post("/api/checkin", {"code": "PQ3E4K59"})
                await client.post("/api/identity", {"confirm": True})
                await client.post("/api/leave")
            finally:
                await client.stop()
            await in_state(page, "awaiting_cleaning")
        await page.wait_for_selector("body:not([data-state])", state="attached", timeout=BROWSER_MS)
        assert "Connexion à la cabine perdue" in (await page.text_content("#state-title") or "")
        await shot(page, tmp_path, "station-down")
        async with kiosk_station(tmp_path / "state", port=port) as station:
            assert await page.evaluate("fetch('/api/state').then((r) => r.status)") == 401
            assert await page.get_attribute("body", "data-state") is None
            await page.goto(station.kiosk.entry_url)
            await in_state(page, "awaiting_cleaning")
            assert await page.text_content("#state-title") == "Cabine en cours de nettoyage"
            await shot(page, tmp_path, "after-restart")


async def test_inactivity_warns_first_then_resets(tmp_path: Path) -> None:
    config = quick_config()
    config = config.model_copy(update={"timeouts": config.timeouts.model_copy(update={"checkin_inactivity_s": 6})})
    async with kiosk_station(tmp_path / "state", config) as station, chromium() as browser:
        await book(station, "TWX7E828", minutes_from_now=90)
        page = await open_kiosk(browser, station.kiosk.entry_url)
        await in_state(page, "ready")
        await enter_code(page, "TWX7E828")  # too early: the screen stays on check-in
        await in_state(page, "checking_in")
        await page.wait_for_selector("#idle", state="visible", timeout=BROWSER_MS)
        assert "Êtes-vous toujours là" in await page.inner_text("#idle")
        await shot(page, tmp_path, "idle-warning")
        await page.click("#idle-stay")
        assert await page.is_hidden("#idle")
        await in_state(page, "ready")  # nobody touched the screen again
        assert await missing_texts(page) == []


async def test_the_technician_sees_devices_tests_one_and_takes_the_cabin_out_of_service(tmp_path: Path) -> None:
    async with kiosk_station(tmp_path / "state") as station, chromium() as browser:
        page = await open_kiosk(browser, station.kiosk.entry_url)
        await in_state(page, "ready")
        assert station.rig is not None
        await station.rig.badge_reader.present(TECHNICIAN_BADGE)
        await in_state(page, "maintenance")
        rows = page.locator("#devices tr")
        assert await rows.count() == len(station.config.devices)
        first = station.config.devices[0].id
        assert "connecté" in await page.inner_text(f"tr[data-device={first}]")
        await tap(page, f"selftest-{first}")
        await page.get_by_text(f"{first} a répondu : test réussi").wait_for(timeout=BROWSER_MS)
        receipts = len(station.rig.printer.receipts)
        await tap(page, "test-print")
        await page.get_by_text("Page de test imprimée.").wait_for(timeout=BROWSER_MS)
        assert len(station.rig.printer.receipts) > receipts
        assert await small_targets(page) == []
        await shot(page, tmp_path, "maintenance")
        assert not await enabled(page, "out-of-service")
        for letter in "PANNE":
            await tap(page, f"key-{letter}")
        await tap(page, "out-of-service")
        await in_state(page, "out_of_service")
        assert "PANNE" in await page.inner_text("#oos-reason")
        await shot(page, tmp_path, "out-of-service")
        assert await missing_texts(page) == []


async def test_the_cleaning_screens_list_recent_cleanings_without_names(tmp_path: Path) -> None:
    async with running_station(tmp_path / "state") as (station, crew):
        for code in ("42424242", "43434343"):
            await book(station, code)
            await crew.kiosk.post("/api/checkin", {"code": code})
            await crew.kiosk.post("/api/identity", {"confirm": True})
            await crew.kiosk.post("/api/leave")
            view = await crew.kiosk.wait_state("awaiting_cleaning")
            if code == "42424242":
                assert view["recent_cleanings"] == []
                await crew.clean()
        view = await crew.kiosk.wait_for(lambda v: len(v.get("recent_cleanings", [])) == 1)
        assert set(view["recent_cleanings"][0]) == {"at"}
        assert (await crew.kiosk.current())["state"] == "awaiting_cleaning"


async def test_the_closed_screen_gives_the_next_opening_and_how_to_book(tmp_path: Path) -> None:
    sunday = datetime(2026, 11, 29, 15, 0, tzinfo=PARIS)
    async with kiosk_station(tmp_path / "state", start=sunday) as station, chromium() as browser:
        page = await open_kiosk(browser, station.kiosk.entry_url)
        await in_state(page, "closed")
        text = await page.inner_text("#screen")
        assert "Prochaine ouverture : lundi 30 novembre" in text and "09:00" in text
        place = station.config.place()
        assert place.phone in text and place.code in text
        assert await page.locator("[data-action^=digit]").count() == 0
        await shot(page, tmp_path, "closed")
        assert await missing_texts(page) == []
