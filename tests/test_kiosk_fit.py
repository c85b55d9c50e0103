"""The check-in screen fits the common kiosk screens whole: no scrolling, every key on screen.

At each size the page is checked as it first shows (ready) and after a wrong code (checking in,
with the refusal's message and the cancel button), in real Chromium.
"""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Page

from protocol.booking_code import CODE_ALPHABET
from tests.browser import chromium
from tests.kiosk import BROWSER_MS, enter_code, in_state, kiosk_station, shot, small_targets, tap

SCREENS = [(1280, 800), (1366, 768), (1920, 1080), (1080, 1920)]
KEYS = [f"code-{symbol}" for symbol in CODE_ALPHABET] + ["erase", "submit"]

# What does not fit: a page taller or wider than the screen, a key or button of the check-in
# (found by its data-action) missing or not wholly inside the viewport.
OFF_SCREEN = """(actions) => {
  const out = [];
  const page = document.scrollingElement;
  if (page.scrollHeight > innerHeight) out.push(`the page is ${page.scrollHeight} px tall in ${innerHeight}`);
  if (page.scrollWidth > innerWidth) out.push(`the page is ${page.scrollWidth} px wide in ${innerWidth}`);
  for (const action of actions) {
    const node = document.querySelector(`[data-action="${action}"]`);
    if (node === null) { out.push(`${action} is missing`); continue; }
    const box = node.getBoundingClientRect();
    if (box.top < 0 || box.left < 0 || box.bottom > innerHeight || box.right > innerWidth) {
      out.push(`${action} at ${Math.round(box.left)},${Math.round(box.top)}-${Math.round(box.right)},${Math.round(box.bottom)}`);
    }
  }
  return out;
}"""


async def off_screen(page: Page, actions: list[str]) -> list[str]:
    found: list[str] = await page.evaluate(OFF_SCREEN, actions)
    return found


async def test_the_check_in_screen_fits_every_common_kiosk_screen(tmp_path: Path) -> None:
    async with kiosk_station(tmp_path / "state") as station, chromium() as browser:
        assert station.config.checkin.max_wrong_codes > len(SCREENS)  # one wrong code per size: no pause
        problems: dict[str, list[str]] = {}
        for width, height in SCREENS:
            context = await browser.new_context(viewport={"width": width, "height": height})
            page = await context.new_page()
            await page.goto(station.kiosk.entry_url)
            await in_state(page, "ready")
            await page.wait_for_selector("[data-action=submit]", timeout=BROWSER_MS)
            problems[f"{width}x{height} ready"] = await off_screen(page, KEYS) + await small_targets(page)
            await shot(page, tmp_path, f"ready-{width}x{height}")
            await enter_code(page, "99999999")
            await page.wait_for_selector("#refusal[data-reason=unknown_code]", timeout=BROWSER_MS)
            problems[f"{width}x{height} refused"] = (await off_screen(page, [*KEYS, "cancel"])
                                                     + await small_targets(page))
            await shot(page, tmp_path, f"refused-{width}x{height}")
            await tap(page, "cancel")
            await in_state(page, "ready")
            await context.close()
        assert {where: found for where, found in problems.items() if found} == {}
