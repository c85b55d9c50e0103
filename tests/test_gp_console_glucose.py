"""The glucometer on both screens, in Debian's Chromium, against a real hub and the simulated station:
the GP asks for a glucose, the patient sees the steps and the value in g/L, the GP's card shows it in
mg/dL or mmol/L as the GP chooses, with the meal, and remembers the choice."""

from __future__ import annotations

from pathlib import Path

from tests.browser import chromium, missing_texts
from tests.console import BROWSER_S, by_id, join, open_console, patient_at_kiosk, real_errors
from tests.remote import station_with_hub

CARD_OK = "() => document.querySelector('[data-testid=reading-glucose]').dataset.state === 'ok'"


async def test_the_gp_reads_a_glucose_in_either_unit_and_the_patient_in_g_per_litre(tmp_path: Path) -> None:
    async with station_with_hub(tmp_path / "state") as remote, chromium() as browser:
        _, kiosk, kiosk_errors = await patient_at_kiosk(browser, remote)
        gp, gp_errors = await open_console(browser, remote)
        await join(gp)
        await gp.wait_for_function("() => Number(document.getElementById('face-video').dataset.frames) > 10",
                                   timeout=BROWSER_S)  # the legs, and the control channel, are up

        await gp.click(by_id("request-glucose"))
        await gp.wait_for_function(CARD_OK, timeout=BROWSER_S)
        card = gp.locator(by_id("reading-glucose"))
        assert await card.get_attribute("data-value") == "105"
        text = await card.inner_text()
        assert "105" in text and "mg/dL" in text and "avant le repas" in text and "doigt" in text

        await gp.click(by_id("glucose-unit"))
        await gp.wait_for_function("() => document.querySelector('[data-testid=glucose-unit]').dataset.unit === 'mmol/L'",
                                   timeout=BROWSER_S)
        text = await card.inner_text()
        assert "5,8" in text and "mmol/L" in text
        assert await gp.evaluate("() => localStorage.getItem('console.glucose_unit')") == "mmol/L"
        await gp.screenshot(path=str(tmp_path / "gp-glucose.png"), full_page=True)

        await kiosk.wait_for_selector("#instrument[data-kind=glucose]", timeout=BROWSER_S)
        assert "bandelette" in await kiosk.inner_text("#instrument")
        await kiosk.wait_for_selector("#reading", timeout=BROWSER_S)
        assert "1,05 g/L" in await kiosk.inner_text("#reading")
        await kiosk.screenshot(path=str(tmp_path / "kiosk-glucose.png"), full_page=True)
        assert real_errors(gp_errors) == [] and real_errors(kiosk_errors) == []
        assert await missing_texts(gp) == [] and await missing_texts(kiosk) == []
