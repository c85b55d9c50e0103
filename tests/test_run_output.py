"""What `make run` shows: a normal consultation logs no warning; the simulated printer's receipts land in a folder."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from protocol.states import CabinState as S
from sim.gp_peer import of_type
from tests.conftest import eventually, running_station
from tests.processes import run_until
from tests.test_media import instruments, joined


def test_cabin_run_sim_keeps_the_terminal_for_a_person_and_draws_the_prints(tmp_path: Path) -> None:
    state = tmp_path / "state"
    # Until the simulated patient has been and gone; then Ctrl-C, as a person would.
    run = run_until(["run", "--sim", "--state-dir", str(state), "--port", "0", "--hub-port", "0"], "your turn",
                    stop=signal.SIGINT)
    said, out, err = run.seen, run.out, run.err
    assert said and said[-1].startswith("your turn"), f"cabin run ended early: {said}"
    assert run.returncode == 0, err
    # Nothing needed a person: the log is in the state directory. Only code holding the loop would
    # have a line here (this machine's load decides), one line pointing to the file for its stack.
    stall = "WARNING station.lag: the event loop was blocked for "
    assert all(line.startswith(stall) and line.endswith(f"(more in {state / 'cabin.log'})")
               for line in err.splitlines()), err
    assert f"prints (each receipt as a PNG): {state / 'prints'}/" in said
    assert f"state directory: {state}   log: {state / 'cabin.log'}" in said
    assert out.splitlines()[-1] == "stopped"
    log = (state / "cabin.log").read_text(encoding="utf-8")
    assert " INFO station.hardware: " in log
    # The simulated patient booked on the hub's public page, and the code reached the cabin from there.
    assert any(line.startswith("booking page: http://127.0.0.1:") for line in said)
    assert " made at site NAN231" in log and "online booking " in log
    assert all(" WARNING station.lag: " in line for line in log.splitlines() if " WARNING " in line), log
    pngs = sorted((state / "prints").glob("receipt-*.png"))
    assert pngs and all(png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") for png in pngs)
    assert f"receipt drawn to {pngs[0]}" in log


# A command's logging as `cabin run --sim` sets it up, logging a little of everything.
SIM_LOGGING = """
import asyncio, logging, sys
from pathlib import Path
from station.logs import SimLog, configure

async def main() -> None:
    configure(verbose=False)
    sim_log = SimLog(Path(sys.argv[1]))
    await sim_log.start()
    log = logging.getLogger("station.somewhere")
    log.debug("a detail")
    log.info("a step")
    log.warning("a stall; it was in:\\n  File x.py, line 1, in hold")
    try:
        raise ValueError("a bug")
    except ValueError:
        log.exception("a task failed")
    await sim_log.stop()
    log.warning("after the simulator")

asyncio.run(main())
"""


def test_on_the_simulator_the_terminal_gets_warnings_in_one_line_and_the_file_gets_the_rest(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", SIM_LOGGING, str(tmp_path)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    log_file = tmp_path / "cabin.log"
    terminal = done.stderr.splitlines()
    assert terminal[:2] == [f"WARNING station.somewhere: a stall; it was in: (more in {log_file})",
                            f"ERROR station.somewhere: a task failed (more in {log_file})"]
    assert len(terminal) == 3 and terminal[2].endswith(" WARNING station.somewhere: after the simulator")
    written = log_file.read_text(encoding="utf-8")
    assert "a detail" not in written and " INFO station.somewhere: a step" in written
    assert "in hold" in written and "ValueError: a bug" in written
    assert "after the simulator" not in written


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Warnings of the consultation's own code. The lag monitor's are left out: a stall on a loaded
    test machine (a garbage collection, a slow import) is about the machine, and has its own tests."""
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records
            if r.levelno >= logging.WARNING and r.name != "station.lag"]


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
                instruments(station.gp_link.attach, station.hardware.cameras) as (director, gp)):
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
                instruments(station.gp_link.attach, station.hardware.cameras) as (director, gp)):
        await gp.wait_connected()
        gp.drop_network()
        await eventually(lambda: any("lost (nothing from the GP" in line for line in leg_lines(caplog, logging.WARNING)),
                         within_s=15)


def test_cabin_run_sim_mobile_runs_a_day_at_a_stop_with_a_simulated_secretary_and_doctor(tmp_path: Path) -> None:
    state = tmp_path / "state"
    run = run_until(["run", "--sim", "--mobile", "--state-dir", str(state), "--port", "0", "--hub-port", "0"],
                    "your turn", stop=signal.SIGINT)
    said = run.seen
    assert said and said[-1].startswith("your turn"), f"cabin run --sim --mobile ended early: {said}\n{run.err}"
    assert run.returncode == 0, run.err
    assert any(line.startswith("secretary's desk: http://127.0.0.1:") and "/desk   login secretariat" in line
               for line in said)
    assert "secretary: the stop at Sancoins, place de la Libération is open" in said
    # The day as the issue tells it: a booked patient and a walk-in, each called, seen, printed for and cleaned after.
    assert [line.split(",")[0] for line in said if line.startswith("simulated patient ")] == [
        "simulated patient 1 of 2", "simulated patient 2 of 2"]
    assert any(line.startswith("secretary: booked patient welcomed, ticket 1") for line in said)
    assert any(line.startswith("secretary: walk-in registered, ticket 2") for line in said)
    assert sum(line.endswith("called to the doctor") for line in said) == 2
    assert sum(" printed" in line and line.startswith("GP: prescription CHR180-") for line in said) == 2
    assert said.count("referent: cleaning confirmed by badge") == 2
    # Two prescriptions of two documents each (the medicines, the examinations): a receipt per document.
    assert len(list((state / "prints").glob("receipt-*.png"))) == 4
