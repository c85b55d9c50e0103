"""The secretary's desk in Chromium under the hub's Content-Security-Policy (docs/design.md, "The secretary's
desk"): the secretary logs in on the console's page and is sent to /desk, opens the stop, welcomes a booked
patient from the day list, registers a walk-in, reorders the queue and calls the next patient to a station
stand-in, in French then English; on board, the GP's console shows the ticket and the reason and asks
for no camera or microphone."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy.orm import Session

from hub.booking.records import BookingRequest
from hub.server import Hub
from hub.store.models import Booking
from tests.booking import MONDAY, at
from tests.browser import chromium, collect_errors, missing_texts
from tests.mobile import PASSWORDS, VEHICLE_TOKEN, cabin, vehicle_hub
from tests.mobile import call as call_api
from tests.mobile import log_in as log_in_api
from tests.test_hub import receive
from tests.test_hub_desk_browser import BROWSER_MS, log_in


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    async with vehicle_hub() as hub:
        yield hub


async def test_the_secretary_welcomes_registers_a_walk_in_and_calls_the_next_patient(hub: Hub) -> None:
    booked = await hub.book.book(BookingRequest(
        site="CHR180", start=at(MONDAY, "10:30"), patient_name="Camille Lefèvre", birth_date=MONDAY.replace(year=1968),
        sex="F", phone="06 12 34 56 78"), actor="test", channel="phone")
    async with aiohttp.ClientSession() as stand_in, chromium() as browser:
        station = await stand_in.ws_connect(hub.station_url, headers={"Authorization": f"Bearer {VEHICLE_TOKEN}"})
        page = await (await browser.new_context()).new_page()
        errors = collect_errors(page)
        await log_in(page, hub, "sophie", PASSWORDS["sophie"])
        await page.wait_for_url(f"{hub.url}/desk", timeout=BROWSER_MS)
        await page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=BROWSER_MS)
        assert await page.inner_text("[data-testid=who]") == "Sophie Secrétaire"
        assert "Sancoins" in await page.inner_text("[data-testid=stop-place]")

        await page.click("[data-testid=stop-toggle]")
        await page.wait_for_function("() => document.getElementById('stop-state').dataset.open === 'true'",
                                     timeout=BROWSER_MS)
        assert (await receive(station, "stop"))["open"] is False  # on connection; then the opening
        assert (await receive(station, "stop"))["open"] is True

        await page.click("[data-testid=day-welcome]")
        assert await page.input_value("[data-testid=welcome-code]") != ""
        await page.fill("[data-testid=welcome-birth]", booked.birth_date.isoformat())
        await page.fill("[data-testid=welcome-reason]", "fièvre")
        await page.click("[data-testid=welcome-submit]")
        await page.wait_for_selector("[data-testid=queue-row][data-ticket='1']", timeout=BROWSER_MS)

        await page.fill("[data-testid=walkin-name]", "Jean Morel")
        await page.fill("[data-testid=walkin-birth]", "1950-02-01")
        await page.select_option("[data-testid=walkin-sex]", "M")
        await page.select_option("[data-testid=walkin-regular]", "false")
        await page.fill("[data-testid=walkin-reason]", "toux")
        await page.click("[data-testid=walkin-submit]")
        await page.wait_for_selector("[data-testid=queue-row][data-ticket='2']", timeout=BROWSER_MS)
        assert await page.locator("[data-testid=queue-ticket]").all_inner_texts() == ["1", "2"]
        assert "Jean Morel" not in json.dumps(await receive(station, "queue"))  # numbers only

        await page.locator("[data-testid=queue-up]").nth(1).click()
        await page.wait_for_function(
            "() => document.querySelector('[data-testid=queue-row]').dataset.ticket === '2'", timeout=BROWSER_MS)
        await page.click("[data-testid=next-button]")
        call = await receive(station, "call")
        assert call["ticket"] == 2
        walk_in = await hub.book.find(call["code"])
        assert walk_in is not None and (walk_in.patient_name, walk_in.channel, walk_in.regular_doctor) == (
            "Jean Morel", "walk_in", False)
        await page.wait_for_function(
            "() => document.querySelectorAll('[data-testid=queue-row]').length === 1", timeout=BROWSER_MS)
        assert await page.inner_text("[data-testid=notice]") == "Ticket 2 appelé."

        await page.click("[data-testid=lang-toggle]")
        await page.wait_for_function("() => document.documentElement.lang === 'en'", timeout=BROWSER_MS)
        assert await page.inner_text("[data-testid=next-button]") == "Next patient"
        await station.close()
        assert [e for e in errors if "Failed to load resource" not in e] == []
        assert await missing_texts(page) == []


async def test_on_board_the_console_shows_ticket_and_reason_and_makes_no_face_to_face_call(
        hub: Hub, http: aiohttp.ClientSession) -> None:
    await log_in_api(http, hub, "sophie")
    await call_api(http, hub, "POST", "/api/desk/stop", {"open": True})
    walk_in = {"patient_name": "Jean Morel", "birth_date": "1950-02-01", "sex": "M", "reason": "toux depuis hier"}
    visit = (await call_api(http, hub, "POST", "/api/desk/walk-in", walk_in))[1]["visit"]["id"]
    async with aiohttp.ClientSession() as stand_in, chromium() as browser:
        station = await stand_in.ws_connect(hub.station_url, headers={"Authorization": f"Bearer {VEHICLE_TOKEN}"})
        await station.send_str(cabin("waiting_for_doctor", visit, "s-1"))
        context = await browser.new_context()
        # Count the console's camera and microphone requests (an init script runs before the page's own).
        await context.add_init_script("""
            window.cameraRequests = 0;
            navigator.mediaDevices.getUserMedia = () => {
              window.cameraRequests += 1;
              return Promise.reject(new DOMException("counted", "NotAllowedError"));
            };""")
        page = await context.new_page()
        errors = collect_errors(page)
        await log_in(page, hub, "claire.martin", PASSWORDS["claire.martin"])
        await page.wait_for_function("() => document.getElementById('waiting-room').dataset.count === '1'",
                                     timeout=BROWSER_MS)
        assert await page.get_attribute("body", "data-on-board") == "true"
        assert await page.inner_text("[data-testid=waiting-ticket]") == "Ticket 1"
        assert await page.inner_text("[data-testid=waiting-reason]") == "Motif : toux depuis hier"

        await page.click("[data-testid=join-button]")
        gp = (await receive(station, "gp_join"))["gp"]
        async with page.expect_console_message(lambda m: "face-to-face offer on board" in m.text,
                                               timeout=BROWSER_MS):
            await station.send_str(json.dumps({"v": 1, "type": "signal", "gp": gp, "leg": "face",
                                               "description": {"type": "offer", "sdp": "v=0\r\n"}}))
        assert await page.evaluate("() => window.cameraRequests") == 0
        assert not await page.is_visible("[data-testid=face-video]")
        await station.close()
        assert [e for e in errors if "Failed to load resource" not in e] == []
        assert await missing_texts(page) == []


async def test_the_secretary_sees_a_conflict_with_what_to_say_and_gives_it_the_time_suggested(hub: Hub) -> None:
    lost = await hub.book.book(BookingRequest(
        site="CHR180", start=at(MONDAY, "09:45"), patient_name="Chloé Phone", birth_date=MONDAY.replace(year=1980),
        sex="F", phone="06 11 22 33 44"), actor="sophie", channel="phone")

    def lose(session: Session) -> None:  # as the merge rule leaves the one booked second (hub/sync/merge.py)
        row = session.get(Booking, lost.id)
        assert row is not None
        row.status, row.reason = "conflict", "the slot was booked first on the department's hub"
    await hub.book._store.run(lose)
    async with chromium() as browser:
        page = await (await browser.new_context()).new_page()
        errors = collect_errors(page)
        await log_in(page, hub, "sophie", PASSWORDS["sophie"])
        await page.wait_for_url(f"{hub.url}/desk", timeout=BROWSER_MS)
        row = page.locator("[data-testid=conflict-row]")
        await row.wait_for(timeout=BROWSER_MS)
        shown = await row.inner_text()
        assert "Chloé Phone" in shown and "06 11 22 33 44" in shown and "10:30" in shown  # who, and what to offer
        await page.click("[data-testid=conflict-move]")
        await page.wait_for_selector("[data-testid=conflicts]", state="hidden", timeout=BROWSER_MS)
        moved = await hub.book.find(lost.code)
        assert moved is not None and (moved.status, moved.slot_start) == ("booked", at(MONDAY, "10:30"))
        assert [e for e in errors if "Failed to load resource" not in e] == []
        assert await missing_texts(page) == []
