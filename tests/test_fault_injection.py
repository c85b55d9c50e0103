"""SIGKILL at chosen states of consultations, and what must hold after every one.

One state directory lives through runs of `cabin demo` (check-in, consultation, printing,
cleaning: each run first cleans what the previous one left), each killed with a real SIGKILL
at a point chosen by state. The test reads the demo's narration ("09:01:42  cabin: STATE"),
waits for the state in the run's own consultation, then for a moment drawn within how long
that state lasted in a first, whole run, and kills; one kill per state is the demo's own
`--stop-after`, on entering it, so that even the states that last milliseconds are hit. A few
kills land during start-up. Where each kill landed is the last state the demo narrated (a
state is persisted before it is told), and every state from check-in to cleaning must have
been hit. After every kill, reading the state directory as the next start will: the cleaning
mark is set whenever the audit trail has a check-in whose cleaning it has not recorded; the
audit chain verifies; no session has a prescription printed twice, nor printed while another
patient was in (ordered by the audit trail's sequence). Each demo's simulated clock starts at
an opening after the trail's last entry, so `audit verify` also checks that no kill sent the
trail's times back. The last run is not killed and must see its patient through, cleaning
first if it has to.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from runtime.storage import DB_NAME
from station.cli import DEMO_STATES

SEED = 20261130
# Every state of a consultation from check-in to cleaning: KILLS_PER_STATE kills aim at each.
TARGETS = tuple(state.value for state in DEMO_STATES[1:])
KILLS_PER_STATE = 7
START_UP = "start-up"  # before the demo has told its first state
START_UP_KILLS = 5
BOOKED = "booked a simulated patient"  # the run's own consultation begins after this line
STATE_LINE = re.compile(r"^\d\d:\d\d:\d\d  cabin: (\w+)$")


@dataclass(frozen=True)
class KillPoint:
    """Kill `offset_s` after entering `state` (after the start for START_UP); None: on entering it."""

    state: str
    offset_s: float | None


@dataclass(frozen=True)
class Line:
    """A line the demo printed and when it came, in seconds since the demo started."""

    at_s: float
    text: str

    @property
    def state(self) -> str | None:
        """The state this line tells the cabin entered, if it tells one."""
        told = STATE_LINE.match(self.text)
        return told.group(1) if told else None


def cabin(*args: str) -> subprocess.CompletedProcess[str]:
    """The `cabin` command in a child process."""
    return subprocess.run([sys.executable, "-m", "station.cli", *args], capture_output=True, text=True, timeout=120)


def entered(lines: list[Line], state: str) -> bool:
    """Whether the last line tells `state` entered in the run's own consultation."""
    booked = any(line.text.startswith(BOOKED) for line in lines)
    return booked and lines[-1].state == state


