"""Consultations back to back in one process, on the simulator with a sped-up clock.

Built from the pieces `station/demo.py` uses (Clock, SimRig, Station, enroll_staff,
SimCrew): each consultation is book -> check-in -> GP measures and prescribes -> print ->
leave -> the referent cleans. No media. Figures are ratios against the same run's first
consultations: the later rate against the first-100 rate, RSS and open fds at the end
against their values after consultation 100. The event loop's lag (the station's own
`LagMonitor`, real time) is measured over the consultations after the warm-up.

    python -m bench.consultations [--count 1000] [--speed 50000] [--trace] [--json]

`make soak` runs it with `--count 1000` (what must hold: RSS < +5 %, fds flat, lag p99 < 10 ms).
"""

from __future__ import annotations

import asyncio
import gc
import shutil
import sys
import tempfile
import time
import traceback
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as time_of_day
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

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
    from config.schema import CabinConfig
    from runtime.clock import Clock
    from sim.crew import SimCrew
    from station.compose import Station
    from station.lag import LagMonitor

NAME = "consultations"
ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_FACTOR = 1000
SPEED = 50000.0
# tracemalloc slows everything several times: at x50000 the scaled timeouts then expire (a run
# ended in a TimeoutError), so --trace runs at x1000, slowly (about 100 consultations in 6 minutes).
TRACE_SPEED = 1000.0
# Open 01:00-23:59 every day; the run waits out each night from LAST_START to RESUME, untimed.
# One simulated hour is 72 ms real at x50000, and real time passes between the crew's steps
# (fsync, a garbage collection of 100 ms, a loaded machine) and at the boundaries: the station
# closes and opens (session/core.py _follow_opening_hours) with transitions written with fsync.
# - LAST_START, three hours (216 ms real) before the close: a patient who sees "ready" and
#   checks in as the cabin closes is rightly refused, but that says nothing about the station's
#   speed. With one hour, a loaded machine had a few of those every 1000 consultations.
# - RESUME, an hour after the opening: the close must have reached the crew's kiosk view before
#   the crew wakes, else it checks in on the stale "ready" and is refused. The old 23:59-00:00
#   night with a wake-up at 00:00:01, 1.2 ms real after the close, refused one check-in every
#   few hundred consultations that way.
OPEN_HOURS = "01:00-23:59"
LAST_START = time_of_day(21, 0)
RESUME = time_of_day(2, 0)
# `fds` counts the descriptors open in two listings this far apart (real): neither one the
# consultation is still closing (the print job's connection) nor one another thread holds for
# a moment (the device watcher's rescan lists /dev and /sys in a worker thread every few
# seconds) is a leak. At x50000 it is 42 minutes of clock time with the cabin ready.
SETTLE_S = 0.05
CONSULTATION_REAL_TIMEOUT_S = 60.0
RECOVERY_REAL_TIMEOUT_S = 30.0
MAX_ERRORS_SHOWN = 5
RSS_TARGET, FDS_TARGET = 1.05, 1.00
LAG_P99_TARGET_MS = 10.0
TICK_REAL_TIMEOUT_S = 5.0

T = TypeVar("T")


class BenchError(Exception):
    """The benchmark could not run."""


@dataclass
class Sample:
    """Memory after a given consultation, after gc.collect(), and its steady descriptors."""

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
    nights: int = 0  # simulated nights waited out (see LAST_START and RESUME)
    errors: list[str] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)  # real seconds, after the warm-up, sampling left out
    stall_lag_s: float = 0.08  # a tick this late or later is one of the LagMonitor's stalls


class LagSpans:
    """The station's lag samples over the spans the benchmark measures, its own sampling left out.

    The benchmark's sampling (gc.collect(), /proc reads, a tracemalloc snapshot) runs on the
    station's event loop, so the tick due while it runs would charge its length to the station.
    `aside()` keeps the samples so far, runs the work, waits for the one tick the work can have
    delayed (the ticker plans its next tick from when it ran), and drops the samples since.
    """

    def __init__(self, monitor: LagMonitor, outcome: Outcome) -> None:
        self.monitor = monitor
        self.outcome = outcome
        self.measuring = False  # False during the warm-up: its samples are dropped
        # The monitor's stall is no tick for stall_s: that tick runs stall_s - tick_s late or more. Counted
        # from the samples, not from `monitor.stalls`, which only counts the stalls it caught a stack for.
        outcome.stall_lag_s = monitor.stall_s - monitor.tick_s

    async def aside(self, work: Callable[[], T], settle_s: float = 0.0) -> T:
        """Run `work` on the loop, after `settle_s` (real) of idling, without either in the lag figures."""
        self._harvest()
        await asyncio.sleep(settle_s)
        result = work()
        # The monitor offers nothing to wait on but its samples: poll for the delayed tick.
        async with asyncio.timeout(TICK_REAL_TIMEOUT_S):
            while not self.monitor.lags:  # noqa: ASYNC110
                await asyncio.sleep(self.monitor.tick_s / 4)
        self.monitor.lags.clear()
        return result

    def _harvest(self) -> None:
        if self.measuring:
            self.outcome.lags.extend(self.monitor.lags)
        self.monitor.lags.clear()


