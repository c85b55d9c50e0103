"""The GP console's second factor in Chromium: set-up with the QR code and recovery codes, then the
code page at the next login, under the hub's Content-Security-Policy."""

from __future__ import annotations

from pathlib import Path

import pyotp
from playwright.async_api import Page

from hub.config import LoginSection
from hub.server import Hub
from runtime.clock import Clock
from tests.browser import chromium, collect_errors, missing_texts
from tests.test_hub import PASSWORD, FakeTime, hub_config
from tests.test_hub_totp import Wall

BROWSER_MS = 30_000  # generous, for a loaded CI machine


async def log_in(page: Page, hub: Hub) -> None:
    await page.goto(hub.url)
    await page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=BROWSER_MS)
    await page.fill("[data-testid=login-username]", "claire")
    await page.fill("[data-testid=login-password]", PASSWORD)
    await page.click("[data-testid=login-submit]")


async def in_console(page: Page) -> None:
    await page.wait_for_function("() => document.getElementById('hub-status').dataset.state === 'open'",
                                 timeout=BROWSER_MS)


async def test_a_gp_sets_up_her_second_factor_on_the_console_then_gives_its_code(tmp_path: Path) -> None:
    wall = Wall()
    login = LoginSection(state_dir=tmp_path / "hub-state", require_totp=True)
    hub = Hub(hub_config(login=login), clock=Clock(source=FakeTime()), wall=wall)
    await hub.start()
    try:
        async with chromium() as browser:
            page = await (await browser.new_context()).new_page()
            errors = collect_errors(page)
            await log_in(page, hub)
            await page.wait_for_selector("[data-testid=enrol-form]", state="visible", timeout=BROWSER_MS)
            assert await page.is_visible("[data-testid=enrol-must]")
            assert not await page.is_visible("[data-testid=enrol-skip]")
            await page.wait_for_function("() => document.getElementById('enrol-qr').naturalWidth > 0",
                                         timeout=BROWSER_MS)  # the QR code, a data: image the policy allows
            app = pyotp.TOTP((await page.inner_text("[data-testid=enrol-secret]")).replace(" ", ""))
            assert (await page.inner_text("[data-testid=enrol-uri]")).startswith("otpauth://totp/")

            await page.fill("[data-testid=enrol-code]", "000000" if app.at(wall.now) != "000000" else "111111")
            await page.click("[data-testid=enrol-submit]")
            await page.wait_for_selector("[data-testid=enrol-error]", state="visible", timeout=BROWSER_MS)
            await page.fill("[data-testid=enrol-code]", app.at(wall.now))
            await page.click("[data-testid=enrol-submit]")
            await page.wait_for_selector("[data-testid=recovery-card]", state="visible", timeout=BROWSER_MS)
            assert len(await page.locator("[data-testid=recovery-list] li").all_inner_texts()) == 10
            await page.click("[data-testid=recovery-done]")
            await in_console(page)

            await page.click("[data-testid=logout-button]")
            await page.wait_for_selector("[data-testid=login-form]", state="visible", timeout=BROWSER_MS)
            assert await page.inner_text("[data-testid=enrol-secret]") == ""  # nothing of it left in the page
            wall.now += 30
            await log_in(page, hub)
            await page.wait_for_selector("[data-testid=code-form]", state="visible", timeout=BROWSER_MS)
            await page.fill("[data-testid=code-input]", app.at(wall.now))
            await page.click("[data-testid=code-submit]")
            await in_console(page)
            assert [e for e in errors if "Failed to load resource" not in e] == []
            assert await missing_texts(page) == []
    finally:
        await hub.stop()
