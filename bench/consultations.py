"""Consultations back to back in one process, on the simulator with a sped-up clock.

Built from the pieces `station/demo.py` uses (Clock, SimRig, Station, enroll_staff,
SimCrew): each consultation is book -> check-in -> GP measures and prescribes -> print ->
leave -> the referent cleans. No media. Figures are ratios against the same run's first
consultations: the later rate against the first-100 rate, RSS and open fds at the end
against their values after consultation 100.

    python -m bench.consultations [--count 1000] [--speed 50000] [--trace] [--json]
"""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path
from typing import TYPE_CHECKING

from bench.common import (
    EXIT_COULD_NOT_RUN,
    EXIT_OK,
    Figure,
    fd_count,
    fd_targets,
    parser,
    progress,
    ratio,
    report,
    rss_bytes,
)

if TYPE_CHECKING:
    from config.clock import Clock
    from config.schema import CabinConfig
    from sim.crew import SimCrew
    from station.compose import Station

NAME = "consultations"
TIMEOUT_FACTOR = 1000
SPEED = 50000.0
# tracemalloc slows everything several times: the simulated GP's fixed 3600 s (clock) wait
# for each reply (sim/gp.py) is only 72 ms real at x50000 (720 ms at x5000) and would expire.
TRACE_SPEED = 1000.0
ALWAYS_OPEN = "00:00-23:59"  # the longest interval a day can have: closed only 23:59-00:00
# No consultation starts this close to 23:59: a patient who sees "ready" and checks in as the
# cabin closes is refused, which is right, but says nothing about the station's speed. One
# simulated hour is 72 ms real at x50000: room for an fsync stall. The wait is not timed.
LAST_START = time_of_day(23, 0)
CONSULTATION_REAL_TIMEOUT_S = 60.0
RECOVERY_REAL_TIMEOUT_S = 30.0
MAX_ERRORS_SHOWN = 5
RSS_TARGET, FDS_TARGET = 1.05, 1.00


class BenchError(Exception):
    """The benchmark could not run."""


@dataclass
class Sample:
    """Memory and descriptors after a given consultation, after gc.collect()."""

    after: int
    rss: int
    fds: int
    fd_targets: dict[int, str]
    snapshot: tracemalloc.Snapshot | None


@dataclass
class Outcome:
    """What the loop measured."""

    count: int
    warmup: int
    first_s: float = 0.0  # real seconds of the first `warmup` consultations
    later_s: float = 0.0  # real seconds of the rest (memory sampling excluded)
    failures: int = 0
    nights: int = 0  # simulated nights waited out (see LAST_START)
    errors: list[str] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)


def bench_config(config: CabinConfig) -> CabinConfig:
    """The packaged config, open every day 00:00-23:59, with every timeout x1000, no radio, no media.

    The instruments are the in-process stand-ins: this measures the station's own work per
    consultation (state machine, database, kiosk API, GP link, printing over TCP, the badge
    reader on its pty), not Bumble's real-time radio or a camera, which cannot run 50000x.

    A sped-up clock turns real processing latency into long simulated waits: 1 ms real is
    50 s simulated at x50000. Timeouts (and the check-in window's late end) are widened so
    that this never trips an inactivity timeout or a "too late" refusal.
    """
    from config.schema import WEEKDAYS, Interval, Site, WeeklyHours

    place = config.place()
    if not isinstance(place, Site):
        raise BenchError(f"the station's site {place.code} is a mobile unit; the benchmark needs a fixed site")
    always = WeeklyHours(**{day: (Interval.parse(ALWAYS_OPEN),) for day in WEEKDAYS})
    sites = tuple(s.model_copy(update={"hours": always}) if s.code == place.code else s for s in config.sites)
    timeouts = config.timeouts.model_copy(
        update={name: value * TIMEOUT_FACTOR for name, value in config.timeouts.model_dump().items()}
    )
    checkin = config.checkin.model_copy(update={"late_minutes": 240})  # the schema's maximum
    printer = config.printer.model_copy(update={"timeout_s": config.printer.timeout_s * TIMEOUT_FACTOR})
    devices = tuple(d.model_copy(update={"driver": "sim"}) for d in config.devices if d.kind != "otoscope")
    return config.model_copy(update={"sites": sites, "timeouts": timeouts, "checkin": checkin, "printer": printer,
                                     "devices": devices})