def bench_config(config: CabinConfig) -> CabinConfig:
    """The packaged config, open every day 01:00-23:59, with every timeout x1000, no radio, no media.

    The instruments are the in-process stand-ins: this measures the station's own work per
    consultation (state machine, database, kiosk API, GP link, printing over TCP, the badge
    reader on its pty), not Bumble's real-time radio or a camera, which cannot run 50000x.

    A sped-up clock turns real processing latency into long simulated waits: 1 ms real is
    50 s simulated at x50000. Timeouts (and the check-in window's late end) are widened so
    that this never trips an inactivity timeout or a "too late" refusal.
    """
    from config.intervals import WEEKDAYS, Interval, WeeklyHours
    from config.schema import Site
    from devices.camera import CAMERA_KINDS

    place = config.place()
    if not isinstance(place, Site):
        raise BenchError(f"the station's site {place.code} is a mobile unit; the benchmark needs a fixed site")
    hours = WeeklyHours(**{day: (Interval.parse(OPEN_HOURS),) for day in WEEKDAYS})
    sites = tuple(s.model_copy(update={"hours": hours}) if s.code == place.code else s for s in config.sites)
    timeouts = config.timeouts.model_copy(
        update={name: value * TIMEOUT_FACTOR for name, value in config.timeouts.model_dump().items()}
    )
    checkin = config.checkin.model_copy(update={"late_minutes": 240})  # the schema's maximum
    printer = config.printer.model_copy(update={"timeout_s": config.printer.timeout_s * TIMEOUT_FACTOR})
    devices = tuple(d.model_copy(update={"driver": "sim"}) for d in config.devices if d.kind not in CAMERA_KINDS)
    return config.model_copy(update={"sites": sites, "timeouts": timeouts, "checkin": checkin, "printer": printer,
                                     "devices": devices})


async def _sample(spans: LagSpans, after: int, trace: bool) -> Sample:
    """RSS after gc.collect(), and the descriptors open in two listings SETTLE_S (real) apart."""
    listed = await spans.aside(fd_targets)
    return await spans.aside(partial(_measure, after, trace, listed), SETTLE_S)


def _measure(after: int, trace: bool, listed: dict[int, str]) -> Sample:
    gc.collect()
    steady = {fd: target for fd, target in fd_targets().items() if listed.get(fd) == target}
    return Sample(after, rss_bytes(), len(steady), steady, tracemalloc.take_snapshot() if trace else None)


async def _wait_out_the_night(clock: Clock) -> bool:
    """From LAST_START to RESUME, sleep (clock time) until RESUME; True if it slept."""
    now = clock.now()
    if RESUME <= now.time() < LAST_START:
        return False
    day = now.date() if now.time() < RESUME else now.date() + timedelta(days=1)
    resume = datetime.combine(day, RESUME, now.tzinfo)
    await clock.sleep(resume.timestamp() - now.timestamp())  # timestamps: right across DST
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
    crew = SimCrew(station.kiosk.entry_url, station.gp_link.attach, station.book, station.config.station.site,
                   station.rig, gp_wait_s=3600.0 * TIMEOUT_FACTOR)
    await crew.start()
    return crew


async def _recover(station: Station, crew: SimCrew) -> SimCrew:
    """After a failed consultation: a fresh crew, and the cabin brought back to ready."""
    from protocol.states import CabinState
    from session.machine import PATIENT_STATES

    await crew.stop()
    cabin, patient = station.cabin, station.patient_desk
    async with asyncio.timeout(RECOVERY_REAL_TIMEOUT_S):
        if cabin.state is CabinState.CHECKING_IN:
            await patient.cancel_checkin()
        if cabin.state in PATIENT_STATES:
            await patient.leave()
        crew = await _new_crew(station)
        if cabin.state in (CabinState.AWAITING_CLEANING, CabinState.CLEANING):
            await crew.clean()
        await crew.kiosk.wait_state(CabinState.READY.value, CabinState.CLOSED.value)
    return crew


