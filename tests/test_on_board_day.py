"""A whole day at a stop of the mobile doctor's office, in Chromium, on the simulator (docs/design.md, "The
mobile office"): the vehicle's hub and its on-board station run for real; the secretary works the desk page
and the GP the console on a laptop, both in Chromium. The secretary opens the stop, welcomes a booked
patient and registers a walk-in; the GP sees both in turn with live readings over the instruments leg and
prints a prescription naming the stop; the hygiene lockout refuses the second patient until the referent's
light cleaning; closing the stop calls for the full cleaning, after which the cabin is closed."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from playwright.async_api import Browser, Page
from pydantic import SecretStr

from config.loader import load_config, vehicle_config_path
from config.schema import CabinConfig, HubSection
from hub.booking.records import BookingRequest
from hub.server import Hub
from protocol.states import CabinState as S
from runtime.clock import Clock
from sim.crew import SimCrew
from station.compose import Station
from station.demo import demo_vehicle_hub
from tests.booking import MONDAY, at
from tests.browser import chromium, collect_errors, missing_texts
from tests.conftest import running_station
from tests.test_gp_console import by_id, real_errors

BROWSER_MS = 30_000  # generous, for a loaded CI machine
START = at(MONDAY, "09:05")  # the Sancoins stop of the packaged programme, before the secretary opens it
SANCOINS = "Sancoins, place de la Libération"
GP, GP_PASSWORD = "demo", "a demo password"
SECRETARY, SECRETARY_PASSWORD = "secretariat", "front desk"


def quick(config: CabinConfig) -> CabinConfig:
    """The packaged vehicle's configuration with contact times of a second, so the test waits on no one."""
    light, full = config.cleaning, config.closing_cleaning
    assert full is not None
    return config.model_copy(update={
        "cleaning": light.model_copy(update={"minimum_contact_s": 1.0}),
        "closing_cleaning": full.model_copy(update={"minimum_contact_s": 1.0})})


@dataclass
class Vehicle:
    """The vehicle's hub, its on-board station, the station's simulated referent, and the two browser pages."""

    hub: Hub
    station: Station
    crew: SimCrew
    desk: Page
    console: Page


@asynccontextmanager
async def vehicle(state_dir: Path, browser: Browser) -> AsyncIterator[Vehicle]:
    config = quick(load_config(vehicle_config_path(), simulator=True))
    token = secrets.token_urlsafe(32)
    wall = Clock(start=START)  # the hub keeps the station's day: both clocks run at real speed from START
    hub = Hub(demo_vehicle_hub(config, token, GP, GP_PASSWORD, 0, secretary=SECRETARY,
                               secretary_password=SECRETARY_PASSWORD), wall=lambda: wall.now().timestamp())
    await hub.start()
    try:
        await hub.book.publish_session(GP, [config.station.id], START, at(MONDAY, "12:00"), actor="test")
        section = HubSection(url=hub.station_url, station_id=config.station.id, token=SecretStr(token))
        async with running_station(state_dir, config.model_copy(update={"hub": section}), speed=1.0,
                                   start=START) as (station, crew):
            assert station.calls is not None
            async with asyncio.timeout(10):
                await station.calls.hub.wait_connected()
            desk = await (await browser.new_context()).new_page()
            console = await (await browser.new_context()).new_page()
            yield Vehicle(hub, station, crew, desk, console)
    finally:
        await hub.stop()


async def log_in(page: Page, hub: Hub, username: str, password: str) -> None:
    await page.goto(hub.url)
    await page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=BROWSER_MS)
    await page.fill(by_id("login-username"), username)
    await page.fill(by_id("login-password"), password)
    await page.click(by_id("login-submit"))


async def until(page: Page, predicate: str) -> None:
    await page.wait_for_function(predicate, timeout=BROWSER_MS)


async def cabin_state(v: Vehicle, *states: S) -> None:
    """Wait, in real time, for the station to reach one of `states`."""
    async with asyncio.timeout(BROWSER_MS / 1000):
        while v.station.cabin.state not in states:
            await asyncio.sleep(0.05)


async def consult(v: Vehicle, ticket: int, reason: str, kind: str, medication: str) -> str:
    """The GP sees the called patient with ticket `ticket`: joins, takes a reading of `kind`, prescribes, ends.
    The printed receipt's text."""
    gp = v.console
    await until(gp, "() => document.getElementById('waiting-room').dataset.count === '1'")
    assert await gp.inner_text(by_id("waiting-ticket")) == f"Ticket {ticket}"
    assert await gp.inner_text(by_id("waiting-reason")) == f"Motif : {reason}"
    await gp.click(by_id("join-button"))
    await until(gp, "() => document.querySelector('[data-testid=consultation]').dataset.state === 'active'")
    assert not await gp.is_visible(by_id("face-video"))  # the GP is in the vehicle: no call
    await gp.click(by_id(f"request-{kind}"))
    await until(gp, f"() => document.querySelector('[data-testid=reading-{kind}]').dataset.state === 'ok'")
    assert await gp.get_attribute(by_id(f"reading-{kind}"), "data-stale") == "false"
    printed = len(v.station.rig.printer.decoded) if v.station.rig else 0
    await gp.fill(by_id("med-name"), medication)
    await gp.fill(by_id("med-dosage"), "1 comprimé 3 fois par jour")
    await gp.fill(by_id("med-duration"), "5 jours")
    await gp.fill(by_id("med-quantity"), "1 boîte")
    await gp.click(by_id("prescription-submit"))
    await until(gp, "() => document.querySelector('[data-testid=print-status]').dataset.state === 'printed'")
    await gp.click(by_id("end-button"))
    await gp.click(by_id("end-confirm"))
    await cabin_state(v, S.AWAITING_CLEANING)  # printed, the patient left: the lockout holds the next one
    await until(gp, "() => document.querySelector('[data-testid=consultation]').dataset.state === 'idle'")
    assert v.station.rig is not None and len(v.station.rig.printer.decoded) == printed + 1
    return " ".join(v.station.rig.printer.decoded[-1].text.split())


