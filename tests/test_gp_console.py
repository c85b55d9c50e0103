"""The GP console and the kiosk page in Debian's Chromium, against a real hub and the simulated station.

Nothing is mocked: the kiosk page offers its fake camera to the GP's page through the station
and the hub, the station's aiortc peer sends the otoscope video and the instruments' readings
to the GP's page, and the GP's prescription prints on the simulated network printer.
"""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Page

from sim.patient import SimPatient
from sim.rig import SimRig
from tests.browser import chromium, missing_texts
from tests.console import BROWSER_S, by_id, join, open_console, patient_at_kiosk, real_errors
from tests.kiosk import in_state
from tests.remote import station_with_hub


async def frames(page: Page, video: str) -> int:
    """Video frames the page decoded so far (counted with requestVideoFrameCallback)."""
    return int(await page.get_attribute(video, "data-frames") or 0)


async def switch_language(gp: Page, lang: str, end: str, hub: str) -> None:
    """Touch the console's language button: the whole page, the live consultation included, follows."""
    await gp.click(by_id("lang-toggle"))
    await gp.wait_for_function(f"() => document.documentElement.lang === '{lang}'", timeout=BROWSER_S)
    assert await gp.inner_text(by_id("end-button")) == end
    assert await gp.inner_text("#hub-status-text") == hub
    assert f"lang={lang}" in gp.url  # kept in the address, not in the browser's storage


async def card_state(gp: Page, kind: str, state: str) -> None:
    await gp.wait_for_function(f"() => document.querySelector('[data-testid=reading-{kind}]').dataset.state === '{state}'",
                               timeout=BROWSER_S)


async def measure_weight_then_height(gp: Page, kiosk: Page, rig: SimRig) -> None:
    """The scale's weight, then the stadiometer's height: the weight card's BMI says its height was measured.

    The patient steps under the stadiometer when asked (the sensor gives a height whenever someone
    stands still under it, asked or not: the test starts with nobody under it).
    """
    await gp.click(by_id("request-weight"))
    await card_state(gp, "weight", "ok")
    assert "taille mesurée" not in await gp.inner_text(by_id("reading-weight"))
    for stadiometer in rig.stadiometers.values():
        stadiometer.step_in()
    await gp.click(by_id("request-height"))
    await kiosk.wait_for_selector("#instrument[data-kind=height] img[src$='instrument-height.svg']", state="attached",
                                  timeout=BROWSER_S)
    await card_state(gp, "height", "ok")
    height = float(await gp.get_attribute(by_id("reading-height"), "data-value") or 0)
    assert 1.5 <= height <= 1.95
    await gp.wait_for_function(
        "() => document.querySelector('[data-testid=reading-weight]').innerText.includes('(taille mesurée)')",
        timeout=BROWSER_S)
    kg = float(await gp.get_attribute(by_id("reading-weight"), "data-value") or 0)
    bmi = f"IMC {round(kg / height**2, 1):g}".replace(".", ",")  # the console drops a trailing ,0
    assert bmi in await gp.inner_text(by_id("reading-weight"))


async def test_a_gp_consults_a_patient_from_login_to_the_cabin_awaiting_cleaning(tmp_path: Path) -> None:
    async with station_with_hub(tmp_path / "state") as remote, chromium() as browser:
        assert remote.station.rig is not None
        for stadiometer in remote.station.rig.stadiometers.values():
            stadiometer.step_out()  # until the GP asks for the height
        appointment, kiosk, kiosk_errors = await patient_at_kiosk(browser, remote)
        gp, gp_errors = await open_console(browser, remote)
        row = gp.locator(by_id("waiting-row"))
        await row.wait_for(timeout=BROWSER_S)
        assert remote.station.config.place().name in await row.inner_text()
        assert appointment.patient_name not in await gp.inner_text(by_id("waiting-room"))
        await join(gp)
        assert appointment.patient_name in await gp.inner_text(by_id("patient-name"))
        await gp.wait_for_function("() => Number(document.getElementById('face-video').dataset.frames) > 10",
                                   timeout=BROWSER_S)
        await measure_weight_then_height(gp, kiosk, remote.station.rig)  # before the otoscope (the kiosk's screen)
        await gp.click(by_id("otoscope-toggle"))
        await gp.wait_for_function("() => Number(document.getElementById('otoscope-video').dataset.frames) > 10",
                                   timeout=BROWSER_S)
        assert await frames(kiosk, "#gp-video") > 0  # and the patient sees the GP

        await gp.click(by_id("request-blood_pressure"))
        await gp.wait_for_function("() => Number(document.getElementById('cuff-pressure').dataset.mmhg) > 0",
                                   timeout=BROWSER_S)
        reading = gp.locator(by_id("reading-blood_pressure"))
        await gp.wait_for_function(
            "() => document.querySelector('[data-testid=reading-blood_pressure]').dataset.state === 'ok'", timeout=BROWSER_S)
        assert await reading.get_attribute("data-value") == "122/78"
        assert await reading.get_attribute("data-stale") == "false"
        await gp.screenshot(path=str(tmp_path / "gp-console.png"), full_page=True)
        await switch_language(gp, "en", "End consultation", "Connected")
        await gp.screenshot(path=str(tmp_path / "gp-console-en.png"), full_page=True)
        await switch_language(gp, "fr", "Terminer la consultation", "Connecté")

        await gp.fill(by_id("med-name"), "Paracétamol 1 g, comprimé")
        await gp.fill(by_id("med-dosage"), "1 comprimé 3 fois par jour si fièvre")
        await gp.fill(by_id("med-duration"), "5 jours")
        await gp.fill(by_id("med-quantity"), "1 boîte de 8")
        await gp.click(by_id("prescription-submit"))
        await gp.wait_for_function("() => document.querySelector('[data-testid=print-status]').dataset.state === 'printed'",
                                   timeout=BROWSER_S)
        receipt = remote.station.rig.printer.receipts[-1] if remote.station.rig else None
        assert receipt is not None

        await gp.click(by_id("end-button"))
        await gp.click(by_id("end-confirm"))
        await SimPatient(remote.crew.kiosk, appointment.code).leave_with_prescription()
        await remote.crew.kiosk.wait_state("awaiting_cleaning")
        await in_state(kiosk, "awaiting_cleaning")
        await gp.wait_for_function("() => document.querySelector('[data-testid=consultation]').dataset.state === 'idle'",
                                   timeout=BROWSER_S)
        assert appointment.patient_name not in await gp.inner_text("body")
        assert real_errors(gp_errors) == [] and real_errors(kiosk_errors) == []
        assert await missing_texts(gp) == [] and await missing_texts(kiosk) == []


