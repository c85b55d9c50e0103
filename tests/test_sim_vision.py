"""The simulated patient reads the kiosk's vision chart through the kiosk API; the GP gets the result."""

from __future__ import annotations

from pathlib import Path

from sim.patient import KioskClient, SimPatient
from sim.seed import DEMO_GP
from sim.vision_reader import SimVisionReader
from tests.kiosk import GpChannel, book, kiosk_station
from tests.test_kiosk_vision import reading_of


async def test_a_simulated_patient_of_known_acuity_reads_the_chart_and_the_gp_gets_it_in_parinaud(
        tmp_path: Path) -> None:
    async with kiosk_station(tmp_path / "state") as station:
        appointment = await book(station, "246B8CDE")
        kiosk = KioskClient(station.kiosk.entry_url)
        await kiosk.start()
        try:
            await SimPatient(kiosk, appointment.code).check_in()
            gp = GpChannel(station)
            waiting = await gp.expect("waiting")
            await gp.send("join", session=waiting["session"], gp=DEMO_GP.model_dump())
            await kiosk.wait_state("in_consultation")
            await gp.send("request_measurement", kind="vision")
            answers = await SimVisionReader(kiosk, right=2.0, left=6.0).read_chart()
            measurement = await reading_of(gp, "vision")
            right, left = measurement["value"]["right"], measurement["value"]["left"]
            assert (right["parinaud"], right["limit_reached"]) == (3, True)  # P2 is under a pixel on this screen
            assert (left["parinaud"], left["limit_reached"], left["decimal"]) == (6, False, 0.27)
            assert answers >= 2 * 3 and (await kiosk.current())["session"]["screening"] is None
        finally:
            await kiosk.stop()
