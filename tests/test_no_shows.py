"""A patient who never came: their booking (name, birth date) leaves the station once check-in closed."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from session.appointments import Appointment
from sim.seed import DEMO_GP
from tests.conftest import running_station

NAME = "Absalon Jamaisvenu"


def on_disk(state_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in state_dir.glob("cabin.sqlite3*"))


async def test_a_no_show_is_deleted_from_the_running_station_and_audited_without_personal_data(state_dir: Path) -> None:
    async with running_station(state_dir) as (station, _):  # the clock runs 1000 times faster
        late = timedelta(minutes=station.config.checkin.late_minutes)
        code = "NSH2W4YS"
        await station.book.add(Appointment(code=code, patient_name=NAME, birth_date=date(1958, 3, 9), sex="M",
                                           slot_start=station.clock.now() - late + timedelta(minutes=1),
                                           slot_minutes=20, site=station.config.station.site, gp=DEMO_GP.name))
        assert NAME.encode() in on_disk(state_dir)
        deadline = station.clock.now() + timedelta(minutes=10)  # a few seconds here
        while await station.book.find(code) is not None:
            assert station.clock.now() < deadline, "the no-show's booking is still there"
            await station.clock.sleep(20)
        entries = [e for e in await station.audit.entries() if e.event == "no_shows_deleted"]
        assert [json.loads(e.detail) for e in entries] == [{"count": 1}]
        assert NAME not in entries[0].detail and code not in entries[0].detail
    assert NAME.encode() not in on_disk(state_dir)
