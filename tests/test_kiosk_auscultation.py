"""The kiosk shows the patient where to place the stethoscope: a torso with the point marked, and the steps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

from protocol.control import AuscultationPoint
from tests.browser import chromium
from tests.kiosk import BROWSER_MS, kiosk_station, open_kiosk, shot, to_the_doctor

PAGE = Path(__file__).resolve().parent.parent / "station" / "kiosk_page"


def test_every_point_has_its_picture_and_its_words_in_french_and_english() -> None:
    catalogues = [json.loads((PAGE / "i18n" / f"{code}.json").read_text(encoding="utf-8")) for code in ("fr", "en")]
    for point in get_args(AuscultationPoint):
        picture = (PAGE / f"auscultation-{point}.svg").read_text(encoding="ascii")
        assert picture.startswith("<svg") and "<script" not in picture and 'fill="#8a1c00"' in picture  # the mark
        for catalogue in catalogues:
            assert catalogue[f"auscultation.point.{point}"].strip()
    for catalogue in catalogues:
        assert len(catalogue["auscultation.heart.steps"].split("|")) == 3
        assert len(catalogue["auscultation.lungs.steps"].split("|")) == 3


async def test_the_patient_sees_the_point_and_steps_until_the_stethoscope_goes_off(tmp_path: Path) -> None:
    async with kiosk_station(tmp_path / "state") as station, chromium() as browser:
        page = await open_kiosk(browser, station.kiosk.entry_url)
        gp = await to_the_doctor(page, station, "57575757")

        await gp.send("stethoscope", on=True)
        await gp.expect("ack", ref="stethoscope", on=True)
        await gp.send("auscultate", point="mitral")
        await gp.expect("ack", ref="auscultate", point="mitral")
        await page.wait_for_selector("#auscultation[data-point=mitral]", timeout=BROWSER_MS)
        assert await page.get_attribute("#auscultation img", "src") == "/static/auscultation-mitral.svg"
        text = await page.inner_text("#auscultation")
        assert "Placez le pavillon ici, sur la peau" in text and "sous le sein gauche" in text
        assert await page.evaluate("() => document.querySelector('#auscultation img').naturalWidth > 0")
        await shot(page, tmp_path, "auscultation-mitral")

        await gp.send("auscultate", point="lung_lower_right")
        await page.wait_for_selector("#auscultation[data-point=lung_lower_right]", timeout=BROWSER_MS)
        assert "Respirez lentement par la bouche" in await page.inner_text("#auscultation")
        await page.click("#language", timeout=BROWSER_MS)
        await page.wait_for_selector("#auscultation >> text=Breathe slowly and deeply through your mouth",
                                     timeout=BROWSER_MS)

        await gp.send("stethoscope", on=False)
        await gp.expect("ack", ref="stethoscope", on=False)
        await page.wait_for_selector("#auscultation", state="detached", timeout=BROWSER_MS)
