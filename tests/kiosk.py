"""Helpers for the kiosk page's browser tests: no tests here, only what they share."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, Route
from yarl import URL

from config.loader import load_config
from config.schema import CabinConfig
from protocol.versioned import encode
from runtime.clock import PARIS, Clock
from session.appointments import Appointment
from session.channel import channel_pair
from sim.crew import SimCrew
from sim.rig import SimRig
from sim.seed import DEMO_GP, calibrate_headphones, enroll_staff
from station.compose import Station
from station.kiosk import KEY_COOKIE

BROWSER_MS = 20_000  # generous, for a loaded two-core machine
CANARY = "Zéphyrine Canarybird"


def quick_config(contact_s: float = 2.0) -> CabinConfig:
    """The packaged configuration with a short disinfectant contact time."""
    config = load_config()
    return config.model_copy(update={"cleaning": config.cleaning.model_copy(update={"minimum_contact_s": contact_s})})


@asynccontextmanager
async def kiosk_station(state_dir: Path, config: CabinConfig | None = None, *, port: int = 0,
                        start: datetime = datetime(2026, 11, 30, 9, 5, tzinfo=PARIS), key_dir: Path | None = None,
                        key_group: str | None = None) -> AsyncIterator[Station]:
    """A started simulated station in real time (speed 1), on `port` (0: any free one).

    Its kiosk start page goes in `key_dir` (default: the state directory) for `key_group`.
    """
    clock = Clock(speed=1.0, start=start)
    config = config or quick_config()
    rig = SimRig(clock, config)
    await rig.start()
    station = Station(config=config, clock=clock, state_dir=state_dir, rig=rig, kiosk_port=port,
                      kiosk_key_dir=key_dir, kiosk_group=key_group)
    try:
        await station.start()
        await enroll_staff(station.registry, clock.now())
        await calibrate_headphones(station.hardware.screenings, clock.now())
        yield station
    finally:
        await station.stop()
        await rig.stop()


def key_header(station: Station) -> dict[str, str]:
    """The kiosk browser's cookie (its key), for a test's own HTTP client."""
    return {"Cookie": f"{KEY_COOKIE}={URL(station.kiosk.entry_url).query['key']}"}


def crew_of(station: Station) -> SimCrew:
    """A crew for the station (not started: only its referent and badge reader are used)."""
    assert station.rig is not None
    return SimCrew(station.kiosk.entry_url, station.gp_link.attach, station.book, station.config.station.site, station.rig)


async def book(station: Station, code: str, *, name: str = CANARY, birth: date = date(1961, 4, 2),
               minutes_from_now: float = 5.0) -> Appointment:
    """Put an appointment in the station's book."""
    appt = Appointment(code=code, patient_name=name, birth_date=birth, sex="F",
                       slot_start=station.clock.now() + timedelta(minutes=minutes_from_now), slot_minutes=20,
                       site=station.config.station.site, gp=DEMO_GP.name)
    await station.book.add(appt)
    return appt


async def open_kiosk(browser: Browser, url: str) -> Page:
    """The kiosk page in a fresh context, on a landscape 1080p screen."""
    context = await browser.new_context(viewport={"width": 1920, "height": 1080})
    page = await context.new_page()
    await page.goto(url)
    await page.wait_for_selector("body[data-state]", state="attached", timeout=BROWSER_MS)
    return page


async def in_state(page: Page, state: str) -> None:
    """Wait until the page shows `state` (a selector: the page's policy forbids the eval a predicate needs)."""
    await page.wait_for_selector(f"body[data-state='{state}']", state="attached", timeout=BROWSER_MS)


async def page_until(page: Page, expression: str) -> None:
    """Poll `expression` in the kiosk page until it is true: `wait_for_function` compiles its
    predicate with eval, which the page's Content-Security-Policy refuses."""
    deadline = time.monotonic() + BROWSER_MS / 1000
    while not await page.evaluate(expression):
        assert time.monotonic() < deadline, f"{expression} stayed false"
        await asyncio.sleep(0.05)


async def shot(page: Page, out: Path, name: str) -> None:
    """Save the screen as out/name.png."""
    await page.screenshot(path=str(out / f"{name}.png"), full_page=True)


async def tap(page: Page, action: str) -> None:
    """Touch the control for `action`."""
    await page.click(f"[data-action=\"{action}\"]", timeout=BROWSER_MS)


async def enter_code(page: Page, code: str) -> None:
    """Type a code on the keypad and confirm it."""
    for symbol in code:
        await tap(page, f"code-{symbol}")
    await tap(page, "submit")


async def small_targets(page: Page) -> list[str]:
    """Visible buttons and inputs under 48 CSS px either way, or without an accessible name."""
    found: list[str] = await page.evaluate("""() => [...document.querySelectorAll('button, input')]
        .filter((node) => node.offsetParent !== null)
        .filter((node) => { const box = node.getBoundingClientRect();
            const named = (node.getAttribute('aria-label') || node.textContent || node.labels?.length).toString().trim();
            return box.width < 48 || box.height < 48 || !named; })
        .map((node) => node.outerHTML)""")
    return found


async def enabled(page: Page, action: str) -> bool:
    """Whether the control for `action` is there and enabled."""
    return await page.locator(f"[data-action=\"{action}\"]").is_enabled()


async def stale_once(route: Route) -> None:
    """The first answer the page posts goes to the station one step behind: the station refuses it (409)."""
    body = route.request.post_data_json
    body["answer"]["step"] -= 1
    await route.continue_(post_data=json.dumps(body))


class GpChannel:
    """The GP's control channel, spoken by hand (the in-process simulated GP's door)."""

    def __init__(self, station: Station) -> None:
        self.channel, end = channel_pair()
        station.gp_link.attach(end)

    async def send(self, message_type: str, **fields: object) -> None:
        """Send one control message."""
        await self.channel.send(encode(message_type, **fields))

    async def expect(self, message_type: str, **match: object) -> dict[str, Any]:
        """The next message of `message_type` whose fields match."""
        while True:
            message: dict[str, Any] = json.loads(await self.channel.recv())
            assert message.get("type") != "error", message
            if message.get("type") == message_type and all(message.get(k) == v for k, v in match.items()):
                return message


async def joined(page: Page, station: Station) -> GpChannel:
    """The GP joins the patient waiting on the page, by hand; the page shows the consultation."""
    gp = GpChannel(station)
    waiting = await gp.expect("waiting")
    await gp.send("join", session=waiting["session"], gp=DEMO_GP.model_dump())
    await in_state(page, "in_consultation")
    return gp


async def to_the_doctor(page: Page, station: Station, code: str) -> GpChannel:
    """Book `code`, check in with it on the page (code, identity, consent) and have the GP join."""
    await book(station, code)
    await in_state(page, "ready")
    await enter_code(page, code)
    await tap(page, "confirm")
    await in_state(page, "eligibility")
    await tap(page, "consent")
    await in_state(page, "waiting_for_doctor")
    return await joined(page, station)
