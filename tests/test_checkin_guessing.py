"""Guessing booking codes at the kiosk, through its HTTP API as an attacker would (issue #14, point 4).

A valid code whose name is rejected does not start the wrong-code count again, the pause is kept
in the state database across a restart, and a flood of wrong codes writes a few audit rows.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from protocol.booking_code import new_code
from session.appointments import Appointment
from sim.seed import DEMO_GP
from station.compose import Station
from tests.conftest import running_station

NAME = "Ysolde Devinette"


async def book_one(station: Station) -> str:
    code = new_code()
    await station.book.add(Appointment(code=code, patient_name=NAME, birth_date=date(1970, 1, 1), sex="F",
                                       slot_start=station.clock.now() + timedelta(minutes=2), slot_minutes=20,
                                       site=station.config.station.site, gp=DEMO_GP.name))
    return code


async def test_wrong_codes_around_a_rejected_valid_one_still_pause_check_in(state_dir: Path) -> None:
    async with running_station(state_dir, speed=1.0) as (station, crew):
        code = await book_one(station)
        shown = paused = 0
        for _ in range(50):  # "4 wrong, the valid one, 'this is not me'", again and again
            answers = [await crew.kiosk.post("/api/checkin", {"code": f"WRONG{i}"}, ok=False) for i in range(4)]
            answer = await crew.kiosk.post("/api/checkin", {"code": code}, ok=False)
            if answer.get("name") == NAME:
                shown += 1
                await crew.kiosk.post("/api/identity", {"confirm": False})
            paused += sum(a.get("error") == "paused" for a in [*answers, answer])
        assert shown == 1  # the name was shown once: then check-in paused for the rest of the run
        assert paused == 50 * 5 - 4 - 1
        view = await crew.kiosk.current()
        assert 0 < view["checkin_paused_s"] <= station.config.checkin.pause_s


async def test_a_pause_survives_a_restart_of_the_station(state_dir: Path) -> None:
    async with running_station(state_dir, speed=1.0) as (station, crew):
        for i in range(station.config.checkin.max_wrong_codes):
            await crew.kiosk.post("/api/checkin", {"code": f"WRONG{i}"}, ok=False)
        assert (await crew.kiosk.current())["checkin_paused_s"] > 0
    async with running_station(state_dir, speed=1.0) as (station, crew):
        view = await crew.kiosk.current()
        assert 0 < view["checkin_paused_s"] <= station.config.checkin.pause_s  # the kiosk shows it at once
        code = await book_one(station)
        refused = await crew.kiosk.post("/api/checkin", {"code": code}, ok=False)
        assert refused["error"] == "paused" and 0 < refused["retry_after_s"] <= station.config.checkin.pause_s


async def test_two_hundred_wrong_codes_write_one_audit_row(state_dir: Path) -> None:
    async with running_station(state_dir, speed=1.0) as (station, crew):
        for i in range(200):
            await crew.kiosk.post("/api/checkin", {"code": f"WRONG{i}"}, ok=False)
        entries = await station.audit.entries()
        wrong = [json.loads(e.detail) for e in entries if e.event == "wrong_codes"]
        assert wrong == [{"count": 5, "reasons": {"unknown_code": 5}, "first": wrong[0]["first"],
                          "last": wrong[0]["last"], "while_paused": 0, "pause_s": 60.0}]
        assert not [e for e in entries if e.event == "code_refused"]
