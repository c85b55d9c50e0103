"""Check-in on the kiosk page: every refusal, "this is not me", the age rule, and English."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

from playwright.async_api import Browser, Page

from station.compose import Station
from tests.browser import chromium, collect_errors, missing_texts
from tests.kiosk import (
    BROWSER_MS,
    book,
    enabled,
    enter_code,
    in_state,
    kiosk_station,
    open_kiosk,
    shot,
    tap,
)


async def test_every_check_in_refusal_shows_its_message(tmp_path: Path) -> None:
    async with kiosk_station(tmp_path / "state") as station, chromium() as browser:
        early = await book(station, "EARXY234", minutes_from_now=90)
        await book(station, "TARDY222", minutes_from_now=-40)
        opens = early.slot_start - timedelta(minutes=station.config.checkin.early_minutes)
        page = await open_kiosk(browser, station.kiosk.entry_url)
        errors = collect_errors(page)
        await in_state(page, "ready")
        expected = {
            "EARXY234": ("too_early", "Vous êtes en avance"),
            "TARDY222": ("too_late", "L'heure de votre rendez-vous est passée"),
            "99999999": ("unknown_code", "Ce code n'est pas reconnu"),
        }
        for code, (reason, text) in expected.items():
            await enter_code(page, code)
            await page.wait_for_selector(f"#refusal[data-reason={reason}]", timeout=BROWSER_MS)
            assert text in await page.inner_text("#refusal")
            if reason == "too_early":  # and from when the code is accepted, in the cabin's time
                assert f"{opens:%H:%M}" in await page.inner_text("#refusal")
            assert await enabled(page, "code-2") and await enabled(page, "cancel")
            await shot(page, tmp_path, f"refusal-{reason}")
        assert station.config.checkin.max_wrong_codes == 5
        for _ in range(2):  # every refused code counts: the fifth pauses check-in
            await enter_code(page, "99999999")
        await page.get_by_text("Trop de codes erronés").wait_for(timeout=BROWSER_MS)
        assert re.search(r"Le clavier revient dans [01]:\d\d \(minutes:secondes\)", await page.inner_text("#screen"))
        assert not await enabled(page, "code-2")
        await shot(page, tmp_path, "refusal-paused")
        await tap(page, "cancel")
        await in_state(page, "ready")
        assert [e for e in errors if "status of 409" not in e] == []  # a refused code is a 409 answer
        assert await missing_texts(page) == []


async def test_this_is_not_me_forgets_the_name_and_asks_again(tmp_path: Path) -> None:
    async with kiosk_station(tmp_path / "state") as station, chromium() as browser:
        appt = await book(station, "M35793AB", name="Ondine Nothme")
        page = await open_kiosk(browser, station.kiosk.entry_url)
        await in_state(page, "ready")
        await enter_code(page, appt.code)
        await page.wait_for_selector("#patient-name", timeout=BROWSER_MS)
        await tap(page, "reject")
        await page.wait_for_selector("[data-action=submit]", timeout=BROWSER_MS)
        assert "Ondine Nothme" not in await page.content()
        assert await page.text_content("#state-title") == "Vérification de votre rendez-vous"


async def at_eligibility(station: Station, browser: Browser, code: str, *, age: int) -> Page:
    """A patient of `age` booked under `code` has checked in and confirmed who they are."""
    today = station.clock.now().date()
    await book(station, code, birth=date(today.year - age, 1, 15))
    page = await open_kiosk(browser, station.kiosk.entry_url)
    await in_state(page, "ready")
    await enter_code(page, code)
    await tap(page, "confirm")
    await in_state(page, "eligibility")
    return page


async def test_a_child_under_14_is_refused_kindly(tmp_path: Path) -> None:
    async with kiosk_station(tmp_path / "state") as station, chromium() as browser:
        page = await at_eligibility(station, browser, "CHD2CHD2", age=10)
        await page.wait_for_selector("#refused", timeout=BROWSER_MS)
        text = await page.inner_text("#screen")
        assert "moins de 14 ans" in text and station.config.place().phone in text
        assert await page.locator("[data-action=consent]").count() == 0
        await shot(page, tmp_path, "under-14")
        await tap(page, "leave")
        await in_state(page, "awaiting_cleaning")
        assert await missing_texts(page) == []


async def test_a_minor_names_the_representative_on_the_screen_keyboard(tmp_path: Path) -> None:
    async with kiosk_station(tmp_path / "state") as station, chromium() as browser:
        page = await at_eligibility(station, browser, "MNR6MNR6", age=16)
        assert "représentant légal" in await page.inner_text("#screen")
        assert not await enabled(page, "representative")
        for letter in "MARIE":
            await tap(page, f"key-{letter}")
        assert await page.input_value("#representative") == "MARIE"
        await shot(page, tmp_path, "representative")
        await tap(page, "representative")
        await page.wait_for_selector("[data-action=consent]", timeout=BROWSER_MS)
        await tap(page, "consent")
        await in_state(page, "waiting_for_doctor")
        assert await missing_texts(page) == []


async def test_english_at_a_touch(tmp_path: Path) -> None:
    async with kiosk_station(tmp_path / "state") as station, chromium() as browser:
        await book(station, "77777777", minutes_from_now=90)
        page = await open_kiosk(browser, station.kiosk.entry_url)
        await in_state(page, "ready")
        await page.click("#language")
        assert await page.get_attribute("html", "lang") == "en"
        assert await page.text_content("#state-title") == "Welcome"
        assert await page.get_attribute("[data-action=submit]", "aria-label") == "Confirm the code"
        await enter_code(page, "77777777")
        await page.wait_for_selector("#refusal[data-reason=too_early]", timeout=BROWSER_MS)
        assert "You are early" in await page.inner_text("#refusal")
        assert await page.text_content("#state-title") == "Checking your appointment"
        assert await page.text_content("#language") == "Français"
        assert await page.get_attribute("#language", "aria-label") == "Change language: Français"
        assert await page.title() == "Teleconsultation cabin"
        await shot(page, tmp_path, "english")
        await tap(page, "cancel")
        await in_state(page, "ready")
        await page.click("#language")  # and back to French at a touch
        assert await page.get_attribute("html", "lang") == "fr"
        assert await page.text_content("#state-title") == "Bienvenue"
        assert await page.title() == "Cabine de téléconsultation"
        assert await missing_texts(page) == []
