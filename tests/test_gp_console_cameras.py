"""The GP console's two examination-camera panels in Debian's Chromium, against a real hub and the simulated station.

One class (hub/console/examcamera.js) makes the otoscope's and the dermatoscope's panels; the
instruments leg's one video track plays in the panel of the camera that is on. The kiosk shows
the dermatoscope's steps and its glare advice (docs/design.md, "Examination cameras").
"""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Page

from sim.camera import CameraFault
from sim.patient import SimPatient
from tests.browser import chromium, missing_texts
from tests.console import BROWSER_S, by_id, join, open_console, patient_at_kiosk, real_errors
from tests.remote import station_with_hub


async def wait_data(page: Page, testid: str, key: str, value: str) -> None:
    """Wait until the console element `testid` has data-`key` equal to `value`."""
    await page.wait_for_function(
        f"() => document.querySelector('[data-testid={testid}]')?.dataset.{key} === '{value}'", timeout=BROWSER_S)


async def frames_beyond(page: Page, video: str, count: int) -> None:
    await page.wait_for_function(f"() => Number(document.getElementById('{video}').dataset.frames) > {count}",
                                 timeout=BROWSER_S)


async def test_the_dermatoscope_panel_shows_its_video_guidance_and_pictures(tmp_path: Path) -> None:
    async with station_with_hub(tmp_path / "state") as remote, chromium() as browser:
        assert remote.station.rig is not None
        appointment, kiosk, kiosk_errors = await patient_at_kiosk(browser, remote)
        gp, gp_errors = await open_console(browser, remote)
        await join(gp)

        await gp.click(by_id("dermatoscope-toggle"))
        await wait_data(gp, "dermatoscope-toggle", "state", "on")
        await frames_beyond(gp, "dermatoscope-video", 10)
        await wait_data(gp, "dermatoscope-video", "live", "true")
        assert await gp.get_attribute(by_id("otoscope-video"), "data-live") == "false"  # one camera on: its panel
        await wait_data(gp, "dermatoscope-guidance", "advice", "ok")
        await kiosk.wait_for_selector("#instrument[data-kind=dermatoscope]", timeout=BROWSER_S)
        steps = await kiosk.inner_text("#instrument")
        assert "l'examen de la peau" in steps
        assert "Posez le dermatoscope à plat sur la peau, sur la tache que le médecin vous indique" in steps

        remote.station.rig.cameras["dermatoscope-1"].inject(CameraFault.GLARE)
        await wait_data(gp, "dermatoscope-guidance", "advice", "glare")
        assert "Reflet" in await gp.inner_text(by_id("dermatoscope-guidance"))
        await kiosk.wait_for_selector("#guidance[data-guidance=glare]", timeout=BROWSER_S)
        assert "sans l'incliner" in await kiosk.inner_text("#guidance")
        remote.station.rig.cameras["dermatoscope-1"].clear(CameraFault.GLARE)

        await gp.click(by_id("dermatoscope-snapshot-button"))
        await wait_data(gp, "dermatoscope-snapshot-view", "count", "1")
        assert await gp.get_attribute(by_id("otoscope-snapshot-view"), "data-count") == "0"  # its own list
        size = await gp.evaluate(
            "() => [document.getElementById('dermatoscope-snapshot-image').naturalWidth,"
            " document.getElementById('dermatoscope-snapshot-image').naturalHeight]")
        assert size == [640, 480]
        await gp.screenshot(path=str(tmp_path / "gp-console-dermatoscope.png"), full_page=True)

        seen = int(await gp.get_attribute(by_id("otoscope-video"), "data-frames") or 0)
        await gp.click(by_id("otoscope-toggle"))  # the otoscope on: the dermatoscope goes off
        await wait_data(gp, "otoscope-toggle", "state", "on")
        await wait_data(gp, "dermatoscope-toggle", "state", "off")
        await frames_beyond(gp, "otoscope-video", seen + 10)
        assert not remote.station.hardware.cameras.get("dermatoscope").capturing
        await kiosk.wait_for_selector("#instrument[data-kind=otoscope]", timeout=BROWSER_S)

        await gp.click(by_id("end-button"))
        await gp.click(by_id("end-confirm"))
        await SimPatient(remote.crew.kiosk, appointment.code).leave_with_prescription()
        await wait_data(gp, "consultation", "state", "idle")
        assert await gp.get_attribute(by_id("dermatoscope-snapshot-view"), "data-count") == "0"  # nothing kept
        assert await gp.evaluate("() => document.getElementById('dermatoscope-video').srcObject") is None
        assert remote.station.hardware.cameras.on() is None
        assert real_errors(gp_errors) == [] and real_errors(kiosk_errors) == []
        assert await missing_texts(gp) == [] and await missing_texts(kiosk) == []
