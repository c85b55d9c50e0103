"""Each cabin knows its day (docs/design.md, "Bookings at the cabin"): a real hub with its book, a real
simulated station dialled in over the real WebSocket, the kiosk in Chromium, GPs on their sockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from playwright.async_api import Browser, Page

from config.schema import CabinConfig
from hub.booking.records import BookingView
from hub.server import Hub
from protocol.hub import CabinStatus, dump
from session.appointments import Appointment
from sim.crew import SimCrew
from sim.patient import SimPatient
from station.compose import Station
from tests.booking import MONDAY, STATION_TOKENS, Wall, at, patient
from tests.browser import chromium, collect_errors, missing_texts
from tests.conftest import running_station
from tests.kiosk import BROWSER_MS, enter_code, in_state, open_kiosk, shot
from tests.remote import CABIN, CHECK_IN_AT, TOKEN, booking_hub, dialling
from tests.test_gp_console import by_id, real_errors
from tests.test_hub import login, receive, room_of, station_socket


@asynccontextmanager
async def cabin(state_dir: Path, config: CabinConfig, *, connected: bool = True) -> AsyncIterator[tuple[Station, SimCrew]]:
    """The simulated station in real time at CHECK_IN_AT, connected to its hub when `connected`."""
    async with running_station(state_dir, config, speed=1.0, start=CHECK_IN_AT) as (station, crew):
        if connected:
            assert station.calls is not None
            async with asyncio.timeout(10):
                await station.calls.hub.wait_connected()
        yield station, crew


async def book(hub: Hub, start: str = "09:45", **fields: object) -> BookingView:
    return await hub.book.book(patient(at(MONDAY, start), **fields), actor="coordinator", channel="phone")


async def on_disk(station: Station, code: str, status: str | None = "booked") -> Appointment | None:
    """The station's row for `code` once it has `status` (None: once it is gone), read from its database."""
    def there(found: Appointment | None) -> bool:
        return found is None if status is None else found is not None and found.status == status
    async with asyncio.timeout(5):  # a change reaches the cabin within seconds
        while not there(found := await station.book.find(code)):
            await asyncio.sleep(0.02)
    return found


async def test_a_booking_reaches_the_cabins_disk_and_its_cancellation_is_refused_at_the_kiosk(tmp_path: Path) -> None:
    async with booking_hub(Wall()) as hub, cabin(tmp_path / "state", dialling(hub)) as (station, _):
        made = await book(hub, gp="claire.martin", birth=date(2009, 2, 1), representative="Jean Lefèvre")
        other = await book(hub, "10:30", site="CHE132", name="Someone Else")  # another cabin's: never sent here
        kept = await on_disk(station, made.code)
        assert kept is not None
        assert (kept.patient_name, kept.birth_date, kept.sex, kept.representative) == (
            "Camille Lefèvre", date(2009, 2, 1), "F", "Jean Lefèvre")
        assert (kept.slot_start, kept.slot_minutes, kept.site) == (at(MONDAY, "09:45"), 30, "NAN231")
        assert (kept.gp_username, kept.gp) == ("claire.martin", "Dr Claire")
        assert await station.book.find(other.code) is None

        await hub.book.cancel(made.code, actor="coordinator", reason="the patient called")
        cancelled = await on_disk(station, made.code, "cancelled")
        assert cancelled is not None and (cancelled.patient_name, cancelled.representative) == ("", "")

        async with chromium() as browser:
            page = await open_kiosk(browser, station.kiosk.entry_url)
            errors = collect_errors(page)
            await in_state(page, "ready")
            for _ in range(station.config.checkin.max_wrong_codes + 1):  # not counted: never paused
                await enter_code(page, made.code)
                await page.wait_for_selector("#refusal[data-reason=cancelled]", timeout=BROWSER_MS)
            text = await page.inner_text("#refusal")
            assert "Ce rendez-vous a été annulé" in text and station.config.place().phone in text
            await shot(page, tmp_path, "refusal-cancelled")
            assert station.patient_desk.checkin_paused_for() == 0
            assert [e for e in errors if "status of 409" not in e] == []
            assert await missing_texts(page) == []


async def test_check_in_works_from_disk_with_the_hub_down_and_the_station_restarted(tmp_path: Path) -> None:
    state = tmp_path / "state"
    async with booking_hub(Wall()) as hub:
        config = dialling(hub)
        async with cabin(state, config) as (station, _):
            made = await book(hub)
            await on_disk(station, made.code)
    # The hub is gone; the station starts again and dials in vain.
    async with cabin(state, config, connected=False) as (station, crew):
        assert station.calls is not None and not station.calls.hub.connected
        await SimPatient(crew.kiosk, made.code).check_in()
        assert await crew.used(made.code)


async def test_the_snapshot_after_a_reconnection_brings_what_changed_while_the_cabin_was_away(tmp_path: Path) -> None:
    state = tmp_path / "state"
    async with booking_hub(Wall()) as hub:
        config = dialling(hub)
        async with cabin(state, config) as (station, _):
            cancelled, moved, kept = [await book(hub, t, name=f"Patient {t}") for t in ("09:45", "10:30", "11:15")]
            for made in (cancelled, moved, kept):
                await on_disk(station, made.code)
        await hub.book.cancel(cancelled.code, actor="coordinator", reason="the patient called")
        await hub.book.move(moved.code, at(MONDAY, "10:30"), actor="coordinator", station="cabin-nangis-2")
        added = await book(hub, "12:00", name="Patient 12:00")
        async with cabin(state, config) as (station, crew):
            await on_disk(station, cancelled.code, "cancelled")
            assert await on_disk(station, moved.code, None) is None  # another cabin's now
            await on_disk(station, added.code)
            assert (await on_disk(station, kept.code)) is not None
            await hub.book.move(kept.code, at(MONDAY, "11:15"), actor="coordinator", station="cabin-nangis-2")
            assert await on_disk(station, kept.code, None) is None  # and while connected, within seconds
            await crew.kiosk.wait_state("ready")
            refused = await crew.kiosk.post("/api/checkin", {"code": cancelled.code}, ok=False)
            assert refused["error"] == "cancelled"