def demo(state_dir: Path, point: KillPoint | None) -> tuple[list[Line], int]:
    """A demo on `state_dir` killed at `point` (None: left to finish): what it printed, and its exit status."""
    target, offset_s = (point.state, point.offset_s) if point is not None else ("", None)
    stop_after = ["--stop-after", target] if point is not None and offset_s is None else []
    started = time.monotonic()
    child = subprocess.Popen([sys.executable, "-m", "station.cli", "demo", "--state-dir", str(state_dir), *stop_after],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert child.stdout is not None
    lines: list[Line] = []
    try:
        if offset_s is not None and target == START_UP:
            time.sleep(offset_s)
            child.kill()
            offset_s = None
        for text in child.stdout:  # read on after the kill: what the demo printed before it
            lines.append(Line(time.monotonic() - started, text.rstrip("\n")))
            if offset_s is not None and entered(lines, target):
                time.sleep(offset_s)
                child.kill()
                offset_s = None
        return lines, child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def mark_on_record(db: sqlite3.Connection) -> bool:
    """Whether the audit trail's last word on the mark is that it was set (a check-in not yet cleaned after).

    The mark is written before its audit entry, and a cleaning's proof before the mark is
    cleared: a kill in between leaves the mark set while the trail says otherwise, which is the
    safe side. The other way round, a mark on record but cleared on disk, must never happen.
    """
    row = db.execute("SELECT event FROM audit WHERE event IN ('cleaning_mark_set', 'cleaning_cleared') "
                     "ORDER BY seq DESC LIMIT 1").fetchone()
    return row is not None and row[0] == "cleaning_mark_set"


def prints_for_another_patient(db: sqlite3.Connection) -> list[tuple[str, str]]:
    """(printed, current) sessions wherever the audit trail shows paper given while another patient was in.

    The current patient at any point of the trail is the session of the latest `cleaning_mark_set`.
    """
    wrong, current = [], ""
    for session, event in db.execute("SELECT session, event FROM audit WHERE event IN "
                                     "('cleaning_mark_set', 'prescription_printed') ORDER BY seq"):
        if event == "cleaning_mark_set":
            current = session
        elif session != current:
            wrong.append((session, current))
    return wrong


def check_invariants(state_dir: Path, where: str) -> None:
    """What must hold after every kill (the module's docstring); `where` names the kill in the messages."""
    with sqlite3.connect(f"file:{state_dir / DB_NAME}?mode=ro", uri=True) as db:
        on_record = mark_on_record(db)
        printed = db.execute("SELECT session_id, COUNT(*) FROM print_jobs WHERE status = 'printed' "
                             "GROUP BY session_id HAVING COUNT(*) > 1").fetchall()
        elsewhere = prints_for_another_patient(db)
    assert printed == [], f"{where}: printed twice: {printed}"
    assert elsewhere == [], f"{where}: printed for another patient: {elsewhere}"
    status = cabin("status", "--json", "--state-dir", str(state_dir))
    assert status.returncode == 0, f"{where}: {status.stderr}"
    if on_record:
        assert json.loads(status.stdout)["cleaning_required"] is True, f"{where}: the cleaning mark was lost"
    verify = cabin("audit", "verify", "--state-dir", str(state_dir))
    assert verify.returncode == 0, f"{where}: {verify.stderr}"


def durations(whole: list[Line]) -> dict[str, float]:
    """How long start-up and each state of the consultation lasted in a whole run, in seconds."""
    first = next(i for i, line in enumerate(whole) if line.text.startswith(BOOKED))
    told = [line for line in whole[first:] if line.state]
    spans = {START_UP: next(line.at_s for line in whole if line.state)}
    for this, following in zip(told, told[1:], strict=False):
        spans.setdefault(str(this.state), following.at_s - this.at_s)
    return spans


def kill_points(rng: random.Random, spans: dict[str, float]) -> list[KillPoint]:
    """For each state, one kill on entering it and the others at moments drawn within it; a few in start-up."""
    points = [KillPoint(START_UP, rng.uniform(0.3, spans[START_UP])) for _ in range(START_UP_KILLS)]
    for state in TARGETS:
        points.append(KillPoint(state, None))
        points += [KillPoint(state, rng.uniform(0.0, spans[state])) for _ in range(KILLS_PER_STATE - 1)]
    rng.shuffle(points)  # each run restarts from where a kill in another state left the directory
    return points


def landing(lines: list[Line], status: int) -> str:
    """Where a kill landed: the last state the demo told, START_UP before any; 'not killed' if it ended."""
    if status != -signal.SIGKILL:
        return "not killed"
    told = [line.state for line in lines if line.state]
    return told[-1] if told else START_UP


@pytest.mark.slow
@pytest.mark.timeout(900)  # about 5 s a kill on a loaded machine: 54 kills take 4 to 5 minutes
def test_kills_in_every_state_never_lose_the_cleaning_mark_nor_print_twice(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    whole, status = demo(tmp_path, None)  # creates the state directory, and times each state on this machine
    assert status == 0, [line.text for line in whole]
    landed: Counter[str] = Counter()
    for kill, point in enumerate(kill_points(rng, durations(whole)), start=1):
        lines, status = demo(tmp_path, point)
        place = landing(lines, status)
        landed[place] += 1
        check_invariants(tmp_path, f"after kill {kill}, aimed at {point.state}, landed in {place} (seed {SEED})")
    table = "\n".join(f"{state:<20}{count:>4}" for state, count in landed.most_common())
    print(f"where the kills landed:\n{table}")
    missing = [state for state in TARGETS if landed[state] == 0]
    assert missing == [], f"no kill landed in {', '.join(missing)}; where they did:\n{table}"

    final = cabin("demo", "--json", "--state-dir", str(tmp_path))
    assert final.returncode == 0, final.stderr
    record = json.loads(final.stdout)
    assert record["prescription"]["printed"] is True and record["final_state"] == "ready"
    check_invariants(tmp_path, "after the last, whole run")
    with sqlite3.connect(f"file:{tmp_path / DB_NAME}?mode=ro", uri=True) as db:
        last = db.execute("SELECT session FROM audit WHERE event = 'prescription_printed' ORDER BY seq DESC").fetchone()
    assert last is not None  # the check of prints against patients had something to check
