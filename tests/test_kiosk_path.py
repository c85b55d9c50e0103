"""The patient's whole path on the kiosk page, then the lockout and the referent clearing it.

The whole path is also the privacy check: once the patient has left, the canary
name is nowhere in the page, the station's logs (every logger, at DEBUG) or the state directory.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from playwright.async_api import Page

from sim.badges import REFERENT_BADGE
from sim.gp import demo_prescription
from station.compose import Station
from station.kiosk import KEY_COOKIE
from tests.browser import chromium, collect_errors, missing_texts
from tests.kiosk import (
    BROWSER_MS,
    CANARY,
    book,
    enabled,
    enter_code,
    in_state,
    joined,
    kiosk_station,
    open_kiosk,
    shot,
    small_targets,
    tap,
    to_the_doctor,
)

NO_TRACE = """async () => ({
  local: localStorage.length, session: sessionStorage.length, cookie: document.cookie,
  idb: (await indexedDB.databases()).length, caches: (await caches.keys()).length,
  dom: document.documentElement.outerHTML,
})"""


async def consult(page: Page, station: Station, out: Path) -> None:
    """The GP joins, asks for a temperature, prescribes and ends; the page follows each step."""
    gp = await joined(page, station)
    await gp.send("request_measurement", kind="temperature")
    await page.wait_for_selector("#instrument[data-kind=temperature]", timeout=BROWSER_MS)
    assert "température" in await page.inner_text("#instrument")
    await page.wait_for_selector("#reading", timeout=BROWSER_MS)
    assert "°C" in await page.inner_text("#reading")
    await shot(page, out, "5-consultation")
    await gp.send("prescribe", **demo_prescription())
    await gp.expect("print_status")
    await gp.send("end")
    await in_state(page, "wrapping_up")
    await page.wait_for_selector("#print-status[data-print=printed]", timeout=BROWSER_MS)
    assert "Prenez votre ordonnance" in await page.inner_text("#print-status")
    await shot(page, out, "6-printing")


def traces_of(name: str, birth: str, state_dir: Path, log_text: str) -> list[str]:
    """Where the patient's surname or birth date still shows: files of the state directory, or the logs."""
    marks = [text.encode(codec) for text in (name.split()[-1], birth) for codec in ("utf-8", "utf-16-le")]
    found = [str(path) for path in sorted(state_dir.rglob("*"))
             if path.is_file() and any(mark in path.read_bytes() for mark in marks)]
    return found + ["logs"] * (name.split()[-1] in log_text or birth in log_text)


async def test_a_patient_walks_the_whole_path_then_the_referent_cleans(tmp_path: Path,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with kiosk_station(tmp_path / "state") as station, chromium() as browser:
        await book(station, "246B8CDE")
        assert traces_of(CANARY, "1961-04-02", tmp_path / "state", "") != []  # the search sees a booking
        page = await open_kiosk(browser, station.kiosk.entry_url)
        errors = collect_errors(page)
        await in_state(page, "ready")
        assert await page.text_content("#state-title") == "Bienvenue"
        assert await enabled(page, "code-2") and not await enabled(page, "submit")
        assert await small_targets(page) == []
        await shot(page, tmp_path, "1-welcome")

        await enter_code(page, "246B8CDE")
        await page.wait_for_selector("#patient-name", timeout=BROWSER_MS)
        assert await page.inner_text("#patient-name") == CANARY
        assert "1961" in await page.inner_text("#screen")
        assert await enabled(page, "confirm") and await enabled(page, "reject")
        assert await small_targets(page) == []
        await shot(page, tmp_path, "2-identity")

        await tap(page, "confirm")
        await in_state(page, "eligibility")
        assert "Votre accord" in await page.inner_text("#screen")
        await shot(page, tmp_path, "3-consent")
        await tap(page, "consent")
        await in_state(page, "waiting_for_doctor")
        assert "Temps d'attente" in await page.inner_text("#screen")
        await shot(page, tmp_path, "4-waiting")

        await consult(page, station, tmp_path)
        await tap(page, "leave")
        await in_state(page, "awaiting_cleaning")
        assert "nettoyage" in (await page.text_content("#state-title") or "")
        assert "badge" in await page.inner_text("#screen")
        await shot(page, tmp_path, "7-goodbye-lockout")
        trace = await page.evaluate(NO_TRACE)
        assert CANARY not in trace.pop("dom") and "1961" not in await page.inner_text("body")
        assert trace == {"local": 0, "session": 0, "cookie": "", "idb": 0, "caches": 0}
        # The one cookie is the station's key (HttpOnly, the same for every patient), not a patient's.
        assert [(c["name"], c["httpOnly"]) for c in await page.context.cookies()] == [(KEY_COOKIE, True)]

        assert station.rig is not None
        await station.rig.badge_reader.present(REFERENT_BADGE)
        await in_state(page, "cleaning")
        assert await small_targets(page) == []
        await shot(page, tmp_path, "8-cleaning-step")
        for step in station.config.cleaning.steps:
            await page.wait_for_selector(f"#cleaning-step[data-step={step.id}]", timeout=BROWSER_MS)
            await tap(page, "step-done")
        await page.wait_for_selector("#cleaning-confirm", timeout=BROWSER_MS)
        assert "Temps de contact" in await page.inner_text("#screen")
        await shot(page, tmp_path, "9-cleaning-contact")
        await page.get_by_text("Temps de contact du désinfectant écoulé").wait_for(timeout=BROWSER_MS)
        await station.rig.badge_reader.present(REFERENT_BADGE)
        await in_state(page, "ready")
        assert await page.text_content("#state-title") == "Bienvenue"
        await shot(page, tmp_path, "10-ready-again")
        assert errors == [] and await missing_texts(page) == []
    assert traces_of(CANARY, "1961-04-02", tmp_path / "state", caplog.text) == []


async def test_a_failed_print_tells_the_patient_what_to_do(tmp_path: Path) -> None:
    async with kiosk_station(tmp_path / "state") as station, chromium() as browser:
        page = await open_kiosk(browser, station.kiosk.entry_url)
        gp = await to_the_doctor(page, station, "56565656")
        assert station.rig is not None
        station.rig.printer.paper_out = True
        await gp.send("prescribe", **demo_prescription())
        status = await gp.expect("print_status")
        assert status["printed"] is False
        await gp.send("end")
        await page.wait_for_selector("#print-status[data-print=failed]", timeout=BROWSER_MS)
        text = await page.inner_text("#print-status")
        assert "L'impression a échoué" in text and station.config.place().phone in text
        assert await enabled(page, "leave")
        await shot(page, tmp_path, "print-failed")
        assert await missing_texts(page) == []
