"""Opening hours at run time: the cabin closes and opens by itself and says when it opens next."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from config.loader import load_config
from protocol.states import CabinState as S
from runtime.clock import PARIS
from tests.conftest import running_station


async def test_the_cabin_closes_at_noon_and_reopens_after_lunch(state_dir: Path) -> None:
    noon = datetime(2026, 11, 30, 11, 59, 30, tzinfo=PARIS)  # a Monday at Nangis
    async with running_station(state_dir, speed=10_000, start=noon) as (station, crew):
        view = await crew.kiosk.wait_state("closed")
        assert view["open"] is False
        assert view["next_opening"]["start"] == "2026-11-30T13:30:00+01:00"
        refused = await crew.kiosk.post("/api/checkin", {"code": "K7QXM4PA"}, ok=False)
        assert refused["error"] == "wrong_state"
        await crew.kiosk.wait_state("ready")
        assert station.clock.now() >= datetime(2026, 11, 30, 13, 30, tzinfo=PARIS)


async def test_a_cabin_started_at_night_is_closed_until_the_morning(state_dir: Path) -> None:
    night = datetime(2026, 11, 30, 22, 0, tzinfo=PARIS)
    async with running_station(state_dir, speed=1.0, start=night) as (station, crew):
        assert station.cabin.state is S.CLOSED
        view = await crew.kiosk.current()
        assert view["next_opening"]["start"] == "2026-12-02T09:00:00+01:00"  # Tuesday is closed at Nangis


async def test_the_mobile_unit_is_closed_between_stops_and_knows_the_next_one(state_dir: Path) -> None:
    config = load_config()
    mobile = config.model_copy(update={"station": config.station.model_copy(update={"site": "CHR180"})})
    between = datetime(2026, 12, 2, 10, 0, tzinfo=PARIS)
    async with running_station(state_dir, mobile, speed=1.0, start=between) as (station, crew):
        assert station.cabin.state is S.CLOSED
        view = await crew.kiosk.current()
        assert view["site"]["mobile"] is True
        assert view["next_opening"] == {
            "start": "2026-12-03T09:00:00+01:00", "end": "2026-12-03T12:00:00+01:00",
            "place": "Lignières, parking de la salle des fêtes",
        }