async def gp_console(hub: Hub, username: str) -> tuple[aiohttp.ClientSession, aiohttp.ClientWebSocketResponse]:
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    assert (await login(http, hub, username, "secret"))[0] == 200
    ws = await http.ws_connect(f"{hub.url}/ws/gp", origin=hub.origin)
    await receive(ws, "welcome")
    return http, ws


async def join(ws: aiohttp.ClientWebSocketResponse, waiting: dict[str, Any]) -> None:
    await ws.send_str(json.dumps({"v": 1, "type": "join", "station": waiting["station"], "session": waiting["session"]}))


async def test_the_gp_a_booking_names_has_the_first_claim_while_online_and_within_claim_minutes(
        tmp_path: Path) -> None:
    wall = Wall()
    async with booking_hub(wall) as hub, cabin(tmp_path / "state", dialling(hub)) as (station, crew):
        made = await book(hub, gp="claire.martin")
        await on_disk(station, made.code)
        claire_http, claire = await gp_console(hub, "claire.martin")
        paul_http, paul = await gp_console(hub, "paul.roux")
        async with claire_http, paul_http:
            await SimPatient(crew.kiosk, made.code).check_in()
            [mine] = await room_of(claire, 1)
            [theirs] = await room_of(paul, 1)
            assert mine["yours"] and mine["booked_with"] == "Dr Claire" and mine["claim_until"]
            assert "yours" not in theirs and theirs["booked_with"] == "Dr Claire"
            assert "Camille" not in json.dumps(theirs)

            await join(paul, theirs)
            refused = await receive(paul, "error")
            until = (CHECK_IN_AT.replace(hour=8, minute=0) + timedelta(minutes=hub.config.booking.claim_minutes))
            assert refused["code"] == "claimed"
            assert refused["message"] == f"booked with Dr Claire, who has the first claim until {until:%H:%M}"

            await claire.close()  # the named GP goes offline: anyone may join
            while "claim_until" in (await room_of(paul, 1))[0]:
                pass
            await join(paul, theirs)
            await receive(paul, "signal")  # the station's offer: paul joined
            await paul.send_str(json.dumps({"v": 1, "type": "leave", "station": CABIN}))

            claire_http2, claire = await gp_console(hub, "claire.martin")
            async with claire_http2:
                [again] = await room_of(claire, 1)
                assert again["yours"]
                await join(paul, theirs)
                assert (await receive(paul, "error"))["code"] == "claimed"
                wall.now += hub.config.booking.claim_minutes * 60 + 1  # the claim is over: anyone may join
                await join(paul, theirs)
                await receive(paul, "signal")


async def console(browser: Browser, hub: Hub, username: str) -> Page:
    """A GP's console in Chromium, logged in, its waiting room showing two patients."""
    page = await (await browser.new_context()).new_page()
    await page.goto(hub.url)
    await page.fill(by_id("login-username"), username)
    await page.fill(by_id("login-password"), "secret")
    await page.click(by_id("login-submit"))
    await page.wait_for_function("() => document.getElementById('waiting-room').dataset.count === '2'",
                                 timeout=BROWSER_MS)
    return page


async def test_the_console_lists_the_patient_booked_with_the_gp_first_and_shows_anothers_claim(
        http: aiohttp.ClientSession) -> None:
    async with booking_hub(Wall()) as hub, chromium() as browser:
        booked = await station_socket(http, hub, TOKEN)
        walk_in = await station_socket(http, hub, STATION_TOKENS["cabin-nangis-2"])
        await walk_in.send_str(dump(CabinStatus(site="Nangis", state="waiting_for_doctor", session="s-early",
                                                since="2026-12-07T08:50:00+01:00", waited_s=600)))
        await booked.send_str(dump(CabinStatus(site="Nangis", state="waiting_for_doctor", session="s-booked",
                                               since="2026-12-07T08:59:00+01:00", waited_s=60,
                                               booked_gp="claire.martin")))
        claire = await console(browser, hub, "claire.martin")
        errors = collect_errors(claire)
        rows = claire.locator(by_id("waiting-row"))
        assert await rows.first.get_attribute("data-session") == "s-booked"  # waited less, but hers
        assert await rows.first.locator("[data-role=booked]").inner_text() == "Rendez-vous pris avec vous"

        paul = await console(browser, hub, "paul.roux")
        row = paul.locator(f"{by_id('waiting-row')}[data-session=s-booked]")
        assert "Rendez-vous pris avec Dr Claire, prioritaire pour le recevoir jusqu'à" in await row.inner_text()
        assert await paul.locator(by_id("waiting-row")).first.get_attribute("data-session") == "s-early"
        await row.locator(by_id("join-button")).click()
        await paul.get_by_text("Un autre médecin est prioritaire pour ce patient (booked with Dr Claire").wait_for(
            timeout=BROWSER_MS)
        assert real_errors(errors) == [] and await missing_texts(claire) == [] and await missing_texts(paul) == []
