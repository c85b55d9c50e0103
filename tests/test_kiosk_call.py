"""The consultation screen with the GP's real video through the hub, and the instrument the GP asks for."""

from __future__ import annotations

from pathlib import Path

from sim.patient import SimPatient
from tests.browser import chromium, missing_texts
from tests.kiosk import BROWSER_MS, in_state, page_until, shot
from tests.remote import GP_LOGIN, GP_PASSWORD, station_with_hub


async def test_the_consultation_screen_shows_the_gp_large_the_patient_small_and_the_instrument(tmp_path: Path) -> None:
    async with station_with_hub(tmp_path / "state") as remote, chromium() as browser:
        appointment = await remote.crew.book()
        kiosk = await (await browser.new_context(viewport={"width": 1920, "height": 1080})).new_page()
        await kiosk.goto(remote.station.kiosk.entry_url)
        await SimPatient(remote.crew.kiosk, appointment.code).check_in()
        await in_state(kiosk, "waiting_for_doctor")

        gp = await (await browser.new_context()).new_page()
        await gp.goto(remote.hub.url)
        await gp.fill("[data-testid=login-username]", GP_LOGIN)
        await gp.fill("[data-testid=login-password]", GP_PASSWORD)
        await gp.click("[data-testid=login-submit]")
        await gp.click("[data-testid=join-button]", timeout=BROWSER_MS)
        await in_state(kiosk, "in_consultation")
        await page_until(kiosk, "Number(document.getElementById('gp-video').dataset.frames) > 10")
        await gp.click("[data-testid=request-spo2]", timeout=BROWSER_MS)
        await kiosk.wait_for_selector("#instrument[data-kind=spo2]", timeout=BROWSER_MS)
        await kiosk.wait_for_selector("#reading", timeout=BROWSER_MS)
        assert "%" in await kiosk.inner_text("#reading")
        sizes = await kiosk.evaluate("""() => ['gp-video', 'self-video'].map(
            (id) => document.getElementById(id).getBoundingClientRect().width)""")
        assert sizes[0] > 3 * sizes[1] > 0
        assert "Placez l'index dans la pince" in await kiosk.inner_text("#instrument")
        await shot(kiosk, tmp_path, "consultation-with-video")
        await gp.click("[data-testid=otoscope-toggle]")
        await kiosk.wait_for_selector("#instrument[data-kind=otoscope]", timeout=BROWSER_MS)
        assert "l'examen de l'oreille" in await kiosk.inner_text("#instrument")
        camera = remote.station.rig.cameras.get("otoscope-1") if remote.station.rig else None
        assert camera is not None
        camera.inject("shake")  # the patient moves: the otoscope's focus figure drops
        await kiosk.wait_for_selector("#guidance[data-guidance=hold_still]", timeout=BROWSER_MS)
        assert await kiosk.inner_text("#guidance") == "Ne bougez plus"
        await shot(kiosk, tmp_path, "consultation-otoscope-hold-still")
        assert await missing_texts(kiosk) == [] and await missing_texts(gp) == []