def _sample(after: int, trace: bool) -> Sample:
    gc.collect()
    return Sample(after, rss_bytes(), fd_count(), fd_targets(), tracemalloc.take_snapshot() if trace else None)


async def _wait_out_the_night(clock: Clock) -> bool:
    """Past LAST_START, sleep (clock time) until just after midnight; True if it slept."""
    now = clock.now()
    if now.time() < LAST_START:
        return False
    midnight = datetime.combine(now.date() + timedelta(days=1), time_of_day(0, 0), now.tzinfo)
    await clock.sleep((midnight - now).total_seconds() + 1.0)
    return True


async def _one(crew: SimCrew) -> str | None:
    """One whole consultation and cleaning; None when the prescription printed, else why not."""
    appt = await crew.book()
    report = await crew.consultation(appt.code)
    await crew.clean()
    if not report.prescription.get("printed"):
        return f"prescription {report.prescription.get('id')} not printed: {report.prescription.get('error')}"
    return None


async def _new_crew(station: Station) -> SimCrew:
    from sim.crew import SimCrew

    assert station.rig is not None
    crew = SimCrew(station.kiosk.url, station.gp_link.attach, station.book, station.config.station.site, station.rig,
                   gp_wait_s=3600.0 * TIMEOUT_FACTOR)
    await crew.start()
    return crew


async def _recover(station: Station, crew: SimCrew) -> SimCrew:
    """After a failed consultation: a fresh crew, and the cabin brought back to ready."""
    from session.states import PATIENT_STATES, CabinState

    await crew.stop()
    cabin = station.cabin
    async with asyncio.timeout(RECOVERY_REAL_TIMEOUT_S):
        if cabin.state is CabinState.CHECKING_IN:
            await cabin.cancel_checkin()
        if cabin.state in PATIENT_STATES:
            await cabin.leave()
        crew = await _new_crew(station)
        if cabin.state in (CabinState.AWAITING_CLEANING, CabinState.CLEANING):
            await crew.clean()
        await crew.kiosk.wait_state(CabinState.READY.value, CabinState.CLOSED.value)
    return crew


async def _loop(station: Station, outcome: Outcome, trace: bool) -> None:
    crew = await _new_crew(station)
    try:
        begun = time.perf_counter()
        for n in range(1, outcome.count + 1):
            night_began = time.perf_counter()
            if await _wait_out_the_night(station.clock):
                outcome.nights += 1
                begun += time.perf_counter() - night_began  # the night is not the station's time
            try:
                async with asyncio.timeout(CONSULTATION_REAL_TIMEOUT_S):
                    error = await _one(crew)
            except Exception as exc:  # counted and reported: the loop goes on if the cabin recovers
                error = f"{type(exc).__name__}: {exc}"
                crew = await _recover(station, crew)
            if error is not None:
                outcome.failures += 1
                if len(outcome.errors) < MAX_ERRORS_SHOWN:
                    outcome.errors.append(f"consultation {n}: {error}")
            if n == outcome.warmup:
                outcome.first_s = time.perf_counter() - begun
                outcome.samples.append(_sample(n, trace))
                begun = time.perf_counter()
            if n % 100 == 0 or n == outcome.count:
                progress(f"consultation {n}/{outcome.count}: rss {rss_bytes() / 2**20:.1f} MiB, "
                         f"fds {fd_count()}, failures {outcome.failures}, nights {outcome.nights}")
        outcome.later_s = time.perf_counter() - begun
        outcome.samples.append(_sample(outcome.count, trace))
    finally:
        await crew.stop()


async def run(count: int, warmup: int, speed: float, trace: bool, state_dir: Path) -> Outcome:
    """Start a simulated station, run `count` consultations, stop it."""
    from config.clock import Clock
    from config.loader import load_config
    from sim.rig import SimRig
    from sim.seed import enroll_staff
    from station.compose import Station
    from station.demo import demo_start

    config = bench_config(load_config())
    clock = Clock(speed=speed, start=demo_start(config, Clock()))
    rig = SimRig(clock, config)
    outcome = Outcome(count, warmup)
    await rig.start()
    try:
        station = Station(config=config, clock=clock, state_dir=state_dir, rig=rig, kiosk_port=0)
        await station.start()
        try:
            await enroll_staff(station.registry, clock.now())
            await _loop(station, outcome, trace)
        finally:
            await station.stop()
    finally:
        await rig.stop()
    return outcome


