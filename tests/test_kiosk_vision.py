"""The near-vision screening on the kiosk page, in Chromium: requested by the GP, answered by touch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page

from devices.optotype import letter_height_mm
from station.compose import Station
from tests.browser import chromium, collect_errors, missing_texts
from tests.kiosk import (
    BROWSER_MS,
    GpChannel,
    kiosk_station,
    open_kiosk,
    page_until,
    shot,
    small_targets,
    stale_once,
    tap,
    to_the_doctor,
)

OPPOSITE = {"up": "down", "down": "up", "left": "right", "right": "left"}
E_BOX = """() => { const e = document.getElementById('vision-e'); const box = e.getBoundingClientRect();
  return { orientation: e.dataset.orientation, level: Number(e.dataset.level), width: box.width, height: box.height,
           screen: screen.width, eye: document.getElementById('vision-cover').dataset.eye,
           run: document.getElementById('screening').dataset.run }; }"""

LATE_ANSWER = """async (run) => (await fetch('/api/screening', { method: 'POST', credentials: 'same-origin',
  headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ run, answer: { direction: 'up', step: 0 } }),
})).status"""


DISABLED = "() => [...document.querySelectorAll('.vision-answers button')].map((b) => b.disabled)"


async def reading_of(gp: GpChannel, kind: str) -> dict[str, Any]:
    """The next reading of `kind` the GP receives."""
    while True:
        message: dict[str, Any] = json.loads(await gp.channel.recv())
        if message.get("type") == "reading" and message["measurement"]["kind"] == kind:
            return message["measurement"]  # type: ignore[no-any-return]


async def vision_requested(browser: Browser, station: Station) -> tuple[Page, list[str], GpChannel]:
    """The kiosk page (its errors gathered), the patient checked in and the GP's request for a vision screening."""
    page = await open_kiosk(browser, station.kiosk.entry_url)
    errors = collect_errors(page)
    gp = await to_the_doctor(page, station, "246B8CDE")
    await gp.send("request_measurement", kind="vision")
    return page, errors, gp


async def test_a_vision_screening_runs_on_the_kiosk_and_its_result_reaches_the_gp(tmp_path: Path) -> None:
    async with kiosk_station(tmp_path / "state") as station, chromium() as browser:
        page, errors, gp = await vision_requested(browser, station)
        await page.wait_for_selector("#vision-e", timeout=BROWSER_MS)
        assert "Cachez l'œil gauche" in await page.inner_text("#screening")
        assert await small_targets(page) == []
        await shot(page, tmp_path, "vision-right-eye")
        first = await page.evaluate(E_BOX)
        await page.reload()  # a whole new render from the station's view: the same E
        await page.wait_for_selector("#vision-e", timeout=BROWSER_MS)
        assert await page.evaluate(E_BOX) == first
        chart = next(d for d in station.config.devices if d.id == "vision-1")
        seen: set[tuple[str, float]] = set()
        answered = 0
        while await page.locator("#vision-e").count():
            e = await page.evaluate(E_BOX)
            expected = letter_height_mm(e["level"], chart.viewing_distance_mm) * e["screen"] / chart.screen_width_mm
            assert abs(e["height"] - expected) < 0.01 and abs(e["width"] - expected) < 0.01, (e, expected)
            seen.add((e["eye"], e["level"]))
            sees = e["level"] >= 5 if e["eye"] == "right" else e["level"] >= 8
            await tap(page, f"vision-{e['orientation'] if sees else OPPOSITE[e['orientation']]}")
            answered += 1
            await page_until(page, f"""(() => {{ const v = document.getElementById('vision');
                return !v || Number(v.dataset.step) === {answered}; }})()""")
            if answered == 1:  # the first E answered again, late (a double touch): refused, nothing moves
                status = await page.evaluate(LATE_ANSWER, e["run"])
                assert status == 409 and await page.get_attribute("#vision", "data-step") == "1"
        measurement = await reading_of(gp, "vision")
        assert measurement["screening"] is True and measurement["unit"] == "Parinaud"
        assert measurement["value"]["right"]["parinaud"] == 5 and measurement["value"]["left"]["parinaud"] == 8
        assert measurement["value"]["right"]["limit_reached"] is False
        assert ("right", 10.0) in seen and ("left", 6.0) in seen and all(level >= 3 for _, level in seen)
        assert [e for e in errors if "409 (Conflict)" not in e] == []  # the browser logs the late answer's 409
        assert await missing_texts(page) == []


async def test_an_answer_the_station_refuses_lets_the_patient_answer_again(tmp_path: Path) -> None:
    async with kiosk_station(tmp_path / "state") as station, chromium() as browser:
        page, errors, gp = await vision_requested(browser, station)
        await page.wait_for_selector("#vision[data-step='0'] #vision-e", timeout=BROWSER_MS)
        e = await page.evaluate(E_BOX)
        await page.route("**/api/screening", stale_once)
        async with page.expect_response("**/api/screening") as refused:
            await tap(page, f"vision-{e['orientation']}")
        assert (await refused.value).status == 409
        await page_until(page, f"() => !({DISABLED})().some(Boolean)")  # the buttons work again
        assert await page.get_attribute("#vision", "data-step") == "0" and await page.evaluate(E_BOX) == e
        await page.unroute("**/api/screening", stale_once)
        await tap(page, f"vision-{e['orientation']}")
        await page.wait_for_selector("#vision[data-step='1']", timeout=BROWSER_MS)
        assert not any(await page.evaluate(DISABLED))
        assert [e for e in errors if "409 (Conflict)" not in e] == []
