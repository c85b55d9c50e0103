"""Helpers for the GP console's browser tests (Chromium against a real hub): no tests here, only what they share."""

from __future__ import annotations

from playwright.async_api import Browser, Page

from session.appointments import Appointment
from sim.patient import SimPatient
from tests.browser import collect_errors
from tests.remote import GP_LOGIN, GP_PASSWORD, Remote

BROWSER_S = 30_000  # ms: generous, for a loaded CI machine


def by_id(name: str) -> str:
    """A Playwright selector for a console element."""
    return f"[data-testid={name}]"


def real_errors(errors: list[str]) -> list[str]:
    """Page errors, without the network's own lines (a 401 before login is expected)."""
    return [e for e in errors if "Failed to load resource" not in e]


async def patient_at_kiosk(browser: Browser, remote: Remote) -> tuple[Appointment, Page, list[str]]:
    """A booked patient checked in (through the kiosk API) while the kiosk page shows it; the page's errors."""
    appointment = await remote.crew.book()
    kiosk = await (await browser.new_context()).new_page()
    errors = collect_errors(kiosk)
    await kiosk.goto(remote.station.kiosk.entry_url)
    await SimPatient(remote.crew.kiosk, appointment.code).check_in()
    return appointment, kiosk, errors


async def log_in(gp: Page, remote: Remote) -> None:
    """The GP opens the console and logs in."""
    await gp.goto(remote.hub.url)
    await gp.fill(by_id("login-username"), GP_LOGIN)
    await gp.fill(by_id("login-password"), GP_PASSWORD)
    await gp.click(by_id("login-submit"))


async def open_console(browser: Browser, remote: Remote) -> tuple[Page, list[str]]:
    """The console in a fresh context, logged in; its errors, gathered from the start."""
    gp = await (await browser.new_context()).new_page()
    errors = collect_errors(gp)
    await log_in(gp, remote)
    return gp, errors


async def join(gp: Page) -> None:
    """The GP takes the waiting patient (once the waiting room shows them); the consultation is active."""
    await gp.click(by_id("join-button"), timeout=BROWSER_S)
    await gp.wait_for_function("() => document.querySelector('[data-testid=consultation]').dataset.state === 'active'",
                               timeout=BROWSER_S)