def figures(o: Outcome) -> list[Figure]:
    """The figures of a finished run."""
    first_rate = o.warmup / o.first_s
    later_rate = (o.count - o.warmup) / o.later_s
    overall = o.count / (o.first_s + o.later_s)
    early, late = o.samples
    return [
        Figure("rate_first", first_rate, "consultations/s", None, None, "reference"),
        Figure("rate_later", later_rate, "consultations/s", first_rate, ratio(later_rate, first_rate), "info"),
        Figure("rate_overall", overall, "consultations/s", first_rate, ratio(overall, first_rate), "info"),
        Figure("rss", late.rss / 2**20, "MiB", early.rss / 2**20, ratio(late.rss, early.rss), f"< {RSS_TARGET:.2f}"),
        Figure("fds", late.fds, "fds", early.fds, ratio(late.fds, early.fds), f"== {FDS_TARGET:.2f} (flat)"),
        Figure("failures", o.failures, "consultations", o.count, ratio(o.failures, o.count), "== 0"),
    ]


def diagnose(o: Outcome) -> None:
    """On stderr: failures, the fds that appeared, and with --trace the biggest allocation growth."""
    for error in o.errors:
        progress(f"FAILED {error}")
    early, late = o.samples
    grown = {fd: target for fd, target in late.fd_targets.items() if early.fd_targets.get(fd) != target}
    if late.fds > early.fds:
        progress(f"fds new or reused between consultation {early.after} and {late.after}:")
        for fd, target in sorted(grown.items()):
            progress(f"  {fd} -> {target}")
    if early.snapshot is not None and late.snapshot is not None:
        keep = [tracemalloc.Filter(False, tracemalloc.__file__),
                tracemalloc.Filter(False, "<frozen importlib._bootstrap*>")]
        stats = late.snapshot.filter_traces(keep).compare_to(early.snapshot.filter_traces(keep), "lineno")
        progress(f"tracemalloc: top allocation growth from consultation {early.after} to {late.after}:")
        for stat in stats[:15]:
            progress(f"  {stat}")
        top = late.snapshot.filter_traces(keep).compare_to(early.snapshot.filter_traces(keep), "traceback")[:3]
        for stat in (s for s in top if s.size_diff > 0):
            progress(f"tracemalloc: growth {stat.size_diff / 1024:+.1f} KiB in {stat.count_diff:+d} blocks,"
                     " allocated at:")
            for line in stat.traceback.format(most_recent_first=True):
                progress(f"  {line}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    p = parser("Consultations back to back in one process: rate, RSS and open fds.")
    p.add_argument("--count", type=int, default=1000, help="consultations to run (default 1000)")
    p.add_argument("--warmup", type=int, default=100, help="the reference consultations (default 100)")
    p.add_argument("--speed", type=float,
                   help=f"simulated clock speed (default {SPEED:g}, {TRACE_SPEED:g} with --trace)")
    p.add_argument("--trace", action="store_true", help="tracemalloc: print the top allocation growth (slower)")
    args = p.parse_args(argv)
    if args.warmup < 1 or args.count <= args.warmup:
        p.error("need 1 <= --warmup < --count")
    speed = args.speed or (TRACE_SPEED if args.trace else SPEED)
    if speed <= 0:
        p.error("--speed must be positive")
    tmp = Path(tempfile.mkdtemp(prefix="cabin-bench-consultations-"))
    # python-escpos leaves a mkdtemp() directory behind on every import: keep it in ours.
    os.environ.setdefault("ESCPOS_CAPABILITIES_PICKLE_DIR", str(tmp))
    if args.trace:
        tracemalloc.start(10)
    try:
        outcome = asyncio.run(run(args.count, args.warmup, speed, args.trace, tmp / "state"))
    except Exception as exc:
        print(f"bench.consultations: could not run: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_COULD_NOT_RUN
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    diagnose(outcome)
    report(NAME, figures(outcome), as_json=args.json)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