def _failure(exc: Exception, station: Station, crew: SimCrew) -> str:
    """The error, when (clock time), the cabin's state and the crew's view of it, and where it came from.

    Where: the project's innermost frames, innermost last; for the consultation's timeout, where
    it was waiting when cancelled.
    """
    raised = exc.__context__ if isinstance(exc, TimeoutError) and exc.__context__ is not None else exc
    ours = [f"{Path(f.filename).relative_to(ROOT)}:{f.lineno} {f.name}"
            for f in traceback.extract_tb(raised.__traceback__)
            if f.filename.startswith(f"{ROOT}/") and "site-packages" not in f.filename]
    return (f"{type(exc).__name__}: {exc} (clock {station.clock.now():%H:%M:%S}, cabin "
            f"{station.cabin.state.value}, crew's view {crew.kiosk.view.get('state')}; {' > '.join(ours[-4:])})")


def _progress_line(n: int, outcome: Outcome) -> None:
    progress(f"consultation {n}/{outcome.count}: rss {rss_bytes() / 2**20:.1f} MiB, "
             f"fds {fd_count()}, failures {outcome.failures}, nights {outcome.nights}")


async def _loop(station: Station, outcome: Outcome, trace: bool) -> None:
    crew = await _new_crew(station)
    spans = LagSpans(station.lag, outcome)
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
                error = _failure(exc, station, crew)
                crew = await _recover(station, crew)
            if error is not None:
                outcome.failures += 1
                if len(outcome.errors) < MAX_ERRORS_SHOWN:
                    outcome.errors.append(f"consultation {n}: {error}")
            if n == outcome.warmup:
                outcome.first_s = time.perf_counter() - begun
                outcome.samples.append(await _sample(spans, n, trace))
                spans.measuring = True
                begun = time.perf_counter()
            if n % 100 == 0 or n == outcome.count:
                aside_began = time.perf_counter()
                await spans.aside(partial(_progress_line, n, outcome))
                begun += time.perf_counter() - aside_began  # as the memory sampling, not timed
        outcome.later_s = time.perf_counter() - begun
        outcome.samples.append(await _sample(spans, outcome.count, trace))
    finally:
        await crew.stop()


async def run(count: int, warmup: int, speed: float, trace: bool, state_dir: Path) -> Outcome:
    """Start a simulated station, run `count` consultations, stop it."""
    from config.loader import load_config
    from runtime.clock import Clock
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
    lag_p99 = _percentile(o.lags, 0.99) * 1000
    return [
        Figure("rate_first", first_rate, "consultations/s", None, None, "reference"),
        Figure("rate_later", later_rate, "consultations/s", first_rate, ratio(later_rate, first_rate), "info"),
        Figure("rate_overall", overall, "consultations/s", first_rate, ratio(overall, first_rate), "info"),
        Figure("rss", late.rss / 2**20, "MiB", early.rss / 2**20, ratio(late.rss, early.rss), f"< {RSS_TARGET:.2f}"),
        Figure("fds", late.fds, "fds", early.fds, ratio(late.fds, early.fds), f"== {FDS_TARGET:.2f} (flat)"),
        Figure("failures", o.failures, "consultations", o.count, ratio(o.failures, o.count), "== 0"),
        Figure("lag_p99", lag_p99, "ms", None, None, f"value < {LAG_P99_TARGET_MS:g} ms"),
        Figure("lag_max", max(o.lags, default=0.0) * 1000, "ms", None, None, "info"),
        Figure("stalls", sum(lag >= o.stall_lag_s for lag in o.lags), "ticks", None, None, "info"),
    ]


def _percentile(values: list[float], fraction: float) -> float:
    """The value below which `fraction` of `values` lie, as LagMonitor.percentile computes it; 0 when empty."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def diagnose(o: Outcome) -> None:
    """On stderr: failures, the lag's spread, the fds that changed, with --trace the biggest allocation growth."""
    for error in o.errors:
        progress(f"FAILED {error}")
    over = sum(lag * 1000 >= LAG_P99_TARGET_MS for lag in o.lags)
    progress(f"lag after consultation {o.warmup}: {len(o.lags)} ticks, median "
             f"{_percentile(o.lags, 0.5) * 1000:.2f} ms, p90 {_percentile(o.lags, 0.9) * 1000:.2f} ms, "
             f"p99 {_percentile(o.lags, 0.99) * 1000:.2f} ms, {over} at {LAG_P99_TARGET_MS:g} ms or more")
    early, late = o.samples
    changed = sorted(fd for fd in early.fd_targets.keys() | late.fd_targets.keys()
                     if early.fd_targets.get(fd) != late.fd_targets.get(fd))
    if late.fds != early.fds:
        progress(f"fds that changed between consultation {early.after} and {late.after}:")
        for fd in changed:
            progress(f"  {fd}: {early.fd_targets.get(fd, '-')} -> {late.fd_targets.get(fd, '-')}")
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
