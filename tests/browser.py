"""Debian's Chromium driven by Playwright, for the browser tests (issues 4, 5 and 12).

The project's test set-up installs the `chromium` package (./bootstrap test); Playwright's own
browser download is never used. Fake camera and microphone stand in for the cabin's.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from playwright.async_api import Browser, Page, async_playwright

CHROMIUM = os.environ.get("CABIN_CHROMIUM", "/usr/bin/chromium")
ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
)


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """A headless Debian Chromium; fails with a clear message when it is not installed."""
    if not os.access(CHROMIUM, os.X_OK):
        raise RuntimeError(f"{CHROMIUM} is missing: install Debian's chromium (./bootstrap test does)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=list(ARGS), headless=True)
        try:
            yield browser
        finally:
            await browser.close()


async def missing_texts(page: Page) -> list[str]:
    """Every `language:key` the page's i18n runtime looked up and did not find (the page's own module)."""
    missing: list[str] = await page.evaluate("async () => (await import('/ui/i18n.js')).missingKeys()")
    return missing


def collect_errors(page: Page) -> list[str]:
    """Uncaught page errors and console errors, gathered as they happen, for a final assertion."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))
    page.on("console", lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None)
    return errors
