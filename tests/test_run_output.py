"""What `make run` shows: a normal consultation logs no warning; the simulated printer's receipts land in a folder."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from protocol.states import CabinState as S
from sim.gp_peer import of_type
from tests.conftest import eventually, running_station
from tests.test_media import instruments, joined, otoscope_of


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.WARNING]


def leg_lines(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "session.media" and r.levelno == level]


async def test_a_simulated_consultation_logs_no_warning(state_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    async with running_station(state_dir) as (station, crew):
        if (await crew.kiosk.current())["state"] == "awaiting_cleaning":
            await crew.clean()
        appointment = await crew.book()
        report = await crew.consultation(appointment.code)
        await crew.clean()
        assert report.prescription and station.cabin.state is S.READY
        assert warnings(caplog) == []


async def test_the_gp_ending_the_consultation_closes_the_instruments_leg_without_a_warning(
        state_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    async with (running_station(state_dir, speed=1.0) as (station, crew),
                instruments(station.gp_link.attach, otoscope_of(station)) as (director, gp)):
        await gp.wait_connected()
        await joined(station, crew, gp)
        await gp.send("end")
        await gp.control.expect(of_type("ack", ref="end"))
        await crew.kiosk.post("/api/leave")
        await gp.control.expect(of_type("ended"))
        await gp.hang_up()  # the console closes its peer connection, then tells the hub it left
        await eventually(lambda: any(" closed (" in line for line in leg_lines(caplog, logging.INFO)))
        await director.gp_left("gp-1")
    assert warnings(caplog) == []


async def test_an_instruments_leg_lost_unexpectedly_is_a_warning(
        state_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with (running_station(state_dir, speed=1.0) as (station, crew),
                instruments(station.gp_link.attach, otoscope_of(station)) as (director, gp)):
        await gp.wait_connected()
        gp.drop_network()
        await eventually(lambda: any("lost (nothing from the GP" in line for line in leg_lines(caplog, logging.WARNING)),
                         within_s=15)
