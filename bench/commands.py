"""The everyday `cabin` commands' wall time, against a bare interpreter, measured in the same run.

Reference: `python -c pass` with this interpreter (`sys.executable`). Measured, from spawn to
exit: `cabin decode 2a1c <hex>`, `cabin check-config` (the packaged file) and `cabin status
--state-dir DIR` (a state directory made by the station's own stores), each as
`python -m station.cli` from the repository. After one untimed run of each (file cache), the
four alternate `--runs` times so that a change in the machine's load hits all alike; the
figures are medians. Nothing here needs the simulator: it runs on a kiosk's production
install too.

    python -m bench.commands [--runs 15] [--json]
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Figure, measure_and_report, median, parser, progress, ratio

NAME = "commands"
REPO = Path(__file__).resolve().parent.parent
TARGET = 10.0
TIMEOUT_S = 60.0
# A Health Thermometer measurement (0x2A1C): flags 0, 36.4 °C as an IEEE-11073 FLOAT.
DECODE_HEX = "00 6c 01 00 ff"


class BenchError(Exception):
    """The benchmark could not measure."""


def commands(state_dir: Path) -> dict[str, list[str]]:
    """Each measured figure's command line, and the reference's."""
    cabin = [sys.executable, "-m", "station.cli"]
    return {
        "python_pass": [sys.executable, "-c", "pass"],
        "decode": [*cabin, "decode", "2a1c", DECODE_HEX],
        "check_config": [*cabin, "check-config"],
        "status": [*cabin, "status", "--state-dir", str(state_dir)],
    }


def make_state_dir(path: Path) -> None:
    """A state directory as a station's own stores leave it on their first start."""
    from hygiene.audit import AuditTrail
    from hygiene.store import CabinStore
    from runtime.storage import Database

    async def make() -> None:
        db = Database(path)
        await db.start()
        try:
            await CabinStore(db).start()
            await AuditTrail(db).start()
        finally:
            await db.stop()

    asyncio.run(make())


def measure(argv: list[str]) -> float:
    """Wall seconds from spawn to exit of `argv`; BenchError if it fails."""
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        done = subprocess.run(argv, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors,
                              timeout=TIMEOUT_S)
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            errors.seek(0)
            raise BenchError(f"`{' '.join(argv[1:])}` exited {done.returncode}: "
                             f"{errors.read().decode(errors='replace').strip()[-500:]}")
    return elapsed


def run(runs: int) -> list[Figure]:
    """Warm the file cache, then alternate every command `runs` times; medians against python -c pass."""
    with tempfile.TemporaryDirectory(prefix="cabin-bench-commands-") as tmp:
        state_dir = Path(tmp) / "state"
        make_state_dir(state_dir)
        lines = commands(state_dir)
        progress("warming the file cache (one untimed run of each)")
        for argv in lines.values():
            measure(argv)
        walls: dict[str, list[float]] = {name: [] for name in lines}
        for n in range(runs):
            for name, argv in lines.items():
                walls[name].append(measure(argv))
            progress(f"run {n + 1}/{runs}: " + ", ".join(f"{name} {walls[name][-1] * 1000:.0f} ms" for name in lines))
    floor = median(walls["python_pass"])
    figures = [Figure("python_pass", floor, "s", None, None, "reference")]
    for name in ("decode", "check_config", "status"):
        wall = median(walls[name])
        figures.append(Figure(name, wall, "s", floor, ratio(wall, floor), f"ratio <= {TARGET:g}"))
    return figures


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    p = parser("Wall time of `cabin decode`, `check-config` and `status` against a bare `python -c pass`.")
    p.add_argument("--runs", type=int, default=15, help="measured runs of each (default 15)")
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs must be at least 1")
    return measure_and_report(NAME, lambda: run(args.runs), as_json=args.json,
                              errors=(BenchError, OSError, subprocess.SubprocessError))


if __name__ == "__main__":
    sys.exit(main())
