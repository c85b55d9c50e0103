"""`cabin run --sim` and `cabin demo` again on the same state directory: the clock never goes back behind the audit trail."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from runtime.clock import PARIS
from runtime.storage import DB_NAME
from tests.processes import run_until

STARTS = "simulated time starts at "


def run_once(state_dir: Path) -> datetime:
    """`cabin run --sim` with one simulated patient, until it prints a booking code; when its clock started."""
    run = run_until(["run", "--sim", "--patients", "1", "--speed", "500", "--port", "0", "--hub-port", "0",
                     "--state-dir", str(state_dir)], "booking code ", stderr=subprocess.STDOUT)
    output = run.output
    assert run.returncode == 0 and "booking code " in output and "Traceback" not in output, output
    started = next(line for line in run.seen if line.startswith(STARTS))
    text = started.removeprefix(STARTS).split(" (")[0]
    return datetime.strptime(text, "%A %d %B %Y %H:%M").replace(tzinfo=PARIS)


def last_audit_time(state_dir: Path) -> datetime:
    conn = sqlite3.connect(state_dir / DB_NAME)
    try:
        (at,) = conn.execute("SELECT at FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    finally:
        conn.close()
    return datetime.fromisoformat(at)


def test_a_restart_on_the_same_state_directory_does_not_send_the_clock_back(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    first = run_once(state_dir)
    last = last_audit_time(state_dir)
    assert last > first  # the simulated patient's consultation and cleaning went to the trail

    second = run_once(state_dir)
    assert second > last  # the demo start alone would be the same opening as the first run's

    verify = subprocess.run([sys.executable, "-m", "station.cli", "audit", "verify", "--state-dir", str(state_dir)],
                            capture_output=True, text=True, timeout=120)
    assert verify.returncode == 0, verify.stderr
    assert verify.stdout.startswith("audit trail intact")


def test_demos_one_after_another_keep_the_trail_in_time_order(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    for _ in range(2):
        demo = subprocess.run([sys.executable, "-m", "station.cli", "demo", "--json", "--state-dir", str(state_dir)],
                              capture_output=True, text=True, timeout=120)
        assert demo.returncode == 0, demo.stderr
    verify = subprocess.run([sys.executable, "-m", "station.cli", "audit", "verify", "--state-dir", str(state_dir)],
                            capture_output=True, text=True, timeout=120)
    assert verify.returncode == 0, verify.stderr
    assert verify.stdout.startswith("audit trail intact")
