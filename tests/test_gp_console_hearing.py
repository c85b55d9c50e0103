"""The GP asks for a hearing screening from the console; the audiogram it gets back is drawn (Chromium).

Real path: the console's request goes through the hub to the station, the simulated patient
answers the screening through the kiosk API with thresholds it is given, and the audiogram comes
back to the console as a reading, drawn on a log-frequency chart marked "screening".
"""

from __future__ import annotations

import re
from pathlib import Path

from sim.patient import SimPatient, SimScreenee, hears_from
from sim.seed import sim_hearing
from tests.browser import chromium, missing_texts
from tests.console import BROWSER_S, by_id, join, open_console, real_errors
from tests.remote import station_with_hub
from tests.test_gp_console import switch_language

THRESHOLDS = {("right", 1000): 20.0, ("right", 2000): 30.0, ("right", 4000): 55.0, ("right", 500): 15.0,
              ("left", 1000): 25.0, ("left", 2000): 25.0, ("left", 4000): 90.0, ("left", 500): 25.0}


async def test_the_gp_requests_a_hearing_screening_and_sees_the_audiogram(tmp_path: Path) -> None:
    async with station_with_hub(tmp_path / "state") as remote, chromium() as browser:
        appointment = await remote.crew.book()
        await SimPatient(remote.crew.kiosk, appointment.code).check_in()
        gp, errors = await open_console(browser, remote)
        await join(gp)

        await gp.click(by_id("request-hearing"))
        answered = await SimScreenee(remote.crew.kiosk, hears_from(sim_hearing(THRESHOLDS))).hearing()
        assert answered > 8
        await gp.wait_for_function(
            "() => document.querySelector('[data-testid=reading-hearing]').dataset.state === 'ok'", timeout=BROWSER_S)
        card = gp.locator(by_id("reading-hearing"))
        assert await card.get_attribute("data-value") == "true"  # consistent answers
        chart = gp.locator(by_id("audiogram-chart"))
        assert await chart.get_attribute("data-points") == "8"
        marks = {(await g.get_attribute("data-ear"), await g.get_attribute("data-hz")): await g.get_attribute("data-db")
                 for g in await chart.locator("g[data-ear]").all()}
        assert marks == {(ear, str(hz)): ("none" if level > 80 else str(int(level)))
                         for (ear, hz), level in THRESHOLDS.items()}
        assert await chart.locator("circle").count() == 4  # O: the right ear
        assert await chart.locator("polyline[data-ear=left]").count() == 1
        assert await chart.locator("[data-role=screening]").text_content() == "Dépistage"
        # A track that ends early (the left ear at 4 kHz, not heard up to 80 dB HL) may end before its catch trial.
        assert re.search(r"0 fausse\(s\) alarme\(s\) sur [78] essais silencieux", await card.inner_text())
        await gp.screenshot(path=str(tmp_path / "gp-audiogram.png"), full_page=True)
        await switch_language(gp, "en", "End consultation", "Connected")
        assert await chart.locator("[data-role=screening]").text_content() == "Screening"
        assert await missing_texts(gp) == [] and real_errors(errors) == []
