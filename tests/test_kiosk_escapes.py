"""The kiosk's escape routes, tried in Debian's Chromium started with the unit's own flags.

Chromium reads managed policies only from /etc/chromium/policies/managed/, which a test must not
write, so the browser here runs with the flags of `systemd/cabin-kiosk.service` and the page's
own locks (no window.open, links neither navigate nor download); the policy file is checked for
the settings that close the rest (a download started by script, chrome:// pages, devtools,
printing), which only a policy can enforce.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import async_playwright

from tests.browser import ARGS, CHROMIUM
from tests.kiosk import in_state, kiosk_station

SYSTEMD = Path(__file__).resolve().parent.parent / "systemd"
UNIT = SYSTEMD / "cabin-kiosk.service"
POLICY = SYSTEMD / "chromium-policy.json"
DISPLAY_ONLY = ("--ozone-platform", "--user-data-dir")  # the test runs headless, in its own profile


def unit_command() -> list[str]:
    """The unit's ExecStart, split as systemd would (continuation lines joined)."""
    text = UNIT.read_text(encoding="utf-8").replace("\\\n", " ")
    line = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    return shlex.split(line.removeprefix("ExecStart="))


def kiosk_flags() -> list[str]:
    """The Chromium flags of the unit that make sense in a headless test."""
    command = unit_command()
    flags = command[command.index("/usr/bin/chromium") + 1:]
    return [arg for arg in flags if arg.startswith("--") and arg != "--" and not arg.startswith(DISPLAY_ONLY)]


def test_the_unit_starts_chromium_in_kiosk_mode_on_the_local_page_with_a_fresh_profile() -> None:
    command = unit_command()
    chromium = command.index("/usr/bin/chromium")
    assert command[-1] == "file:///run/cabin-station/kiosk-start.html"  # the station's start page, with the key
    assert {"--kiosk", "--incognito", "--no-first-run"} <= set(command[chromium:])
    assert "--user-data-dir=/run/cabin-kiosk/profile" in command
    unit = UNIT.read_text(encoding="utf-8")
    assert re.search(r"^RuntimeDirectory=cabin-kiosk$", unit, re.M)  # created empty, deleted at stop
    assert "ExecStartPre=/usr/bin/rm -rf /run/cabin-kiosk/profile" in unit


def test_the_managed_policy_blocks_every_escape() -> None:
    policy = json.loads(POLICY.read_text(encoding="utf-8"))
    assert {"*", "file://*", "chrome://*", "devtools://*"} <= set(policy["URLBlocklist"])
    assert policy["URLAllowlist"] == ["http://127.0.0.1:8080/", "file:///run/cabin-station/kiosk-start.html"]
    assert policy["DeveloperToolsAvailability"] == 2
    assert policy["DownloadRestrictions"] == 3
    assert policy["PrintingEnabled"] is False
    assert policy["DefaultPopupsSetting"] == 2
    assert policy["AllowFileSelectionDialogs"] is False
    assert policy["IncognitoModeAvailability"] == 2 and policy["ForceEphemeralProfiles"] is True


async def test_escapes_are_refused_with_the_kiosk_flags(tmp_path: Path) -> None:
    args = [a for a in ARGS if not a.startswith("--disable-popup")] + kiosk_flags()
    async with kiosk_station(tmp_path / "state") as station, async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, args=args, headless=True)
        try:
            page = context.pages[0] if context.pages else await context.new_page()
            await page.goto(station.kiosk.entry_url)
            await in_state(page, "ready")

            # Another URL: only loopback bypasses the dead proxy (in this offline sandbox, without the
            # flags, the same navigation fails with ERR_NAME_NOT_RESOLVED instead).
            with pytest.raises(PlaywrightError, match="ERR_PROXY_CONNECTION_FAILED|ERR_BLOCKED_BY_CLIENT"):
                await page.goto("http://example.org/")
            await page.close()
            page = await context.new_page()
            await page.goto(station.kiosk.entry_url)
            await in_state(page, "ready")

            await page.evaluate("location.href = 'file:///etc/hostname'")  # an http page cannot open file://
            await page.wait_for_timeout(500)
            assert page.url.startswith(station.kiosk.url)
            assert await page.evaluate("document.body.dataset.state") == "ready"

            opened = await page.evaluate(f"window.open('{station.kiosk.url}') === null")
            await page.click("#language")  # a user gesture does not help either
            assert opened and await page.evaluate("window.open('about:blank')") is None
            assert len(context.pages) == 1

            downloads: list[str] = []
            page.on("download", lambda download: downloads.append(download.url))
            for href in ("/static/i18n/fr.json", "http://example.org/malware.zip"):
                await page.evaluate("""(href) => { const a = document.createElement('a');
                    a.href = href; a.download = 'x.zip'; document.body.append(a); a.click(); a.remove(); }""", href)
            await page.wait_for_timeout(1000)
            assert downloads == []
            assert page.url.startswith(station.kiosk.url)
            assert await page.evaluate("document.body.dataset.state") == "ready"
        finally:
            await context.close()