async def test_a_day_at_a_stop_from_its_opening_to_its_closing(tmp_path: Path) -> None:
    async with chromium() as browser, vehicle(tmp_path / "state", browser) as v:
        free = await v.hub.book.free_slots("CHR180", MONDAY)
        booked = await v.hub.book.book(BookingRequest(
            site="CHR180", start=free[0].start, patient_name="Camille Lefèvre", birth_date=MONDAY.replace(year=1968),
            sex="F", phone="06 12 34 56 78", regular_doctor=False), actor="anne", channel="phone")
        desk, gp = v.desk, v.console
        desk_errors, gp_errors = collect_errors(desk), collect_errors(gp)
        await log_in(desk, v.hub, SECRETARY, SECRETARY_PASSWORD)
        await desk.wait_for_url(f"{v.hub.url}/desk", timeout=BROWSER_MS)
        await until(desk, "() => document.body.dataset.ready === 'true'")
        await log_in(gp, v.hub, GP, GP_PASSWORD)
        await until(gp, "() => document.body.dataset.onBoard === 'true'")
        assert v.station.cabin.state is S.CLOSED  # until the secretary opens the stop

        await desk.click(by_id("stop-toggle"))
        await until(desk, "() => document.getElementById('stop-state').dataset.open === 'true'")
        await cabin_state(v, S.READY)
        await desk.click(by_id("day-welcome"))
        await desk.fill(by_id("welcome-birth"), booked.birth_date.isoformat())
        await desk.fill(by_id("welcome-reason"), "fièvre depuis deux jours")
        await desk.click(by_id("welcome-submit"))
        await desk.wait_for_selector("[data-testid=queue-row][data-ticket='1']", timeout=BROWSER_MS)
        await desk.fill(by_id("walkin-name"), "Jean Morel")
        await desk.fill(by_id("walkin-birth"), "1950-02-01")
        await desk.select_option(by_id("walkin-sex"), "M")
        await desk.select_option(by_id("walkin-regular"), "false")
        await desk.fill(by_id("walkin-reason"), "toux persistante")
        await desk.click(by_id("walkin-submit"))
        await desk.wait_for_selector("[data-testid=queue-row][data-ticket='2']", timeout=BROWSER_MS)
        board = (await v.crew.kiosk.current())["board"]
        assert board["waiting"] == [1, 2]  # the touchscreen shows numbers, never a name

        await desk.click(by_id("next-button"))
        first = await consult(v, 1, "fièvre depuis deux jours", "blood_pressure", "Paracétamol 1 g, comprimé")
        assert "Camille Lefèvre" in first and f"Cabinet médical mobile du Cher {SANCOINS}, le 07/12/2026" in first

        await desk.click(by_id("next-button"))  # the cabin awaits cleaning: the call is refused, the ticket kept
        await until(desk, "() => { const answer = document.getElementById('cabin-answer');"
                          " return !answer.hidden && answer.dataset.accepted === 'false'; }")
        assert "2" in await desk.inner_text(by_id("cabin-answer"))
        await desk.wait_for_selector("[data-testid=queue-row][data-ticket='2']", timeout=BROWSER_MS)
        assert v.station.staff_desk.protocol_due() is v.station.config.cleaning  # the light one, between patients
        await v.crew.clean()
        await cabin_state(v, S.READY)

        await desk.click(by_id("next-button"))
        second = await consult(v, 2, "toux persistante", "temperature", "Amoxicilline 1 g, comprimé")
        assert "Jean Morel" in second and SANCOINS in second
        await v.crew.clean()
        await cabin_state(v, S.READY)

        await desk.click(by_id("stop-toggle"))  # the end of the stop: the full cleaning before the next one
        await until(desk, "() => document.getElementById('stop-state').dataset.open === 'false'")
        await cabin_state(v, S.AWAITING_CLEANING)
        assert v.station.staff_desk.protocol_due() is v.station.config.closing_cleaning
        await v.crew.clean()
        await cabin_state(v, S.CLOSED)
        assert not v.station.cabin.snapshot().cleaning_required
        await until(desk, "() => [...document.querySelectorAll('[data-testid=visit-over]')]"
                          ".filter((li) => li.dataset.status === 'done').length === 2")
        assert real_errors(desk_errors) == [] and real_errors(gp_errors) == []
        assert await missing_texts(desk) == [] and await missing_texts(gp) == []
        assert timedelta(0) <= v.station.clock.now() - START < timedelta(minutes=30)
