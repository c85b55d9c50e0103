"""Start to ready, against the import-only floor, measured in the same run.

Floor: a fresh interpreter (this one, `sys.executable`) that only imports the heavy
libraries the station depends on. Measured: `cabin run --port 0` (the production path: the
packaged configuration, its devices absent on a machine without them, so the cabin comes up
degraded but ready) from spawn until it prints "kiosk page:", which it does once the station
has started and the cabin is ready (or closed, outside opening hours). `cabin run --sim`,
which also imports and starts the simulators (Bumble alone costs ~0.4 s), is reported beside
it for information. The runs alternate so that drift in the machine's load affects all alike.

    python -m bench.startup [--runs 5] [--json]
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

from bench.common import (
    Figure,
    measure_and_report,
    median,
    parser,
    progress,
    ratio,
)

NAME = "startup"
REPO = Path(__file__).resolve().parent.parent
FLOOR_IMPORTS = "import aiortc, av, cv2, bleak, transitions, aiohttp"
READY_PREFIX = "kiosk page:"  # both `cabin run` and `cabin run --sim` print it once the cabin is ready
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
TARGET = 1.5


class BenchError(Exception):
    """The benchmark could not measure."""


def _env(tmp: str) -> dict[str, str]:
    # Unbuffered: the child's stdout is a pipe, and a block-buffered "kiosk page:" line
    # would only arrive when the child exits. TMPDIR: whatever a child leaves in its temporary
    # directory (a killed one cannot clean up) goes with the run's own.
    return {**os.environ, "PYTHONUNBUFFERED": "1", "TMPDIR": tmp}


def measure_floor() -> float:
    """Wall seconds of a fresh interpreter importing the heavy dependencies."""
    with tempfile.TemporaryDirectory(prefix="cabin-bench-floor-") as tmp:
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", FLOOR_IMPORTS], cwd=REPO, env=_env(tmp),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=READY_TIMEOUT_S)
        elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise BenchError(f"the import floor failed: {done.stderr.decode(errors='replace').strip()}")
    return elapsed


def _pump(stream: IO[bytes], lines: queue.Queue[tuple[float, str | None]]) -> None:
    """Read the child's stdout, stamping each line the moment it arrives."""
    for raw in iter(stream.readline, b""):
        lines.put((time.perf_counter(), raw.decode(errors="replace")))
    lines.put((time.perf_counter(), None))


def _kill_group(child: subprocess.Popen[bytes]) -> None:
    """SIGKILL the child's process group (it runs in its own session)."""
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    child.wait()


def _stop(child: subprocess.Popen[bytes]) -> int:
    """SIGTERM and wait; SIGKILL the group if it does not stop in time."""
    child.send_signal(signal.SIGTERM)
    try:
        return child.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        progress(f"the station did not stop within {STOP_TIMEOUT_S:.0f} s of SIGTERM: killed")
        _kill_group(child)
        return -signal.SIGKILL


def measure_start_to_ready(sim: bool = False) -> float:
    """Wall seconds from spawning `cabin run` (or `cabin run --sim`) to its "kiosk page:" line."""
    with tempfile.TemporaryDirectory(prefix="cabin-bench-startup-") as tmp, \
            tempfile.TemporaryFile() as errors:
        mode = ["--sim", "--patients", "0"] if sim else []
        command = [sys.executable, "-m", "station.cli", "run", *mode, "--port", "0",
                   "--state-dir", str(Path(tmp) / "state")]
        lines: queue.Queue[tuple[float, str | None]] = queue.Queue()
        started = time.perf_counter()
        child = subprocess.Popen(command, cwd=REPO, env=_env(tmp), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=errors, start_new_session=True)
        try:
            assert child.stdout is not None
            threading.Thread(target=_pump, args=(child.stdout, lines), daemon=True).start()
            ready_at = _wait_ready(lines, started + READY_TIMEOUT_S)
            if ready_at is None:
                errors.seek(0)
                detail = errors.read().decode(errors="replace").strip()[-2000:]
                raise BenchError(f"`{' '.join(command[1:])}` never printed {READY_PREFIX!r}: {detail}")
            _stop(child)
            return ready_at - started
        finally:
            if child.poll() is None:
                _kill_group(child)


def _wait_ready(lines: queue.Queue[tuple[float, str | None]], deadline: float) -> float | None:
    """The moment the ready line arrived, or None on exit or timeout."""
    while True:
        left = deadline - time.perf_counter()
        if left <= 0:
            return None
        try:
            at, line = lines.get(timeout=left)
        except queue.Empty:
            return None
        if line is None:
            return None
        if line.startswith(READY_PREFIX):
            return at


def run(runs: int) -> list[Figure]:
    """Warm the file cache, then alternate floor and start-to-ready `runs` times."""
    progress("warming the file cache (one untimed run of each)")
    measure_floor()
    measure_start_to_ready()
    measure_start_to_ready(sim=True)
    floors: list[float] = []
    readies: list[float] = []
    sims: list[float] = []
    for n in range(runs):
        floors.append(measure_floor())
        readies.append(measure_start_to_ready())
        sims.append(measure_start_to_ready(sim=True))
        progress(f"run {n + 1}/{runs}: floor {floors[-1]:.3f} s, start to ready {readies[-1]:.3f} s, "
                 f"on the simulator {sims[-1]:.3f} s")
    floor, ready, on_sim = median(floors), median(readies), median(sims)
    return [
        Figure("import_floor", floor, "s", None, None, "reference"),
        Figure("start_to_ready", ready, "s", floor, ratio(ready, floor), f"<= {TARGET}"),
        Figure("start_to_ready_sim", on_sim, "s", floor, ratio(on_sim, floor), "info"),
    ]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    p = parser("Start to ready of `cabin run` (and of `cabin run --sim`), against the import-only floor.")
    p.add_argument("--runs", type=int, default=5, help="measured runs of each (default 5)")
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs must be at least 1")
    return measure_and_report(NAME, lambda: run(args.runs), as_json=args.json,
                              errors=(BenchError, OSError, subprocess.SubprocessError))


if __name__ == "__main__":
    sys.exit(main())