async def test_the_waiting_room_counts_by_the_stations_clock(tmp_path: Path) -> None:
    """The station's simulated clock is not the browser's: the wait shown is the station's, and it grows."""
    async with station_with_hub(tmp_path / "state") as remote, chromium() as browser:
        appointment = await remote.crew.book()
        await SimPatient(remote.crew.kiosk, appointment.code).check_in()
        gp, _ = await open_console(browser, remote)
        since = gp.locator(f"{by_id('waiting-row')} [data-role=since]")
        await since.wait_for(timeout=BROWSER_S)
        await gp.wait_for_function(
            "() => Number(document.querySelector('[data-testid=waiting-row] [data-role=since]').dataset.seconds) >= 3",
            timeout=BROWSER_S)
        shown = int(await since.get_attribute("data-seconds") or -1)
        snapshot = remote.station.cabin.snapshot()
        assert snapshot.consultation is not None and snapshot.consultation.waiting_since is not None
        waited = (remote.station.clock.now() - snapshot.consultation.waiting_since).total_seconds()
        assert abs(shown - waited) <= 2, (shown, waited)


async def prescribe(gp: Page, name: str, line: int = 0) -> None:
    """Fill the form's medication line `line` (the first by default) and send it to the cabin."""
    for field, value in (("med-name", name), ("med-dosage", "1 comprimé 3 fois par jour"),
                         ("med-duration", "5 jours"), ("med-quantity", "1 boîte")):
        await gp.locator(by_id(field)).nth(line).fill(value)
    await gp.click(by_id("prescription-submit"))


async def printed_rows(gp: Page, count: int) -> None:
    """Wait until the printing panel shows `count` printed prescriptions."""
    await gp.wait_for_function(f"() => document.querySelectorAll('#print-list [data-state=printed]').length === {count}",
                               timeout=BROWSER_S)


async def test_a_second_prescription_prints_after_the_gp_confirms_it_in_a_dialog(tmp_path: Path) -> None:
    async with station_with_hub(tmp_path / "state") as remote, chromium() as browser:
        assert remote.station.rig is not None
        printer = remote.station.rig.printer
        appointment = await remote.crew.book()
        await SimPatient(remote.crew.kiosk, appointment.code).check_in()
        gp, errors = await open_console(browser, remote)
        await join(gp)

        await prescribe(gp, "Paracétamol 1 g")
        await printed_rows(gp, 1)
        first = [qr.payload for receipt in printer.decoded for qr in receipt.qr_codes]
        assert len(first) == 1
        dialog = gp.locator(by_id("additional-dialog"))
        await gp.click(by_id("add-medication"))  # a second line, filled; the first left blank is no error
        await prescribe(gp, "Ibuprofène 200 mg", line=1)
        await dialog.wait_for(state="visible", timeout=BROWSER_S)
        assert first[0] in await dialog.inner_text()
        await gp.screenshot(path=str(tmp_path / "gp-additional-prescription.png"))
        await gp.click(by_id("additional-cancel"))
        await dialog.wait_for(state="hidden", timeout=BROWSER_S)
        await gp.wait_for_function("() => document.querySelector('[data-testid=prescription-status]').dataset.state"
                                   " === 'error'", timeout=BROWSER_S)
        assert len(printer.receipts) == 1  # declined: nothing more printed

        await gp.click(by_id("prescription-submit"))  # the same form, sent again: asked again
        await dialog.wait_for(state="visible", timeout=BROWSER_S)
        await gp.click(by_id("additional-confirm"))
        await printed_rows(gp, 2)
        numbers = [qr.payload for receipt in printer.decoded for qr in receipt.qr_codes]
        assert numbers[0] == first[0] and len(numbers) == 2 and numbers[1] != first[0]
        assert "Ibuprofène 200 mg" in printer.decoded[-1].text
        assert real_errors(errors) == [] and await missing_texts(gp) == []
