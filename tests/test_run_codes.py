"""The booking codes `cabin run --sim` prints for a person: one always valid now, whenever they come."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from pathlib import Path

from protocol.booking_code import normalise_code
from session.appointments import checkin_window
from sim.patient import SimPatient
from station.run import _on_duty
from tests.conftest import eventually, running_station

CODE_LINE = re.compile(r"^booking code ([2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}) for \d\d:\d\d, valid now until (\d\d:\d\d)$")


def printed_codes(lines: list[str]) -> list[tuple[str, str]]:
    """(code as stored, until) of every booking code line printed so far (printed in groups: "K7QX-M4PA")."""
    return [(str(normalise_code(m.group(1))), m.group(2)) for m in map(CODE_LINE.match, lines) if m]


async def test_a_code_printed_long_after_start_works_and_a_fresh_one_follows(tmp_path: Path) -> None:
    async with running_station(tmp_path / "state", checkin_as_configured=True) as (station, crew):
        clock, lines = station.clock, []

        def say(line: str) -> None:
            lines.append(line)
            if line.startswith("the simulated clock now runs at real time"):
                clock.set_speed(1000.0)  # the person comes back much later: let the run's time fly meanwhile

        duty = asyncio.create_task(_on_duty(crew, clock, station.config.checkin, 0, False, say))
        try:
            late = clock.now() + timedelta(minutes=75)  # every code of a fixed batch would have expired
            await eventually(lambda: clock.now() > late, within_s=60.0)
            clock.set_speed(50.0)  # the person plays: slow enough for the code printed last to stay valid
            assert len(printed_codes(lines)) >= 3  # each expiring code was replaced by a fresh one
            code, until = printed_codes(lines)[-1]
            appt = await station.book.find(code)
            assert appt is not None
            opens, closes = checkin_window(appt.slot_start, station.config.checkin)
            assert opens <= clock.now() < closes and until == f"{closes:%H:%M}"

            await SimPatient(crew.kiosk, code).check_in()  # the code works: the patient waits for the GP

            await eventually(lambda: printed_codes(lines)[-1][0] != code, within_s=30.0)
            fresh, _ = printed_codes(lines)[-1]  # printed as soon as the previous one was used
            appt = await station.book.find(fresh)
            assert appt is not None and not appt.used_at
            opens, closes = checkin_window(appt.slot_start, station.config.checkin)
            assert opens <= clock.now() < closes
            await crew.kiosk.post("/api/leave")
            await crew.kiosk.wait_state("ready")  # the referent on duty cleaned after the patient
        finally:
            duty.cancel()
            await asyncio.gather(duty, return_exceptions=True)
    assert not any("no booking code" in line for line in lines)

